"""AMD KDS URLs and Trustee's offline VCEK store (pvmkit.attest.snp_kds, pvmkit verify --kds-url /
--kds-cache). Provenance: tests/vectors/README.md "AMD KDS URLs and the offline store"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pvmkit.attest.snp_kds import kds_location, read_vcek_store
from pvmkit.attest.snp_report import SnpReport, TcbVersion
from pvmkit.cli.main import main
from pvmkit.errors import InputError
from support.fixtures import fixture_path, read_fixture

G = "go-sev-guest/"
AT = "2025-06-01T00:00:00Z"
HWID = (
    "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea4"
    "64cdce40c05f63c9b610c5068b006b5d"
)
MILAN_URL = f"https://kdsintf.amd.com/vcek/v1/Milan/{HWID}?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=68"
MILAN_FILE = "bl02_tee00_snp05_ucode68_vcek.der"


def vcek_extensions() -> tuple[str, dict[str, int]]:
    """hwID and SPLs of the real VCEK, read with cryptography (AMD KDS wrote them)."""
    import warnings

    from cryptography import x509

    with warnings.catch_warnings():  # KDS certificates may carry serial number 0, which cryptography flags
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(read_fixture(G + "vcek.testcer"))
        ext = {e.oid.dotted_string: e.value.value for e in cert.extensions}  # type: ignore[attr-defined]
    spl = {
        name: ext[f"1.3.6.1.4.1.3704.1.3.{n}"][-1]
        for name, n in (("bl", 1), ("tee", 2), ("snp", 3), ("ucode", 8))
    }
    return ext["1.3.6.1.4.1.3704.1.4"].hex(), spl


def test_milan_url_and_store_names_of_the_real_report() -> None:
    hwid, spl = vcek_extensions()
    assert hwid == HWID and spl == {"bl": 2, "tee": 0, "snp": 5, "ucode": 68}
    loc = kds_location(SnpReport.parse(read_fixture(G + "attestation.bin")))
    assert (loc.product, loc.product_from) == ("Milan", "assumed")  # a version 2 report
    assert loc.vcek_url == MILAN_URL
    assert loc.cert_chain_url == "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain"
    assert loc.crl_url == "https://kdsintf.amd.com/vcek/v1/Milan/crl"
    assert loc.store_paths("/s") == (f"/s/vcek/{HWID}/{MILAN_FILE}", f"/s/vcek/{HWID}/vcek.der")


def test_turin_uses_8_byte_hwid_and_fmc() -> None:
    """Trustee's own test example of a Turin store name: bl03_tee01_snp08_ucode15_fmc05."""
    tcb = TcbVersion.encode(fmc=5, bootloader=3, tee=1, snp=8, microcode=15, layout="turin")
    chip = bytes(range(0xA0, 0xA8)) + bytes(56)
    loc = kds_location(
        SnpReport(version=3, cpuid_fam_id=0x1A, cpuid_mod_id=0x02, chip_id=chip, reported_tcb=tcb)
    )
    assert (loc.product, loc.hwid) == ("Turin", "a0a1a2a3a4a5a6a7")
    assert loc.vcek_url == (
        "https://kdsintf.amd.com/vcek/v1/Turin/a0a1a2a3a4a5a6a7?fmcSPL=05&blSPL=03&teeSPL=01&snpSPL=08&ucodeSPL=15"
    )
    assert loc.store_prefix == "bl03_tee01_snp08_ucode15_fmc05"
    v2 = kds_location(SnpReport(version=2, chip_id=chip, reported_tcb=tcb))  # Turin-shaped CHIP_ID
    assert (v2.product, v2.product_from, v2.vcek_url) == ("Turin", "chip_id", loc.vcek_url)


def test_genoa_products_and_vlek() -> None:
    chip = b"\x11" * 64
    genoa = kds_location(SnpReport(version=3, cpuid_fam_id=0x19, cpuid_mod_id=0x11, chip_id=chip))
    assert genoa.product == "Genoa" and genoa.vcek_url is not None and "/vcek/v1/Genoa/" in genoa.vcek_url
    assert kds_location(SnpReport(version=2, chip_id=chip), "Bergamo").product == "Genoa"
    vlek = kds_location(SnpReport(chip_id=chip, signing_key=1))
    assert vlek.vcek_url is None
    assert vlek.cert_chain_url == "https://kdsintf.amd.com/vlek/v1/Milan/cert_chain"
    with pytest.raises(InputError, match="all zero"):
        kds_location(SnpReport(mask_chip_key=True))
    with pytest.raises(InputError, match="unknown AMD product 'Rome'"):
        kds_location(SnpReport(chip_id=chip), "Rome")


