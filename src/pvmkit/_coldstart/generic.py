"""Run-time stand-ins for ``typing.Generic``, ``typing.Protocol`` and ``typing.TypeVar``.

Modules on the cold path of ``pvmkit measure`` import these under ``not TYPE_CHECKING`` and the real
ones from :mod:`typing` under ``TYPE_CHECKING``, so mypy checks generic classes and protocols as
usual while the interpreter never imports :mod:`typing` (about 4 ms, measured in docs/development.md
"Start-up"). At run time a subscripted class is the class itself (``Launcher[bytes]`` is ``Launcher``)
and a protocol is a plain base class that documents its methods (not checkable with ``isinstance``).
"""

from __future__ import annotations

__all__ = ["Generic", "Protocol", "TypeVar"]


class Generic:
    """``typing.Generic`` at run time: subscripting gives the class back."""

    __slots__ = ()

    def __class_getitem__(cls, item: object) -> object:
        return cls


class Protocol(Generic):
    """``typing.Protocol`` at run time: an ordinary base class."""

    __slots__ = ()


def TypeVar(name: str, *constraints: object, **options: object) -> None:
    """``typing.TypeVar`` at run time: nothing (only mypy reads type variables)."""
    return None
