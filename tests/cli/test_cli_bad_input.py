"""Issue 15 through the command line: every repro gives one line on stderr and a documented exit code
(docs/cli.md), never a traceback or a warning; every input kind has a documented maximum (docs/cli.md,
"Input size limits") enforced where the CLI reads files, quickly and in bounded memory (two cases run
under an address-space limit). The library half is tests/unit/test_bad_input.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pvmkit.cli import _common
from pvmkit.cli.main import main
from pvmkit.errors import InputError
from support.fixtures import fixture_path, read_fixture

REPO = Path(__file__).resolve().parents[2]
TDVF = "firmware/OVMF.inteltdx.ms.fd"
#: (byte offset, xor mask, cryptography's diagnosis) in go-sev-guest's vcek.testcer
VCEK_FLIPS = [
    (553, 0x02, "Duplicate 1.3.6.1.4.1.3704.1.3.3 extension"),
    (121, 0x10, "oid must be X500_UNIQUE_IDENTIFIER"),
    (133, 0x01, "Attribute's length must be >= 2 and <= 2"),
]


def flipped(relative: str, offset: int, mask: int) -> bytes:
    data = bytearray(read_fixture(relative))
    data[offset] ^= mask
    return bytes(data)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Warning" not in err
    return lines[0]


@pytest.mark.parametrize(("offset", "mask", "cause"), VCEK_FLIPS)
def test_verify_report_with_flipped_vcek(
    offset: int, mask: int, cause: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vcek = tmp_path / "vcek.der"
    vcek.write_bytes(flipped("go-sev-guest/vcek.testcer", offset, mask))
    argv = [
        "verify",
        "--report",
        str(fixture_path("go-sev-guest/attestation.bin")),
        "--vcek",
        str(vcek),
        "--chain",
        str(fixture_path("go-sev-guest/trust/ask_ark_milan.pem")),
    ]
    assert main(argv) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert line.startswith("pvmkit: error:") and cause in line
    assert captured.out == ""


def test_verify_quote_with_flipped_embedded_pck_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote = tmp_path / "quote.dat"
    # byte 2101 lies in the PEM PCK chain of the quote's certification data: a duplicate keyUsage
    quote.write_bytes(flipped("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", 2101, 0x04))
    assert main(["verify", "--quote", str(quote)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "pck chain: not a valid X.509 certificate" in line
    assert "Duplicate 2.5.29.15 extension" in line


def test_measure_tdx_with_the_flipped_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tdvf.fd"
    path.write_bytes(flipped(TDVF, 0x3FF645, 0x10))
    assert main(["measure", "--vendor", "tdx", "--firmware", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: TDVF section 1 (CFV)")


def test_limits_are_ordered_and_documented() -> None:
    assert _common.MAX_EVIDENCE == 256 << 10
    assert _common.MAX_DOCUMENT == 16 << 20
    assert _common.MAX_IMAGE == 256 << 20
    assert _common.MAX_PAYLOAD == 2 << 30
    cli_md = (REPO / "docs" / "cli.md").read_text()
    assert "## Input size limits" in cli_md
    for text in ("256 KiB", "16 MiB", "256 MiB", "2 GiB"):
        assert text in cli_md.split("## Input size limits")[1].split("\n## ")[0]


def test_read_file_at_and_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert _common.read_file(str(path), "a thing", limit=100) == b"x" * 100
    with pytest.raises(InputError, match=r"100 bytes; pvmkit reads at most 99 bytes for a thing"):
        _common.read_file(str(path), "a thing", limit=99)


def test_read_file_from_a_pipe_past_the_limit() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"y" * 5000)
        os.close(w)
        w = -1
        with pytest.raises(InputError, match="longer than 4 KiB; pvmkit reads at most 4 KiB for a pipe"):
            _common.read_file(f"/dev/fd/{r}", "a pipe", limit=4096)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_map_file_refuses_a_character_device_stream() -> None:
    with pytest.raises(InputError, match="/dev/zero: longer than 1 MiB"):
        _common.map_file("/dev/zero", "a firmware image", limit=1 << 20)


def test_verify_quote_dev_zero(capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    assert main(["verify", "--quote", "/dev/zero"]) == 1
    assert time.monotonic() - start < 20  # milliseconds here; the margin is for a loaded machine
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        "pvmkit: error: /dev/zero: longer than 256 KiB; pvmkit reads at most 256 KiB for a quote "
        "(docs/cli.md, input size limits)"
    )


_F = {
    "report": "go-sev-guest/attestation.bin",
    "vcek": "go-sev-guest/vcek.testcer",
    "chain": "go-sev-guest/trust/ask_ark_milan.pem",
    "quote": "go-tdx-guest/ccel/cos-113-tdx-quote.dat",
    "ccel": "go-tdx-guest/ccel/ccel_data.dat",
    "token": "veraison-ccatoken/realm/testvectors/tf-rmm/cca_token.cbor",
    "cpak": "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub",
    "ovmf": "firmware/OVMF.amdsev.fd",
    "tdvf": "firmware/OVMF.inteltdx.ms.fd",
}
_CCA = ["measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4"]
_SNP = ["verify", "--report", "{report}", "--vcek", "{vcek}", "--chain", "{chain}"]
#: every file option (docs/cli.md "Input size limits"), each given the big file in turn
FILE_OPTIONS = [
    ["verify", "--report", "{big}", "--vcek", "{vcek}", "--chain", "{chain}"],
    ["verify", "--report", "{report}", "--vcek", "{big}", "--chain", "{chain}"],
    ["verify", "--report", "{report}", "--vcek", "{vcek}", "--chain", "{big}"],
    [*_SNP, "--crl", "{big}"],
    [*_SNP, "--expect", "{big}"],
    [*_SNP, "--policy-file", "{big}"],
    ["verify", "--quote", "{big}"],
    ["verify", "--quote", "{quote}", "--collateral", "{big}"],
    ["verify", "--quote", "{quote}", "--pck-crl", "{big}"],
    ["verify", "--cca-token", "{big}", "--cpak", "{cpak}"],
    ["verify", "--cca-token", "{token}", "--cpak", "{big}"],
    ["verify", "--cca-token", "{token}", "--ta-store", "{big}"],
    ["tdx", "replay", "--ccel-data", "{big}"],
    ["tdx", "replay", "--ccel-data", "{ccel}", "--ccel-table", "{big}"],
    ["tdx", "replay", "--ccel-data", "{ccel}", "--quote", "{big}"],
    ["tdx", "replay", "--ccel-data", "{ccel}", "--tdreport", "{big}"],
    ["tdx", "replay", "--ccel-data", "{ccel}", "--quote", "{quote}", "--reference", "{big}"],
    ["inspect", "{big}"],
    ["measure", "--vendor", "tdx", "--firmware", "{big}"],
    ["measure", "--vendor", "tdx", "--firmware", "{tdvf}", "--rtmr", "--memory", "2G", "--kernel", "{big}"],
    ["measure", "--vendor", "snp", "--ovmf", "{big}", "--vcpu-type", "EPYC-v4"],
    ["measure", "--vendor", "snp", "--ovmf", "{ovmf}", "--vcpu-type", "EPYC-v4", "--kernel", "{big}"],
    ["measure", "--vendor", "snp", "--igvm", "{big}"],
    ["sev-snp-measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", "{big}"],
    ["snp-create-id-block", "--measurement", "A" * 64, "--idkey", "{big}"],
    ["measure", "--vendor", "sw", "--binary", "{big}"],
    [*_CCA, "--load", "0:{big}"],
    ["reference-values", "--vendor", "snp", "--vcpu-type", "EPYC-v4", "--ovmf", "{big}"],
]


@pytest.mark.parametrize("argv", FILE_OPTIONS, ids=lambda argv: " ".join(a for a in argv if "{" not in a))
def test_every_file_option_refuses_a_sparse_3_gib_file_unread(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(3 << 30)  # sparse: no disk, but read whole it would need 3 GiB of memory
    files = {name: str(fixture_path(path)) for name, path in _F.items()}
    start = time.monotonic()
    code = main([a.format(big=big, **files) for a in argv])
    assert time.monotonic() - start < 20
    assert code == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(big) in line and "pvmkit reads at most" in line


_UNDER_LIMIT = textwrap.dedent(
    """
    import resource, sys
    # the address space in use now (the interpreter and pvmkit's imports), plus 512 MiB
    with open("/proc/self/status") as f:
        vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
    limit = vm + (512 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from pvmkit.cli.main import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _run_under_address_space_limit(argv: list[str]) -> subprocess.CompletedProcess[str]:
    prelude = "import pvmkit.cli.main, pvmkit.cli.verify, pvmkit.cli.measure, cryptography.x509\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + _UNDER_LIMIT, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )


def test_dev_zero_quote_under_an_address_space_limit() -> None:
    done = _run_under_address_space_limit(["verify", "--quote", "/dev/zero"])
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr).startswith("pvmkit: error: /dev/zero: longer than 256 KiB")


