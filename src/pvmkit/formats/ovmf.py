"""OVMF firmware images: the footer GUID table and the SEV metadata (spec amd.md §1).

Bytes in, typed data out; nothing here opens a file. :func:`parse_ovmf` returns an :class:`Ovmf`
with the raw image, every footer-table entry and the decoded AMD entries:

* the SEV-ES reset block (AP reset EIP), including QEMU's legacy fallback for very old images,
* the SEV metadata ("ASEV") sections in table order, known and unknown types alike,
* the SEV hashes-table area (kernel/initrd/cmdline hashes), the launch-secret area,
* the SVSM info entry (Coconut SVSM images).

The SEV metadata lists at most :data:`MAX_SECTIONS` (256) sections (OVMF builds list 5 to 8; a
corrupt count would otherwise make pvmkit build hundreds of thousands of them), and they together may
claim at most :data:`MAX_SECTION_MEMORY` (256 MiB) of guest memory: every page of them is measured
one by one, so a corrupt size field (one flipped bit asks for 2 GiB) would otherwise cost seconds of
hashing. Real images claim well under 1 MiB. These are pvmkit's bounds, not QEMU's;
:mod:`pvmkit.formats.tdvf` applies the same ones to TDVF sections.

A missing entry is ``None``; malformed bytes raise :class:`~pvmkit.errors.FormatError` (or
:class:`~pvmkit.errors.TruncatedError`) with ``what=`` the structure and ``offset=`` its file offset.
The same parser reads Coconut SVSM images, which carry the same footer table.
"""

from __future__ import annotations

import mmap

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.guid import guid_bytes, guid_text

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost of `pvmkit measure`)
if TYPE_CHECKING:
    from typing import ClassVar, NamedTuple
else:
    from pvmkit._coldstart.namedtuple import NamedTuple

__all__ = [
    "FOOTER_GUID",
    "FOUR_GIB",
    "HASHES_TABLE_GUID",
    "MAX_SECTIONS",
    "MAX_SECTION_MEMORY",
    "METADATA_GUID",
    "RESET_BLOCK_GUID",
    "SECRET_AREA_GUID",
    "SVSM_INFO_GUID",
    "TDX_METADATA_GUID",
    "Image",
    "MetadataSection",
    "Ovmf",
    "SectionType",
    "TableEntry",
    "parse_footer_table",
    "parse_ovmf",
    "parse_sev_metadata",
]

FOUR_GIB = 1 << 32
#: The most guest memory a firmware's launch-time sections may claim together (module docstring).
MAX_SECTION_MEMORY = 256 << 20
#: The most sections a firmware's SEV or TDVF metadata may list (module docstring).
MAX_SECTIONS = 256

#: A whole firmware image: bytes, or a read-only ``mmap`` of the file (what the CLI passes, so a 4 MiB
#: image is not copied into memory first). Slicing either gives bytes.
Image = bytes | mmap.mmap

#: Footer-table GUIDs (canonical text form; stored little-endian, "bytes_le", in the image).
FOOTER_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d"
RESET_BLOCK_GUID = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
METADATA_GUID = "dc886566-984a-4798-a75e-5585a7bf67cc"
HASHES_TABLE_GUID = "7255371f-3a3b-4b04-927b-1da6efa8d454"
SECRET_AREA_GUID = "4c2eb361-7d9b-4cc3-8081-127c90d3d294"
TDX_METADATA_GUID = "e47a6535-984a-4798-865e-4685a7bf8ec2"
SVSM_INFO_GUID = "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd"

_RESET_AREA = 0x20  # the last 32 bytes of the image hold the reset vector
_ENTRY_TRAILER = 18  # u16 length + 16-byte GUID
_ASEV_HEADER = 16
_ASEV_ITEM = 12


class SectionType:
    """SEV metadata section types (edk2 ``OvmfSevMetadata.asm``; spec amd.md §1.2).

    Plain integer constants: a section keeps its raw type, so unknown types survive parsing.
    """

    SNP_SEC_MEM = 1
    SNP_SECRETS = 2
    CPUID = 3
    SVSM_CAA = 4
    SNP_KERNEL_HASHES = 0x10

    NAMES: ClassVar[dict[int, str]] = {
        1: "SNP_SEC_MEM",
        2: "SNP_SECRETS",
        3: "CPUID",
        4: "SVSM_CAA",
        0x10: "SNP_KERNEL_HASHES",
    }

    @classmethod
    def name(cls, value: int) -> str:
        return cls.NAMES.get(value, f"UNKNOWN({value:#x})")


class TableEntry(NamedTuple):
    """One footer-table entry: its payload and the file offset of that payload."""

    guid: str
    data: bytes
    offset: int


class MetadataSection(NamedTuple):
    """One SEV metadata descriptor ``{u32 gpa; u32 size; u32 type}``; ``type`` is kept raw."""

    gpa: int
    size: int
    type: int
    offset: int = 0  #: file offset of the descriptor

    @property
    def known(self) -> bool:
        return self.type in SectionType.NAMES

    @property
    def type_name(self) -> str:
        return SectionType.name(self.type)

    @property
    def end(self) -> int:
        return self.gpa + self.size


