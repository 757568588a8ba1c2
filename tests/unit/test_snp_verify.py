"""pvmkit.attest.verify on the real go-sev-guest report/VCEK and AMD's Milan/Genoa/Turin chains, and
on software chains made in temporary directories. Provenance: tests/vectors/README.md
"SNP attestation"."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest

from pvmkit.attest.snp_report import REPORT_SIZE, SnpReport
from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.attest.verify import (
    Expected,
    SnpVerification,
    check_report_signature,
    load_certificates,
    verify_report,
)
from pvmkit.errors import (
    CertificateError,
    FormatError,
    InputError,
    SignatureError,
    TruncatedError,
    VerificationError,
)
from support.fixtures import read_fixture

G = "go-sev-guest/"
# Inside every fixture certificate's validity (VCEK: 2022-09-24 .. 2029-09-24).
AT = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def real() -> dict[str, bytes]:
    names = {
        "report": "attestation.bin",
        "vcek": "vcek.testcer",
        "milan": "milan.testcer",
        "milan_vlek": "milanvlek.testcer",
        "genoa": "trust/ask_ark_genoa.pem",
        "genoa_vlek": "trust/ask_ark_genoa_vlek.pem",
        "turin": "trust/ask_ark_turin_vcek.pem",
    }
    return {k: read_fixture(G + v) for k, v in names.items()}


@pytest.fixture(scope="module")
def sw(tmp_path_factory: pytest.TempPathFactory) -> SoftwareAttestationKeys:
    return SoftwareAttestationKeys.create(str(tmp_path_factory.mktemp("swv") / "k"), rsa_bits=2048)


def status(res: SnpVerification, name: str) -> str | None:
    check = res.checks.get(name)
    return check.status if check is not None else None


def test_real_report_verifies(real: dict[str, bytes]) -> None:
    res = verify_report(real["report"], real["vcek"], real["milan"], at=AT)
    assert res.signing_key == "vcek" and res.product == "Milan"
    assert res.report.version == 2
    assert status(res, "vcek.chip_id") == "passed"
    assert status(res, "vcek.tcb") == "passed"
    assert status(res, "signature") == status(res, "chain") == "passed"
    assert res.checks.get("policy.debug") is None  # verify_report appraises no guest policy unless asked
    assert "CN=ARK-Milan" in res.ark_subject
    assert res.to_dict()["ok"] is True


def test_real_report_with_expected_fields(real: dict[str, bytes]) -> None:
    r = SnpReport.parse(real["report"])
    exp = Expected(
        version=2,
        policy=0xB0000,
        policy_bits_set=1 << 17,
        measurement=r.measurement,
        host_data=bytes(32),
        report_data=bytes([1, 2, 3, 4, 5]) + bytes(59),
        chip_id=r.chip_id,
    )
    res = verify_report(real["report"], real["vcek"], real["milan"], at=AT, expected=exp)
    assert set(res.expected_fields) >= {"measurement", "host_data", "report_data", "policy", "version"}


def test_every_single_bit_flip_is_rejected(real: dict[str, bytes]) -> None:
    """All 1184 × 8 one-bit changes fail: flips in 0x000–0x29F break the ECDSA signature, flips in
    R/S break it too (or push R/S above 48 bytes), and flips in the 368 reserved bytes at 0x330,
    which the signature does not cover, are rejected because those bytes must be zero."""
    raw = real["report"]
    (cert,) = load_certificates(real["vcek"])
    key = cert.public_key()
    check_report_signature(raw, key)  # type: ignore[arg-type]
    fields: dict[str, int] = {}
    for bit in range(REPORT_SIZE * 8):
        b = bytearray(raw)
        b[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(VerificationError) as info:
            check_report_signature(bytes(b), key)  # type: ignore[arg-type]
        assert isinstance(info.value, SignatureError)
        fields[info.value.field] = fields.get(info.value.field, 0) + 1
    assert fields["signature.reserved"] == 368 * 8
    assert sum(fields.values()) == REPORT_SIZE * 8


def test_bit_flips_through_the_full_verifier(real: dict[str, bytes]) -> None:
    raw = real["report"]
    for bit in range(0, REPORT_SIZE * 8, 149):
        b = bytearray(raw)
        b[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SignatureError):
            verify_report(bytes(b), real["vcek"], real["milan"], at=AT)


@pytest.mark.parametrize("chain", ["genoa", "turin", "milan_vlek", "genoa_vlek"])
def test_wrong_chain_is_rejected(real: dict[str, bytes], chain: str) -> None:
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], real["vcek"], real[chain], at=AT)
    assert info.value.field == "vcek.issuer"


def test_vcek_given_as_vlek_is_rejected(real: dict[str, bytes]) -> None:
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], real["vcek"], real["milan"], at=AT, key_kind="vlek")
    assert info.value.field == "certificate_kind"
    with pytest.raises(CertificateError):
        verify_report(real["report"], real["vcek"], real["milan_vlek"], at=AT, key_kind="vlek")


def test_expired_and_not_yet_valid(real: dict[str, bytes]) -> None:
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], real["vcek"], real["milan"], at=dt.datetime(2030, 1, 1))
    assert info.value.field == "vcek.not_after"
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], real["vcek"], real["milan"], at=dt.datetime(2021, 1, 1))
    assert info.value.field == "vcek.not_before"


def test_expired_chain_without_at(tmp_path: Path) -> None:
    old = SoftwareAttestationKeys.create(
        str(tmp_path / "old"), rsa_bits=2048, now=dt.datetime(2010, 1, 1, tzinfo=dt.timezone.utc)
    )
    signed = old.sign_report(SnpReport())
    with pytest.raises(CertificateError) as info:
        verify_report(
            signed, old.vcek_pem, old.chain_pem, trusted_ark_sha256=old.ark_sha256
        )  # now: VCEK expired 2016, ARK/ASK valid
    assert info.value.field == "vcek.not_after"
    verify_report(
        signed, old.vcek_pem, old.chain_pem, at=dt.datetime(2011, 1, 1), trusted_ark_sha256=old.ark_sha256
    )


def test_measurement_mismatch_names_the_field(real: dict[str, bytes]) -> None:
    with pytest.raises(VerificationError) as info:
        verify_report(
            real["report"],
            real["vcek"],
            real["milan"],
            at=AT,
            expected=Expected(measurement=bytes(48), host_data=b"\1" * 32),
        )
    assert info.value.field == "measurement"  # first in report order (0x90 before 0xC0)
    assert info.value.expected == "00" * 48  # as the check list shows it (hex)
    assert str(info.value).startswith("expected.measurement (offset 0x90): MEASUREMENT (expected 0000")


@pytest.mark.parametrize(
    ("exp", "field"),
    [
        (Expected(host_data=b"\1" * 32), "host_data"),
        (Expected(report_data=bytes(64)), "report_data"),
        (Expected(policy=0x30000), "policy"),
        (Expected(policy_bits_clear=1 << 19), "policy"),
        (Expected(policy_bits_set=1 << 20), "policy"),
        (Expected(version=3), "version"),
        (Expected(id_key_digest=b"\1" * 48), "id_key_digest"),
    ],
)
def test_field_mismatches(real: dict[str, bytes], exp: Expected, field: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify_report(real["report"], real["vcek"], real["milan"], at=AT, expected=exp)
    assert info.value.field == field
    assert type(info.value) is VerificationError


def test_signing_key_field_must_match_the_certificate(sw: SoftwareAttestationKeys) -> None:
    body = SnpReport(signing_key=1, chip_id=sw.chip_id, reported_tcb=sw.tcb).to_bytes()[:0x2A0]
    signed = body + sw.sign_bytes(body)
    with pytest.raises(VerificationError) as info:
        verify_report(signed, sw.vcek_pem, sw.chain_pem, trusted_ark_sha256=sw.ark_sha256)
    assert info.value.field == "signing_key"


def test_vcek_extensions_must_match_the_report(sw: SoftwareAttestationKeys) -> None:
    with pytest.raises(VerificationError) as info:
        verify_report(
            sw.sign_report(SnpReport(chip_id=b"\7" * 64)),
            sw.vcek_pem,
            sw.chain_pem,
            trusted_ark_sha256=sw.ark_sha256,
        )
    assert info.value.field == "chip_id"
    with pytest.raises(VerificationError) as info:
        verify_report(
            sw.sign_report(SnpReport(reported_tcb=1)),
            sw.vcek_pem,
            sw.chain_pem,
            trusted_ark_sha256=sw.ark_sha256,
        )
    assert info.value.field.startswith("reported_tcb.")


def test_foreign_chain_with_the_same_names(sw: SoftwareAttestationKeys, tmp_path: Path) -> None:
    other = SoftwareAttestationKeys.create(str(tmp_path / "other"), rsa_bits=2048)
    signed = sw.sign_report(SnpReport())
    with pytest.raises(CertificateError) as info:
        verify_report(signed, sw.vcek_pem, other.chain_pem)
    assert info.value.field == "vcek.signature"
    with pytest.raises(SignatureError):  # a valid chain whose VCEK did not sign this report
        verify_report(signed, other.vcek_pem, other.chain_pem, trusted_ark_sha256=other.ark_sha256)


def test_software_report_against_amd_chain(sw: SoftwareAttestationKeys, real: dict[str, bytes]) -> None:
    with pytest.raises(CertificateError):
        verify_report(sw.sign_report(SnpReport()), sw.vcek_pem, real["milan"])


def test_chain_shape(real: dict[str, bytes]) -> None:
    ask_only = real["milan"].split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], real["vcek"], ask_only, at=AT)
    assert info.value.field == "chain"


def test_malformed_inputs(real: dict[str, bytes]) -> None:
    with pytest.raises(TruncatedError):
        verify_report(real["report"][:-1], real["vcek"], real["milan"], at=AT)
    with pytest.raises(FormatError):
        verify_report(real["report"] + b"\0", real["vcek"], real["milan"], at=AT)
    with pytest.raises(FormatError):
        verify_report(real["report"], b"garbage", real["milan"], at=AT)
    with pytest.raises(FormatError):
        verify_report(real["report"], real["vcek"], b"-----BEGIN CERTIFICATE-----\nAAAA\n", at=AT)
    with pytest.raises(FormatError):
        verify_report(real["report"], real["vcek"][:-10], real["milan"], at=AT)


def test_loading_amd_certificates_emits_no_warning(real: dict[str, bytes]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_certificates(real["vcek"])  # serial number 0


def _vlek_chain(tmp_path: Path, hwid: bytes | None = None) -> tuple[bytes, bytes, object]:
    """A VLEK chain shaped like AMD's (ARK-Milan → SEV-VLEK-Milan → SEV-VLEK), made here; with
    ``hwid``, a VCEK chain (ARK-Turin → SEV-Turin → SEV-VCEK) whose VCEK carries that hwID."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def cert(
        subject: str, key: object, issuer: str, issuer_key: rsa.RSAPrivateKey, hw: bytes | None = None
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())  # type: ignore[attr-defined]
            .serial_number(1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650))
        )
        if hw is not None:
            oid = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")
            b = b.add_extension(x509.UnrecognizedExtension(oid, hw), critical=False)
        return b.sign(issuer_key, hashes.SHA384(), rsa_padding=pss)

    product, ask_cn, leaf_cn = (
        ("Milan", "SEV-VLEK-Milan", "SEV-VLEK") if hwid is None else ("Turin", "SEV-Turin", "SEV-VCEK")
    )
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    asvk_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    vlek_key = ec.generate_private_key(ec.SECP384R1())
    ark = cert(f"ARK-{product}", ark_key, f"ARK-{product}", ark_key)
    asvk = cert(ask_cn, asvk_key, f"ARK-{product}", ark_key)
    vlek = cert(leaf_cn, vlek_key, ask_cn, asvk_key, hwid)
    pem = serialization.Encoding.PEM
    return vlek.public_bytes(pem), asvk.public_bytes(pem) + ark.public_bytes(pem), vlek_key


