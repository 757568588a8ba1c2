"""The sw vendor's pure parts: INIT rules, the request/response codec, VMSA → vCPU state, plans."""

from __future__ import annotations

import hashlib
import struct

import pytest

from pvmkit.errors import FeatureError, FormatError, InputError, LayoutError
from pvmkit.features import KNOWN_SEV_FEATURES, SevFeature
from pvmkit.guest import NONCE_OFFSET, TAG, attest_guest, parse_guest_output, report_data_for
from pvmkit.plan import PAGE_SIZE, Init, InitPath, PageKind, Vendor
from pvmkit.vendors.amd.measure import measure_plan
from pvmkit.vendors.amd.vmsa import Seg, build_vmsa, parse_vmsa
from pvmkit.vendors.sw import protocol
from pvmkit.vendors.sw.builder import bundled_guest_plan, flat_binary_plan, sw_vmsa
from pvmkit.vendors.sw.cpu_state import cpu_state_from_vmsa, segment_from_vmsa
from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES, check_init

# -- rules ---------------------------------------------------------------------------------------


def test_default_supported_features_are_snp_active_and_debug_swap() -> None:
    assert SW_SUPPORTED_VMSA_FEATURES == 0x21
    check_init(Init(Vendor.SW, vmsa_features=0x20, policy=0x30000))
    check_init(Init(Vendor.SW, vmsa_features=0, policy=0x30000))


@pytest.mark.parametrize("bit", [int(f) for f in SevFeature if not int(f) & SW_SUPPORTED_VMSA_FEATURES])
def test_every_other_known_feature_is_refused(bit: int) -> None:
    op = Init(Vendor.SW, vmsa_features=bit, policy=0x30000)
    op.validate()
    with pytest.raises(FeatureError, match="not supported by the sw VM"):
        check_init(op)


def test_the_supported_set_is_configurable() -> None:
    vtom = int(SevFeature.VTOM)
    check_init(Init(Vendor.SW, vmsa_features=vtom, policy=0x30000), supported_features=0x1 | vtom)
    with pytest.raises(FeatureError):
        check_init(Init(Vendor.SW, vmsa_features=0x20, policy=0x30000), supported_features=0x1)
    assert KNOWN_SEV_FEATURES & SW_SUPPORTED_VMSA_FEATURES == SW_SUPPORTED_VMSA_FEATURES


def test_legacy_init_is_refused_for_sw_before_the_backend() -> None:
    with pytest.raises(FeatureError, match="legacy"):
        Init(Vendor.SW, init_path=InitPath.LEGACY).validate()


@pytest.mark.parametrize(
    ("policy", "match"),
    [(0x10000, "bit 17"), (0x30000 | 1 << 19, "does not support"), (0x30000 | 1 << 18, "does not support")],
)
def test_policy_rules(policy: int, match: str) -> None:
    with pytest.raises(FeatureError, match=match):
        check_init(Init(Vendor.SW, policy=policy))


def test_other_vendors_and_seeds_are_refused() -> None:
    with pytest.raises(FeatureError):
        check_init(Init(Vendor.SNP, policy=0x30000))
    with pytest.raises(FeatureError, match="seed"):
        check_init(Init(Vendor.SW, policy=0x30000, seed=bytes(48)))


# -- protocol ------------------------------------------------------------------------------------


def test_request_and_response_layout() -> None:
    page = bytearray(PAGE_SIZE)
    page[0:64] = bytes(range(64))
    req = protocol.parse_request(page)
    assert req.report_data == bytes(range(64)) and req.vmpl == 0 and req.valid
    struct.pack_into("<I", page, 0x40, 1)
    assert not protocol.parse_request(page).valid
    struct.pack_into("<I", page, 0x40, 0)
    page[0x50] = 1  # reserved
    assert not protocol.parse_request(page).valid

    report = bytes(range(256)) * 4 + bytes(protocol.REPORT_SIZE - 1024)
    rsp = protocol.build_response(protocol.STATUS_SUCCESS, report)
    assert len(rsp) == 32 + 1184 and rsp[:8] == struct.pack("<II", 0, 1184)
    page[protocol.RESPONSE_OFFSET : protocol.RESPONSE_OFFSET + len(rsp)] = rsp
    assert protocol.parse_response(page) == (0, report)
    page[0x800:0x804] = struct.pack("<I", protocol.STATUS_INVALID_PARAM)
    assert protocol.parse_response(page) == (0x16, b"")


