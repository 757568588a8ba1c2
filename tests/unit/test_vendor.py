"""The vendor registry (pvmkit.vendor): every registered vendor is fully described in its own package,
its VM types are the kernel's, and the rules the plan and launcher read come from the description."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pvmkit.errors import FeatureError, LayoutError
from pvmkit.launch import Launcher
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, InitPath, PageKind, Vendor
from pvmkit.uapi import kvm as uapi_kvm
from pvmkit.vendor import VendorSpec, load

SRC = Path(__file__).resolve().parents[2] / "src" / "pvmkit"

#: VM types from the kernel ABI mirror (pvmkit.uapi.kvm, itself checked against the pinned headers by
#: tools/uapi check); CCA's realm bit is KVM_VM_TYPE_ARM_REALM (bit 30) of the posted KVM CCA series
#: v14 (not merged, so not in the uapi mirror).
KERNEL_VM_TYPES = {
    Vendor.SEV: (uapi_kvm.KVM_X86_SEV_VM, uapi_kvm.KVM_X86_DEFAULT_VM),
    Vendor.SEV_ES: (uapi_kvm.KVM_X86_SEV_ES_VM, uapi_kvm.KVM_X86_DEFAULT_VM),
    Vendor.SNP: (uapi_kvm.KVM_X86_SNP_VM, None),
    Vendor.TDX: (uapi_kvm.KVM_X86_TDX_VM, None),
    Vendor.SW: (uapi_kvm.KVM_X86_DEFAULT_VM, None),
    Vendor.CCA: (1 << 30, None),
}


#: IGVM platform types (IGVM spec, IgvmPlatformType: SEV_SNP 0x02, TDX 0x03, SEV 0x04, SEV_ES 0x05)
#: whose directives pvmkit measures for each vendor; a sw VM runs SNP's directives.
IGVM_PLATFORMS = {Vendor.SEV: 0x04, Vendor.SEV_ES: 0x05, Vendor.SNP: 0x02, Vendor.TDX: 0x03, Vendor.SW: 0x02}
#: Default guest policies: QEMU's DEFAULT_GUEST_POLICY 0x1 (NODBG) and DEFAULT_SEV_SNP_POLICY 0x30000
#: (qemu target/i386/sev.c); SEV-ES adds the ES bit (bit 2, SEV API 55766 "Guest Policy"), which an
#: SEV-ES launch requires; sw takes SNP's; TDX and CCA 0.
DEFAULT_POLICIES = {Vendor.SEV: 0x1, Vendor.SEV_ES: 0x5, Vendor.SNP: 0x30000, Vendor.SW: 0x30000}


class Recorder:
    def init(self, op: Init) -> None: ...

    def add_memory(self, op: AddMemory) -> None: ...

    def add_vcpu(self, op: AddVcpu) -> None: ...

    def finalize(self, op: Finalize) -> bytes:
        return b""


@pytest.mark.parametrize("vendor", list(Vendor), ids=lambda v: v.value)
def test_every_vendor_is_described_in_its_own_package(vendor: Vendor) -> None:
    spec = vendor.spec
    assert isinstance(spec, VendorSpec) and vendor.spec is spec  # loaded once
    assert load(f"pvmkit.vendors.{vendor.home}.vendor:{vendor.name}") is spec
    assert (spec.vm_type, spec.legacy_vm_type) == KERNEL_VM_TYPES[vendor]
    assert spec.igvm_platform == IGVM_PLATFORMS.get(vendor)
    assert spec.default_policy == DEFAULT_POLICIES.get(vendor, 0)
    assert callable(load(spec.measurer))
    assert spec.page_kinds <= {k.value for k in PageKind} and "normal" in spec.page_kinds
    if spec.driver:
        assert isinstance(load(spec.driver), type)
    command = load(spec.measure_command + ":main")
    assert callable(command)
    assert spec.implied_features & ~spec.vmsa_features == 0  # KVM adds only what INIT may ask for


def test_lookups_pickling_and_spellings_are_the_registry_values() -> None:
    assert Vendor("snp") is Vendor.SNP and Vendor.SNP == "snp" and Vendor.SNP.value == "snp"
    assert [v.value for v in Vendor] == ["sev", "sev-es", "snp", "tdx", "sw", "cca"]
    with pytest.raises(ValueError):
        Vendor("amd")  # a home package is not a vendor


def test_no_module_outside_a_vendor_package_names_a_vendor_in_a_branch() -> None:
    """The plan, the launcher and prediction read VendorSpec fields; they never compare vendors."""
    for name in ("plan.py", "launch.py", "prediction.py", "vendor.py"):
        tree = ast.parse((SRC / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "Vendor" and node.attr.isupper()), (
                    f"{name} names Vendor.{node.attr}"
                )


@pytest.mark.parametrize("vendor", list(Vendor), ids=lambda v: v.value)
def test_the_launcher_takes_exactly_the_described_page_kinds(vendor: Vendor) -> None:
    spec = vendor.spec
    init = Init(vendor, cca=_cca() if spec.params_required else None)
    for gpa, kind in enumerate(PageKind):
        launcher = Launcher(Recorder())
        launcher.init(init)
        op = AddMemory(gpa * PAGE_SIZE, PAGE_SIZE, kind)
        if kind.value in spec.page_kinds:
            launcher.add_memory(op)
        else:
            with pytest.raises(LayoutError, match=f"{vendor.value} has no {kind.value} pages"):
                launcher.add_memory(op)


@pytest.mark.parametrize("vendor", list(Vendor), ids=lambda v: v.value)
def test_init_takes_exactly_the_described_vmsa_features_and_init_paths(vendor: Vendor) -> None:
    spec = vendor.spec
    cca = _cca() if spec.params_required else None
    for bit in range(64):
        init = Init(vendor, vmsa_features=1 << bit, cca=cca)
        if spec.vmsa_features >> bit & 1:
            init.validate()
            assert init.sev_features == 1 << bit | spec.implied_features
        else:
            with pytest.raises(FeatureError):
                init.validate()
    legacy = Init(vendor, init_path=InitPath.LEGACY, cca=cca)
    if spec.legacy_vm_type is None:
        with pytest.raises(FeatureError, match="no legacy init path"):
            legacy.validate()
    else:
        legacy.validate()
        assert legacy.effective_vm_type == spec.legacy_vm_type
    assert Init(vendor, cca=cca).effective_vm_type == spec.vm_type


def test_sev_es_refuses_kvms_snp_only_mask_and_legacy_takes_only_debug_swap() -> None:
    # KVM's SVM_SEV_FEAT_SNP_ONLY_MASK (arch/x86/kvm/svm/sev.c): SNPActive, SecureTsc, IbpbOnEntry
    for bit in (0, 9, 21):
        with pytest.raises(FeatureError, match="not available to sev-es"):
            Init(Vendor.SEV_ES, vmsa_features=1 << bit).validate()
    Init(Vendor.SEV_ES, vmsa_features=0x20, init_path=InitPath.LEGACY).validate()  # DebugSwap
    with pytest.raises(FeatureError, match="legacy init path of sev-es"):
        Init(Vendor.SEV_ES, vmsa_features=0x40, init_path=InitPath.LEGACY).validate()


def _cca():  # type: ignore[no-untyped-def]
    from pvmkit.plan import CcaParams

    return CcaParams(40, 2, 2)


def test_descriptions_compare_by_their_fields() -> None:
    snp, sw = Vendor.SNP.spec, Vendor.SW.spec
    assert sw != snp and hash(sw) != hash(snp) and "vm_type=0" in repr(sw)
    assert sw == snp.replace(vm_type=0, driver="pvmkit.vendors.sw.machine:SwMachine", hardware=False)


def test_the_host_probe_knows_every_hardware_vendor_by_its_vm_type() -> None:
    """The kvm layer may not import the registry, so its probe keeps vendor keys of its own
    (kvm.caps.VM_TYPE_KEYS); they must name the hardware vendors and their VM types."""
    from pvmkit.kvm.probe import _VENDOR_VM_TYPES

    assert {v.value: v.spec.vm_type for v in Vendor if v.spec.hardware} == _VENDOR_VM_TYPES
