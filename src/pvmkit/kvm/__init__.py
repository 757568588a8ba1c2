"""pvmkit's KVM layer: one object per file descriptor, methods named after the ioctls.

``Kvm`` (/dev/kvm) → ``Vm`` (KVM_CREATE_VM) → ``Vcpu`` (KVM_CREATE_VCPU), plus ``GuestMemory``
(anonymous mapping registered as a memory slot) and ``GuestMemfd`` (KVM_CREATE_GUEST_MEMFD). Every
object is a context manager; closing a parent closes its children. Failures raise
:class:`pvmkit.errors.KvmError` subclasses carrying the ioctl name and errno; ``ioctl_raw`` and
``memory_encrypt_op_raw`` are the raw twins for negative tests. See docs/kvm.md.
"""

from __future__ import annotations

from pvmkit.kvm import caps
from pvmkit.kvm._fd import DeviceFd, OsBoundary, os_boundary, release_all, set_os_boundary
from pvmkit.kvm.exits import (
    DebugExit,
    ExceptionExit,
    FailEntryExit,
    HltExit,
    HypercallExit,
    InternalErrorExit,
    IntrExit,
    IoExit,
    MemoryFaultExit,
    MmioExit,
    ShutdownExit,
    SystemEventExit,
    TdxExit,
    UnknownExit,
    VcpuExit,
    decode_exit,
)
from pvmkit.kvm.memory import PAGE_SIZE, GuestMemfd, GuestMemory
from pvmkit.kvm.probe import HostReport, probe
from pvmkit.kvm.system import DEFAULT_KVM_PATH, Kvm
from pvmkit.kvm.vcpu import Vcpu
from pvmkit.kvm.vm import Vm

__all__ = [
    "DEFAULT_KVM_PATH",
    "PAGE_SIZE",
    "DebugExit",
    "DeviceFd",
    "ExceptionExit",
    "FailEntryExit",
    "GuestMemfd",
    "GuestMemory",
    "HltExit",
    "HostReport",
    "HypercallExit",
    "InternalErrorExit",
    "IntrExit",
    "IoExit",
    "Kvm",
    "MemoryFaultExit",
    "MmioExit",
    "OsBoundary",
    "ShutdownExit",
    "SystemEventExit",
    "TdxExit",
    "UnknownExit",
    "Vcpu",
    "VcpuExit",
    "Vm",
    "caps",
    "decode_exit",
    "os_boundary",
    "probe",
    "release_all",
    "set_os_boundary",
]
