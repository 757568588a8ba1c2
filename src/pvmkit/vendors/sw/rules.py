"""What the software-protected VM (vendor ``sw``) accepts at INIT (docs/sw-vm.md "Rules").

The sw VM is SNP-like: it is created with INIT2 only (``Init.validate`` already refuses the legacy
path for sw, as KVM has no legacy init for SNP), SNPActive is implied (the plan adds it as KVM does
for ``KVM_X86_SNP_VM``), and the VMSA features must come from a supported set, exactly as
``KVM_SEV_INIT2`` refuses ``vmsa_features & ~supported`` with EINVAL (spec amd.md §5.5).

Default supported set, :data:`SW_SUPPORTED_VMSA_FEATURES` = SNPActive | DebugSwap (0x21): the two
features whose meaning pvmkit can honour on a plain KVM VM. SNPActive: the guest is measured with
the SNP chain and its state is sealed after FINALIZE. DebugSwap: the guest's debug registers are
saved and restored across exits, which KVM does for every default-type VM. Every other bit asks the
hardware for a guarantee (restricted injection, secure TSC, BTB isolation, ...) that a software VM
cannot give, so it is refused rather than silently measured.
"""

from __future__ import annotations

from pvmkit.errors import FeatureError
from pvmkit.features import SEV_FEATURE_BITS, decode_sev_features
from pvmkit.plan import Init, Vendor
from pvmkit.vendors.sw.vendor import SW

__all__ = [
    "SW_DEFAULT_POLICY",
    "SW_POLICY_REQUIRED",
    "SW_SUPPORTED_POLICY",
    "SW_SUPPORTED_VMSA_FEATURES",
    "check_init",
]

#: VMSA features a sw VM honours by default (SEV_FEATURES bits, spec amd.md §5.1).
SW_SUPPORTED_VMSA_FEATURES = SEV_FEATURE_BITS["SNP_ACTIVE"] | SEV_FEATURE_BITS["DEBUG_SWAP"]

#: SNP guest policy bits (spec amd.md §4.4) a sw VM accepts: ABI_MINOR 7:0, ABI_MAJOR 15:8, SMT 16,
#: the reserved-must-be-one bit 17, SINGLE_SOCKET 20. DEBUG (19) is refused: a sw VM never gives
#: the host debug access to a sealed guest, so accepting the bit would promise what is not done.
#: MIGRATE_MA (18) and newer bits are refused as KVM refuses them.
SW_SUPPORTED_POLICY = 0xFFFF | 1 << 16 | 1 << 17 | 1 << 20
#: Bit 17 must be set, as for SNP_LAUNCH_START.
SW_POLICY_REQUIRED = 1 << 17
#: The default policy, SNP's (QEMU's default: SMT allowed, reserved bit 17).
SW_DEFAULT_POLICY = SW.default_policy


def check_init(op: Init, supported_features: int = SW_SUPPORTED_VMSA_FEATURES) -> None:
    """Refuse (``FeatureError``) an INIT the sw VM cannot honour; ``op`` has passed ``Init.validate``."""
    if op.vendor is not Vendor.SW:
        raise FeatureError(f"the software-protected VM runs sw guests, not {op.vendor.value}")
    if op.effective_vm_type != 0:
        raise FeatureError(f"a sw VM uses the default KVM VM type 0, not {op.effective_vm_type}")
    features = op.sev_features  # SNPActive implied
    refused = features & ~supported_features
    if refused:
        names = ", ".join(decode_sev_features(refused))
        raise FeatureError(
            f"vmsa_features {op.vmsa_features:#x}: {names} ({refused:#x}) not supported by the sw VM "
            f"(supported: {supported_features:#x} = {', '.join(decode_sev_features(supported_features))})"
        )
    if op.policy < 0 or op.policy >= 1 << 64:
        raise FeatureError(f"policy {op.policy:#x} does not fit in 64 bits")
    if not op.policy & SW_POLICY_REQUIRED:
        raise FeatureError(f"policy {op.policy:#x} lacks the reserved bit 17, which must be 1")
    bad = op.policy & ~SW_SUPPORTED_POLICY
    if bad:
        raise FeatureError(f"policy {op.policy:#x} has bit(s) {bad:#x} the sw VM does not support")
    if op.ghcb_version > 2:
        raise FeatureError(f"ghcb_version {op.ghcb_version} > 2")
    if op.seed is not None:
        raise FeatureError("a sw VM loads every page it measures: a seeded plan (seed=...) cannot run")
