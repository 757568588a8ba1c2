"""MRTD (pvmkit.vendors.tdx.builder + measure): spec tdx.md §1.3–1.5.

Vectors (tests/vectors/README.md, "TDX MRTD/RTMR"): the single-pass (interleaved) MRTDs of spec §1.5
are matched by Intel td-shim's ``td_shim_tee_info_hash.py`` (an independent implementation); the
two-pass values are regression vectors from the spec's independent implementation (td-shim implements
single-pass only). The AMD image's values are given truncated in the spec: prefix and suffix checked.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from pvmkit.errors import LayoutError, MeasurementError
from pvmkit.formats.tdvf import parse_tdvf
from pvmkit.launch import Launcher
from pvmkit.plan import (
    PAGE_SIZE,
    AddMemory,
    AddVcpu,
    Finalize,
    Init,
    LaunchPlan,
    PageKind,
    PageOrder,
    TdxParams,
    Vendor,
)
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from pvmkit.vendors.tdx.measure import MrtdMeasurer, measure_mrtd, mr_extend_record, page_add_record
from support.fixtures import read_fixture

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
AMD_FD = "firmware/OVMF.amdsev.fd"

MRTD_TDX = {  # spec §1.5, Debian sid OVMF.inteltdx.ms.fd 2026.08
    PageOrder.INTERLEAVED: "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c"
    "59aefecce725b0d08a5e9d3d3183bd08",
    PageOrder.TWO_PASS: "b90b236113eb4c0d4df4ef590568c14e6028a3a31d7e8ac63dee9845df5008d3"
    "ebf82d4f5974e933798f65d7a279b9a9",
}
MRTD_AMD = {  # spec §1.5, truncated: (first 8 hex, last 8 hex)
    PageOrder.INTERLEAVED: ("5f77220a", "fe6f004d"),
    PageOrder.TWO_PASS: ("85ed058c", "9da1cd43"),
}


@pytest.fixture(scope="module")
def tdx_fd() -> bytes:
    return read_fixture(TDX_FD)


@pytest.mark.parametrize("order", list(PageOrder))
def test_mrtd_of_debian_inteltdx_image(tdx_fd: bytes, order: PageOrder) -> None:
    assert measure_mrtd(build_tdvf_plan(tdx_fd, order=order)).hex() == MRTD_TDX[order]


@pytest.mark.parametrize("order", list(PageOrder))
def test_mrtd_of_amd_image_truncated_vectors(order: PageOrder) -> None:
    digest = measure_mrtd(build_tdvf_plan(read_fixture(AMD_FD), order=order)).hex()
    head, tail = MRTD_AMD[order]
    assert digest.startswith(head) and digest.endswith(tail)


def test_record_layout_of_spec_1_3() -> None:
    rec = page_add_record(0xFFC84000)
    assert rec.hex() == "4d454d2e504147452e414444" + "00000000" + "0040c8ff00000000" + "00" * 104
    ext = mr_extend_record(0xFFC84100)
    assert len(ext) == 128 and ext[:16] == b"MR.EXTEND" + bytes(7)
    assert struct.unpack_from("<Q", ext, 16)[0] == 0xFFC84100 and not any(ext[24:])


def test_record_counts_of_spec_1_5(tdx_fd: bytes) -> None:
    """1,050 PAGE.ADD + 14,272 EXTEND records (spec §1.5 perf note)."""
    backend = MrtdMeasurer()
    Launcher(backend).run(build_tdvf_plan(tdx_fd))
    assert (backend.page_adds, backend.extends) == (1050, 14272)


def _tiny_plan(order: PageOrder, kinds: list[PageKind]) -> LaunchPlan:
    ops: list[object] = [Init(vendor=Vendor.TDX, tdx=TdxParams(order=order)), AddVcpu(0, rcx=0x809000)]
    data = bytes(range(256)) * 32  # two pages
    for i, kind in enumerate(kinds):
        payload = data if kind is PageKind.NORMAL else None
        ops.append(AddMemory(0x100000 * (i + 1), 2 * PAGE_SIZE, kind, payload))
    ops.append(Finalize())
    return LaunchPlan.of(ops)  # type: ignore[arg-type]


def _reference(order: PageOrder, kinds: list[PageKind]) -> bytes:
    """The record stream written out directly from spec §1.3/§1.4 prose (not via the measurer)."""
    data = bytes(range(256)) * 32
    stream = b""
    for i, kind in enumerate(kinds):
        base = 0x100000 * (i + 1)
        pages = [base, base + PAGE_SIZE]

        def extends(gpa: int, page: int) -> bytes:
            out = b""
            for c in range(16):
                chunk = data[page * PAGE_SIZE + 256 * c : page * PAGE_SIZE + 256 * (c + 1)]
                out += b"MR.EXTEND" + bytes(7) + (gpa + 256 * c).to_bytes(8, "little") + bytes(104) + chunk
            return out

        def add(gpa: int) -> bytes:
            return b"MEM.PAGE.ADD" + bytes(4) + gpa.to_bytes(8, "little") + bytes(104)

        if kind is not PageKind.NORMAL:
            stream += b"".join(add(g) for g in pages)
        elif order is PageOrder.INTERLEAVED:
            stream += b"".join(add(g) + extends(g, p) for p, g in enumerate(pages))
        else:
            stream += b"".join(add(g) for g in pages) + b"".join(extends(g, p) for p, g in enumerate(pages))
    return hashlib.sha384(stream).digest()


@pytest.mark.parametrize("order", list(PageOrder))
def test_two_pass_is_per_section(order: PageOrder) -> None:
    kinds = [PageKind.NORMAL, PageKind.UNMEASURED, PageKind.NORMAL, PageKind.ZERO]
    assert measure_mrtd(_tiny_plan(order, kinds)) == _reference(order, kinds)


def test_orders_differ_and_unmeasured_equals_zero() -> None:
    a = measure_mrtd(_tiny_plan(PageOrder.INTERLEAVED, [PageKind.NORMAL]))
    b = measure_mrtd(_tiny_plan(PageOrder.TWO_PASS, [PageKind.NORMAL]))
    assert a != b
    u = measure_mrtd(_tiny_plan(PageOrder.INTERLEAVED, [PageKind.UNMEASURED]))
    z = measure_mrtd(_tiny_plan(PageOrder.INTERLEAVED, [PageKind.ZERO]))
    assert u == z


def test_plan_shape(tdx_fd: bytes) -> None:
    plan = build_tdvf_plan(tdx_fd, vcpus=4, td_hob=b"\x01\x00" + bytes(54))
    assert plan.init.vendor is Vendor.TDX and plan.init.tdx is not None
    assert [v.rcx for v in plan.vcpus] == [0x809000] * 4 and all(not v.state for v in plan.vcpus)
    kinds = [(m.gpa, m.kind) for m in plan.memory]
    assert kinds[0] == (0xFFC84000, PageKind.NORMAL)
    assert all(k is PageKind.UNMEASURED for _, k in kinds[1:])
    assert bytes(plan.memory[1].data or b"") == tdx_fd[:0x84000]  # CFV carries the varstore
    hob = plan.memory[4]
    assert hob.gpa == 0x809000 and bytes(hob.data or b"")[:2] == b"\x01\x00"
    assert plan.memory[2].data is None  # TempMem: zeros


def test_mrtd_independent_of_vcpus_hob_and_config(tdx_fd: bytes) -> None:
    """spec §0: MRTD does not depend on vCPU count, the HOB, XFAM or the MR* config fields."""
    params = TdxParams(xfam=0x600E7, mrconfigid=b"\x11" * 48, mrowner=b"\x22" * 48)
    plan = build_tdvf_plan(tdx_fd, vcpus=8, td_hob=b"\xff" * 100, tdx=params)
    assert measure_mrtd(plan).hex() == MRTD_TDX[PageOrder.INTERLEAVED]
    assert plan.init.tdx is not None and plan.init.tdx.xfam == 0x600E7


def test_page_aug_section_is_skipped(tdx_fd: bytes) -> None:
    img = bytearray(tdx_fd)
    entry = 0x3FF600 + 16 + 32 * 2  # TempMem #2
    struct.pack_into("<I", img, entry + 28, 2)  # PAGE.AUG
    plan = build_tdvf_plan(bytes(img))
    assert 0x810000 not in [m.gpa for m in plan.memory] and len(plan.memory) == 5


def test_measured_section_bigger_than_its_data_is_refused(tdx_fd: bytes) -> None:
    img = bytearray(tdx_fd)
    entry = 0x3FF600 + 16  # BFV
    struct.pack_into("<Q", img, entry + 16, 0x37C000 + 0x1000)
    with pytest.raises(MeasurementError, match="MemoryDataSize"):
        build_tdvf_plan(bytes(img))


def test_non_tdx_and_bad_pages_are_refused() -> None:
    launcher = Launcher(MrtdMeasurer())
    with pytest.raises(MeasurementError):
        launcher.init(Init(vendor=Vendor.SNP))
    launcher = Launcher(MrtdMeasurer())
    launcher.init(Init(vendor=Vendor.TDX))
    with pytest.raises(MeasurementError, match="page digests"):
        launcher.add_memory(AddMemory(0, PAGE_SIZE, PageKind.NORMAL, page_digests=(bytes(48),)))
    with pytest.raises(LayoutError, match="tdx has no secrets pages"):  # TDX's page kinds
        launcher.add_memory(AddMemory(0, PAGE_SIZE, PageKind.SECRETS))
    with pytest.raises(MeasurementError, match="secrets"):  # and the measurer's own check
        launcher.backend.add_memory(AddMemory(0, PAGE_SIZE, PageKind.SECRETS))
    with pytest.raises(LayoutError):  # the Launcher refuses VMSA pages for TDX
        launcher.add_memory(AddMemory(0, PAGE_SIZE, PageKind.VMSA))
    with pytest.raises(LayoutError):  # TDX vCPUs carry no measured state
        launcher.add_vcpu(AddVcpu(0, state=bytes(PAGE_SIZE)))


def test_default_order_without_tdx_params_is_interleaved(tdx_fd: bytes) -> None:
    plan = build_tdvf_plan(tdx_fd)
    ops = [Init(vendor=Vendor.TDX), *plan.ops[1:]]
    assert measure_mrtd(LaunchPlan.of(ops)).hex() == MRTD_TDX[PageOrder.INTERLEAVED]


def test_metadata_can_be_passed(tdx_fd: bytes) -> None:
    meta = parse_tdvf(tdx_fd)
    assert measure_mrtd(build_tdvf_plan(tdx_fd, metadata=meta)).hex() == MRTD_TDX[PageOrder.INTERLEAVED]


def test_plan_carries_qemus_td_hob_for_a_ram_size(tdx_fd: bytes) -> None:
    from pvmkit.vendors.tdx.td_hob import build_td_hob

    plan = build_tdvf_plan(tdx_fd, memory_size=2 << 30)
    hob = next(m for m in plan.memory if m.gpa == 0x809000)
    expected = build_td_hob(parse_tdvf(tdx_fd), 2 << 30)
    assert bytes(hob.data or b"")[: len(expected)] == expected
    assert measure_mrtd(plan).hex() == MRTD_TDX[PageOrder.INTERLEAVED]


def test_td_shim_rules_pad_measured_sections_with_zeros(tdx_fd: bytes) -> None:
    """td-shim zero-pads a measured section whose memory is bigger than its data: same MRTD as a plan
    that adds the zeros explicitly."""
    img = bytearray(tdx_fd)
    entry = 0x3FF600 + 16  # BFV: memory one page larger than the data
    struct.pack_into("<Q", img, entry + 16, 0x37C000 + 0x1000)
    plan = build_tdvf_plan(bytes(img), zero_pad_measured=True)
    bfv = plan.memory[0]
    assert bfv.size == 0x37D000 and bytes(bfv.data or b"")[-PAGE_SIZE:] == bytes(PAGE_SIZE)
    explicit = [
        *plan.ops[:2],
        AddMemory(0xFFC84000, 0x37D000, PageKind.NORMAL, bytes(img[0x84000:]) + bytes(PAGE_SIZE)),
        *plan.ops[3:],
    ]
    assert measure_mrtd(plan) == measure_mrtd(LaunchPlan.of(explicit))


def test_predicted_td_info(tdx_fd: bytes) -> None:
    """TDINFO echoes INIT's attributes, XFAM and MR* fields and carries MRTD at TDREPORT offset 528
    (spec §2.6, §4.1); the layout is the evidence side's TdInfo."""
    from pvmkit.formats.tdx_quote import TdInfo
    from pvmkit.vendors.tdx.measure import predict_td_info

    params = TdxParams(
        xfam=0x600E7, mrconfigid=b"\x01" * 48, mrowner=b"\x02" * 48, mrownerconfig=b"\x03" * 48
    )
    plan = build_tdvf_plan(tdx_fd, tdx=params)
    plan = LaunchPlan.of([Init(vendor=Vendor.TDX, policy=0x10000000, tdx=plan.init.tdx), *plan.ops[1:]])
    rtmrs = [bytes([i]) * 48 for i in range(4)]
    info = predict_td_info(plan, rtmrs)
    raw = info.to_bytes()
    assert len(raw) == 512
    assert struct.unpack_from("<QQ", raw, 0) == (0x10000000, 0x600E7)
    assert raw[16:64].hex() == MRTD_TDX[PageOrder.INTERLEAVED]  # TDREPORT 528 - 512
    assert raw[64:112] == b"\x01" * 48 and raw[160:208] == b"\x03" * 48
    assert raw[208:400] == b"".join(rtmrs)  # TDREPORT 720..912
    assert TdInfo.parse(raw) == info
    with pytest.raises(MeasurementError):
        predict_td_info(LaunchPlan.of([Init(vendor=Vendor.SNP), Finalize()]))
