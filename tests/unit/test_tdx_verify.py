"""TDX quote verification (pvmkit.attest.tdx_verify) against real Intel-signed quotes and CRLs, and
against a chain made here, for what real evidence cannot show (a revoked certificate, another root).

Vectors: tests/vectors/README.md, section "TDX quote verification".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvmkit.attest.tdx_verify import INTEL_SGX_ROOT_CA_SHA256, TdxExpected, verify_quote
from pvmkit.errors import CertificateError, FormatError, PvmkitError, SignatureError, VerificationError
from pvmkit.formats.ccel import EventLog
from pvmkit.formats.tdx_quote import CertificationData, Quote
from pvmkit.vendors.tdx.replay import replay
from support.fixtures import read_fixture

GCE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"
SPR = "go-tdx-guest/tdx_prod_quote_SPR_E4.dat"
V5 = "go-tdx-guest/quote_v5_sample.dat"
PCK_CRL = "go-tdx-guest/pckcrl"
ROOT_CRL = "go-tdx-guest/rootcrl.der"
#: inside every fixture certificate's validity (the newest PCK certificate, V5's, starts 2026-01-27)
AT = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
#: inside both fixture CRLs' validity (PCK CRL 2023-06-08 .. 2023-07-08) and SPR's chain
AT_CRL = dt.datetime(2023, 6, 15, tzinfo=dt.timezone.utc)


def flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("name", [GCE, SPR, V5])
def test_real_quotes_verify_to_intels_root(name: str) -> None:
    result = verify_quote(read_fixture(name), at=AT)
    assert result.root_sha256 == INTEL_SGX_ROOT_CA_SHA256
    assert result.root_subject.endswith("CN=Intel SGX Root CA")
    assert "Intel SGX PCK Platform CA" in result.pck_issuer
    assert [c.split(" (")[0] for c in result.checks if "signature" in c and "ignored" not in c] == [
        "chain signatures",
        "QE report signature",
        "quote signature",
    ]
    assert result.to_dict()["body"]["mr_td"] == result.quote.body.mr_td.hex()
    trailing = len(Quote.parse(read_fixture(name)).trailing)  # GCE: an 8000-byte buffer; SPR: a test tail
    assert any(c.startswith(f"ignored {trailing} ") for c in result.checks) == (trailing > 0)


def test_crls_of_their_day() -> None:
    result = verify_quote(
        read_fixture(SPR), at=AT_CRL, pck_crl=read_fixture(PCK_CRL), root_crl=read_fixture(ROOT_CRL)
    )
    assert any(c.startswith("root CA CRL: signed by Intel SGX Root CA") for c in result.checks)
    assert any(c.startswith("PCK CRL: signed by Intel SGX PCK Platform CA") for c in result.checks)
    with pytest.raises(CertificateError, match="PCK CRL is not current at 2026") as info:
        verify_quote(read_fixture(SPR), at=AT, pck_crl=read_fixture(PCK_CRL))
    assert info.value.field == "PCK CRL.next_update"
    with pytest.raises(CertificateError, match=r"issued by .*Root CA.*not by .*Platform CA"):
        verify_quote(read_fixture(SPR), at=AT_CRL, pck_crl=read_fixture(ROOT_CRL))
    with pytest.raises(FormatError, match=r"not a valid X\.509 CRL"):
        verify_quote(read_fixture(SPR), at=AT_CRL, pck_crl=b"not a crl")


def test_the_gce_quote_against_its_replayed_event_log() -> None:
    """Verification against a prediction: RTMR0..2 replayed from the guest's CCEL, the report data
    the quote was requested with (go-tdx-guest nonce.dat), DEBUG off."""
    rtmrs = replay(EventLog.parse(read_fixture("go-tdx-guest/ccel/ccel_data.dat"))).rtmrs
    expected = TdxExpected(
        rtmr0=rtmrs[0],
        rtmr1=rtmrs[1],
        rtmr2=rtmrs[2],
        rtmr3=bytes(48),
        report_data=read_fixture("go-tdx-guest/ccel/nonce.dat"),
        td_attributes_bits_clear=1,
    )
    result = verify_quote(read_fixture(GCE), at=AT, expected=expected)
    assert result.expected_fields == (
        "td_attributes bits clear", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "report_data",
    )  # fmt: skip
    with pytest.raises(VerificationError, match=r"rtmr1 \(quote offset 0x1a8\) mismatch") as info:
        verify_quote(read_fixture(GCE), at=AT, expected=dataclasses.replace(expected, rtmr1=rtmrs[2]))
    assert info.value.field == "rtmr1"
    with pytest.raises(VerificationError, match=r"mr_td \(quote offset 0xbe\) mismatch"):
        verify_quote(read_fixture(V5), at=AT, expected=TdxExpected(mr_td=bytes(48)))  # v5: body at 54
    with pytest.raises(VerificationError, match=r"td_attributes .* bits 0x10000000 clear"):
        verify_quote(read_fixture(GCE), at=AT, expected=TdxExpected(td_attributes_bits_clear=1 << 28))


def _regions(raw: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of a v4 quote that some check covers."""
    q = Quote.parse(raw)
    sig = q.body_offset + q.body_size + 4
    qe = q.signature_data.qe_report
    assert qe is not None
    qe_at = sig + 128 + 6
    auth_at = qe_at + 384 + 64 + 2
    return {
        "header and body": (0, q.body_offset + q.body_size),
        "quote signature": (sig, sig + 64),
        "attestation key": (sig + 64, sig + 128),
        "QE report": (qe_at, qe_at + 384),
        "QE report signature": (qe_at + 384, qe_at + 448),
        "QE auth data": (auth_at, auth_at + len(qe.qe_auth_data)),
    }


