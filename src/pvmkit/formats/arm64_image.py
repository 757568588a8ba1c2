"""The arm64 Linux ``Image`` header (Linux ``Documentation/arch/arm64/booting.rst`` §4, "Call the
kernel image").

64 bytes, little-endian: ``code0`` u32 @0, ``code1`` u32 @4, ``text_offset`` u64 @8 (the offset from
a 2 MiB-aligned base at which the image must be placed), ``image_size`` u64 @16 (the effective size,
including BSS; 0 before Linux 3.17), ``flags`` u64 @24, three reserved u64, ``magic`` u32 @56 =
0x644d5241 (``"ARM\\x64"``), a reserved u32 @60.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, TruncatedError

__all__ = ["ARM64_IMAGE_MAGIC", "Arm64Image", "parse_arm64_image"]

ARM64_IMAGE_MAGIC = 0x644D5241
_HEADER = struct.Struct("<IIQQQQQQII")


@dataclass(frozen=True)
class Arm64Image:
    text_offset: int
    image_size: int
    flags: int

    @property
    def big_endian(self) -> bool:
        """Flags bit 0: the kernel's endianness (1 = big-endian)."""
        return bool(self.flags & 1)


def parse_arm64_image(data: bytes, what: str = "kernel") -> Arm64Image:
    """The header of an uncompressed arm64 ``Image``; FormatError for anything else (a compressed
    ``Image.gz``, an ELF ``vmlinux``, an x86 ``bzImage``, ...)."""
    if len(data) < _HEADER.size:
        raise TruncatedError(f"{what}: {len(data)} bytes is too short for an arm64 Image header", what=what)
    _code0, _code1, text_offset, image_size, flags, _r2, _r3, _r4, magic, _r5 = _HEADER.unpack_from(data)
    if magic != ARM64_IMAGE_MAGIC:
        kind = "a gzip file" if data[:2] == b"\x1f\x8b" else "an ELF file" if data[:4] == b"\x7fELF" else ""
        hint = f" (it is {kind}; give the uncompressed Image)" if kind else ""
        raise FormatError(f"{what}: not an arm64 Image: no 'ARM\\x64' magic at offset 0x38{hint}", what=what)
    return Arm64Image(text_offset, image_size, flags)
