"""One set of conventions across commands (docs/cli.md "Conventions" and "Exit codes"):

* every option of every ``--help`` has a description and states its default;
* an option value that does not parse or is outside its documented range is a usage error: exit 2,
  one line on stderr, no traceback (input *content* refused is exit 1, a failed check exit 3);
* ``--json`` works on every command that prints a result, and every JSON document carries ``schema``;
* one spelling per concept, the peers' spelling accepted as an alias.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import pytest

from pvmkit.cli import _parser
from pvmkit.cli.main import main
from support.fixtures import fixture_path

AMD_FW = "firmware/OVMF.amdsev.fd"
TDX_FW = "firmware/OVMF.inteltdx.ms.fd"

#: Every parser a user can reach, by the command line that asks for its help.
HELP_LINES = [
    ["demo"],
    ["probe"],
    ["measure"],
    ["measure", "--vendor", "snp"],
    ["measure", "--vendor", "tdx"],
    ["measure", "--vendor", "cca"],
    ["measure", "--vendor", "snp", "--igvm", "x.igvm"],
    ["sev-snp-measure"],
    ["snp-create-id-block"],
    ["sev-launch-measure"],
    ["launch"],
    ["launch", "--vendor", "snp"],
    ["verify"],
    ["tdx", "replay"],
    ["inspect"],
    ["reference-values", "--vendor", "snp"],
    ["reference-values", "--vendor", "tdx"],
    ["reference-values", "--vendor", "cca"],
    ["verify", "--quote", "q.dat"],
    ["verify", "--cca-token", "t.cbor"],
]


def _parser_of(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    seen: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> None:
        seen.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(_parser.Parser, "parse_known_args", capture)
    assert main([*argv, "--help"]) == 0
    assert seen, f"{argv}: no pvmkit parser was built"
    return seen[-1]


@pytest.mark.parametrize("argv", HELP_LINES, ids=" ".join)
def test_every_option_has_help_and_states_its_default(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = _parser_of(argv, monkeypatch)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        text = formatter._expand_help(action)
        assert action.help, f"{argv} {action.option_strings}: no help"
        if action.nargs != 0:  # every option that takes a value; a flag is off unless given
            assert "default" in text or "required" in text, f"{argv} {action.option_strings}: {text}"


SNP = ["measure", "--vendor", "snp", "--firmware", "f"]
CCA = ["measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "2", "--num-wps", "2"]


def _launch_measure(policy: str = "1", api_major: str = "1") -> list[str]:
    fixed = ["--api-minor", "0", "--build", "0", "--launch-digest", "00" * 32, "--mnonce", "00" * 16]
    return ["sev-launch-measure", "--tik", "00" * 16, "--policy", policy, "--api-major", api_major, *fixed]


# -- exit 2 for option values that do not parse or are out of range -------------------------------
def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> None:
    assert main(argv) == 2, argv
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "usage error" in err and "Traceback" not in err, err
    assert needle in err, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["launch", "--timeout", "inf"], "--timeout"),
        (["launch", "--timeout", "1e308"], "--timeout"),
        (["launch", "--timeout", "nan"], "--timeout"),
        (["launch", "--timeout", "-1"], "--timeout"),
        (["launch", "--timeout", "0"], "--timeout"),
        (["launch", "--timeout", "soon"], "--timeout"),
        (["demo", "--timeout", "inf"], "--timeout"),
        (["demo", "--timeout", "-1"], "--timeout"),
        (["launch", "--vcpus", "1180591620717411303424"], "--vcpus"),
        (["launch", "--vcpus", "abc"], "--vcpus"),
        (["launch", "--policy", str(2**64)], "--policy"),
        (["launch", "--policy", "-1"], "--policy"),
        (["demo", "--policy", str(2**64)], "--policy"),
        (["launch", "--load-address", str(2**32)], "--load-address"),
        ([*SNP, "--vcpus", "abc"], "--vcpus"),
        ([*SNP, "--vcpus", "0"], "--vcpus"),
        ([*SNP, "--vcpus", "4097"], "--vcpus"),
        ([*SNP, "--vcpu-sig", str(2**32)], "--vcpu-sig"),
        (
            [
                *SNP,
                "--vcpu-family",
                "25",
                "--vcpu-model",
                "256",
                "--vcpu-stepping",
                "0",
            ],
            "--vcpu-model",
        ),
        (
            [
                *SNP,
                "--vcpu-type",
                "EPYC-v4",
                "--vmsa-features",
                "NOPE",
            ],
            "--vmsa-features",
        ),
        (
            [
                *SNP,
                "--vcpu-type",
                "EPYC-v4",
                "--policy",
                str(2**64),
            ],
            "--policy",
        ),
        (["measure", "--vendor", "sev", "--firmware", "f", "--policy", str(2**32)], "--policy"),
        (["measure", "--vendor", "sw", "--vcpus", "2-3"], "one --vcpus count"),
        (["measure", "--vendor", "tdx", "--firmware", "f", "--rtmr", "--memory", "999999T"], "--memory"),
        (["measure", "--vendor", "tdx", "--firmware", "f", "--rtmr", "--memory", "0"], "--memory"),
        (["measure", "--vendor", "cca", "--ipa-bits", "33", "--num-bps", "1", "--num-wps", "2"], "num_bps"),
        (
            ["measure", "--vendor", "cca", "--ipa-bits", "60", "--num-bps", "2", "--num-wps", "2"],
            "--ipa-bits",
        ),
        ([*CCA, "--vcpus", "513"], "--vcpus"),
        ([*CCA, "--pc", "-1"], "--pc"),
        (["sev-snp-measure", "--mode", "snp", "--ovmf", "f", "--vcpus", str(2**70)], "--vcpus"),
        (
            ["sev-snp-measure", "--mode", "snp", "--ovmf", "f", "--vcpus", "1", "--guest-features", "-1"],
            "--guest-features",
        ),
        (["verify", "--report", "r.bin", "--key", "k", "--vmpl", "4"], "--vmpl"),
        (["verify", "--report", "r.bin", "--key", "k", "--policy", str(2**64)], "--policy"),
        (["verify", "--quote", "q.dat", "--xfam", str(2**64)], "--xfam"),
        (["reference-values", "--vendor", "snp", "--value", "nope=00"], "unknown reference-value name"),
        (["reference-values", "--vendor", "snp", "--value", "snp_smt_enabled=maybe"], "true or false"),
        (_launch_measure(policy=str(2**32)), "--policy"),
        (_launch_measure(api_major="256"), "--api-major"),
    ],
)
def test_option_values_out_of_range_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error(argv, capsys, needle)


def test_launch_hardware_memory_range(capsys: pytest.CaptureFixture[str]) -> None:
    """``--memory 999999T`` (and its alias ``--ram-size``) is refused before anything is opened."""
    from pvmkit.cli._common import MAX_MEMORY, parse_size

    assert parse_size("4096T") == MAX_MEMORY
    for text in ("999999T", "4097T", "0", "4095", "lots"):
        with pytest.raises(Exception, match="--memory") as exc:
            parse_size(text)
        assert type(exc.value).__name__ == "UsageError"


# -- digests in hex or base64 ---------------------------------------------------------------------
def test_digest_options_take_hex_or_base64() -> None:
    from pvmkit.cli._common import UsageError, parse_digest

    digest = bytes(range(48))
    assert parse_digest(digest.hex(), 48, "--measurement") == digest
    assert parse_digest("0x" + digest.hex(), 48, "--measurement") == digest
    assert parse_digest(base64.b64encode(digest).decode(), 48, "--measurement") == digest
    # the length decides: 64 characters that are all hex digits are base64 (hex would need 96)
    text = "0123456789abcdef" * 4
    assert parse_digest(text, 48, "--measurement") == base64.b64decode(text)
    # 2 bytes: hex "abcd" vs base64 "q80=" (padding, which hex cannot contain)
    assert parse_digest("abcd", 2, "--x") == parse_digest("q80=", 2, "--x") == b"\xab\xcd"
    for bad in ("", "zz" * 48, digest.hex()[:-2], base64.b64encode(digest[:47]).decode()):
        with pytest.raises(UsageError, match="96 hex digits or 64 base64 characters"):
            parse_digest(bad, 48, "--measurement")


def test_snp_create_id_block_takes_a_hex_measurement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "id.pem").write_bytes(pem)
    ld = bytes(range(48))
    docs = []
    for value in (ld.hex(), base64.b64encode(ld).decode()):
        argv = ["snp-create-id-block", "--measurement", value, "--idkey", str(tmp_path / "id.pem"), "--json"]
        assert main(argv) == 0
        docs.append(json.loads(capsys.readouterr().out))
    for doc in docs:  # SEV-SNP ABI spec, ID_BLOCK: LD is the 48 bytes at offset 0
        assert doc["schema"] == "pvmkit.snp-id-block/1"
        assert base64.b64decode(doc["id_block"])[:48] == ld


# -- --json and schema ----------------------------------------------------------------------------
def test_json_spellings_agree(capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(AMD_FW))
    base = ["measure", "--vendor", "snp", "--firmware", fw, "--vcpus", "2", "--vcpu-type", "EPYC-v4"]
    outs = []
    for extra in (["--json"], ["--output-format", "json"], ["--json", "--output-format", "json"]):
        assert main([*base, *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]
    _usage_error([*base, "--json", "--output-format", "base64"], capsys, "--json")


def test_tdx_takes_both_json_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(TDX_FW))
    outs = []
    for extra in (["--json"], ["--output-format", "json"]):
        assert main(["measure", "--vendor", "tdx", "--firmware", fw, *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and json.loads(outs[0])["schema"] == "pvmkit.measure-tdx/1"


def test_amd_record_states_its_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON record names everything the digest was computed from, each hash computed here with
    hashlib over the input files (an independent reading of the same bytes)."""
    import hashlib

    fw = fixture_path(AMD_FW)
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"MZ" + bytes(4094))
    argv = [
        "measure",
        "--vendor",
        "snp",
        "--ovmf",
        str(fw),
        "--vcpus",
        "1-2",
        "--vcpu-type",
        "EPYC-v4",
        "--kernel",
        str(kernel),
        "--append",
        "console=ttyS0",
        "--policy",
        "0x30000",
        "--json",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[1])
    assert rec["schema"] == "pvmkit.measure-amd/1" and rec["vendor"] == "snp" and rec["vcpus"] == 2
    assert rec["firmware_sha256"] == hashlib.sha256(fw.read_bytes()).hexdigest()
    assert rec["kernel_sha256"] == hashlib.sha256(kernel.read_bytes()).hexdigest()
    assert rec["initrd_sha256"] is None and rec["ovmf_hash"] is None
    assert rec["cmdline_sha256"] == hashlib.sha256(b"console=ttyS0").hexdigest()
    assert (
        rec["vcpu_type"] == "EPYC-v4" and rec["vcpu_sig"] == "0x800f12"
    )  # EPYC-v4: family 23 model 1 stepping 2
    assert rec["policy"] == "0x30000" and rec["vmm"] == "qemu" and rec["init_path"] == "init2"
    assert rec["vmsa_features"] == "0x0" and rec["sev_features"] == "0x1"


