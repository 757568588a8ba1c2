"""Intel TCB appraisal of real TDX and SGX quotes with real Intel PCS collateral.

Expected values: ``../shared/fixtures/dcap-appraisal-cases.json`` (status, advisories, matched levels by
Intel's QVL rules, each case also answered by the dcap-qvl 0.7.0 package); tests/vectors/README.md.
Tamper cases change one bit of real collateral and must be refused, each with its reason.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import pytest

from pvmkit.attest.dcap_verify import appraise_quote
from pvmkit.attest.result import FAILED, NOT_PERFORMED, PASSED
from pvmkit.errors import InputError
from support import dcap_cases
from support.dcap_cases import at, case, collateral, quote_bytes

CASE_IDS = dcap_cases.case_ids()

#: What each refusal in the case file is, as the check pvmkit fails.
REFUSALS = {
    "no TCB level matches": "tcb.platform",
    "FMSPC of the TCB info differs": "tcb.info",
    "collateral expired": "collateral.tcb_info.dates",
}


def test_case_file_has_the_fourteen_cases() -> None:
    cases = dcap_cases.load_cases()
    assert len(cases) == 14
    assert sum(c["tee"] == "SGX" for c in cases) == 3


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_reproduces(case_id: str) -> None:
    c = case(case_id)
    raw = quote_bytes(c)
    import hashlib

    assert hashlib.sha256(raw).hexdigest() == c["quote_sha256"]
    result = appraise_quote(raw, collateral=collateral(c), at=at(c), allow_debug=True)
    assert result.tee == c["tee"]
    assert result.quote.version == c["quote_version"]
    exp = c["expected"]
    if "error" in exp:
        name = next(check for text, check in REFUSALS.items() if exp["error"].startswith(text))
        failed = [f.name for f in result.checks.failures]
        assert name in failed, failed
        assert result.tcb_status is None
        assert not result.ok
        return
    assert result.tcb is not None
    assert result.tcb_status == exp["tcb_status"]
    assert list(result.tcb.advisory_ids) == exp["advisory_ids"]
    # everything but the acceptance of the status passed
    unaccepted = [] if exp["tcb_status"] == "UpToDate" else ["tcb.status"]
    assert [f.name for f in result.checks.failures] == unaccepted
    assert result.pck is not None and result.pck.fmspc.hex().upper() == c["fmspc"]
    level = exp.get("tdx_tcb_level") or exp["sgx_tcb_level"]
    assert result.tcb.platform_level.tcb_date == level["tcbDate"]
    assert result.tcb.platform_level.status == level["tcbStatus"]
    qe = exp["qe_identity_level"]
    assert (result.tcb.qe_level.isvsvn, result.tcb.qe_level.status) == (qe["isvsvn"], qe["tcbStatus"])
    if "tdx_module" in exp:
        module = exp["tdx_module"]
        assert result.tcb.module is not None and result.tcb.module.level is not None
        assert result.tcb.module.identity == module["identity"]
        assert result.tcb.module.level.isvsvn == module["isvsvn_level"]
        assert result.tcb.module.level.status == module["tcbStatus"]
        assert list(result.tcb.module.level.advisory_ids) == module["advisoryIDs"]
    else:
        assert result.tcb.module is None


@pytest.mark.parametrize(
    "case_id", dcap_cases.case_ids(lambda c: c["expected"].get("tcb_status") not in (None, "UpToDate"))
)
def test_case_accepted_status(case_id: str) -> None:
    """--accept-status turns a non-UpToDate status into a pass; nothing else changes."""
    c = case(case_id)
    status = c["expected"]["tcb_status"]
    result = appraise_quote(
        quote_bytes(c), collateral=collateral(c), at=at(c), allow_debug=True, accept_status=[status]
    )
    assert result.ok
    assert result.checks.get("tcb.status").status == PASSED  # type: ignore[union-attr]


UPTODATE = "tdx/dcap-qvl/sample-uptodate"


def test_without_collateral_tcb_is_not_performed() -> None:
    c = case(UPTODATE)
    result = appraise_quote(quote_bytes(c), at=at(c))
    check = result.checks.get("tcb.status")
    assert check is not None and check.status == NOT_PERFORMED
    assert "not evaluated" in check.detail
    assert result.ok and result.tcb_status is None
    required = appraise_quote(quote_bytes(c), at=at(c), require_tcb=True)
    assert not required.ok
    assert required.checks.get("tcb.status").status == FAILED  # type: ignore[union-attr]


def test_unknown_accept_status_is_refused() -> None:
    c = case(UPTODATE)
    with pytest.raises(InputError, match="Revoked"):
        appraise_quote(quote_bytes(c), at=at(c), accept_status=["Revoked"])


def test_debug_policy() -> None:
    """The dcap-qvl sample TD has TD_ATTRIBUTES 0x10000000 (SEPT_VE_DISABLE), DEBUG clear."""
    c = case(UPTODATE)
    result = appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c))
    assert result.checks.get("policy.debug").status == PASSED  # type: ignore[union-attr]
    assert result.ok and result.tcb_status == "UpToDate"


def test_checks_cover_every_step() -> None:
    c = case(UPTODATE)
    names = [ch.name for ch in appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c)).checks]
    for name in (
        "quote.form",
        "chain.pck",
        "pck.extension",
        "signature.qe_report",
        "qe_report.binding",
        "signature.quote",
        "collateral.tcb_info.chain",
        "collateral.root_ca_crl",
        "collateral.tcb_info.signature",
        "collateral.tcb_info.dates",
        "collateral.qe_identity.signature",
        "collateral.qe_identity.dates",
        "collateral.pck_crl",
        "crl.pck",
        "crl.root",
        "tcb.info",
        "tcb.qe_identity",
        "tcb.tdx_module",
        "tcb.platform",
        "tcb.status",
        "policy.debug",
    ):
        assert name in names


# --------------------------------------------------------------------------------------------------
# tamper cases: one flipped bit in real collateral, each refused with its reason


def _flip_text(text: bytes, pattern: bytes) -> bytes:
    pos = text.index(pattern) + len(pattern)
    return text[:pos] + bytes([text[pos] ^ 0x01]) + text[pos + 1 :]


def _flip_pem(pem: bytes, index: int) -> bytes:
    """Flip one bit inside the signature of the ``index``-th certificate of a PEM bundle."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    der = bytearray(base64.b64decode(b"".join(blocks[index].split())))
    der[-3] ^= 0x01
    blocks[index] = base64.encodebytes(bytes(der))
    return b"".join(b"-----BEGIN CERTIFICATE-----\n" + b + b"-----END CERTIFICATE-----\n" for b in blocks)


