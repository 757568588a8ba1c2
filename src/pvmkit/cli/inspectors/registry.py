"""The registry ``pvmkit inspect`` dispatches through: each structure is an :class:`Inspector`
(type name, detector, parser, optional renderers) that its module under ``pvmkit.cli.inspectors``
registers when imported (``pvmkit.cli.inspect`` imports each of them).

**Adding a structure**: write a module here that defines ``detect(data) -> bool``, ``parse(data) ->
obj`` and optionally ``render(obj, verbose) -> list[str]`` and ``to_json(obj) -> JSON``, calls
:func:`register` at import with its ``rank`` in detection order, and import it in
``pvmkit.cli.inspect``. Without ``render`` and ``to_json`` the generic renderers walk dataclasses:
bytes print as hex, ints ≥ 10 as hex in text. Detection asks each detector in rank order; detectors
look only at size and magic, the parser then validates.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIRMWARE_TYPES",
    "INSPECTORS",
    "Inspector",
    "claims",
    "detect",
    "jsonable",
    "register",
    "text_lines",
]

#: The inspectors of the parts of one firmware image (module ``firmware``): ``--type auto`` shows
#: each that claims the file, since an image can carry both SEV and TDVF metadata.
FIRMWARE_TYPES = ("ovmf", "tdvf")


# -- generic rendering -----------------------------------------------------------------------------
def jsonable(obj: Any) -> Any:
    """Dataclasses → dicts (public fields; ``to_dict()`` where a class has one), bytes → hex, enums →
    names, tuples → lists."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "-"
    if isinstance(value, int):
        return f"{value:#x}" if value >= 10 else str(value)
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + f"… ({len(value)} chars)"
    return str(value)


def text_lines(data: Any, indent: int = 0, hex_limit: int = 0) -> list[str]:
    """An indented ``key: value`` tree of JSON-like ``data``; hex strings longer than ``hex_limit``
    characters (0 = no limit) are shortened."""
    pad = "  " * indent
    out: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                out.append(f"{pad}{key}:")
                out += text_lines(value, indent + 1, hex_limit)
            else:
                out.append(f"{pad}{key}: {_short(value, hex_limit)}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, (dict, list)) and value:
                out.append(f"{pad}[{i}]")
                out += text_lines(value, indent + 1, hex_limit)
            else:
                out.append(f"{pad}[{i}] {_short(value, hex_limit)}")
    else:
        out.append(pad + _short(data, hex_limit))
    return out


def _short(value: Any, hex_limit: int) -> str:
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, str) and hex_limit and len(value) > hex_limit and _is_hex(value):
        return f"{value[:hex_limit]}… ({len(value) // 2} bytes)"
    return _scalar(value)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


# -- the registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inspector:
    name: str
    description: str
    detect: Callable[[bytes], bool]
    parse: Callable[[bytes], Any]
    render: Callable[[Any, bool], list[str]] | None = None
    to_json: Callable[[Any], Any] | None = None

    def json_of(self, obj: Any) -> Any:
        return self.to_json(obj) if self.to_json is not None else jsonable(obj)

    def text_of(self, obj: Any, verbose: bool) -> list[str]:
        if self.render is not None:
            return self.render(obj, verbose)
        return text_lines(self.json_of(obj), hex_limit=0 if verbose else 96)


#: type name → inspector, in auto-detection order
INSPECTORS: dict[str, Inspector] = {}


#: each inspector's place in detection order (lower first)
_RANKS: dict[str, float] = {}


def register(inspector: Inspector, *, rank: float | None = None, before: str | None = None) -> None:
    """Add (or replace) an inspector at ``rank`` in detection order (lower first; default: last), or
    just ahead of the inspector named ``before``. The order does not depend on which module is
    imported first."""
    if before is not None and before in _RANKS:
        rank = _RANKS[before] - 0.5
    elif rank is None:
        rank = max(_RANKS.values(), default=0) + 10
    _RANKS[inspector.name] = rank
    items = [(k, v) for k, v in INSPECTORS.items() if k != inspector.name] + [(inspector.name, inspector)]
    items.sort(key=lambda item: _RANKS[item[0]])
    INSPECTORS.clear()
    INSPECTORS.update(items)


def detect(data: bytes) -> Inspector | None:
    """The first inspector (in registration order) whose detector claims ``data``; a detector that
    raises is treated as "no" so that it cannot break detection for the others."""
    for inspector in INSPECTORS.values():
        if claims(inspector, data):
            return inspector
    return None


def claims(inspector: Inspector, data: bytes) -> bool:
    """Whether ``inspector`` claims ``data``; a detector that raises is treated as "no"."""
    try:
        return bool(inspector.detect(data))
    except Exception:
        return False
