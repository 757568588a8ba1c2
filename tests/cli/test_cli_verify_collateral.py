"""``pvmkit verify --quote`` with Intel PCS collateral: the three ways to give it, the TCB status and
advisories in text and JSON, --accept-status, --require-tcb, and the usage errors.

Expected values: ``../shared/fixtures/dcap-appraisal-cases.json`` (tests/vectors/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import pytest

from pvmkit.attest._x509 import load_certificates
from pvmkit.cli.main import main
from support import dcap_cases
from support.fixtures import fixture_path

UPTODATE = "tdx/dcap-qvl/sample-uptodate"
OUTOFDATE = "tdx/automata/gce-outofdate"  # per-part collateral, DER certificates
TEEPOT = "tdx/go-tdx-guest/cos113-teepot-2025-05"  # PEM CRL, PEM issuer chains


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def quote_file(case_id: str, tmp_path: Path) -> str:
    c = dcap_cases.case(case_id)
    if c["quote_encoding"] == "raw":
        return str(fixture_path(c["quote"]))
    path = tmp_path / "quote.bin"
    path.write_bytes(dcap_cases.quote_bytes(c))
    return str(path)


def pem(der_certs: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(cert.public_bytes(Encoding.PEM) for cert in load_certificates(der_certs))


def collateral_dir(case_id: str, tmp_path: Path) -> Path:
    """The case's seven items under the file names --collateral DIR reads."""
    parts = dcap_cases.collateral_parts(dcap_cases.case(case_id))
    out = tmp_path / "collateral"
    out.mkdir()
    for dest, name in (
        ("tcb_info", "tcb_info.json"),
        ("qe_identity", "qe_identity.json"),
        ("pck_crl", "pck_crl.der"),
        ("root_ca_crl", "root_ca_crl.der"),
    ):
        (out / name).write_bytes(parts[dest])
    for dest in ("tcb_info_issuer_chain", "qe_identity_issuer_chain", "pck_crl_issuer_chain"):
        (out / f"{dest}.pem").write_bytes(pem(parts[dest]))
    return out


