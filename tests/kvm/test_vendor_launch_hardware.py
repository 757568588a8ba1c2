"""SEV / SEV-ES / SNP and TDX launches on real hardware, through the real kernel (moved here from the
fake-kernel driver tests in tests/unit). Each skips with the reason where the host's KVM_CAP_VM_TYPES
lacks the VM type (Documentation/virt/kvm/api.rst, "KVM_CAP_VM_TYPES"): these are the hardware-only
launches that skip on a plain KVM host.
"""

from __future__ import annotations

import dataclasses

import pytest

from pvmkit.formats.ovmf import parse_ovmf
from pvmkit.kvm import Kvm
from pvmkit.launch import Launcher
from pvmkit.plan import InitPath, LaunchPlan, TdxParams, Vendor
from pvmkit.vendors.amd.builder import AmdLaunch
from pvmkit.vendors.amd.kvm import AmdKvmDriver, AmdLaunchResult
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from pvmkit.vendors.tdx.kvm import TdxKvmDriver, TdxLaunchResult
from support.fixtures import read_fixture

pytestmark = pytest.mark.kvm


def vm_types() -> int:
    with Kvm.open() as kvm:
        return kvm.vm_types()


@pytest.mark.parametrize("vendor", [Vendor.SEV, Vendor.SEV_ES, Vendor.SNP])
def test_real_launch_where_the_host_has_the_vm_type(vendor: Vendor) -> None:
    bit = {Vendor.SEV: 2, Vendor.SEV_ES: 3, Vendor.SNP: 4}[vendor]
    mask = vm_types()
    if not mask >> bit & 1:
        pytest.skip(
            f"KVM_CAP_VM_TYPES={mask:#x} lacks {vendor.value} (bit {bit}): no {vendor.value} host here"
        )
    firmware = parse_ovmf(read_fixture("firmware/OVMF.amdsev.fd"))
    plan = AmdLaunch(vendor, firmware, init_path=InitPath.INIT2).plan()
    with AmdKvmDriver(ram_size=0x1000000) as driver:
        result: AmdLaunchResult = Launcher(driver).run(plan)
    if vendor is Vendor.SNP:
        assert result.measurement is None  # SNP's measurement is in the attestation report
    else:
        assert result.measurement is not None and len(result.measurement) == 48


def test_real_launch_where_the_host_has_tdx() -> None:
    mask = vm_types()
    if not mask >> 5 & 1:
        pytest.skip(f"KVM_CAP_VM_TYPES={mask:#x} lacks KVM_X86_TDX_VM (bit 5): no TDX host here")
    image = read_fixture("firmware/OVMF.inteltdx.ms.fd")
    plan = build_tdvf_plan(image, memory_size=0x10000000, tdx=TdxParams(xfam=0x3))
    plan = LaunchPlan.of([dataclasses.replace(plan.init, policy=1 << 28), *plan.ops[1:]])
    with TdxKvmDriver(ram_size=0x1000000) as driver:
        result: TdxLaunchResult = Launcher(driver).run(plan)
    assert len(result.vcpus) == 1
