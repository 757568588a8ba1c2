"""COSE_Sign1 signature verification and the public keys it takes (``cryptography``, imported lazily).

* Keys are read from PEM or DER SubjectPublicKeyInfo, a JWK (RFC 7517/7518 §6.2: ``kty`` EC with
  ``crv`` P-256/P-384/P-521 and base64url ``x``/``y``; RFC 8037: ``kty`` OKP, ``crv`` Ed25519), a
  COSE_Key (RFC 9052 §7) or a raw SEC1 uncompressed point ``04 ‖ X ‖ Y`` (SEC 1 v2 §2.3.3; how the
  legacy CCA realm token carries its RAK).
* ECDSA signatures in COSE are ``r ‖ s``, each the curve's coordinate size, big-endian (RFC 9053
  §2.1); ``cryptography`` wants DER, so they are re-encoded. The key must be on the curve the
  algorithm names (ES256 → P-256, ES384 → P-384, ES512 → P-521; EdDSA → Ed25519): a key of another
  curve is a :class:`~pvmkit.errors.SignatureError`, as is a signature that does not verify.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from pvmkit.attest._x509 import foreign_parse
from pvmkit.errors import FormatError, SignatureError, UnsupportedVersionError
from pvmkit.formats.cbor import decode
from pvmkit.formats.cose import ALGORITHMS, CoseKey, Sign1, parse_cose_key, sig_structure

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    PublicKey = EllipticCurvePublicKey | Ed25519PublicKey

__all__ = [
    "key_curve",
    "key_from_cose",
    "key_from_jwk",
    "key_from_point",
    "load_public_key",
    "raw_public_point",
    "verify_sign1",
]

_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _ec_curve(name: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    curves: dict[str, ec.EllipticCurve] = {
        "P-256": ec.SECP256R1(),
        "P-384": ec.SECP384R1(),
        "P-521": ec.SECP521R1(),
    }
    return curves[name]


def key_curve(key: PublicKey) -> str:
    """P-256, P-384, P-521 or Ed25519."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_CURVES.get(key.curve.name, key.curve.name)
    return "Ed25519"


def key_from_cose(key: CoseKey, what: str) -> PublicKey:
    """The public key of a parsed COSE_Key (FormatError when the point is not on its curve)."""
    if key.curve == "Ed25519":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return Ed25519PublicKey.from_public_bytes(key.x)
    return key_from_point(b"\x04" + key.x + key.y, what, curve=key.curve)


def key_from_point(point: bytes, what: str, *, curve: str | None = None) -> PublicKey:
    """An EC public key from a SEC1 uncompressed point; the curve follows from the length (65, 97 or
    133 bytes) unless given."""
    from cryptography.hazmat.primitives.asymmetric import ec

    by_size = {65: "P-256", 97: "P-384", 133: "P-521"}
    name = curve or by_size.get(len(point))
    if name is None or not point.startswith(b"\x04") or by_size.get(len(point)) != name:
        raise FormatError(
            f"{what}: not an uncompressed P-256/P-384/P-521 point ({len(point)} bytes)", what=what
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_ec_curve(name), point)
    except ValueError:
        raise FormatError(f"{what}: the point is not on {name}", what=what) from None


def raw_public_point(key: PublicKey) -> bytes:
    """The SEC1 uncompressed point of an EC key (raw bytes of an Ed25519 key)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if key_curve(key) == "Ed25519":
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _b64url(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{what}: a JWK coordinate is a base64url string", what=what)
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise FormatError(f"{what}: {value[:20]!r} is not base64url", what=what) from None


def key_from_jwk(jwk: object, what: str) -> PublicKey:
    """The public key of a JWK object (private member ``d`` is ignored)."""
    if not isinstance(jwk, dict):
        raise FormatError(f"{what}: a JWK is a JSON object", what=what)
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv in ("P-256", "P-384", "P-521"):
        size = {"P-256": 32, "P-384": 48, "P-521": 66}[crv]
        x, y = _b64url(jwk.get("x"), what), _b64url(jwk.get("y"), what)
        if len(x) != size or len(y) != size:
            raise FormatError(f"{what}: {crv} JWK coordinates must be {size} bytes", what=what)
        return key_from_point(b"\x04" + x + y, what, curve=crv)
    if kty == "OKP" and crv == "Ed25519":
        return key_from_cose(CoseKey("Ed25519", _b64url(jwk.get("x"), what), b""), what)
    raise UnsupportedVersionError(f"{what}: JWK kty {kty!r} crv {crv!r} is not supported", what=what)


def load_public_key(data: bytes, what: str) -> PublicKey:
    """A public key from PEM, DER SubjectPublicKeyInfo, JWK (JSON) or COSE_Key (CBOR) bytes."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    head = data.lstrip()[:1]
    if data.lstrip().startswith(b"-----BEGIN"):
        with foreign_parse(what, "not a PEM public key"):  # an unknown curve, a bad encoding, ...
            key = load_pem_public_key(data)
    elif head == b"{":
        try:
            jwk = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            raise FormatError(f"{what}: not valid JSON", what=what) from None
        return key_from_jwk(jwk, what)
    elif head == b"\x30":  # DER SEQUENCE: SubjectPublicKeyInfo
        with foreign_parse(what, "not a DER public key"):
            key = load_der_public_key(data)
    else:
        return key_from_cose(parse_cose_key(decode(data, what=what), what), what)
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise UnsupportedVersionError(f"{what}: {type(key).__name__} is not an EC or Ed25519 key", what=what)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _EC_CURVES:
        raise UnsupportedVersionError(f"{what}: curve {key.curve.name} is not supported", what=what)
    return key


def verify_sign1(sign1: Sign1, key: PublicKey, what: str) -> None:
    """SignatureError unless ``sign1``'s signature verifies with ``key`` under its header algorithm."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    name, curve, hash_name, size = ALGORITHMS[sign1.alg]
    have = key_curve(key)
    if have != curve:
        raise SignatureError(
            f"{what}: {name} needs a {curve} key, the key given is {have}",
            field=f"{what}.key",
            expected=curve,
            actual=have,
        )
    message = sig_structure(sign1)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if len(sign1.signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(sign1.signature[:size], "big")
            s = int.from_bytes(sign1.signature[size:], "big")
            digests: dict[str, hashes.HashAlgorithm] = {
                "sha256": hashes.SHA256(),
                "sha384": hashes.SHA384(),
                "sha512": hashes.SHA512(),
            }
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(digests[hash_name]))
        else:
            key.verify(sign1.signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"{what}: the {name} signature does not verify", field=f"{what}.signature"
        ) from None
