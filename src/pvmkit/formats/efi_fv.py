"""The files of a UEFI firmware image: firmware volumes, their FFS files and sections.

Layouts from the UEFI Platform Initialization specification 1.8, volume 3 ("Shared Architectural
Elements"): §3.2.1.1 ``EFI_FIRMWARE_VOLUME_HEADER`` (the ``_FVH`` signature at offset 40, the
volume's length at 32, its header's at 48), §3.2.3 ``EFI_FFS_FILE_HEADER`` / ``EFI_FFS_FILE_HEADER2``
(name GUID, type at 18, attributes at 19, 24-bit size at 20; ``FFS_ATTRIB_LARGE_FILE`` adds a 64-bit
size), §3.2.4 ``EFI_COMMON_SECTION_HEADER`` / ``2`` (24-bit size and type; 0xFFFFFF adds a 32-bit
size), §2.1.4 the section types, and files 8-byte and sections 4-byte aligned.

:func:`firmware_files` lists every FFS file of an image, descending into firmware-volume-image
sections and into GUID-defined sections compressed with LZMA (edk2's ``LzmaCustomDecompressLib``,
``gLzmaCustomDecompressGuid``: an LZMA "alone" stream), as OVMF packs its DXE volume. Each file has
its name GUID, its type, the name of its user-interface section and the name of its volume.
Malformed structures raise :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError
from pvmkit.formats.guid import guid_bytes, guid_text

__all__ = ["FV_FILETYPE_APPLICATION", "FV_FILETYPE_DRIVER", "FfsFile", "decompress_lzma", "firmware_files"]

FV_FILETYPE_DRIVER = 0x07  # PI 1.8 vol. 3 §2.1.4.1 EFI_FV_FILETYPE_DRIVER
FV_FILETYPE_APPLICATION = 0x09  # EFI_FV_FILETYPE_APPLICATION
_FILETYPE_FFS_PAD = 0xF0
_FILETYPES_WITH_SECTIONS = frozenset(range(0x02, 0x10))  # §2.1.4.1: freeform … MM core standalone
_SECTION_GUID_DEFINED = 0x02
_SECTION_USER_INTERFACE = 0x15
_SECTION_FIRMWARE_VOLUME_IMAGE = 0x17
_LZMA_GUID = guid_bytes("ee4e5898-3914-4259-9d6e-dc7bd79403cf")  # edk2 gLzmaCustomDecompressGuid
_FVH = b"_FVH"
#: §3.2.2 EFI_FIRMWARE_FILE_SYSTEM2_GUID and EFI_FIRMWARE_FILE_SYSTEM3_GUID: volumes holding FFS files
#: (others, like OVMF's variable store, hold something else and are skipped).
_FFS_VOLUMES = (
    guid_bytes("8c8ce578-8a3d-4f1c-9935-896185c32dd3"),
    guid_bytes("5473c07a-3dcb-4dca-bd6f-1e9689e7349a"),
)
_MAX_DEPTH = 4  # OVMF nests flash → FVMAIN_COMPACT → LZMA → DXEFV: 3 levels
_MAX_DECOMPRESSED = 64 << 20  # OVMF's DXE volumes are ~12 MiB


@dataclass(frozen=True)
class FfsFile:
    """One FFS file: its name GUID (canonical text), its type, its user-interface name (if any) and
    the name of the volume holding it (its extended header's ``FvName``, §3.2.1.2; None without one)."""

    name: str
    type: int
    ui: str | None
    volume: str | None = None


def firmware_files(image: bytes) -> tuple[FfsFile, ...]:
    """Every FFS file of a flash image (volumes found at 4 KiB boundaries), nested volumes included,
    in the order they are stored."""
    out: list[FfsFile] = []
    offset = 0
    while offset + 56 <= len(image):
        if image[offset + 40 : offset + 44] == _FVH:
            length = _walk_volume(image, offset, out, 0)
            offset += max(0x1000, (length + 0xFFF) & ~0xFFF)
        else:
            offset += 0x1000
    return tuple(out)


def _walk_volume(data: bytes, start: int, out: list[FfsFile], depth: int) -> int:
    """Append the files of the volume at ``start``; return its length."""
    length: int
    header: int
    length, _sig, _attributes, header = struct.unpack_from("<Q4sIH", data, start + 32)
    if length < header or header < 56 or start + length > len(data):
        raise FormatError(
            f"firmware volume of {length} bytes (header {header}) does not fit the image",
            what="firmware volume",
            offset=start,
        )
    if data[start + 16 : start + 32] not in _FFS_VOLUMES:
        return length
    ext = struct.unpack_from("<H", data, start + 52)[0]  # ExtHeaderOffset: FvName GUID first
    volume = guid_text(data[start + ext : start + ext + 16]) if 0 < ext <= length - 20 else None
    end = start + length
    at = start + header
    while at + 24 <= end:
        raw = data[at : at + 24]
        if raw == b"\xff" * 24 or raw == bytes(24):  # free space (either erase polarity)
            break
        name = guid_text(raw[:16])
        ftype, attributes = raw[18], raw[19]
        size = int.from_bytes(raw[20:23], "little")
        head = 24
        if attributes & 0x01 and size == 0:  # FFS_ATTRIB_LARGE_FILE: EFI_FFS_FILE_HEADER2
            size = int(struct.unpack_from("<Q", data, at + 24)[0])
            head = 32
        if size < head or at + size > end:
            raise FormatError(
                f"FFS file {name} of {size} bytes overruns its volume", what="FFS file", offset=at
            )
        index = len(out)  # a file precedes the files nested in it
        ui = None
        if ftype in _FILETYPES_WITH_SECTIONS:
            ui = _walk_sections(data, at + head, at + size, out, depth)
        if ftype != _FILETYPE_FFS_PAD:
            out.insert(index, FfsFile(name, ftype, ui, volume))
        at = (at + size + 7) & ~7
    return length


def _walk_sections(data: bytes, at: int, end: int, out: list[FfsFile], depth: int) -> str | None:
    """Walk one file's sections (descending into volumes and LZMA sections); its UI name."""
    ui = None
    while at + 4 <= end:
        size = int.from_bytes(data[at : at + 3], "little")
        kind = data[at + 3]
        head = 4
        if size == 0xFFFFFF:  # EFI_COMMON_SECTION_HEADER2
            size = int(struct.unpack_from("<I", data, at + 4)[0])
            head = 8
        if size < head or at + size > end:
            raise FormatError(f"section of {size} bytes overruns its file", what="FFS section", offset=at)
        body = data[at + head : at + size]
        if kind == _SECTION_USER_INTERFACE:
            ui = body.decode("utf-16-le", errors="replace").split("\0", 1)[0]
        elif kind == _SECTION_FIRMWARE_VOLUME_IMAGE and depth < _MAX_DEPTH and body[40:44] == _FVH:
            _walk_volume(body, 0, out, depth + 1)
        elif kind == _SECTION_GUID_DEFINED and body[:16] == _LZMA_GUID and depth < _MAX_DEPTH:
            data_offset = struct.unpack_from("<H", body, 16)[0]
            inner = decompress_lzma(body[data_offset - head :], at + data_offset)
            _walk_sections(inner, 0, len(inner), out, depth + 1)
        at = (at + size + 3) & ~3
    return ui


#: Streams decompressed last (SHA-256 of the stream → payload): one run reads an OVMF image's DXE
#: volume for its files, its SMBIOS strings and its release (~0.1 s per decompression); two entries.
_DECOMPRESSED: dict[bytes, bytes] = {}


def decompress_lzma(stream: bytes, offset: int, what: str = "FFS section") -> bytes:
    """An LZMA "alone" stream (5 property bytes, the 64-bit uncompressed size, the data), as edk2's
    ``LzmaCustomDecompressLib`` packs a GUID-defined section; ``offset``/``what`` name it in errors."""
    import hashlib
    import lzma

    if len(stream) < 13:
        raise FormatError("LZMA section shorter than its header", what=what, offset=offset)
    size = struct.unpack_from("<Q", stream, 5)[0]
    if size > _MAX_DECOMPRESSED:
        raise FormatError(f"LZMA section of {size} bytes", what=what, offset=offset)
    key = hashlib.sha256(stream).digest()
    payload = _DECOMPRESSED.get(key)
    if payload is None:
        try:
            payload = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(stream, size)
        except lzma.LZMAError as e:
            raise FormatError(f"LZMA section does not decompress: {e}", what=what, offset=offset) from None
        if len(_DECOMPRESSED) >= 2:
            _DECOMPRESSED.pop(next(iter(_DECOMPRESSED)))
        _DECOMPRESSED[key] = payload
    return payload
