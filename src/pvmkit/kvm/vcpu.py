"""The vCPU fd: registers, CPUID, ``KVM_RUN`` with exit decoding, and completion of exits that need
data from userspace (port IN, MMIO reads, hypercalls)."""

from __future__ import annotations

import ctypes
import errno as _errno
import mmap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pvmkit.errors import InputError, KvmError, ProtectedStateError
from pvmkit.kvm._fd import FdObject, IoctlArg, ioctl_raw, os_boundary, release_all
from pvmkit.kvm.exits import IntrExit, VcpuExit, decode_exit
from pvmkit.uapi import kvm as _uapi

if TYPE_CHECKING:
    from pvmkit.kvm.vm import Vm

__all__ = ["Vcpu", "cpuid2"]


def cpuid2(entries: Sequence[_uapi.kvm_cpuid_entry2]) -> ctypes.Structure:
    """A ``struct kvm_cpuid2`` with ``entries[]`` filled in (a ctypes object sized for them)."""

    class _kvm_cpuid2_n(ctypes.Structure):
        _fields_ = (
            ("nent", ctypes.c_uint32),
            ("padding", ctypes.c_uint32),
            ("entries", _uapi.kvm_cpuid_entry2 * len(entries)),
        )

    buf = _kvm_cpuid2_n()
    buf.nent = len(entries)
    for i, e in enumerate(entries):
        buf.entries[i] = e
    return buf


def _msrs(items: Sequence[tuple[int, int]]) -> ctypes.Structure:
    """A ``struct kvm_msrs`` with ``entries[]`` filled in."""

    class _kvm_msrs_n(ctypes.Structure):
        _fields_ = (
            ("nmsrs", ctypes.c_uint32),
            ("pad", ctypes.c_uint32),
            ("entries", _uapi.kvm_msr_entry * len(items)),
        )

    buf = _kvm_msrs_n()
    buf.nmsrs = len(items)
    for i, (index, value) in enumerate(items):
        buf.entries[i].index = index
        buf.entries[i].data = value & (2**64 - 1)
    return buf


