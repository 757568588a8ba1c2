"""``pvmkit verify`` through the dispatcher: exit 0 / 3 (verification) / 1 (bad input) / 2 (usage)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvmkit.attest.snp_report import SnpReport
from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.cli.main import main
from pvmkit.formats.tdx_quote import Quote
from support.fixtures import fixture_path

AT = "2025-06-01T00:00:00Z"  # inside the go-sev-guest certificates' validity


def real(name: str) -> str:
    return str(fixture_path("go-sev-guest/" + name))


def base(chain: str = "milan.testcer") -> list[str]:
    """The real report (POLICY 0xb0000 allows DEBUG, hence --allow-debug) with its VCEK and a chain."""
    return [
        "verify",
        "--report",
        real("attestation.bin"),
        "--vcek",
        real("vcek.testcer"),
        "--chain",
        real(chain),
        "--allow-debug",
    ]


@pytest.fixture(scope="module")
def sw(tmp_path_factory: pytest.TempPathFactory) -> SoftwareAttestationKeys:
    return SoftwareAttestationKeys.create(str(tmp_path_factory.mktemp("cli") / "keys"), rsa_bits=2048)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_real_report_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*base(), "--at", AT]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: SEV-SNP report v2 signed by VCEK (Milan)")
    assert "b07af9620f3b839b" in out
    assert "  passed         policy.debug: DEBUG (bit 19) allowed" in out
    assert "  not performed  expected.measurement: no reference MEASUREMENT given" in out
    assert "  not performed  crl.ark" in out


def test_real_report_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*base(), "--at", AT, "--json", "--report-data", "0102030405"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == "pvmkit.verify/2" and d["evidence"] == "snp-report"
    assert d["ok"] is True and d["signing_key"] == "vcek" and d["product"] == "Milan"
    assert d["report"]["measurement"].startswith("b07af962")
    checks = {c["name"]: c for c in d["checks"]}
    assert checks["expected.report_data"]["status"] == "passed"
    assert checks["expected.report_data"]["actual"] == "0102030405" + "00" * 59
    assert checks["expected.measurement"]["status"] == "not_performed"
    assert checks["signature"]["status"] == checks["chain"]["status"] == "passed"
    assert d["at"].startswith("2025-06-01T00:00:00")


def test_measurement_mismatch_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*base(), "--at", AT, "--measurement", "00" * 48]) == 3
    line = one_error_line(capsys.readouterr().err)
    assert "measurement" in line


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--host-data", "11" * 32], "host_data"),
        (["--report-data", "ff"], "report_data"),
        (["--policy", "0x30000"], "policy"),
    ],
)
def test_other_mismatches_exit_3(capsys: pytest.CaptureFixture[str], args: list[str], word: str) -> None:
    assert main([*base(), "--at", AT, *args]) == 3
    assert word in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("chain", ["trust/ask_ark_genoa.pem", "milanvlek.testcer"])
def test_wrong_chain_exit_3(capsys: pytest.CaptureFixture[str], chain: str) -> None:
    assert main([*base(chain), "--at", AT]) == 3
    assert "issued by" in one_error_line(capsys.readouterr().err)


def test_vcek_passed_as_vlek_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "verify",
        "--report",
        real("attestation.bin"),
        "--vlek",
        real("vcek.testcer"),
        "--chain",
        real("milan.testcer"),
        "--at",
        AT,
    ]
    assert main(argv) == 3
    one_error_line(capsys.readouterr().err)


def test_expired_at_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*base(), "--at", "2030-01-01T00:00:00Z"]) == 3
    assert "expired" in one_error_line(capsys.readouterr().err)


def test_flipped_bit_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = bytearray(Path(real("attestation.bin")).read_bytes())
    raw[0x400] ^= 0x10  # reserved part of the signature area
    bad = tmp_path / "r.bin"
    bad.write_bytes(bytes(raw))
    argv = base()
    argv[2] = str(bad)
    assert main([*argv, "--at", AT]) == 3
    assert "reserved" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "extra",
    [
        ["--at", "yesterday"],  # an option value that does not parse: a usage error
        ["--measurement", "zz"],  # not hex
        ["--measurement", "00"],  # wrong length
        ["--policy", "lots"],
    ],
)
def test_bad_option_values_exit_2(capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    """docs/cli.md: an option value that does not parse is a usage error (exit 2)."""
    assert main([*base(), *extra]) == 2
    one_error_line(capsys.readouterr().err)


def test_malformed_files_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(b"\2\0\0\0" + bytes(100))
    argv = base()
    argv[2] = str(short)
    assert main(argv) == 1
    one_error_line(capsys.readouterr().err)
    argv = base()
    argv[2] = str(tmp_path / "missing.bin")
    assert main(argv) == 1
    one_error_line(capsys.readouterr().err)
    garbage = tmp_path / "c.pem"
    garbage.write_bytes(b"not a certificate")
    argv = base()
    argv[4] = str(garbage)
    assert main(argv) == 1
    one_error_line(capsys.readouterr().err)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--report", real("attestation.bin")]) == 2
    assert main([*base(), "--vlek", real("vcek.testcer")]) == 2
    assert main(["verify", "--report", real("attestation.bin"), "--vcek", real("vcek.testcer")]) == 2
    capsys.readouterr()


def test_software_report(
    sw: SoftwareAttestationKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = bytes(range(48))
    report = tmp_path / "sw.bin"
    report.write_bytes(sw.sign_report(SnpReport(measurement=m)))
    assert main(["verify", "--report", str(report), "--key", sw.directory, "--measurement", m.hex()]) == 0
    assert capsys.readouterr().out.startswith("OK:")  # POLICY 0x30000: no --allow-debug needed
    argv = ["verify", "--report", str(report), "--vcek", sw.path("vcek_der"), "--chain", sw.path("chain")]
    assert main(argv) == 3  # a software chain is not AMD's: by default only AMD's ARKs are trusted
    err = one_error_line(capsys.readouterr().err)
    assert f"the chain's ARK is not a trusted one: sha256 {sw.ark_sha256}" in err and "AMD ARK-Milan" in err
    argv += ["--ark-sha256", sw.ark_sha256]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("OK: SEV-SNP report")
    tampered = bytearray(report.read_bytes())
    tampered[0x90] ^= 0x80
    report.write_bytes(bytes(tampered))
    assert main(argv) == 3
    assert "signature" in one_error_line(capsys.readouterr().err)
    # the software chain is not AMD's: verifying against AMD's Milan chain fails
    assert (
        main(
            [
                "verify",
                "--report",
                str(report),
                "--vcek",
                sw.path("vcek_cert"),
                "--chain",
                real("milan.testcer"),
            ]
        )
        == 3
    )
    capsys.readouterr()


MILAN_ARK_SHA256 = (
    "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"  # of milan.testcer's ARK
)


def test_ark_pin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*base(), "--at", AT, "--json"]) == 0  # AMD's Milan ARK is trusted by default
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["chain.ark_trusted"]["detail"] == "the ARK is AMD ARK-Milan"
    assert main([*base(), "--at", AT, "--ark-sha256", MILAN_ARK_SHA256]) == 0
    assert MILAN_ARK_SHA256 in capsys.readouterr().out
    assert main([*base(), "--at", AT, "--ark-sha256", "00" * 32]) == 3  # a pin replaces the defaults
    assert "ARK is not a trusted one" in one_error_line(capsys.readouterr().err)
    assert main([*base(), "--at", AT, "--ark-sha256", "00" * 32, "--ark-sha256", MILAN_ARK_SHA256]) == 0
    capsys.readouterr()


# -- TDX quotes (--quote) ------------------------------------------------------------------------

TDX_AT = "2026-06-01T00:00:00Z"  # inside every go-tdx-guest PCK chain's validity
TDX_CRL_AT = "2023-06-15T00:00:00Z"  # inside the go-tdx-guest CRLs' validity


def tdx(name: str) -> str:
    return str(fixture_path("go-tdx-guest/" + name))


def test_tdx_quote_ok_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    gce = tdx("ccel/cos-113-tdx-quote.dat")
    assert main(["verify", "--quote", gce, "--at", TDX_AT, "--no-debug", "--report-data", "00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: TDX quote v4 (TDX 1.0 body); TCB status not evaluated, checked at 2026-06-01")
    assert "passed         chain.pck: PCK -> PCK CA -> pinned root" in out
    assert "ignored 3065 bytes after the quote" in out
    assert "not performed  tcb.status: TCB status not evaluated: no collateral given (--collateral)" in out
    assert "matched        report_data, td_attributes_clear" in out
    assert main(["verify", "--quote", tdx("quote_v5_sample.dat"), "--at", TDX_AT, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == "pvmkit.verify-tdx/2" and d["ok"] and d["version"] == 5 and d["tdx_module"] == "1.5"
    assert d["tcb_status"] is None and d["advisory_ids"] == []
    assert d["root_sha256"] == "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
    body = Quote.parse(Path(tdx("quote_v5_sample.dat")).read_bytes()).body
    assert d["body"]["mr_td"] == body.mr_td.hex() and d["body"]["xfam"] == f"{body.xfam:#018x}"
    checks = {c["name"]: c["status"] for c in d["checks"]}
    assert d["body"]["mr_service_td"] is not None and checks["signature.quote"] == "passed"
    assert checks["tcb.status"] == "not_performed" and checks["policy.debug"] == "passed"


def test_tdx_quote_with_crls(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--quote", tdx("tdx_prod_quote_SPR_E4.dat"), "--pck-crl", tdx("pckcrl"), "--root-crl",
            tdx("rootcrl.der")]  # fmt: skip
    assert main([*argv, "--at", TDX_CRL_AT]) == 0
    out = capsys.readouterr().out
    assert (
        "passed         crl.root: PCK CA not revoked" in out
        and "passed         crl.pck: PCK not revoked" in out
    )
    assert main([*argv, "--at", TDX_AT]) == 3  # the CRLs have long expired
    assert "root CA CRL is not current at 2026-06-01" in one_error_line(capsys.readouterr().err)


def test_tdx_mismatches_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v5 = tdx("quote_v5_sample.dat")
    assert main(["verify", "--quote", v5, "--at", TDX_AT, "--rtmr2", "ab" * 48]) == 3
    assert "rtmr2 (quote offset 0x1de) mismatch: expected abab" in one_error_line(capsys.readouterr().err)
    assert main(["verify", "--quote", v5, "--at", TDX_AT, "--root-sha256", "00" * 32]) == 3
    assert "root CA is not the trusted one" in one_error_line(capsys.readouterr().err)
    tampered = bytearray(Path(v5).read_bytes())
    tampered[0x100] ^= 0x80  # inside the body
    (tmp_path / "q").write_bytes(bytes(tampered))
    assert main(["verify", "--quote", str(tmp_path / "q"), "--at", TDX_AT]) == 3
    assert "quote signature does not verify" in one_error_line(capsys.readouterr().err)


def test_tdx_bad_input_and_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v5 = tdx("quote_v5_sample.dat")
    assert main(["verify", "--quote", tdx("report.dat")]) == 1  # a TDREPORT, not a quote
    assert "unsupported DCAP quote: version 55055" in one_error_line(capsys.readouterr().err)
    (tmp_path / "short").write_bytes(Path(v5).read_bytes()[:700])
    assert main(["verify", "--quote", str(tmp_path / "short")]) == 1
    one_error_line(capsys.readouterr().err)
    assert main(["verify", "--quote", v5, "--mr-td", "00"]) == 2
    assert "--mr-td must be 48 bytes" in one_error_line(capsys.readouterr().err)
    assert main(["verify", "--quote", v5, "--vcek", real("vcek.testcer")]) == 2
    assert "--vcek cannot be used with --quote" in capsys.readouterr().err
    assert main(["verify", "--report", real("attestation.bin"), "--vcek", real("vcek.testcer"), "--chain",
                 real("milan.testcer"), "--mr-td", "00" * 48]) == 2  # fmt: skip
    assert "--mr-td cannot be used with --report" in capsys.readouterr().err
    assert main(["verify", "--quote", v5, "--report", real("attestation.bin")]) == 2
    capsys.readouterr()


# -- predictions as expected values (--expect) ---------------------------------------------------


def test_expect_a_replayed_event_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Replay → verify: the GCE guest's CCEL replayed by `pvmkit tdx replay --json` is what its
    Intel-signed quote must hold (RTMR0..3)."""
    replay = tmp_path / "replay.json"
    assert main(["tdx", "replay", "--ccel-data", tdx("ccel/ccel_data.dat"), "--json"]) == 0
    replay.write_text(capsys.readouterr().out)
    gce = tdx("ccel/cos-113-tdx-quote.dat")
    assert main(["verify", "--quote", gce, "--at", TDX_AT, "--expect", str(replay)]) == 0
    assert "matched        rtmr0, rtmr1, rtmr2, rtmr3" in capsys.readouterr().out
    # an explicit value outside the --expect set: usage error
    assert (
        main(["verify", "--quote", gce, "--at", TDX_AT, "--expect", str(replay), "--rtmr1", "00" * 48]) == 2
    )
    assert "--rtmr1 0000000000000000… is not among the 1 value(s) of rtmr_1" in one_error_line(
        capsys.readouterr().err
    )


