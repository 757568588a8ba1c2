"""AMD SEV, SEV-ES and SEV-SNP as :class:`~pvmkit.vendor.VendorSpec` descriptions (registered in
:class:`pvmkit.vendor.Vendor`).

VM types: ``KVM_X86_SEV_VM`` 2, ``KVM_X86_SEV_ES_VM`` 3, ``KVM_X86_SNP_VM`` 4, and the legacy
``KVM_SEV_INIT``/``KVM_SEV_ES_INIT`` path on ``KVM_X86_DEFAULT_VM`` 0 (arch/x86/include/uapi/asm/kvm.h;
``tests/unit/test_vendor.py`` checks them against :mod:`pvmkit.uapi.kvm`). VMSA features: KVM refuses
``SVM_SEV_FEAT_SNP_ONLY_MASK`` for SEV-ES (arch/x86/kvm/svm/sev.c) and lets the legacy
``KVM_SEV_ES_INIT`` set at most DebugSwap (``kvm_amd.debug_swap`` before Linux 6.10), and adds SNPActive
itself for SNP (docs/amd.md). SEV/SEV-ES measure a byte stream of NORMAL pages (``LAUNCH_UPDATE_DATA``);
SNP takes every SNP_LAUNCH_UPDATE page type (SNP ABI 56860, table "Page Types"). Default policies:
QEMU's (SEV 0x1 NODBG, SNP 0x30000), and for SEV-ES QEMU's plus the ES bit it requires (0x5). IGVM
platform types are the IGVM spec's ``IgvmPlatformType`` (SEV_SNP 2, SEV 4, SEV_ES 5).
"""

from __future__ import annotations

from pvmkit.features import KNOWN_SEV_FEATURES, SEV_FEATURE_BITS
from pvmkit.vendor import VendorSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SEV", "SEV_ES", "SNP", "SNP_ONLY_FEATURES", "SNP_PAGE_KINDS"]

#: KVM's SVM_SEV_FEAT_SNP_ONLY_MASK: SEV_FEATURES bits refused for SEV-ES guests.
SNP_ONLY_FEATURES = (
    SEV_FEATURE_BITS["SNP_ACTIVE"] | SEV_FEATURE_BITS["SECURE_TSC"] | SEV_FEATURE_BITS["IBPB_ON_ENTRY"]
)
#: The page kinds of SNP_LAUNCH_UPDATE, plus VMSA pages given as memory (IGVM style).
SNP_PAGE_KINDS = frozenset({"normal", "zero", "unmeasured", "secrets", "cpuid", "vmsa"})
_SEV_PAGE_KINDS = frozenset({"normal", "zero", "unmeasured"})  # zero/unmeasured: not given to the firmware


def _amd(**fields: Any) -> VendorSpec:
    """A description measured by AMD's measurers, launched by the AMD KVM driver and measured by the
    ``measure_amd`` command."""
    return VendorSpec(
        measurer="pvmkit.vendors.amd.measure:measure_plan",
        driver="pvmkit.vendors.amd.kvm:AmdKvmDriver",
        hardware=True,
        measure_command="pvmkit.cli.measure_amd",
        **fields,
    )


SEV = _amd(vm_type=2, legacy_vm_type=0, page_kinds=_SEV_PAGE_KINDS, default_policy=0x1, igvm_platform=0x04)
SEV_ES = _amd(
    vm_type=3,
    legacy_vm_type=0,
    vmsa_features=KNOWN_SEV_FEATURES & ~SNP_ONLY_FEATURES,
    legacy_vmsa_features=SEV_FEATURE_BITS["DEBUG_SWAP"],
    vcpu_state="a VMSA",
    vmsa=True,
    page_kinds=_SEV_PAGE_KINDS,
    default_policy=0x5,  # NODBG | ES
    igvm_platform=0x05,
)
SNP = _amd(
    vm_type=4,
    vmsa_features=KNOWN_SEV_FEATURES,
    implied_features=SEV_FEATURE_BITS["SNP_ACTIVE"],
    vcpu_state="a VMSA",
    vmsa=True,
    snp_digest=True,
    page_kinds=SNP_PAGE_KINDS,
    default_policy=0x30000,  # SMT allowed, reserved bit 17
    igvm_platform=0x02,
)
