"""The vCPU fd: registers, CPUID, ``KVM_RUN`` with exit decoding, and completion of exits that need
data from userspace (port IN, MMIO reads, hypercalls)."""

from __future__ import annotations

import ctypes
import errno as _errno
import mmap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pvmkit.errors import InputError, KvmError, ProtectedStateError
from pvmkit.kvm._fd import FdObject, IoctlArg, ioctl_raw
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


class Vcpu(FdObject):
    """One vCPU (``KVM_CREATE_VCPU``), with ``struct kvm_run`` mapped. Created by ``Vm.create_vcpu``;
    closing it (or its VM) unmaps ``kvm_run`` and closes the fd."""

    _kind = "vCPU"

    def __init__(self, fd: int, vcpu_id: int, mmap_size: int, vm: Vm) -> None:
        super().__init__(fd)
        self.id = vcpu_id
        self._vm = vm
        try:
            self._map: mmap.mmap | None = mmap.mmap(
                fd, mmap_size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as exc:
            self._close_fd()
            raise KvmError("mmap(kvm_run)", exc.errno or _errno.EINVAL) from exc
        self._run: _uapi.kvm_run | None = _uapi.kvm_run.from_buffer(self._map)

    def __repr__(self) -> str:
        return f"<Vcpu id={self.id} fd={self._fd}>"

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        self._run = None  # release the exported buffer before unmapping
        m, self._map = self._map, None
        if m is not None:
            m.close()
        self._close_fd()
        self._vm._forget_vcpu(self)

    # -- helpers -----------------------------------------------------------------------------------
    def _kvm_run(self, op: str) -> tuple[_uapi.kvm_run, mmap.mmap]:
        self._require_open(op)
        assert self._run is not None and self._map is not None
        return self._run, self._map

    def _state_ioctl(self, request: int, arg: IoctlArg, op: str) -> None:
        """Register ioctls: on a VM type with protected state, EINVAL means the state is sealed."""
        fd = self._require_open(op)
        while True:
            rc, err = ioctl_raw(fd, request, arg)
            if rc >= 0:
                return
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
        _run, m = self._kvm_run("KVM_RUN")
        rc, err = ioctl_raw(self._fd, _uapi.KVM_RUN, None)
        if rc < 0:
            if err == _errno.EINTR:
                return IntrExit()
            raise KvmError("KVM_RUN", err)
        with memoryview(m) as view:
            return decode_exit(view)

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
