"""Names for KVM capabilities, VM types, exit reasons and memory attributes, with decoders that never
fail: a number pvmkit does not know decodes to ``"unknown (N)"``.

Numbers come from :mod:`pvmkit.uapi.kvm` (kernel names verbatim). The short VM-type keys (``default``,
``sw-protected``, ``sev``, ``sev-es``, ``snp``, ``tdx``) are the vendor keys used across pvmkit (CLI,
JSON, pytest markers).
"""

from __future__ import annotations

import enum

from pvmkit.uapi import kvm as _uapi

__all__ = [
    "CAP_NAMES",
    "EXIT_NAMES",
    "VM_TYPE_KEYS",
    "VM_TYPE_NAMES",
    "Cap",
    "VmType",
    "cap_name",
    "decode_memory_attributes",
    "decode_vm_types",
    "exit_name",
    "unknown",
    "vm_type_key",
    "vm_type_name",
    "vm_types_from_mask",
]


def unknown(value: int) -> str:
    """The name every decoder here gives a number it does not know."""
    return f"unknown ({value})"


def _table(prefix: str, skip: tuple[str, ...] = ()) -> dict[int, str]:
    table: dict[int, str] = {}
    for name, value in vars(_uapi).items():
        if name.startswith(prefix) and isinstance(value, int) and name not in skip:
            table.setdefault(value, name)
    return dict(sorted(table.items()))


#: KVM_CAP_* number → kernel name.
CAP_NAMES: dict[int, str] = _table("KVM_CAP_")

#: KVM_EXIT_* number → kernel name.
EXIT_NAMES: dict[int, str] = _table(
    "KVM_EXIT_", skip=("KVM_EXIT_IO_IN", "KVM_EXIT_IO_OUT", "KVM_EXIT_HYPERCALL_LONG_MODE")
)

#: VM type → kernel name.
VM_TYPE_NAMES: dict[int, str] = {
    _uapi.KVM_X86_DEFAULT_VM: "KVM_X86_DEFAULT_VM",
    _uapi.KVM_X86_SW_PROTECTED_VM: "KVM_X86_SW_PROTECTED_VM",
    _uapi.KVM_X86_SEV_VM: "KVM_X86_SEV_VM",
    _uapi.KVM_X86_SEV_ES_VM: "KVM_X86_SEV_ES_VM",
    _uapi.KVM_X86_SNP_VM: "KVM_X86_SNP_VM",
    _uapi.KVM_X86_TDX_VM: "KVM_X86_TDX_VM",
}

#: VM type → pvmkit vendor key.
VM_TYPE_KEYS: dict[int, str] = {
    _uapi.KVM_X86_DEFAULT_VM: "default",
    _uapi.KVM_X86_SW_PROTECTED_VM: "sw-protected",
    _uapi.KVM_X86_SEV_VM: "sev",
    _uapi.KVM_X86_SEV_ES_VM: "sev-es",
    _uapi.KVM_X86_SNP_VM: "snp",
    _uapi.KVM_X86_TDX_VM: "tdx",
}


class VmType(enum.IntEnum):
    """x86 KVM VM types (``KVM_CREATE_VM`` argument; asm/kvm.h)."""

    DEFAULT = _uapi.KVM_X86_DEFAULT_VM
    SW_PROTECTED = _uapi.KVM_X86_SW_PROTECTED_VM
    SEV = _uapi.KVM_X86_SEV_VM
    SEV_ES = _uapi.KVM_X86_SEV_ES_VM
    SNP = _uapi.KVM_X86_SNP_VM
    TDX = _uapi.KVM_X86_TDX_VM


