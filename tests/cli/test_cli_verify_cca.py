"""``pvmkit verify --cca-token`` and ``pvmkit inspect`` on CCA tokens: exit 0 / 3 (a failed check) /
1 (unreadable token, key or store) / 2 (usage), text and ``pvmkit.verify-cca/1`` JSON.

Fixture tokens and stores are read in place; verdicts and values as published upstream
(tests/vectors/README.md, "Arm CCA tokens")."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from support.cca_tokens import (
    BUG33_TOKEN,
    CPAK_PUB,
    G1_TOKEN,
    G2_TOKEN,
    G3_TOKEN,
    RV_STORE,
    TA_STORE,
    TRUSTEE_TOKEN,
    claims_of,
    mint,
)
from support.cli import run
from support.fixtures import fixture_path, read_fixture

DRAFT_RIM = "311314ab73620350cf758834ae5c65d9e8c2dc7febe6e7d9654bbe864e300d49"


def f(relative: str) -> str:
    return str(fixture_path(relative))


def test_g3_token_with_ta_store_and_rim(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--cca-token", f(G3_TOKEN), "--ta-store", f(TA_STORE), "--rim", DRAFT_RIM]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    assert out.startswith("OK: Arm CCA token G3 (tag 907)")
    assert "passed         expected.rim" in out and "not performed  realm.challenge" in out


def test_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "verify",
        "--cca-token",
        f(TRUSTEE_TOKEN),
        "--cpak",
        f("trustee/deps/verifier/test_data/cca/misc/cpak-pub.json"),
        "--rv-store",
        f(RV_STORE),
        "--json",
    ]
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.verify-cca/1" and doc["ok"] is True
    assert doc["generation"] == "G1" and doc["collection_tag"] == 399
    names = {c["name"]: c["status"] for c in doc["checks"]}
    assert names["rv-store.platform"] == names["rv-store.realm.rim"] == names["binding"] == "passed"
    realm = doc["claims"]["realm"]
    assert realm["cca-realm-hash-algo-id"] == "sha-512" and realm["cca-realm-initial-measurement"].startswith(
        "ae87fbf7"
    )
    assert len(doc["claims"]["platform"]["cca-platform-sw-components"]) == 13


def test_binding_failure_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", "--cca-token", f(BUG33_TOKEN), "--ta-store", f(TA_STORE)], capsys)
    assert code == 3
    assert out.startswith("FAILED: Arm CCA token G1") and "failed         binding" in out
    assert err == "pvmkit: error: CCA token verification failed: binding\n"


def test_wrong_rim_and_challenge_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "verify",
        "--cca-token",
        f(G2_TOKEN),
        "--cpak",
        f(CPAK_PUB),
        "--rim",
        "00" * 32,
        "--challenge",
        "ab",
    ]
    code, _, err = run(argv, capsys)
    assert code == 3 and err.endswith("failed: realm.challenge, expected.rim\n")


def test_challenge_rem_rpv_pass(capsys: pytest.CaptureFixture[str]) -> None:
    _tag, _p, realm = claims_of(read_fixture(G1_TOKEN))
    argv = [
        "verify",
        "--cca-token",
        f(G1_TOKEN),
        "--cpak",
        f(CPAK_PUB),
        "--challenge",
        "ab" * 64,
        "--rem",
        "0=" + "00" * 32,
        "--rem",
        "3=" + "00" * 32,
        "--rpv",
        realm[44235].hex(),
        "--json",
    ]
    code, out, _ = run(argv, capsys)
    checks = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert code == 0
    assert (
        checks["realm.challenge"]
        == checks["expected.rem0"]
        == checks["expected.rem3"]
        == checks["expected.rpv"]
        == "passed"
    )


def test_expect_prediction_and_reference_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--expect takes pvmkit's CCA prediction JSON and Trustee's sample provenance (base64 RIM)."""
    prediction = tmp_path / "rim.json"
    prediction.write_text(
        json.dumps({"schema": "pvmkit.measure-cca/1", "rim": DRAFT_RIM, "hash_algo": "sha256"})
    )
    provenance = tmp_path / "rv.json"
    rim_b64 = base64.b64encode(bytes.fromhex(DRAFT_RIM)).decode()
    provenance.write_text(json.dumps({"cca.realm.cca-realm-initial-measurement": [rim_b64]}))
    for expect in (prediction, provenance):
        code, out, _ = run(
            ["verify", "--cca-token", f(G2_TOKEN), "--cpak", f(CPAK_PUB), "--expect", str(expect)], capsys
        )
        assert code == 0 and "passed         expected.rim" in out
    code, _, err = run(
        ["verify", "--cca-token", f(TRUSTEE_TOKEN), "--cpak", f(CPAK_PUB), "--expect", str(prediction)],
        capsys,
    )
    assert code == 3 and "expected.rim" in err
    # an explicit --rim that contradicts the file is a usage mistake, not a verdict
    code, _, err = run(
        [
            "verify",
            "--cca-token",
            f(G2_TOKEN),
            "--cpak",
            f(CPAK_PUB),
            "--expect",
            str(prediction),
            "--rim",
            "11" * 32,
        ],
        capsys,
    )
    assert code == 2 and "--rim 1111111111111111… is not among the 1 value(s)" in err
    # a file with nothing a CCA token carries
    snp = tmp_path / "snp.json"
    snp.write_text(json.dumps({"snp_launch_measurement": ["00" * 48]}))
    code, _, err = run(
        ["verify", "--cca-token", f(G2_TOKEN), "--cpak", f(CPAK_PUB), "--expect", str(snp)], capsys
    )
    assert code == 1 and "cannot check a CCA token" in err