def test_kds_url_command(capsys: pytest.CaptureFixture[str]) -> None:
    report = str(fixture_path(G + "attestation.bin"))
    assert main(["verify", "--report", report, "--kds-url"]) == 0
    out = capsys.readouterr().out
    assert f"vcek        {MILAN_URL}\n" in out and "assumed" in out
    assert main(["verify", "--report", report, "--kds-url", "--product", "genoa", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["schema"] == "pvmkit.kds-url/1" and doc["product"] == "Genoa" and doc["product_from"] == "given"
    )
    assert doc["vcek_url"] == MILAN_URL.replace("/Milan/", "/Genoa/")
    assert doc["store_files"] == [f"vcek/{HWID}/{MILAN_FILE}", f"vcek/{HWID}/vcek.der"]
    assert doc["store_chain"] == "vcek/v1/Genoa/cert_chain"
    assert main(["verify", "--report", report, "--kds-url", "--product", "Naples"]) == 1
    assert "unknown AMD product 'Naples'" in capsys.readouterr().err


def store_argv(store: Path, *extra: str) -> list[str]:
    report, chain = str(fixture_path(G + "attestation.bin")), str(fixture_path(G + "milan.testcer"))
    return ["verify", "--report", report, "--kds-cache", str(store), "--chain", chain, "--at", AT,
            "--allow-debug", *extra]  # fmt: skip


def test_offline_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vcek = fixture_path(G + "vcek.testcer")
    directory = tmp_path / "vcek" / HWID
    directory.mkdir(parents=True)
    assert main(store_argv(tmp_path)) == 1  # empty store
    err = capsys.readouterr().err
    assert MILAN_FILE in err and f"{HWID}/vcek.der" in err and MILAN_URL in err
    shutil.copy(vcek, directory / "vcek.der")  # the legacy flat layout
    assert main(store_argv(tmp_path)) == 0
    assert capsys.readouterr().out.startswith("OK: SEV-SNP report v2 signed by VCEK (Milan)")
    shutil.copy(vcek, directory / MILAN_FILE)
    (directory / "vcek.der").write_bytes(b"not consulted")  # the TCB-named file comes first
    assert main(store_argv(tmp_path, "--json")) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert read_vcek_store(str(tmp_path), kds_location(SnpReport.parse(read_fixture(G + "attestation.bin"))))[
        1
    ] == str(directory / MILAN_FILE)


def test_a_wrong_file_in_the_store_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pvmkit.attest.software_ca import SoftwareAttestationKeys

    other = SoftwareAttestationKeys.create(str(tmp_path / "k"), rsa_bits=2048)
    directory = tmp_path / "store" / "vcek" / HWID
    directory.mkdir(parents=True)
    (directory / MILAN_FILE).write_bytes(other.vcek_der)
    assert main(store_argv(tmp_path / "store")) == 3
    assert "chain" in capsys.readouterr().err  # not issued by the Milan ASK
    (directory / MILAN_FILE).unlink()
    (directory / MILAN_FILE).mkdir()  # there, but unreadable as a file: an error, not a fallback
    shutil.copy(fixture_path(G + "vcek.testcer"), directory / "vcek.der")
    assert main(store_argv(tmp_path / "store")) == 1
    assert MILAN_FILE in capsys.readouterr().err


def test_chain_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --chain, the ASK+ARK come from the store under the KDS URL's path."""
    report = str(fixture_path(G + "attestation.bin"))
    directory = tmp_path / "vcek" / HWID
    directory.mkdir(parents=True)
    shutil.copy(fixture_path(G + "vcek.testcer"), directory / MILAN_FILE)
    argv = ["verify", "--report", report, "--kds-cache", str(tmp_path), "--at", AT, "--allow-debug"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert (
        f"{tmp_path}/vcek/v1/Milan/cert_chain" in err
        and "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain" in err
    )
    (tmp_path / "vcek" / "v1" / "Milan").mkdir(parents=True)
    shutil.copy(fixture_path(G + "milan.testcer"), tmp_path / "vcek" / "v1" / "Milan" / "cert_chain")
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("OK: SEV-SNP report v2 signed by VCEK (Milan)")
    assert main([*argv, "--product", "Genoa"]) == 1  # Genoa's chain is not in this store
    assert "vcek/v1/Genoa/cert_chain" in capsys.readouterr().err


def test_kds_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = str(fixture_path(G + "attestation.bin"))
    assert main(["verify", "--report", report, "--kds-url", "--measurement", "00" * 48, "--allow-debug"]) == 2
    assert "--kds-url only prints URLs and verifies nothing; it takes no --measurement, --allow-debug" in (
        capsys.readouterr().err
    )
    assert main(["verify", "--report", report, "--vcek", str(fixture_path(G + "vcek.testcer")), "--chain",
                 str(fixture_path(G + "milan.testcer")), "--product", "Milan"]) == 2  # fmt: skip
    assert "--product is for --kds-url and --kds-cache" in capsys.readouterr().err
