"""The software-protected VM (vendor ``sw``) as a :class:`~pvmkit.vendor.VendorSpec` (registered in
:class:`pvmkit.vendor.Vendor` as ``SW = "sw", "sw"``; docs/architecture.md "Adding a vendor").

A sw guest runs on the default KVM VM type (``KVM_X86_DEFAULT_VM`` 0) with INIT2's rules only, is
measured exactly like SNP (so it takes SNP's page kinds, a seed, an ID block and host data, and
SNPActive is implied), and is launched by :class:`pvmkit.vendors.sw.machine.SwMachine` on plain KVM.
What the machine itself accepts at INIT (a subset of the VMSA features and policy bits) is
:mod:`pvmkit.vendors.sw.rules`.
"""

from __future__ import annotations

from pvmkit.vendors.amd.vendor import SNP

__all__ = ["SW"]

#: Measured exactly like SNP, on the default VM type (INIT2's rules only), by the sw machine.
SW = SNP.replace(vm_type=0, driver="pvmkit.vendors.sw.machine:SwMachine", hardware=False)
