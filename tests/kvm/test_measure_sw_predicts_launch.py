"""`pvmkit measure --vendor sw` predicts exactly the MEASUREMENT in the report of the VM that
`pvmkit launch --vendor sw` runs on /dev/kvm (issue 4: "so `pvmkit measure --vendor sw` predicts it")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.guest import attest_guest

pytestmark = pytest.mark.kvm


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    "guest_args",
    [
        [],
        ["--vmsa-features", "0x20"],
        ["--binary", "GUEST", "--load-address", "0x40000"],
    ],
)
def test_prediction_equals_the_launched_report(
    guest_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "guest.bin"
    binary.write_bytes(attest_guest())
    args = [str(binary) if a == "GUEST" else a for a in guest_args]
    code, predicted = _run(["measure", "--vendor", "sw", *args], capsys)
    assert code == 0
    code, out = _run(["launch", "--vendor", "sw", "--key", str(tmp_path / "keys"), "--json", *args], capsys)
    assert code == 0
    summary = json.loads(out[out.index("{") :])
    assert summary["measurement"]["actual"] == predicted.strip()
    assert summary["measurement"]["match"] is True


def test_features_change_the_prediction(capsys: pytest.CaptureFixture[str]) -> None:
    _, a = _run(["measure", "--vendor", "sw"], capsys)
    _, b = _run(["measure", "--vendor", "sw", "--vmsa-features", "0x20"], capsys)
    assert a != b and len(a.strip()) == 96 == len(b.strip())