def test_expect_an_snp_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sw: SoftwareAttestationKeys
) -> None:
    """Predict → verify for SNP: a report whose MEASUREMENT is the prediction of `pvmkit measure`
    passes, another fails with exit 3, and a TDX prediction or a vCPU range is refused."""
    fw = str(fixture_path("firmware/OVMF.amdsev.fd"))
    prediction = tmp_path / "snp.json"
    measure = [
        "measure",
        "--vendor",
        "snp",
        "--ovmf",
        fw,
        "--vcpu-type",
        "EPYC-v4",
        "--output-format",
        "json",
    ]
    assert main([*measure, "--vcpus", "4"]) == 0
    prediction.write_text(capsys.readouterr().out)
    digest = bytes.fromhex(json.loads(prediction.read_text())["digest"])
    good, bad = tmp_path / "good.bin", tmp_path / "bad.bin"
    good.write_bytes(sw.sign_report(SnpReport(measurement=digest)))
    bad.write_bytes(sw.sign_report(SnpReport(measurement=bytes(48))))
    assert main(["verify", "--report", str(good), "--key", sw.directory, "--expect", str(prediction)]) == 0
    assert "  passed         expected.measurement" in capsys.readouterr().out
    assert main(["verify", "--report", str(bad), "--key", sw.directory, "--expect", str(prediction)]) == 3
    assert "expected.measurement" in one_error_line(capsys.readouterr().err)
    assert main([*measure, "--vcpus", "1-2"]) == 0
    (tmp_path / "range.json").write_text(capsys.readouterr().out)
    # a vCPU range is a set of acceptable measurements: 1 or 2 vCPUs, not the 4 the report was made for
    in_range = [
        "verify",
        "--report",
        str(good),
        "--key",
        sw.directory,
        "--expect",
        str(tmp_path / "range.json"),
    ]
    assert main(in_range) == 3
    assert "expected.measurement: MEASUREMENT (expected one of " in one_error_line(capsys.readouterr().err)
    assert main([*measure, "--vcpus", "3-4"]) == 0
    (tmp_path / "range.json").write_text(capsys.readouterr().out)
    assert main(in_range) == 0
    assert "  passed         expected.measurement" in capsys.readouterr().out
    (tmp_path / "tdx.json").write_text(
        json.dumps({"schema": "pvmkit.measure-tdx/1", "vendor": "tdx", "mrtd": "00" * 48})
    )
    assert (
        main(["verify", "--report", str(good), "--key", sw.directory, "--expect", str(tmp_path / "tdx.json")])
        == 1
    )
    assert "cannot check an SNP report" in one_error_line(capsys.readouterr().err)


