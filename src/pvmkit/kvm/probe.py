"""What this host's KVM supports for protected VMs, decided only from what KVM enumerates
(capabilities, ``KVM_CAP_VM_TYPES``, system-fd attributes) plus the presence of ``/dev/sev``; never by
trying a launch (architecture.md §5: "throwing a noodle to see if it sticks is not an option").

:func:`probe` returns a :class:`HostReport`; ``report.to_dict()`` is the JSON document of
``pvmkit probe --json`` (schema in docs/cli.md, ``"schema": "pvmkit.probe/1"``).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from pvmkit.errors import KvmError
from pvmkit.features import decode_sev_features
from pvmkit.kvm._fd import os_boundary
from pvmkit.kvm.caps import (
    VM_TYPE_KEYS,
    Cap,
    cap_name,
    decode_memory_attributes,
    decode_vm_types,
    vm_type_name,
)
from pvmkit.kvm.system import DEFAULT_KVM_PATH, Kvm
from pvmkit.uapi import kvm as _uapi
from pvmkit.uapi import sev as _sev

__all__ = [
    "DEFAULT_SEV_PATH",
    "SCHEMA",
    "AttributeReport",
    "HostReport",
    "TdxCapabilitiesReport",
    "VendorSupport",
    "probe",
]

SCHEMA = "pvmkit.probe/1"
DEFAULT_SEV_PATH = "/dev/sev"

#: vendor key → VM type, in report order: the protected VM types of caps.VM_TYPE_KEYS.
_VENDOR_VM_TYPES = {
    key: vm_type
    for vm_type, key in VM_TYPE_KEYS.items()
    if vm_type not in (_uapi.KVM_X86_DEFAULT_VM, _uapi.KVM_X86_SW_PROTECTED_VM)
}


@dataclass(frozen=True)
class VendorSupport:
    """Whether KVM enumerates a protected VM type, and if not every reason why."""

    vendor: str
    vm_type: int
    vm_type_name: str
    available: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AttributeReport:
    """A /dev/kvm device attribute (KVM_GET_DEVICE_ATTR), or why it cannot be read."""

    group: int
    attr: int
    name: str
    available: bool
    value: int | None = None
    names: list[str] = field(default_factory=list)
    reason: str | None = None


@dataclass(frozen=True)
class TdxCapabilitiesReport:
    """``KVM_TDX_CAPABILITIES`` (asked on a freshly created, never initialised TDX VM)."""

    available: bool
    reason: str | None = None
    supported_attrs: int | None = None
    supported_xfam: int | None = None
    cpuid_entries: int | None = None


@dataclass(frozen=True)
class HostReport:
    """Everything ``pvmkit probe`` reports. JSON-serialisable through :meth:`to_dict`."""

    device: str
    kernel: str
    api_version: int
    vm_types: int
    vm_type_names: list[str]
    vendors: dict[str, VendorSupport]
    sev_vmsa_features: AttributeReport
    snp_policy_bits: AttributeReport
    tdx_capabilities: TdxCapabilitiesReport
    guest_memfd: int
    memory_attributes: int
    memory_attribute_names: list[str]
    user_memory2: bool
    sys_attributes: bool
    max_vcpus: int
    nr_vcpus: int
    sev_device: str
    sev_device_present: bool
    capabilities: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": SCHEMA, **d}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def format_text(self) -> str:
        """The human-readable report printed by ``pvmkit probe``."""

        def yes(flag: bool) -> str:
            return "yes" if flag else "no"

        lines = [f"KVM device            {self.device} (kernel {self.kernel})"]
        lines.append(f"KVM API version       {self.api_version}")
        lines.append(f"VM types              {self.vm_types:#x}: {', '.join(self.vm_type_names) or 'none'}")
        for key, v in self.vendors.items():
            label = {"sev": "SEV", "sev-es": "SEV-ES", "snp": "SEV-SNP", "tdx": "TDX"}[key]
            text = "yes" if v.available else "no: " + "; ".join(v.reasons)
            lines.append(f"{label:<22}{text}")
        for title, a in (
            ("SEV VMSA features", self.sev_vmsa_features),
            ("SNP policy bits", self.snp_policy_bits),
        ):
            if a.available and a.value is not None:
                names = f" ({', '.join(a.names)})" if a.names else ""
                lines.append(f"{title:<22}{a.value:#x}{names}")
            else:
                lines.append(f"{title:<22}unavailable: {a.reason}")
        t = self.tdx_capabilities
        if t.available:
            lines.append(
                f"{'TDX capabilities':<22}attributes {t.supported_attrs:#x}, XFAM {t.supported_xfam:#x}, "
                f"{t.cpuid_entries} configurable CPUID entries"
            )
        else:
            lines.append(f"{'TDX capabilities':<22}unavailable: {t.reason}")
        lines.append(
            f"{'guest_memfd':<22}{yes(bool(self.guest_memfd))} (KVM_CAP_GUEST_MEMFD={self.guest_memfd})"
        )
        attrs = ", ".join(self.memory_attribute_names) or "none"
        lines.append(
            f"{'memory attributes':<22}{attrs} (KVM_CAP_MEMORY_ATTRIBUTES={self.memory_attributes:#x})"
        )
        lines.append(f"{'USER_MEMORY2':<22}{yes(self.user_memory2)}")
        lines.append(f"{'system attributes':<22}{yes(self.sys_attributes)} (KVM_CAP_SYS_ATTRIBUTES)")
        lines.append(f"{'max vCPUs':<22}{self.max_vcpus} (recommended {self.nr_vcpus})")
        lines.append(f"{self.sev_device:<22}{'present' if self.sev_device_present else 'absent'}")
        return "\n".join(lines)


def _errname(err: int) -> str:
    return _errno.errorcode.get(err, str(err))


def _attribute(kvm: Kvm, sys_attributes: bool, group: int, attr: int, name: str) -> AttributeReport:
    label = f"KVM_X86_GRP_SEV/{name}"
    if not sys_attributes:
        return AttributeReport(
            group, attr, name, False, reason="KVM_CAP_SYS_ATTRIBUTES=0: /dev/kvm has no device attributes"
        )
    try:
        present = kvm.has_device_attr(group, attr)
    except KvmError as exc:
        return AttributeReport(
            group, attr, name, False, reason=f"KVM_HAS_DEVICE_ATTR({label}) failed: {_errname(exc.errno)}"
        )
    if not present:
        return AttributeReport(
            group,
            attr,
            name,
            False,
            reason=f"KVM_HAS_DEVICE_ATTR({label}): ENXIO (KVM without SEV-ES/SNP support, or kernel < 6.10)",
        )
    try:
        value = kvm.get_device_attr(group, attr)
    except KvmError as exc:
        return AttributeReport(
            group, attr, name, False, reason=f"KVM_GET_DEVICE_ATTR({label}) failed: {_errname(exc.errno)}"
        )
    names = decode_sev_features(value) if attr == _sev.KVM_X86_SEV_VMSA_FEATURES else []
    return AttributeReport(group, attr, name, True, value=value, names=names)


def _tdx_capabilities(kvm: Kvm, vm_types: int) -> TdxCapabilitiesReport:
    if not vm_types >> _uapi.KVM_X86_TDX_VM & 1:
        return TdxCapabilitiesReport(
            False, reason=f"KVM_CAP_VM_TYPES={vm_types:#x} lacks KVM_X86_TDX_VM (bit {_uapi.KVM_X86_TDX_VM})"
        )
    from pvmkit.uapi import tdx as _tdx

    try:
        with kvm.create_vm(_uapi.KVM_X86_TDX_VM) as vm:
            nent = 64
            while True:
                caps = _tdx.kvm_tdx_capabilities_with(nent)()
                caps.cpuid.nent = nent
                cmd = _tdx.kvm_tdx_cmd(id=_tdx.KVM_TDX_CAPABILITIES, data=ctypes.addressof(caps))
                rc, err, hw = vm.memory_encrypt_op_raw(cmd)
                if rc >= 0:
                    return TdxCapabilitiesReport(
                        True,
                        supported_attrs=int(caps.supported_attrs),
                        supported_xfam=int(caps.supported_xfam),
                        cpuid_entries=int(caps.cpuid.nent),
                    )
                if err == _errno.E2BIG and nent < 1024:
                    nent *= 2
                    continue
                detail = f", TDX module status {hw:#018x}" if hw else ""
                return TdxCapabilitiesReport(
                    False, reason=f"KVM_TDX_CAPABILITIES failed: {_errname(err)}{detail}"
                )
    except KvmError as exc:
        return TdxCapabilitiesReport(False, reason=f"{exc}")


def probe(path: str = DEFAULT_KVM_PATH, sev_path: str = DEFAULT_SEV_PATH) -> HostReport:
    """Probe the KVM device at ``path`` (KvmUnavailableError if missing or not openable)."""
    with Kvm.open(path) as kvm:
        caps = {cap_name(c): kvm.check_extension(c) for c in Cap}
        vm_types = kvm.vm_types()
        sev_present = os_boundary().exists(sev_path)
        guest_memfd = caps[cap_name(Cap.GUEST_MEMFD)]
        mem_attrs = caps[cap_name(Cap.MEMORY_ATTRIBUTES)]
        sys_attributes = bool(caps[cap_name(Cap.SYS_ATTRIBUTES)])

        vendors: dict[str, VendorSupport] = {}
        for key, vm_type in _VENDOR_VM_TYPES.items():
            reasons = []
            if not vm_types >> vm_type & 1:
                reasons.append(
                    f"KVM_CAP_VM_TYPES={vm_types:#x} lacks {vm_type_name(vm_type)} (bit {vm_type})"
                )
            if key in ("sev", "sev-es", "snp") and not sev_present:
                reasons.append(f"{sev_path} absent")
            if key in ("snp", "tdx") and not guest_memfd:
                reasons.append("KVM_CAP_GUEST_MEMFD=0")
            vendors[key] = VendorSupport(key, vm_type, vm_type_name(vm_type), not reasons, reasons)

        vmsa = _attribute(
            kvm,
            sys_attributes,
            _sev.KVM_X86_GRP_SEV,
            _sev.KVM_X86_SEV_VMSA_FEATURES,
            "KVM_X86_SEV_VMSA_FEATURES",
        )
        policy = _attribute(
            kvm, sys_attributes, _sev.KVM_X86_GRP_SEV, _sev.KVM_X86_SNP_POLICY_BITS, "KVM_X86_SNP_POLICY_BITS"
        )
        return HostReport(
            device=path,
            kernel=os.uname().release,
            api_version=kvm.get_api_version(),
            vm_types=vm_types,
            vm_type_names=decode_vm_types(vm_types),
            vendors=vendors,
            sev_vmsa_features=vmsa,
            snp_policy_bits=policy,
            tdx_capabilities=_tdx_capabilities(kvm, vm_types),
            guest_memfd=guest_memfd,
            memory_attributes=mem_attrs,
            memory_attribute_names=decode_memory_attributes(mem_attrs),
            user_memory2=bool(caps[cap_name(Cap.USER_MEMORY2)]),
            sys_attributes=sys_attributes,
            max_vcpus=caps[cap_name(Cap.MAX_VCPUS)],
            nr_vcpus=caps[cap_name(Cap.NR_VCPUS)],
            sev_device=sev_path,
            sev_device_present=sev_present,
            capabilities=caps,
        )
