"""pvmkit's CoRIM/CoMID model, the profiles it writes and reads, and COSE_Sign1-signed CoRIMs.

Independent sources: the CoRIM fixtures of veraison/corim and veraison/cocli (real files, read in
place) with their human-readable twins (``src/*.diag`` turned into CBOR by the PyPI ``cbor-diag``
package, ``src/*.yaml``); the JWK that signed Veraison's test CoRIMs (``src/ec-p256.jwk``); the
microsoft/igvm launch-measurement profile's tag-id rule checked against the tag-id its own test
expects for SNP (``77e8061e-4634-5e53-a848-d1d09e996843``); signatures checked with ``cryptography``
over a Sig_structure built here with cbor2 (RFC 9052 §4.4).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import cbor2
import pytest

from pvmkit.errors import FormatError, InputError, SignatureError
from pvmkit.refvalues import CorimOptions, RefValueSet, read_reference_values
from pvmkit.refvalues.corim import Comid, Corim, SignedCorim, decode_cbor, oid_bytes, oid_text, parse_any
from pvmkit.refvalues.corim_profiles import build_corim, launch_tag_id
from pvmkit.refvalues.corim_sign import sign_corim, verify_signed_corim
from support.fixtures import fixture_path, import_peer, read_fixture

CORIMS = [
    "veraison-corim/corim/testcases/corim-1.cbor",
    "veraison-corim/corim/testcases/corim-2.cbor",
    "veraison-corim/corim/testcases/unsigned-good-corim.cbor",
    "veraison-corim/corim/testcases/signed-good-corim.cbor",
    "veraison-corim/profiles/cca/testcases/cca-platform-valid.cbor",
    "veraison-corim/profiles/cca/testcases/cca-realm-invalid-missing-rim.cbor",
    "veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor",
    "veraison-corim/profiles/cca/testcases/no-profile.cbor",
    "veraison-cocli/cmd/testcases/signed-corim-valid.cbor",
]
COMIDS = [
    "veraison-corim/comid/testcases/comid-1.cbor",
    "veraison-corim/comid/testcases/comid-2.cbor",
    "veraison-corim/comid/testcases/comid-raw-value.cbor",
    "veraison-corim/comid/testcases/comid-integrity-registers.cbor",
    "veraison-corim/profiles/tdx/testcases/comid_seam_refval.cbor",
]
JWK = "veraison-corim/corim/testcases/src/ec-p256.jwk"
BEFORE_EXPIRY = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)  # inside 2021-12-31 .. 2025-12-31


@pytest.mark.parametrize("name", CORIMS + COMIDS)
def test_every_fixture_round_trips_byte_for_byte(name: str) -> None:
    data = read_fixture(name)
    model = parse_any(data, name)
    assert isinstance(model, Comid if name in COMIDS else (Corim, SignedCorim))
    assert cbor2.dumps(model.to_item()) == data
    if isinstance(model, (Corim, SignedCorim)):
        corim = model if isinstance(model, Corim) else model.corim
        assert corim.comids() and all(c.reference_triples or c.other_triples for c in corim.comids())


#: Fixtures that come with a ``src/<name>.diag`` twin.
DIAG_TWINS = [
    "veraison-corim/corim/testcases/corim-1.cbor",
    "veraison-corim/corim/testcases/corim-2.cbor",
    *COMIDS,
]


@pytest.mark.parametrize("name", DIAG_TWINS)
def test_diag_twins_are_what_the_model_writes(name: str) -> None:
    """cbor-diag turns the human-readable twin into the bytes pvmkit's model writes back."""
    cbor_diag = import_peer("cbor_diag")
    path = fixture_path(name)
    diag = (path.parent / "src" / (path.stem + ".diag")).read_text()
    assert cbor_diag.diag2cbor(diag) == cbor2.dumps(parse_any(path.read_bytes(), name).to_item())


