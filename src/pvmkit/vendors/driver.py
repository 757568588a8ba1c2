"""What every backend that runs a plan on /dev/kvm shares (the AMD and TDX drivers, the sw machine):
ownership of the KVM system fd, the VM, its vCPUs and guest memory regions, closing them exactly once,
and loading a decoded VMSA into a new vCPU's registers."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from pvmkit.errors import LaunchStateError, LayoutError, NotYetInitializedError
from pvmkit.kvm import GuestMemory, Kvm, Vcpu, Vm, release_all
from pvmkit.plan import AddMemory, Init
from pvmkit.uapi import kvm as _kvm
from pvmkit.vendors.cpu_state import CpuState, KvmSegment

__all__ = ["MemoryRegion", "VmOwner", "load_cpu_state"]

_T = TypeVar("_T", bound="VmOwner")


@dataclass
class MemoryRegion:
    """One guest memory region (memslot) a driver created."""

    mem: GuestMemory

    def contains(self, op: AddMemory) -> bool:
        return self.mem.gpa <= op.gpa and op.end <= self.mem.end

    def overlaps(self, op: AddMemory) -> bool:
        return op.gpa < self.mem.end and self.mem.gpa < op.end

    def uaddr(self, gpa: int) -> int:
        """Host address of ``gpa`` inside this region."""
        return self.mem.host_addr + (gpa - self.mem.gpa)


class VmOwner:
    """Owns a VM and its vCPUs, and ``/dev/kvm`` when it opened it itself. A context manager;
    :meth:`close` is idempotent. Subclasses release their own extra resources in :meth:`_release`,
    which runs after the VM is closed and before ``/dev/kvm`` is."""

    def __init__(self, kvm: Kvm | None) -> None:
        self._own_kvm = kvm is None
        self._kvm: Kvm | None = kvm
        self._vm: Vm | None = None
        self._vcpus: list[Vcpu] = []
        self._regions: list[MemoryRegion] = []
        self._init: Init | None = None
        self._finalized = False

    _what = "the driver"  #: how errors name this backend

    @property
    def vm(self) -> Vm:
        if self._vm is None:
            raise LaunchStateError(f"{self._what} has no VM (before INIT, or closed)")
        return self._vm

    def _state(self, what: str) -> Init:
        """INIT's op, for an op that needs a live, not yet finalized VM."""
        if self._init is None or self._vm is None:
            raise NotYetInitializedError(f"{what} before INIT (drive the driver with a Launcher)")
        if self._finalized:
            raise LaunchStateError(f"{what} after FINALIZE")
        return self._init

    def _open_kvm(self) -> Kvm:
        """The KVM system fd, opened on first use when none was given."""
        if self._kvm is None:
            self._kvm = Kvm.open()
        return self._kvm

    def _new_region(self, gpa: int, size: int) -> MemoryRegion:
        """Create a memory region for ``size`` bytes at ``gpa`` (vendor-specific backing)."""
        raise NotImplementedError

    def _region_for(self, op: AddMemory) -> MemoryRegion:
        """The region holding ``op``'s pages, created on first use; LayoutError if ``op`` straddles one."""
        for region in self._regions:
            if region.contains(op):
                return region
            if region.overlaps(op):
                raise LayoutError(
                    f"{op.label or 'memory'} at {op.gpa:#x}+{op.size:#x} straddles the guest memory region "
                    f"at {region.mem.gpa:#x}+{region.mem.size:#x}"
                )
        return self._new_region(op.gpa, op.size)

    def _release(self) -> None:
        """Hook for subclass resources (other device fds)."""

    def close(self) -> None:
        """Close the VM, the subclass's resources and the KVM fd it opened, every step even if an
        earlier one failed (an interrupt during one must not leak the others)."""
        vm, self._vm = self._vm, None
        self._vcpus.clear()
        self._regions.clear()
        kvm, self._kvm = self._kvm, None
        release_all(
            [
                *([vm.close] if vm is not None else []),
                self._release,
                *([kvm.close] if kvm is not None and self._own_kvm else []),
            ]
        )

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _kvm_segment(seg: KvmSegment) -> _kvm.kvm_segment:
    return _kvm.kvm_segment(
        base=seg.base,
        limit=seg.limit,
        selector=seg.selector,
        type=seg.type,
        present=seg.present,
        dpl=seg.dpl,
        db=seg.db,
        s=seg.s,
        l=seg.l,
        g=seg.g,
        avl=seg.avl,
        unusable=seg.unusable,
    )


def load_cpu_state(vcpu: Vcpu, state: CpuState) -> None:
    """Load a decoded VMSA into a fresh KVM vCPU (``KVM_GET_SREGS`` → ``KVM_SET_SREGS``, then
    ``KVM_SET_REGS``); the sregs KVM chose for the rest (APIC base, interrupt bitmap) are kept."""
    sregs = vcpu.get_sregs()
    for name, seg in state.segments.items():
        setattr(sregs, name, _kvm_segment(seg))
    sregs.gdt.base, sregs.gdt.limit = state.gdt
    sregs.idt.base, sregs.idt.limit = state.idt
    for name, value in state.control.items():
        setattr(sregs, name, value)
    vcpu.set_sregs(sregs)
    vcpu.set_regs(_kvm.kvm_regs(**state.regs))
