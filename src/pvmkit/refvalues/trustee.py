"""Trustee's Reference Value Provider Service (RVPS): the ``sample`` provenance and its message.

Facts from confidential-containers/trustee (``rvps/src/lib.rs``, ``rvps/src/extractors/sample``,
``tools/kbs-client``): a registration message is the JSON object
``{"version": "0.1.0", "type": "sample", "payload": <base64 of the provenance>}`` (``version`` must be
exactly ``0.1.0``; the field is ``payload``); the ``sample`` provenance is a JSON object whose every
member becomes one stored reference value, named by its key, holding the member's JSON value
verbatim. Registering a name again replaces its value, so every acceptable value of a name goes into
one list. The ``corim`` message type carries a base64 unsigned CoRIM instead (read by
:mod:`pvmkit.refvalues.read`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pvmkit.errors import FormatError, InputError
from pvmkit.refvalues.model import RefValueSet, Value
from pvmkit.refvalues.names import (
    B64_LIST,
    BOOL_BARE,
    HEX_BARE,
    HEX_LIST,
    INT_LIST,
    NameSpec,
    spec_of,
)

__all__ = ["MESSAGE_VERSION", "message", "parse_message", "parse_provenance", "provenance"]

MESSAGE_VERSION = "0.1.0"
LITERAL = {"source": "trustee"}


def _encode(spec: NameSpec, value: Value) -> str | int | bool:
    if spec.encoding in (HEX_LIST, HEX_BARE):
        assert isinstance(value, bytes)
        return value.hex()
    if spec.encoding == B64_LIST:
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode()
    assert not isinstance(value, bytes)
    return value


def provenance(rvs: RefValueSet) -> dict[str, Any]:
    """The decoded ``sample`` provenance: lists for ``in`` names, bare values for ``==`` names (a set
    with several values for one of those is refused)."""
    rvs.require_single()
    out: dict[str, Any] = {}
    for name, values in rvs:
        spec = spec_of(name)
        encoded = [_encode(spec, v) for v in values]
        out[name] = encoded[0] if spec.single else encoded
    return out


def message(rvs: RefValueSet) -> dict[str, str]:
    """The RVPS registration message (what ``kbs-client`` posts and RVPS's gRPC takes)."""
    payload = json.dumps(provenance(rvs), separators=(",", ":")).encode()
    return {"version": MESSAGE_VERSION, "type": "sample", "payload": base64.b64encode(payload).decode()}


def _decode(spec: NameSpec, item: object, where: str) -> Value:
    if spec.encoding in (HEX_LIST, HEX_BARE, B64_LIST):
        if not isinstance(item, str):
            raise FormatError(f"{where}: expected a string, got {type(item).__name__}", what=where)
        try:
            if spec.encoding == B64_LIST:
                return base64.b64decode(item, validate=True)
            return bytes.fromhex(item)
        except (ValueError, binascii.Error):
            kind = "base64" if spec.encoding == B64_LIST else "hex"
            raise FormatError(f"{where}: {item!r} is not {kind}", what=where) from None
    if spec.encoding == BOOL_BARE:
        if not isinstance(item, bool):
            raise FormatError(f"{where}: expected true or false, got {item!r}", what=where)
        return item
    if isinstance(item, bool) or not isinstance(item, int):
        raise FormatError(f"{where}: expected an integer, got {item!r}", what=where)
    return item


def parse_provenance(doc: object, source: str = "provenance") -> RefValueSet:
    """A ``sample`` provenance (decoded JSON) → :class:`RefValueSet`. Unknown names, wrong encodings
    (a bare value where the policy needs a list, or the reverse) and bad hex/base64 are refused."""
    if not isinstance(doc, dict) or not doc:
        raise FormatError(f"{source}: a Trustee provenance is a non-empty JSON object", what=source)
    rvs = RefValueSet()
    for name, raw in doc.items():
        try:
            spec = spec_of(name)
        except InputError as e:  # name the file: several --expect files may be given
            raise InputError(f"{source}: {e}") from None
        where = f"{source} {name}"
        if spec.encoding in (HEX_LIST, INT_LIST, B64_LIST):
            if not isinstance(raw, list) or not raw:
                raise FormatError(f"{where}: the policy tests 'in', so it needs a non-empty list", what=where)
            items = raw
        else:
            if isinstance(raw, list):
                raise FormatError(f"{where}: the policy tests '==', so it needs one bare value", what=where)
            items = [raw]
        for item in items:
            try:
                rvs.add(name, _decode(spec, item, where), {"source": source})
            except InputError as e:
                raise FormatError(f"{source}: {e}", what=where) from None
    return rvs


def parse_message(doc: object, source: str = "message") -> tuple[str, bytes]:
    """A registration message → (type, payload bytes). Only version ``0.1.0`` exists."""
    if not isinstance(doc, dict) or set(doc) != {"version", "type", "payload"}:
        raise FormatError(f"{source}: not a Trustee RVPS message (version, type, payload)", what=source)
    if doc["version"] != MESSAGE_VERSION:
        raise FormatError(
            f"{source}: RVPS message version {doc['version']!r} is not {MESSAGE_VERSION}", what=source
        )
    kind, payload = doc["type"], doc["payload"]
    if not isinstance(kind, str) or not isinstance(payload, str):
        raise FormatError(f"{source}: type and payload must be strings", what=source)
    try:
        return kind, base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise FormatError(f"{source}: payload is not base64", what=source) from None
