"""veraison/rust-ccatoken's JSON stores, as Trustee's local CCA verifier uses them.

Schema: rust-ccatoken ``src/store/data-model.cddl`` and its loaders ``src/store/*.rs``; Trustee keeps
its copies in ``deps/verifier/test_data/cca/conf/{tastore,rvstore}.json``. Byte strings are hex
(either case).

* **Trust-anchor store**: ``[{"instance-id": hex, "implementation-id": hex, "pkey": JWK}, ...]``: the
  CPAK of each platform instance. A token's CPAK is looked up by its instance id (claim 256).
* **Reference-value store**: ``{"platform": [{"implementation-id", "platform-configuration",
  "sw-components": [{"component-type"?, "measurement-value", "version"?, "signer-id",
  "hash-algo-id"?}]}], "realm": [{"initial-measurement", "extensible-measurements"?: [4],
  "personalization-value"?, "rak-hash-algorithm"}]}``; either list may be absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pvmkit.attest.cose_verify import key_from_jwk
from pvmkit.errors import FormatError
from pvmkit.formats.cca_token import SwComponent

if TYPE_CHECKING:
    from pvmkit.attest.cose_verify import PublicKey

__all__ = [
    "PlatformReference",
    "RealmReference",
    "ReferenceStore",
    "TrustAnchor",
    "parse_reference_store",
    "parse_trust_anchors",
]


@dataclass(frozen=True)
class TrustAnchor:
    instance_id: bytes
    implementation_id: bytes
    key: PublicKey


@dataclass(frozen=True)
class PlatformReference:
    implementation_id: bytes
    config: bytes
    sw_components: tuple[SwComponent, ...]


@dataclass(frozen=True)
class RealmReference:
    rim: bytes
    rems: tuple[bytes, ...] | None
    rpv: bytes | None
    rak_hash_algo: str


@dataclass(frozen=True)
class ReferenceStore:
    platform: tuple[PlatformReference, ...]
    realm: tuple[RealmReference, ...]


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise FormatError(f"{what}: not JSON ({exc})", what=what) from None


def _hex(obj: dict[str, Any], key: str, what: str, *, optional: bool = False) -> bytes | None:
    if key not in obj:
        if optional:
            return None
        raise FormatError(f"{what}: {key!r} is missing", what=what)
    value = obj[key]
    if not isinstance(value, str):
        raise FormatError(f"{what}: {key!r} must be a hex string", what=what)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise FormatError(f"{what}: {key!r} is not hex", what=what) from None


def _need(obj: dict[str, Any], key: str, what: str) -> bytes:
    value = _hex(obj, key, what)
    assert value is not None
    return value


def _text(obj: dict[str, Any], key: str, what: str, *, optional: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise FormatError(f"{what}: {key!r} must be a string", what=what)
    return value


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FormatError(f"{what}: expected a list of objects", what=what)
    return value


def parse_trust_anchors(data: bytes, what: str = "trust-anchor store") -> tuple[TrustAnchor, ...]:
    entries = _objects(_json(data, what), what)
    out = []
    for i, entry in enumerate(entries):
        where = f"{what} entry {i}"
        out.append(
            TrustAnchor(
                _need(entry, "instance-id", where),
                _need(entry, "implementation-id", where),
                key_from_jwk(entry.get("pkey"), f"{where} pkey"),
            )
        )
    return tuple(out)


def _component(obj: dict[str, Any], what: str) -> SwComponent:
    return SwComponent(
        measurement=_need(obj, "measurement-value", what),
        signer_id=_need(obj, "signer-id", what),
        component_type=_text(obj, "component-type", what),
        version=_text(obj, "version", what),
        hash_algo=_text(obj, "hash-algo-id", what),
    )


def parse_reference_store(data: bytes, what: str = "reference-value store") -> ReferenceStore:
    doc = _json(data, what)
    if not isinstance(doc, dict) or not set(doc) <= {"platform", "realm"} or not doc:
        raise FormatError(f"{what}: expected an object with 'platform' and/or 'realm' lists", what=what)
    platforms = []
    for i, entry in enumerate(_objects(doc.get("platform", []), f"{what} platform")):
        where = f"{what} platform entry {i}"
        components = _objects(entry.get("sw-components"), f"{where} sw-components")
        platforms.append(
            PlatformReference(
                _need(entry, "implementation-id", where),
                _need(entry, "platform-configuration", where),
                tuple(_component(c, f"{where} component {j}") for j, c in enumerate(components)),
            )
        )
    realms = []
    for i, entry in enumerate(_objects(doc.get("realm", []), f"{what} realm")):
        where = f"{what} realm entry {i}"
        rems = entry.get("extensible-measurements")
        if rems is not None and (not isinstance(rems, list) or len(rems) != 4):
            raise FormatError(f"{where}: 'extensible-measurements' must be a list of 4", what=where)
        realms.append(
            RealmReference(
                _need(entry, "initial-measurement", where),
                None if rems is None else tuple(_need({"v": r}, "v", f"{where} REM") for r in rems),
                _hex(entry, "personalization-value", where, optional=True),
                _text(entry, "rak-hash-algorithm", where, optional=False) or "",
            )
        )
    return ReferenceStore(tuple(platforms), tuple(realms))
