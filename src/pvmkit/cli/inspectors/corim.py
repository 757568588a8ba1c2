"""CoRIMs for ``pvmkit inspect`` (``corim``): an unsigned CoRIM (tag 501, optionally in a 500/502
wrapper), a COSE_Sign1-signed one (tag 18 whose payload is a tag-501 CoRIM), or, with ``--type corim``,
a bare CoMID; read through pvmkit's CoRIM model (:mod:`pvmkit.refvalues.corim`), shown with the
reference values pvmkit reads from it where its profile is one pvmkit knows. Signatures are not
verified here (``pvmkit verify --expect FILE --corim-key KEY`` does)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, register
from pvmkit.errors import PvmkitError

__all__: list[str] = []

#: tag 501 (unsigned CoRIM) and the wrappers 500/502 the model accepts around it, as CBOR heads
#: (major type 6, two-byte tag number: d9 01 f4..f6; draft-ietf-rats-corim cbor-tags.txt)
_UNSIGNED_HEADS = (b"\xd9\x01\xf4", b"\xd9\x01\xf5", b"\xd9\x01\xf6")


#: the content type a signed CoRIM's protected header carries (draft-ietf-rats-corim, "Signed CoRIM")
_RIM_CONTENT_TYPE = "application/rim+cbor"


def _detect(data: bytes) -> bool:
    """Tag 500/501/502 at the start, or a tag-18 COSE_Sign1 (``d2 84``, RFC 9052 §4.2) whose payload
    starts with tag 501 or whose protected header's content type (label 3) is a CoRIM's: a CCA
    platform token is a tagged COSE_Sign1 too, with neither."""
    if data[:3] in _UNSIGNED_HEADS:
        return True
    if data[:2] != b"\xd2\x84" or len(data) > 1 << 20:
        return False
    from pvmkit.refvalues.corim import decode_cbor

    body = decode_cbor(data, "CoRIM").value
    protected, payload = body[0], body[2]
    if isinstance(payload, bytes) and payload[:3] == b"\xd9\x01\xf5":
        return True
    headers = decode_cbor(protected, "COSE protected header") if protected else {}
    return isinstance(headers, dict) and headers.get(3) == _RIM_CONTENT_TYPE


def _parse(data: bytes) -> Any:
    from pvmkit.refvalues.corim import parse_any

    return parse_any(data, "CoRIM")


def _cbor_json(item: Any) -> Any:
    """A decoded CBOR item as JSON: tags as ``{"tag": N, "value": …}``, bytes as hex, map keys as text."""
    import cbor2

    if isinstance(item, cbor2.CBORTag):
        return {"tag": item.tag, "value": _cbor_json(item.value)}
    if isinstance(item, bytes):
        return item.hex()
    if isinstance(item, dict):
        return {str(k): _cbor_json(v) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [_cbor_json(v) for v in item]
    if isinstance(item, (datetime.datetime, uuid.UUID)):
        return str(item)
    return item


def _json(model: Any) -> dict[str, Any]:
    from pvmkit.refvalues.corim import Comid, SignedCorim

    if isinstance(model, Comid):
        return {"kind": "comid", "comid": _cbor_json(model.to_item())}
    out: dict[str, Any] = {"kind": "corim"}
    corim = model
    if isinstance(model, SignedCorim):
        out = {
            "kind": "signed-corim",
            "alg": model.envelope.alg,
            "protected_header": _cbor_json(model.headers),
            "signature_verified": False,
        }
        corim = model.corim
    out.update(
        {
            "id": _cbor_json(corim.id),
            "profile": corim.profile_id,
            "validity": _cbor_json(corim.validity),
            "comids": [_cbor_json(c.to_item()) for c in corim.comids()],
            "other_tags": len(corim.tags) - len(corim.comids()),
        }
    )
    out.update(_reference_values(corim))
    return out


def _reference_values(corim: Any) -> dict[str, Any]:
    """``reference_values`` (name → values, bytes as hex) as ``verify --expect`` reads them, or
    ``reference_values_error`` saying why it would refuse this CoRIM (no or an unknown profile, ...)."""
    from pvmkit.refvalues.corim_profiles import corim_values

    try:
        rvs = corim_values(corim, "the CoRIM")
    except PvmkitError as e:
        return {"reference_values": None, "reference_values_error": str(e)}
    return {
        "reference_values": {
            name: [v.hex() if isinstance(v, bytes) else v for v in values] for name, values in rvs
        }
    }


register(
    Inspector(
        "corim",
        "CoRIM (reference values; a signed CoRIM's signature is not verified)",
        _detect,
        _parse,
        None,
        _json,
    ),
    rank=54,  # before cca-platform-token (55), which claims every tagged COSE_Sign1
)