def _flip_der_signature(der: bytes) -> bytes:
    out = bytearray(der)
    out[-3] ^= 0x01
    return bytes(out)


TAMPER = {
    "tcb_info": (
        lambda s: dataclasses.replace(s, tcb_info=_flip_text(s.tcb_info, b'"tcbEvaluationDataNumber":')),
        "collateral.tcb_info.signature",
        "does not verify",
    ),
    "qe_identity": (
        lambda s: dataclasses.replace(s, qe_identity=_flip_text(s.qe_identity, b'"isvprodid":')),
        "collateral.qe_identity.signature",
        "does not verify",
    ),
    "tcb_info_issuer_chain": (
        lambda s: dataclasses.replace(s, tcb_info_issuer_chain=_flip_pem(s.tcb_info_issuer_chain, 0)),
        "collateral.tcb_info.chain",
        "signature does not verify",
    ),
    "qe_identity_issuer_chain": (
        lambda s: dataclasses.replace(s, qe_identity_issuer_chain=_flip_pem(s.qe_identity_issuer_chain, 0)),
        "collateral.qe_identity.chain",
        "signature does not verify",
    ),
    "pck_crl_issuer_chain": (
        lambda s: dataclasses.replace(s, pck_crl_issuer_chain=_flip_pem(s.pck_crl_issuer_chain, 0)),
        "collateral.pck_crl",
        "signature does not verify",
    ),
    "pck_crl": (
        lambda s: dataclasses.replace(s, pck_crl=_flip_der_signature(s.pck_crl)),
        "collateral.pck_crl",
        "signature does not verify",
    ),
    "root_ca_crl": (
        lambda s: dataclasses.replace(s, root_ca_crl=_flip_der_signature(s.root_ca_crl)),
        "collateral.root_ca_crl",
        "signature does not verify",
    ),
}


@pytest.mark.parametrize("item", sorted(TAMPER))
def test_tampered_collateral_is_refused(item: str) -> None:
    c = case(UPTODATE)
    change, check_name, reason = TAMPER[item]
    result = appraise_quote(quote_bytes(c), collateral=change(collateral(c)), at=at(c))
    assert not result.ok
    assert result.tcb_status is None
    check = result.checks.get(check_name)
    assert check is not None and check.status == FAILED, [f.text() for f in result.checks.failures]
    assert reason in check.detail
    tcb = result.checks.get("tcb.status")
    assert tcb is not None and tcb.status == FAILED  # the collateral was given: no TCB status is a failure


def test_collateral_after_next_update_is_refused() -> None:
    c = case(UPTODATE)
    later = dt.datetime(2025, 7, 19, 10, 16, 4, tzinfo=dt.timezone.utc)  # TCB Info nextUpdate + 1 s
    result = appraise_quote(quote_bytes(c), collateral=collateral(c), at=later)
    check = result.checks.get("collateral.tcb_info.dates")
    assert check is not None and check.status == FAILED and "expired" in check.detail
    assert not result.ok


