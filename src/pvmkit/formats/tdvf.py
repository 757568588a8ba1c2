"""TDVF metadata: where an Intel TDX firmware image says what goes where (spec tdx.md §1.1).

Bytes in, typed data out. :func:`parse_tdvf` finds the TDVF descriptor in an image and returns its
sections in metadata order (the order QEMU issues ``KVM_TDX_INIT_MEM_REGION`` and therefore the order
of MRTD). Two image layouts are recognised:

* **OVMF** (``MetadataLocation.OVMF``): the footer GUID table (ending 0x20 bytes before the end of the
  file) holds entry ``e47a6535-984a-4798-865e-4685a7bf8ec2`` with a u32 ``off``; the ``"TDVF"``
  descriptor starts at ``len - off`` (right after the 16-byte ``TdxMetadataGuid``).
* **td-shim** (``MetadataLocation.TD_SHIM``): a u32 at ``len - 0x20`` is the *file offset* of the
  descriptor, which is preceded by the same 16-byte GUID. Only tried when the image has no footer
  table entry, and accepted only if both the GUID and the signature are there.

Checks (all raise :class:`~pvmkit.errors.FormatError` or :class:`~pvmkit.errors.TruncatedError` with
the file offset of the problem):

* structure: signature ``"TDVF"``, ``Version == 1``, ``Length == 16 + 32·n``, the table inside the file;
* QEMU's rules (``hw/i386/tdvf.c``): GPA and ``MemoryDataSize`` 4 KiB aligned, ``MemoryDataSize ≥
  RawDataSize``, BFV/CFV with ``RawDataSize ≠ 0``, TD_HOB/TempMem with ``RawDataSize == 0``, n ≥ 2, and
  (with ``qemu=True``, the default) no other section type;
* one rule QEMU lacks: ``DataOffset + RawDataSize ≤ file size``. Debian 12's split ``OVMF_CODE_4M.fd``
  carries metadata written for the unified image, so its sections run past its end; QEMU would read
  past the image, pvmkit refuses it;
* pvmkit's own bounds, checked before anything is allocated or hashed: at most
  :data:`~pvmkit.formats.ovmf.MAX_SECTIONS` (256) sections (OVMF and td-shim list 4 to 10), and the
  memory the sections added at launch (all but ``PAGE.AUG`` ones) claim beyond the image bytes they
  carry, ``MemoryDataSize − RawDataSize`` summed, at most :data:`MAX_SECTION_MEMORY` (256 MiB, shared
  with :mod:`pvmkit.formats.ovmf`); the image bytes themselves are bounded by the file. Every page
  added is hashed into MRTD, so a corrupt size field (one flipped bit asks for 16 TiB) would otherwise
  cost memory and minutes; OVMF and td-shim builds claim well under 1 MiB.

The footer-table walk is the one in :mod:`pvmkit.formats.ovmf` (shared with the AMD side);
:func:`footer_entries` gives its ``guid → (payload, payload offset)`` view.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.ovmf import MAX_SECTION_MEMORY, MAX_SECTIONS, parse_footer_table

__all__ = [
    "FOOTER_GUID",
    "MAX_SECTION_MEMORY",
    "TDVF_METADATA_GUID",
    "TDX_METADATA_OFFSET_GUID",
    "MetadataLocation",
    "TdvfAttribute",
    "TdvfMetadata",
    "TdvfSection",
    "TdvfSectionType",
    "footer_entries",
    "has_tdvf_metadata",
    "parse_tdvf",
]

#: Footer GUID of the OVMF GUIDed table (``SEV_GUIDED_STRUCTURE_TABLE`` footer).
FOOTER_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d"
#: Table entry whose u32 payload is the distance from the end of the file to the TDVF descriptor.
TDX_METADATA_OFFSET_GUID = "e47a6535-984a-4798-865e-4685a7bf8ec2"
#: ``TdxMetadataGuid``: the 16 bytes right before the ``"TDVF"`` descriptor.
TDVF_METADATA_GUID = "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae"

_SIGNATURE = b"TDVF"
_DESCRIPTOR = struct.Struct("<4sIII")  # signature, length, version, number of sections
_SECTION = struct.Struct("<IIQQII")  # data offset, raw size, GPA, memory size, type, attributes
_RESET_AREA = 0x20  # the table ends this many bytes before the end of the file
_TRAILER = 18  # every table entry ends with u16 length + 16-byte GUID
_PAGE = 4096


_METADATA_GUID_LE = guid_bytes(TDVF_METADATA_GUID)


class TdvfSectionType(enum.IntEnum):
    """TDVF section types (TDVF design guide; 7 and 8 are td-shim's)."""

    BFV = 0
    CFV = 1
    TD_HOB = 2
    TEMP_MEM = 3
    PERM_MEM = 4
    PAYLOAD = 5
    PAYLOAD_PARAM = 6
    TD_INFO = 7
    TD_PARAMS = 8


class TdvfAttribute(enum.IntFlag):
    """TDVF section attributes."""

    MR_EXTEND = 0x1  #: TDH.MR.EXTEND every 256-byte chunk after TDH.MEM.PAGE.ADD
    PAGE_AUG = 0x2  #: not PAGE.ADDed at launch: the guest accepts these pages later


class MetadataLocation(str, enum.Enum):
    """How the descriptor was found."""

    OVMF = "ovmf"  #: footer GUID table entry, descriptor at ``len - off``
    TD_SHIM = "td-shim"  #: u32 file offset at ``len - 0x20``


@dataclass(frozen=True)
class TdvfSection:
    """One 32-byte TDVF section entry. ``type`` stays a raw int so unknown types survive parsing."""

    index: int  #: position in the metadata (the launch order)
    data_offset: int
    raw_data_size: int
    memory_address: int  #: GPA
    memory_data_size: int
    type: int
    attributes: int
    entry_offset: int  #: file offset of this 32-byte entry

    @property
    def type_name(self) -> str:
        try:
            return TdvfSectionType(self.type).name
        except ValueError:
            return f"UNKNOWN({self.type:#x})"

    @property
    def mr_extend(self) -> bool:
        return bool(self.attributes & TdvfAttribute.MR_EXTEND)

    @property
    def page_aug(self) -> bool:
        return bool(self.attributes & TdvfAttribute.PAGE_AUG)

    @property
    def pages(self) -> int:
        return self.memory_data_size // _PAGE

    @property
    def end(self) -> int:
        return self.memory_address + self.memory_data_size

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "type": self.type_name,
            "data_offset": self.data_offset,
            "raw_data_size": self.raw_data_size,
            "gpa": self.memory_address,
            "memory_data_size": self.memory_data_size,
            "attributes": self.attributes,
            "mr_extend": self.mr_extend,
            "page_aug": self.page_aug,
        }


