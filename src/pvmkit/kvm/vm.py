"""The VM fd: memory slots (plain and guest_memfd), memory attributes, vCPUs, capabilities, and the
single home of ``KVM_MEMORY_ENCRYPT_OP``'s 'unsigned long' quirk."""

from __future__ import annotations

import ctypes
import errno as _errno
from collections.abc import Iterator
from typing import Any

from pvmkit.errors import InputError, KvmError, SevFirmwareError, TdxModuleError
from pvmkit.kvm._fd import FdObject, ioctl_raw, release_all
from pvmkit.kvm.caps import vm_type_name
from pvmkit.kvm.memory import GuestMemfd, GuestMemory
from pvmkit.kvm.vcpu import Vcpu
from pvmkit.uapi import kvm as _uapi
from pvmkit.uapi.psp_sev import sev_ret_name
from pvmkit.uapi.tdx import tdx_status_name

__all__ = ["Vm", "memory_encrypt_op", "memory_encrypt_op_raw"]

#: VM types whose register state becomes inaccessible (KVM ``has_protected_state``; amd.md §5.6,
#: tdx.md §3.4).
PROTECTED_STATE_VM_TYPES = frozenset({_uapi.KVM_X86_SEV_ES_VM, _uapi.KVM_X86_SNP_VM, _uapi.KVM_X86_TDX_VM})


# -- KVM_MEMORY_ENCRYPT_OP -----------------------------------------------------------------------------
# The kernel declares the argument as ``unsigned long`` (_IOWR(KVMIO, 0xba, unsigned long)), but every
# vendor passes a pointer to its own command struct (kvm_sev_cmd, kvm_tdx_cmd). This is the one place
# that knows: the request number is fixed, the pointer is ctypes.addressof(cmd), and the firmware status
# is read back from the struct's ``error`` (SEV) or ``hw_error`` (TDX) field.
def _fw_error(cmd: ctypes.Structure | None) -> tuple[str | None, int]:
    if cmd is None:
        return None, 0
    for field in ("error", "hw_error"):
        if any(f[0] == field for f in type(cmd)._fields_):
            return field, int(getattr(cmd, field))
    return None, 0


def memory_encrypt_op_raw(fd: int, cmd: ctypes.Structure | None) -> tuple[int, int, int]:
    """``KVM_MEMORY_ENCRYPT_OP`` on ``fd`` with a pointer to ``cmd`` (or NULL); returns
    ``(rc, errno, fw_error)`` and never raises for a kernel or firmware error."""
    rc, err = ioctl_raw(fd, _uapi.KVM_MEMORY_ENCRYPT_OP, cmd)
    return rc, err, _fw_error(cmd)[1]


def memory_encrypt_op(fd: int, cmd: ctypes.Structure | None, name: str | None = None) -> int:
    """Raise-by-default form. ``name`` names the sub-command in errors (default
    ``KVM_MEMORY_ENCRYPT_OP(id=N)``). A non-zero firmware status raises :class:`SevFirmwareError`
    (``error`` field) or :class:`TdxModuleError` (``hw_error`` field); otherwise :class:`KvmError`."""
    while True:
        rc, err, fw = memory_encrypt_op_raw(fd, cmd)
        if rc >= 0:
            return rc
        if err not in (_errno.EINTR,):
            break
    if name is None:
        sub = getattr(cmd, "id", None) if cmd is not None else None
        name = "KVM_MEMORY_ENCRYPT_OP" + (f"(id={sub})" if sub is not None else "")
    field, _ = _fw_error(cmd)
    if fw and field == "error":
        raise SevFirmwareError(name, err, fw, sev_ret_name(fw))
    if fw and field == "hw_error":
        raise TdxModuleError(name, err, fw, tdx_status_name(fw))
    raise KvmError(name, err)