def pin(chain: bytes) -> str:
    """SHA-256 of the self-signed ARK in a chain made here: the trust anchor the test names."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    from pvmkit.attest.verify import load_certificates

    ark = next(c for c in load_certificates(chain) if c.issuer == c.subject)
    return hashlib.sha256(ark.public_bytes(Encoding.DER)).hexdigest()


def test_vlek_reports(tmp_path: Path, real: dict[str, bytes]) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.attest.snp_report import der_to_amd_signature

    vlek_pem, chain, key = _vlek_chain(tmp_path)
    at = dt.datetime(2025, 1, 1)

    def sign(report: SnpReport) -> bytes:
        body = report.to_bytes()[:0x2A0]
        return body + der_to_amd_signature(key.sign(body, ec.ECDSA(hashes.SHA384())))  # type: ignore[attr-defined]

    signed = sign(SnpReport(signing_key=1, chip_id=b"\x05" * 64))
    res = verify_report(signed, vlek_pem, chain, at=at, key_kind="vlek", trusted_ark_sha256=pin(chain))
    assert res.signing_key == "vlek" and res.product == "Milan"
    assert verify_report(signed, vlek_pem, chain, at=at, trusted_ark_sha256=pin(chain)).signing_key == "vlek"
    with pytest.raises(CertificateError) as info:  # a VLEK presented as a VCEK
        verify_report(signed, vlek_pem, chain, at=at, key_kind="vcek", trusted_ark_sha256=pin(chain))
    assert info.value.field == "certificate_kind"
    with pytest.raises(VerificationError) as info2:  # a report that says VCEK, signed by a VLEK
        verify_report(sign(SnpReport(signing_key=0)), vlek_pem, chain, at=at, trusted_ark_sha256=pin(chain))
    assert info2.value.field == "signing_key"
    with pytest.raises(CertificateError):  # the real VCEK with this VLEK chain
        verify_report(real["report"], real["vcek"], chain, at=at)


def test_real_report_verifies_now_while_certificates_are_valid(real: dict[str, bytes]) -> None:
    if dt.datetime.now(dt.timezone.utc) >= dt.datetime(2029, 9, 24, tzinfo=dt.timezone.utc):
        pytest.skip("the go-sev-guest VCEK expired on 2029-09-24; the pinned-time tests cover it")
    assert verify_report(real["report"], real["vcek"], real["milan"]).signing_key == "vcek"


def test_short_hwid_is_a_chip_id_prefix(tmp_path: Path) -> None:
    """A VCEK whose hwID has 8 bytes (Turin-style chip ids) matches a CHIP_ID with that prefix."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.attest.snp_report import der_to_amd_signature

    hwid = bytes(range(1, 9))
    vcek_pem, chain, key = _vlek_chain(tmp_path, hwid=hwid)

    def sign(report: SnpReport) -> bytes:
        body = report.to_bytes()[:0x2A0]
        return body + der_to_amd_signature(key.sign(body, ec.ECDSA(hashes.SHA384())))  # type: ignore[attr-defined]

    at = dt.datetime(2025, 1, 1)
    turin = {"version": 3, "cpuid_fam_id": 0x1A, "cpuid_mod_id": 0x02}
    res = verify_report(
        sign(SnpReport(**turin, chip_id=hwid + bytes(56))),
        vcek_pem,
        chain,
        at=at,
        trusted_ark_sha256=pin(chain),
    )
    assert res.product == "Turin" and status(res, "vcek.chip_id") == "passed"
    with pytest.raises(VerificationError) as info:
        verify_report(
            sign(SnpReport(**turin, chip_id=hwid + b"\1" + bytes(55))),
            vcek_pem,
            chain,
            at=at,
            trusted_ark_sha256=pin(chain),
        )
    assert info.value.field == "chip_id"


