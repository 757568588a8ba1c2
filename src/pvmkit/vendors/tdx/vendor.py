"""Intel TDX as a :class:`~pvmkit.vendor.VendorSpec` (registered in :class:`pvmkit.vendor.Vendor`).

``KVM_X86_TDX_VM`` 5 (arch/x86/include/uapi/asm/kvm.h), INIT2-style only (``KVM_TDX_INIT_VM``); no
VMSA, the initial vCPU state is architectural (only RCX is given, not measured). Pages are
TDH.MEM.PAGE.ADD'ed with or without TDH.MR.EXTEND (NORMAL / UNMEASURED, ZERO), Intel TDX module ABI.
INIT may carry :class:`pvmkit.plan.TdxParams` (``Init.tdx``). IGVM platform type: TDX, 3 (IGVM spec).
"""

from __future__ import annotations

from pvmkit.vendor import VendorSpec

__all__ = ["TDX"]

TDX = VendorSpec(
    vm_type=5,
    params="tdx",
    page_kinds=frozenset({"normal", "zero", "unmeasured"}),
    measurer="pvmkit.vendors.tdx.measure:measure_mrtd",
    driver="pvmkit.vendors.tdx.kvm:TdxKvmDriver",
    hardware=True,
    measure_command="pvmkit.cli.measure_tdx",
    igvm_platform=0x03,
)
