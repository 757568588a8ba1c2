"""TDVF metadata parsing (pvmkit.formats.tdvf): spec tdx.md §1.1–1.2, on the real Debian images."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.tdvf import (
    TDVF_METADATA_GUID,
    MetadataLocation,
    TdvfSectionType,
    footer_entries,
    has_tdvf_metadata,
    parse_tdvf,
)
from support.fixtures import read_fixture

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
AMD_FD = "firmware/OVMF.amdsev.fd"

# spec tdx.md §1.2: (type, DataOffset, RawDataSize, GPA, MemoryDataSize, attributes), table order
SECTIONS_1_2 = [
    (TdvfSectionType.BFV, 0x84000, 0x37C000, 0xFFC84000, 0x37C000, 0x1),
    (TdvfSectionType.CFV, 0x0, 0x84000, 0xFFC00000, 0x84000, 0x0),
    (TdvfSectionType.TEMP_MEM, 0, 0, 0x810000, 0x10000, 0),
    (TdvfSectionType.TEMP_MEM, 0, 0, 0x80B000, 0x2000, 0),
    (TdvfSectionType.TD_HOB, 0, 0, 0x809000, 0x2000, 0),
    (TdvfSectionType.TEMP_MEM, 0, 0, 0x800000, 0x6000, 0),
]


@pytest.fixture(scope="module")
def tdx_fd() -> bytes:
    return read_fixture(TDX_FD)


def _table(meta_sections: object) -> list[tuple[int, int, int, int, int, int]]:
    return [
        (s.type, s.data_offset, s.raw_data_size, s.memory_address, s.memory_data_size, s.attributes)
        for s in meta_sections  # type: ignore[attr-defined]
    ]


def test_section_table_of_spec_1_2(tdx_fd: bytes) -> None:
    meta = parse_tdvf(tdx_fd)
    assert meta.location is MetadataLocation.OVMF
    assert meta.offset == 0x3FF600 and len(tdx_fd) - meta.offset == 0xA00
    assert (meta.length, meta.version) == (208, 1)
    assert _table(meta.sections) == SECTIONS_1_2
    assert [s.index for s in meta.sections] == list(range(6))
    bfv = meta.sections[0]
    assert bfv.mr_extend and not bfv.page_aug and bfv.type_name == "BFV"
    assert meta.td_hob is meta.sections[4] and meta.cfv is meta.sections[1]
    assert bytes(meta.raw_data(tdx_fd, meta.sections[1])) == tdx_fd[:0x84000]


def test_descriptor_is_preceded_by_the_metadata_guid(tdx_fd: bytes) -> None:
    meta = parse_tdvf(tdx_fd)
    assert tdx_fd[meta.offset - 16 : meta.offset] == guid_bytes(TDVF_METADATA_GUID)


def test_footer_table_entries_of_spec_1_1(tdx_fd: bytes) -> None:
    entries = footer_entries(tdx_fd)
    assert entries["e47a6535-984a-4798-865e-4685a7bf8ec2"][0] == struct.pack("<I", 0xA00)
    assert entries["784fa70e-3176-4677-8a20-04b68699e374"][0] == struct.pack("<I", 0x530)
    assert entries["dc886566-984a-4798-a75e-5585a7bf67cc"][0] == struct.pack("<I", 0x588)
    assert entries["00f771de-1a7e-4fcb-890e-68c77e2fb44e"][0] == struct.pack("<I", 0x0080B004)


def test_amd_image_also_has_tdx_metadata() -> None:
    """spec §1.5: the AMD image carries TDX metadata with 7 sections."""
    meta = parse_tdvf(read_fixture(AMD_FD))
    assert len(meta.sections) == 7
    assert meta.sections[0].type == TdvfSectionType.BFV and meta.sections[0].mr_extend


def test_no_metadata_in_random_image() -> None:
    blob = bytes(range(256)) * (4 << 20 >> 8)
    assert not has_tdvf_metadata(blob)
    with pytest.raises(FormatError, match="no TDVF metadata"):
        parse_tdvf(blob)


def test_truncated_image_has_no_footer(tdx_fd: bytes) -> None:
    with pytest.raises(FormatError, match="no TDVF metadata"):
        parse_tdvf(tdx_fd[: 3 << 20])


def _with_cut_front(tdx_fd: bytes, cut: int) -> bytes:
    """Keep the tail (footer table and metadata stay at the same distance from the end)."""
    return tdx_fd[cut:]


def test_metadata_pointing_outside_the_image(tdx_fd: bytes) -> None:
    """The Debian 12 split OVMF_CODE case, synthesised: the footer and metadata are kept (they are
    relative to the end), the front of the image (the varstore) is cut, so the BFV runs past the end."""
    image = _with_cut_front(tdx_fd, 0x84000)
    with pytest.raises(FormatError, match="runs past the end") as info:
        parse_tdvf(image)
    meta_off = len(image) - 0xA00
    assert info.value.offset == meta_off + 16  # the BFV entry


def test_bad_signature_version_length(tdx_fd: bytes) -> None:
    off = 0x3FF600
    img = bytearray(tdx_fd)
    img[off : off + 4] = b"XXXX"
    with pytest.raises(FormatError, match="signature") as info:
        parse_tdvf(img)
    assert info.value.offset == off
    img = bytearray(tdx_fd)
    struct.pack_into("<I", img, off + 8, 2)
    with pytest.raises(UnsupportedVersionError):
        parse_tdvf(img)
    img = bytearray(tdx_fd)
    struct.pack_into("<I", img, off + 4, 200)
    with pytest.raises(FormatError, match="Length"):
        parse_tdvf(img)


def _patched_section(tdx_fd: bytes, index: int, field: int, value: int) -> bytearray:
    img = bytearray(tdx_fd)
    fmt = "<IIQQII"
    entry = 0x3FF600 + 16 + 32 * index
    values = list(struct.unpack_from(fmt, img, entry))
    values[field] = value
    struct.pack_into(fmt, img, entry, *values)
    return img


@pytest.mark.parametrize(
    ("index", "field", "value", "message"),
    [
        (0, 2, 0xFFC84800, "aligned"),  # GPA
        (2, 3, 0x10800, "aligned"),  # MemoryDataSize
        (0, 3, 0x1000, "smaller than RawDataSize"),
        (1, 1, 0, "RawDataSize 0"),  # CFV without data
        (4, 1, 0x1000, "must be 0"),  # TD_HOB with data
        (2, 4, int(TdvfSectionType.PERM_MEM), "not accepted by QEMU"),
        (2, 4, 0x42, "not accepted by QEMU"),
    ],
)
def test_qemu_checks(tdx_fd: bytes, index: int, field: int, value: int, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        parse_tdvf(_patched_section(tdx_fd, index, field, value))
    assert info.value.offset == 0x3FF600 + 16 + 32 * index


def test_non_qemu_profile_keeps_other_types(tdx_fd: bytes) -> None:
    img = _patched_section(tdx_fd, 2, 4, int(TdvfSectionType.PERM_MEM))
    meta = parse_tdvf(img, qemu=False)
    assert meta.sections[2].type_name == "PERM_MEM"
    img = _patched_section(tdx_fd, 2, 4, 0x42)
    assert parse_tdvf(img, qemu=False).sections[2].type_name == "UNKNOWN(0x42)"


def test_fewer_than_two_sections(tdx_fd: bytes) -> None:
    img = bytearray(tdx_fd)
    struct.pack_into("<III", img, 0x3FF600 + 4, 16 + 32, 1, 1)
    with pytest.raises(FormatError, match="at least 2"):
        parse_tdvf(img)


def test_offset_entry_outside_image(tdx_fd: bytes) -> None:
    entries = footer_entries(tdx_fd)
    _, where = entries["e47a6535-984a-4798-865e-4685a7bf8ec2"]
    img = bytearray(tdx_fd)
    struct.pack_into("<I", img, where, len(tdx_fd) + 0x1000)
    with pytest.raises(FormatError, match="outside") as info:
        parse_tdvf(img)
    assert info.value.offset == where


def test_descriptor_cut_off() -> None:
    """A tiny image whose footer points 8 bytes before the end of the table area."""
    guid = guid_bytes("e47a6535-984a-4798-865e-4685a7bf8ec2")
    entry = struct.pack("<I", 0x22 + 6) + struct.pack("<H", 22) + guid
    footer = struct.pack("<H", 22 + 18) + guid_bytes("96b582de-1fb2-45f7-baea-a366c55a082d")
    img = bytes(0x100) + entry + footer + bytes(0x20)
    with pytest.raises((TruncatedError, FormatError)):
        parse_tdvf(img)


def _td_shim_image(sections: list[tuple[int, int, int, int, int, int]], size: int = 0x10000) -> bytes:
    img = bytearray(size)
    desc_off = 0x1010
    img[desc_off - 16 : desc_off] = guid_bytes(TDVF_METADATA_GUID)
    struct.pack_into("<4sIII", img, desc_off, b"TDVF", 16 + 32 * len(sections), 1, len(sections))
    for i, s in enumerate(sections):
        struct.pack_into("<IIQQII", img, desc_off + 16 + 32 * i, *s)
    struct.pack_into("<I", img, size - 0x20, desc_off)
    return bytes(img)


def test_td_shim_layout() -> None:
    """td-shim: the descriptor's file offset is a u32 at len-0x20 (spec §1.1), with td-shim types."""
    sections = [
        (0x2000, 0xE000, 0xFF000000 + 0x2000, 0xE000, int(TdvfSectionType.BFV), 1),
        (0, 0, 0x1000000, 0x100000, int(TdvfSectionType.PERM_MEM), 2),
        (0, 0, 0x800000, 0x1000, int(TdvfSectionType.TD_HOB), 0),
    ]
    img = _td_shim_image(sections)
    meta = parse_tdvf(img, qemu=False)
    assert meta.location is MetadataLocation.TD_SHIM and meta.offset == 0x1010
    assert _table(meta.sections) == [(s[4], s[0], s[1], s[2], s[3], s[5]) for s in sections]
    assert meta.sections[1].page_aug
    with pytest.raises(FormatError, match="not accepted by QEMU"):
        parse_tdvf(img)


def test_td_shim_pointer_without_guid_is_not_metadata() -> None:
    img = bytearray(_td_shim_image([(0, 0x1000, 0, 0x1000, 0, 1)] * 2))
    img[0x1000:0x1010] = bytes(16)
    assert not has_tdvf_metadata(img)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 0x3FF), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_metadata_raises_only_format_errors(tdx_fd: bytes, edits: list[tuple[int, int]]) -> None:
    """Any byte changes in the footer table and the TDVF descriptor area: parsed or FormatError."""
    img = bytearray(tdx_fd)
    for where, value in edits:
        # half the edits in the descriptor (0x3ff600..), half in the footer table (last 0x100 bytes)
        off = 0x3FF600 + where if where < 0x200 else len(img) - 0x100 + (where & 0xFF)
        img[off] = value
    try:
        meta = parse_tdvf(bytes(img))
    except FormatError:
        return
    for s in meta.sections:
        assert s.raw_data_size == 0 or s.data_offset + s.raw_data_size <= len(img)
