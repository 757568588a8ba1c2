"""Helpers shared by the sub-commands: parsers, hex inputs, JSON output, safe file output, progress."""

from __future__ import annotations

import os
import sys

# argparse, typing, json, tempfile and contextlib are imported where used: this module is on every
# command's start-up path (a cold `pvmkit measure` is benchmarked against sev-snp-measure,
# bench/bench_amd.py). `Parser` lives in pvmkit.cli._parser and is loaded on first use.
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from typing import NoReturn

    from pvmkit.cli._parser import Parser

__all__ = [
    "MAX_DOCUMENT",
    "MAX_EVIDENCE",
    "MAX_IMAGE",
    "MAX_PAYLOAD",
    "Parser",
    "Progress",
    "UsageErrors",
    "atomic_write",
    "map_file",
    "parse_hex",
    "parse_int",
    "parse_size",
    "print_json",
    "read_file",
    "scan_options",
]


def __getattr__(name: str) -> object:
    if name == "Parser":
        from pvmkit.cli._parser import Parser

        return Parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UsageErrors:
    """The usage-error half of :class:`Parser` (same one line, exit 2), for options read by
    :func:`scan_options` without building a parser."""

    def __init__(self, command: str) -> None:
        self.prog = f"pvmkit {command}"

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: usage error: {message}\n")
        raise SystemExit(2)


def scan_options(argv: list[str], values: dict[str, str], flags: dict[str, str]) -> dict[str, object] | None:
    """Read the plain forms of a command line without argparse: ``--opt VALUE``, ``--opt=VALUE``
    (``values``: option → destination) and flags (``flags``: option → destination, set to True).

    Returns {destination: value}, or None for anything else — help, unknown or abbreviated options,
    a repeated destination, a missing, empty or dash-led value — so that the caller hands the
    command line to its full argparse parser, which then prints exactly what it always did.
    """
    out: dict[str, object] = {}
    i, n = 0, len(argv)
    while i < n:
        arg = argv[i]
        value: object
        if arg in flags:
            dest = flags[arg]
            value = True
            i += 1
        else:
            name, eq, text = arg.partition("=")
            if eq:
                i += 1
            elif i + 1 < n:
                text = argv[i + 1]
                i += 2
            else:
                return None
            dest_or_none = values.get(name)
            if dest_or_none is None or not text or text[0] == "-":
                return None
            dest, value = dest_or_none, text
        if dest in out:
            return None
        out[dest] = value
    return out


def parse_hex(text: str, length: int | None = None, what: str = "value") -> bytes:
    """Hex string (optional 0x prefix) → bytes; InputError with the expected length otherwise."""
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        value = bytes.fromhex(t)
    except ValueError:
        raise InputError(f"{what} is not hex: {text!r}") from None
    if length is not None and len(value) != length:
        raise InputError(f"{what} must be {length} bytes ({2 * length} hex digits), got {len(value)}")
    return value


