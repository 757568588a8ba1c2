"""The software-protected VM (vendor ``sw``) as a :class:`~pvmkit.vendor.VendorSpec` (registered in
:class:`pvmkit.vendor.Vendor` as ``SW = "sw", "sw"``; docs/architecture.md "Adding a vendor").

A sw guest runs on the default KVM VM type (``KVM_X86_DEFAULT_VM`` 0) with INIT2's rules only, is
measured exactly like SNP (so it takes SNP's page kinds, a seed, an ID block and host data, and
SNPActive is implied), and is launched by :class:`pvmkit.vendors.sw.machine.SwMachine` on plain KVM.
What the machine itself accepts at INIT (a subset of the VMSA features and policy bits) is
:mod:`pvmkit.vendors.sw.rules`.
"""

from __future__ import annotations

from pvmkit.features import KNOWN_SEV_FEATURES, SEV_FEATURE_BITS
from pvmkit.vendor import VendorSpec
from pvmkit.vendors.amd.vendor import SNP_PAGE_KINDS

__all__ = ["SW"]

SW = VendorSpec(
    vm_type=0,
    vmsa_features=KNOWN_SEV_FEATURES,
    implied_features=SEV_FEATURE_BITS["SNP_ACTIVE"],
    vcpu_state="a VMSA",
    vmsa=True,
    snp_digest=True,
    page_kinds=SNP_PAGE_KINDS,
    measurer="pvmkit.vendors.amd.measure:measure_plan",
    driver="pvmkit.vendors.sw.machine:SwMachine",
    measure_command="pvmkit.cli.measure_amd",
    igvm=True,
)