def test_protocol_constants_match_the_report_format_and_the_guest() -> None:
    from pvmkit.attest.snp_report import REPORT_SIZE

    assert protocol.REPORT_SIZE == REPORT_SIZE == 1184  # spec amd.md §4.5
    assert protocol.RESPONSE_OFFSET + 0x20 + REPORT_SIZE <= PAGE_SIZE
    guest = attest_guest()
    # the guest's immediates: ATTEST_PORT (mov $0xa77,%dx) and SERIAL_PORT (mov $0x3f8,%dx)
    assert b"\x66\xba" + struct.pack("<H", protocol.ATTEST_PORT) in guest
    assert b"\x66\xba" + struct.pack("<H", protocol.SERIAL_PORT) in guest


# -- VMSA → vCPU state ---------------------------------------------------------------------------


def test_segment_attributes_decode_per_the_svm_encoding() -> None:
    cs = segment_from_vmsa(0x08, 0xC9B, 0xFFFFFFFF, 0)  # APM vol. 2 §15.5.1
    assert (cs.type, cs.s, cs.dpl, cs.present, cs.db, cs.g, cs.l, cs.unusable) == (11, 1, 0, 1, 1, 1, 0, 0)
    null = segment_from_vmsa(0, 0, 0, 0)
    assert null.unusable == 1 and null.present == 0
    long_cs = segment_from_vmsa(0x10, 0x29B, 0, 0)
    assert long_cs.l == 1 and long_cs.db == 0


def test_cpu_state_of_the_bundled_guest() -> None:
    plan = bundled_guest_plan(nonce=bytes(32))
    state = cpu_state_from_vmsa(plan.plan.vcpus[0].state)
    assert state.regs["rip"] == plan.entry == 0x10000
    assert state.regs["rsi"] == plan.shared_gpa
    assert state.regs["rsp"] == plan.stack_gpa + PAGE_SIZE
    assert state.control["cr0"] == 0x11 and state.control["efer"] == 0  # SVME dropped
    assert state.sev_features == 0x1
    assert state.segments["cs"].db == 1 and state.segments["ldt"].type == 2


def test_vmsa_fields_the_sw_vm_cannot_load_are_refused() -> None:
    base = parse_vmsa(sw_vmsa(entry=0x1000, esp=0x2000, esi=0x3000, sev_features=1))
    for name, value in (("dr7", 0x401), ("lstar", 0xFFFF800000000000), ("vmpl", 1), ("xcr0", 7)):
        with pytest.raises(FeatureError, match=name):
            cpu_state_from_vmsa(build_vmsa(base, **{name: value}))
    with pytest.raises(FeatureError, match="fpreg_xmm"):
        cpu_state_from_vmsa(build_vmsa(base, fpreg_xmm=b"\x01"))
    cpu_state_from_vmsa(build_vmsa(base, dr7=0, mxcsr=0, x87_fcw=0))  # zero is fine too
    with pytest.raises(FormatError):
        cpu_state_from_vmsa(bytes(100))


def test_real16_vmsa() -> None:
    state = cpu_state_from_vmsa(sw_vmsa(entry=0x12345, esp=0x9000, esi=0x8000, sev_features=1, mode="real16"))
    cs = state.segments["cs"]
    assert (cs.selector, cs.base, state.regs["rip"], state.control["cr0"]) == (0x1000, 0x10000, 0x2345, 0x10)
    assert parse_vmsa(sw_vmsa(entry=0, esp=0, esi=0, sev_features=1))["cs"] == Seg(8, 0xC9B, 0xFFFFFFFF, 0)