def test_unsigned_signature_algorithm_copy_is_checked(real: dict[str, bytes]) -> None:
    """The RSASSA-PSS trailer field of the outer (unsigned) signatureAlgorithm is not covered by the
    signature; changing it must still be rejected (RFC 5280 §4.1.1.2)."""
    vcek = bytearray(real["vcek"])
    outer = bytes(vcek).rindex(bytes.fromhex("a303020101"))  # trailerField [3] INTEGER 1, outer copy
    assert outer > 700  # after the TBSCertificate
    vcek[outer + 4] = 2
    with pytest.raises(CertificateError) as info:
        verify_report(real["report"], bytes(vcek), real["milan"], at=AT)
    assert info.value.field == "certificate.signature_algorithm"


def test_mutated_certificates_never_escape_as_other_exceptions(real: dict[str, bytes]) -> None:
    """Random byte changes in the VCEK or the chain: always a pvmkit error, never a crash or a pass."""
    import random

    from cryptography.hazmat.primitives.serialization import Encoding

    from pvmkit.errors import PvmkitError

    ask, ark = load_certificates(real["milan"])
    chain = ask.public_bytes(Encoding.DER) + ark.public_bytes(Encoding.DER)
    rnd = random.Random(4)
    for i in range(400):
        vcek, bundle = bytearray(real["vcek"]), bytearray(chain)
        target = vcek if i % 2 else bundle
        pos = rnd.randrange(len(target))
        target[pos] ^= rnd.randrange(1, 256)
        with pytest.raises(PvmkitError):
            verify_report(real["report"], bytes(vcek), bytes(bundle), at=AT)