def test_model_reads_the_cca_realm_fixture() -> None:
    """Values the fixture's YAML source (``src/cca-realm-valid.yaml``) spells out in base64."""
    corim = parse_any(read_fixture("veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor"))
    assert isinstance(corim, Corim)
    assert corim.id == "cca-realm-valid-corim" and corim.profile_id == "tag:arm.com,2025:cca_realm#1.0.0"
    (comid,) = corim.comids()
    assert comid.tag_identity == {0: base64.b64decode("Pwavzaycc5R5lwBQVpB3Pw==")}
    (triple,) = comid.reference_triples
    rim = base64.b64decode("HRFQuzWp0fGGIKXMJhLlTnDxULj6FGiTnVICaekT0P8=")
    assert triple.measurements[0].mkey == "cca.rim" and triple.measurements[0].digests() == [(1, rim)]
    rvs = read_reference_values(
        read_fixture("veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor"), "f"
    )
    assert rvs.distinct("cca.realm.cca-realm-initial-measurement") == [rim]
    assert rvs.distinct("cca.realm.cca-realm-extensible-measurements-0") == [
        base64.b64decode("WzjIq0hfYMCxJtblDH7AgQQUKJ+Edt8I+4OwChRvTuk=")
    ]
    assert rvs.distinct("cca.realm.cca-realm-personalization-value") == [
        b"The quick brown fox jumps over 13 lazy dogs."
    ]


def test_pvmkit_builds_the_same_cca_realm_corim_as_veraisons_vector() -> None:
    """Built from the fixture's own values, id and tag-id, pvmkit's CoRIM decodes to the same
    structure (Veraison writes maps in no fixed order, so structures are compared, as the spec says)."""
    data = read_fixture("veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor")
    rvs = read_reference_values(data, "f")
    built = build_corim(rvs, "cca", corim_id="cca-realm-valid-corim")
    built.comids()[0].tag_identity = {0: base64.b64decode("Pwavzaycc5R5lwBQVpB3Pw==")}
    ours, theirs = decode_cbor(built.to_bytes(), "ours"), decode_cbor(data, "theirs")
    ours.value[1] = [decode_cbor(t.value, "c") for t in ours.value[1]]
    theirs.value[1] = [decode_cbor(t.value, "c") for t in theirs.value[1]]
    assert ours == theirs


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("veraison-corim/profiles/cca/testcases/cca-realm-invalid-missing-rim.cbor", "needs the cca.rim"),
        ("veraison-corim/profiles/cca/testcases/no-profile.cbor", "names no profile"),
        ("veraison-corim/profiles/cca/testcases/cca-platform-valid.cbor", "unknown CoRIM profile"),
        ("veraison-corim/comid/testcases/comid-1.cbor", "bare CoMID names no profile"),
    ],
)
def test_corims_without_launch_values_are_refused_with_the_reason(name: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_reference_values(read_fixture(name), name)


def test_malformed_cbor_is_refused() -> None:
    data = read_fixture("veraison-corim/corim/testcases/unsigned-good-corim.cbor")
    with pytest.raises(FormatError, match="not CBOR"):
        parse_any(data[:-5])
    longer = bytes([data[0], data[1], data[2], 0xBF]) + data[4:]  # indefinite-length map header
    with pytest.raises(FormatError):
        parse_any(longer)
    non_preferred = b"\xd9\x01\xf5\xa2\x18\x00" + data[5:]  # key 0 written as 0x18 0x00
    with pytest.raises(FormatError, match="byte for byte"):
        parse_any(non_preferred)
    with pytest.raises(FormatError, match="tag 999"):
        parse_any(cbor2.dumps(cbor2.CBORTag(999, {0: "x", 1: []})))


@pytest.mark.parametrize(
    "name",
    [
        "veraison-corim/corim/testcases/signed-good-corim.cbor",
        "veraison-cocli/cmd/testcases/signed-corim-valid.cbor",
    ],
)
def test_signed_fixtures_verify_with_veraisons_key(name: str) -> None:
    signed = parse_any(read_fixture(name))
    assert isinstance(signed, SignedCorim)
    key = read_fixture(JWK)
    verify_signed_corim(signed, key, at=BEFORE_EXPIRY, what=name)
    with pytest.raises(SignatureError, match="outside the CoRIM's signature-validity"):
        verify_signed_corim(signed, key, at=None, what=name)  # its validity ended 2025-12-31
    e = signed.envelope
    flipped = e.signature[:-1] + bytes([e.signature[-1] ^ 1])
    bad = SignedCorim(dataclasses.replace(e, signature=flipped), signed.corim)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signed_corim(bad, key, at=BEFORE_EXPIRY, what=name)


def _keys(curve: str) -> tuple[bytes, bytes, object]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1() if curve == "P-256" else ec.SECP384R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, public, private.public_key()


@pytest.mark.parametrize(("curve", "alg", "size"), [("P-256", -7, 32), ("P-384", -35, 48)])
def test_signing_and_independent_verification(curve: str, alg: int, size: int) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    rvs = RefValueSet()
    rvs.add("mr_td", b"\x11" * 48, {})
    corim = build_corim(rvs, "tdx")
    pem, public_pem, public = _keys(curve)
    not_after = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    signed = sign_corim(corim, pem, signer="test signer", not_after=not_after)
    data = signed.to_bytes()
    outer = cbor2.loads(data)
    assert outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    assert unprotected == {}
    header = cbor2.loads(protected)
    assert header[1] == alg and header[3] == "application/rim+cbor"
    assert cbor2.loads(header[8]) == {0: {0: "test signer"}, 1: {1: not_after}}
    assert cbor2.loads(payload).tag == 501 and len(signature) == 2 * size
    message = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    digest = hashes.SHA256() if size == 32 else hashes.SHA384()
    public.verify(encode_dss_signature(r, s), message, ec.ECDSA(digest))  # type: ignore[attr-defined]
    back = read_reference_values(data, "signed", CorimOptions(public_pem, None))
    assert back.expectations() == {"mr_td": frozenset({b"\x11" * 48})}
    with pytest.raises(SignatureError, match="outside"):
        read_reference_values(
            data, "signed", CorimOptions(public_pem, dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc))
        )
    with pytest.raises(InputError, match="signed CoRIM: give the signer's public key"):
        read_reference_values(data, "signed")
    _, other_public, _ = _keys(curve)
    with pytest.raises(SignatureError, match="does not verify"):
        read_reference_values(data, "signed", CorimOptions(other_public, None))