def test_pck_of_another_fmspc_is_refused() -> None:
    c = case("tdx/negative/fmspc-mismatch")
    result = appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c))
    check = result.checks.get("tcb.info")
    assert check is not None and check.status == FAILED
    assert "FMSPC 90C06F000000 != PCK FMSPC 00806F050000" in check.detail
    assert "STATUS_TCB_INFO_MISMATCH" in check.detail


def test_tampered_quote_reports_every_failure() -> None:
    """A changed body byte fails the quote signature; the collateral and TCB still get evaluated."""
    c = case(UPTODATE)
    raw = bytearray(quote_bytes(c))
    raw[48 + 0x88] ^= 1  # MRTD
    result = appraise_quote(bytes(raw), collateral=collateral(c), at=at(c))
    assert [f.name for f in result.checks.failures] == ["signature.quote"]
    assert result.tcb_status == "UpToDate"
    assert not result.ok


def test_cache_does_not_hide_a_later_failure() -> None:
    """The content-keyed caches give the same answers on a second run, tampered or not."""
    c = case(UPTODATE)
    good = collateral(c)
    bad = TAMPER["tcb_info"][0](good)
    for _ in range(2):
        assert appraise_quote(quote_bytes(c), collateral=good, at=at(c)).ok
        assert not appraise_quote(quote_bytes(c), collateral=bad, at=at(c)).ok


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cached_results_equal_uncached(case_id: str) -> None:
    """The steady state (everything cached) reports exactly what a fresh verification reports, and a
    time outside the collateral's window is checked afresh, not answered from the cache."""
    from pvmkit.attest.dcap_verify import clear_caches

    c = case(case_id)
    clear_caches()
    fresh = appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c), allow_debug=True).to_dict()
    cached = appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c), allow_debug=True).to_dict()
    assert cached == fresh
    later = dt.datetime(2049, 1, 1, tzinfo=dt.timezone.utc)  # past every collateral's nextUpdate
    result = appraise_quote(quote_bytes(c), collateral=collateral(c), at=later, allow_debug=True)
    assert not result.ok and result.tcb_status is None


def test_every_mismatch_is_reported() -> None:
    """Validation lists every expected value that differs, not only the first (values or sets)."""
    from pvmkit.attest.tdx_validate import validate_quote
    from pvmkit.attest.tdx_verify import TdxExpected
    from pvmkit.formats.sgx_quote import parse_dcap_quote

    c = case(UPTODATE)
    body = parse_dcap_quote(quote_bytes(c)).body
    expected = TdxExpected(
        mr_td=bytes(48),
        rtmr1=frozenset({bytes(48), b"\x01" * 48}),
        rtmr0=frozenset({body.rtmr0, bytes(48)}),  # type: ignore[union-attr]
        report_data=body.report_data,
    )
    result = appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c), expected=expected)
    assert [f.name for f in result.checks.failures] == ["expected.mr_td", "expected.rtmr1"]
    assert "mr_td (quote offset 0xb8) mismatch" in result.checks.failures[0].detail
    assert result.checks.get("expected.rtmr0").status == PASSED  # type: ignore[union-attr]
    assert result.tcb_status == "UpToDate"  # the appraisal itself still ran
    alone = validate_quote(result.quote, expected)
    assert [c.name for c in alone.failures] == ["expected.mr_td", "expected.rtmr1"]


def test_pck_crl_of_the_other_ca_is_refused() -> None:
    """QVL 4.1.2.4.6: the PCK CRL must be the PCK issuer's. The TDX sample's PCK is from the Platform
    CA; the SGX sample's collateral carries the Processor CA's CRL (both real, both current then)."""
    c = case(UPTODATE)
    processor = collateral(case("sgx/dcap-qvl/sample-config-swhardening"))
    mixed = dataclasses.replace(
        collateral(c), pck_crl=processor.pck_crl, pck_crl_issuer_chain=processor.pck_crl_issuer_chain
    )
    result = appraise_quote(quote_bytes(c), collateral=mixed, at=at(c))
    check = result.checks.get("crl.pck")
    assert check is not None and check.status == FAILED
    assert "Intel SGX PCK Processor CA" in check.detail and "Intel SGX PCK Platform CA" in check.detail
    assert not result.ok


def test_qe_identity_of_the_other_tee_is_refused() -> None:
    """A TDX quote needs the TD_QE identity; the SGX QE's (real, signed) is refused by its id."""
    c = case(UPTODATE)
    sgx = collateral(case("sgx/dcap-qvl/sample-config-swhardening"))
    mixed = dataclasses.replace(
        collateral(c),
        qe_identity=sgx.qe_identity,
        qe_identity_signature=sgx.qe_identity_signature,
        qe_identity_issuer_chain=sgx.qe_identity_issuer_chain,
    )
    result = appraise_quote(quote_bytes(c), collateral=mixed, at=at(c))
    check = result.checks.get("tcb.qe_identity")
    assert check is not None and check.status == FAILED
    assert "identity 'QE', a TDX quote needs 'TD_QE'" in check.detail
    assert result.tcb_status is None