def test_pss_parameters_must_be_amds(tmp_path: Path) -> None:
    """A chain signed with RSASSA-PSS but salt 32 instead of AMD's 48 is refused."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARK-Milan")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    ark = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=10))
        .sign(
            key, hashes.SHA384(), rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=32)
        )
    )
    from pvmkit.attest.verify import verify_chain

    (vcek,) = load_certificates(read_fixture(G + "vcek.testcer"))
    ask, _ = load_certificates(read_fixture(G + "milan.testcer"))
    (ark_loaded,) = load_certificates(ark.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateError) as info:
        verify_chain(vcek, [ask, ark_loaded], at=start)
    assert info.value.field == "ark.signature_algorithm"


@pytest.mark.parametrize(("product", "files"), [
    ("Milan", ["ask_ark_milan.pem", "ask_ark_milan_vlek.pem"]),
    ("Genoa", ["ask_ark_genoa.pem", "ask_ark_genoa_vlek.pem"]),
    ("Turin", ["ask_ark_turin_vcek.pem", "ask_ark_turin_vlek.pem"]),
])  # fmt: skip
def test_default_trust_anchors_are_amds_arks(product: str, files: list[str]) -> None:
    """AMD_ARK_SHA256 against the ARKs of AMD's key distribution service (go-sev-guest's copies of
    the VCEK and VLEK chains)."""
    from pvmkit.attest.verify import AMD_ARK_SHA256

    for name in files:
        chain = read_fixture("go-sev-guest/trust/" + name)
        assert pin(chain) == AMD_ARK_SHA256[product], name


def _ark_crl(sw: SoftwareAttestationKeys, revoked: list[int], *, days: int = 30, signer=None) -> bytes:  # type: ignore[no-untyped-def]
    """A CRL of the software ARK, signed the way AMD signs (RSASSA-PSS, SHA-384, salt 48)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = signer or serialization.load_pem_private_key(Path(sw.path("ark_key")).read_bytes(), password=None)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(sw.ark_cert.subject)
        .last_update(now - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=days))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(hours=1))
            .build()
        )
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    return builder.sign(key, hashes.SHA384(), rsa_padding=pss).public_bytes(serialization.Encoding.DER)


