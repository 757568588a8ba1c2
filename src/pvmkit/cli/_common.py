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
    "MAX_DISK",
    "MAX_DOCUMENT",
    "MAX_EVIDENCE",
    "MAX_IMAGE",
    "MAX_PAYLOAD",
    "SNP_POLICY_HELP",
    "U64_MAX",
    "Parser",
    "Progress",
    "UsageError",
    "UsageErrors",
    "atomic_write",
    "map_file",
    "parse_digest",
    "parse_features",
    "parse_hex",
    "parse_int",
    "parse_seconds",
    "parse_size",
    "parse_snp_policy",
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


class UsageError(InputError):
    """An option value that does not parse or is outside its documented range: the dispatcher prints
    one line and exits 2 (docs/cli.md, "Exit codes"). Input *content* that is refused stays an
    :class:`~pvmkit.errors.InputError` or :class:`~pvmkit.errors.FormatError` (exit 1)."""


def parse_hex(text: str, length: int | None = None, what: str = "value", *, option: bool = True) -> bytes:
    """Hex (optional 0x prefix) → bytes. Bad hex or a wrong length is a UsageError (exit 2) for an
    option value, an InputError (exit 1) for a value read from an input file (``option=False``)."""
    error = UsageError if option else InputError
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        value = bytes.fromhex(t)
    except ValueError:
        raise error(f"{what} is not hex: {text!r}") from None
    if length is not None and len(value) != length:
        raise error(f"{what} must be {length} bytes ({2 * length} hex digits), got {len(value)}")
    return value


#: The largest value of a 64-bit field (policies, TD attributes, XFAM, TCB versions).
U64_MAX = (1 << 64) - 1

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def parse_digest(text: str, length: int, what: str) -> bytes:
    """A digest option (``--measurement`` and the like) of ``length`` bytes, given as hex (``2·length``
    digits, optional 0x prefix) or standard padded base64 (RFC 4648 §4, ``4·⌈length/3⌉`` characters).

    The length decides which, and the alphabet must then match: for a given byte count the two
    lengths never coincide (``2·L = 4·⌈L/3⌉`` has no solution L ≥ 1 but L = 2, where base64 needs
    padding that hex cannot contain), so no text reads both ways. Anything else is a UsageError
    naming both forms."""
    t = text.strip()
    if t[:2].lower() == "0x":
        return parse_hex(t, length, what)
    if len(t) == 2 * length and set(t) <= _HEX_DIGITS:
        return bytes.fromhex(t)
    if len(t) == 4 * ((length + 2) // 3) and set(t) <= _BASE64_CHARS:
        import base64
        import binascii

        try:
            decoded = base64.b64decode(t, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == length:
            return decoded
    raise UsageError(
        f"{what} must be {length} bytes as {2 * length} hex digits or {4 * ((length + 2) // 3)} base64 "
        f"characters, got {len(t)} characters"
    )


def parse_features(text: str, what: str = "--vmsa-features") -> int:
    """VMSA features as hex or names (``0x20``, ``DEBUG_SWAP``; :func:`pvmkit.features.parse_sev_features`);
    UsageError for a value that does not parse."""
    from pvmkit.errors import FeatureError
    from pvmkit.features import parse_sev_features

    try:
        return parse_sev_features(text)
    except FeatureError as exc:
        raise UsageError(f"{what}: {exc}") from None


def parse_vcpu_type(name: str, what: str = "--vcpu-type") -> int:
    """The signature of a QEMU vCPU model name (:func:`pvmkit.vendors.amd.cpu.vcpu_signature`); a name
    outside that closed list is a UsageError, as sev-snp-measure's ``choices`` make it."""
    from pvmkit.vendors.amd.cpu import vcpu_signature

    try:
        return vcpu_signature(name)
    except InputError as exc:
        raise UsageError(f"{what}: {exc}") from None


def parse_int(text: str, what: str = "value", lo: int | None = None, hi: int | None = None) -> int:
    """Integer option value in any Python base notation (0x.., 0b.., decimal) within ``lo..hi``
    (inclusive, either end optional); UsageError otherwise."""
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise UsageError(f"{what} is not an integer: {text!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else _int_text(lo)
        high = "" if hi is None else _int_text(hi)
        raise UsageError(f"{what} {text} is outside {low}..{high}")
    return value


#: ``--policy`` help of the commands that launch an SNP-like guest (launch --vendor sw, demo)
SNP_POLICY_HELP = "SNP guest policy: a u64 with bit 17 set and none above bit 25 (default 0x30000)"


def parse_snp_policy(text: str, what: str = "--policy") -> int:
    """An SNP guest policy: a u64 with the must-be-one bit 17 set and no bit above 25 (the SEV-SNP
    firmware ABI specification's GUEST_POLICY structure; go-sev-guest's ``abi.ParseSnpPolicy``
    refuses the same). Anything else is outside the option's range: a UsageError (exit 2), whichever
    command takes it."""
    from pvmkit.attest.snp_validate import option_problem

    value = parse_int(text, what, 0, U64_MAX)
    problem = option_problem("guest_policy", value)
    if problem is not None:
        raise UsageError(f"{what} {problem}")
    return value


def _int_text(value: int) -> str:
    return f"{value:#x}" if value >= 1 << 16 else str(value)


#: The longest time budget any option takes (one day): long enough for any guest run, and well
#: inside what ``threading`` and ``time`` can represent (``inf`` or ``1e308`` overflow them).
MAX_SECONDS = 86400.0


def parse_seconds(text: str, what: str = "--timeout", hi: float = MAX_SECONDS) -> float:
    """A time budget in seconds: a finite number with 0 < value ≤ ``hi``; UsageError otherwise."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} is not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= hi:
        raise UsageError(f"{what} {text} is outside (0, {hi:g}] seconds")
    return value


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

#: The largest guest memory size any option takes: 4 PiB, all a 52-bit guest physical address
#: space can address (AMD64 APM vol. 2 §5.3.3 and Intel SDM vol. 3A §4.5: MAXPHYADDR is at most 52).
MAX_MEMORY = 1 << 52


def parse_size(text: str, what: str = "--memory") -> int:
    """``2G``, ``2048M``, ``2GiB``, ``0x80000000``, ``2147483648`` → bytes (binary units, like QEMU -m
    with a suffix; a bare number is bytes): a positive multiple of 4 KiB up to :data:`MAX_MEMORY`;
    UsageError otherwise."""
    import re

    m = re.fullmatch(r"\s*(0x[0-9a-fA-F]+|\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if m is None:
        raise UsageError(f"{what} {text!r} is not a size such as 2G, 2048M or 2147483648")
    number, unit = m.groups()
    value = int(number, 16) if number.lower().startswith("0x") else float(number)
    size = int(value * _SIZE_UNITS[unit.lower()])
    if size <= 0 or size % 4096:
        raise UsageError(f"{what} {text!r} is not a positive multiple of 4 KiB")
    if size > MAX_MEMORY:
        raise UsageError(f"{what} {text!r} is larger than 4 PiB (52-bit guest physical addresses)")
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
#: a raw disk image (mapped: only its GPT, filesystem structures and the files read are touched)
MAX_DISK = 64 * 1024 * _GIB


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
