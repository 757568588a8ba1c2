"""A start-up-cheap stand-in for ``typing.NamedTuple`` class syntax.

``typing`` costs ~5 ms of imports (re, contextlib, collections, functools …) and ``pvmkit measure`` is
benchmarked cold against sev-snp-measure, so hot-path modules declare their named tuples as::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from pvmkit._coldstart.namedtuple import NamedTuple

    class TableEntry(NamedTuple):
        guid: str
        ...

mypy sees the real ``typing.NamedTuple``; at run time the class statement builds a plain ``tuple``
subclass with what ``collections.namedtuple`` gives: field properties, ``__new__`` with the declared
defaults (positional or keyword), ``_fields``, ``_field_defaults``, ``__match_args__``, ``_make``,
``_replace``, ``_asdict``, ``__getnewargs__`` and the ``Name(field=value, ...)`` repr; methods and
properties declared in the class body are kept. tests/unit/test_namedtuple.py compares it with
``typing.NamedTuple``.
"""

from __future__ import annotations

from _operator import itemgetter  # the C module: `operator` itself costs 0.3 ms

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NamedTuple"]


def _new(name: str, fields: tuple[str, ...], defaults: dict[str, Any]) -> Any:
    n = len(fields)
    tuple_new = tuple.__new__

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if len(args) == n and not kwargs:
            return tuple_new(cls, args)
        if len(args) > n:
            raise TypeError(
                f"{name}.__new__() takes {n + 1} positional arguments but {len(args) + 1} were given"
            )
        values = list(args)
        for field in fields[: len(args)]:
            if field in kwargs:
                raise TypeError(f"{name}.__new__() got multiple values for argument {field!r}")
        for field in fields[len(args) :]:
            if field in kwargs:
                values.append(kwargs.pop(field))
            elif field in defaults:
                values.append(defaults[field])
            else:
                raise TypeError(f"{name}.__new__() missing required argument: {field!r}")
        if kwargs:
            raise TypeError(f"{name}.__new__() got an unexpected keyword argument {next(iter(kwargs))!r}")
        return tuple_new(cls, values)

    __new__.__qualname__ = f"{name}.__new__"
    return __new__


class _Methods(tuple):  # type: ignore[type-arg]
    """The methods every named tuple gets (as in collections.namedtuple)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True))
        return f"{self.__class__.__name__}({inner})"

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def _replace(self, /, **kwds: Any) -> Any:
        result = self._make(map(kwds.pop, self._fields, self))
        if kwds:
            raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
        return result

    @classmethod
    def _make(cls, iterable: Any) -> Any:
        result = tuple.__new__(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


_METHODS = {
    k: v
    for k, v in vars(_Methods).items()
    if k in ("__repr__", "_asdict", "_replace", "_make", "__getnewargs__")
}


class _NamedTupleMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if ns.get("_root", False):
            return super().__new__(mcls, name, bases, ns)
        fields = tuple(ns.get("__annotations__", {}))
        defaults = {f: ns[f] for f in fields if f in ns}
        body: dict[str, Any] = {**_METHODS}
        body.update((k, v) for k, v in ns.items() if k not in fields and k != "__qualname__")
        body.update(
            __slots__=(),
            _fields=fields,
            _field_defaults=defaults,
            __match_args__=fields,
            __new__=_new(name, fields, defaults),
        )
        for i, field in enumerate(fields):
            body[field] = property(itemgetter(i), doc=f"Alias for field number {i}")
        cls = type.__new__(type, name, (tuple,), body)
        cls.__qualname__ = ns.get("__qualname__", name)
        return cls


class NamedTuple(metaclass=_NamedTupleMeta):
    """Base class for the class syntax (see the module docstring); never instantiated itself."""

    _root = True
