"""QEMU's SEV kernel-hashes table (``SevHashTable``; spec amd.md §2.1).

Layout: header GUID(16) + u16 length (168), then three entries ``GUID(16) + u16 length (50) +
SHA-256(32)`` in the order **cmdline, initrd, kernel**, padded with zeros to 176 bytes (a multiple of
16). The cmdline hash covers the command line plus its terminating NUL (no command line:
SHA-256(b"\\0")); no initrd: SHA-256(b""); the kernel hash covers the whole bzImage file.
"""

from __future__ import annotations

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.ovmf import Image

__all__ = [
    "CMDLINE_GUID",
    "HEADER_GUID",
    "INITRD_GUID",
    "KERNEL_GUID",
    "PADDED_TABLE_SIZE",
    "TABLE_SIZE",
    "SevHashes",
    "build_hashes_page",
    "build_hashes_table",
    "hash_kernel_inputs",
    "parse_hashes_table",
]

HEADER_GUID = "9438d606-4f22-4cc9-b479-a793d411fd21"
CMDLINE_GUID = "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"
INITRD_GUID = "44baf731-3a2f-4bd7-9af1-41e29169781d"
KERNEL_GUID = "4de79437-abd2-427f-b835-d5b172d2045b"

_ENTRY_SIZE = 16 + 2 + 32  # 50
TABLE_SIZE = 16 + 2 + 3 * _ENTRY_SIZE  # 168
PADDED_TABLE_SIZE = (TABLE_SIZE + 15) & ~15  # 176
_ORDER = (("cmdline", CMDLINE_GUID), ("initrd", INITRD_GUID), ("kernel", KERNEL_GUID))


class SevHashes:
    """The three SHA-256 digests of the table (each 32 bytes). Immutable, hashable, comparable."""

    __slots__ = ("cmdline", "initrd", "kernel")
    cmdline: bytes
    initrd: bytes
    kernel: bytes

    def __init__(self, cmdline: bytes, initrd: bytes, kernel: bytes) -> None:
        for name, value in (("cmdline", cmdline), ("initrd", initrd), ("kernel", kernel)):
            if len(value) != 32:
                raise FormatError(f"{name} hash must be 32 bytes", what=f"SEV hashes {name}")
            object.__setattr__(self, name, bytes(value))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SevHashes is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SevHashes):
            return NotImplemented
        return (self.cmdline, self.initrd, self.kernel) == (other.cmdline, other.initrd, other.kernel)

    def __hash__(self) -> int:
        return hash((self.cmdline, self.initrd, self.kernel))

    def __repr__(self) -> str:
        return (
            f"SevHashes(cmdline={self.cmdline.hex()}, initrd={self.initrd.hex()}, kernel={self.kernel.hex()})"
        )

    def table(self) -> bytes:
        """The 176-byte padded table."""
        return build_hashes_table(self)


def hash_kernel_inputs(
    kernel: Image, initrd: Image | None = None, cmdline: str | bytes | None = None
) -> SevHashes:
    """Hash the direct-boot inputs as QEMU does (cmdline with its NUL, missing initrd = b"")."""
    import hashlib  # here, not at import: `pvmkit measure --vendor snp` imports this module (start-up)

    if isinstance(cmdline, str):
        cmdline = cmdline.encode()
    return SevHashes(
        cmdline=hashlib.sha256((cmdline or b"") + b"\0").digest(),
        initrd=hashlib.sha256(initrd or b"").digest(),
        kernel=hashlib.sha256(kernel).digest(),
    )


def build_hashes_table(hashes: SevHashes) -> bytes:
    """The padded 176-byte ``SevHashTable``."""
    out = bytearray(guid_bytes(HEADER_GUID))
    out += TABLE_SIZE.to_bytes(2, "little")
    for name, guid in _ORDER:
        out += guid_bytes(guid) + _ENTRY_SIZE.to_bytes(2, "little") + getattr(hashes, name)
    out += bytes(PADDED_TABLE_SIZE - len(out))
    return bytes(out)


def build_hashes_page(hashes: SevHashes, offset: int, size: int = 4096) -> bytes:
    """A zero page (or range) of ``size`` bytes with the padded table at ``offset`` (SNP measures it)."""
    if offset < 0 or offset + PADDED_TABLE_SIZE > size:
        raise FormatError(
            f"hashes table at {offset:#x} does not fit a {size:#x}-byte range", what="SEV hashes table"
        )
    return bytes(offset) + build_hashes_table(hashes) + bytes(size - offset - PADDED_TABLE_SIZE)


def parse_hashes_table(data: bytes, offset: int = 0) -> SevHashes:
    """Read a table (e.g. from a guest page); checks GUIDs and lengths."""
    if len(data) - offset < TABLE_SIZE:
        raise TruncatedError(
            f"SEV hashes table needs {TABLE_SIZE} bytes, {max(0, len(data) - offset)} available",
            what="SEV hashes table",
            offset=offset,
        )
    if data[offset : offset + 16] != guid_bytes(HEADER_GUID):
        raise FormatError("SEV hashes table header GUID is wrong", what="SEV hashes table", offset=offset)
    length = int.from_bytes(data[offset + 16 : offset + 18], "little")
    if length != TABLE_SIZE:
        raise FormatError(
            f"SEV hashes table length {length}, expected {TABLE_SIZE}",
            what="SEV hashes table",
            offset=offset + 16,
        )
    values: dict[str, bytes] = {}
    pos = offset + 18
    for name, guid in _ORDER:
        if data[pos : pos + 16] != guid_bytes(guid):
            raise FormatError(
                f"SEV hashes table {name} entry GUID is wrong", what="SEV hashes table", offset=pos
            )
        elen = int.from_bytes(data[pos + 16 : pos + 18], "little")
        if elen != _ENTRY_SIZE:
            raise FormatError(
                f"SEV hashes table {name} entry length {elen}, expected {_ENTRY_SIZE}",
                what="SEV hashes table",
                offset=pos + 16,
            )
        values[name] = bytes(data[pos + 18 : pos + _ENTRY_SIZE])
        pos += _ENTRY_SIZE
    return SevHashes(**values)
