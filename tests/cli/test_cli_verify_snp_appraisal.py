"""``pvmkit verify --report`` appraisal options and ``--policy-file`` (schema pvmkit.snp-policy/1) on
the real go-sev-guest report: flags and files that pass, that fail (exit 3, every failed check
listed), that contradict each other (exit 2) and that are malformed (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pvmkit.attest.snp_policy import parse_policy
from pvmkit.cli.main import main
from pvmkit.errors import InputError
from support.fixtures import fixture_path

AT = "2025-06-01T00:00:00Z"
MEASUREMENT = (
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
)


def real(name: str) -> str:
    return str(fixture_path("go-sev-guest/" + name))


def verify(*extra: str) -> list[str]:
    return ["verify", "--report", real("attestation.bin"), "--vcek", real("vcek.testcer"), "--chain",
            real("milan.testcer"), "--at", AT, *extra]  # fmt: skip


def policy_file(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return str(path)


def checks(out: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_flags_that_fit_the_real_report(capsys: pytest.CaptureFixture[str]) -> None:
    argv = verify("--allow-debug", "--measurement", "00" * 48, "--measurement", MEASUREMENT, "--host-data",
                  "00" * 32, "--report-id-ma", "ff" * 32, "--vmpl", "0", "--min-tcb", "0x4405000000000002",
                  "--min-launch-tcb", "snp=5", "--min-current-tcb", "bootloader=2", "--min-committed-tcb",
                  "microcode=68", "--min-build", "3", "--min-version", "1.49", "--platform-info", "0x1",
                  "--guest-policy", "0xb0000", "--policy-bits-clear", "0x100000", "--json")  # fmt: skip
    assert main(argv) == 0
    c = checks(capsys.readouterr().out)
    for name in ("expected.measurement", "expected.host_data", "expected.report_id_ma", "expected.vmpl",
                 "tcb.minimum.reported", "tcb.minimum.launch", "tcb.minimum.current", "tcb.minimum.committed",
                 "firmware.minimum_build", "firmware.minimum_version", "platform_info.smt_en",
                 "policy.bits_clear", "policy.debug"):  # fmt: skip
        assert c[name]["status"] == "passed", name


@pytest.mark.parametrize(
    ("flags", "check"),
    [
        (["--measurement", "00" * 48], "expected.measurement"),
        (["--host-data", "11" * 32, "--host-data", "22" * 32], "expected.host_data"),
        (["--report-id-ma", "00" * 32], "expected.report_id_ma"),
        (["--vmpl", "1"], "expected.vmpl"),
        (["--min-tcb", "snp=6"], "tcb.minimum.reported"),
        (["--min-launch-tcb", "microcode=69"], "tcb.minimum.launch"),
        (["--min-current-tcb", "0x4405000000000003"], "tcb.minimum.current"),
        (["--min-committed-tcb", "tee=1"], "tcb.minimum.committed"),
        (["--min-build", "4"], "firmware.minimum_build"),
        (["--min-version", "1.50"], "firmware.minimum_version"),
        (["--platform-info", "0"], "platform_info.smt_en"),
        (["--guest-policy", "0xa0000", "--allow-debug"], "policy.smt"),
        (["--guest-policy", "0x1b0000", "--allow-debug"], "policy.single_socket"),
        (["--policy-bits-clear", "0x10000", "--allow-debug"], "policy.bits_clear"),
        (["--policy", "0x30000", "--allow-debug"], "expected.policy"),
        (["--id-key-digest", "11" * 48], "expected.id_key_digest"),
        (["--author-key-digest", "11" * 48], "expected.author_key_digest"),
        (["--min-guest-svn", "1"], "guest_svn.minimum"),
        (["--report-id", "00" * 32], "expected.report_id"),
        (["--family-id", "11" * 16], "expected.family_id"),
        (["--image-id", "22" * 16, "--image-id", "33" * 16], "expected.image_id"),
        (["--chip-id", "00" * 64], "expected.chip_id"),
        (["--require-id-block"], "id_block.trusted"),  # the real report has no ID block: nothing trusted
        (["--min-launch-mitigation-vector", "1"], "mitigations.launch"),  # a v2 report has none
        (["--min-current-mitigation-vector", "0x2"], "mitigations.current"),
    ],
)
def test_each_flag_can_fail(capsys: pytest.CaptureFixture[str], flags: list[str], check: str) -> None:
    if "--allow-debug" not in flags:
        flags = [*flags, "--allow-debug"]
    assert main(verify(*flags, "--json")) == 3
    captured = capsys.readouterr()
    c = checks(captured.out)
    assert [name for name, v in c.items() if v["status"] == "failed"] == [check]
    assert captured.err.startswith(f"pvmkit: error: {check}")


def test_identity_flags_pass_with_the_reports_own_values(capsys: pytest.CaptureFixture[str]) -> None:
    """go-sev-guest check's -report_id, -family_id, -image_id, -chip_id and -minimum_guest_svn as
    flags: the accepted values are read from the real report at the offsets of the SEV-SNP ABI
    specification (AMD 56860, the ATTESTATION_REPORT structure), not through pvmkit's parser."""
    raw = Path(real("attestation.bin")).read_bytes()
    values = {"--family-id": raw[0x10:0x20], "--image-id": raw[0x20:0x30], "--report-id": raw[0x140:0x160],
              "--chip-id": raw[0x1A0:0x1E0]}  # fmt: skip
    flags = [part for option, value in values.items() for part in (option, value.hex())]
    guest_svn = int.from_bytes(raw[0x04:0x08], "little")
    argv = verify("--allow-debug", *flags, "--image-id", "ff" * 16, "--min-guest-svn", str(guest_svn))
    argv.append("--json")
    assert main(argv) == 0
    c = checks(capsys.readouterr().out)
    for name in ("expected.family_id", "expected.image_id", "expected.report_id", "expected.chip_id",
                 "guest_svn.minimum"):  # fmt: skip
        assert c[name]["status"] == "passed", name
    assert main(verify("--min-guest-svn", str(1 << 32))) == 2
    assert "--min-guest-svn" in capsys.readouterr().err


