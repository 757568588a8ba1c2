"""ioctl request-number encoding, mirroring ``include/uapi/asm-generic/ioctl.h`` (x86, arm64, riscv).

A request number packs four fields: ``nr`` (bits 0-7), ``type`` (bits 8-15), ``size`` (bits 16-29)
and ``dir`` (bits 30-31; ``_IOC_WRITE`` = userspace writes to the kernel, ``_IOC_READ`` = kernel
writes back). ``size`` is given as a ctypes type (or an int byte count) — the C macros take a type
and apply ``sizeof``.
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = [
    "IOCSIZE_MASK",
    "IOCSIZE_SHIFT",
    "IOC_IN",
    "IOC_INOUT",
    "IOC_OUT",
    "KVMIO",
    "_IO",
    "_IOC",
    "_IOC_DIR",
    "_IOC_NR",
    "_IOC_SIZE",
    "_IOC_TYPE",
    "_IOR",
    "_IOW",
    "_IOWR",
]

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_DIRBITS = 2

_IOC_NRMASK = (1 << _IOC_NRBITS) - 1
_IOC_TYPEMASK = (1 << _IOC_TYPEBITS) - 1
_IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1
_IOC_DIRMASK = (1 << _IOC_DIRBITS) - 1

_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS

_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2

IOC_IN = _IOC_WRITE << _IOC_DIRSHIFT
IOC_OUT = _IOC_READ << _IOC_DIRSHIFT
IOC_INOUT = (_IOC_WRITE | _IOC_READ) << _IOC_DIRSHIFT
IOCSIZE_MASK = _IOC_SIZEMASK << _IOC_SIZESHIFT
IOCSIZE_SHIFT = _IOC_SIZESHIFT

#: The KVM ioctl type byte (include/uapi/linux/kvm.h).
KVMIO = 0xAE


def _sizeof(size: Any) -> int:
    if isinstance(size, int):
        n = size
    else:
        n = ctypes.sizeof(size)
    if not 0 <= n <= _IOC_SIZEMASK:
        raise ValueError(f"ioctl argument size {n} does not fit in {_IOC_SIZEBITS} bits")
    return n


def _IOC(dir: int, type: int, nr: int, size: int) -> int:
    if not (0 <= dir <= _IOC_DIRMASK and 0 <= type <= _IOC_TYPEMASK and 0 <= nr <= _IOC_NRMASK):
        raise ValueError(f"ioctl field out of range: dir={dir} type={type:#x} nr={nr:#x}")
    if not 0 <= size <= _IOC_SIZEMASK:
        raise ValueError(f"ioctl argument size {size} does not fit in {_IOC_SIZEBITS} bits")
    return (dir << _IOC_DIRSHIFT) | (type << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT)


def _IO(type: int, nr: int) -> int:
    """An ioctl with no argument struct (``_IO``)."""
    return _IOC(_IOC_NONE, type, nr, 0)


def _IOR(type: int, nr: int, size: Any) -> int:
    """The kernel writes a ``size`` object back to userspace (``_IOR``)."""
    return _IOC(_IOC_READ, type, nr, _sizeof(size))


def _IOW(type: int, nr: int, size: Any) -> int:
    """Userspace passes a ``size`` object to the kernel (``_IOW``)."""
    return _IOC(_IOC_WRITE, type, nr, _sizeof(size))


def _IOWR(type: int, nr: int, size: Any) -> int:
    """Both directions (``_IOWR``)."""
    return _IOC(_IOC_READ | _IOC_WRITE, type, nr, _sizeof(size))


def _IOC_DIR(nr: int) -> int:
    return (nr >> _IOC_DIRSHIFT) & _IOC_DIRMASK


def _IOC_TYPE(nr: int) -> int:
    return (nr >> _IOC_TYPESHIFT) & _IOC_TYPEMASK


def _IOC_NR(nr: int) -> int:
    return (nr >> _IOC_NRSHIFT) & _IOC_NRMASK


def _IOC_SIZE(nr: int) -> int:
    return (nr >> _IOC_SIZESHIFT) & _IOC_SIZEMASK