def test_wrong_curve_key_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "p256.pem"
    key.write_bytes(read_fixture("veraison-psatoken/testvectors/tf-m/public.pem"))  # a P-256 key
    code, out, _ = run(["verify", "--cca-token", f(G1_TOKEN), "--cpak", str(key)], capsys)
    assert code == 3 and "ES384 needs a P-384 key, the key given is P-256" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"\x00not a token", "CCA token"),
        (lambda: read_fixture(G3_TOKEN)[:700], "ends after the input"),
        (lambda: read_fixture("veraison-psatoken/testvectors/tf-m/psa-2_0_0_sign1.bin"), "bare COSE_Sign1"),
    ],
)
def test_malformed_token_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    token = tmp_path / "t.cbor"
    token.write_bytes(make())  # type: ignore[operator]
    code, out, err = run(["verify", "--cca-token", str(token), "--cpak", f(CPAK_PUB)], capsys)
    assert code == 1 and out == ""
    assert err.startswith("pvmkit: error: ") and message in err and err.count("\n") == 1


def test_missing_claim_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tag, platform, realm = claims_of(read_fixture(G2_TOKEN))
    del realm[44238]
    token = tmp_path / "t.cbor"
    token.write_bytes(mint(platform, realm))
    code, _, err = run(["verify", "--cca-token", str(token), "--cpak", f(CPAK_PUB)], capsys)
    assert code == 1 and "initial-measurement (44238) is missing" in err


