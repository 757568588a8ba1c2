"""The system fd (``/dev/kvm``): API version, capabilities, VM types, supported CPUID, system
attributes, and VM creation."""

from __future__ import annotations

import ctypes
import errno as _errno
import os

from pvmkit.errors import CapabilityError, KvmError, KvmUnavailableError
from pvmkit.kvm import _fd
from pvmkit.kvm._fd import FdObject
from pvmkit.kvm.caps import vm_type_name
from pvmkit.kvm.vcpu import cpuid2
from pvmkit.kvm.vm import Vm, _get_device_attr, _has_device_attr
from pvmkit.uapi import kvm as _uapi

__all__ = ["DEFAULT_KVM_PATH", "Kvm"]

DEFAULT_KVM_PATH = "/dev/kvm"


class Kvm(FdObject):
    """``/dev/kvm``. Open with :meth:`open`; ``close()`` also closes every VM created from it."""

    _kind = "KVM system fd"

    def __init__(self, fd: int, path: str) -> None:
        super().__init__(fd)
        self.path = path
        self._vms: list[Vm] = []

    @classmethod
    def open(cls, path: str = DEFAULT_KVM_PATH) -> Kvm:
        """Open the KVM device. :class:`KvmUnavailableError` (one clear line) when it is missing,
        not openable, or speaks another API version than 12."""
        try:
            fd = _fd.os_boundary().open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            code = exc.errno or _errno.ENODEV
            hint = {
                _errno.ENOENT: "is KVM loaded and enabled?",
                _errno.EACCES: "is the user in the kvm group?",
                _errno.EPERM: "is the user in the kvm group?",
            }.get(code, "")
            text = os.strerror(code) + (f"; {hint}" if hint else "")
            raise KvmUnavailableError(f"open {path}", code, text) from None
        kvm = cls(fd, path)
        try:
            version = kvm.get_api_version()
        except KvmError as exc:
            kvm.close()
            raise KvmUnavailableError(f"{path}: KVM_GET_API_VERSION", exc.errno, "not a KVM device") from None
        if version != _uapi.KVM_API_VERSION:
            kvm.close()
            raise KvmUnavailableError(
                f"{path}: KVM_GET_API_VERSION",
                _errno.EINVAL,
                f"API version {version}, pvmkit needs {_uapi.KVM_API_VERSION}",
            )
        return kvm

    def __repr__(self) -> str:
        return f"<Kvm {self.path} fd={self._fd}>"

    def close(self) -> None:
        """Close the VMs, then the system fd, every step even if an earlier one failed."""
        vms = list(self._vms)
        self._vms.clear()
        _fd.release_all([*(vm.close for vm in vms), self._close_fd])

    def _forget_vm(self, vm: Vm) -> None:
        if vm in self._vms:
            self._vms.remove(vm)

    # -- queries -----------------------------------------------------------------------------------
    def get_api_version(self) -> int:
        return self._ioctl(_uapi.KVM_GET_API_VERSION, None, "KVM_GET_API_VERSION")

    def check_extension(self, cap: int) -> int:
        """``KVM_CHECK_EXTENSION`` on the system fd: 0 = unsupported, else a cap-specific value."""
        return self._ioctl(_uapi.KVM_CHECK_EXTENSION, int(cap), "KVM_CHECK_EXTENSION")

    def vm_types(self) -> int:
        """Bitmask of supported VM types (``KVM_CAP_VM_TYPES``; bit n = type n). Kernels without
        the capability support the default type only (0x1)."""
        mask = self.check_extension(_uapi.KVM_CAP_VM_TYPES)
        return mask if mask else 1 << _uapi.KVM_X86_DEFAULT_VM

    def get_vcpu_mmap_size(self) -> int:
        return self._ioctl(_uapi.KVM_GET_VCPU_MMAP_SIZE, None, "KVM_GET_VCPU_MMAP_SIZE")

    def get_supported_cpuid(self) -> list[_uapi.kvm_cpuid_entry2]:
        """``KVM_GET_SUPPORTED_CPUID`` (buffer grown on E2BIG)."""
        n = 64
        while True:
            buf = cpuid2([_uapi.kvm_cpuid_entry2()] * n)
            rc, err = self.ioctl_raw(_uapi.KVM_GET_SUPPORTED_CPUID, buf)
            if rc >= 0:
                entries = buf.entries
                count = int(buf.nent)
                return [_uapi.kvm_cpuid_entry2.from_buffer_copy(entries[i]) for i in range(count)]
            if err == _errno.E2BIG and n < 4096:
                n *= 2
                continue
            if err == _errno.EINTR:
                continue
            raise KvmError("KVM_GET_SUPPORTED_CPUID", err)

    def get_msr_index_list(self) -> list[int]:
        """``KVM_GET_MSR_INDEX_LIST``: the MSRs KVM_GET/SET_MSRS can transfer."""
        return self._msr_list(_uapi.KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST")

    def get_msr_feature_index_list(self) -> list[int]:
        """``KVM_GET_MSR_FEATURE_INDEX_LIST``: the feature MSRs readable on /dev/kvm."""
        return self._msr_list(_uapi.KVM_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST")

    def _msr_list(self, request: int, op: str) -> list[int]:
        n = 256
        while True:

            class _kvm_msr_list_n(ctypes.Structure):
                _fields_ = (("nmsrs", ctypes.c_uint32), ("indices", ctypes.c_uint32 * n))

            buf = _kvm_msr_list_n(nmsrs=n)
            rc, err = self.ioctl_raw(request, buf)
            if rc >= 0:
                return [int(x) for x in buf.indices[: int(buf.nmsrs)]]
            if err == _errno.E2BIG and n < 65536:
                n = max(n * 2, int(buf.nmsrs))
                continue
            if err == _errno.EINTR:
                continue
            raise KvmError(op, err)

    def has_device_attr(self, group: int, attr: int) -> bool:
        """``KVM_HAS_DEVICE_ATTR`` on /dev/kvm (needs KVM_CAP_SYS_ATTRIBUTES); False on ENXIO."""
        return _has_device_attr(self._require_open("KVM_HAS_DEVICE_ATTR"), group, attr)

    def get_device_attr(self, group: int, attr: int) -> int:
        """``KVM_GET_DEVICE_ATTR`` on /dev/kvm: the attribute's u64 value (e.g. group
        KVM_X86_GRP_SEV, attr KVM_X86_SEV_VMSA_FEATURES)."""
        return _get_device_attr(self._require_open("KVM_GET_DEVICE_ATTR"), group, attr)

    # -- VMs ---------------------------------------------------------------------------------------
    def create_vm(self, vm_type: int = _uapi.KVM_X86_DEFAULT_VM) -> Vm:
        """``KVM_CREATE_VM``. :class:`CapabilityError` if ``vm_type`` is not in KVM_CAP_VM_TYPES."""
        mask = self.vm_types()
        if vm_type < 0 or not mask >> vm_type & 1:
            raise CapabilityError(
                "KVM_CREATE_VM",
                _errno.EINVAL,
                f"KVM_CAP_VM_TYPES={mask:#x} lacks {vm_type_name(vm_type)} (bit {vm_type})",
            )
        mmap_size = self.get_vcpu_mmap_size()
        if mmap_size < ctypes.sizeof(_uapi.kvm_run):
            raise KvmError("KVM_GET_VCPU_MMAP_SIZE", _errno.EINVAL, f"{mmap_size} < sizeof(kvm_run)")
        fd = self._ioctl(_uapi.KVM_CREATE_VM, vm_type, "KVM_CREATE_VM")
        vm = Vm(fd, vm_type, mmap_size, parent=self)
        self._vms.append(vm)
        return vm
