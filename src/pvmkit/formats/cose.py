"""COSE structures attestation tokens use (RFC 9052, RFC 9053): COSE_Sign1 and EC2/OKP COSE_Keys.

Parsing only; :mod:`pvmkit.attest.cose_verify` checks signatures.

* **COSE_Sign1** (RFC 9052 §4.2): ``18([protected: bstr .cbor header_map, unprotected: header_map,
  payload: bstr, signature: bstr])``. The algorithm is header label 1 in the protected map (RFC 9052
  §3.1); the bytes signed are ``Sig_structure = ["Signature1", protected, external_aad, payload]``
  (§4.4), with an empty ``external_aad`` for attestation tokens. COSE_Mac0 (tag 17), COSE_Sign (98),
  COSE_Mac (97) and COSE_Encrypt(0) (96, 16) are other messages and refused by name.
* **COSE_Key** (RFC 9052 §7, RFC 9053 §7.1): ``{1: kty, -1: crv, -2: x, -3: y}``; kty 2 = EC2 with
  crv 1/2/3 = P-256/P-384/P-521 (RFC 9053 Table 18), kty 1 = OKP with crv 6 = Ed25519. The y
  coordinate must be given as bytes (the compressed "sign bit" form is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pvmkit.errors import FormatError, UnsupportedVersionError
from pvmkit.formats.cbor import Tag, decode, encode

__all__ = [
    "ALGORITHMS",
    "TAG_SIGN1",
    "CoseKey",
    "Sign1",
    "parse_cose_key",
    "parse_sign1",
    "sig_structure",
]

TAG_SIGN1 = 18
_OTHER_MESSAGES = {16: "COSE_Encrypt0", 17: "COSE_Mac0", 96: "COSE_Encrypt", 97: "COSE_Mac", 98: "COSE_Sign"}

#: COSE algorithm id → (name, curve, hash, coordinate size) for the signature algorithms pvmkit
#: verifies (RFC 9053 §2.1 ECDSA, Table 1; §2.2 EdDSA, Table 2).
ALGORITHMS: dict[int, tuple[str, str, str, int]] = {
    -7: ("ES256", "P-256", "sha256", 32),
    -35: ("ES384", "P-384", "sha384", 48),
    -36: ("ES512", "P-521", "sha512", 66),
    -8: ("EdDSA", "Ed25519", "", 32),
}

#: COSE_Key (kty, crv) → curve name (RFC 9053 Tables 17 and 18)
_CURVES = {(2, 1): "P-256", (2, 2): "P-384", (2, 3): "P-521", (1, 6): "Ed25519"}
_COORDINATE = {"P-256": 32, "P-384": 48, "P-521": 66, "Ed25519": 32}


@dataclass(frozen=True)
class Sign1:
    """A COSE_Sign1: ``protected`` as carried (the serialized header map, signed), its decoded
    ``headers``, the ``unprotected`` map, ``payload`` and ``signature`` bytes, and ``alg``."""

    protected: bytes
    headers: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes
    alg: int

    @property
    def alg_name(self) -> str:
        return ALGORITHMS[self.alg][0]


def parse_sign1(item: Any, what: str) -> Sign1:
    """A tagged COSE_Sign1 from a decoded CBOR item (:func:`pvmkit.formats.cbor.decode`)."""
    if isinstance(item, Tag) and item.tag in _OTHER_MESSAGES:
        raise FormatError(
            f"{what}: a {_OTHER_MESSAGES[item.tag]} (tag {item.tag}), not a COSE_Sign1", what=what
        )
    if not isinstance(item, Tag) or item.tag != TAG_SIGN1:
        got = f"tag {item.tag}" if isinstance(item, Tag) else type(item).__name__
        raise FormatError(f"{what}: not a tagged COSE_Sign1 (tag 18), got {got}", what=what)
    body = item.value
    if not isinstance(body, list) or len(body) != 4:
        raise FormatError(f"{what}: a COSE_Sign1 is an array of 4 items", what=what)
    protected, unprotected, payload, signature = body
    if not isinstance(protected, bytes):
        raise FormatError(f"{what}: the protected header is not a byte string", what=what)
    headers = decode(protected, what=f"{what} protected header") if protected else {}
    if not isinstance(headers, dict):
        raise FormatError(f"{what}: the protected header is not a map", what=what)
    if not isinstance(unprotected, dict):
        raise FormatError(f"{what}: the unprotected header is not a map", what=what)
    if not isinstance(payload, bytes):
        raise FormatError(
            f"{what}: the payload is not a byte string (detached payloads are not tokens)", what=what
        )
    if not isinstance(signature, bytes):
        raise FormatError(f"{what}: the signature is not a byte string", what=what)
    if 1 in unprotected:
        raise FormatError(f"{what}: the algorithm must be a protected header", what=what)
    if 1 not in headers:
        raise FormatError(f"{what}: no algorithm (header 1) in the protected header", what=what)
    alg = headers[1]
    if isinstance(alg, bool) or not isinstance(alg, int):
        raise FormatError(f"{what}: the algorithm header is not an integer: {alg!r}", what=what)
    if alg not in ALGORITHMS:
        raise UnsupportedVersionError(
            f"{what}: COSE algorithm {alg} is not one of ES256 (-7), ES384 (-35), ES512 (-36), EdDSA (-8)",
            what=what,
        )
    return Sign1(protected, headers, unprotected, payload, signature, alg)


def sig_structure(sign1: Sign1, external_aad: bytes = b"") -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 §4.4)."""
    return encode(["Signature1", sign1.protected, external_aad, sign1.payload])


@dataclass(frozen=True)
class CoseKey:
    """A public key: ``curve`` (P-256, P-384, P-521, Ed25519) and its coordinates (``y`` empty for
    Ed25519)."""

    curve: str
    x: bytes
    y: bytes


def parse_cose_key(item: Any, what: str) -> CoseKey:
    """A public COSE_Key from a decoded CBOR map (private parts, label -4, are ignored)."""
    if not isinstance(item, dict):
        raise FormatError(f"{what}: a COSE_Key is a map", what=what)
    kty, crv = item.get(1), item.get(-1)
    if kty not in (1, 2) or isinstance(kty, bool):
        raise UnsupportedVersionError(f"{what}: COSE key type {kty!r} is not EC2 (2) or OKP (1)", what=what)
    curve = _CURVES.get((kty, crv)) if isinstance(crv, int) and not isinstance(crv, bool) else None
    if curve is None:
        raise UnsupportedVersionError(
            f"{what}: COSE curve {crv!r} is not supported for key type {kty}", what=what
        )
    size = _COORDINATE[curve]
    x = item.get(-2)
    if not isinstance(x, bytes) or len(x) != size:
        raise FormatError(f"{what}: {curve} x coordinate must be {size} bytes", what=what)
    if kty == 1:
        return CoseKey(curve, x, b"")
    y = item.get(-3)
    if not isinstance(y, bytes) or len(y) != size:
        raise FormatError(
            f"{what}: {curve} y coordinate must be {size} bytes (compressed points are not taken)", what=what
        )
    return CoseKey(curve, x, y)
