"""A VMSA page → the register state a KVM vCPU loads (:class:`pvmkit.vendors.cpu_state.CpuState`;
pure; the drivers load it with :func:`pvmkit.vendors.driver.load_cpu_state`).

Decoded: the segment registers (selector, base, limit and the SVM attribute word, AMD APM vol. 2
§15.5.1 "VMCB segment attributes": type 3:0, S 4, DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11; a segment
without P is loaded unusable), GDTR/IDTR, CR0/CR2/CR3/CR4, EFER without SVME (bit 12 is the host's SVM
enable, which the SEV-ES reset state carries and a guest never sees), RIP, RFLAGS and the 16 GPRs.
The AMD KVM drivers load these before KVM encrypts the VMSA (spec amd.md §5.6); the sw machine first
checks that the VMSA asks for nothing it cannot load (:mod:`pvmkit.vendors.sw.cpu_state`).
"""

from __future__ import annotations

from typing import Any

from pvmkit.vendors.amd.vmsa import parse_vmsa
from pvmkit.vendors.cpu_state import GPRS, CpuState, KvmSegment

__all__ = ["EFER_SVME", "SEGMENTS", "decode_cpu_state", "segment_from_vmsa"]

#: VMSA segment fields (``ldtr`` is kvm_sregs' ``ldt``)
SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldtr")

EFER_SVME = 1 << 12


def segment_from_vmsa(selector: int, attrib: int, limit: int, base: int) -> KvmSegment:
    """A VMSA segment (SVM attribute encoding) as a ``kvm_segment``."""
    present = attrib >> 7 & 1
    return KvmSegment(
        base=base,
        limit=limit,
        selector=selector,
        type=attrib & 0xF,
        present=present,
        dpl=attrib >> 5 & 3,
        db=attrib >> 10 & 1,
        s=attrib >> 4 & 1,
        l=attrib >> 9 & 1,
        g=attrib >> 11 & 1,
        avl=attrib >> 8 & 1,
        unusable=0 if present else 1,
    )


def decode_cpu_state(vmsa: bytes | bytearray | memoryview, fields: dict[str, Any] | None = None) -> CpuState:
    """The registers a 4096-byte VMSA page sets (``fields``: its :func:`parse_vmsa`, if already parsed)."""
    f = parse_vmsa(vmsa) if fields is None else fields
    gdtr, idtr = f["gdtr"], f["idtr"]
    return CpuState(
        regs={**{n: int(f[n]) for n in GPRS}, "rip": int(f["rip"]), "rflags": int(f["rflags"])},
        segments={("ldt" if n == "ldtr" else n): segment_from_vmsa(*f[n]) for n in SEGMENTS},
        gdt=(int(gdtr.base), int(gdtr.limit)),
        idt=(int(idtr.base), int(idtr.limit)),
        control={
            "cr0": int(f["cr0"]),
            "cr2": int(f["cr2"]),
            "cr3": int(f["cr3"]),
            "cr4": int(f["cr4"]),
            "efer": int(f["efer"]) & ~EFER_SVME,
        },
        sev_features=int(f["sev_features"]),
    )
