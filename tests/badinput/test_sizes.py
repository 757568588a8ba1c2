"""Issue 15 item 2: sizes and counts read from a file are checked against what the file and the guest
can hold before anything is allocated. Each case is one bit flipped in a real firmware image."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.errors import FormatError
from pvmkit.formats.tdvf import MAX_SECTION_MEMORY, parse_tdvf
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from support.fixtures import read_fixture

TDVF = "firmware/OVMF.inteltdx.ms.fd"


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
    assert sum(s.memory_data_size for s in meta.sections) < MAX_SECTION_MEMORY // 256


def test_unmeasured_padding_is_not_a_copy() -> None:
    """An unmeasured section bigger than its data is zero-padded in a lazily zero-filled mapping:
    the CFV grown to 1 GiB (within the limit) plans without allocating 1 GiB."""
    image = bytearray(read_fixture(TDVF))
    cfv_size_field = 0x3FF630 + 16  # MemoryDataSize of section 1, u64 little-endian
    image[cfv_size_field : cfv_size_field + 8] = (1 << 30).to_bytes(8, "little")
    plan = build_tdvf_plan(bytes(image))
    (cfv,) = [op for op in plan.ops if getattr(op, "label", "") == "CFV#1"]
    assert cfv.size == 1 << 30 and cfv.data is not None and len(cfv.data) == 1 << 30
    assert cfv.data[:16] == image[:16]  # the CFV's data starts the image (DataOffset 0)
    assert cfv.data[(1 << 30) - 16 :] == bytes(16)


def test_measure_tdx_with_the_flipped_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tdvf.fd"
    path.write_bytes(flipped(TDVF, 0x3FF645, 0x10))
    assert main(["measure", "--vendor", "tdx", "--firmware", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: TDVF section 1 (CFV)")
