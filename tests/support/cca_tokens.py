"""Mint Arm CCA tokens for tests from the fixture claim sets and the fixture test keys.

Independent of pvmkit's COSE code: CBOR by cbor2, the COSE_Sign1 ``Sig_structure`` built here from
RFC 9052 §4.4, ECDSA by ``cryptography``. Keys: the TF-A/TF-RMM test CPAK
(``veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pem``), the RAK
(``tf-m-tools/iat-verifier/tests/data/cca_realm.pem``) and a second realm key (``cca_realm2.pem``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from support.fixtures import read_fixture

CPAK_PEM = "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pem"
CPAK_PUB = "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub"
RAK_PEM = "tf-m-tools/iat-verifier/tests/data/cca_realm.pem"
RAK2_PEM = "tf-m-tools/iat-verifier/tests/data/cca_realm2.pem"
TA_STORE = "trustee/deps/verifier/test_data/cca/conf/tastore.json"
RV_STORE = "trustee/deps/verifier/test_data/cca/conf/rvstore.json"

G1_TOKEN = "veraison-ccatoken/realm/testvectors/tf-rmm/cca_token.cbor"
TRUSTEE_TOKEN = "trustee/deps/verifier/test_data/cca/misc/cca-example-token.cbor"
G2_TOKEN = "veraison-rust-ccatoken/testdata/cca-token-draft-ffm-00.cbor"
G3_TOKEN = "tf-m-tools/iat-verifier/tests/data/cca_example_token.cbor"
BUG33_TOKEN = "veraison-rust-ccatoken/testdata/bug-33-repro.cbor"

_ALGS = {
    "secp256r1": (-7, hashes.SHA256, 32),
    "secp384r1": (-35, hashes.SHA384, 48),
    "secp521r1": (-36, hashes.SHA512, 66),
}


def private_key(relative: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(read_fixture(relative), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def sign1(claims: dict[Any, Any], key: ec.EllipticCurvePrivateKey, *, alg: int | None = None) -> bytes:
    """A tagged COSE_Sign1 over ``claims`` (``alg`` overrides the header, not the signing curve)."""
    header_alg, digest, size = _ALGS[key.curve.name]
    protected = cbor2.dumps({1: header_alg if alg is None else alg})
    payload = cbor2.dumps(claims)
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(digest())))
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def claims_of(token: bytes) -> tuple[int, dict[Any, Any], dict[Any, Any]]:
    """(collection tag, platform claims, realm claims) of a fixture token, decoded with cbor2."""
    top = cbor2.loads(token)
    entries = []
    for key in (44234, 44241):
        entry = top.value[key]
        inner = entry if isinstance(entry, bytes) else entry[1]
        entries.append(dict(cbor2.loads(cbor2.loads(inner).value[2])))
    return top.tag, entries[0], entries[1]


def cose_key_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """The RAK as a COSE_Key the way TF-RMM encodes it: {1: 2, -1: crv, -2: x, -3: y}."""
    numbers = key.public_numbers()
    crv, _, size = {"secp256r1": (1, 0, 32), "secp384r1": (2, 0, 48), "secp521r1": (3, 0, 66)}[key.curve.name]
    return cbor2.dumps(
        {1: 2, -1: crv, -2: numbers.x.to_bytes(size, "big"), -3: numbers.y.to_bytes(size, "big")}
    )


def raw_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def bind(platform: dict[Any, Any], realm: dict[Any, Any]) -> None:
    """Set the platform challenge to the RAK hash named by the realm's claim 44240."""
    name = realm[44240].replace("-", "")
    platform[10] = hashlib.new(name, realm[44237]).digest()


def collection(platform_token: bytes, realm_token: bytes, *, tag: int = 399) -> bytes:
    if tag == 907:
        body: dict[int, Any] = {44234: [263, platform_token], 44241: [263, realm_token]}
    else:
        body = {44234: platform_token, 44241: realm_token}
    return cbor2.dumps(cbor2.CBORTag(tag, body))


def mint(
    platform: dict[Any, Any],
    realm: dict[Any, Any],
    *,
    tag: int = 399,
    platform_key: str = CPAK_PEM,
    realm_key: str = RAK_PEM,
    rebind: bool = True,
) -> bytes:
    """A whole token from claim sets (copied), re-bound unless ``rebind`` is False."""
    platform, realm = dict(platform), dict(realm)
    if rebind:
        bind(platform, realm)
    return collection(
        sign1(platform, private_key(platform_key)), sign1(realm, private_key(realm_key)), tag=tag
    )