class Ovmf:
    """A parsed firmware image (or Coconut SVSM image). ``data`` is the whole image.

    Attributes (read-only by convention; built by :func:`parse_ovmf`): ``table`` (GUID text →
    :class:`TableEntry`), ``legacy_table`` (the reset block came from the pre-table fallback location),
    ``reset_eip`` (SEV-ES AP reset address or None), ``sections`` (SEV metadata in table order),
    ``metadata_offset`` (file offset of the ASEV header or None), ``hashes_table`` and ``secret_area``
    ((GPA, size) or None), ``svsm_info_offset`` (SVSM entry offset from its load GPA, or None).
    """

    __slots__ = (
        "data",
        "hashes_table",
        "legacy_table",
        "metadata_offset",
        "reset_eip",
        "secret_area",
        "sections",
        "svsm_info_offset",
        "table",
    )

    def __init__(
        self,
        data: Image,
        table: dict[str, TableEntry],
        *,
        legacy_table: bool = False,
        reset_eip: int | None = None,
        sections: tuple[MetadataSection, ...] = (),
        metadata_offset: int | None = None,
        hashes_table: tuple[int, int] | None = None,
        secret_area: tuple[int, int] | None = None,
        svsm_info_offset: int | None = None,
    ) -> None:
        self.data = data
        self.table = table
        self.legacy_table = legacy_table
        self.reset_eip = reset_eip
        self.sections = sections
        self.metadata_offset = metadata_offset
        self.hashes_table = hashes_table
        self.secret_area = secret_area
        self.svsm_info_offset = svsm_info_offset

    def __repr__(self) -> str:
        eip = "None" if self.reset_eip is None else f"{self.reset_eip:#x}"
        return (
            f"Ovmf(size={len(self.data):#x}, reset_eip={eip}, sections={len(self.sections)}, "
            f"hashes_table={self.hashes_table}, svsm_info_offset={self.svsm_info_offset})"
        )

    @property
    def size(self) -> int:
        return len(self.data)

    def gpa(self, end_at: int = FOUR_GIB) -> int:
        """Load GPA when the image ends at ``end_at`` (4 GiB for OVMF)."""
        return end_at - len(self.data)

    @property
    def has_table(self) -> bool:
        return bool(self.table)

    @property
    def has_metadata(self) -> bool:
        return self.metadata_offset is not None

    @property
    def supports_kernel_hashes(self) -> bool:
        """QEMU's rule for SEV/SEV-ES: a hashes-table entry with base ≠ 0 and size ≥ 176."""
        return self.hashes_table is not None and self.hashes_table[0] != 0 and self.hashes_table[1] >= 176

    def has_section(self, section_type: int) -> bool:
        return any(s.type == section_type for s in self.sections)