# -- plans ---------------------------------------------------------------------------------------


def _independent_snp_digest(plan: object) -> bytes:
    """The SNP launch digest written from spec amd.md §4.1 alone (PAGE_INFO: LD, CONTENTS, LENGTH
    0x70, PAGE_TYPE, IMI 0, VMPL perms 0, reserved 0, GPA), not through pvmkit's measurer."""
    types = {PageKind.NORMAL: 1, PageKind.ZERO: 3, PageKind.UNMEASURED: 4}
    ld = bytes(48)
    for op in plan.plan.memory:  # type: ignore[attr-defined]
        for i in range(op.pages):
            contents = hashlib.sha384(op.page(i)).digest() if op.kind is PageKind.NORMAL else bytes(48)
            info = (
                ld
                + contents
                + struct.pack("<HBBBBBBQ", 0x70, types[op.kind], 0, 0, 0, 0, 0, op.gpa + i * 4096)
            )
            ld = hashlib.sha384(info).digest()
    for vcpu in plan.plan.vcpus:  # type: ignore[attr-defined]
        info = (
            ld
            + hashlib.sha384(vcpu.state).digest()
            + struct.pack("<HBBBBBBQ", 0x70, 2, 0, 0, 0, 0, 0, 0xFFFFFFFFF000)
        )
        ld = hashlib.sha384(info).digest()
    return ld


def test_bundled_plan_layout_and_prediction() -> None:
    g = bundled_guest_plan(nonce=b"\x11" * 32, host_data=b"\x22" * 32)
    kinds = [(op.gpa, op.size, op.kind) for op in g.plan.memory]
    assert kinds == [
        (0x8000, PAGE_SIZE, PageKind.ZERO),
        (0x10000, PAGE_SIZE, PageKind.NORMAL),
        (0x11000, PAGE_SIZE, PageKind.UNMEASURED),
    ]
    shared = g.plan.memory[2].page(0)
    assert shared[NONCE_OFFSET : NONCE_OFFSET + 32] == b"\x11" * 32
    assert g.plan.finalize is not None and g.plan.finalize.host_data == b"\x22" * 32
    assert measure_plan(g.plan) == _independent_snp_digest(g)


def test_the_nonce_and_host_data_do_not_change_the_measurement() -> None:
    a = measure_plan(bundled_guest_plan(nonce=bytes(32)).plan)
    b = measure_plan(bundled_guest_plan(nonce=b"\xff" * 32, host_data=b"\x01" * 32).plan)
    c = measure_plan(bundled_guest_plan(vmsa_features=0x20).plan)
    assert a == b != c


def test_flat_binary_plan_checks() -> None:
    code = b"\xf4"
    with pytest.raises(InputError):
        flat_binary_plan(b"")
    with pytest.raises(LayoutError):
        flat_binary_plan(code, load_address=0x10001)
    with pytest.raises(LayoutError):
        flat_binary_plan(code, entry=0x20000)
    with pytest.raises(LayoutError):
        flat_binary_plan(code, mode="real16", load_address=0x20000)  # shared page above 64 KiB
    with pytest.raises(InputError):
        flat_binary_plan(code, mode="long64")
    with pytest.raises(InputError):
        flat_binary_plan(code, nonce=b"short")
    g = flat_binary_plan(b"\x90" * 5000, load_address=0x100000, vcpus=2)
    assert g.code_size == 0x2000 and g.shared_gpa == 0x102000 and len(g.plan.vcpus) == 2


def test_guest_helpers() -> None:
    assert report_data_for(b"\x01" * 32) == b"\x01" * 32 + TAG and len(TAG) == 32
    with pytest.raises(InputError):
        report_data_for(b"\x01")
    m = bytes(range(48))
    assert parse_guest_output(b"noise measurement=" + m.hex().encode() + b"\n") == m
    with pytest.raises(FormatError, match="0x16"):
        parse_guest_output(b"attestation failed: status=16000000\n")
    with pytest.raises(FormatError):
        parse_guest_output(b"")
