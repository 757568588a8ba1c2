"""The Intel DCAP appraisal cases of ``../shared/fixtures/dcap-appraisal-cases.json``, loaded in place.

Each case names a quote (raw or hex text), the seven collateral items (one dcap-qvl
``QuoteCollateralV3`` JSON, or per item in the forms the fixture README lists), the evaluation time and
the expected result by Intel's QVL rules, with what the dcap-qvl package answered beside it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from pvmkit.formats.intel_collateral import CollateralSet, collateral_from_parts, collateral_from_v3_json
from support.fixtures import fixture_path, read_fixture

CASES_FILE = "dcap-appraisal-cases.json"


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(read_fixture(CASES_FILE))
    return cases


def case_ids(where: Callable[[dict[str, Any]], bool] = lambda c: True) -> list[str]:
    """The ids of the cases ``where`` selects, for parametrisation; none when the fixtures are absent
    (``test_case_file_has_the_fourteen_cases`` then skips, or fails under CI)."""
    try:
        return [c["id"] for c in json.loads(fixture_path(CASES_FILE).read_bytes()) if where(c)]
    except BaseException:  # pytest.skip/fail outside a test: collection must not fail
        return []


def case(case_id: str) -> dict[str, Any]:
    for c in load_cases():
        if c["id"] == case_id:
            return c
    raise KeyError(case_id)


def quote_bytes(c: dict[str, Any]) -> bytes:
    data = read_fixture(c["quote"])
    if c["quote_encoding"] == "raw":
        return data
    parts = data.decode().split()
    text = parts[c.get("quote_index", 0)] if len(parts) > 1 else "".join(parts)
    return bytes.fromhex(text.removeprefix("0x"))


def at(c: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(c["at"].replace("Z", "+00:00"))


def _signed_body(key: str, text: str, signature: str) -> bytes:
    return f'{{"{key}":{text},"signature":"{signature}"}}'.encode()


def item_bytes(name: str, spec: dict[str, Any]) -> bytes:
    """One collateral item in the form PCS serves it (bodies for TCB Info / QE Identity)."""
    form = spec["form"]
    if form == "der-certs":
        return b"".join(read_fixture(f) for f in spec["files"])
    raw = read_fixture(spec["file"])
    if form in ("pcs-body", "der"):
        return raw
    value = json.loads(raw)[spec["field"]]
    if form == "dcap-qvl-json":
        doc = json.loads(raw)
        if name == "tcb_info":
            return _signed_body("tcbInfo", doc["tcb_info"], doc["tcb_info_signature"])
        if name == "qe_identity":
            return _signed_body("enclaveIdentity", doc["qe_identity"], doc["qe_identity_signature"])
        if name in ("pck_crl", "root_ca_crl"):
            return bytes.fromhex(value)
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def collateral_parts(c: dict[str, Any]) -> dict[str, bytes]:
    """The seven items as files (PCS bodies, PEM/DER chains, CRLs) for a per-item case."""
    return {name: item_bytes(name, spec) for name, spec in c["collateral"].items()}


def collateral(c: dict[str, Any]) -> CollateralSet:
    col = c["collateral"]
    if "dcap-qvl-json" in col:
        return collateral_from_v3_json(read_fixture(col["dcap-qvl-json"]))
    return collateral_from_parts(collateral_parts(c))
