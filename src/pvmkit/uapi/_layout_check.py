"""What ``pvmkit.uapi`` mirrors, as data, and the comparison with the kernel-header layout table.

:func:`python_layouts` walks every module of :mod:`pvmkit.uapi` and collects every ctypes structure
(size, and offset and size of every field, nested members flattened to C member paths such as
``io.port`` or ``cpuid.nent``) and every upper-case integer constant and IntEnum member. It is the
single list of what to check: ``tools/gen_uapi_layouts.py`` turns it into a C probe compiled against
the real headers, which produces ``layouts.json``; :func:`compare` reports every difference.

Conventions the walk relies on (all optional):

* a module-level ``_NOT_IN_HEADERS`` frozenset names constants / IntEnum classes that are not in the
  kernel headers (e.g. spec-only values); they are not probed;
* a structure's ``_c_type_`` string overrides its C type (default ``struct <class name>``, or
  ``union <class name>`` for a ctypes Union);
* ``_flexible_ = ("cpuid.entries", element_type)`` names a trailing C flexible array, whose offset
  and element size are probed too;
* underscore-named structures are helpers for anonymous C members; they are checked through the
  public structure that contains them. ``_anonymous_`` members are transparent in C paths;
* structures created at run time (subclasses of a checked structure with a fixed capacity, such as
  ``kvm_tdx_capabilities_with(n)``) are covered by their base's entry and ``_flexible_``.
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import json
import pkgutil
import re
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any

__all__ = [
    "TABLE_NAME",
    "PyConstant",
    "PyLayouts",
    "PyStruct",
    "compare",
    "load_table",
    "python_layouts",
    "uapi_modules",
]

TABLE_NAME = "layouts.json"
_CONST_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass
class PyStruct:
    """One checked structure: ``fields`` maps a C member path to (offset, size or None)."""

    name: str
    module: str
    c_type: str
    size: int
    fields: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    bitfields: dict[str, str] = field(default_factory=dict)  # path -> hex bytes of the all-ones mask
    flexible: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (offset, elem size)
    cls: type = field(default=object, repr=False, compare=False)


@dataclass
class PyConstant:
    name: str
    module: str
    value: int


@dataclass
class PyLayouts:
    structs: dict[str, PyStruct]
    constants: dict[str, PyConstant]
    problems: list[str]  # inconsistencies within the Python side (duplicate names that disagree)


def uapi_modules() -> list[ModuleType]:
    """Every public module of :mod:`pvmkit.uapi`, imported."""
    pkg = importlib.import_module("pvmkit.uapi")
    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"pvmkit.uapi.{info.name}"))
    return mods


def _is_ctype_struct(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, (ctypes.Structure, ctypes.Union))


def _all_fields(cls: type) -> list[tuple[Any, ...]]:
    entries: list[tuple[Any, ...]] = []
    for klass in reversed(cls.__mro__):
        entries.extend(tuple(e) for e in klass.__dict__.get("_fields_", ()))
    return entries


def _walk(cls: type, prefix: str, pyprefix: tuple[str, ...], base: int, out: PyStruct) -> None:
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for entry in _all_fields(cls):
        name, ftype = entry[0], entry[1]
        off = base + getattr(cls, name).offset
        path = prefix if name in anonymous else (f"{prefix}.{name}" if prefix else name)
        pypath = (*pyprefix, name)
        if len(entry) > 2:  # bit-field: C has no offsetof for it; compare the all-ones byte mask
            out.bitfields[path] = _bitfield_mask(out.cls, pypath, entry[2])
            continue
        if name not in anonymous:
            size = ctypes.sizeof(ftype)
            out.fields[path] = (off, size if size else None)  # 0: zero-length (flexible) array
        if _is_ctype_struct(ftype):
            _walk(ftype, path, pypath, off, out)


def _bitfield_mask(cls: type, pypath: tuple[str, ...], width: int) -> str:
    """The bytes of a zeroed ``cls`` with only the bit-field at ``pypath`` set to all ones."""
    root: Any = cls()
    obj = root
    for p in pypath[:-1]:
        obj = getattr(obj, p)  # nested members share the root's buffer
    setattr(obj, pypath[-1], (1 << width) - 1)
    return ctypes.string_at(ctypes.addressof(root), ctypes.sizeof(root)).hex()


def _c_type(cls: type) -> str:
    explicit = cls.__dict__.get("_c_type_")
    if isinstance(explicit, str):
        return explicit
    kind = "union" if issubclass(cls, ctypes.Union) else "struct"
    return f"{kind} {cls.__name__}"


def _struct_info(cls: type, module: str) -> PyStruct:
    info = PyStruct(name=cls.__name__, module=module, c_type=_c_type(cls), size=ctypes.sizeof(cls), cls=cls)
    _walk(cls, "", (), 0, info)
    flex = cls.__dict__.get("_flexible_")
    if flex is not None:
        path, elem = flex
        align = ctypes.alignment(elem)
        info.flexible[path] = ((info.size + align - 1) // align * align, ctypes.sizeof(elem))
    return info


def python_layouts() -> PyLayouts:
    """Everything :mod:`pvmkit.uapi` mirrors (see the module docstring)."""
    structs: dict[str, PyStruct] = {}
    constants: dict[str, PyConstant] = {}
    problems: list[str] = []
    for mod in uapi_modules():
        skip = set(getattr(mod, "_NOT_IN_HEADERS", ()))
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or name in skip:
                continue
            if _is_ctype_struct(obj) and obj.__module__ == mod.__name__:
                info = _struct_info(obj, mod.__name__)
                other = structs.get(name)
                if other is not None and (other.size, other.fields) != (info.size, info.fields):
                    problems.append(f"struct {name}: {other.module} and {mod.__name__} disagree")
                structs.setdefault(name, info)
            elif isinstance(obj, type) and issubclass(obj, enum.IntEnum) and obj.__module__ == mod.__name__:
                for member_name, member in obj.__members__.items():
                    _add_constant(constants, problems, member_name, int(member), mod.__name__)
            elif _CONST_RE.match(name) and isinstance(obj, int) and not isinstance(obj, bool):
                _add_constant(constants, problems, name, int(obj), mod.__name__)
    return PyLayouts(structs=structs, constants=constants, problems=problems)


def _add_constant(
    constants: dict[str, PyConstant], problems: list[str], name: str, value: int, module: str
) -> None:
    other = constants.get(name)
    if other is None:
        constants[name] = PyConstant(name, module, value)
    elif other.value != value:
        problems.append(f"constant {name}: {other.module} has {other.value:#x}, {module} has {value:#x}")


def load_table() -> dict[str, Any]:
    """The committed table (``pvmkit/uapi/layouts.json``)."""
    text = resources.files("pvmkit.uapi").joinpath(TABLE_NAME).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def compare(table: dict[str, Any], py: PyLayouts | None = None) -> list[str]:
    """Every difference between the Python mirrors and a layout table; empty when they agree."""
    if py is None:
        py = python_layouts()
    out = list(py.problems)
    tstructs: dict[str, Any] = table.get("structs", {})
    tconsts: dict[str, Any] = table.get("constants", {})
    for name, s in sorted(py.structs.items()):
        t = tstructs.get(name)
        if t is None:
            out.append(f"struct {name} ({s.module}): not in the table")
            continue
        if t["size"] != s.size:
            out.append(f"struct {name}: sizeof is {t['size']} in C, {s.size} in Python")
        tfields: dict[str, Any] = t.get("fields", {})
        for path, (off, size) in s.fields.items():
            tf = tfields.get(path)
            if tf is None:
                out.append(f"struct {name}: field {path} not in the table")
                continue
            if tf["offset"] != off:
                out.append(f"struct {name}: offsetof({path}) is {tf['offset']} in C, {off} in Python")
            if size is not None and tf.get("size") is not None and tf["size"] != size:
                out.append(f"struct {name}: sizeof({path}) is {tf['size']} in C, {size} in Python")
        for path in sorted(set(tfields) - set(s.fields)):
            out.append(f"struct {name}: table has field {path}, Python does not (stale table?)")
        tbits: dict[str, Any] = t.get("bitfields", {})
        for path, mask in s.bitfields.items():
            if tbits.get(path) != mask:
                out.append(
                    f"struct {name}: bit-field {path} mask is {tbits.get(path)} in C, {mask} in Python"
                )
        tflex: dict[str, Any] = t.get("flexible", {})
        for path, (off, esize) in s.flexible.items():
            tf = tflex.get(path)
            if tf is None:
                out.append(f"struct {name}: flexible array {path} not in the table")
            elif (tf["offset"], tf["elem_size"]) != (off, esize):
                out.append(
                    f"struct {name}: flexible array {path} at {tf['offset']} (elements {tf['elem_size']} B)"
                    f" in C, {off} ({esize} B) in Python"
                )
    for name in sorted(set(tstructs) - set(py.structs)):
        out.append(f"struct {name}: in the table but not in pvmkit.uapi (stale table?)")
    for name, c in sorted(py.constants.items()):
        tc = tconsts.get(name)
        if tc is None:
            out.append(f"constant {name} ({c.module}): not in the table")
        elif tc["value"] != c.value:
            out.append(f"constant {name}: {tc['value']:#x} in C, {c.value:#x} in Python")
    for name in sorted(set(tconsts) - set(py.constants)):
        out.append(f"constant {name}: in the table but not in pvmkit.uapi (stale table?)")
    return out
