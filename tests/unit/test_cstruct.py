"""The strict ctypes bases: unknown field names are refused, anonymous members are real fields."""

from __future__ import annotations

import ctypes

import pytest

from pvmkit._cstruct import LEStruct, Struct, field_names
from pvmkit.errors import TruncatedError


class _U(ctypes.Union):
    _fields_ = (("a", ctypes.c_uint32), ("b", ctypes.c_uint16))


class _Outer(Struct):
    _anonymous_ = ("_u",)
    _fields_ = (("head", ctypes.c_uint32), ("_u", _U))


class _Le(LEStruct):
    _fields_ = (("x87_fcw", ctypes.c_uint16), ("mxcsr", ctypes.c_uint32))


def test_unknown_keyword_is_refused_where_plain_ctypes_would_drop_it() -> None:
    with pytest.raises(TypeError, match="fcw"):
        _Le(fcw=0x37F)
    assert _Le(x87_fcw=0x37F).x87_fcw == 0x37F


def test_unknown_attribute_assignment_is_refused() -> None:
    s = _Le()
    with pytest.raises(TypeError):
        s.fcw = 1  # type: ignore[attr-defined]


def test_anonymous_union_members_are_fields() -> None:
    assert field_names(_Outer) == ("head", "_u", "a", "b")
    o = _Outer(head=1, a=0x12345678)
    o.b = 0xBEEF
    assert o.a == 0x1234BEEF
    with pytest.raises(TypeError):
        _Outer(c=1)


def test_from_bytes_round_trip_and_truncation() -> None:
    raw = bytes(range(ctypes.sizeof(_Le)))
    assert _Le.from_bytes(raw).to_bytes() == raw
    with pytest.raises(TruncatedError) as info:
        _Le.from_bytes(raw[:-1])
    assert info.value.offset == 0
