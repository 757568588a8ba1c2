"""PE/COFF Authenticode digest as edk2 measures it (``MeasureBootPeCoff.c``; spec tdx.md §2.3).

The digest OVMF extends for ``EV_EFI_BOOT_SERVICES_APPLICATION`` (the kernel of ``-kernel``, shim, …):

1. hash ``[0, CheckSum)`` and ``[CheckSum + 4, CertDirEntry)``;
2. hash ``[CertDirEntry + 8, SizeOfHeaders)`` (no certificate directory entry: ``[CheckSum + 4,
   SizeOfHeaders)``);
3. hash every section's raw data (``PointerToRawData``, ``SizeOfRawData``) in ascending
   ``PointerToRawData`` order, skipping empty sections;
4. hash the trailing data ``[SumOfBytesHashed, FileSize − CertSize)`` when that range is non-empty.

There is **no** 8-byte zero padding (the Authenticode spec's padding for unaligned files is not in
edk2; dstack and virtee add it, which only matters for files whose size is not a multiple of 8).

Bad PE structure raises :class:`~pvmkit.errors.FormatError` with the file offset.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.plan import ByteData

__all__ = ["PeLayout", "authenticode_digest", "pe_layout"]

_PE32 = 0x10B
_PE32_PLUS = 0x20B
_SECURITY_DIRECTORY = 4


@dataclass(frozen=True)
class PeLayout:
    """The offsets Authenticode needs."""

    checksum_offset: int
    cert_dir_offset: int | None  #: file offset of the certificate-table directory entry (None: absent)
    size_of_headers: int
    cert_size: int
    sections: tuple[tuple[int, int], ...]  #: (PointerToRawData, SizeOfRawData), file order


def _need(data: bytes | memoryview, end: int, what: str, offset: int) -> None:
    if end > len(data):
        raise TruncatedError(f"PE image ends inside the {what}", what=what, offset=offset)


def pe_layout(data: bytes | memoryview) -> PeLayout:
    """Parse the PE headers of ``data`` (a whole image file)."""
    _need(data, 0x40, "DOS header", 0)
    if bytes(data[:2]) != b"MZ":
        raise FormatError("not a PE image (no MZ signature)", what="DOS header", offset=0)
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    _need(data, pe + 24, "PE header", pe)
    if bytes(data[pe : pe + 4]) != b"PE\0\0":
        raise FormatError("not a PE image (no PE signature)", what="PE header", offset=pe)
    sections, opt_size = struct.unpack_from("<2xH12xH", data, pe + 4)
    opt = pe + 24
    _need(data, opt + opt_size, "optional header", opt)
    magic = struct.unpack_from("<H", data, opt)[0]
    if magic == _PE32:
        count_off, dirs = 92, 96
    elif magic == _PE32_PLUS:
        count_off, dirs = 108, 112
    else:
        raise FormatError(f"unknown optional-header magic {magic:#x}", what="optional header", offset=opt)
    if opt_size < count_off + 4:
        raise FormatError("optional header too small", what="optional header", offset=opt)
    size_of_headers = struct.unpack_from("<I", data, opt + 60)[0]
    rva_count = struct.unpack_from("<I", data, opt + count_off)[0]
    cert_dir: int | None = None
    cert_size = 0
    if rva_count > _SECURITY_DIRECTORY:
        cert_dir = opt + dirs + 8 * _SECURITY_DIRECTORY
        if cert_dir + 8 > opt + opt_size:
            raise FormatError("certificate directory outside the optional header", what="PE", offset=cert_dir)
        cert_size = struct.unpack_from("<I", data, cert_dir + 4)[0]
    table = opt + opt_size
    _need(data, table + 40 * sections, "section table", table)
    raw = []
    for i in range(sections):
        size, pointer = struct.unpack_from("<II", data, table + 40 * i + 16)
        raw.append((pointer, size))
    if size_of_headers > len(data) or size_of_headers < table:
        raise FormatError(f"SizeOfHeaders {size_of_headers:#x} is out of range", what="PE", offset=opt + 60)
    return PeLayout(opt + 64, cert_dir, size_of_headers, cert_size, tuple(raw))


def authenticode_digest(data: ByteData, algorithm: str = "sha384") -> bytes:
    """The edk2 measured-boot Authenticode digest of a PE image."""
    buf = memoryview(data).cast("B")
    layout = pe_layout(buf)
    h = hashlib.new(algorithm)
    cks = layout.checksum_offset
    h.update(buf[:cks])
    if layout.cert_dir_offset is None:
        h.update(buf[cks + 4 : layout.size_of_headers])
    else:
        h.update(buf[cks + 4 : layout.cert_dir_offset])
        h.update(buf[layout.cert_dir_offset + 8 : layout.size_of_headers])
    hashed = layout.size_of_headers
    for pointer, size in sorted(layout.sections, key=lambda s: s[0]):
        if size == 0:
            continue
        if pointer + size > len(buf):
            raise TruncatedError(
                f"section data {pointer:#x}+{size:#x} runs past the end of the image",
                what="PE section",
                offset=pointer,
            )
        h.update(buf[pointer : pointer + size])
        hashed += size
    end = len(buf) - layout.cert_size
    if end > hashed:
        h.update(buf[hashed:end])
    return h.digest()