def test_collateral_json_file(capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case(UPTODATE)
    argv = ["verify", "--quote", str(fixture_path(c["quote"])), "--at", c["at"]]
    argv += ["--collateral", str(fixture_path(c["collateral"]["dcap-qvl-json"]))]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert out.startswith("OK: TDX quote v4 (TDX 1.0 body); TCB status UpToDate")
    assert "passed         tcb.status: Intel TCB status UpToDate" in out
    code, out, _ = run([*argv, "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["schema"] == "pvmkit.verify-tdx/2" and d["ok"]
    assert d["tcb_status"] == "UpToDate" and d["advisory_ids"] == []
    assert d["tcb"]["platform_level"]["tcbDate"] == c["expected"]["tdx_tcb_level"]["tcbDate"]
    assert d["tcb"]["tdx_module"]["identity"] == "TDX_01"
    assert d["tcb"]["qe_identity"]["level"]["isvsvn"] == c["expected"]["qe_identity_level"]["isvsvn"]
    assert d["pck"]["fmspc"] == c["fmspc"]


def test_collateral_directory_and_accept_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case(OUTOFDATE)
    argv = ["verify", "--quote", quote_file(OUTOFDATE, tmp_path), "--at", c["at"]]
    argv += ["--collateral", str(collateral_dir(OUTOFDATE, tmp_path)), "--json"]
    code, out, err = run(argv, capsys)
    d = json.loads(out)  # the document is printed on failure too
    assert code == 3 and not d["ok"]
    assert d["tcb_status"] == "OutOfDate" and d["advisory_ids"] == c["expected"]["advisory_ids"]
    assert "tcb.status: Intel TCB status OutOfDate" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run([*argv, "--accept-status", "SWHardeningNeeded,OutOfDate"], capsys)
    assert code == 0 and json.loads(out)["ok"]
    code, out, _ = run([*argv, "--accept-status", "UpToDate"], capsys)  # always accepted: adds nothing
    assert code == 3 and json.loads(out)["tcb_status"] == "OutOfDate"
    code, out, _ = run([*argv, "--accept-status", "UpToDate, OutOfDate"], capsys)
    assert code == 0 and json.loads(out)["ok"]


def test_collateral_parts_url_encoded_chain_and_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = dcap_cases.case(TEEPOT)
    parts = dcap_cases.collateral_parts(c)
    files = {}
    for dest, data in parts.items():
        if dest.endswith("issuer_chain"):
            data = url_quote(data.decode()).encode()  # as PCS sends it in its response header
        files[dest] = tmp_path / dest
        files[dest].write_bytes(data)
    argv = ["verify", "--quote", quote_file(TEEPOT, tmp_path), "--at", c["at"]]
    for dest, path in files.items():
        flag = "--root-crl" if dest == "root_ca_crl" else "--" + dest.replace("_", "-")
        argv += [flag, str(path)]
    code, out, _ = run(argv, capsys)
    assert code == 0, out
    assert "TCB status UpToDate" in out.splitlines()[0]


def test_expired_collateral_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case("tdx/negative/collateral-expired")
    argv = ["verify", "--quote", str(fixture_path(c["quote"])), "--at", c["at"]]
    argv += ["--collateral", str(fixture_path(c["collateral"]["dcap-qvl-json"]))]
    code, out, err = run(argv, capsys)
    assert code == 3
    assert "failed         collateral.tcb_info.dates" in out
    assert "collateral.tcb_info.dates: TCB Info is not valid at 2025-07-20" in err


def test_require_tcb(capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case(UPTODATE)
    argv = ["verify", "--quote", str(fixture_path(c["quote"])), "--at", c["at"]]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "not performed  tcb.status" in out
    code, out, err = run([*argv, "--require-tcb"], capsys)
    assert code == 3 and "failed         tcb.status" in out and "--require-tcb" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--accept-status", "Revoked"], "Revoked cannot be accepted"),
        (["--accept-status", "outofdate"], "outofdate cannot be accepted"),  # Intel's spelling only
        (["--tcb-info", "x"], "also needs --tcb-info-issuer-chain"),
        (["--collateral", "x", "--pck-crl", "y"], "--collateral cannot be combined with --pck-crl"),
    ],
)
def test_usage_errors_exit_2(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case(UPTODATE)
    code, _, err = run(["verify", "--quote", str(fixture_path(c["quote"])), *extra], capsys)
    assert code == 2 and message in err


def test_sgx_quote_refuses_tdx_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = dcap_cases.case("sgx/dcap-qvl/sample-config-swhardening")
    code, _, err = run(["verify", "--quote", str(fixture_path(c["quote"])), "--mr-td", "00" * 48], capsys)
    assert code == 2 and "this is an SGX quote" in err
    code, out, _ = run(["verify", "--quote", str(fixture_path(c["quote"])), "--at", c["at"]], capsys)
    assert code == 0 and out.startswith("OK: SGX quote v3; TCB status not evaluated")


def test_debug_td_needs_allow_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A synthetic debug TD (TD_ATTRIBUTES bit 0) signed by a test CA pinned with --root-sha256."""
    from support import dcap_synth as synth

    pki = synth.Pki()
    sgx = [3, 3, 2, 2, 4, 1, 0, 5] + [0] * 8
    tdx = [5, 1, 3] + [0] * 13
    quote = tmp_path / "debug.quote"
    quote.write_bytes(
        synth.quote(pki, pck_components=sgx, pcesvn=13, tee_tcb_svn=bytes(tdx), td_attributes=1)
    )
    collateral = tmp_path / "collateral.json"
    levels = [synth.level(sgx, 13, [0, 0, 3] + [0] * 13, "UpToDate")]
    collateral.write_text(
        synth.v3_json(
            pki.collateral(synth.tcb_info(levels, [synth.module_level(5, "UpToDate")]), synth.qe_identity())
        )
    )
    argv = ["verify", "--quote", str(quote), "--collateral", str(collateral), "--at", "2026-01-15T00:00:00Z"]
    argv += ["--root-sha256", pki.root_sha256]
    code, out, err = run(argv, capsys)
    assert code == 3 and "failed         policy.debug: TD_ATTRIBUTES.DEBUG is set" in out
    assert "TCB status UpToDate" in out.splitlines()[0] and err.startswith("pvmkit: error: policy.debug")
    code, out, _ = run([*argv, "--allow-debug"], capsys)
    assert (
        code == 0 and "passed         policy.debug: TD_ATTRIBUTES.DEBUG set, allowed by --allow-debug" in out
    )
    code, _, err = run([*argv, "--allow-debug", "--no-debug"], capsys)
    assert code == 2 and "contradict" in err


@pytest.mark.parametrize(
    ("part", "content", "message"),
    [
        (
            "tcb_info_issuer_chain.pem",
            b"garbage\n",
            "TCB Info issuer chain: neither PEM nor a DER certificate",
        ),
        (
            "pck_crl_issuer_chain.pem",
            b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n",
            "PCK CRL issuer chain: not a valid X.509 certificate",
        ),
        ("root_ca_crl.der", None, "root CA CRL: not a valid X.509 CRL"),  # truncated to 100 bytes
        ("tcb_info.json", b'{"tcbInfo": ', "TCB Info: not a JSON object"),
        ("qe_identity.json", b'{"tcbInfo": {}, "signature": "00"}', "QE Identity: expected members"),
    ],
)
def test_malformed_collateral_part_is_one_line_exit_1(
    part: str, content: bytes | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    """Bad collateral is refused input (exit 1) with one line naming the part, never a traceback."""
    c = dcap_cases.case(OUTOFDATE)
    directory = collateral_dir(OUTOFDATE, tmp_path)
    path = directory / part
    path.write_bytes(content if content is not None else path.read_bytes()[:100])
    argv = [
        "verify",
        "--quote",
        quote_file(OUTOFDATE, tmp_path),
        "--at",
        c["at"],
        "--collateral",
        str(directory),
    ]
    code, out, err = run(argv, capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("qe_identity"), "QuoteCollateralV3: missing qe_identity"),
        (lambda d: d.update(pck_crl=123), "QuoteCollateralV3.pck_crl: expected a string, got 123"),
        (lambda d: d.update(root_ca_crl=d["root_ca_crl"][:40]), "root CA CRL: not a valid X.509 CRL"),
    ],
)
def test_malformed_collateral_json_is_one_line_exit_1(
    change: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    c = dcap_cases.case(UPTODATE)
    doc = json.loads(fixture_path(c["collateral"]["dcap-qvl-json"]).read_bytes())
    change(doc)
    bad = tmp_path / "collateral.json"
    bad.write_text(json.dumps(doc))
    argv = ["verify", "--quote", str(fixture_path(c["quote"])), "--at", c["at"], "--collateral", str(bad)]
    code, out, err = run(argv, capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    bad.write_text('{"tcb_info": 1')
    code, _, err = run(argv, capsys)
    assert code == 1 and "QuoteCollateralV3: not JSON" in err
