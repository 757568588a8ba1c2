"""The software-protected VM (vendor ``sw``): SNP-measured, sealed, software-attested guests on the
default KVM VM type (docs/sw-vm.md).

Pure modules: :mod:`~pvmkit.vendors.sw.rules` (what INIT accepts, :data:`SW_SUPPORTED_VMSA_FEATURES`),
:mod:`~pvmkit.vendors.sw.protocol` (guest ↔ host interface), :mod:`~pvmkit.vendors.sw.cpu_state`
(VMSA → KVM registers), :mod:`~pvmkit.vendors.sw.builder` (plans for flat binaries),
:mod:`~pvmkit.vendors.sw.launch_record` and :mod:`~pvmkit.vendors.sw.service` (reports). The KVM
backend is :mod:`pvmkit.vendors.sw.machine` (driver layer; import it explicitly).
"""

from __future__ import annotations

from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES

__all__ = ["SW_SUPPORTED_VMSA_FEATURES"]