class Cap(enum.IntEnum):
    """The capabilities pvmkit asks about (values are the kernel's KVM_CAP_* numbers)."""

    USER_MEMORY = _uapi.KVM_CAP_USER_MEMORY
    NR_VCPUS = _uapi.KVM_CAP_NR_VCPUS
    NR_MEMSLOTS = _uapi.KVM_CAP_NR_MEMSLOTS
    MAX_VCPUS = _uapi.KVM_CAP_MAX_VCPUS
    MAX_VCPU_ID = _uapi.KVM_CAP_MAX_VCPU_ID
    ENABLE_CAP = _uapi.KVM_CAP_ENABLE_CAP
    CHECK_EXTENSION_VM = _uapi.KVM_CAP_CHECK_EXTENSION_VM
    SPLIT_IRQCHIP = _uapi.KVM_CAP_SPLIT_IRQCHIP
    IMMEDIATE_EXIT = _uapi.KVM_CAP_IMMEDIATE_EXIT
    SYNC_REGS = _uapi.KVM_CAP_SYNC_REGS
    EXIT_HYPERCALL = _uapi.KVM_CAP_EXIT_HYPERCALL
    SYS_ATTRIBUTES = _uapi.KVM_CAP_SYS_ATTRIBUTES
    SYSTEM_EVENT_DATA = _uapi.KVM_CAP_SYSTEM_EVENT_DATA
    USER_MEMORY2 = _uapi.KVM_CAP_USER_MEMORY2
    MEMORY_FAULT_INFO = _uapi.KVM_CAP_MEMORY_FAULT_INFO
    MEMORY_ATTRIBUTES = _uapi.KVM_CAP_MEMORY_ATTRIBUTES
    GUEST_MEMFD = _uapi.KVM_CAP_GUEST_MEMFD
    VM_TYPES = _uapi.KVM_CAP_VM_TYPES
    PRE_FAULT_MEMORY = _uapi.KVM_CAP_PRE_FAULT_MEMORY
    X86_APIC_BUS_CYCLES_NS = _uapi.KVM_CAP_X86_APIC_BUS_CYCLES_NS
    GUEST_MEMFD_FLAGS = _uapi.KVM_CAP_GUEST_MEMFD_FLAGS


def _lookup(table: dict[int, str], value: int) -> str:
    try:
        return table.get(int(value)) or unknown(value)
    except (TypeError, ValueError):
        return unknown(value)


def cap_name(cap: int) -> str:
    """``235`` → ``"KVM_CAP_VM_TYPES"``; unknown numbers → ``"unknown (N)"``."""
    return _lookup(CAP_NAMES, cap)


def exit_name(reason: int) -> str:
    """``2`` → ``"KVM_EXIT_IO"``; unknown numbers → ``"unknown (N)"``."""
    return _lookup(EXIT_NAMES, reason)


def vm_type_name(vm_type: int) -> str:
    """``4`` → ``"KVM_X86_SNP_VM"``; unknown numbers → ``"unknown (N)"``."""
    return _lookup(VM_TYPE_NAMES, vm_type)


def vm_type_key(vm_type: int) -> str:
    """``4`` → ``"snp"``; unknown numbers → ``"unknown (N)"``."""
    return _lookup(VM_TYPE_KEYS, vm_type)


def vm_types_from_mask(mask: int) -> list[int]:
    """The VM types whose bit is set in a ``KVM_CAP_VM_TYPES`` bitmask, lowest first."""
    return [bit for bit in range(max(int(mask), 0).bit_length()) if mask >> bit & 1]


def decode_vm_types(mask: int) -> list[str]:
    """A ``KVM_CAP_VM_TYPES`` bitmask → kernel names (``"unknown (N)"`` for unknown bits)."""
    return [vm_type_name(t) for t in vm_types_from_mask(mask)]


_MEMORY_ATTRIBUTE_NAMES = {_uapi.KVM_MEMORY_ATTRIBUTE_PRIVATE: "KVM_MEMORY_ATTRIBUTE_PRIVATE"}


def decode_memory_attributes(mask: int) -> list[str]:
    """A memory-attribute bitmask (``KVM_CAP_MEMORY_ATTRIBUTES``) → names, ``"unknown (bit N)"``
    for bits pvmkit does not know."""
    names = []
    for bit in range(max(int(mask), 0).bit_length()):
        if mask >> bit & 1:
            names.append(_MEMORY_ATTRIBUTE_NAMES.get(1 << bit, f"unknown (bit {bit})"))
    return names