def test_text_lists_every_check_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(verify("--measurement", "00" * 48, "--vmpl", "3")) == 3
    captured = capsys.readouterr()
    assert captured.out.startswith("FAILED: SEV-SNP report v2 signed by VCEK (Milan)")
    assert "  failed         policy.debug: DEBUG (bit 19) refused" in captured.out
    assert "  failed         expected.vmpl:" in captured.out and "(expected 3, got 0)" in captured.out
    assert "  passed         signature:" in captured.out
    assert "  not performed  crl.ark:" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "and 2 more failed check(s): expected.vmpl, expected.measurement" in err[0]


def test_policy_file_passes_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = {"schema": "pvmkit.snp-policy/1", "allow_debug": True, "measurement": [MEASUREMENT, "00" * 48],
            "minimum_tcb": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}, "minimum_build": 3,
            "minimum_version": "1.49", "vmpl": 0, "platform_info": "0x1", "report_id_ma": "ff" * 32,
            "minimum_launch_tcb": "0x4405000000000002", "permit_provisional_firmware": False}  # fmt: skip
    assert main(verify("--allow-debug", "--policy-file", policy_file(tmp_path, good), "--json")) == 0
    c = checks(capsys.readouterr().out)
    assert c["expected.measurement"]["status"] == "passed" and c["tcb.minimum.launch"]["status"] == "passed"
    bad = {**good, "measurement": ["00" * 48], "minimum_version": "1.50"}
    assert main(verify("--allow-debug", "--policy-file", policy_file(tmp_path, bad), "--json")) == 3
    c = checks(capsys.readouterr().out)
    assert [n for n, v in c.items() if v["status"] == "failed"] == [
        "expected.measurement",
        "firmware.minimum_version",
    ]
    # a flag overrides the file's value
    argv = verify("--allow-debug", "--policy-file", policy_file(tmp_path, bad), "--measurement", MEASUREMENT,
                  "--min-version", "1.0")  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()


