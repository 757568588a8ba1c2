"""pvmkit._coldstart.namedtuple.NamedTuple (typing-free class syntax on the hot path) behaves like
typing.NamedTuple for everything pvmkit's named tuples use."""

from __future__ import annotations

import copy
import typing

import pytest

from pvmkit._coldstart.namedtuple import NamedTuple as Cheap


def _pair(base: type) -> type:
    class Section(base):  # type: ignore[misc, valid-type]
        """A doc."""

        gpa: int
        size: int
        type: int
        offset: int = 0

        @property
        def end(self) -> int:
            return self.gpa + self.size

        def twice(self) -> int:
            return 2 * self.size

    return Section


REAL, CHEAP = _pair(typing.NamedTuple), _pair(Cheap)


def test_same_surface() -> None:
    for attr in ("_fields", "_field_defaults", "__match_args__", "__doc__", "__name__", "__qualname__"):
        assert getattr(REAL, attr) == getattr(CHEAP, attr), attr
    assert CHEAP.__mro__ == (CHEAP, tuple, object)
    assert type(CHEAP) is type
    assert not hasattr(CHEAP(1, 2, 3), "__dict__")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1, 2, 3), {}),
        ((1, 2, 3, 4), {}),
        ((1,), {"size": 2, "type": 3}),
        ((), {"gpa": 1, "size": 2, "type": 3, "offset": 9}),
    ],
)
def test_same_values(args: tuple[int, ...], kwargs: dict[str, int]) -> None:
    r, c = REAL(*args, **kwargs), CHEAP(*args, **kwargs)
    assert tuple(r) == tuple(c) and c == r and hash(c) == hash(r)
    assert repr(c) == repr(r)
    assert (c.gpa, c.size, c.type, c.offset, c.end, c.twice()) == (
        r.gpa,
        r.size,
        r.type,
        r.offset,
        r.end,
        r.twice(),
    )
    assert c._asdict() == r._asdict()
    assert c._replace(size=7) == r._replace(size=7) and type(c._replace(size=7)) is CHEAP
    assert CHEAP._make(list(c)) == c and type(CHEAP._make(list(c))) is CHEAP
    gpa, size, kind, offset = c
    assert (gpa, size, kind, offset) == tuple(r)
    assert copy.deepcopy(c) == c and copy.copy(c) == c and type(copy.copy(c)) is CHEAP
    with pytest.raises(AttributeError):
        c.gpa = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3, 4, 5), {}), ((1, 2, 3), {"gpa": 1}), ((1, 2, 3), {"bogus": 1})],
)
def test_same_errors(args: tuple[int, ...], kwargs: dict[str, int]) -> None:
    with pytest.raises(TypeError):
        REAL(*args, **kwargs)
    with pytest.raises(TypeError):
        CHEAP(*args, **kwargs)


def test_replace_and_make_errors() -> None:
    with pytest.raises(ValueError, match="Got unexpected field names"):
        CHEAP(1, 2, 3)._replace(bogus=1)
    with pytest.raises(TypeError, match="Expected 4 arguments, got 2"):
        CHEAP._make([1, 2])


def test_launch_backend_documents_the_protocol_and_launcher_subscripts() -> None:
    """At run time the launcher's generics are pvmkit._coldstart.generic's stand-ins (mypy checks
    them as typing's): Backend is a plain base class naming the four methods."""
    import pvmkit
    from pvmkit._coldstart.generic import Protocol
    from pvmkit.launch import Launcher

    backend = pvmkit.Backend
    assert Protocol in backend.__mro__ and backend.__qualname__ == "Backend"
    assert backend.__module__ == "pvmkit.launch" and backend[bytes] is backend
    assert {"init", "add_memory", "add_vcpu", "finalize"} <= set(vars(backend))
    assert Launcher[bytes] is Launcher