@pytest.mark.parametrize("name", [SPR, V5])
def test_every_covered_byte_matters(name: str) -> None:
    """One flipped bit anywhere in a signed or bound region fails verification (every 3rd byte)."""
    raw = read_fixture(name)
    regions = _regions(raw)
    assert regions["QE auth data"][1] > regions["QE auth data"][0]
    for region, (start, end) in regions.items():
        for pos in range(start, end, 3):
            with pytest.raises(PvmkitError):
                verify_quote(flip(raw, pos), at=AT)
                pytest.fail(f"{name}: a flipped bit at {pos:#x} ({region}) still verifies")


def test_each_tamper_fails_with_its_own_error() -> None:
    raw = read_fixture(SPR)
    regions = _regions(raw)
    cases = {
        "header and body": (SignatureError, "quote signature does not verify"),
        "quote signature": (SignatureError, "quote signature does not verify"),
        "attestation key": (SignatureError, "does not bind the attestation key"),
        "QE report": (SignatureError, "QE report signature does not verify"),
        "QE report signature": (SignatureError, "QE report signature does not verify"),
        "QE auth data": (SignatureError, "does not bind the attestation key"),
    }
    for region, (error, message) in cases.items():
        start, end = regions[region]
        with pytest.raises(error, match=message):
            verify_quote(flip(raw, (start + end) // 2), at=AT)
    # the form: another QE vendor, another attestation key type
    with pytest.raises(VerificationError, match="qe_vendor_id"):
        verify_quote(flip(raw, 12), at=AT)
    with pytest.raises(VerificationError, match="att_key_type"):
        verify_quote(flip(raw, 2), at=AT)


def test_trust_anchor_and_time() -> None:
    raw = read_fixture(SPR)
    with pytest.raises(CertificateError, match="root CA is not the trusted one") as info:
        verify_quote(raw, at=AT, trusted_root_sha256="00" * 32)
    assert info.value.field == "root.sha256"
    with pytest.raises(CertificateError, match="pck certificate has expired"):
        verify_quote(raw, at=dt.datetime(2030, 1, 1))  # SPR's PCK certificate ends 2029-09-20
    with pytest.raises(CertificateError, match="not yet valid"):
        verify_quote(raw, at=dt.datetime(2018, 1, 1))


# -- a chain made here --------------------------------------------------------------------------


class Pki:
    """Root → PCK Platform CA → PCK certificate with Intel's names, made with ``cryptography``."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def cert(subject: str, key, issuer: str, signer, ca: bool, serial: int):  # type: ignore[no-untyped-def]
            return (
                x509.CertificateBuilder()
                .subject_name(name(subject))
                .issuer_name(name(issuer))
                .public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(dt.datetime(2020, 1, 1))
                .not_valid_after(dt.datetime(2040, 1, 1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(signer, hashes.SHA256())
            )

        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.pck_key = ec.generate_private_key(ec.SECP256R1())
        self.root = cert("Intel SGX Root CA", self.root_key, "Intel SGX Root CA", self.root_key, True, 1)
        self.ca = cert("Intel SGX PCK Platform CA", self.ca_key, "Intel SGX Root CA", self.root_key, True, 2)
        self.pck = cert(
            "Intel SGX PCK Certificate", self.pck_key, "Intel SGX PCK Platform CA", self.ca_key, False, 3
        )

    @property
    def root_sha256(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding

        return hashlib.sha256(self.root.public_bytes(Encoding.DER)).hexdigest()

    def crl(self, revoked_serials: list[int]) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import Encoding

        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.subject)
            .last_update(dt.datetime(2026, 1, 1))
            .next_update(dt.datetime(2027, 1, 1))
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(dt.datetime(2026, 2, 1))
                .build()
            )
        return builder.sign(self.ca_key, hashes.SHA256()).public_bytes(Encoding.DER)

    def requote(self, raw: bytes) -> bytes:
        """The quote's header and body, signed anew: a fresh attestation key bound by a QE report
        signed with this PCK key, and this chain."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        def raw_signature(key, data: bytes) -> bytes:  # type: ignore[no-untyped-def]
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        q = Quote.parse(raw)
        att_key = ec.generate_private_key(ec.SECP256R1())
        att_pub = att_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
        qe = q.signature_data.qe_report
        assert qe is not None
        report = dataclasses.replace(
            qe.qe_report, report_data=hashlib.sha256(att_pub + qe.qe_auth_data).digest() + bytes(32)
        )
        chain = b"".join(c.public_bytes(Encoding.PEM) for c in (self.pck, self.ca, self.root))
        qe = dataclasses.replace(
            qe,
            qe_report=report,
            qe_report_signature=raw_signature(self.pck_key, report.to_bytes()),
            certification_data=CertificationData(5, chain + b"\0"),
        )
        sig = dataclasses.replace(
            q.signature_data,
            signature=raw_signature(att_key, q.signed_bytes()),
            attestation_key=att_pub,
            certification_data=dataclasses.replace(q.signature_data.certification_data, qe_report=qe),
        )
        return dataclasses.replace(q, signature_data=sig, trailing=b"").to_bytes()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def test_a_quote_signed_here_verifies_only_with_its_own_root(pki: Pki) -> None:
    raw = pki.requote(read_fixture(SPR))
    result = verify_quote(raw, at=AT, trusted_root_sha256=pki.root_sha256)
    assert result.root_sha256 == pki.root_sha256 and result.quote.body == Quote.parse(read_fixture(SPR)).body
    with pytest.raises(CertificateError, match="root CA is not the trusted one"):
        verify_quote(raw, at=AT)  # Intel's root is the default anchor


def test_revoked_pck_certificate(pki: Pki) -> None:
    raw = pki.requote(read_fixture(V5))
    ok = verify_quote(raw, at=AT, trusted_root_sha256=pki.root_sha256, pck_crl=pki.crl([99]))
    assert "PCK CRL: signed by Intel SGX PCK Platform CA, current, pck not revoked" in ok.checks
    with pytest.raises(CertificateError, match=r"pck certificate \(serial 0x3\) is revoked") as info:
        verify_quote(raw, at=AT, trusted_root_sha256=pki.root_sha256, pck_crl=pki.crl([3]))
    assert info.value.field == "pck.revoked"


def test_chain_shape_and_cert_type_are_checked(pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = pki.requote(read_fixture(SPR))
    q = Quote.parse(raw)
    qe = q.signature_data.qe_report
    assert qe is not None

    def with_chain(certs: list) -> bytes:  # type: ignore[type-arg]
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
        new_qe = dataclasses.replace(qe, certification_data=CertificationData(5, pem))
        cd = dataclasses.replace(q.signature_data.certification_data, qe_report=new_qe)
        return dataclasses.replace(
            q, signature_data=dataclasses.replace(q.signature_data, certification_data=cd)
        ).to_bytes()

    pin = pki.root_sha256
    with pytest.raises(CertificateError, match="holds 2 certificates"):
        verify_quote(with_chain([pki.pck, pki.root]), at=AT, trusted_root_sha256=pin)
    with pytest.raises(CertificateError, match="pck certificate is issued by"):
        verify_quote(with_chain([pki.ca, pki.ca, pki.root]), at=AT, trusted_root_sha256=pin)
    outer = dataclasses.replace(q.signature_data, certification_data=CertificationData(5, b""))
    with pytest.raises(VerificationError, match="certification data type is 5"):
        verify_quote(dataclasses.replace(q, signature_data=outer).to_bytes(), at=AT, trusted_root_sha256=pin)


@settings(max_examples=200, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 4973), st.integers(0, 255)), min_size=1, max_size=4))
def test_any_mutation_ends_in_a_pvmkit_error_or_an_uncovered_byte(edits: list[tuple[int, int]]) -> None:
    """Lengths, types, PEM text, anything: verification raises a pvmkit error (a typed one-line CLI
    error), never another exception; when it passes, every changed byte is one no check covers."""
    raw = bytearray(read_fixture(SPR))
    for pos, value in edits:
        raw[pos] = value
    try:
        verify_quote(bytes(raw), at=AT)
    except PvmkitError:
        return
    covered = _regions(read_fixture(SPR)).values()
    changed = [pos for pos, _ in edits if raw[pos] != read_fixture(SPR)[pos]]
    assert not any(start <= pos < end for pos in changed for start, end in covered)
