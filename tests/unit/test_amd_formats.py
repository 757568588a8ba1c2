"""OVMF footer table, SEV metadata and the kernel-hashes table (spec amd.md §1, §2.1)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.guid import guid_bytes, guid_text
from pvmkit.formats.ovmf import (
    FOOTER_GUID,
    METADATA_GUID,
    RESET_BLOCK_GUID,
    SectionType,
    parse_ovmf,
)
from pvmkit.formats.sev_hashes import (
    PADDED_TABLE_SIZE,
    build_hashes_page,
    hash_kernel_inputs,
    parse_hashes_table,
)
from pvmkit.plan import PageKind, Vendor
from pvmkit.vendors.amd.builder import AmdLaunch
from pvmkit.vendors.amd.measure import measure_plan

DEBIAN = "firmware/OVMF.amdsev.fd"
AMDSEV_TAIL = "sev-snp-measure-tests/ovmf_AmdSev_suffix.bin"
OVMFX64_TAIL = "sev-snp-measure-tests/ovmf_OvmfX64_suffix.bin"


def test_guid_text_and_bytes_round_trip() -> None:
    raw = guid_bytes(FOOTER_GUID)
    assert raw.hex() == "de82b596b21ff745baeaa366c55a082d"  # little-endian ("bytes_le") form
    assert guid_text(raw) == FOOTER_GUID


def test_debian_image_values(fixture_bytes) -> None:
    data = fixture_bytes(DEBIAN)
    fw = parse_ovmf(data)
    assert fw.size == 0x400000 and fw.gpa() == 0xFFC00000
    assert int.from_bytes(data[0x400000 - 0x32 : 0x400000 - 0x30], "little") == 158  # footer total_len
    assert min(e.offset for e in fw.table.values()) >= 0x3FFF42
    assert fw.reset_eip == 0x0080B004
    assert fw.metadata_offset == 0x3FFA3C
    assert fw.secret_area == (0x810000, 0xC00)
    assert fw.hashes_table == (0x810C00, 0x400) and fw.supports_kernel_hashes
    assert [(s.gpa, s.size, s.type) for s in fw.sections] == [
        (0x800000, 0x9000, 1),
        (0x80A000, 0x3000, 1),
        (0x80D000, 0x1000, 2),
        (0x80E000, 0x1000, 3),
        (0x80F000, 0x1000, 4),
        (0x811000, 0x1F000, 1),
        (0x810000, 0x1000, 0x10),
    ]
    assert fw.sections[-1].type_name == "SNP_KERNEL_HASHES" and not fw.legacy_table


def test_old_tail_has_kernel_hashes_at_index_5(fixture_bytes) -> None:
    fw = parse_ovmf(fixture_bytes(AMDSEV_TAIL))
    assert fw.sections[5].type == SectionType.SNP_KERNEL_HASHES
    assert (fw.sections[6].gpa, fw.sections[6].size) == (0x811000, 0xF000)
    x64 = parse_ovmf(fixture_bytes(OVMFX64_TAIL))
    assert len(x64.sections) == 6 and x64.hashes_table == (0, 0) and not x64.supports_kernel_hashes


def _set_section_type(data: bytes, index: int, value: int) -> bytes:
    fw = parse_ovmf(data)
    off = fw.sections[index].offset + 8
    return data[:off] + value.to_bytes(4, "little") + data[off + 4 :]


def test_unknown_section_types_become_zero_pages_like_qemu(fixture_bytes) -> None:
    data = _set_section_type(fixture_bytes(AMDSEV_TAIL), 4, 0x77)
    fw = parse_ovmf(data)
    assert fw.sections[4].type == 0x77 and not fw.sections[4].known
    assert fw.sections[4].type_name == "UNKNOWN(0x77)"
    plan = AmdLaunch(Vendor.SNP, fw, vcpus=2, vcpu_sig=0x800F12).plan()
    assert [op.kind for op in plan.memory if op.label.startswith("UNKNOWN")] == [PageKind.ZERO]
    assert len(measure_plan(plan)) == 48


def test_legacy_reset_block_fallback() -> None:
    """Old OVMF: the reset block GUID right before the 32-byte reset area, with its length before it."""
    image = bytearray(4096)
    end = 4096 - 0x20
    image[end - 16 : end] = guid_bytes(RESET_BLOCK_GUID)
    image[end - 18 : end - 16] = (22).to_bytes(2, "little")
    image[end - 22 : end - 18] = (0x80B004).to_bytes(4, "little")
    fw = parse_ovmf(bytes(image))
    assert fw.legacy_table and fw.reset_eip == 0x80B004 and not fw.has_metadata


def test_image_without_a_table_parses_empty() -> None:
    fw = parse_ovmf(bytes(8192))
    assert not fw.has_table and fw.reset_eip is None and fw.sections == ()


def test_truncated_image() -> None:
    with pytest.raises(TruncatedError) as err:
        parse_ovmf(b"\x00" * 40)
    assert err.value.what == "OVMF footer table" and err.value.offset == 0


def test_bad_footer_length_names_the_offset(fixture_bytes) -> None:
    data = bytearray(fixture_bytes(AMDSEV_TAIL))
    footer = len(data) - 0x20 - 18
    data[footer : footer + 2] = (0xFFFF).to_bytes(2, "little")
    with pytest.raises(FormatError) as err:
        parse_ovmf(bytes(data))
    assert err.value.offset == footer and "footer" in str(err.value)


def test_bad_entry_length(fixture_bytes) -> None:
    data = bytearray(fixture_bytes(AMDSEV_TAIL))
    first = len(data) - 0x20 - 18 - 18  # the last entry's u16 length
    data[first : first + 2] = (3).to_bytes(2, "little")
    with pytest.raises(FormatError) as err:
        parse_ovmf(bytes(data))
    assert err.value.what == "OVMF footer table entry" and err.value.offset == first


def _metadata_start(data: bytes) -> int:
    fw = parse_ovmf(data)
    assert fw.metadata_offset is not None
    return fw.metadata_offset


def test_metadata_signature_version_and_count_errors(fixture_bytes) -> None:
    data = fixture_bytes(AMDSEV_TAIL)
    start = _metadata_start(data)
    bad_sig = data[:start] + b"XSEV" + data[start + 4 :]
    with pytest.raises(FormatError) as err:
        parse_ovmf(bad_sig)
    assert (err.value.what, err.value.offset) == ("SEV metadata", start)
    bad_version = data[: start + 8] + (2).to_bytes(4, "little") + data[start + 12 :]
    with pytest.raises(UnsupportedVersionError):
        parse_ovmf(bad_version)
    too_many = data[: start + 12] + (99).to_bytes(4, "little") + data[start + 16 :]
    with pytest.raises(TruncatedError) as err2:
        parse_ovmf(too_many)
    assert err2.value.offset == start + 12


def test_metadata_offset_outside_the_image(fixture_bytes) -> None:
    data = bytearray(fixture_bytes(AMDSEV_TAIL))
    entry = parse_ovmf(bytes(data)).table[METADATA_GUID]
    data[entry.offset : entry.offset + 4] = (0x100000).to_bytes(4, "little")
    with pytest.raises(FormatError, match="outside"):
        parse_ovmf(bytes(data))


# -- kernel hashes table (§2.1) -----------------------------------------------------------------
def test_hashes_table_layout_matches_the_spec_example() -> None:
    kernel = bytes((i * 7 + 3) & 0xFF for i in range(65536))
    initrd = b"pvmkit-initrd\n" * 1000
    hashes = hash_kernel_inputs(kernel, initrd, "console=ttyS0 root=/dev/vda rw")
    table = hashes.table()
    assert len(table) == PADDED_TABLE_SIZE == 176
    assert table[:18].hex() == "06d63894224fc94cb479a793d411fd21a800"
    assert table[18:36].hex() == "d82dd09720bd944caa78e7714d36ab2a3200"
    assert table[36:40].hex() == "5386fcf6" and table[66:68].hex() == "db9d"
    assert table[68:86].hex() == "31f7ba442f3ad74b9af141e29169781d3200"
    assert table[86:118].hex().startswith("276d6481") and table[86:118].hex().endswith("c960")
    assert table[118:136].hex() == "3794e74dd2ab7f42b835d5b172d2045b3200"
    assert table[136:168].hex().startswith("510b126e") and table[136:168].hex().endswith("c38b")
    assert table[168:] == bytes(8)
    assert parse_hashes_table(table) == hashes


def test_hashes_defaults_nul_terminated_cmdline_and_empty_initrd() -> None:
    h = hash_kernel_inputs(b"")
    assert h.cmdline == hashlib.sha256(b"\0").digest() and h.cmdline.hex().startswith("6e340b9c")
    assert h.initrd == hashlib.sha256(b"").digest() and h.initrd.hex().startswith("e3b0c442")
    assert hash_kernel_inputs(b"", b"", "") == h


def test_hashes_page_and_parse_errors() -> None:
    h = hash_kernel_inputs(b"k")
    page = build_hashes_page(h, 0xC00)
    assert len(page) == 4096 and parse_hashes_table(page, 0xC00) == h
    with pytest.raises(FormatError):
        build_hashes_page(h, 4000)
    with pytest.raises(TruncatedError):
        parse_hashes_table(page[:100])
    broken = bytearray(page)
    broken[0xC00 + 18] ^= 0xFF
    with pytest.raises(FormatError) as err:
        parse_hashes_table(bytes(broken), 0xC00)
    assert err.value.offset == 0xC00 + 18


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(min_size=0, max_size=600),
    total=st.integers(0, 0xFFFF),
    entry_len=st.integers(0, 0xFFFF),
    guid=st.sampled_from(
        [METADATA_GUID, RESET_BLOCK_GUID, "7255371f-3a3b-4b04-927b-1da6efa8d454", FOOTER_GUID]
    ),
    meta_off=st.integers(0, 0x1000),
)
def test_arbitrary_tables_raise_only_format_errors(
    body: bytes, total: int, entry_len: int, guid: str, meta_off: int
) -> None:
    """Whatever the lengths and offsets say, parsing ends in data or a FormatError, never a crash."""
    entry = meta_off.to_bytes(4, "little") + body[:8] + entry_len.to_bytes(2, "little") + guid_bytes(guid)
    image = body + entry + total.to_bytes(2, "little") + guid_bytes(FOOTER_GUID) + bytes(0x20)
    try:
        fw = parse_ovmf(image)
    except FormatError as exc:
        assert exc.what
        return
    assert isinstance(fw.sections, tuple)