@dataclass(frozen=True)
class TdvfMetadata:
    """The TDVF descriptor of an image and its sections in metadata order."""

    offset: int  #: file offset of the ``"TDVF"`` signature
    length: int
    version: int
    sections: tuple[TdvfSection, ...]
    location: MetadataLocation
    image_size: int

    def of_type(self, section_type: int) -> tuple[TdvfSection, ...]:
        return tuple(s for s in self.sections if s.type == section_type)

    @property
    def td_hob(self) -> TdvfSection | None:
        """The TD_HOB section (QEMU images have exactly one), or None."""
        hobs = self.of_type(TdvfSectionType.TD_HOB)
        return hobs[0] if hobs else None

    @property
    def cfv(self) -> TdvfSection | None:
        cfvs = self.of_type(TdvfSectionType.CFV)
        return cfvs[0] if cfvs else None

    def raw_data(self, image: bytes | bytearray | memoryview, section: TdvfSection) -> memoryview:
        """The section's image bytes ``image[DataOffset : DataOffset + RawDataSize]`` (no copy)."""
        if len(image) != self.image_size:
            raise FormatError(
                f"image is {len(image):#x} bytes, the metadata was parsed from {self.image_size:#x}",
                what="TDVF image",
            )
        return memoryview(image)[section.data_offset : section.data_offset + section.raw_data_size]


def footer_entries(data: bytes | bytearray | memoryview) -> dict[str, tuple[bytes, int]]:
    """The OVMF footer GUID table: GUID text → (payload, file offset of the payload).

    Empty if the image has no footer table. The walk itself is :func:`pvmkit.formats.ovmf.parse_footer_table`
    (shared with the AMD side; the first entry found for a GUID wins, as in QEMU).
    """
    buf = bytes(data)
    if len(buf) < _RESET_AREA + _TRAILER:
        return {}
    table, _legacy = parse_footer_table(buf)
    return {guid: (entry.data, entry.offset) for guid, entry in table.items()}


def _locate(buf: memoryview) -> tuple[int, MetadataLocation] | None:
    size = len(buf)
    entries = footer_entries(buf)
    if TDX_METADATA_OFFSET_GUID in entries:
        payload, where = entries[TDX_METADATA_OFFSET_GUID]
        if len(payload) < 4:
            raise TruncatedError(
                f"TDX metadata offset entry holds {len(payload)} bytes, needs 4",
                what="TDX metadata offset",
                offset=where,
            )
        off = int.from_bytes(payload[:4], "little")
        if off == 0 or off > size:
            raise FormatError(
                f"TDX metadata offset {off:#x} points outside the {size:#x}-byte image",
                what="TDX metadata offset",
                offset=where,
            )
        return size - off, MetadataLocation.OVMF
    if entries or size < _RESET_AREA + 4:
        return None
    # td-shim: u32 file offset of the descriptor at len - 0x20, the GUID right before it.
    off = int.from_bytes(buf[size - _RESET_AREA : size - _RESET_AREA + 4], "little")
    if 16 <= off <= size - _DESCRIPTOR.size and (
        bytes(buf[off - 16 : off]) == _METADATA_GUID_LE and bytes(buf[off : off + 4]) == _SIGNATURE
    ):
        return off, MetadataLocation.TD_SHIM
    return None


