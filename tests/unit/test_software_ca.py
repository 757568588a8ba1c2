"""Software attestation keys (pvmkit.attest.software_ca): created in temporary directories only,
never in the real home (XDG_DATA_HOME/HOME are pointed at tmp_path where the default is used)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pvmkit.attest.snp_report import SIGNING_KEY_VLEK, SnpReport, parse
from pvmkit.attest.software_ca import (
    DEFAULT_TCB,
    FILES,
    SoftwareAttestationKeys,
    default_directory,
    der_integer,
    parse_der_integer,
)
from pvmkit.attest.verify import Expected, load_certificates, verify_report
from pvmkit.errors import AttestationError, SignatureError


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SoftwareAttestationKeys:
    return SoftwareAttestationKeys.load_or_create(str(tmp_path_factory.mktemp("sw") / "att"), rsa_bits=2048)


def test_files_and_modes(keys: SoftwareAttestationKeys) -> None:
    d = Path(keys.directory)
    assert sorted(os.listdir(d)) == sorted(FILES.values())
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for key in ("ark_key", "ask_key", "vcek_key"):
        assert stat.S_IMODE((d / FILES[key]).stat().st_mode) == 0o600
    assert (d / "cert_chain.pem").read_bytes() == keys.chain_pem
    assert (d / "vcek.der").read_bytes() == keys.vcek_der
    assert not [n for n in os.listdir(d.parent) if n.startswith(".pvmkit-")]  # no temp dir left


def test_load_or_create_reuses(keys: SoftwareAttestationKeys) -> None:
    again = SoftwareAttestationKeys.load_or_create(keys.directory)
    assert again.vcek_der == keys.vcek_der and again.chain_pem == keys.chain_pem
    assert again.chip_id == keys.chip_id and again.tcb == keys.tcb == DEFAULT_TCB
    with pytest.raises(AttestationError):
        SoftwareAttestationKeys.create(keys.directory, rsa_bits=2048)
    loser = SoftwareAttestationKeys.create(keys.directory, rsa_bits=2048, exist_ok=True)
    assert loser.vcek_der == keys.vcek_der  # a creator that lost the race loads the winner's keys


def test_certificates_are_shaped_like_amds(keys: SoftwareAttestationKeys) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    ask, ark = load_certificates(keys.chain_pem)
    (vcek,) = load_certificates(keys.vcek_pem)
    assert ark.subject == ark.issuer and ask.issuer == ark.subject and vcek.issuer == ask.subject
    for cert in (ark, ask, vcek):
        params = cert.signature_algorithm_parameters
        assert isinstance(params, padding.PSS)
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    assert isinstance(ark.public_key(), rsa.RSAPublicKey)
    key = vcek.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    oids = {e.oid.dotted_string: e.value for e in vcek.extensions}
    assert oids["1.3.6.1.4.1.3704.1.4"].value == keys.chip_id  # type: ignore[attr-defined]
    assert parse_der_integer(oids["1.3.6.1.4.1.3704.1.3.3"].value) == 22  # type: ignore[attr-defined]
    assert "not AMD" in ark.subject.rfc4514_string()


def test_default_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_directory() == str(tmp_path / "xdg" / "pvmkit" / "attestation")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_directory() == str(tmp_path / "home" / ".local" / "share" / "pvmkit" / "attestation")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert default_directory().startswith(str(tmp_path / "home"))


def test_load_or_create_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    k = SoftwareAttestationKeys.load_or_create(rsa_bits=2048)
    assert k.directory == str(tmp_path / "pvmkit" / "attestation")
    assert os.path.isfile(k.path("vcek_key"))


def test_default_rsa_4096_mirrors_amd(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = SoftwareAttestationKeys.create(str(tmp_path / "k"))
    ark_key = k.ark_cert.public_key()
    assert isinstance(ark_key, rsa.RSAPublicKey) and ark_key.key_size == 4096


def test_sign_and_verify(keys: SoftwareAttestationKeys) -> None:
    m = bytes(range(48))
    signed = keys.sign_report(SnpReport(measurement=m, host_data=b"\x22" * 32, report_data=b"\x33" * 64))
    assert len(signed) == 1184
    r = parse(signed)
    assert r.signing_key == 0 and r.chip_id == keys.chip_id and r.reported_tcb == keys.tcb
    res = verify_report(
        signed,
        keys.vcek_pem,
        keys.chain_pem,
        expected=Expected(measurement=m),
        trusted_ark_sha256=keys.ark_sha256,
    )
    assert res.signing_key == "vcek" and res.report.measurement == m
    assert res.checks.get("vcek.chip_id").status == "passed"  # type: ignore[union-attr]
    # DER forms work too
    from cryptography.hazmat.primitives.serialization import Encoding

    der_chain = keys.ask_cert.public_bytes(Encoding.DER) + keys.ark_cert.public_bytes(Encoding.DER)
    verify_report(signed, keys.vcek_der, der_chain, trusted_ark_sha256=keys.ark_sha256)


def test_tampered_software_report_is_rejected(keys: SoftwareAttestationKeys) -> None:
    signed = bytearray(keys.sign_report(SnpReport()))
    signed[0x90] ^= 1
    with pytest.raises(SignatureError):
        verify_report(bytes(signed), keys.vcek_pem, keys.chain_pem, trusted_ark_sha256=keys.ark_sha256)


def test_sign_report_refuses_other_signing_keys(keys: SoftwareAttestationKeys) -> None:
    with pytest.raises(AttestationError):
        keys.sign_report(SnpReport(signing_key=SIGNING_KEY_VLEK))
    with pytest.raises(AttestationError):
        keys.sign_report(SnpReport(signature_algo=2))
    with pytest.raises(AttestationError):
        keys.sign_report(SnpReport(measurement=b"short"))


def test_explicit_fields_are_kept(keys: SoftwareAttestationKeys) -> None:
    chip = b"\x01" * 64
    r = parse(keys.sign_report(SnpReport(chip_id=chip, reported_tcb=5)))
    assert r.chip_id == chip and r.reported_tcb == 5
    r = parse(keys.sign_report(SnpReport(mask_chip_key=True)))
    assert r.chip_id == bytes(64)


def test_incomplete_directory(tmp_path: Path) -> None:
    (tmp_path / "vcek.key").write_bytes(b"x")
    with pytest.raises(AttestationError):
        SoftwareAttestationKeys.load(str(tmp_path))


def test_mismatched_key(keys: SoftwareAttestationKeys, tmp_path: Path) -> None:
    other = SoftwareAttestationKeys.create(str(tmp_path / "o"), rsa_bits=2048)
    d = tmp_path / "mix"
    d.mkdir()
    for name in FILES.values():
        (d / name).write_bytes(Path(keys.directory, name).read_bytes())
    (d / "vcek.key").write_bytes(Path(other.directory, "vcek.key").read_bytes())
    with pytest.raises(AttestationError):
        SoftwareAttestationKeys.load(str(d))


def test_der_integer() -> None:
    for v in (0, 5, 0x44, 0x7F, 0x80, 0xFF, 0x100):
        assert parse_der_integer(der_integer(v)) == v
    assert der_integer(0x44) == b"\x02\x01\x44" and der_integer(0x80) == b"\x02\x02\x00\x80"


def test_create_in_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(AttestationError):
        SoftwareAttestationKeys.load_or_create(str(tmp_path / "d"), rsa_bits=2048)
    assert sorted(os.listdir(tmp_path)) == ["d"]  # no temporary directory left behind


def test_concurrent_creators_exactly_one_created(tmp_path: Path) -> None:
    """Issue 15 item 7: of several processes or threads creating one directory's keys at once, exactly
    one reports ``created`` (the winner of the directory rename); all end with the same keys."""
    import threading

    where = str(tmp_path / "keys")
    results: list[SoftwareAttestationKeys] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        results.append(SoftwareAttestationKeys.load_or_create(where, rsa_bits=2048))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 8
    assert [k.created for k in results].count(True) == 1
    assert len({k.ark_sha256 for k in results}) == 1
    assert SoftwareAttestationKeys.load_or_create(where).created is False
