"""``pvmkit measure --vendor V --igvm FILE``: the spec's IGVM regression file (cca_igvm.md §B2.6) through
the CLI, each loader's rules, output formats and bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from support.igvm_vectors import SEV_ES_LD, SNP, TDX_MRTD, igvm_file


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name, platform in (("snp", 2), ("tdx", 3), ("sev-es", 5)):
        (tmp_path / f"{name}.igvm").write_bytes(igvm_file(platform_type=platform))
        out[name] = str(tmp_path / f"{name}.igvm")
    (tmp_path / "junk").write_bytes(b"junk" * 100)
    out["junk"] = str(tmp_path / "junk")
    return out


def test_loaders_and_platforms(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    snp = ["measure", "--vendor", "snp", "--igvm", files["snp"]]
    assert run([*snp, "--igvm-loader", "igvm-crate"], capsys) == (0, SNP["igvm-crate"] + "\n", "")
    assert run([*snp, "--igvm-loader", "igvmmeasure"], capsys) == (0, SNP["igvmmeasure"] + "\n", "")
    assert (
        run([*snp, "--igvm-loader", "igvmmeasure", "--native-zero"], capsys)[1].strip() == SNP["native-zero"]
    )
    tdx = ["measure", "--vendor", "tdx", "--igvm", files["tdx"], "--igvm-loader", "igvm-crate"]
    assert run(tdx, capsys) == (0, TDX_MRTD + "\n", "")
    sev_es = ["measure", "--vendor", "sev-es", "--igvm", files["sev-es"], "--igvm-loader", "igvmmeasure"]
    assert run(sev_es, capsys) == (0, SEV_ES_LD + "\n", "")


def test_output_formats(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "snp", "--igvm", files["snp"], "--igvm-loader", "igvmmeasure"]
    code, out, _ = run([*argv, "--output-format", "base64"], capsys)
    assert code == 0 and base64.b64decode(out).hex() == SNP["igvmmeasure"]
    code, out, _ = run([*argv, "--output-format", "json"], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.measure-igvm/1" and doc["digest"] == SNP["igvmmeasure"]
    assert (doc["policy"], doc["platform_mask"], doc["vcpus"], doc["loader"]) == (
        0x30000,
        1,
        1,
        "igvmmeasure",
    )


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--vendor", "tdx", "--igvm", "{snp}"], 1, "supports sev-snp, not tdx"),
        (["--vendor", "snp", "--igvm", "{junk}"], 1, "not an IGVM file"),
        (["--vendor", "snp", "--igvm", "/nonexistent.igvm"], 1, "No such file"),
        (["--vendor", "sev", "--igvm", "{snp}"], 1, "not sev"),
        (["--vendor", "cca", "--igvm", "{snp}"], 2, "invalid choice"),
        (["--vendor", "snp", "--igvm", "{snp}", "--igvm-loader", "ovmf"], 2, "invalid choice"),
    ],
)
def test_bad_input(argv: list[str], code: int, message: str, files: dict[str, str], capsys) -> None:
    got, out, err = run(["measure", *[a.format(**files) for a in argv]], capsys)
    assert (got, out) == (code, "")
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def _with_id_block(tmp_path: Path, ld: bytes) -> str:
    """The spec file with an SNP_ID_BLOCK for ``ld`` (signature and keys zero: only LD is compared)."""
    import struct

    from pvmkit.formats.igvm import SnpIdBlock
    from support.igvm_vectors import DIRECTIVES

    body = struct.pack("<IB3x", 1, 0) + ld + bytes(16) + bytes(16) + struct.pack("<IIII", 1, 0, 1, 1)
    body += bytes(696 - len(body))
    block = SnpIdBlock(1, 0, ld, bytes(16), bytes(16), 1, 0, body)
    path = tmp_path / f"id-{ld.hex()[:8]}.igvm"
    path.write_bytes(igvm_file(directives=[*DIRECTIVES, block]))
    return str(path)


def test_the_snp_id_block_must_match_the_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = bytes.fromhex(SNP["igvmmeasure"])  # an ID block directive is not measured
    command = ["measure", "--vendor", "snp", "--igvm-loader", "igvmmeasure", "--igvm"]
    good = [*command, _with_id_block(tmp_path, digest)]
    code, out, _ = run([*good, "--output-format", "json"], capsys)
    assert code == 0 and json.loads(out)["id_block_ld"] == SNP["igvmmeasure"]
    bad = [*command, _with_id_block(tmp_path, bytes(48))]
    code, out, err = run(bad, capsys)
    assert (
        (code, out) == (3, "") and "SNP_LAUNCH_FINISH would refuse it" in err and len(err.splitlines()) == 1
    )
    assert run([*bad, "--ignore-id-block"], capsys) == (0, SNP["igvmmeasure"] + "\n", "")