def has_tdvf_metadata(data: bytes | bytearray | memoryview) -> bool:
    """Whether the image points at TDVF metadata (without validating it)."""
    try:
        return _locate(memoryview(data)) is not None
    except FormatError:
        return False


def _check_section(s: TdvfSection, size: int, qemu: bool) -> None:
    where = f"TDVF section {s.index} ({s.type_name})"

    def fail(message: str) -> FormatError:
        return FormatError(f"{where}: {message}", what="TDVF section", offset=s.entry_offset)

    if s.memory_address % _PAGE or s.memory_data_size % _PAGE:
        raise fail(f"GPA {s.memory_address:#x} or size {s.memory_data_size:#x} is not 4 KiB aligned")
    if s.memory_data_size < s.raw_data_size:
        raise fail(f"MemoryDataSize {s.memory_data_size:#x} is smaller than RawDataSize {s.raw_data_size:#x}")
    if s.memory_address + s.memory_data_size > 1 << 52:
        raise fail("range runs past the 52-bit physical address space")
    if s.raw_data_size and s.data_offset + s.raw_data_size > size:
        raise fail(
            f"data {s.data_offset:#x}+{s.raw_data_size:#x} runs past the end of the {size:#x}-byte image "
            "(metadata written for a bigger image, e.g. a split OVMF_CODE; TDX needs the unified image)"
        )
    t = s.type
    if t in (TdvfSectionType.BFV, TdvfSectionType.CFV) and s.raw_data_size == 0:
        raise fail("BFV/CFV section with RawDataSize 0")
    if t in (TdvfSectionType.TD_HOB, TdvfSectionType.TEMP_MEM) and s.raw_data_size != 0:
        raise fail(f"TD_HOB/TempMem section with RawDataSize {s.raw_data_size:#x} (must be 0)")
    if qemu and t not in (
        TdvfSectionType.BFV,
        TdvfSectionType.CFV,
        TdvfSectionType.TD_HOB,
        TdvfSectionType.TEMP_MEM,
    ):
        raise fail("section type not accepted by QEMU (only BFV, CFV, TD_HOB, TempMem)")


def parse_tdvf(data: bytes | bytearray | memoryview, *, qemu: bool = True) -> TdvfMetadata:
    """Find and validate the TDVF metadata of a firmware image.

    ``qemu=True`` applies QEMU's section-type rules as well (what ``-bios`` with ``tdx-guest`` accepts);
    ``qemu=False`` also takes the td-shim types (PermMem, Payload, TD_INFO, TD_PARAMS, …).
    Raises :class:`FormatError` when the image has no TDVF metadata.
    """
    buf = memoryview(data).cast("B")
    size = len(buf)
    found = _locate(buf)
    if found is None:
        raise FormatError(
            f"no TDVF metadata in this {size:#x}-byte image (no footer-table entry "
            f"{TDX_METADATA_OFFSET_GUID}, no td-shim descriptor): not a TDX firmware",
            what="TDVF metadata",
        )
    start, location = found
    if size - start < _DESCRIPTOR.size:
        raise TruncatedError("TDVF descriptor is cut off by the end of the image", what="TDVF", offset=start)
    signature, length, version, count = _DESCRIPTOR.unpack_from(buf, start)
    if signature != _SIGNATURE:
        raise FormatError(f"TDVF signature is {signature!r}, expected b'TDVF'", what="TDVF", offset=start)
    if version != 1:
        raise UnsupportedVersionError(
            f"TDVF metadata version {version} (pvmkit knows version 1)", what="TDVF", offset=start + 8
        )
    if length != _DESCRIPTOR.size + _SECTION.size * count:
        raise FormatError(
            f"TDVF Length {length} is not 16 + 32 × {count} sections", what="TDVF", offset=start + 4
        )
    if start + length > size:
        raise TruncatedError(
            f"TDVF section table ({count} entries) runs past the end of the image", what="TDVF", offset=start
        )
    if count > MAX_SECTIONS:
        raise FormatError(
            f"TDVF metadata lists {count} sections; pvmkit reads at most {MAX_SECTIONS}",
            what="TDVF",
            offset=start + 12,
        )
    if count < 2:
        raise FormatError(
            f"TDVF metadata has {count} section(s); at least 2 needed", what="TDVF", offset=start + 12
        )
    sections = []
    total = 0
    for i in range(count):
        off = start + _DESCRIPTOR.size + i * _SECTION.size
        d_off, raw, gpa, mem, typ, attr = _SECTION.unpack_from(buf, off)
        section = TdvfSection(i, d_off, raw, gpa, mem, typ, attr, off)
        _check_section(section, size, qemu)
        if not section.page_aug:
            total += mem - raw
        if total > MAX_SECTION_MEMORY:
            raise FormatError(
                f"TDVF section {i} ({section.type_name}): MemoryDataSize {mem:#x} brings the memory the "
                f"sections claim beyond their data to {total:#x} bytes, over pvmkit's limit of "
                f"{MAX_SECTION_MEMORY:#x} (a corrupt size field?)",
                what="TDVF section",
                offset=off,
            )
        sections.append(section)
    return TdvfMetadata(start, length, version, tuple(sections), location, size)
