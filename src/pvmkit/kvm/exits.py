"""``KVM_RUN`` exits as frozen dataclasses, decoded from the vCPU's ``kvm_run`` mapping.

:func:`decode_exit` never fails on an exit reason it does not know: it returns :class:`UnknownExit`
with the number and its name (or ``"unknown (N)"``), and the caller decides. It raises only
:class:`~pvmkit.errors.TruncatedError` when the buffer is shorter than ``struct kvm_run`` or an I/O
exit's data lies outside the buffer.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pvmkit.errors import TruncatedError
from pvmkit.kvm.caps import exit_name
from pvmkit.uapi import kvm as _uapi

__all__ = [
    "DebugExit",
    "ExceptionExit",
    "FailEntryExit",
    "HltExit",
    "HypercallExit",
    "InternalErrorExit",
    "IntrExit",
    "IoExit",
    "MemoryFaultExit",
    "MmioExit",
    "ShutdownExit",
    "SystemEventExit",
    "TdxExit",
    "UnknownExit",
    "VcpuExit",
    "decode_exit",
]

Buffer = bytes | bytearray | memoryview


def _reason(value: int) -> Any:
    return field(default=value, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class VcpuExit:
    """Base of every exit. ``reason`` is the KVM_EXIT_* number, ``name`` its kernel name."""

    if TYPE_CHECKING:

        @property
        def reason(self) -> int: ...

    @property
    def name(self) -> str:
        return exit_name(self.reason)


@dataclass(frozen=True)
class IoExit(VcpuExit):
    """Port I/O (KVM_EXIT_IO). ``data`` holds ``size * count`` bytes: what the guest wrote for
    ``out``; for ``in`` the bytes currently in the buffer — answer with ``Vcpu.complete_io_in``."""

    port: int
    size: int
    direction: Literal["in", "out"]
    count: int
    data: bytes
    data_offset: int = field(default=0, repr=False, compare=False)
    reason: int = _reason(_uapi.KVM_EXIT_IO)

    @property
    def value(self) -> int:
        """The first item, little-endian (convenient for a single ``out``)."""
        return int.from_bytes(self.data[: self.size], "little")


@dataclass(frozen=True)
class MmioExit(VcpuExit):
    """MMIO outside every memory slot (KVM_EXIT_MMIO); ``data`` is ``len`` bytes."""

    addr: int
    data: bytes
    is_write: bool
    reason: int = _reason(_uapi.KVM_EXIT_MMIO)


@dataclass(frozen=True)
class HltExit(VcpuExit):
    reason: int = _reason(_uapi.KVM_EXIT_HLT)


@dataclass(frozen=True)
class ShutdownExit(VcpuExit):
    """Triple fault (or another shutdown)."""

    reason: int = _reason(_uapi.KVM_EXIT_SHUTDOWN)


@dataclass(frozen=True)
class IntrExit(VcpuExit):
    """KVM_RUN was interrupted by a signal (or ``immediate_exit``); run again."""

    reason: int = _reason(_uapi.KVM_EXIT_INTR)


@dataclass(frozen=True)
class SystemEventExit(VcpuExit):
    """KVM_EXIT_SYSTEM_EVENT: ``type`` is a KVM_SYSTEM_EVENT_* value (e.g. SEV_TERM 6, TDX_FATAL 7);
    ``data`` the first ``ndata`` words (``(flags,)`` when the kernel reports none)."""

    type: int
    data: tuple[int, ...]
    reason: int = _reason(_uapi.KVM_EXIT_SYSTEM_EVENT)


@dataclass(frozen=True)
class FailEntryExit(VcpuExit):
    """VM entry failed (``hardware_entry_failure_reason`` is the VMX/SVM code)."""

    hardware_entry_failure_reason: int
    cpu: int = 0
    reason: int = _reason(_uapi.KVM_EXIT_FAIL_ENTRY)


@dataclass(frozen=True)
class InternalErrorExit(VcpuExit):
    """KVM_EXIT_INTERNAL_ERROR; ``suberror`` is a KVM_INTERNAL_ERROR_* value."""

    suberror: int
    data: tuple[int, ...] = ()
    reason: int = _reason(_uapi.KVM_EXIT_INTERNAL_ERROR)


@dataclass(frozen=True)
class MemoryFaultExit(VcpuExit):
    """KVM_EXIT_MEMORY_FAULT: the guest touched ``[gpa, gpa+size)`` in a way that needs a
    private/shared conversion (``flags`` & KVM_MEMORY_EXIT_FLAG_PRIVATE: it wanted private)."""

    flags: int
    gpa: int
    size: int
    reason: int = _reason(_uapi.KVM_EXIT_MEMORY_FAULT)

    @property
    def private(self) -> bool:
        return bool(self.flags & _uapi.KVM_MEMORY_EXIT_FLAG_PRIVATE)


@dataclass(frozen=True)
class HypercallExit(VcpuExit):
    """KVM_EXIT_HYPERCALL (enabled through KVM_CAP_EXIT_HYPERCALL, e.g. KVM_HC_MAP_GPA_RANGE 12).
    Answer with ``Vcpu.complete_hypercall(ret)``."""

    nr: int
    args: tuple[int, ...]
    flags: int = 0
    reason: int = _reason(_uapi.KVM_EXIT_HYPERCALL)


@dataclass(frozen=True)
class TdxExit(VcpuExit):
    """KVM_EXIT_TDX (40): a TDVMCALL for userspace. ``nr`` is the leaf (GetQuote 0x10002, ...);
    ``data`` the six words of the union (``ret`` first)."""

    flags: int
    nr: int
    data: tuple[int, ...]
    reason: int = _reason(_uapi.KVM_EXIT_TDX)


@dataclass(frozen=True)
class ExceptionExit(VcpuExit):
    exception: int
    error_code: int
    reason: int = _reason(_uapi.KVM_EXIT_EXCEPTION)


@dataclass(frozen=True)
class DebugExit(VcpuExit):
    exception: int
    pc: int
    dr6: int
    dr7: int
    reason: int = _reason(_uapi.KVM_EXIT_DEBUG)


@dataclass(frozen=True)
class UnknownExit(VcpuExit):
    """Any exit reason pvmkit does not decode (``reason`` is the raw number; ``name`` is the kernel
    name or ``"unknown (N)"``). ``hardware_exit_reason`` is set for KVM_EXIT_UNKNOWN."""

    reason: int
    hardware_exit_reason: int = 0


def _run_of(buf: Buffer) -> _uapi.kvm_run:
    size = ctypes.sizeof(_uapi.kvm_run)
    if len(buf) < size:
        raise TruncatedError(f"kvm_run needs {size} bytes, {len(buf)} available", what="kvm_run", offset=0)
    return _uapi.kvm_run.from_buffer_copy(bytes(buf[:size]))


def decode_exit(buf: Buffer) -> VcpuExit:
    """Decode the exit in a ``kvm_run`` buffer (the vCPU mapping or a copy of it)."""
    run = _run_of(buf)
    reason = int(run.exit_reason)
    if reason == _uapi.KVM_EXIT_IO:
        io = run.io
        n = int(io.size) * int(io.count)
        start = int(io.data_offset)
        if start + n > len(buf):
            raise TruncatedError(
                f"KVM_EXIT_IO data ({n} bytes at {start:#x}) lies outside the {len(buf)}-byte kvm_run "
                "mapping",
                what="kvm_run.io",
                offset=start,
            )
        return IoExit(
            port=int(io.port),
            size=int(io.size),
            direction="out" if io.direction == _uapi.KVM_EXIT_IO_OUT else "in",
            count=int(io.count),
            data=bytes(buf[start : start + n]),
            data_offset=start,
        )
    if reason == _uapi.KVM_EXIT_HLT:
        return HltExit()
    if reason == _uapi.KVM_EXIT_MMIO:
        m = run.mmio
        length = min(int(m.len), 8)
        return MmioExit(addr=int(m.phys_addr), data=bytes(m.data)[:length], is_write=bool(m.is_write))
    if reason == _uapi.KVM_EXIT_SHUTDOWN:
        return ShutdownExit()
    if reason == _uapi.KVM_EXIT_INTR:
        return IntrExit()
    if reason == _uapi.KVM_EXIT_SYSTEM_EVENT:
        ev = run.system_event
        ndata = min(int(ev.ndata), 16)
        data = tuple(int(x) for x in ev.data[:ndata]) if ndata else (int(ev.flags),)
        return SystemEventExit(type=int(ev.type), data=data)
    if reason == _uapi.KVM_EXIT_FAIL_ENTRY:
        fe = run.fail_entry
        return FailEntryExit(
            hardware_entry_failure_reason=int(fe.hardware_entry_failure_reason), cpu=int(fe.cpu)
        )
    if reason == _uapi.KVM_EXIT_INTERNAL_ERROR:
        ie = run.internal
        ndata = min(int(ie.ndata), 16)
        return InternalErrorExit(suberror=int(ie.suberror), data=tuple(int(x) for x in ie.data[:ndata]))
    if reason == _uapi.KVM_EXIT_MEMORY_FAULT:
        mf = run.memory_fault
        return MemoryFaultExit(flags=int(mf.flags), gpa=int(mf.gpa), size=int(mf.size))
    if reason == _uapi.KVM_EXIT_HYPERCALL:
        hc = run.hypercall
        return HypercallExit(nr=int(hc.nr), args=tuple(int(x) for x in hc.args), flags=int(hc.flags))
    if reason == _uapi.KVM_EXIT_TDX:
        t = run.tdx
        return TdxExit(flags=int(t.flags), nr=int(t.nr), data=(int(t.unknown.ret), *map(int, t.unknown.data)))
    if reason == _uapi.KVM_EXIT_EXCEPTION:
        return ExceptionExit(exception=int(run.ex.exception), error_code=int(run.ex.error_code))
    if reason == _uapi.KVM_EXIT_DEBUG:
        d = run.debug.arch
        return DebugExit(exception=int(d.exception), pc=int(d.pc), dr6=int(d.dr6), dr7=int(d.dr7))
    hw = int(run.hw.hardware_exit_reason) if reason == _uapi.KVM_EXIT_UNKNOWN else 0
    return UnknownExit(reason=reason, hardware_exit_reason=hw)