@pytest.mark.parametrize(
    ("key", "message"),
    [(b"{}", "JWK kty None"), (b"garbage", "--cpak"), (b"", "empty")],
)
def test_bad_key_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: bytes, message: str
) -> None:
    path = tmp_path / "k"
    path.write_bytes(key)
    code, _, err = run(["verify", "--cca-token", f(G1_TOKEN), "--cpak", str(path)], capsys)
    assert code == 1 and message in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --cpak KEY or --ta-store FILE"),
        (["--cpak", "k", "--ta-store", "s"], "not allowed with argument"),
        (["--cpak", "k", "--report-data", "00"], "--report-data (use --challenge) cannot be used"),
        (["--cpak", "k", "--at", "2025-01-01"], "--at cannot be used"),
        (["--cpak", "k", "--measurement", "00"], "--measurement cannot be used with --cca-token"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    code, _, err = run(["verify", "--cca-token", "t.cbor", *extra], capsys)
    assert code == 2 and message in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rim", "00" * 31], "--rim is 32, 48 or 64 bytes"),
        (["--rem", "4=" + "00" * 32], "--rem takes N=HEX"),
        (["--challenge", "00" * 65], "--challenge is at most 64 bytes"),
    ],
)
def test_bad_values_exit_2(capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    """docs/cli.md: an option value that does not parse or is out of range is a usage error."""
    code, _, err = run(["verify", "--cca-token", f(G1_TOKEN), "--cpak", f(CPAK_PUB), *extra], capsys)
    assert code == 2 and message in err


def test_hex_that_does_not_parse_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md: an option value that does not parse is a usage error (pvmkit.cli._common.parse_hex)."""
    code, _, err = run(["verify", "--cca-token", f(G1_TOKEN), "--cpak", f(CPAK_PUB), "--rpv", "zz"], capsys)
    assert code == 2 and "--rpv" in err


def test_inspect_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["inspect", f(G3_TOKEN)], capsys)
    assert code == 0 and "[cca-token]" in out and "cca-realm-profile: tag:arm.com,2024:realm#2.0.0" in out
    code, out, _ = run(["inspect", "--json", f(G1_TOKEN)], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["type"] == "cca-token" and doc["value"]["generation"] == "G1"
    assert doc["value"]["realm"]["claims"]["cca-realm-challenge"] == "ab" * 64
    assert doc["value"]["platform"]["claims"]["cca-platform-service-indicator"] == "whatever.com"


def test_inspect_malformed_token_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "t.cbor"
    token.write_bytes(read_fixture(G1_TOKEN)[:-3])
    code, _, err = run(["inspect", str(token)], capsys)
    assert code == 1 and "CCA token" in err


def test_predict_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The loop closed: predict a kvmtool realm's RIM, mint a token whose realm reports it (fixture
    keys), and verify the token against the prediction; a realm with another RIM fails (exit 3)."""
    prediction = tmp_path / "rim.json"
    argv = ["measure", "--vendor", "cca", "--num-bps", "6", "--num-wps", "6", "--vmm-type", "kvmtool",
            "--memory", "512M", "--json"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    prediction.write_text(out)
    rim = bytes.fromhex(json.loads(out)["rim"])
    _tag, platform, realm = claims_of(read_fixture(G2_TOKEN))
    for reported, expected_code in ((rim, 0), (bytes(32), 3)):
        realm[44238] = reported
        token = tmp_path / "t.cbor"
        token.write_bytes(mint(platform, realm))
        code, out, _ = run(
            ["verify", "--cca-token", str(token), "--cpak", f(CPAK_PUB), "--expect", str(prediction)], capsys
        )
        assert code == expected_code, out
        assert ("passed" if expected_code == 0 else "failed") + "         expected.rim" in out


def test_inspect_bare_platform_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["inspect", "--json", f("tf-m-tools/iat-verifier/tests/data/cca_example_platform_token.cbor")], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["type"] == "cca-platform-token" and doc["value"]["alg"] == "ES384"
    assert doc["value"]["claims"]["cca-platform-implementation-id"].startswith("7f454c46")


def test_rim_and_rem_as_base64(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 9: every measurement-like option takes hex or base64 (the draft token's RIM, 32 bytes:
    44 base64 characters). A 64-character value is hex of 32 bytes when it is hex digits only, else
    base64 of 48 bytes."""
    verify = ["verify", "--cca-token", f(G2_TOKEN), "--cpak", f(CPAK_PUB)]
    rim_b64 = base64.b64encode(bytes.fromhex(DRAFT_RIM)).decode()
    code, out, _ = run([*verify, "--rim", rim_b64, "--rem", f"0={rim_b64}"], capsys)
    assert code == 3 and "passed         expected.rim" in out and "failed         expected.rem0" in out
    other = base64.b64encode(bytes(48)).decode()  # 64 characters, not all hex digits: 48 bytes
    code, out, _ = run([*verify, "--rim", other], capsys)
    assert code == 3 and "failed         expected.rim" in out
    code, _, err = run([*verify, "--rim", "ab$"], capsys)
    assert code == 2 and "as hex (64, 96, 128 digits) or base64 (44, 64, 88 characters)" in err