def test_debug_is_one_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--allow-debug, --guest-policy's DEBUG bit and the policy file must agree (exit 2 otherwise)."""
    allows = policy_file(tmp_path, {"allow_debug": True})
    assert main(verify("--policy-file", allows)) == 2
    assert "allows DEBUG but --allow-debug is not given" in capsys.readouterr().err
    refuses = policy_file(tmp_path, {"guest_policy": "0x30000"})
    assert main(verify("--policy-file", refuses, "--allow-debug")) == 2
    assert "refuses DEBUG but --allow-debug is given" in capsys.readouterr().err
    assert main(verify("--guest-policy", "0xb0000")) == 2
    assert "--guest-policy allows DEBUG" in capsys.readouterr().err
    assert main(verify("--policy-file", refuses)) == 3  # agreed: refused
    assert "policy.debug" in capsys.readouterr().err
    assert (
        main(verify("--policy-file", policy_file(tmp_path, {"guest_policy": 0xB0000}), "--allow-debug")) == 0
    )
    capsys.readouterr()
    assert main(verify("--allow-migrate-ma", "--guest-policy", "0x30000")) == 2
    assert "refuses MIGRATE_MA but --allow-migrate-ma is given" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"measurment": "00"}, "unknown key 'measurment'"),
        ({"policy": "0x30000"}, "ambiguous"),
        ({"schema": "pvmkit.snp-policy/9"}, "pvmkit reads 'pvmkit.snp-policy/1'"),
        ({"measurement": "00"}, "must be 48 bytes"),
        ({"measurement": []}, "an empty list accepts nothing"),
        ({"minimum_tcb": {"ucode": 1}}, "unknown TCB component 'ucode'"),
        ({"minimum_version": "1"}, "expected major.minor"),
        ({"vmpl": 4}, "is not 0..3"),
        ({"allow_debug": "yes"}, "expected true or false"),
        ({"allow_debug": False, "guest_policy": "0xb0000"}, "allow_debug is false but guest_policy 0xb0000"),
        ({"trusted_id_key_hashes": "00"}, "expected a list"),
        ({"guest_policy": "0x10000"}, "has bit 17 clear"),
        ({"guest_policy": 1 << 30 | 0x30000}, "sets undefined bits 0x40000000"),
        ({"platform_info": 64}, "sets reserved bits 0x40"),
        ({"minimum_guest_svn": 1 << 32}, "does not fit GUEST_SVN's 32 bits"),
    ],
)
def test_malformed_policy_files(doc: dict[str, Any], message: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with pytest.raises(InputError, match=message):
        parse_policy(doc)
    assert main(verify("--policy-file", policy_file(tmp_path, doc))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.split("'")[0] in err[0]


def test_policy_file_keys_and_trusted_keys() -> None:
    parsed = parse_policy({"require_author_key": True, "trusted_author_key_hashes": ["22" * 48],
                           "trusted_id_key_hashes": ["11" * 48, "33" * 48], "exact_policy": 196608,
                           "minimum_guest_svn": 2, "minimum_launch_mitigation_vector": "0x3",
                           "minimum_current_mitigation_vector": 4})  # fmt: skip
    assert parsed.fields == {
        "require_author_key": True,
        "trusted_author_keys": frozenset({b"\x22" * 48}),
        "trusted_id_keys": frozenset({b"\x11" * 48, b"\x33" * 48}),
        "policy": 0x30000,
        "min_guest_svn": 2,
        "min_launch_mit_vector": 3,
        "min_current_mit_vector": 4,
    }
    assert parsed.allow_debug is None and parsed.allow_migrate_ma is None


def test_expect_reference_value_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--expect with a Trustee provenance holding two accepted measurements (one the report's) and a
    name an SNP report does not carry: the set is checked, the other name is reported as not covered."""
    rv = tmp_path / "rv.json"
    rv.write_text(json.dumps({"snp_launch_measurement": ["00" * 48, MEASUREMENT], "mr_td": ["11" * 48]}))
    assert main(verify("--allow-debug", "--expect", str(rv), "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["expect"]["matched"] == {"snp_launch_measurement": {"field": "measurement", "values": 2}}
    assert doc["expect"]["not_covered"] == ["mr_td"]
    measurement = checks(json.dumps(doc))["expected.measurement"]
    assert measurement["status"] == "passed" and measurement["expected"] == sorted(["00" * 48, MEASUREMENT])
    assert main(verify("--allow-debug", "--expect", str(rv))) == 0
    out = capsys.readouterr().out
    assert "measurement is one of 2 values of snp_launch_measurement" in out and "not covered" in out
    rv.write_text(json.dumps({"snp_launch_measurement": ["00" * 48, "22" * 48]}))
    assert main(verify("--allow-debug", "--expect", str(rv))) == 3
    assert "expected.measurement" in capsys.readouterr().err
    assert main(verify("--allow-debug", "--expect", str(rv), "--measurement", MEASUREMENT)) == 2
    assert "is not among the 2 value(s) of snp_launch_measurement" in capsys.readouterr().err


def test_trusted_id_and_author_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """go-sev-guest validateKeys from the command line: trusted keys as a public key (PEM), a
    certificate (DER) or a digest; the report's digests are those snp-create-id-block computes (its
    digests are cross-checked against the peer tool in tests/crosscheck)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.attest.snp_report import SnpReport
    from pvmkit.attest.software_ca import SoftwareAttestationKeys
    from pvmkit.vendors.amd.id_block import key_digest

    sw = SoftwareAttestationKeys.create(str(tmp_path / "sw"), rsa_bits=2048)
    id_key, author_key, stranger = (ec.generate_private_key(ec.SECP384R1()) for _ in range(3))
    (tmp_path / "id.pub").write_bytes(id_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "author")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(author_key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(author_key, hashes.SHA384()))  # fmt: skip
    (tmp_path / "author.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    report = tmp_path / "r.bin"
    digests = {"id_key_digest": key_digest(id_key), "author_key_digest": key_digest(author_key)}
    report.write_bytes(sw.sign_report(SnpReport(**digests, author_key_en=True)))
    base = ["verify", "--report", str(report), "--key", sw.directory, "--json"]
    assert main([*base, "--trusted-id-key", str(tmp_path / "id.pub")]) == 0
    assert checks(capsys.readouterr().out)["id_block.trusted"]["status"] == "passed"
    assert main([*base, "--trusted-author-key", str(tmp_path / "author.der"), "--require-author-key"]) == 0
    c = checks(capsys.readouterr().out)
    assert c["id_block.author_key"]["status"] == c["id_block.trusted"]["status"] == "passed"
    assert main([*base, "--trusted-id-key", key_digest(stranger).hex()]) == 3
    assert checks(capsys.readouterr().out)["id_block.trusted"]["status"] == "failed"
    assert main([*base, "--trusted-id-key", str(tmp_path / "id.pub"), "--require-author-key"]) == 3
    assert checks(capsys.readouterr().out)["id_block.author_key"]["status"] == "failed"  # no trusted author
    assert main([*base, "--trusted-id-key", "00"]) == 2
    assert "neither a file nor a 48-byte hex digest" in capsys.readouterr().err
    (tmp_path / "junk").write_bytes(b"junk")
    assert main([*base, "--trusted-id-key", str(tmp_path / "junk")]) == 1
    assert "neither a certificate nor a public key" in capsys.readouterr().err

    # the same keys in a policy file (go-sev-guest trusted_author_keys / trusted_id_keys), as PEM texts
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    stranger_pem = stranger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    doc = {"trusted_author_keys": [pem_cert], "require_author_key": True}
    assert main([*base, "--policy-file", policy_file(tmp_path, doc)]) == 0
    c = checks(capsys.readouterr().out)
    assert c["id_block.author_key"]["status"] == c["id_block.trusted"]["status"] == "passed"
    doc = {"trusted_id_keys": [stranger_pem], "require_id_block": True}
    assert main([*base, "--policy-file", policy_file(tmp_path, doc)]) == 3
    assert checks(capsys.readouterr().out)["id_block.trusted"]["status"] == "failed"
    doc["trusted_id_key_hashes"] = [key_digest(id_key).hex()]  # the two keys add up
    assert main([*base, "--policy-file", policy_file(tmp_path, doc)]) == 0
    capsys.readouterr()
    for bad, message in ((["junk"], "trusted_id_keys[0]: not PEM"), ("x", "expected a list of PEM"),
                         ([pem_cert.replace("M", "A", 3)], "trusted_id_keys[0]: ")):  # fmt: skip
        assert main([*base, "--policy-file", policy_file(tmp_path, {"trusted_id_keys": bad})]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--guest-policy", "0x10000"], "--guest-policy 0x10000 has bit 17 clear"),
        (["--guest-policy", "0x4030000"], "--guest-policy 0x4030000 sets undefined bits 0x4000000"),
        (["--platform-info", "0x40"], "--platform-info 0x40 sets reserved bits 0x40"),
        (["--min-version", "1"], "expected major.minor"),
    ],
)
def test_malformed_accepted_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """go-sev-guest refuses a guest policy or PLATFORM_INFO option that is not one (abi.ParseSnpPolicy,
    abi.ParseSnpPlatformInfo): so does pvmkit, as a usage error."""
    assert main(verify(*flags)) == 2
    assert message in capsys.readouterr().err
