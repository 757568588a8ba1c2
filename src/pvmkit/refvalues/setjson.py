"""pvmkit's own reference-value JSON (schema ``pvmkit.reference-values/1``, docs/reference-values.md).

::

    {"schema": "pvmkit.reference-values/1", "vendor": "snp",
     "combinations": 6,
     "values": {"snp_launch_measurement": [
         {"value": "<hex>", "from": [{"vcpus": 1, "vcpu_type": "EPYC-v4", "vmm": "qemu",
                                       "vmsa_features": "0x1", "firmware_sha256": "<hex>", ...}]}, ...]}}

Every value is written once with every combination (``from``) that produces it; byte values are
lowercase hex, integers and booleans JSON numbers and booleans.
"""

from __future__ import annotations

from typing import Any

from pvmkit.errors import FormatError, InputError
from pvmkit.refvalues.model import RefValueSet, Value
from pvmkit.refvalues.names import BYTES, spec_of

__all__ = ["SCHEMA", "hex_field", "parse_set_json", "set_json"]

SCHEMA = "pvmkit.reference-values/1"


def set_json(rvs: RefValueSet, *, vendor: str, combinations: int) -> dict[str, Any]:
    values: dict[str, list[dict[str, Any]]] = {}
    for name, distinct in rvs:
        kind = spec_of(name).kind
        values[name] = [
            {
                "value": v.hex() if kind == BYTES and isinstance(v, bytes) else v,
                "from": [dict(o) for o in rvs.origins(name, v)],
            }
            for v in distinct
        ]
    return {"schema": SCHEMA, "vendor": vendor, "combinations": combinations, "values": values}


def hex_field(raw: object, where: str) -> bytes:
    """A JSON hex string → bytes; :class:`FormatError` naming ``where`` otherwise."""
    if not isinstance(raw, str):
        raise FormatError(f"{where}: expected a hex string", what=where)
    try:
        return bytes.fromhex(raw)
    except ValueError:
        raise FormatError(f"{where}: {raw!r} is not hex", what=where) from None


def _value(name: str, raw: object, where: str) -> Value:
    if spec_of(name).kind == BYTES:
        return hex_field(raw, where)
    if not isinstance(raw, (int, bool)):
        raise FormatError(f"{where}: expected a number or boolean", what=where)
    return raw


def parse_set_json(doc: dict[str, Any], source: str) -> RefValueSet:
    values = doc.get("values")
    if doc.get("schema") != SCHEMA or not isinstance(values, dict):
        raise FormatError(f"{source}: not a {SCHEMA} document", what=source)
    rvs = RefValueSet()
    for name, entries in values.items():
        where = f"{source} {name}"
        if not isinstance(entries, list):
            raise FormatError(f"{where}: expected a list of values", what=where)
        for entry in entries:
            if not isinstance(entry, dict) or "value" not in entry:
                raise FormatError(f"{where}: each entry is {{'value': ..., 'from': [...]}}", what=where)
            origins = entry.get("from") or [{"source": source}]
            if not isinstance(origins, list) or not all(isinstance(o, dict) for o in origins):
                raise FormatError(f"{where}: 'from' is a list of objects", what=where)
            value = _value(name, entry["value"], where)
            for origin in origins:
                try:
                    rvs.add(name, value, origin)
                except InputError as e:
                    raise FormatError(f"{source}: {e}", what=where) from None
    return rvs