class Vm(FdObject):
    """One VM (``KVM_CREATE_VM``). Owns its vCPUs, guest_memfds and guest memory: ``close()`` closes
    the vCPUs (unmapping ``kvm_run``), the guest_memfds and the VM fd, then unmaps guest memory."""

    _kind = "VM"

    def __init__(self, fd: int, vm_type: int, vcpu_mmap_size: int, parent: Any = None) -> None:
        super().__init__(fd)
        self.vm_type = vm_type
        self._vcpu_mmap_size = vcpu_mmap_size
        self._parent = parent
        self._vcpus: list[Vcpu] = []
        self._memfds: list[GuestMemfd] = []
        self._memory: list[GuestMemory] = []

    def __repr__(self) -> str:
        return f"<Vm fd={self._fd} type={vm_type_name(self.vm_type)}>"

    @property
    def has_protected_state(self) -> bool:
        return self.vm_type in PROTECTED_STATE_VM_TYPES

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Release in this order, every step even if an earlier one failed (``release_all``)."""
        vcpus, memfds, memory = list(self._vcpus), list(self._memfds), list(self._memory)
        self._vcpus.clear()
        self._memfds.clear()
        self._memory.clear()
        parent, self._parent = self._parent, None
        release_all(
            [
                *(vcpu.close for vcpu in vcpus),
                *(memfd.close for memfd in memfds),
                self._close_fd,
                *(mem.close for mem in memory),
                *([lambda: parent._forget_vm(self)] if parent is not None else []),
            ]
        )

    def _forget_vcpu(self, vcpu: Vcpu) -> None:
        if vcpu in self._vcpus:
            self._vcpus.remove(vcpu)

    # -- capabilities ------------------------------------------------------------------------------
    def check_extension(self, cap: int) -> int:
        """``KVM_CHECK_EXTENSION`` on the VM fd (answers can differ per VM type, e.g. MAX_VCPUS)."""
        return self._ioctl(_uapi.KVM_CHECK_EXTENSION, int(cap), "KVM_CHECK_EXTENSION")

    def enable_cap(self, cap: int, *args: int, flags: int = 0) -> None:
        """``KVM_ENABLE_CAP`` on the VM fd with up to four arguments."""
        if len(args) > 4:
            raise InputError("KVM_ENABLE_CAP takes at most 4 arguments")
        ec = _uapi.kvm_enable_cap(cap=int(cap), flags=flags)
        for i, a in enumerate(args):
            ec.args[i] = a
        self._ioctl(_uapi.KVM_ENABLE_CAP, ec, "KVM_ENABLE_CAP")

    def set_tss_addr(self, addr: int) -> None:
        """``KVM_SET_TSS_ADDR`` (Intel: a 3-page area below 4 GiB for real-mode emulation)."""
        self._ioctl(_uapi.KVM_SET_TSS_ADDR, addr, "KVM_SET_TSS_ADDR")

    def set_identity_map_addr(self, addr: int) -> None:
        value = ctypes.c_uint64(addr)
        self._ioctl(_uapi.KVM_SET_IDENTITY_MAP_ADDR, value, "KVM_SET_IDENTITY_MAP_ADDR")

    def create_irqchip(self) -> None:
        """``KVM_CREATE_IRQCHIP`` (in-kernel PIC/IOAPIC/LAPIC; TDX wants KVM_CAP_SPLIT_IRQCHIP instead)."""
        self._ioctl(_uapi.KVM_CREATE_IRQCHIP, None, "KVM_CREATE_IRQCHIP")

    def set_tsc_khz(self, khz: int) -> None:
        """``KVM_SET_TSC_KHZ`` on the VM fd (the default for vCPUs created later; TDX: before INIT_VM)."""
        self._ioctl(_uapi.KVM_SET_TSC_KHZ, khz, "KVM_SET_TSC_KHZ")

    def get_tsc_khz(self) -> int:
        return self._ioctl(_uapi.KVM_GET_TSC_KHZ, None, "KVM_GET_TSC_KHZ")

    def memory_encrypt_reg_region(self, addr: int, size: int) -> None:
        """``KVM_MEMORY_ENCRYPT_REG_REGION``: pin host memory for SEV/SEV-ES (amd.md §5.3)."""
        region = _uapi.kvm_enc_region(addr=addr, size=size)
        self._ioctl(_uapi.KVM_MEMORY_ENCRYPT_REG_REGION, region, "KVM_MEMORY_ENCRYPT_REG_REGION")

    def memory_encrypt_unreg_region(self, addr: int, size: int) -> None:
        region = _uapi.kvm_enc_region(addr=addr, size=size)
        self._ioctl(_uapi.KVM_MEMORY_ENCRYPT_UNREG_REGION, region, "KVM_MEMORY_ENCRYPT_UNREG_REGION")

    # -- memory ------------------------------------------------------------------------------------
    def set_user_memory_region(
        self, slot: int, guest_phys_addr: int, memory_size: int, userspace_addr: int, flags: int = 0
    ) -> None:
        """``KVM_SET_USER_MEMORY_REGION``. The caller keeps ``userspace_addr`` mapped (prefer
        :meth:`add_memory`, which does)."""
        region = _uapi.kvm_userspace_memory_region(
            slot=slot,
            flags=flags,
            guest_phys_addr=guest_phys_addr,
            memory_size=memory_size,
            userspace_addr=userspace_addr,
        )
        self._ioctl(_uapi.KVM_SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION")

    def set_user_memory_region2(
        self,
        slot: int,
        guest_phys_addr: int,
        memory_size: int,
        userspace_addr: int,
        flags: int = 0,
        guest_memfd: GuestMemfd | int | None = None,
        guest_memfd_offset: int = 0,
    ) -> None:
        """``KVM_SET_USER_MEMORY_REGION2``; with a ``guest_memfd`` add ``KVM_MEM_GUEST_MEMFD`` to
        ``flags`` (done for you when ``guest_memfd`` is given)."""
        gfd = 0
        if guest_memfd is not None:
            gfd = guest_memfd.fileno() if isinstance(guest_memfd, GuestMemfd) else int(guest_memfd)
            flags |= _uapi.KVM_MEM_GUEST_MEMFD
        region = _uapi.kvm_userspace_memory_region2(
            slot=slot,
            flags=flags,
            guest_phys_addr=guest_phys_addr,
            memory_size=memory_size,
            userspace_addr=userspace_addr,
            guest_memfd_offset=guest_memfd_offset,
            guest_memfd=gfd,
        )
        self._ioctl(_uapi.KVM_SET_USER_MEMORY_REGION2, region, "KVM_SET_USER_MEMORY_REGION2")

    def add_memory(
        self,
        slot: int,
        gpa: int,
        size: int,
        flags: int = 0,
        *,
        guest_memfd: GuestMemfd | None = None,
        guest_memfd_offset: int = 0,
    ) -> GuestMemory:
        """Map ``size`` bytes of anonymous memory and register it as ``slot`` at ``gpa``
        (``KVM_SET_USER_MEMORY_REGION``, or ``..._REGION2`` when a ``guest_memfd`` backs the private
        view). The VM owns the mapping and unmaps it on close. InputError for a reused slot or an
        overlapping range."""
        self._require_open("add_memory")
        for mem in self._memory:
            if mem.slot == slot:
                raise InputError(f"memory slot {slot} is already used by {mem!r}")
            if gpa < mem.end and mem.gpa < gpa + size:
                raise InputError(f"[{gpa:#x}, {gpa + size:#x}) overlaps {mem!r}")
        mem = GuestMemory(slot, gpa, size, flags)
        try:
            if guest_memfd is None:
                self.set_user_memory_region(slot, gpa, size, mem.host_addr, flags)
            else:
                self.set_user_memory_region2(
                    slot, gpa, size, mem.host_addr, flags, guest_memfd, guest_memfd_offset
                )
        except BaseException:
            mem.close()
            raise
        self._memory.append(mem)
        return mem

    @property
    def memory(self) -> tuple[GuestMemory, ...]:
        """The regions added with :meth:`add_memory`, in order."""
        return tuple(self._memory)

    def _chunks(self, gpa: int, n: int, what: str) -> Iterator[tuple[GuestMemory, int, int]]:
        if n < 0 or gpa < 0:
            raise InputError(f"{what}: negative address or length")
        pos, end = gpa, gpa + n
        while pos < end:
            for mem in self._memory:
                if mem.gpa <= pos < mem.end:
                    take = min(end, mem.end) - pos
                    yield mem, pos, take
                    pos += take
                    break
            else:
                raise InputError(f"{what}: guest-physical {pos:#x} is not in any memory region")

    def read_memory(self, gpa: int, n: int) -> bytes:
        """``n`` bytes at ``gpa``, possibly across adjacent regions."""
        return b"".join(mem.read(pos, take) for mem, pos, take in list(self._chunks(gpa, n, "read")))

    def write_memory(self, gpa: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``gpa``, possibly across adjacent regions (checked before writing)."""
        data = bytes(data)
        chunks = list(self._chunks(gpa, len(data), "write"))
        for mem, pos, take in chunks:
            mem.write(pos, data[pos - gpa : pos - gpa + take])

    def create_guest_memfd(self, size: int, flags: int = 0) -> GuestMemfd:
        """``KVM_CREATE_GUEST_MEMFD``; the VM closes the returned fd when it closes."""
        arg = _uapi.kvm_create_guest_memfd(size=size, flags=flags)
        fd = self._ioctl(_uapi.KVM_CREATE_GUEST_MEMFD, arg, "KVM_CREATE_GUEST_MEMFD")
        memfd = GuestMemfd(fd, size, flags)
        self._memfds.append(memfd)
        return memfd

    def set_memory_attributes(self, address: int, size: int, attributes: int, flags: int = 0) -> None:
        """``KVM_SET_MEMORY_ATTRIBUTES`` (e.g. ``KVM_MEMORY_ATTRIBUTE_PRIVATE``) on a GPA range."""
        arg = _uapi.kvm_memory_attributes(address=address, size=size, attributes=attributes, flags=flags)
        self._ioctl(_uapi.KVM_SET_MEMORY_ATTRIBUTES, arg, "KVM_SET_MEMORY_ATTRIBUTES")

    # -- vCPUs -------------------------------------------------------------------------------------
    def create_vcpu(self, vcpu_id: int = 0) -> Vcpu:
        """``KVM_CREATE_VCPU`` and map its ``kvm_run``. The VM closes it when it closes."""
        fd = self._ioctl(_uapi.KVM_CREATE_VCPU, vcpu_id, "KVM_CREATE_VCPU")
        vcpu = Vcpu(fd, vcpu_id, self._vcpu_mmap_size, self)
        self._vcpus.append(vcpu)
        return vcpu

    @property
    def vcpus(self) -> tuple[Vcpu, ...]:
        return tuple(self._vcpus)

    # -- memory encryption -------------------------------------------------------------------------
    def memory_encrypt_op(self, cmd: ctypes.Structure | None, *, name: str | None = None) -> int:
        """``KVM_MEMORY_ENCRYPT_OP`` with a pointer to ``cmd`` (``kvm_sev_cmd``, ``kvm_tdx_cmd``) or
        NULL. Raises SevFirmwareError / TdxModuleError when the struct carries a firmware status,
        KvmError otherwise; ``name`` (e.g. ``"KVM_SEV_SNP_LAUNCH_START"``) labels the error."""
        return memory_encrypt_op(self._require_open("KVM_MEMORY_ENCRYPT_OP"), cmd, name)

    def memory_encrypt_op_raw(self, cmd: ctypes.Structure | None) -> tuple[int, int, int]:
        """Raw twin for negative tests: ``(rc, errno, fw_error)``; never raises for kernel errors."""
        return memory_encrypt_op_raw(self._require_open("KVM_MEMORY_ENCRYPT_OP"), cmd)

    # -- device attributes on the VM fd ------------------------------------------------------------
    def has_device_attr(self, group: int, attr: int) -> bool:
        return _has_device_attr(self._require_open("KVM_HAS_DEVICE_ATTR"), group, attr)

    def get_device_attr(self, group: int, attr: int) -> int:
        return _get_device_attr(self._require_open("KVM_GET_DEVICE_ATTR"), group, attr)


def _has_device_attr(fd: int, group: int, attr: int) -> bool:
    arg = _uapi.kvm_device_attr(group=group, attr=attr)
    while True:
        rc, err = ioctl_raw(fd, _uapi.KVM_HAS_DEVICE_ATTR, arg)
        if rc >= 0:
            return True
        if err == _errno.ENXIO:
            return False
        if err != _errno.EINTR:
            raise KvmError("KVM_HAS_DEVICE_ATTR", err)


def _get_device_attr(fd: int, group: int, attr: int) -> int:
    value = ctypes.c_uint64(0)
    arg = _uapi.kvm_device_attr(group=group, attr=attr, addr=ctypes.addressof(value))
    while True:
        rc, err = ioctl_raw(fd, _uapi.KVM_GET_DEVICE_ATTR, arg)
        if rc >= 0:
            return int(value.value)
        if err != _errno.EINTR:
            raise KvmError("KVM_GET_DEVICE_ATTR", err)