class Vcpu(FdObject):
    """One vCPU (``KVM_CREATE_VCPU``), with ``struct kvm_run`` mapped. Created by ``Vm.create_vcpu``;
    closing it (or its VM) unmaps ``kvm_run`` and closes the fd."""

    _kind = "vCPU"

    def __init__(self, fd: int, vcpu_id: int, mmap_size: int, vm: Vm) -> None:
        super().__init__(fd)
        self.id = vcpu_id
        self._vm = vm
        try:
            self._map: mmap.mmap | None = os_boundary().mmap(fd, mmap_size)
        except OSError as exc:
            self._close_fd()
            raise KvmError("mmap(kvm_run)", exc.errno or _errno.EINVAL) from exc
        # ``struct kvm_run`` is viewed by address, not with ``from_buffer``: a buffer export would pin
        # the mapping, and any frame still holding the view (a KeyboardInterrupt's traceback in
        # KVM_RUN) would make ``close`` fail with BufferError and leak the fds. Every use goes through
        # ``_kvm_run``, which refuses once ``close`` has unmapped it.
        anchor = ctypes.c_char.from_buffer(self._map)
        address = ctypes.addressof(anchor)
        del anchor  # no exported buffer may outlive this line, or close() could not unmap
        self._run: _uapi.kvm_run | None = _uapi.kvm_run.from_address(address)

    def __repr__(self) -> str:
        return f"<Vcpu id={self.id} fd={self._fd}>"

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Unmap ``kvm_run`` and close the fd; each step runs even if an earlier one failed."""
        self._run = None
        m, self._map = self._map, None
        unmap = [m.close] if m is not None else []
        release_all([*unmap, self._close_fd, lambda: self._vm._forget_vcpu(self)])

    # -- helpers -----------------------------------------------------------------------------------
    def _kvm_run(self, op: str) -> tuple[_uapi.kvm_run, mmap.mmap]:
        self._require_open(op)
        assert self._run is not None and self._map is not None
        return self._run, self._map

    def _state_ioctl(self, request: int, arg: IoctlArg, op: str) -> None:
        """Register ioctls: on a VM type with protected state, EINVAL means the state is sealed."""
        self._state_ioctl_rc(request, arg, op)

    def _state_ioctl_rc(self, request: int, arg: IoctlArg, op: str) -> int:
        fd = self._require_open(op)
        while True:
            rc, err = ioctl_raw(fd, request, arg)
            if rc >= 0:
                return rc
            if err == _errno.EINTR:
                continue
            if err == _errno.EINVAL and self._vm.has_protected_state:
                raise ProtectedStateError(op)
            raise KvmError(op, err)

    # -- registers ---------------------------------------------------------------------------------
    def get_regs(self) -> _uapi.kvm_regs:
        regs = _uapi.kvm_regs()
        self._state_ioctl(_uapi.KVM_GET_REGS, regs, "KVM_GET_REGS")
        return regs

    def set_regs(self, regs: _uapi.kvm_regs) -> None:
        self._state_ioctl(_uapi.KVM_SET_REGS, regs, "KVM_SET_REGS")

    def get_sregs(self) -> _uapi.kvm_sregs:
        sregs = _uapi.kvm_sregs()
        self._state_ioctl(_uapi.KVM_GET_SREGS, sregs, "KVM_GET_SREGS")
        return sregs

    def set_sregs(self, sregs: _uapi.kvm_sregs) -> None:
        self._state_ioctl(_uapi.KVM_SET_SREGS, sregs, "KVM_SET_SREGS")

    def get_sregs2(self) -> _uapi.kvm_sregs2:
        sregs2 = _uapi.kvm_sregs2()
        self._state_ioctl(_uapi.KVM_GET_SREGS2, sregs2, "KVM_GET_SREGS2")
        return sregs2

    def set_sregs2(self, sregs2: _uapi.kvm_sregs2) -> None:
        self._state_ioctl(_uapi.KVM_SET_SREGS2, sregs2, "KVM_SET_SREGS2")

    def get_fpu(self) -> _uapi.kvm_fpu:
        fpu = _uapi.kvm_fpu()
        self._state_ioctl(_uapi.KVM_GET_FPU, fpu, "KVM_GET_FPU")
        return fpu

    def set_fpu(self, fpu: _uapi.kvm_fpu) -> None:
        self._state_ioctl(_uapi.KVM_SET_FPU, fpu, "KVM_SET_FPU")

    def get_xsave(self) -> _uapi.kvm_xsave:
        xsave = _uapi.kvm_xsave()
        self._state_ioctl(_uapi.KVM_GET_XSAVE, xsave, "KVM_GET_XSAVE")
        return xsave

    def set_xsave(self, xsave: _uapi.kvm_xsave) -> None:
        self._state_ioctl(_uapi.KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE")

    def get_xcrs(self) -> _uapi.kvm_xcrs:
        xcrs = _uapi.kvm_xcrs()
        self._state_ioctl(_uapi.KVM_GET_XCRS, xcrs, "KVM_GET_XCRS")
        return xcrs

    def set_xcrs(self, xcrs: _uapi.kvm_xcrs) -> None:
        self._state_ioctl(_uapi.KVM_SET_XCRS, xcrs, "KVM_SET_XCRS")

    def get_debugregs(self) -> _uapi.kvm_debugregs:
        dbg = _uapi.kvm_debugregs()
        self._state_ioctl(_uapi.KVM_GET_DEBUGREGS, dbg, "KVM_GET_DEBUGREGS")
        return dbg

    def set_debugregs(self, dbg: _uapi.kvm_debugregs) -> None:
        self._state_ioctl(_uapi.KVM_SET_DEBUGREGS, dbg, "KVM_SET_DEBUGREGS")

    def get_lapic(self) -> _uapi.kvm_lapic_state:
        lapic = _uapi.kvm_lapic_state()
        self._ioctl(_uapi.KVM_GET_LAPIC, lapic, "KVM_GET_LAPIC")
        return lapic

    def set_lapic(self, lapic: _uapi.kvm_lapic_state) -> None:
        self._ioctl(_uapi.KVM_SET_LAPIC, lapic, "KVM_SET_LAPIC")

    def get_mp_state(self) -> int:
        """``KVM_GET_MP_STATE``: a KVM_MP_STATE_* value."""
        st = _uapi.kvm_mp_state()
        self._ioctl(_uapi.KVM_GET_MP_STATE, st, "KVM_GET_MP_STATE")
        return int(st.mp_state)

    def set_mp_state(self, mp_state: int) -> None:
        self._ioctl(_uapi.KVM_SET_MP_STATE, _uapi.kvm_mp_state(mp_state=mp_state), "KVM_SET_MP_STATE")

    def get_vcpu_events(self) -> _uapi.kvm_vcpu_events:
        ev = _uapi.kvm_vcpu_events()
        self._ioctl(_uapi.KVM_GET_VCPU_EVENTS, ev, "KVM_GET_VCPU_EVENTS")
        return ev

    def set_vcpu_events(self, ev: _uapi.kvm_vcpu_events) -> None:
        self._ioctl(_uapi.KVM_SET_VCPU_EVENTS, ev, "KVM_SET_VCPU_EVENTS")

    def get_msrs(self, indices: Iterable[int]) -> dict[int, int]:
        """``KVM_GET_MSRS`` for these MSR indices → {index: value}. KvmError if KVM returns fewer
        than asked (it stops at the first MSR it cannot read)."""
        wanted = list(indices)
        buf = _msrs([(i, 0) for i in wanted])
        got = self._state_ioctl_rc(_uapi.KVM_GET_MSRS, buf, "KVM_GET_MSRS")
        if got != len(wanted):
            raise KvmError("KVM_GET_MSRS", _errno.EINVAL, f"MSR {wanted[got]:#x} cannot be read")
        return {int(e.index): int(e.data) for e in buf.entries}

    def set_msrs(self, values: dict[int, int]) -> None:
        """``KVM_SET_MSRS``; KvmError naming the first MSR KVM refused."""
        items = list(values.items())
        buf = _msrs(items)
        done = self._state_ioctl_rc(_uapi.KVM_SET_MSRS, buf, "KVM_SET_MSRS")
        if done != len(items):
            raise KvmError("KVM_SET_MSRS", _errno.EINVAL, f"MSR {items[done][0]:#x} was refused")

    def set_tsc_khz(self, khz: int) -> None:
        """``KVM_SET_TSC_KHZ`` on the vCPU fd."""
        self._ioctl(_uapi.KVM_SET_TSC_KHZ, khz, "KVM_SET_TSC_KHZ")

    def get_tsc_khz(self) -> int:
        return self._ioctl(_uapi.KVM_GET_TSC_KHZ, None, "KVM_GET_TSC_KHZ")

    def nmi(self) -> None:
        self._ioctl(_uapi.KVM_NMI, None, "KVM_NMI")

    def set_cpuid2(self, entries: Iterable[_uapi.kvm_cpuid_entry2]) -> None:
        """``KVM_SET_CPUID2`` with these entries (e.g. from ``Kvm.get_supported_cpuid()``)."""
        buf = cpuid2(list(entries))
        self._ioctl(_uapi.KVM_SET_CPUID2, buf, "KVM_SET_CPUID2")

    def get_cpuid2(self, max_entries: int = 256) -> list[_uapi.kvm_cpuid_entry2]:
        """``KVM_GET_CPUID2``: the entries set on this vCPU."""
        buf = cpuid2([_uapi.kvm_cpuid_entry2()] * max_entries)
        self._ioctl(_uapi.KVM_GET_CPUID2, buf, "KVM_GET_CPUID2")
        entries = buf.entries
        n = int(buf.nent)
        return [_uapi.kvm_cpuid_entry2.from_buffer_copy(entries[i]) for i in range(n)]

    def enable_cap(self, cap: int, *args: int, flags: int = 0) -> None:
        """``KVM_ENABLE_CAP`` on the vCPU fd."""
        if len(args) > 4:
            raise InputError("KVM_ENABLE_CAP takes at most 4 arguments")
        ec = _uapi.kvm_enable_cap(cap=cap, flags=flags)
        for i, a in enumerate(args):
            ec.args[i] = a
        self._ioctl(_uapi.KVM_ENABLE_CAP, ec, "KVM_ENABLE_CAP")

    # -- memory encryption (TDX uses the vCPU fd too) ---------------------------------------------
    def memory_encrypt_op(self, cmd: ctypes.Structure | None, *, name: str | None = None) -> int:
        """``KVM_MEMORY_ENCRYPT_OP`` on the vCPU fd; see :meth:`Vm.memory_encrypt_op`."""
        from pvmkit.kvm.vm import memory_encrypt_op

        return memory_encrypt_op(self._require_open("KVM_MEMORY_ENCRYPT_OP"), cmd, name)

    def memory_encrypt_op_raw(self, cmd: ctypes.Structure | None) -> tuple[int, int, int]:
        """Raw twin: ``(rc, errno, fw_error)``."""
        from pvmkit.kvm.vm import memory_encrypt_op_raw

        return memory_encrypt_op_raw(self._require_open("KVM_MEMORY_ENCRYPT_OP"), cmd)

    # -- running -----------------------------------------------------------------------------------
    def run(self) -> VcpuExit:
        """``KVM_RUN`` once and decode the exit. A signal gives :class:`IntrExit` (run again)."""
        fd = self._require_open("KVM_RUN")
        rc, err = ioctl_raw(fd, _uapi.KVM_RUN, None)
        if rc < 0:
            if err == _errno.EINTR:
                return IntrExit()
            raise KvmError("KVM_RUN", err)
        _run, m = self._kvm_run("KVM_RUN")
        return decode_exit(m[:])  # a copy: no view of the mapping outlives this call

    def kvm_run(self) -> _uapi.kvm_run:
        """A copy of ``struct kvm_run`` as it is now (for inspection; writes do not reach KVM)."""
        run, _m = self._kvm_run("kvm_run")
        return _uapi.kvm_run.from_buffer_copy(run)

    @property
    def immediate_exit(self) -> bool:
        run, _m = self._kvm_run("kvm_run")
        return bool(run.immediate_exit)

    @immediate_exit.setter
    def immediate_exit(self, value: bool) -> None:
        run, _m = self._kvm_run("kvm_run")
        run.immediate_exit = int(bool(value))

    def complete_io_in(self, data: bytes | bytearray | memoryview) -> None:
        """Supply the bytes the pending ``in`` instruction reads (``size * count`` of them); KVM
        delivers them to the guest on the next :meth:`run`."""
        run, m = self._kvm_run("complete_io_in")
        if run.exit_reason != _uapi.KVM_EXIT_IO or run.io.direction != _uapi.KVM_EXIT_IO_IN:
            raise InputError("complete_io_in: the last exit is not a port IN")
        n = int(run.io.size) * int(run.io.count)
        data = bytes(data)
        if len(data) != n:
            raise InputError(
                f"complete_io_in: the IN wants {n} bytes (size {run.io.size} x count {run.io.count}), "
                f"got {len(data)}"
            )
        off = int(run.io.data_offset)
        if off + n > len(m):
            raise InputError("complete_io_in: data_offset lies outside the kvm_run mapping")
        m[off : off + n] = data

    def complete_mmio_read(self, data: bytes | bytearray | memoryview) -> None:
        """Supply the bytes a pending MMIO read returns (``len`` of them)."""
        run, _m = self._kvm_run("complete_mmio_read")
        if run.exit_reason != _uapi.KVM_EXIT_MMIO or run.mmio.is_write:
            raise InputError("complete_mmio_read: the last exit is not an MMIO read")
        data = bytes(data)
        if len(data) != run.mmio.len:
            raise InputError(f"complete_mmio_read: wants {run.mmio.len} bytes, got {len(data)}")
        ctypes.memmove(run.mmio.data, data, len(data))

    def complete_hypercall(self, ret: int) -> None:
        """Set ``hypercall.ret`` for a pending KVM_EXIT_HYPERCALL (returned in the guest's RAX)."""
        run, _m = self._kvm_run("complete_hypercall")
        if run.exit_reason != _uapi.KVM_EXIT_HYPERCALL:
            raise InputError("complete_hypercall: the last exit is not a hypercall")
        run.hypercall.ret = ret & (2**64 - 1)
