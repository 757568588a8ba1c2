"""Issue 15 item 2: sizes and counts read from a file are checked against what the file and the guest
can hold before anything is allocated. Each case is one bit flipped in a real firmware image."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.errors import FormatError
from pvmkit.formats.ovmf import MAX_SECTION_MEMORY, parse_ovmf
from pvmkit.formats.tdvf import parse_tdvf
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from support.fixtures import read_fixture

TDVF = "firmware/OVMF.inteltdx.ms.fd"
OVMF = "firmware/OVMF.amdsev.fd"


def flipped(relative: str, offset: int, mask: int) -> bytes:
    data = bytearray(read_fixture(relative))
    data[offset] ^= mask
    return bytes(data)


def test_tdvf_section_memory_size_is_bounded() -> None:
    # byte 0x3ff645 is bit 44 of the CFV section's MemoryDataSize: 0x84000 becomes 0x100000084000
    image = flipped(TDVF, 0x3FF645, 0x10)
    with pytest.raises(FormatError, match="over pvmkit's limit") as info:
        parse_tdvf(image)
    assert "0x100000084000" in str(info.value)
    assert info.value.offset == 0x3FF630  # the CFV's 32-byte entry (the size field is at +0x10)


def test_tdvf_limit_leaves_the_real_image_alone() -> None:
    meta = parse_tdvf(read_fixture(TDVF))
    assert sum(s.memory_data_size - s.raw_data_size for s in meta.sections) < MAX_SECTION_MEMORY // 256


def test_unmeasured_padding_is_not_a_copy() -> None:
    """An unmeasured section bigger than its data is zero-padded in a lazily zero-filled mapping:
    the CFV grown to 128 MiB (within the limit) plans without allocating 128 MiB."""
    image = bytearray(read_fixture(TDVF))
    cfv_size_field = 0x3FF630 + 16  # MemoryDataSize of section 1, u64 little-endian
    image[cfv_size_field : cfv_size_field + 8] = (128 << 20).to_bytes(8, "little")
    plan = build_tdvf_plan(bytes(image))
    (cfv,) = [op for op in plan.ops if getattr(op, "label", "") == "CFV#1"]
    assert cfv.size == 128 << 20 and cfv.data is not None and len(cfv.data) == 128 << 20
    assert cfv.data[:16] == image[:16]  # the CFV's data starts the image (DataOffset 0)
    assert cfv.data[(128 << 20) - 16 :] == bytes(16)


def test_tdvf_limit_counts_memory_beyond_the_data() -> None:
    image = bytearray(read_fixture(TDVF))
    temp_size_field = 0x3FF650 + 16  # MemoryDataSize of section 2 (TEMP_MEM, no data)
    image[temp_size_field : temp_size_field + 8] = (MAX_SECTION_MEMORY).to_bytes(8, "little")
    with pytest.raises(FormatError, match="beyond their data"):
        parse_tdvf(bytes(image))
    image[temp_size_field : temp_size_field + 8] = (MAX_SECTION_MEMORY // 2).to_bytes(8, "little")
    assert parse_tdvf(bytes(image)).sections[2].memory_data_size == MAX_SECTION_MEMORY // 2


def test_sev_metadata_section_size_is_bounded() -> None:
    """Issue 15 item 8 (mutated OVMF images measured for seconds): bit 31 of the size of the sixth
    SEV metadata section (SNP_SEC_MEM, 124 KiB) claims 2 GiB of zero pages, each hashed on its own."""
    image = bytearray(read_fixture(OVMF))
    size_field = 0x3FFA88 + 4  # the sixth 12-byte descriptor {gpa, size, type}
    assert int.from_bytes(image[size_field : size_field + 4], "little") == 126976
    image[size_field + 3] ^= 0x80
    start = time.monotonic()
    with pytest.raises(FormatError, match="over pvmkit's limit") as info:
        parse_ovmf(bytes(image))
    assert time.monotonic() - start < 10
    assert info.value.offset == size_field
    assert sum(s.size for s in parse_ovmf(read_fixture(OVMF)).sections) < MAX_SECTION_MEMORY // 1000


def test_measure_tdx_with_the_flipped_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tdvf.fd"
    path.write_bytes(flipped(TDVF, 0x3FF645, 0x10))
    assert main(["measure", "--vendor", "tdx", "--firmware", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: TDVF section 1 (CFV)")
