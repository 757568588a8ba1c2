"""Arm CCA realms as a :class:`~pvmkit.vendor.VendorSpec` (registered in :class:`pvmkit.vendor.Vendor`).

VM type: the realm bit ``KVM_VM_TYPE_ARM_REALM`` (bit 30) of the latest posted, unmerged KVM CCA
series (v14). Each REC's RmiRecParams image is measured (4096 bytes); DATA granules are measured
(NORMAL) or not (UNMEASURED), and ZERO ranges are RIPAS-only (RMM spec, RMI_DATA_CREATE /
RMI_RTT_INIT_RIPAS). INIT must carry :class:`pvmkit.plan.CcaParams` (``Init.cca``). No KVM driver:
the uAPI is not merged.
"""

from __future__ import annotations

from pvmkit.vendor import VendorSpec

__all__ = ["CCA"]

CCA = VendorSpec(
    vm_type=1 << 30,
    vcpu_state="an RmiRecParams image",
    params="cca",
    params_required=True,
    page_kinds=frozenset({"normal", "zero", "unmeasured"}),
    measurer="pvmkit.vendors.cca.measure:measure_rim",
    measure_command="pvmkit.cli.measure_cca",
)
