"""Trustee's own default policy, evaluated by a Rego engine, on the real GCE TDX evidence and a
reference-value set pvmkit exported (issue 10: "the real GCE TDX quote + CCEL must pass the
executables/hardware-name checks that such a set can answer, and a one-bit change in any exported
value must make it fail").

* Policy: the fixture ``trustee/attestation-service/src/ear_token/ear_default_policy_cpu.rego``, read
  in place. Its ``query_reference_value("n")`` built-in (Trustee ``broker.rs``: the stored value of
  reference value ``n``) is given to the engine as ``data.reference["n"]``, the one textual change.
* Engine: regorus (Microsoft's Rego interpreter) through the PyPI package ``opa-eval`` 0.1.1 — an
  independent evaluator of the policy's ``in`` / ``==`` tests.
* Claims: Trustee's TDX claim layout (``deps/verifier/src/tdx/claims.rs``: quote header/body fields as
  lowercase hex of their bytes, ``td_attributes.debug``, ``uefi_event_logs`` from the CCEL), built from
  the real quote and CCEL. ``tcb_status`` and ``collateral_expiration_status`` come from Intel's
  collateral in Trustee and are given as the passing values: no reference value answers them.
* Reference values: ``pvmkit reference-values --format trustee`` with RTMR1/RTMR2 replayed from the
  GCE CCEL by ``pvmkit tdx replay`` and MRTD/XFAM of the quote as literal values (the firmware
  behind the evidence is not among the fixtures), decoded as RVPS stores them.

The GCE guest boots through shim and GRUB, so the policy's QEMU direct-boot branch (executables 3:
kernel and LoadOptions events of ``File(kernel)``) cannot hold; its GKE/GRUB branch (executables 4:
RTMR1 and RTMR2) is the one the set answers.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.tdx_quote import Quote
from support.fixtures import fixture_path, import_peer

pytestmark = pytest.mark.crosscheck
opa_eval = import_peer("opa_eval")

POLICY = "trustee/attestation-service/src/ear_token/ear_default_policy_cpu.rego"
QUOTE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"
CCEL = "go-tdx-guest/ccel/ccel_data.dat"
#: executables 4 (GRUB), hardware 2, configuration 2: the passing values of the policy's TDX rules
PASSING = {"executables": 4, "hardware": 2, "configuration": 2}
#: the policy's defaults when its rules do not hold
FAILING = {"executables": 33, "hardware": 97, "configuration": 36}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def engine_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = fixture_path(POLICY).read_text()
    rewritten, n = re.subn(r'query_reference_value\(("[^"]+")\)', r"data.reference[\1]", text)
    assert n >= 15  # every reference-value query of the policy
    path = tmp_path_factory.mktemp("policy") / "policy.rego"
    path.write_text(rewritten)
    return path


def claims(replay: dict[str, object]) -> dict[str, object]:
    quote = Quote.parse(fixture_path(QUOTE).read_bytes())
    h, b = quote.header, quote.body
    events = [
        {"type_name": e["type"], "details": {}, "digests": [{"alg": "SHA-384", "digest": e["digest"]}]}
        for e in replay["events"]  # type: ignore[attr-defined]
    ]
    return {
        "tdx": {
            "quote": {
                "header": {
                    "tee_type": h.tee_type.to_bytes(4, "little").hex(),
                    "vendor_id": h.qe_vendor_id.hex(),
                },
                "body": {
                    "mr_td": b.mr_td.hex(),
                    "rtmr_1": b.rtmrs[1].hex(),
                    "rtmr_2": b.rtmrs[2].hex(),
                    "xfam": b.xfam.to_bytes(8, "little").hex(),
                },
            },
            "td_attributes": {"debug": bool(b.td_attributes & 1)},
            "uefi_event_logs": events,
            "tcb_status": "UpToDate",
            "collateral_expiration_status": "0",
        }
    }


def flip(hex_value: str) -> str:
    raw = bytearray.fromhex(hex_value)
    raw[0] ^= 0x80
    return raw.hex()


def test_trustee_default_policy_on_the_real_gce_evidence(
    engine_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = json.loads(_run(["tdx", "replay", "--ccel-data", str(fixture_path(CCEL)), "--json"], capsys))
    facts = claims(replay)
    body = facts["tdx"]["quote"]["body"]  # type: ignore[index]
    exported = {
        "rtmr_1": replay["rtmrs"]["rtmr1"],
        "rtmr_2": replay["rtmrs"]["rtmr2"],
        "mr_td": body["mr_td"],
        "xfam": body["xfam"],
    }

    def trust_claims(values: dict[str, str]) -> dict[str, int]:
        argv = ["reference-values", "--vendor", "tdx", "--format", "trustee"]
        argv += ["--firmware", str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))]
        for name, value in values.items():
            argv += ["--value", f"{name}={value}"]
        message = json.loads(_run(argv, capsys))
        reference = json.loads(base64.b64decode(message["payload"]))  # what RVPS stores, name by name
        evaluator = opa_eval.OpaEval(
            str(engine_policy),
            data_json=json.dumps({"reference": reference}),
            query="data.policy.trust_claims",
        )
        result = evaluator.evaluate_parsed(json.dumps(facts))
        return {k: result[k] for k in PASSING}

    assert trust_claims(exported) == PASSING
    for name, claim in (
        ("rtmr_1", "executables"),
        ("rtmr_2", "executables"),
        ("mr_td", "hardware"),
        ("xfam", "configuration"),
    ):
        got = trust_claims({**exported, name: flip(exported[name])})
        assert got == {**PASSING, claim: FAILING[claim]}, name
