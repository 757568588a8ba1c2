"""ioctl plumbing shared by every fd wrapper: libc ``ioctl`` through ctypes (the GIL is released while
the kernel runs, which matters for KVM_RUN), errno captured at the call site, and a small fd-owning
base class with idempotent close and context-manager support.

Every call that reaches the operating system for a KVM object (``open`` of a device, ``close``,
``ioctl``, the ``mmap`` of ``kvm_run``, and whether a device node such as ``/dev/sev`` exists) goes
through one :class:`OsBoundary` object. The default is the real one; tests install a recording fake
of the kernel with :func:`set_os_boundary` (see docs/development.md), so the whole kvm layer runs
unchanged on top of it."""

from __future__ import annotations

import ctypes
import errno as _errno
import mmap
import os
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from pvmkit.errors import KvmError

__all__ = [
    "DeviceFd",
    "FdObject",
    "IoctlArg",
    "OsBoundary",
    "ioctl",
    "ioctl_raw",
    "os_boundary",
    "release_all",
    "set_os_boundary",
]

_T = TypeVar("_T", bound="FdObject")

_libc = ctypes.CDLL(None, use_errno=True)
_ioctl = _libc.ioctl
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_ioctl.restype = ctypes.c_int

#: What an ioctl argument may be: nothing (NULL / 0), an integer (passed by value) or a ctypes object
#: (passed by address; the caller keeps it alive across the call, which it does by holding it).
IoctlArg = Any


def _address(arg: IoctlArg) -> int | None:
    if arg is None:
        return None
    if isinstance(arg, bool):
        return int(arg)
    if isinstance(arg, int):
        if arg < 0:
            raise ValueError("negative ioctl argument")
        return arg
    if isinstance(arg, (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)):
        return ctypes.addressof(arg)
    raise TypeError(f"ioctl argument must be None, int or a ctypes object, not {type(arg).__name__}")


class OsBoundary:
    """The operating-system calls the kvm layer makes. This class is the real thing; a test double
    subclasses it (or provides the same five methods) and is installed with :func:`set_os_boundary`."""

    def open(self, path: str, flags: int) -> int:
        """``open(2)``; raises OSError."""
        return os.open(path, flags)

    def close(self, fd: int) -> None:
        """``close(2)``."""
        os.close(fd)

    def ioctl(self, fd: int, request: int, arg: int | None) -> tuple[int, int]:
        """``ioctl(2)`` with ``arg`` an address or an integer passed by value (None = 0): ``(rc, errno)``."""
        ctypes.set_errno(0)
        rc = int(_ioctl(fd, request, arg))
        return rc, (ctypes.get_errno() if rc < 0 else 0)

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        """A shared read/write mapping of ``fd`` (``kvm_run``); raises OSError."""
        return mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)

    def exists(self, path: str) -> bool:
        """Whether a device node exists (``/dev/sev`` for the probe), without opening it."""
        return os.path.exists(path)


_REAL = OsBoundary()
_boundary: OsBoundary = _REAL


def os_boundary() -> OsBoundary:
    """The boundary in use."""
    return _boundary


def set_os_boundary(boundary: OsBoundary | None) -> OsBoundary:
    """Install ``boundary`` (None: the real OS) for every later call; returns the previous one.
    Objects keep working across a switch only if both boundaries know their fds: switch before
    opening anything."""
    global _boundary
    previous = _boundary
    _boundary = _REAL if boundary is None else boundary
    return previous


def ioctl_raw(fd: int, request: int, arg: IoctlArg = None) -> tuple[int, int]:
    """Issue one ioctl and return ``(rc, errno)`` (errno is 0 when rc >= 0). Never raises for a
    kernel error; EINTR is returned to the caller, not retried."""
    address = _address(arg)
    return _boundary.ioctl(fd, request, address)


def ioctl(fd: int, request: int, arg: IoctlArg, op: str) -> int:
    """Issue an ioctl, retrying on EINTR, and raise :class:`KvmError` (op, errno) on failure."""
    while True:
        rc, err = ioctl_raw(fd, request, arg)
        if rc >= 0:
            return rc
        if err != _errno.EINTR:
            raise KvmError(op, err)


def release_all(steps: Iterable[Callable[[], None]]) -> None:
    """Run every release step even when one fails (an interrupt or error in one must not leak the
    others' fds and mappings); then raise the first failure, if any."""
    first: BaseException | None = None
    for step in steps:
        try:
            step()
        except BaseException as exc:  # KeyboardInterrupt too: release the rest first
            if first is None:
                first = exc
    if first is not None:
        raise first


class FdObject:
    """Owns one file descriptor. ``close()`` is idempotent; ``with`` closes on exit."""

    _kind = "fd"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        """The descriptor (KvmError EBADF if closed)."""
        return self._require_open("fileno")

    def _require_open(self, op: str) -> int:
        if self._fd < 0:
            raise KvmError(op, _errno.EBADF, f"the {self._kind} is closed")
        return self._fd

    def _ioctl(self, request: int, arg: IoctlArg, op: str) -> int:
        return ioctl(self._require_open(op), request, arg, op)

    def ioctl_raw(self, request: int, arg: IoctlArg = None) -> tuple[int, int]:
        """Raw twin for negative tests: issue any ioctl on this fd, return ``(rc, errno)``."""
        return ioctl_raw(self._require_open("ioctl"), request, arg)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _boundary.close(fd)

    def close(self) -> None:
        self._close_fd()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Last resort for objects that were never closed: release the fd (and mappings) silently.
        try:
            if getattr(self, "_fd", -1) >= 0:
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class DeviceFd(FdObject):
    """A device other than /dev/kvm that a driver needs open (``/dev/sev``: ``kvm_sev_cmd.sev_fd``)."""

    _kind = "device"

    def __init__(self, fd: int, path: str) -> None:
        super().__init__(fd)
        self.path = path

    @classmethod
    def open(cls, path: str, flags: int = os.O_RDWR | os.O_CLOEXEC) -> DeviceFd:
        """Open ``path`` through the OS boundary; :class:`KvmError` (``open PATH``, errno) on failure."""
        try:
            fd = _boundary.open(path, flags)
        except OSError as exc:
            raise KvmError(f"open {path}", exc.errno or _errno.ENODEV) from None
        return cls(fd, path)

    def __repr__(self) -> str:
        return f"<DeviceFd {self.path} fd={self._fd}>"
