"""Arm CCA tokens: every fixture token's verdict and claims, and every failure class the spec lists,
on tokens minted from the fixture claim sets with the fixture test keys (tests/support/cca_tokens.py).

Expected claim values and verdicts come from the upstream projects that published the tokens
(tests/vectors/README.md, "Arm CCA tokens"), not from pvmkit.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest

from pvmkit.attest.cca_store import parse_reference_store, parse_trust_anchors
from pvmkit.attest.cca_verify import CcaExpected, verify_token
from pvmkit.attest.cose_verify import load_public_key
from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.cca_token import parse_platform_token, parse_token
from support.cca_tokens import (
    BUG33_TOKEN,
    CPAK_PEM,
    CPAK_PUB,
    G1_TOKEN,
    G2_TOKEN,
    G3_TOKEN,
    RAK2_PEM,
    RAK_PEM,
    RV_STORE,
    TA_STORE,
    TRUSTEE_TOKEN,
    claims_of,
    collection,
    cose_key_bytes,
    mint,
    private_key,
    raw_point,
    sign1,
)
from support.fixtures import read_fixture

FOX = b"The quick brown fox jumps over 13 lazy dogs.The quick brown fox "
DRAFT_RIM = bytes.fromhex("311314ab73620350cf758834ae5c65d9e8c2dc7febe6e7d9654bbe864e300d49")
TRUSTEE_RIM = bytes.fromhex(
    "ae87fbf7f105e71a7827cb6f0896889c73d2beaf4830d4f9cb05e3e96c3fc7b4"
    "faa04caf36a26bd094cf9c7b738617e4c189aaee184dedda5d7a03c39dbdac7c"
)
INSTANCE_ID = bytes.fromhex("0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918")
IMPL_ID = bytes.fromhex("7f454c4602010100000000000000000003003e00010000005058000000000000")


def cpak() -> Any:
    return load_public_key(read_fixture(CPAK_PUB), "cpak")


def anchors() -> Any:
    return parse_trust_anchors(read_fixture(TA_STORE))


def status(result: Any, name: str) -> str:
    check = result.checks.get(name)
    assert check is not None, name
    return str(check.status)


# -- the fixture tokens (spec table: upstream verdicts) ------------------------------------------------
@pytest.mark.parametrize(
    ("relative", "generation"),
    [(G1_TOKEN, "G1"), (TRUSTEE_TOKEN, "G1"), (G2_TOKEN, "G2"), (G3_TOKEN, "G3")],
)
def test_fixture_tokens_verify(relative: str, generation: str) -> None:
    token = parse_token(read_fixture(relative))
    assert token.generation == generation
    for key in ({"cpak": cpak()}, {"trust_anchors": anchors()}):
        result = verify_token(token, **key)
        assert result.ok, result.checks.text_lines()
        for name in (
            "platform.trust-anchor",
            "platform.signature",
            "realm.signature",
            "binding",
            "platform.lifecycle",
        ):
            assert status(result, name) == "passed"
        assert status(result, "realm.challenge") == "not_performed"


def test_g1_claims_tf_rmm() -> None:
    """veraison/ccatoken tf-rmm cca_token.cbor = rust-ccatoken cca-token-01 (diag in the fixtures)."""
    token = parse_token(read_fixture(G1_TOKEN))
    p, r = token.platform_claims, token.realm_claims
    seq = bytes.fromhex("07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918")
    assert p.profile == "http://arm.com/CCA-SSD/1.0.0"
    assert p.challenge.hex() == "b5973cb68baa9fc55558786b7ec67f69e40df5ba5aa921cd0c27f40587a011ea"
    assert [c.component_type for c in p.sw_components] == ["BL", "M1", "M2", "M3"]
    assert all(c.measurement == seq and c.signer_id == seq for c in p.sw_components)
    assert p.config == b"\x01" + seq and p.instance_id == INSTANCE_ID and p.implementation_id == IMPL_ID
    assert p.lifecycle == 0x3003 and p.verification_service == "whatever.com"
    assert r.profile is None and r.challenge == b"\xab" * 64 and r.rpv == FOX
    assert r.rim == bytes(32) and r.rems == (bytes(32),) * 4 and r.hash_algo == "sha-256"
    assert len(r.rak) == 97 and r.rak_hash_algo == "sha-256"


def test_trustee_token_claims_and_store() -> None:
    token = parse_token(read_fixture(TRUSTEE_TOKEN))
    p, r = token.platform_claims, token.realm_claims
    assert len(p.sw_components) == 13 and p.sw_components[0].component_type == "RSE_BL1_2"
    assert p.sw_components[-1].component_type == "SOC_FW_CONFIG" and p.config == b"\xcf" * 4
    assert r.hash_algo == "sha-512" and r.rim == TRUSTEE_RIM
    assert r.rems == (bytes(64),) * 4 and r.rpv == bytes(64)
    assert r.challenge.hex().startswith("57e979ae") and r.challenge.hex().endswith("5a96")
    assert token.warnings == ()
    result = verify_token(
        token, trust_anchors=anchors(), references=parse_reference_store(read_fixture(RV_STORE))
    )
    assert result.ok, result.checks.text_lines()
    for name in ("rv-store.platform.implementation-id", "rv-store.platform", "rv-store.realm.rim",
                 "rv-store.realm.rems", "rv-store.realm.rpv"):  # fmt: skip
        assert status(result, name) == "passed"


def test_g1_matches_rust_ccatoken_rv_json() -> None:
    store = parse_reference_store(read_fixture("veraison-rust-ccatoken/testdata/rv.json"))
    result = verify_token(read_fixture(G1_TOKEN), cpak=cpak(), references=store)
    assert result.ok, result.checks.text_lines()
    assert (
        status(result, "rv-store.platform") == "passed" and status(result, "rv-store.realm.rim") == "passed"
    )


@pytest.mark.parametrize("relative", [G2_TOKEN, G3_TOKEN])
def test_draft_and_cmw_claims(relative: str) -> None:
    token = parse_token(read_fixture(relative))
    p, r = token.platform_claims, token.realm_claims
    assert p.profile == "tag:arm.com,2023:cca_platform#1.0.0"
    assert p.challenge.hex() == "0d22e08a98469058486318283489bdb36f09dbefeb1864df433fa6e54ea2d711"
    assert len(p.sw_components) == 13
    assert r.rim == DRAFT_RIM and r.rpv == FOX
    assert [x.hex()[:8] for x in r.rems] == ["24d5b0a2", "788fc090", "dac46a58", "32c6afc6"]
    assert r.challenge.hex().startswith("6e86d6d9") and r.challenge.hex().endswith("1504")
    assert len(r.rak) == 107 and r.rak.startswith(bytes.fromhex("a40102200221"))
    if relative == G3_TOKEN:
        assert token.tag == 907 and r.profile == "tag:arm.com,2024:realm#2.0.0"
        assert r.instance_id == bytes(range(1, 34)) and r.mec_policy == 1
    else:
        assert token.tag == 399 and r.profile == "tag:arm.com,2023:realm#1.0.0"


def test_bare_platform_token() -> None:
    sign1_, claims = parse_platform_token(
        read_fixture("tf-m-tools/iat-verifier/tests/data/cca_example_platform_token.cbor")
    )
    assert sign1_.alg_name == "ES384" and claims.implementation_id == IMPL_ID


def test_bug33_binding_fails() -> None:
    """rust-ccatoken bug_33_regression: platform trustworthy, realm crypto validation failed."""
    result = verify_token(read_fixture(BUG33_TOKEN), trust_anchors=anchors())
    assert not result.ok
    assert status(result, "platform.signature") == "passed" and status(result, "realm.signature") == "passed"
    assert [c.name for c in result.checks.failures] == ["binding"]
    assert (
        result.checks.get("binding").actual
        == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("relative", "accepted"),
    [
        ("veraison-rust-ccatoken/testdata/realm-claims.cbor", True),
        ("veraison-rust-ccatoken/testdata/realm-claims-missing-challenge.cbor", False),
    ],
)
def test_rust_ccatoken_realm_claim_sets(relative: str, accepted: bool) -> None:
    from pvmkit.formats.cbor import decode
    from pvmkit.formats.cca_token import parse_realm_claims

    claims = decode(read_fixture(relative), what="realm claims")
    if accepted:
        assert parse_realm_claims(claims).challenge
    else:
        with pytest.raises(FormatError, match=r"challenge \(10\) is missing"):
            parse_realm_claims(claims)


def test_rust_ccatoken_platform_claim_set() -> None:
    from pvmkit.formats.cbor import decode
    from pvmkit.formats.cca_token import parse_platform_claims

    claims = parse_platform_claims(
        decode(read_fixture("veraison-rust-ccatoken/testdata/platform-claims.cbor"), what="p")
    )
    assert claims.implementation_id and claims.sw_components


# -- minted tokens: every failure class of the spec ----------------------------------------------------
def fixture_claims(relative: str = G2_TOKEN) -> tuple[dict[Any, Any], dict[Any, Any]]:
    _tag, platform, realm = claims_of(read_fixture(relative))
    return platform, realm


def test_minted_round_trip_all_generations() -> None:
    """The minting helper itself reproduces valid tokens (re-signed, so the checks are not vacuous)."""
    platform, realm = fixture_claims(G1_TOKEN)
    assert verify_token(mint(platform, realm), cpak=cpak()).ok
    platform, realm = fixture_claims(G2_TOKEN)
    assert parse_token(mint(platform, realm)).generation == "G2"
    platform, realm = fixture_claims(G3_TOKEN)
    token = mint(platform, realm, tag=907)
    assert parse_token(token).generation == "G3" and verify_token(token, cpak=cpak()).ok


def test_wrong_cpak_fails() -> None:
    rak_as_cpak = private_key(RAK_PEM).public_key()
    result = verify_token(read_fixture(G2_TOKEN), cpak=rak_as_cpak)
    assert status(result, "platform.signature") == "failed" and not result.ok


def test_wrong_curve_cpak_fails() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    result = verify_token(read_fixture(G2_TOKEN), cpak=p256)
    check = result.checks.get("platform.signature")
    assert check is not None and check.status == "failed" and "needs a P-384 key" in check.detail


def test_platform_signature_bit_flip_fails() -> None:
    platform, realm = fixture_claims()
    good = mint(platform, realm)
    top = cbor2.loads(good)
    envelope = cbor2.loads(top.value[44234])
    sig = bytearray(envelope.value[3])
    sig[5] ^= 1
    flipped = cbor2.dumps(cbor2.CBORTag(18, [envelope.value[0], {}, envelope.value[2], bytes(sig)]))
    result = verify_token(collection(flipped, top.value[44241]), cpak=cpak())
    assert status(result, "platform.signature") == "failed"
    assert status(result, "realm.signature") == "passed"


def test_realm_signed_by_other_key_fails() -> None:
    platform, realm = fixture_claims()
    result = verify_token(mint(platform, realm, realm_key=RAK2_PEM), cpak=cpak())
    assert [c.name for c in result.checks.failures] == ["realm.signature"]


def test_realm_key_and_carried_rak_consistent_with_other_key() -> None:
    """A realm signed by key 2 *and* carrying key 2 verifies, but then the binding must fail unless
    the platform vouches for that key: re-binding is what an attacker cannot do without the CPAK."""
    platform, realm = fixture_claims()
    realm[44237] = cose_key_bytes(private_key(RAK2_PEM).public_key())
    token = mint(platform, realm, realm_key=RAK2_PEM, rebind=False)
    result = verify_token(token, cpak=cpak())
    assert status(result, "realm.signature") == "passed"
    assert [c.name for c in result.checks.failures] == ["binding"]


def test_binding_sha512() -> None:
    platform, realm = fixture_claims(G1_TOKEN)
    realm[44240] = "sha-512"
    result = verify_token(mint(platform, realm), cpak=cpak())
    assert status(result, "binding") == "passed"
    assert result.checks.get("binding").expected == hashlib.sha512(realm[44237]).hexdigest()  # type: ignore[union-attr]


def test_wrong_realm_challenge_fails() -> None:
    result = verify_token(read_fixture(G1_TOKEN), cpak=cpak(), expected=CcaExpected(challenge=b"\xac" * 64))
    assert [c.name for c in result.checks.failures] == ["realm.challenge"]
    good = verify_token(read_fixture(G1_TOKEN), cpak=cpak(), expected=CcaExpected(challenge=b"\xab" * 64))
    assert status(good, "realm.challenge") == "passed"


def test_expected_values_exact_and_sets() -> None:
    token = read_fixture(G2_TOKEN)
    _tag, _p, realm = claims_of(token)
    expected = CcaExpected(
        rim=frozenset({DRAFT_RIM, bytes(32)}),
        rems={0: realm[44239][0], 3: bytes(32)},
        rpv=FOX,
        hash_algo="sha-256",
    )
    result = verify_token(token, cpak=cpak(), expected=expected)
    assert status(result, "expected.rim") == "passed" and status(result, "expected.rem0") == "passed"
    assert status(result, "expected.rpv") == "passed" and status(result, "expected.hash-algo") == "passed"
    assert [c.name for c in result.checks.failures] == ["expected.rem3"]


def test_lifecycle_not_secured_fails() -> None:
    platform, realm = fixture_claims()
    platform[2395] = 0x5000  # recoverable CCA platform debug
    result = verify_token(mint(platform, realm), cpak=cpak())
    assert [c.name for c in result.checks.failures] == ["platform.lifecycle"]


def test_unrecognized_instance() -> None:
    platform, realm = fixture_claims()
    platform[256] = b"\x01" + bytes(32)
    result = verify_token(mint(platform, realm), trust_anchors=anchors())
    assert status(result, "platform.trust-anchor") == "failed"
    assert status(result, "platform.signature") == "not_performed"


def test_store_mismatches() -> None:
    store = parse_reference_store(read_fixture(RV_STORE))
    platform, realm = fixture_claims(TRUSTEE_TOKEN)
    platform[2401] = b"\xcf\xcf\xcf\xce"
    realm[44239] = [bytes(64), bytes(64), bytes(64), b"\x01" * 64]
    result = verify_token(mint(platform, realm), cpak=cpak(), references=store)
    assert {c.name for c in result.checks.failures} == {"rv-store.platform", "rv-store.realm.rems"}
    platform[2396] = bytes(32)
    result = verify_token(mint(platform, realm), cpak=cpak(), references=store)
    assert status(result, "rv-store.platform.implementation-id") == "failed"


# -- malformed tokens: FormatError (CLI exit 1) ---------------------------------------------------------
PLATFORM_MANDATORY = [265, 10, 2396, 256, 2401, 2395, 2399, 2402]
REALM_MANDATORY = [10, 44235, 44238, 44239, 44236, 44237, 44240]


@pytest.mark.parametrize("key", PLATFORM_MANDATORY)
def test_missing_platform_claim(key: int) -> None:
    platform, realm = fixture_claims()
    del platform[key]
    with pytest.raises(FormatError, match=rf"\({key}\) is missing"):
        parse_token(mint(platform, realm, rebind=key != 10))


@pytest.mark.parametrize("key", REALM_MANDATORY)
def test_missing_realm_claim(key: int) -> None:
    platform, realm = fixture_claims()
    del realm[key]
    with pytest.raises(FormatError, match=rf"\({key}\) is missing"):
        parse_token(mint(platform, realm, rebind=False))


@pytest.mark.parametrize(
    ("which", "key", "value", "message"),
    [
        ("platform", 10, "text", "must be a byte string"),
        ("platform", 10, bytes(20), "is 20 bytes"),
        ("platform", 2396, bytes(31), "is 31 bytes"),
        ("platform", 2395, "secured", "unsigned integer"),
        ("platform", 2395, 0x3100, "not a defined state"),
        ("platform", 2399, [], "non-empty array"),
        ("platform", 2399, [{1: "BL", 5: bytes(32)}], r"measurement-value \(2\) is missing"),
        ("platform", 2399, [{2: bytes(32), 5: bytes(32), 9: 1}], "unknown key"),
        ("platform", 2402, 5, "text string"),
        ("realm", 10, bytes(32), "is 32 bytes"),
        ("realm", 44235, bytes(63), "is 63 bytes"),
        ("realm", 44238, bytes(31), "is 31 bytes"),
        ("realm", 44239, [bytes(32)] * 3, "array of 4"),
        ("realm", 44239, [bytes(32)] * 3 + ["x"], "must be a byte string"),
        ("realm", 44237, "key", "must be a byte string"),
        ("realm", 44236, b"sha-256", "text string"),
    ],
)
def test_wrong_claim_types(which: str, key: int, value: Any, message: str) -> None:
    platform, realm = fixture_claims()
    (platform if which == "platform" else realm)[key] = value
    with pytest.raises(FormatError, match=message):
        parse_token(
            mint(
                platform,
                realm,
                rebind=key not in (10, 44237, 44240),
            )
        )


@pytest.mark.parametrize(
    ("which", "profile"),
    [("platform", "http://arm.com/psa/2.0.0"), ("realm", "tag:arm.com,2025:realm#3.0.0"), ("realm", None)],
)
def test_unknown_profile(which: str, profile: str | None) -> None:
    platform, realm = fixture_claims()
    target = platform if which == "platform" else realm
    if profile is None:
        del target[265]  # G2 platform profile without a realm profile: not one of the three pairs
    else:
        target[265] = profile
    with pytest.raises(UnsupportedVersionError):
        parse_token(mint(platform, realm))


def test_realm_2_profile_needs_its_claims() -> None:
    platform, realm = fixture_claims(G3_TOKEN)
    del realm[44243]
    with pytest.raises(FormatError, match=r"mec-policy \(44243\) is missing"):
        parse_token(mint(platform, realm, tag=907))


def test_unknown_hash_algorithm_refused() -> None:
    platform, realm = fixture_claims()
    realm[44240] = "md5"
    with pytest.raises(UnsupportedVersionError, match="md5"):
        parse_token(mint(platform, realm, rebind=False))


def test_cose_mac0_refused() -> None:
    platform, realm = fixture_claims()
    good = cbor2.loads(mint(platform, realm))
    envelope = cbor2.loads(good.value[44234])
    mac0 = cbor2.dumps(cbor2.CBORTag(17, list(envelope.value)))
    with pytest.raises(FormatError, match="COSE_Mac0"):
        parse_token(collection(mac0, good.value[44241]))


def test_tag_swaps_refused() -> None:
    platform, realm = fixture_claims()
    p_token = sign1(platform, private_key(CPAK_PEM))
    r_token = sign1(realm, private_key(RAK_PEM))
    # 399 around CMW [263, bstr] entries (the cca-token-da fork's mix)
    with pytest.raises(FormatError, match="tag-399 collection entry must be a byte string"):
        parse_token(cbor2.dumps(cbor2.CBORTag(399, {44234: [263, p_token], 44241: [263, r_token]})))
    # 907 with bare bstr entries
    with pytest.raises(FormatError, match="tag-907 collection entry"):
        parse_token(cbor2.dumps(cbor2.CBORTag(907, {44234: p_token, 44241: r_token})))
    # 907 with another content-format
    with pytest.raises(FormatError, match="content-format 264"):
        parse_token(cbor2.dumps(cbor2.CBORTag(907, {44234: [264, p_token], 44241: [263, r_token]})))
    # 907 with the COSE_Sign1 inlined (veraison/ccatoken testBadUnwrappedTokens)
    with pytest.raises(FormatError, match="must be a byte string"):
        parse_token(
            cbor2.dumps(cbor2.CBORTag(907, {44234: [263, cbor2.loads(p_token)], 44241: [263, r_token]}))
        )
    # the G2 claims under 907 / the G3 claims under 399: generation mismatch
    with pytest.raises(UnsupportedVersionError, match="not a known token generation"):
        parse_token(collection(p_token, r_token, tag=907))
    # another top-level tag, and the collection keys
    with pytest.raises(FormatError, match="tag 398"):
        parse_token(cbor2.dumps(cbor2.CBORTag(398, {44234: p_token, 44241: r_token})))
    with pytest.raises(FormatError, match="unknown collection key"):
        parse_token(cbor2.dumps(cbor2.CBORTag(399, {44234: p_token, 44241: r_token, 44444: b""})))
    with pytest.raises(FormatError, match=r"realm token .44241. is missing"):
        parse_token(cbor2.dumps(cbor2.CBORTag(399, {44234: p_token})))
    # the two tokens swapped
    with pytest.raises(FormatError, match="unknown platform profile"):
        parse_token(collection(r_token, p_token))
    # an untagged COSE_Sign1
    untagged = cbor2.dumps(cbor2.loads(p_token).value)
    with pytest.raises(FormatError, match="not a tagged COSE_Sign1"):
        parse_token(collection(untagged, r_token))


def test_raw_rak_of_wrong_curve_fails_signature() -> None:
    """A G1 token whose realm is signed with a P-256 RAK but declares ES384: exit 3, not 1."""
    from cryptography.hazmat.primitives.asymmetric import ec

    platform, realm = fixture_claims(G1_TOKEN)
    p256 = ec.generate_private_key(ec.SECP256R1())
    realm[44237] = raw_point(p256.public_key())
    platform = dict(platform)
    from support.cca_tokens import bind

    bind(platform, realm)
    token = collection(sign1(platform, private_key(CPAK_PEM)), sign1(realm, p256, alg=-35))
    result = verify_token(token, cpak=cpak())
    assert [c.name for c in result.checks.failures] == ["realm.signature"]


def test_rak_not_a_point_is_malformed() -> None:
    platform, realm = fixture_claims(G1_TOKEN)
    realm[44237] = b"\x04" + bytes(96)
    with pytest.raises(FormatError, match="not on P-384"):
        verify_token(mint(platform, realm), cpak=cpak())


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", TruncatedError, "empty"),
        (b"not cbor at all", FormatError, "bytes follow the first|not a CCA token"),
        (bytes.fromhex("d9018fa2"), TruncatedError, "ends after"),
        (bytes.fromhex("d9018f") + b"\x81" * 40 + b"\x00", FormatError, "depth"),
        (bytes.fromhex("d9018fa119acca5bffffffffffffff00"), TruncatedError, "ends after"),
        (bytes.fromhex("d9018fa219acca4019acca40"), FormatError, "Duplicate"),
        (bytes.fromhex("d9018fbf19acca40ff"), FormatError, "indefinite"),
        (bytes.fromhex("d9018fa119acca40") + b"\x00", FormatError, "bytes follow the first"),
        (bytes.fromhex("c11a00000000"), FormatError, "unsupported CBOR item"),
    ],
)
def test_bounded_parser(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_token(data)


def test_truncated_fixture_tokens_are_format_errors() -> None:
    data = read_fixture(G3_TOKEN)
    for end in range(0, len(data), 97):
        with pytest.raises(FormatError):
            parse_token(data[:end])


# -- keys -------------------------------------------------------------------------------------------
def test_cpak_in_every_form_is_the_same_key() -> None:
    """PEM (veraison), JWK (Trustee cpak-pub.json), DER (converted here with cryptography) and the
    trust-anchor store all carry the same CPAK, and each verifies the platform token."""
    from cryptography.hazmat.primitives import serialization

    from pvmkit.attest.cose_verify import raw_public_point

    pem = load_public_key(read_fixture(CPAK_PUB), "pem")
    jwk = load_public_key(read_fixture("trustee/deps/verifier/test_data/cca/misc/cpak-pub.json"), "jwk")
    der_bytes = (
        private_key(CPAK_PEM)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    der = load_public_key(der_bytes, "der")
    store = anchors()[0].key
    assert len({raw_public_point(k) for k in (pem, jwk, der, store)}) == 1
    assert verify_token(read_fixture(G3_TOKEN), cpak=jwk).ok


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
        (b'{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}', "must be 48 bytes"),
        (b'{"kty": "RSA", "n": "AA", "e": "AQAB"}', "not supported"),
        (b"{not json", "not valid JSON"),
        (bytes.fromhex("a401022002215830") + bytes(48) + bytes.fromhex("225830") + bytes(48), "not on P-384"),
        (bytes.fromhex("a20102200a"), "curve 10"),
        (b"\x30\x03\x02\x01\x01", "not a DER public key"),
    ],
)
def test_bad_keys(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        load_public_key(data, "key")


def test_bad_stores() -> None:
    with pytest.raises(FormatError, match="list of objects"):
        parse_trust_anchors(b'{"a": 1}')
    with pytest.raises(FormatError, match="'instance-id' is missing"):
        parse_trust_anchors(b'[{"implementation-id": "00", "pkey": {}}]')
    with pytest.raises(FormatError, match="not hex"):
        parse_reference_store(b'{"realm": [{"initial-measurement": "zz", "rak-hash-algorithm": "sha-256"}]}')
    with pytest.raises(FormatError, match="'platform' and/or 'realm'"):
        parse_reference_store(b'{"realms": []}')
