"""The VMSA builder (spec amd.md §3.2–§3.5, §4.3) and vCPU signatures."""

from __future__ import annotations

import ctypes

import pytest

from pvmkit.errors import FormatError, InputError, TruncatedError
from pvmkit.plan import Vmm
from pvmkit.vendors.amd.cpu import CPU_TYPES, cpu_signature, split_signature, vcpu_signature
from pvmkit.vendors.amd.vmsa import (
    BSP_EIP,
    LAYOUT,
    Seg,
    build_vmsa,
    field_offset,
    parse_vmsa,
    reset_state,
    reset_vmsa,
    svsm_vmsa,
)
from pvmkit.vendors.amd.vmsa_struct import SaveArea, Segment


def u(page: bytes, off: int, size: int) -> int:
    return int.from_bytes(page[off : off + size], "little")


def seg(page: bytes, off: int) -> tuple[int, int, int, int]:
    return (u(page, off, 2), u(page, off + 2, 2), u(page, off + 4, 4), u(page, off + 8, 8))


def test_qemu_bsp_vmsa_offsets() -> None:
    page = reset_vmsa(BSP_EIP, vcpu_sig=0x800F12, sev_features=0x1, fpu_init=True)
    assert len(page) == 4096
    assert seg(page, 0x000) == (0, 0x93, 0xFFFF, 0)
    assert seg(page, 0x010) == (0xF000, 0x9B, 0xFFFF, 0xFFFF0000)
    assert seg(page, 0x020) == (0, 0x93, 0xFFFF, 0)
    assert seg(page, 0x060) == (0, 0, 0xFFFF, 0)
    assert seg(page, 0x070) == (0, 0x82, 0xFFFF, 0)
    assert seg(page, 0x090) == (0, 0x8B, 0xFFFF, 0)
    assert u(page, 0xD0, 8) == 0x1000 and u(page, 0x148, 8) == 0x40 and u(page, 0x158, 8) == 0x10
    assert u(page, 0x160, 8) == 0x400 and u(page, 0x168, 8) == 0xFFFF0FF0 and u(page, 0x170, 8) == 2
    assert u(page, 0x178, 8) == 0xFFF0
    assert u(page, 0x268, 8) == 0x0007040600070406
    assert u(page, 0x310, 8) == 0x800F12  # RDX, not 0x308/0x318
    assert u(page, 0x308, 8) == 0 and u(page, 0x318, 8) == 0
    assert u(page, 0x3B0, 8) == 0x1 and u(page, 0x3E8, 8) == 1
    assert u(page, 0x408, 4) == 0x1F80 and u(page, 0x410, 2) == 0x37F


def test_ap_vmsa_from_reset_eip_and_legacy_fpu() -> None:
    page = reset_vmsa(0x80B004, vcpu_sig=0x800F12, fpu_init=False)
    assert seg(page, 0x010) == (0xF000, 0x9B, 0xFFFF, 0x00800000)
    assert u(page, 0x178, 8) == 0xB004
    assert u(page, 0x408, 4) == 0 and u(page, 0x410, 2) == 0  # legacy KVM_SEV_ES_INIT: no FPU sync


@pytest.mark.parametrize("fpu", [True, False])
def test_ec2_and_gce_profiles(fpu: bool) -> None:
    ec2_bsp = reset_vmsa(BSP_EIP, vcpu_sig=0x800F12, vmm=Vmm.EC2, fpu_init=fpu)
    ec2_ap = reset_vmsa(0x80B004, vcpu_sig=0x800F12, vmm=Vmm.EC2, fpu_init=fpu)
    assert seg(ec2_bsp, 0x10)[1] == 0x9A and seg(ec2_ap, 0x10)[1] == 0x9B
    assert seg(ec2_bsp, 0x20)[1] == 0x92 and seg(ec2_bsp, 0x90)[1] == 0x83
    assert u(ec2_bsp, 0x310, 8) == 0x600 and u(ec2_bsp, 0x408, 4) == 0
    gce = reset_vmsa(BSP_EIP, vcpu_sig=0x800F12, vmm="gce", fpu_init=fpu)
    assert u(gce, 0x268, 8) == 0x00070106 and u(gce, 0x310, 8) == 0x600 and u(gce, 0x410, 2) == 0


def test_svsm_vmsa_models_fcw_explicitly() -> None:
    page = svsm_vmsa(0x12345000, vcpu_sig=0x800F12)
    assert seg(page, 0x10) == (8, 0xC9B, 0xFFFFFFFF, 0) and seg(page, 0x50) == (0, 0x93, 0xFFFF, 0)
    assert u(page, 0x158, 8) == 0x11 and u(page, 0x178, 8) == 0x12345000 and u(page, 0x3B0, 8) == 1
    assert u(page, 0x408, 4) == 0x1F80 and u(page, 0x410, 2) == 0
    assert u(svsm_vmsa(0x1000, x87_fcw=0x37F), 0x410, 2) == 0x37F


