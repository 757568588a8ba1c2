"""ctypes structure bases that refuse what plain ctypes silently accepts.

Plain ``ctypes.Structure(fcw=0x37f)`` raises nothing when the field is really called ``x87_fcw``; the
keyword is dropped and the field stays 0 (the root cause of a known sev-snp-measure quirk, spec
amd.md §4.3). :class:`Struct` raises ``TypeError`` for any unknown field name, in the constructor and
on attribute assignment, and adds exact-size parsing that raises :class:`~pvmkit.errors.TruncatedError`.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any, TypeVar

from pvmkit.errors import TruncatedError

__all__ = ["LEStruct", "Struct", "field_names"]

_S = TypeVar("_S", bound="ctypes.Structure")


@functools.cache
def field_names(cls: type) -> tuple[str, ...]:
    """Names of the fields declared by ``cls`` and its Structure bases, in declaration order.

    Members of ``_anonymous_`` fields (unnamed unions/structs in the kernel headers) are accessible
    directly on the outer structure, so their names count as fields too.
    """
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        anonymous = klass.__dict__.get("_anonymous_", ())
        for entry in klass.__dict__.get("_fields_", ()):
            names.append(entry[0])
            if entry[0] in anonymous:
                names.extend(field_names(entry[1]))
    return tuple(names)


class _Strict:
    """Mixin: constructor and setattr accept declared field names only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        allowed = set(field_names(type(self)))  # type: ignore[arg-type]
        unknown = sorted(k for k in kwargs if k not in allowed)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(unknown)}")
        super().__init__(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and name not in field_names(type(self)):  # type: ignore[arg-type]
            raise TypeError(f"{type(self).__name__} has no field {name!r}")
        super().__setattr__(name, value)

    @classmethod
    def from_bytes(cls: type[_S], data: bytes | bytearray | memoryview, offset: int = 0) -> _S:  # type: ignore[misc]
        """Copy ``sizeof(cls)`` bytes at ``offset`` into a new instance; TruncatedError if short."""
        size = ctypes.sizeof(cls)
        if offset < 0 or len(data) - offset < size:
            raise TruncatedError(
                f"{cls.__name__} needs {size} bytes, {max(0, len(data) - offset)} available",
                what=cls.__name__,
                offset=offset,
            )
        return cls.from_buffer_copy(bytes(data[offset : offset + size]))

    def to_bytes(self) -> bytes:
        """The structure's bytes (native layout, which is little-endian on every supported host)."""
        return ctypes.string_at(ctypes.addressof(self), ctypes.sizeof(self))  # type: ignore[arg-type]


class Struct(_Strict, ctypes.Structure):
    """Native-layout structure for kernel ABI mirrors (``pvmkit.uapi``)."""


class LEStruct(_Strict, ctypes.LittleEndianStructure):
    """Explicit little-endian structure for specification formats (firmware, reports)."""
