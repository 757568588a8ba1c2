"""The initial register state of an x86 vCPU, as KVM loads it (``kvm_regs`` + ``kvm_sregs``, linux
arch/x86/include/uapi/asm/kvm.h), whatever vendor format it was decoded from.

:func:`pvmkit.vendors.driver.load_cpu_state` loads a :class:`CpuState` into a new vCPU; the vendors that
start vCPUs from a VMSA page (the AMD drivers, the sw machine) decode it with
:func:`pvmkit.vendors.amd.cpu_state.decode_cpu_state`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GPRS", "CpuState", "KvmSegment"]

#: kvm_regs field names, which are also the VMSA field names
GPRS = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
)  # fmt: skip


@dataclass(frozen=True)
class KvmSegment:
    """The fields of ``struct kvm_segment``."""

    base: int
    limit: int
    selector: int
    type: int
    present: int
    dpl: int
    db: int
    s: int
    l: int
    g: int
    avl: int
    unusable: int


@dataclass(frozen=True)
class CpuState:
    regs: dict[str, int]  #: kvm_regs fields (GPRs, rip, rflags)
    segments: dict[str, KvmSegment]  #: kvm_sregs names: cs ds es fs gs ss tr ldt
    gdt: tuple[int, int]  #: (base, limit)
    idt: tuple[int, int]
    control: dict[str, int]  #: cr0 cr2 cr3 cr4 efer
    sev_features: int  #: the SEV_FEATURES a VMSA was decoded with (0 where the state has none)