def test_custom_state_round_trip() -> None:
    state = {
        "cs": Seg(0x8, 0xA09B, 0xFFFFFFFF, 0),
        "ds": {"selector": 0x10, "attrib": 0xC093, "limit": 0xFFFFFFFF},
        "cr0": 0x80000011,
        "efer": 0x1500,
        "rip": 0x100000,
        "rsp": 0x8000,
        "rflags": 2,
        "rdx": 0xA00F11,
        "sev_features": 0x21,
        "fpreg_xmm": b"\x01" * 16,
    }
    page = build_vmsa(state)
    parsed = parse_vmsa(page)
    assert parsed["cs"] == Seg(0x8, 0xA09B, 0xFFFFFFFF, 0)
    assert parsed["ds"] == Seg(0x10, 0xC093, 0xFFFFFFFF, 0)
    assert parsed["rip"] == 0x100000 and parsed["sev_features"] == 0x21
    assert parsed["fpreg_xmm"][:16] == b"\x01" * 16
    assert build_vmsa(parsed) == page
    # overrides on top of a reset state
    over = build_vmsa(reset_state(vcpu_sig=1), rip=0x1234)
    assert parse_vmsa(over)["rip"] == 0x1234 and parse_vmsa(over)["rdx"] == 1


def test_unknown_fields_and_bad_values_are_refused() -> None:
    with pytest.raises(InputError, match="fcw"):
        build_vmsa(fcw=0x37F)  # the peer's silent typo (§4.3) is an error here
    with pytest.raises(TypeError):
        SaveArea(fcw=0x37F)
    with pytest.raises(InputError):
        build_vmsa(x87_fcw=1 << 16)
    with pytest.raises(InputError):
        build_vmsa(cs=(1, 2, 3))
    with pytest.raises(InputError):
        build_vmsa(reserved_0c8=b"\x01")


def test_parse_vmsa_errors() -> None:
    with pytest.raises(TruncatedError):
        parse_vmsa(bytes(100))
    page = bytearray(4096)
    page[0xC8] = 1  # reserved
    with pytest.raises(FormatError) as err:
        parse_vmsa(bytes(page))
    assert err.value.offset == 0xC8


@pytest.mark.parametrize(
    ("name", "sig"),
    [
        ("EPYC", 0x00800F12),
        ("EPYC-v4", 0x00800F12),
        ("EPYC-IBPB", 0x00800F12),
        ("EPYC-Rome-v3", 0x00830F10),
        ("EPYC-Milan-v2", 0x00A00F11),
        ("EPYC-Genoa", 0x00A10F10),
        ("EPYC-Turin", 0x00B00F00),
        ("epyc-milan-v9", 0x00A00F11),  # any -vN of a known model
    ],
)
def test_vcpu_signatures(name: str, sig: int) -> None:
    assert vcpu_signature(name) == sig


def test_every_peer_vcpu_type_is_known_and_sig_arithmetic() -> None:
    assert len(CPU_TYPES) == 16
    assert cpu_signature(23, 1, 2) == 0x800F12 and split_signature(0x800F12) == (23, 1, 2)
    assert split_signature(cpu_signature(26, 0x11, 3)) == (26, 0x11, 3)
    assert cpu_signature(6, 0x55, 4) == 0x50654  # family ≤ 0xF: no extended family
    with pytest.raises(InputError, match="unknown vCPU type"):
        vcpu_signature("Skylake-Server")
    with pytest.raises(InputError):
        cpu_signature(23, 256, 0)


def test_the_ctypes_mirror_matches_the_layout_and_the_fast_builder() -> None:
    assert ctypes.sizeof(SaveArea) == 4096
    for name, _size, _kind in LAYOUT:
        assert getattr(SaveArea, name).offset == field_offset(name)
    assert (SaveArea.rdx.offset, SaveArea.sev_features.offset, SaveArea.x87_fcw.offset) == (
        0x310,
        0x3B0,
        0x410,
    )
    state = reset_state(0x80B004, vcpu_sig=0xA10F10, sev_features=0x21, vmm=Vmm.EC2)
    area = SaveArea()
    for name, value in state.items():
        if isinstance(value, tuple):
            value = Segment(*value)
        setattr(area, name, value)
    assert area.to_bytes() == build_vmsa(state)
    assert parse_vmsa(area.to_bytes())["cs"] == state["cs"]
    # the struct can be given to build_vmsa as segment values too
    assert build_vmsa(cs=area.cs) == build_vmsa(cs=state["cs"])
    import pvmkit.vendors.amd.vmsa as vmsa_module

    assert vmsa_module.SaveArea is SaveArea  # lazily re-exported