def test_launch_measurement_tag_ids() -> None:
    # microsoft/igvm's own test expects this tag-id for SNP; the same rule gives TDX's
    assert launch_tag_id("AMD", "SEV-SNP") == "77e8061e-4634-5e53-a848-d1d09e996843"
    assert launch_tag_id("Intel", "TDX") == "e0510081-7b78-5b2a-97a6-d73d890e07b6"


def test_oids() -> None:
    # RFC 9090 content octets; the SNP draft's examples carry a DER header, which is tolerated
    assert oid_bytes("1.3.6.1.4.1.3704.3.1") == bytes.fromhex("2b060104019c780301")
    assert oid_text(bytes.fromhex("06092b060104019c780301")) == "1.3.6.1.4.1.3704.3.1"
    assert oid_text(bytes.fromhex("6086480186f84d011001")) == "2.16.840.1.113741.1.16.1"


@pytest.mark.parametrize("vendor", ["snp", "tdx", "cca", "cca-legacy"])
def test_written_corims_read_back(vendor: str) -> None:
    rvs = RefValueSet()
    if vendor == "snp":
        for b in (1, 2):
            rvs.add("snp_launch_measurement", bytes([b]) * 48, {})
    elif vendor == "tdx":
        rvs.add("mr_td", b"\x01" * 48, {})
        rvs.add("rtmr_1", b"\x02" * 48, {})
        rvs.add("rtmr_2", b"\x03" * 48, {})
        rvs.add("rtmr_2", b"\x04" * 48, {})
    else:
        rvs.add("cca.realm.cca-realm-initial-measurement", b"\x05" * 32, {})
        rvs.add("cca.realm.cca-realm-personalization-value", b"\x06" * 64, {})
        for i in range(4):
            rvs.add(f"cca.realm.cca-realm-extensible-measurements-{i}", bytes([i]) * 32, {})
    corim = build_corim(rvs, vendor.split("-")[0], cca_legacy=vendor == "cca-legacy")
    data = corim.to_bytes()
    assert parse_any(data).to_bytes() == data  # type: ignore[union-attr]
    back = read_reference_values(data, "c")
    assert back.expectations() == rvs.expectations()


def test_a_profile_that_cannot_carry_a_name_is_refused() -> None:
    rvs = RefValueSet()
    rvs.add("mr_td", b"\x01" * 48, {})
    rvs.add("xfam", b"\x01" * 8, {})
    with pytest.raises(InputError, match="cannot carry xfam"):
        build_corim(rvs, "tdx")
