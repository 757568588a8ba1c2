"""A reference-value set: name → the distinct acceptable values, each traceable to what produced it.

A *combination* is one launch configuration (firmware, kernel, shape: vCPUs, vCPU type, VMM profile,
VMSA features, ...) described as a flat ``{key: str | int}`` mapping; a value computed for several
combinations is stored once with all of them. Literal values (``--value NAME=HEX``) carry the origin
``{"source": "literal"}``. Values are ``bytes`` for digests and registers, ``int``/``bool`` for the
configuration and platform names (:mod:`pvmkit.refvalues.names`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from pvmkit.errors import InputError
from pvmkit.refvalues.names import BOOL, BYTES, INT, NAMES, NameSpec, spec_of

__all__ = ["Origin", "RefValueSet", "Value", "check_value"]

Value = bytes | int | bool
#: One combination (or a literal): a flat JSON-ready description of the inputs.
Origin = Mapping[str, "str | int"]

#: Digest sizes a CCA realm measurement may have (RMI hash algorithm SHA-256 or SHA-512; SHA-384
#: tokens exist in rust-ccatoken's test data).
_CCA_SIZES = (32, 48, 64)


def check_value(spec: NameSpec, value: Value) -> Value:
    """``value`` when it has the kind and size ``spec`` needs, else :class:`InputError`."""
    if spec.kind == BYTES:
        if not isinstance(value, bytes):
            raise InputError(f"{spec.name} takes bytes, got {type(value).__name__}")
        if spec.max_size:
            if not 1 <= len(value) <= spec.max_size:
                raise InputError(f"{spec.name} ({spec.what}) is 1 to {spec.max_size} bytes, got {len(value)}")
            return value
        sizes = (spec.size,) if spec.size else _CCA_SIZES
        if len(value) not in sizes:
            want = " or ".join(str(s) for s in sizes)
            raise InputError(f"{spec.name} ({spec.what}) is {want} bytes, got {len(value)}")
    elif spec.kind == BOOL and not isinstance(value, bool):
        raise InputError(f"{spec.name} takes true or false, got {value!r}")
    elif spec.kind == INT and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InputError(f"{spec.name} takes a non-negative integer, got {value!r}")
    return value


@dataclass
class RefValueSet:
    """name → {value → [origins]}; names iterate in :data:`~pvmkit.refvalues.names.NAMES` order."""

    values: dict[str, dict[Value, list[Origin]]] = field(default_factory=dict)

    def add(self, name: str, value: Value, origin: Origin) -> None:
        spec = spec_of(name)
        check_value(spec, value)
        self.values.setdefault(name, {}).setdefault(value, []).append(origin)

    def merge(self, other: RefValueSet) -> None:
        for name, by_value in other.values.items():
            for value, origins in by_value.items():
                for origin in origins:
                    self.add(name, value, origin)

    def names(self) -> list[str]:
        order = list(NAMES)
        return sorted(self.values, key=order.index)

    def distinct(self, name: str) -> list[Value]:
        """The distinct values of ``name`` in a stable order (first produced first)."""
        return list(self.values.get(name, {}))

    def origins(self, name: str, value: Value) -> list[Origin]:
        return self.values.get(name, {}).get(value, [])

    def __iter__(self) -> Iterator[tuple[str, list[Value]]]:
        for name in self.names():
            yield name, self.distinct(name)

    def __len__(self) -> int:
        return len(self.values)

    def require_single(self) -> None:
        """Refuse a set with more than one distinct value for a name compared with ``==``."""
        for name, values in self:
            spec = NAMES[name]
            if spec.single and len(values) > 1:
                raise InputError(
                    f"{name}: {len(values)} distinct values, but the policy compares it with == "
                    "(one bare value); narrow the inputs so that it has one"
                )

    def expectations(self) -> dict[str, frozenset[bytes]]:
        """name → frozenset of acceptable byte values, for the byte-valued names (what
        :class:`pvmkit.attest.result.CheckList.compare` takes)."""
        out: dict[str, frozenset[bytes]] = {}
        for name, values in self:
            if NAMES[name].kind == BYTES:
                out[name] = frozenset(v for v in values if isinstance(v, bytes))
        return out