def test_snp_crl_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sw: SoftwareAttestationKeys
) -> None:
    report = tmp_path / "r.bin"
    report.write_bytes(sw.sign_report(SnpReport()))
    assert main(["verify", "--report", str(report), "--key", sw.directory, "--crl", tdx("rootcrl.der")]) == 3
    assert "ARK CRL is issued by" in one_error_line(capsys.readouterr().err)  # Intel's, not this ARK's
    assert main(["verify", "--quote", tdx("quote_v5_sample.dat"), "--crl", tdx("rootcrl.der")]) == 2
    assert "--crl cannot be used with --quote" in capsys.readouterr().err


def test_certs_from_an_extended_report_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pvmkit.attest.cert_table import build_cert_table
    from pvmkit.attest.verify import load_certificates

    def der(cert) -> bytes:  # type: ignore[no-untyped-def]
        from cryptography.hazmat.primitives.serialization import Encoding

        return bytes(cert.public_bytes(Encoding.DER))

    ask, ark = sorted(
        load_certificates(Path(real("milan.testcer")).read_bytes()), key=lambda c: c.issuer == c.subject
    )
    table = tmp_path / "certs.bin"
    table.write_bytes(
        build_cert_table({"vcek": Path(real("vcek.testcer")).read_bytes(), "ask": der(ask), "ark": der(ark)})
    )
    argv = ["verify", "--report", real("attestation.bin"), "--certs", str(table), "--at", AT, "--allow-debug"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("OK: SEV-SNP report v2 signed by VCEK (Milan)")
    partial = tmp_path / "vcek-only.bin"
    partial.write_bytes(build_cert_table({"vcek": Path(real("vcek.testcer")).read_bytes()}))
    assert main(["verify", "--report", real("attestation.bin"), "--certs", str(partial), "--at", AT]) == 1
    assert "has no ASK or ARK; give --chain FILE" in one_error_line(capsys.readouterr().err)
    with_chain = [
        "verify",
        "--report",
        real("attestation.bin"),
        "--certs",
        str(partial),
        "--chain",
        real("milan.testcer"),
        "--allow-debug",
    ]
    assert main([*with_chain, "--at", AT]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "verify",
                "--report",
                real("attestation.bin"),
                "--certs",
                str(table),
                "--vcek",
                real("vcek.testcer"),
            ]
        )
        == 2
    )
    capsys.readouterr()


