"""Guest memory: :class:`GuestMemory` (an anonymous host mapping registered as one KVM memory slot)
and :class:`GuestMemfd` (a ``KVM_CREATE_GUEST_MEMFD`` file for private memory).

A :class:`GuestMemory` is created and owned by its :class:`~pvmkit.kvm.Vm` (``vm.add_memory``); the
VM unmaps it when it closes, after its own fd is closed. Reads and writes are bounds-checked and take
guest-physical addresses.
"""

from __future__ import annotations

import ctypes
import mmap

from pvmkit.errors import InputError
from pvmkit.kvm._fd import FdObject

__all__ = ["PAGE_SIZE", "GuestMemfd", "GuestMemory"]

PAGE_SIZE = mmap.PAGESIZE


class GuestMemory:
    """``size`` bytes of anonymous host memory at guest-physical ``gpa`` in memory slot ``slot``."""

    def __init__(self, slot: int, gpa: int, size: int, flags: int = 0) -> None:
        if size <= 0 or size % PAGE_SIZE or gpa < 0 or gpa % PAGE_SIZE:
            raise InputError(f"guest memory must be page-aligned and non-empty: gpa={gpa:#x} size={size:#x}")
        self.slot = slot
        self.gpa = gpa
        self.size = size
        self.flags = flags
        self._map: mmap.mmap | None = mmap.mmap(
            -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        anchor = ctypes.c_char.from_buffer(self._map)
        self.host_addr: int = ctypes.addressof(anchor)
        del anchor  # no exported buffer may outlive this line, or close() could not unmap

    def __repr__(self) -> str:
        state = " closed" if self._map is None else ""
        return f"<GuestMemory slot={self.slot} gpa={self.gpa:#x} size={self.size:#x}{state}>"

    @property
    def end(self) -> int:
        """First guest-physical address after the region."""
        return self.gpa + self.size

    @property
    def closed(self) -> bool:
        return self._map is None

    def contains(self, gpa: int, n: int = 1) -> bool:
        return self.gpa <= gpa and gpa + n <= self.end

    def _offset(self, gpa: int, n: int, what: str) -> tuple[mmap.mmap, int]:
        if self._map is None:
            raise InputError(f"{what}: guest memory slot {self.slot} is unmapped")
        if n < 0 or not self.contains(gpa, n):
            raise InputError(
                f"{what}: [{gpa:#x}, {gpa + n:#x}) is outside guest memory slot {self.slot} "
                f"[{self.gpa:#x}, {self.end:#x})"
            )
        return self._map, gpa - self.gpa

    def read(self, gpa: int, n: int) -> bytes:
        """``n`` bytes at guest-physical ``gpa``."""
        m, off = self._offset(gpa, n, "read")
        return m[off : off + n]

    def write(self, gpa: int, data: bytes | bytearray | memoryview | mmap.mmap) -> None:
        """Copy ``data`` (any bytes-like object, e.g. an mmap of a firmware file) to GPA ``gpa``."""
        view = memoryview(data).cast("B")
        m, off = self._offset(gpa, len(view), "write")
        m[off : off + len(view)] = view

    def fill(self, gpa: int, n: int, byte: int = 0) -> None:
        """Set ``n`` bytes at ``gpa`` to ``byte``."""
        self.write(gpa, bytes([byte]) * n)

    def close(self) -> None:
        """Unmap the host memory (the VM must no longer use the slot)."""
        m, self._map = self._map, None
        if m is not None:
            m.close()


class GuestMemfd(FdObject):
    """A guest_memfd file (``KVM_CREATE_GUEST_MEMFD``): private memory bound to one VM. Pass it to
    ``Vm.add_memory(..., guest_memfd=...)`` or ``Vm.set_user_memory_region2``."""

    _kind = "guest_memfd"

    def __init__(self, fd: int, size: int, flags: int = 0) -> None:
        super().__init__(fd)
        self.size = size
        self.flags = flags

    def __repr__(self) -> str:
        return f"<GuestMemfd fd={self._fd} size={self.size:#x}>"