def test_sw_guest_record_has_a_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--vendor", "sw", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["schema"] == "pvmkit.measure-sw/1" and rec["guest"] == "bundled" and len(rec["digest"]) == 96


def test_sev_launch_measure_json(capsys: pytest.CaptureFixture[str]) -> None:
    """The published SEV example of docs/cli.md (tests/vectors/README.md: LAUNCH_MEASURE) as JSON."""
    argv = [
        "sev-launch-measure",
        "--tik",
        "000102030405060708090a0b0c0d0e0f",
        "--mnonce",
        "101112131415161718191a1b1c1d1e1f",
        "--policy",
        "1",
        "--api-major",
        "1",
        "--api-minor",
        "55",
        "--build",
        "21",
        "--launch-digest",
        "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f",
    ]
    assert main([*argv, "--output-format", "hex"]) == 0
    blob = capsys.readouterr().out.strip()
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "pvmkit.sev-launch-measure/1" and doc["blob"] == blob
    assert doc["mnonce"] == "101112131415161718191a1b1c1d1e1f" and doc["checked"] is False


# -- one spelling per concept, the other an alias --------------------------------------------------
def test_firmware_and_cmdline_aliases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(AMD_FW))
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"MZ" + bytes(4094))
    outs = []
    for fw_opt, cmd_opt in (("--firmware", "--cmdline"), ("--ovmf", "--append")):
        argv = [
            "measure",
            "--vendor",
            "snp",
            fw_opt,
            fw,
            "--vcpu-type",
            "EPYC-v4",
            "--kernel",
            str(kernel),
            cmd_opt,
            "console=ttyS0",
        ]
        assert main(argv) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and len(outs[0].strip()) == 96


