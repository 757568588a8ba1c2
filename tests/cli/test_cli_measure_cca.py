"""``pvmkit measure --vendor cca`` through the dispatcher: the spec's RMM-1.0 flow (cca_igvm.md §A1.7,
tests/vectors/README.md "Arm CCA RIM"), output formats, and bad input as one line with exit 1 or 2."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main

FLOW_RIM = "7101085bb317cc1d53bbc494a4a47fbeae6a88a692ccda9aefba1286b2f56510"
FLOW_RMM2 = "522ce01c0d749020f70ddb9147a024351a8213c8a79f2d0dc613744195b1fe4e"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flow(tmp_path: Path) -> list[str]:
    """The §A1.7 flow as options: page P measured at 0x80000000, a zero page unmeasured after it."""
    (tmp_path / "P").write_bytes(bytes(range(256)) * 16)
    (tmp_path / "Z").write_bytes(bytes(100))  # padded to a granule, like the spec's zero page
    return [
        "measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4",
        "--load-unmeasured", f"0x80001000:{tmp_path / 'Z'}", "--load", f"0x80000000:{tmp_path / 'P'}",
        "--pc", "0x80000000", "--gpr", "0=0x80100000", "--vcpus", "2",
    ]  # fmt: skip


def test_the_spec_flow(flow: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*flow, "--ripas", "0x80000000:2M", "--ripas-first"], capsys) == (0, FLOW_RIM + "\n", "")
    assert run([*flow, "--rmm", "2.0", "--ripas", "0x80000000:2M"], capsys) == (0, FLOW_RMM2 + "\n", "")
    code, out, _ = run(
        [*flow, "--ripas", "0x80000000:2M", "--ripas-first", "--output-format", "json"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.measure-cca/1" and doc["rim"] == FLOW_RIM
    assert doc["rim_slot"] == FLOW_RIM + "00" * 32
    assert (doc["descriptors"], doc["pages"], doc["vcpus"], doc["rmm"]) == (4, 2, 2, "1.0")
    # the record states its inputs: each file's SHA-256 as given (hashlib over the bytes written above)
    p_file, z_file = flow[flow.index("--load") + 1][11:], flow[flow.index("--load-unmeasured") + 1][11:]
    p_sha, z_sha = hashlib.sha256(bytes(range(256)) * 16).hexdigest(), hashlib.sha256(bytes(100)).hexdigest()
    assert doc["images"] == [
        {"ipa": "0x80000000", "file": p_file, "sha256": p_sha, "measured": True},
        {"ipa": "0x80001000", "file": z_file, "sha256": z_sha, "measured": False},
    ]
    assert doc["pc"] == "0x80000000" and doc["gprs"] == ["0=0x80100000"]


def test_base64_and_hash_length(flow: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [*flow, "--ripas", "0x80000000:2M", "--ripas-first", "--output-format", "base64"], capsys
    )
    assert code == 0 and base64.b64decode(out).hex() == FLOW_RIM
    code, out, _ = run([*flow, "--hash", "sha512"], capsys)
    assert code == 0 and len(bytes.fromhex(out.strip())) == 64


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--num-bps", "1"], 2, "num_bps 1 is outside 2..64"),
        (["--load", "0x1001:{P}"], 2, "not 4 KiB aligned"),
        (["--load", "0x1000:{empty}"], 1, "the file is empty"),
        (["--load", "0x1000:{P}", "--load-unmeasured", "0x1000:{P}"], 1, "overlaps"),
        (["--load", "0x1000"], 2, "takes IPA:FILE"),
        (["--gpr", "8=1"], 2, "N in 0..7"),
        (["--ripas", "0x1000"], 2, "takes BASE:SIZE"),
        (["--hash", "sha384"], 2, "sha384 needs RMM 2.0"),
        (["--sve-vl", "100"], 2, "sve_vl 100"),
        (["--vcpus", "0"], 2, "outside 1..512"),
        (["--load", "0x1000:/nonexistent/file"], 1, "No such file"),
        (["--hash", "md5"], 2, "invalid choice"),
    ],
)
def test_bad_input(extra: list[str], code: int, message: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "P").write_bytes(b"p" * 4096)
    (tmp_path / "empty").write_bytes(b"")
    base = ["measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4"]
    argv = base + [a.format(P=tmp_path / "P", empty=tmp_path / "empty") for a in extra]
    got, out, err = run(argv, capsys)
    assert (got, out) == (code, "")
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
