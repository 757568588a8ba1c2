"""``pvmkit demo`` through the dispatcher: the end-to-end story, its JSON, measure-only mode without
KVM, first-use key creation under the user data directory (redirected to a temporary one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.cli.main import main


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("keys") / "attestation")
    SoftwareAttestationKeys.create(path, rsa_bits=2048)
    return path


@pytest.fixture(autouse=True)
def _no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.mark.kvm
def test_demo_text(key_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    t = time.perf_counter()
    assert main(["demo", "--key", key_dir]) == 0
    elapsed = time.perf_counter() - t
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("pvmkit demo:") and lines[-1] == "pvmkit demo: OK"
    labels = [line.split()[0] for line in lines[1:-1]]
    assert labels == ["host", "plan", "predicted", "keys", "launched", "guest", "verified", "timings"]
    predicted = lines[3].split()[1]
    assert f"{predicted} (= prediction)" in out and f"measurement={predicted}" in out
    assert elapsed < 60  # a hang guard: ~0.1 s here, but the machine may be loaded


@pytest.mark.kvm
def test_demo_json(key_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    nonce, host_data = "ab" * 32, "cd" * 32
    assert main(["demo", "--key", key_dir, "--json", "--nonce", nonce, "--host-data", host_data]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.demo/1" and doc["ok"] is True and doc["verified"] is True
    assert doc["launched"] is True and doc["problems"] == []
    m = doc["measurement"]
    assert m["predicted"] == m["actual"] and m["match"] is True
    assert doc["run"] == {
        "reason": "halt",
        "exits": doc["run"]["exits"],
        "serial": f"measurement={m['actual']}",
    }
    assert doc["nonce"] == nonce and doc["host_data"] == host_data
    assert doc["keys"] == {"directory": key_dir, "created": False}
    checks = {c["name"]: c["status"] for c in doc["verification"]["checks"]}
    assert checks["signature"] == checks["chain"] == checks["expected.measurement"] == "passed"
    assert set(doc["timings_ms"]) == {
        "probe",
        "plan",
        "predict",
        "keys",
        "launch",
        "first_exit",
        "run",
        "verify",
        "total",
    }
    assert doc["timings_ms"]["launch"] + doc["timings_ms"]["run"] < 1000


def test_demo_without_kvm_measures_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--kvm", "/nonexistent/kvm"]) == 0
    out, _err = capsys.readouterr()
    assert "measuring the plan only" in out and "measure-only (no KVM)" in out
    assert "  predicted " in out and "  launched " not in out
    assert main(["demo", "--kvm", "/nonexistent/kvm", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["launched"] is False and doc["ok"] is True and len(doc["measurement"]["predicted"]) == 96
    assert main(["demo", "--kvm", "/nonexistent/kvm", "--require-kvm"]) == 1
    _out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: ") and "Traceback" not in err
    # said once: the device, the reason and the errno (issue 9 part 2)
    assert err.count("/nonexistent/kvm") == 1 and err.count("(ENOENT)") == 1, err


@pytest.mark.kvm
def test_demo_creates_keys_in_the_user_data_dir_on_first_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "xdg" / "pvmkit" / "attestation"
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert f"created software attestation keys in {where}" in out
    assert (where / "vcek.pem").is_file()
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "created" not in out and f"software attestation keys in {where}" in out


def test_demo_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--nonce", "12"]) == 2
    _out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--nonce" in err
    assert main(["demo", "--frobnicate"]) == 2
