"""An IGVM file run as a software-protected VM on the real /dev/kvm (``pvmkit launch --vendor sw
--igvm``): the bundled attestation guest written as IGVM is launched, its launch digest equals
``pvmkit measure --vendor snp --igvm`` of the same file, and its report verifies with that
measurement and the nonce the file carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.attest.verify import Expected, verify_report
from pvmkit.cli.main import main
from pvmkit.guest import report_data_for
from pvmkit.loaders.igvm import igvm_from_plan
from pvmkit.vendors.sw.builder import bundled_guest_plan
from support.igvm_vectors import igvm_file

pytestmark = pytest.mark.kvm
NONCE = bytes(range(32))


def test_the_bundled_guest_as_igvm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    guest = tmp_path / "guest.igvm"
    guest.write_bytes(igvm_from_plan(bundled_guest_plan(nonce=NONCE, host_data=b"\7" * 32).plan))
    assert main(["measure", "--vendor", "snp", "--igvm", str(guest)]) == 0
    predicted = capsys.readouterr().out.strip()
    assert main(["measure", "--vendor", "sw", "--igvm", str(guest)]) == 0  # sw is measured like SNP
    assert capsys.readouterr().out.strip() == predicted
    keys = tmp_path / "keys"
    report = tmp_path / "report.bin"
    argv = ["launch", "--vendor", "sw", "--igvm", str(guest), "--key", str(keys), "--report-out", str(report)]
    assert main([*argv, "--host-data", "07" * 32, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["measurement"] == {"predicted": predicted, "actual": predicted, "match": True}
    assert summary["guest"] == str(guest) and summary["mode"] == "igvm" and summary["vcpus"] == 1
    assert summary["run"]["reason"] == "halt" and summary["report"]["measurement"] == predicted
    sw = SoftwareAttestationKeys.load(str(keys))
    verdict = verify_report(
        report.read_bytes(),
        sw.vcek_pem,
        sw.chain_pem,
        trusted_ark_sha256=sw.ark_sha256,
        expected=Expected(measurement=bytes.fromhex(predicted), report_data=report_data_for(NONCE),
                          host_data=b"\7" * 32),
    )  # fmt: skip
    assert "measurement" in verdict.expected_fields


def test_igvm_launch_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.igvm"
    spec.write_bytes(igvm_file())  # its VMSA has SEV_FEATURES 0: KVM would write SNPActive into it
    assert main(["launch", "--igvm", str(spec), "--key", str(tmp_path / "k")]) == 1
    assert "VMSA SEV_FEATURES 0x0 differs from INIT's 0x1" in capsys.readouterr().err
    assert main(["launch", "--igvm", str(spec), "--vcpus", "2"]) == 1
    assert "takes memory, vCPUs, features and policy from the file: not --vcpus" in capsys.readouterr().err