# -- error texts -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["sev-snp-measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf"],
        ["measure", "--vendor", "snp", "--vcpu-type", "EPYC-v4", "--firmware"],
    ],
)
def test_tdx_firmware_for_snp_says_so(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """The Intel TDX build's SEV metadata holds a zero-sized SVSM_CAA section (issue 9)."""
    assert main([*argv, str(fixture_path(TDX_FW))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SEV metadata is unusable for SEV-SNP" in err and "this is TDX firmware" in err


def test_sev_snp_measure_json(capsys: pytest.CaptureFixture[str]) -> None:
    """The drop-in's one addition: --json prints the same digest as its hex output, with a schema."""
    argv = ["sev-snp-measure", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-v4", "--ovmf"]
    argv.append(str(fixture_path(AMD_FW)))
    assert main(argv) == 0
    digest = capsys.readouterr().out.strip()
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"schema": "pvmkit.sev-snp-measure/1", "mode": "snp", "digest": digest}


@pytest.mark.parametrize(
    ("option", "size"), [("--ovmf-hash", 48), ("--kernel-sha256", 32)], ids=["ovmf-hash", "kernel-sha256"]
)
def test_digest_options_read_hex_and_base64_alike(
    option: str, size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """issue 9: every --measurement-like option takes hex or base64; both give the same prediction."""
    value = bytes(range(size))
    base = [*SNP[:4], str(fixture_path(AMD_FW)), "--vcpu-type", "EPYC-v4"]
    outs = []
    for text in (value.hex(), base64.b64encode(value).decode()):
        assert main([*base, option, text]) == 0, text
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and len(outs[0].strip()) == 96
