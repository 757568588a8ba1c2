"""The vendor registry: :class:`Vendor`, one line per protected-VM technology, and :class:`VendorSpec`,
the declarative description every vendor gives of itself in its own package.

``Vendor.SNP = "snp", "amd"`` registers vendor ``snp`` (its CLI and JSON spelling) whose description
is ``SNP`` in ``pvmkit.vendors.amd.vendor``. Everything that used to ask ``if vendor is ...`` reads the
description instead: the plan (VM type, INIT validation), the launcher (page kinds, vCPU state,
FINALIZE inputs), :func:`pvmkit.measure` (the measurer) and the CLI (measure command, KVM driver).
docs/architecture.md, "Adding a vendor", walks through how ``sw`` is registered.

A description module is imported only when its vendor is first used (``Vendor.spec``), so a cold
``pvmkit measure --vendor snp`` loads the AMD description and no other.
"""

from __future__ import annotations

import sys
from enum import Enum

from pvmkit._coldstart.frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Vendor", "VendorSpec", "load"]


class VendorSpec(Frozen):
    """What a vendor is, as data. Page kinds are :class:`pvmkit.plan.PageKind` values.

    ``vm_type``: the KVM VM type INIT creates (``vm_type`` in ``KVM_CREATE_VM``); ``legacy_vm_type``:
    the VM type of the legacy init path (``KVM_SEV_INIT``/``KVM_SEV_ES_INIT``), None where there is
    none. ``vmsa_features``: the SEV_FEATURES bits INIT may ask for (0: none, the vendor has no VMSA
    features); ``legacy_vmsa_features`` those the legacy path can set; ``implied_features`` those
    KVM sets by itself (SNPActive for SNP). ``vcpu_state``: what ``AddVcpu.state`` holds ("a VMSA", "an
    RmiRecParams image"), 4096 bytes, or "" where the initial vCPU state is not measured.
    ``vmsa``: the initial vCPU state is an SEV-ES style VMSA, so VMSA pages are allowed and FINALIZE
    needs a vCPU. ``snp_digest``: the launch digest is the SNP PAGE_INFO chain, so INIT takes a
    ``seed`` and FINALIZE an ID block and host data. ``params``: the ``Init`` field holding the
    vendor's own INIT inputs (``"tdx"``, ``"cca"``), "" if none; ``params_required``: INIT must give
    them.

    ``default_policy``: the guest policy (TDX: TD attributes) used when none is given, QEMU's default.
    ``igvm_platform``: the IGVM platform type (IGVM spec, ``IgvmPlatformType``) whose directives
    ``pvmkit measure --igvm`` and the IGVM loader take for this vendor; None: no IGVM files.

    ``measurer``, ``driver`` and ``measure_command`` name (``module:attribute`` / module) the
    vendor's measurement function (``plan -> bytes``), its /dev/kvm backend class ("" if none) and
    its ``pvmkit measure`` command module; ``hardware``: the driver needs the vendor's CPU and
    firmware (``pvmkit launch`` takes it through the hardware path).
    """

    vm_type: int
    legacy_vm_type: int | None
    vmsa_features: int
    legacy_vmsa_features: int
    implied_features: int
    vcpu_state: str
    vmsa: bool
    snp_digest: bool
    params: str
    params_required: bool
    page_kinds: frozenset[str]
    measurer: str
    driver: str
    hardware: bool
    measure_command: str
    default_policy: int
    igvm_platform: int | None

    def __init__(
        self,
        vm_type: int,
        measurer: str,
        measure_command: str,
        page_kinds: frozenset[str],
        legacy_vm_type: int | None = None,
        vmsa_features: int = 0,
        legacy_vmsa_features: int = 0,
        implied_features: int = 0,
        vcpu_state: str = "",
        vmsa: bool = False,
        snp_digest: bool = False,
        params: str = "",
        params_required: bool = False,
        driver: str = "",
        hardware: bool = False,
        default_policy: int = 0,
        igvm_platform: int | None = None,
    ) -> None:
        _set = object.__setattr__
        _set(self, "vm_type", vm_type)
        _set(self, "measurer", measurer)
        _set(self, "measure_command", measure_command)
        _set(self, "page_kinds", page_kinds)
        _set(self, "legacy_vm_type", legacy_vm_type)
        _set(self, "vmsa_features", vmsa_features)
        _set(self, "legacy_vmsa_features", legacy_vmsa_features)
        _set(self, "implied_features", implied_features)
        _set(self, "vcpu_state", vcpu_state)
        _set(self, "vmsa", vmsa)
        _set(self, "snp_digest", snp_digest)
        _set(self, "params", params)
        _set(self, "params_required", params_required)
        _set(self, "driver", driver)
        _set(self, "hardware", hardware)
        _set(self, "default_policy", default_policy)
        _set(self, "igvm_platform", igvm_platform)

    def replace(self, **changes: Any) -> VendorSpec:
        """This description with some fields changed (a vendor measured like another)."""
        fields = {name: getattr(self, name) for name in self.__match_args__}
        return VendorSpec(**{**fields, **changes})


def load(ref: str) -> Any:
    """The object ``ref`` (``"package.module:attribute"``) names, importing its module on first use
    (``__import__``, not :mod:`importlib`, which costs start-up time)."""
    module, _, attribute = ref.partition(":")
    if module not in sys.modules:
        __import__(module)
    return getattr(sys.modules[module], attribute)


_specs: dict[str, VendorSpec] = {}


class Vendor(str, Enum):
    """Protected-VM technology: the registry. The values are the CLI/JSON spellings; the second item
    of each line is the package under ``pvmkit.vendors`` whose ``vendor`` module describes it."""

    _value_: str
    home: str

    def __new__(cls, value: str, home: str = "") -> Vendor:  # home's default: lookups Vendor("snp")
        member = str.__new__(cls, value)
        member._value_ = value
        member.home = home
        return member

    SEV = "sev", "amd"
    SEV_ES = "sev-es", "amd"
    SNP = "snp", "amd"
    TDX = "tdx", "tdx"
    SW = "sw", "sw"  #: software-protected VM on the default KVM VM type, measured like SNP
    CCA = "cca", "cca"  #: Arm CCA realm: the RMM's Realm Initial Measurement (RIM)

    @property
    def spec(self) -> VendorSpec:
        """The vendor's description (``pvmkit.vendors.<home>.vendor.<NAME>``)."""
        spec = _specs.get(self._value_)
        if spec is None:
            spec = _specs[self._value_] = load(f"pvmkit.vendors.{self.home}.vendor:{self.name}")
        return spec

    @property
    def has_vmsa(self) -> bool:
        """Whether the initial vCPU state is an (measured) SEV-ES style VMSA."""
        return self.spec.vmsa

    @property
    def vcpu_state_size(self) -> int:
        """Size of ``AddVcpu.state``: 4096 where the vendor measures an initial vCPU state, else 0."""
        return 4096 if self.spec.vcpu_state else 0

    @property
    def snp_like(self) -> bool:
        """Whether the launch digest is the SNP PAGE_INFO chain."""
        return self.spec.snp_digest
