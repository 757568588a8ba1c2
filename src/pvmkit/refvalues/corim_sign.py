"""Signed CoRIMs: COSE_Sign1 (RFC 9052 §4.2) over a tagged CoRIM, as draft-ietf-rats-corim §4.2 lays out.

Writing: ``18([protected, {}, payload, signature])`` with the protected header
``{1: alg, 3: "application/rim+cbor", 8: bstr .cbor corim-meta}`` (corim-meta = ``{0: {0: signer
name}, ? 1: {? 0: not-before, 1: not-after}}``, times as tag 1); ES256 with a P-256 key, ES384 with a
P-384 key (RFC 9053 §2.1: the signature is ``r ‖ s``, each the curve's coordinate size).

Reading: the signature is checked with :func:`pvmkit.attest.cose_verify.verify_sign1` (the key as
PEM, DER, JWK or COSE_Key), then every validity period the CoRIM states must contain the evaluation
time: corim-meta's signature-validity (protected header 8), the CWT claims ``nbf``/``exp`` (header 15),
and the corim-map's rim-validity (key 4). A CoRIM whose validity has ended verifies with an explicit
time (``--at``), as Veraison's verifier takes the time from its caller.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pvmkit.attest._x509 import foreign_parse
from pvmkit.errors import FormatError, InputError, SignatureError
from pvmkit.formats.cose import Sign1
from pvmkit.refvalues.corim import Corim, SignedCorim, decode_cbor, encode_cbor

__all__ = ["CONTENT_TYPE", "sign_corim", "verify_signed_corim"]

CONTENT_TYPE = "application/rim+cbor"
_ALG_OF_CURVE = {"secp256r1": (-7, "sha256", 32), "secp384r1": (-35, "sha384", 48)}


def _key_problem(pem: bytes) -> str:
    """Why bytes that cryptography did not load are no usable signing key (RFC 7468 PEM framing)."""
    if b"-----BEGIN " not in pem:
        return "the CoRIM signing key is not PEM (no '-----BEGIN' line): give an EC private key in PEM"
    if b"ENCRYPTED" in pem:
        return "the CoRIM signing key is encrypted: give an unencrypted PEM private key"
    return (
        "the CoRIM signing key does not load as a PEM private key "
        "(an EC P-256 or P-384 key, PKCS #8 or SEC 1, unencrypted)"
    )


def sign_corim(
    corim: Corim,
    private_key_pem: bytes,
    *,
    signer: str,
    not_after: _dt.datetime | None = None,
    not_before: _dt.datetime | None = None,
) -> SignedCorim:
    """Sign ``corim`` (written as tag 501) with an EC P-256 (ES256) or P-384 (ES384) private key (PEM)."""
    import cbor2
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    # any cryptography failure (an unknown curve raises UnsupportedAlgorithm) is one InputError, in
    # pvmkit's words (cryptography's own text points to its FAQ)
    try:
        with foreign_parse("", "", InputError):
            key = serialization.load_pem_private_key(private_key_pem, password=None)
    except InputError:
        raise InputError(_key_problem(private_key_pem)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _ALG_OF_CURVE:
        raise InputError("the CoRIM signing key must be EC P-256 (ES256) or P-384 (ES384)")
    alg, hash_name, size = _ALG_OF_CURVE[key.curve.name]
    meta: dict[int, Any] = {0: {0: signer}}
    if not_after is not None:
        validity: dict[int, Any] = {1: cbor2.CBORTag(1, int(not_after.timestamp()))}
        if not_before is not None:
            validity = {0: cbor2.CBORTag(1, int(not_before.timestamp())), **validity}
        meta[1] = validity
    protected = encode_cbor({1: alg, 3: CONTENT_TYPE, 8: encode_cbor(meta)})
    payload = corim.to_bytes()
    message = encode_cbor(["Signature1", protected, b"", payload])
    digest: hashes.HashAlgorithm = hashes.SHA256() if hash_name == "sha256" else hashes.SHA384()
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    headers = decode_cbor(protected, "protected header")
    return SignedCorim(Sign1(protected, headers, {}, payload, signature, alg), corim)


def _time(value: Any, what: str) -> _dt.datetime:
    import cbor2

    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        value = value.value
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    raise FormatError(f"{what}: {value!r} is not a time", what=what)


def _periods(signed: SignedCorim) -> list[tuple[str, _dt.datetime | None, _dt.datetime | None]]:
    """(what, not before, not after) of every validity period the signed CoRIM states."""
    out: list[tuple[str, _dt.datetime | None, _dt.datetime | None]] = []
    meta_raw = signed.headers.get(8)
    if meta_raw is not None:
        meta = decode_cbor(meta_raw, "corim-meta") if isinstance(meta_raw, bytes) else meta_raw
        validity = meta.get(1) if isinstance(meta, dict) else None
        if isinstance(validity, dict):
            out.append(
                (
                    "signature-validity",
                    _time(validity[0], "not-before") if 0 in validity else None,
                    _time(validity[1], "not-after") if 1 in validity else None,
                )
            )
    cwt = signed.headers.get(15)
    if isinstance(cwt, dict) and (4 in cwt or 5 in cwt):
        out.append(
            (
                "CWT claims",
                _time(cwt[5], "nbf") if 5 in cwt else None,
                _time(cwt[4], "exp") if 4 in cwt else None,
            )
        )
    rim = signed.corim.validity
    if isinstance(rim, dict):
        out.append(
            (
                "rim-validity",
                _time(rim[0], "not-before") if 0 in rim else None,
                _time(rim[1], "not-after") if 1 in rim else None,
            )
        )
    return out


def verify_signed_corim(signed: SignedCorim, key: bytes, *, at: _dt.datetime | None, what: str) -> None:
    """SignatureError unless the signature verifies with ``key`` and ``at`` (default now) lies in
    every validity period the CoRIM states."""
    from pvmkit.attest.cose_verify import load_public_key, verify_sign1
    from pvmkit.formats.cose import ALGORITHMS

    alg = signed.headers.get(1)
    if alg not in ALGORITHMS:
        raise FormatError(f"{what}: COSE algorithm {alg!r} is not one pvmkit verifies", what=what)
    content_type = signed.headers.get(3)
    if content_type is not None and content_type != CONTENT_TYPE:
        raise FormatError(f"{what}: content type {content_type!r} is not {CONTENT_TYPE}", what=what)
    verify_sign1(signed.envelope, load_public_key(key, f"{what} key"), what)
    when = at or _dt.datetime.now(_dt.timezone.utc)
    for name, start, end in _periods(signed):
        if (start is not None and when < start) or (end is not None and when > end):
            span = f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"
            raise SignatureError(
                f"{what}: {when.isoformat(timespec='seconds')} is outside the CoRIM's {name} ({span}); "
                "give the evaluation time with --at",
                field=f"{what}.{name}",
            )
