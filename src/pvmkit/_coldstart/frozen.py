"""``Frozen``: what ``@dataclass(frozen=True)`` gives, without importing :mod:`dataclasses` at start-up.

Records on the cold path of ``pvmkit measure`` (the launch plan's ops, ``VendorSpec``, ``AmdLaunch``)
subclass :class:`Frozen` and write their ``__init__`` out, storing each field with
``object.__setattr__``; mypy checks them as ordinary classes. ``tests/unit/test_plan.py`` holds them
against real dataclasses (``dataclasses.replace``, ``fields``, ``asdict`` and ``is_dataclass`` work).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import Field
    from typing import Any, ClassVar

__all__ = ["DataclassInfo", "Frozen"]


class DataclassInfo:
    """``__dataclass_fields__`` / ``__dataclass_params__`` of a :class:`Frozen` record, built (with
    the real :mod:`dataclasses`) on first use, so ``dataclasses.replace``/``fields``/``asdict``/
    ``is_dataclass`` work on the plan records without importing dataclasses at start-up."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, cls: type[Frozen]) -> Any:
        import dataclasses

        init = cls.__init__
        names = cls.__match_args__
        defaults = init.__defaults__ or ()
        first_default = len(names) - len(defaults)
        specs = []
        for i, name in enumerate(names):
            kw: dict[str, Any] = {"repr": name not in cls._NO_REPR}
            if i >= first_default:
                kw["default"] = defaults[i - first_default]
            specs.append((name, init.__annotations__[name], dataclasses.field(**kw)))
        shadow = dataclasses.make_dataclass(cls.__name__, specs, frozen=True)
        for attr in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(cls, attr, getattr(shadow, attr))
        return getattr(cls, self.name)


class Frozen:
    """What ``@dataclass(frozen=True)`` generates, written out (``dataclasses`` costs ~5 ms of
    imports at start-up, and ``pvmkit measure`` is benchmarked cold): fields are the ``__init__``
    parameters, in order; ``==`` and ``hash`` compare them as a tuple between instances of the same
    class; ``repr`` shows those not in ``_NO_REPR``; assignment raises
    ``dataclasses.FrozenInstanceError``; ``dataclasses.replace`` and friends work (see
    :class:`DataclassInfo`)."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()
    _NO_REPR: tuple[str, ...] = ()
    if TYPE_CHECKING:
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    else:
        __dataclass_fields__ = DataclassInfo()
        __dataclass_params__ = DataclassInfo()

    def __init_subclass__(cls) -> None:
        code = cls.__init__.__code__
        type.__setattr__(cls, "__match_args__", code.co_varnames[1 : code.co_argcount])

    def _values(self) -> tuple[object, ...]:
        d = self.__dict__
        return tuple(d[name] for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frozen) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        d = self.__dict__
        inner = ", ".join(f"{n}={d[n]!r}" for n in self.__match_args__ if n not in self._NO_REPR)
        return f"{self.__class__.__qualname__}({inner})"

    def __setattr__(self, name: str, value: object) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")