def _u16(data: Image, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _u32(data: Image, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


def parse_footer_table(data: Image) -> tuple[dict[str, TableEntry], bool]:
    """The footer GUID table, keyed by GUID text; and whether the legacy fallback was used.

    An image without the footer GUID (and without the legacy reset block) gives an empty table.
    """
    size = len(data)
    if size < _RESET_AREA + _ENTRY_TRAILER:
        raise TruncatedError(
            f"image of {size} bytes is too short for an OVMF footer table",
            what="OVMF footer table",
            offset=0,
        )
    end = size - _RESET_AREA  # the table ends here
    footer = end - _ENTRY_TRAILER
    table: dict[str, TableEntry] = {}
    if data[footer + 2 : end] == _FOOTER_LE:
        total = _u16(data, footer)
        if total < _ENTRY_TRAILER or total > end:
            raise FormatError(
                f"footer table length {total} does not fit the image",
                what="OVMF footer table",
                offset=footer,
            )
        start = end - total
        pos = footer  # entries end here, walking backwards
        while pos - start >= _ENTRY_TRAILER:
            length = _u16(data, pos - _ENTRY_TRAILER)
            guid = guid_text(data[pos - 16 : pos])
            if length < _ENTRY_TRAILER or pos - length < start:
                raise FormatError(
                    f"footer table entry {guid} has invalid length {length}",
                    what="OVMF footer table entry",
                    offset=pos - _ENTRY_TRAILER,
                )
            payload_off = pos - length
            table.setdefault(guid, TableEntry(guid, data[payload_off : pos - _ENTRY_TRAILER], payload_off))
            pos -= length
        return table, False
    # Legacy images: the reset block GUID sits right before the reset area, preceded by a u16 length.
    if data[end - 16 : end] == _RESET_LE:
        length = _u16(data, end - _ENTRY_TRAILER)
        if length < _ENTRY_TRAILER + 4 or length > end:
            raise FormatError(
                f"legacy SEV-ES reset block has invalid length {length}",
                what="SEV-ES reset block",
                offset=end - _ENTRY_TRAILER,
            )
        off = end - length
        table[RESET_BLOCK_GUID] = TableEntry(RESET_BLOCK_GUID, data[off : end - _ENTRY_TRAILER], off)
        return table, True
    return table, False


_FOOTER_LE = guid_bytes(FOOTER_GUID)
_RESET_LE = guid_bytes(RESET_BLOCK_GUID)


def parse_sev_metadata(data: Image, offset_from_end: int) -> tuple[int, tuple[MetadataSection, ...]]:
    """The ASEV header ``offset_from_end`` bytes before the end of ``data`` and its descriptors.

    Returns (header file offset, sections in table order).
    """
    size = len(data)
    start = size - offset_from_end
    if offset_from_end <= 0 or start < 0:
        raise FormatError(
            f"SEV metadata offset {offset_from_end:#x} points outside the {size:#x}-byte image",
            what="SEV metadata",
            offset=max(start, 0),
        )
    if size - start < _ASEV_HEADER:
        raise TruncatedError("SEV metadata header is cut off", what="SEV metadata", offset=start)
    if data[start : start + 4] != b"ASEV":
        raise FormatError(
            f"SEV metadata signature is {data[start : start + 4]!r}, expected b'ASEV'",
            what="SEV metadata",
            offset=start,
        )
    length = _u32(data, start + 4)
    version = _u32(data, start + 8)
    count = _u32(data, start + 12)
    if version != 1:
        raise UnsupportedVersionError(
            f"SEV metadata version {version} (pvmkit knows version 1)", what="SEV metadata", offset=start + 8
        )
    if length < _ASEV_HEADER or length > size - start:
        raise FormatError(
            f"SEV metadata length {length} does not fit the image", what="SEV metadata", offset=start + 4
        )
    if count > MAX_SECTIONS:
        raise FormatError(
            f"SEV metadata lists {count} sections; pvmkit reads at most {MAX_SECTIONS} (OVMF lists 5 to 8)",
            what="SEV metadata",
            offset=start + 12,
        )
    if _ASEV_HEADER + count * _ASEV_ITEM > length:
        raise TruncatedError(
            f"SEV metadata declares {count} sections but holds only {(length - _ASEV_HEADER) // _ASEV_ITEM}",
            what="SEV metadata",
            offset=start + 12,
        )
    sections = []
    total = 0
    for i in range(count):
        off = start + _ASEV_HEADER + i * _ASEV_ITEM
        section = MetadataSection(_u32(data, off), _u32(data, off + 4), _u32(data, off + 8), off)
        total += section.size
        if total > MAX_SECTION_MEMORY:
            raise FormatError(
                f"SEV metadata section {i} of {section.size:#x} bytes brings the sections to {total:#x}, "
                f"over pvmkit's limit of {MAX_SECTION_MEMORY:#x} (a corrupt size field?)",
                what="SEV metadata",
                offset=off + 4,
            )
        sections.append(section)
    return start, tuple(sections)


def _pair(entry: TableEntry, what: str) -> tuple[int, int]:
    if len(entry.data) < 8:
        raise TruncatedError(
            f"{what} entry needs 8 bytes, has {len(entry.data)}", what=what, offset=entry.offset
        )
    return _u32(entry.data, 0), _u32(entry.data, 4)


def _single(entry: TableEntry, what: str) -> int:
    if len(entry.data) < 4:
        raise TruncatedError(
            f"{what} entry needs 4 bytes, has {len(entry.data)}", what=what, offset=entry.offset
        )
    return _u32(entry.data, 0)


def parse_ovmf(data: bytes | bytearray | memoryview | mmap.mmap) -> Ovmf:
    """Parse an OVMF (or Coconut SVSM) image. Never fails for a missing entry, only for bad bytes.

    ``Ovmf.data`` is ``data`` itself when it is bytes or an mmap, otherwise a bytes copy.
    """
    raw = data if isinstance(data, bytes | mmap.mmap) else bytes(data)
    table, legacy = parse_footer_table(raw)
    reset_eip = None
    if RESET_BLOCK_GUID in table:
        reset_eip = _single(table[RESET_BLOCK_GUID], "SEV-ES reset block")
        if reset_eip == 0:
            raise FormatError(
                "SEV-ES reset block holds reset address 0",
                what="SEV-ES reset block",
                offset=table[RESET_BLOCK_GUID].offset,
            )
    metadata_offset = None
    sections: tuple[MetadataSection, ...] = ()
    if METADATA_GUID in table:
        metadata_offset, sections = parse_sev_metadata(raw, _single(table[METADATA_GUID], "SEV metadata"))
    hashes = _pair(table[HASHES_TABLE_GUID], "SEV hashes table") if HASHES_TABLE_GUID in table else None
    secret = _pair(table[SECRET_AREA_GUID], "SEV secret area") if SECRET_AREA_GUID in table else None
    svsm = _single(table[SVSM_INFO_GUID], "SVSM info") if SVSM_INFO_GUID in table else None
    return Ovmf(
        raw,
        table,
        legacy_table=legacy,
        reset_eip=reset_eip,
        sections=sections,
        metadata_offset=metadata_offset,
        hashes_table=hashes,
        secret_area=secret,
        svsm_info_offset=svsm,
    )