def test_flipped_tdvf_size_under_an_address_space_limit(tmp_path: Path) -> None:
    image = bytearray(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    image[0x3FF645] ^= 0x10  # the CFV's MemoryDataSize becomes 0x100000084000 (issue 15 item 2)
    path = tmp_path / "tdvf.fd"
    path.write_bytes(image)
    done = _run_under_address_space_limit(["measure", "--vendor", "tdx", "--firmware", str(path)])
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr).startswith("pvmkit: error: TDVF section 1 (CFV): MemoryDataSize")


def _key_of_unknown_curve(relative: str) -> bytes:
    import base64

    lines = read_fixture(relative).strip().splitlines()
    der = base64.b64decode(b"".join(lines[1:-1]))
    der = der.replace(bytes.fromhex("2b81040022"), bytes.fromhex("2b8104007f"))  # P-384 -> no curve
    return lines[0] + b"\n" + base64.encodebytes(der) + lines[-1] + b"\n"


def test_snp_create_id_block_with_a_key_of_an_unknown_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "id.pem"
    key.write_bytes(_key_of_unknown_curve("veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pem"))
    import base64

    measurement = base64.b64encode(bytes(48)).decode()
    assert main(["snp-create-id-block", "--measurement", measurement, "--idkey", str(key)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("pvmkit: error: cannot load the private key: Curve 1.3.132.0.127")


def test_verify_cca_token_with_a_cpak_of_an_unknown_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "cpak.pem"
    key.write_bytes(_key_of_unknown_curve("veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub"))
    token = str(fixture_path("veraison-ccatoken/realm/testvectors/tf-rmm/cca_token.cbor"))
    assert main(["verify", "--cca-token", token, "--cpak", str(key)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "not a PEM public key: Curve 1.3.132.0.127 is not supported" in line


def test_deeply_nested_firmware_description(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ovmf.json"
    path.write_bytes(b'{"schema": "pvmkit.inspect/1", "value": ' + b"[" * 100_000)
    argv = ["measure", "--vendor", "snp", "--vcpu-type", "EPYC-v4", "--ovmf-description", str(path)]
    assert main(argv) == 1
    assert one_error_line(capsys.readouterr().err).endswith(f"--ovmf-description {path}: not JSON")


def test_trusted_id_key_of_an_unknown_curve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "id.pub"
    key.write_bytes(_key_of_unknown_curve("veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub"))
    argv = [
        "verify",
        "--report",
        str(fixture_path("go-sev-guest/attestation.bin")),
        "--vcek",
        str(fixture_path("go-sev-guest/vcek.testcer")),
        "--chain",
        str(fixture_path("go-sev-guest/trust/ask_ark_milan.pem")),
        "--trusted-id-key",
        str(key),
    ]
    assert main(argv) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "neither a certificate nor a public key: Curve 1.3.132.0.127 is not supported" in line