def parse_int(text: str, what: str = "value") -> int:
    """Integer in any Python base notation (0x.., 0b.., decimal)."""
    try:
        return int(text, 0)
    except ValueError:
        raise InputError(f"{what} is not an integer: {text!r}") from None


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``2G``, ``2048M``, ``2GiB``, ``0x80000000``, ``2147483648`` → bytes (binary units, like QEMU -m
    with a suffix; a bare number is bytes)."""
    import re

    m = re.fullmatch(r"\s*(0x[0-9a-fA-F]+|\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if m is None:
        raise InputError(f"memory size {text!r} is not a size such as 2G, 2048M or 2147483648")
    number, unit = m.groups()
    value = int(number, 16) if number.lower().startswith("0x") else float(number)
    size = int(value * _SIZE_UNITS[unit.lower()])
    if size <= 0 or size % 4096:
        raise InputError(f"memory size {text!r} is not a positive multiple of 4 KiB")
    return size


_KIB, _MIB, _GIB = 1 << 10, 1 << 20, 1 << 30

# The largest input of each kind the CLI reads (docs/cli.md, "Input size limits"). A bigger file is
# refused with one line before it is read (a regular file by its size, anything else - a pipe,
# /dev/zero - after reading one byte past the limit), so no input can exhaust memory.
#: a report, quote, TDREPORT, certificate or chain, CRL, certificate table, key, nonce
MAX_EVIDENCE = 256 * _KIB
#: an event log, ACPI or SMBIOS blob, fw_cfg file, JSON or text document (the default)
MAX_DOCUMENT = 16 * _MIB
#: a firmware image (OVMF, TDVF, SVSM), IGVM file, guest binary, CCA load image
MAX_IMAGE = 256 * _MIB
#: a kernel or initrd
MAX_PAYLOAD = 2 * _GIB


def _size_text(n: int) -> str:
    for unit, scale in (("GiB", _GIB), ("MiB", _MIB), ("KiB", _KIB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def _too_big(path: str, what: str, size: int | None, limit: int) -> InputError:
    actual = f"{size} bytes" if size is not None else f"longer than {_size_text(limit)}"
    return InputError(
        f"{path}: {actual}; pvmkit reads at most {_size_text(limit)} for {what} "
        "(docs/cli.md, input size limits)"
    )


def _read_limited(fd: int, path: str, what: str, limit: int) -> bytes:
    """Read the rest of the open file ``fd``, refusing it past ``limit`` bytes. A regular file is
    judged by its size first; anything else is read in chunks, at most ``limit`` + 1 bytes."""
    import stat

    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        raise _too_big(path, what, st.st_size, limit)
    chunks = bytearray()
    while len(chunks) <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - len(chunks)))
        if not chunk:
            return bytes(chunks)
        chunks += chunk
    raise _too_big(path, what, None, limit)


def read_file(path: str, what: str = "input", limit: int = MAX_DOCUMENT) -> bytes:
    """Read a whole input file of at most ``limit`` bytes (one of the ``MAX_*`` kinds above);
    InputError past it. OSError propagates (the dispatcher prints it as one line)."""
    with open(path, "rb", buffering=0) as f:
        return _read_limited(f.fileno(), path, what, limit)


def map_file(path: str, what: str = "input", limit: int = MAX_PAYLOAD) -> bytes | mmap.mmap:
    """A large input (firmware image, kernel, initrd) mapped read-only instead of read: a 4 MiB image
    then costs neither a copy nor 4 MiB of fresh memory, and only the pages used are touched.

    Falls back to reading for what cannot be mapped (an empty file, a pipe such as ``<(...)``, a
    character device). Either way, more than ``limit`` bytes is an InputError. OSError from opening
    propagates (the dispatcher prints it as one line). The file must not be truncated while the
    command runs (as for any mapped file, that would end the process).
    """
    import mmap

    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise _too_big(path, what, size, limit)
        try:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty (ValueError), or not a regular file (ENODEV, EACCES)
            return _read_limited(f.fileno(), path, what, limit)


def print_json(obj: object) -> None:
    import json

    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def atomic_write(path: str, data: bytes) -> None:
    """Write a command's output file ``path`` without ever leaving a half-written file or replacing
    something that is not a file:

    * a new path or a regular file (through a symlink: its target) gets a temporary file in the same
      directory, renamed over it — a reader or a crash never sees half the data, on error nothing is
      left behind, and an existing file keeps its permissions (a new one gets 0666 less the umask);
    * a character device (``/dev/null``, a terminal) or a FIFO is written through, never replaced;
      a FIFO with no reader is refused rather than waited on;
    * anything else (a directory, a block device, a socket) is refused with InputError.

    OSError from writing carries ``path`` as its filename, so a full disk is reported with the file.
    """
    import stat

    target = os.path.realpath(path)
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    if mode is None or stat.S_ISREG(mode):
        _replace_file(path, target, data, None if mode is None else stat.S_IMODE(mode))
    elif stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        _write_through(path, target, data, fifo=stat.S_ISFIFO(mode))
    else:
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file, character device or FIFO"
        raise InputError(f"{path}: {kind}; output goes only to files, character devices and FIFOs")


def _replace_file(path: str, target: str, data: bytes, keep_mode: int | None) -> None:
    import contextlib
    import tempfile

    if keep_mode is None:
        umask = os.umask(0)
        os.umask(umask)
        keep_mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pvmkit-", dir=os.path.dirname(target))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), keep_mode)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, path) from None
        raise


def _write_through(path: str, target: str, data: bytes, *, fifo: bool) -> None:
    import errno

    try:
        # O_NONBLOCK: opening a FIFO for writing fails with ENXIO at once when nobody reads it
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | (os.O_NONBLOCK if fifo else 0))
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise InputError(f"{path}: a FIFO that nobody reads (start its reader first)") from None
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        if fifo:
            os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        os.close(fd)


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int, label: str = "") -> None:
        self.total = max(total, 1)
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and (self.done == self.total or self.done % max(1, self.total // 100) == 0):
            width = 30
            filled = width * self.done // self.total
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