def test_the_arks_crl(sw: SoftwareAttestationKeys, tmp_path: Path) -> None:
    """With ``crl``, the ARK's CRL must be the ARK's (RSASSA-PSS signature), current, and not revoke the
    ASK; AMD's key distribution service publishes such a CRL per product line."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    signed = sw.sign_report(SnpReport())
    args = (signed, sw.vcek_pem, sw.chain_pem)
    ok = verify_report(*args, trusted_ark_sha256=sw.ark_sha256, crl=_ark_crl(sw, [12345]))
    assert ok.checks.get("crl.ark").detail == "ARK CRL: signed by ARK-Milan, current, ask not revoked"  # type: ignore[union-attr]
    with pytest.raises(CertificateError, match=r"ask certificate .* is revoked by the ARK CRL") as info:
        verify_report(*args, trusted_ark_sha256=sw.ark_sha256, crl=_ark_crl(sw, [sw.ask_cert.serial_number]))
    assert info.value.field == "ask.revoked"
    with pytest.raises(CertificateError, match="ARK CRL is not current"):
        verify_report(*args, trusted_ark_sha256=sw.ark_sha256, crl=_ark_crl(sw, []),
                      at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=60))  # fmt: skip
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CertificateError, match="ARK CRL signature does not verify"):
        verify_report(*args, trusted_ark_sha256=sw.ark_sha256, crl=_ark_crl(sw, [], signer=stranger))


def test_minimum_tcb(real: dict[str, bytes]) -> None:
    """The real report's REPORTED_TCB is bootloader 2, tee 0, snp 5, microcode 68 (the same values as
    its VCEK's SPL extensions, which AMD's key distribution service wrote)."""
    exact = {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
    res = verify_report(
        real["report"], real["vcek"], real["milan"], at=AT, expected=Expected(min_reported_tcb=exact)
    )
    assert status(res, "tcb.minimum.reported") == "passed"
    with pytest.raises(
        VerificationError, match=r"tcb\.minimum\.reported \(offset 0x180\): .*below: snp"
    ) as info:
        verify_report(real["report"], real["vcek"], real["milan"], at=AT,
                      expected=Expected(min_reported_tcb={"snp": 6}))  # fmt: skip
    assert info.value.field == "reported_tcb"
    assert info.value.expected == {"snp": 6} and info.value.actual == {"snp": 5}
    with pytest.raises(InputError, match="no TCB component 'fmc' in a milan report"):
        verify_report(real["report"], real["vcek"], real["milan"], at=AT,
                      expected=Expected(min_reported_tcb={"fmc": 0}))  # fmt: skip
