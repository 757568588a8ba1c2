"""``Choice``: enumerations that cost nothing to import, for the types on pvmkit's start-up path.

``pvmkit measure`` is a short-lived process. In Python 3.11 ``import enum`` (with the ``functools``
and ``collections`` it pulls in) plus creating the enum classes costs about 4 ms, a sixth of a whole
SNP measurement (docs/amd.md, "Cold start"). The enumerations every launch plan uses (``Vendor``,
``PageKind``, ``InitPath``, ``Vmm``, ``PageOrder``, the launcher's state) are therefore declared as::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from enum import Enum as Choice
    else:
        from pvmkit._coldstart.choice import Choice

    class Vendor(str, Choice):
        SEV = "sev"

Type checkers see an ``enum.Enum`` and check these types exactly as enums (member types, literal
narrowing, exhaustiveness). At run time ``Choice`` is the class below, which behaves like an
``enum.Enum`` of Python 3.11 in everything these types are used for: members with ``name`` and
``value``; lookup by value (``Vendor("snp")``) and by name (``Vendor["SNP"]``); iteration in
definition order, ``len``, ``in`` and ``__members__``; the same ``repr``, ``str`` and ``format``;
the mixed-in type's equality and hash (``Vendor.SNP == "snp"``) or identity for plain choices;
members that cannot be reassigned; pickling and copying that return the member itself; a class-body
``__new__`` that builds each member from its (tuple) definition and sets ``_value_``. What it
leaves out (aliases, ``auto()``, ``_missing_``, functional creation, flags) raises at class creation
or is simply absent. ``tests/unit/test_choice.py`` holds every choice type against an
``enum.Enum`` twin built from the same members.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

__all__ = ["Choice", "ChoiceType"]

# What Choice puts on every choice class, ahead of a mixed-in type's own methods (enum does the same:
# a ``str`` mix-in must not turn ``repr(Vendor.SNP)`` into ``'snp'``).
_CHOICE_METHODS = ("__repr__", "__str__", "__format__", "__reduce_ex__", "__copy__", "__deepcopy__")


def _is_member_definition(name: str, value: object) -> bool:
    if name.startswith("_"):
        return False
    return not (callable(value) or isinstance(value, property | classmethod | staticmethod))


class ChoiceType(type):
    """Metaclass of :class:`Choice`: turns the class-body constants into members."""

    _member_map_: dict[str, Any]
    _value2member_map_: dict[Any, Any]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> ChoiceType:
        definitions = {k: v for k, v in namespace.items() if _is_member_definition(k, v)}
        for base in bases:
            if getattr(base, "_member_map_", None):
                raise TypeError(f"{name}: cannot extend {base.__name__}, which has members")
        body = {k: v for k, v in namespace.items() if k not in definitions}
        cls = super().__new__(mcs, name, bases, body)
        if _base is not None:
            for method in _CHOICE_METHODS:
                if method not in body:
                    type.__setattr__(cls, method, _base.__dict__[method])
        mro: tuple[Any, ...] = cls.__mro__[1:]
        mixed_in = next((b for b in mro if b is not object and not isinstance(b, ChoiceType)), None)
        new: Any = object.__new__ if mixed_in is None else mixed_in.__new__
        own_new = body.get("__new__")  # enum's protocol: builds a member from a (tuple) definition
        members: dict[str, Any] = {}
        by_value: dict[Any, Any] = {}
        for key, definition in definitions.items():
            if own_new is not None:
                args = definition if isinstance(definition, tuple) else (definition,)
                member = own_new(cls, *args)
                value = member.__dict__.get("_value_", definition)
            elif mixed_in is None:
                member, value = new(cls), definition
            elif isinstance(definition, mixed_in):
                member, value = new(cls, definition), definition
            else:
                raise TypeError(f"{name}.{key}: value {definition!r} is not a {mixed_in.__name__}")
            if value in by_value:
                raise TypeError(f"{name}.{key}: value {value!r} already names {by_value[value]._name_}")
            member._name_ = key
            member._value_ = value
            members[key] = by_value[value] = member
            type.__setattr__(cls, key, member)
        type.__setattr__(cls, "_member_map_", members)
        type.__setattr__(cls, "_value2member_map_", by_value)
        return cls

    def __call__(cls, value: object) -> Any:
        """The member whose value is ``value`` (or ``value`` itself if it is a member)."""
        if isinstance(value, cls):
            return value
        try:
            return cls._value2member_map_[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid {cls.__qualname__}") from None

    def __getitem__(cls, name: str) -> Any:
        return cls._member_map_[name]

    def __iter__(cls) -> Iterator[Any]:
        members: tuple[Any, ...] = tuple(cls._member_map_.values())
        return iter(members)

    def __reversed__(cls) -> Iterator[Any]:
        members: tuple[Any, ...] = tuple(cls._member_map_.values())
        return iter(members[::-1])

    def __len__(cls) -> int:
        return len(cls._member_map_)

    def __bool__(cls) -> bool:
        return True

    def __contains__(cls, obj: object) -> bool:
        if not isinstance(obj, Choice):
            operands = f"{type(obj).__qualname__!r} and {type(cls).__qualname__!r}"
            raise TypeError(f"unsupported operand type(s) for 'in': {operands}")
        return isinstance(obj, cls) and obj._name_ in cls._member_map_

    @property
    def __members__(cls) -> Mapping[str, Any]:
        from types import MappingProxyType

        return MappingProxyType(cls._member_map_)

    def __setattr__(cls, name: str, value: object) -> None:
        if name in cls.__dict__.get("_member_map_", ()):
            raise AttributeError(f"cannot reassign member {name!r}")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if name in cls.__dict__.get("_member_map_", ()):
            raise AttributeError(f"cannot delete member {name!r}")
        super().__delattr__(name)

    def __repr__(cls) -> str:
        return f"<enum {cls.__name__!r}>"


_base: type | None = None  # Choice, once it exists (creating Choice itself has nothing to copy)


class Choice(metaclass=ChoiceType):
    """Base of the start-up-path enumerations: see the module docstring."""

    _name_: str
    _value_: Any

    @property
    def name(self) -> str:
        return self._name_

    @property
    def value(self) -> Any:
        return self._value_

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self._name_}"

    def __format__(self, format_spec: str) -> str:
        return format(str(self), format_spec)

    def __reduce_ex__(self, protocol: object) -> tuple[Any, tuple[Any]]:
        return type(self), (self._value_,)

    def __copy__(self) -> Choice:
        return self

    def __deepcopy__(self, memo: object) -> Choice:
        return self


_base = Choice
