"""ctypes mirrors of the VMSA: :class:`Segment` (``struct vmcb_seg``) and :class:`SaveArea`
(``struct sev_es_save_area``), generated from :data:`pvmkit.vendors.amd.vmsa.LAYOUT`.

Strict :class:`pvmkit._cstruct.LEStruct` subclasses: an unknown field name raises ``TypeError`` in the
constructor and on assignment (``SaveArea(fcw=0x37f)`` is an error, not a silently dropped keyword).
Imported on demand, so that code that only builds pages does not pay for ctypes.
"""

from __future__ import annotations

import ctypes
from typing import Any

from pvmkit._cstruct import LEStruct
from pvmkit.vendors.amd.vmsa import LAYOUT, VMSA_SIZE

__all__ = ["SaveArea", "Segment"]

_INTS: dict[int, Any] = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


class Segment(LEStruct):
    """``struct vmcb_seg``: 16 bytes."""

    _pack_ = 1
    _fields_ = [  # noqa: RUF012
        ("selector", ctypes.c_uint16),
        ("attrib", ctypes.c_uint16),
        ("limit", ctypes.c_uint32),
        ("base", ctypes.c_uint64),
    ]


def _ctype(size: int, kind: str) -> Any:
    if kind == "seg":
        return Segment
    if kind == "bytes":
        return ctypes.c_uint8 * size
    return _INTS[size]


class SaveArea(LEStruct):
    """The 4096-byte VMSA page."""

    _pack_ = 1
    _fields_ = [(name, _ctype(size, kind)) for name, size, kind in LAYOUT]  # noqa: RUF012


assert ctypes.sizeof(SaveArea) == VMSA_SIZE
