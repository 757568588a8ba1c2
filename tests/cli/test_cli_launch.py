"""``pvmkit launch`` through the dispatcher: serial streaming, JSON shape (docs/cli.md), report file,
exit codes, one-line errors. Keys always live in a temporary directory (``--key``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvmkit.attest.snp_report import SnpReport
from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.cli.main import main
from pvmkit.guest import report_data_for
from support.fixtures import fixture_path

NONCE = "5a" * 32


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("keys") / "attestation")
    SoftwareAttestationKeys.create(path, rsa_bits=2048)
    return path


@pytest.fixture(autouse=True)
def _no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # whatever a test forgets, the real ~/.local/share is never touched
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _one_line_error(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: "), err
    assert "Traceback" not in err


@pytest.mark.kvm
def test_launch_streams_the_guests_serial_output(key_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--key", key_dir, "--nonce", NONCE]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("measurement=") and len(out.strip()) == len("measurement=") + 96
    assert "(match)" in err and "Traceback" not in err


@pytest.mark.kvm
def test_launch_json_and_report_out(key_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.bin"
    host_data = "11" * 32
    argv = ["launch", "--key", key_dir, "--nonce", NONCE, "--host-data", host_data, "--json"]
    assert main([*argv, "--report-out", str(report_path), "--vmsa-features", "DEBUG_SWAP"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.launch/1" and doc["vendor"] == "sw"
    assert doc["measurement"]["match"] is True
    assert doc["measurement"]["predicted"] == doc["measurement"]["actual"] == doc["report"]["measurement"]
    assert doc["run"]["reason"] == "halt" and doc["run"]["attestation_requests"] == 1
    assert doc["run"]["serial"] == f"measurement={doc['measurement']['actual']}\n"
    assert doc["vmsa_features"] == "0x21" and doc["vmsa_feature_names"] == ["SNP_ACTIVE", "DEBUG_SWAP"]
    assert (
        doc["report"]["report_data"]
        == report_data_for(bytes.fromhex(NONCE)).hex()
        == doc["expected_report_data"]
    )
    assert doc["report"]["host_data"] == host_data and doc["report"]["policy"] == "0x30000"
    assert doc["keys"] == {"directory": key_dir, "created": False}
    assert set(doc["timings_ms"]) == {"plan", "predict", "keys", "launch", "first_exit", "run", "total"}
    report = SnpReport.parse(report_path.read_bytes())
    assert report.measurement.hex() == doc["measurement"]["actual"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pvmkit-")] == []


@pytest.mark.kvm
def test_launch_a_flat_binary(key_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "hello.bin"
    binary.write_bytes(bytes.fromhex("baf803b048eeb069eef4"))  # out 'H','i'; hlt
    argv = [
        "launch",
        "--key",
        key_dir,
        "--binary",
        str(binary),
        "--load-address",
        "0x2000",
        "--mode",
        "real16",
    ]
    assert main(argv) == 0
    out, _err = capsys.readouterr()
    assert out == "Hi"
    # no report was asked for: --report-out is an error, not a silent no-op
    assert main([*argv, "--report-out", str(tmp_path / "r.bin")]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err.splitlines(keepends=True)[-1])
    assert not (tmp_path / "r.bin").exists()


@pytest.mark.kvm
def test_a_guest_that_does_not_halt_exits_1(
    key_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "spin.bin"
    binary.write_bytes(b"\xeb\xfe")
    assert main(["launch", "--key", key_dir, "--binary", str(binary), "--timeout", "0.2", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["run"]["reason"] == "timeout"
    _one_line_error(err)
    assert "did not halt" in err


@pytest.mark.kvm
def test_unsupported_features_are_one_line(key_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--key", key_dir, "--vmsa-features", "SECURE_TSC"]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)
    assert "SECURE_TSC" in err and "not supported by the sw VM" in err
    # a well-formed policy the sw VM does not honour (DEBUG, bit 19) is refused content, exit 1
    assert main(["launch", "--key", key_dir, "--policy", "0xb0000"]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)
    assert "policy 0xb0000 has bit(s) 0x80000 the sw VM does not support" in err


@pytest.mark.kvm
def test_a_hardware_vendor_the_host_lacks_is_a_capability_error(capsys: pytest.CaptureFixture[str]) -> None:
    from pvmkit.kvm.probe import probe

    if probe().vendors["snp"].available:
        pytest.skip("this host runs SNP guests")
    fw = str(fixture_path("firmware/OVMF.amdsev.fd"))
    assert main(["launch", "--vendor", "snp", "--firmware", fw, "--vcpu-type", "EPYC-v4"]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)
    assert "launch --vendor snp" in err and "KVM_X86_SNP_VM" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--entry", "0x10000"],  # --entry without --binary
        ["--binary", "/nonexistent/guest.bin"],
    ],
)
def test_bad_inputs_exit_1_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", *argv]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["--nonce", "zz"],
        ["--nonce", "00"],
        ["--host-data", "00" * 31],
        ["--policy", "lots"],
        ["--policy", "0x1"],  # bit 17 clear: no SNP guest policy (the SNP ABI's GUEST_POLICY)
        ["--policy", "0x4030000"],  # bit 26: undefined
        ["--vmsa-features", "NOPE"],
        ["--vcpus", "0"],
    ],
)
def test_bad_option_values_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md: an option value that does not parse or is out of its range is a usage error."""
    assert main(["launch", *argv]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith("pvmkit launch: usage error: ") and err.count("\n") == 1, err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--vendor", "arm"]) == 2
    assert main(["launch", "--bogus"]) == 2
    assert main(["launch", "--help"]) == 0
    out, _err = capsys.readouterr()
    assert "--report-out" in out


@pytest.mark.kvm
@pytest.mark.slow  # 8 processes each generating two RSA-4096 keys: ~15 s on a loaded 2-core machine
def test_concurrent_first_launches_create_the_keys_once(tmp_path: Path) -> None:
    """Issue 15 item 7: 8 launches started together on one absent --key directory: exactly one
    reports ``keys.created: true``, and all sign with the same software ARK."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "pvmkit", "launch", "--json", "--key", str(tmp_path / "keys")]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)
    ]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        docs.append(json.loads(out))
    assert [d["keys"]["created"] for d in docs].count(True) == 1
