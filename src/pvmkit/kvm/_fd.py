"""ioctl plumbing shared by every fd wrapper: libc ``ioctl`` through ctypes (the GIL is released while
the kernel runs, which matters for KVM_RUN), errno captured at the call site, and a small fd-owning
base class with idempotent close and context-manager support."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from types import TracebackType
from typing import Any, TypeVar

from pvmkit.errors import KvmError

__all__ = ["FdObject", "IoctlArg", "ioctl", "ioctl_raw"]

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


def ioctl_raw(fd: int, request: int, arg: IoctlArg = None) -> tuple[int, int]:
    """Issue one ioctl and return ``(rc, errno)`` (errno is 0 when rc >= 0). Never raises for a
    kernel error; EINTR is returned to the caller, not retried."""
    address = _address(arg)
    ctypes.set_errno(0)
    rc = int(_ioctl(fd, request, address))
    return rc, (ctypes.get_errno() if rc < 0 else 0)


def ioctl(fd: int, request: int, arg: IoctlArg, op: str) -> int:
    """Issue an ioctl, retrying on EINTR, and raise :class:`KvmError` (op, errno) on failure."""
    while True:
        rc, err = ioctl_raw(fd, request, arg)
        if rc >= 0:
            return rc
        if err != _errno.EINTR:
            raise KvmError(op, err)


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
            os.close(fd)

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
