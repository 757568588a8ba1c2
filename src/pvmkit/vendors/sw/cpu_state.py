"""What a sw vCPU accepts from a VMSA page (pure). The decoding itself is shared with the AMD KVM
drivers (:mod:`pvmkit.vendors.amd.cpu_state`); this module adds the sw VM's rules.

What is honoured (docs/sw-vm.md "Initial vCPU state"): the ten segment registers (selector, base,
limit and the SVM attribute word, AMD APM vol. 2 §15.5.1 "VMCB segment attributes": type 3:0, S 4,
DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11; a segment without P is loaded unusable), GDTR/IDTR,
CR0/CR2/CR3/CR4, EFER (without SVME, bit 12: that bit is the host's SVM enable, which the SEV-ES
reset state carries and a guest never sees), RIP, RSP, RFLAGS and the 16 GPRs. The fields
:data:`RESET_DEFAULTS` may hold their reset values (which a fresh KVM vCPU already has) or 0;
``sev_features`` must equal INIT's features (checked by the machine), ``vmpl``/``cpl`` must be 0.
Every other field must be zero: a VMSA asking for state the sw VM does not load is refused with
:class:`~pvmkit.errors.FeatureError` rather than measured and then ignored.
"""

from __future__ import annotations

from typing import Any

from pvmkit.errors import FeatureError
from pvmkit.vendors.amd.cpu_state import SEGMENTS, decode_cpu_state, segment_from_vmsa
from pvmkit.vendors.amd.vmsa import parse_vmsa
from pvmkit.vendors.cpu_state import GPRS, CpuState, KvmSegment

__all__ = ["GPRS", "RESET_DEFAULTS", "CpuState", "KvmSegment", "cpu_state_from_vmsa", "segment_from_vmsa"]

_HONOURED = {
    *GPRS,
    "rip",
    "rflags",
    "cr0",
    "cr2",
    "cr3",
    "cr4",
    "efer",
    "sev_features",
    "vmpl",
    "cpl",
    *SEGMENTS,
    "gdtr",
    "idtr",
}

#: Fields that may hold these architectural reset values (or 0) because a new KVM vCPU has them.
RESET_DEFAULTS: dict[str, tuple[int, ...]] = {
    "dr7": (0x400,),
    "dr6": (0xFFFF0FF0,),
    "g_pat": (0x0007040600070406,),  # PAT power-on value
    "xcr0": (0x1,),
    "mxcsr": (0x1F80,),
    "x87_fcw": (0x037F,),
}


def cpu_state_from_vmsa(vmsa: bytes | bytearray | memoryview) -> CpuState:
    """Decode a 4096-byte VMSA page; FormatError if it is not one, FeatureError if it asks for state
    the sw VM cannot load."""
    fields: dict[str, Any] = parse_vmsa(vmsa)
    for name, value in fields.items():
        if name in _HONOURED:
            continue
        allowed = RESET_DEFAULTS.get(name, ())
        if isinstance(value, bytes):
            if any(value):
                raise FeatureError(f"VMSA field {name} is set; the sw VM does not load it (must be zero)")
        elif value != 0 and value not in allowed:
            want = " or ".join(f"{v:#x}" for v in (0, *allowed))
            raise FeatureError(f"VMSA field {name} = {value:#x}; the sw VM loads only {want} here")
    for name in ("vmpl", "cpl"):
        if fields[name]:
            raise FeatureError(f"VMSA {name} = {fields[name]}; a sw vCPU starts at VMPL0/CPL0")
    return decode_cpu_state(vmsa, fields)
