"""Issue 15 item 1: a malformed certificate is a FormatError (one line, exit 1), never a cryptography
exception or a printed warning. Each case is one bit flipped in a real certificate (go-sev-guest's
``vcek.testcer``) or in the PCK chain embedded in a real TDX quote (go-tdx-guest's
``tdx_prod_quote_SPR_E4.dat``); offsets count from 0, as in the issue."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from pvmkit.attest._x509 import common_name, load_certificates
from pvmkit.cli.main import main
from pvmkit.errors import FormatError
from support.fixtures import fixture_path, read_fixture

#: (byte offset, xor mask, what cryptography did before): DuplicateExtension (two AMD hwID
#: extensions), TypeError (a BitString attribute under another OID), UserWarning (a countryName of
#: 11 characters, X.520 wants 2).
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
def test_flipped_vcek_is_a_format_error(offset: int, mask: int, cause: str) -> None:
    data = flipped("go-sev-guest/vcek.testcer", offset, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping load_certificates fails the test
        with pytest.raises(FormatError, match=r"not a valid X\.509 certificate") as info:
            load_certificates(data, "vcek")
    assert cause in str(info.value)
    assert "\n" not in str(info.value)


def test_original_vcek_still_loads() -> None:
    # the AMD KDS certificate has serial number 0: loading it stays silent (filterwarnings = error)
    (cert,) = load_certificates(read_fixture("go-sev-guest/vcek.testcer"), "vcek")
    assert common_name(cert) == "SEV-VCEK"


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