def test_snp_min_tcb_and_no_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """The real report: REPORTED_TCB bootloader 2, tee 0, snp 5, microcode 68; POLICY 0xb0000 has
    DEBUG (bit 19) set, so it is refused unless --allow-debug (--no-debug, the default, is a no-op)."""
    assert main([*base(), "--at", AT, "--min-tcb", "bootloader=2,snp=5,microcode=68"]) == 0
    capsys.readouterr()
    assert main([*base(), "--at", AT, "--min-tcb", "microcode=0x45"]) == 3
    assert "tcb.minimum.reported" in one_error_line(capsys.readouterr().err)
    # option values that do not parse or are out of range: usage errors (docs/cli.md, exit 2)
    for bad, message in (
        ("snp", "--min-tcb takes NAME=SPL"),
        ("", "--min-tcb takes NAME=SPL"),
        ("tee=-1", "--min-tcb tee -1 is outside 0..255"),
        ("tee=256", "--min-tcb tee 256 is outside 0..255"),
        (str(2**64), "does not fit 64 bits"),
    ):
        assert main([*base(), "--at", AT, "--min-tcb", bad]) == 2, bad
        assert message in one_error_line(capsys.readouterr().err)
    refused = base()[:-1]  # without --allow-debug
    for extra in ([], ["--no-debug"]):
        assert main([*refused, "--at", AT, *extra]) == 3
        assert one_error_line(capsys.readouterr().err).startswith(
            "pvmkit: error: policy.debug: DEBUG (bit 19) refused, but the guest's policy sets it"
        )
    assert main([*base(), "--at", AT, "--no-debug"]) == 2  # --allow-debug and --no-debug
    assert "contradict" in capsys.readouterr().err
