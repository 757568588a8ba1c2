"""The content-keyed caches of DCAP verification can never turn a failure into a pass.

Each test first appraises a real quote with its real collateral (``../shared/fixtures``, cases of
``dcap-appraisal-cases.json``; expected statuses from that file, tests/vectors/README.md), so every
cache holds the good inputs; then one bit of one cached input is flipped — the QE report, its
signature, the QE auth data, the attestation key, each certificate of the PCK chain in the quote, each
of the seven collateral items — and the appraisal must fail the check that covers that input, and the
good input must still pass afterwards (the failure did not poison a cache either).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import pytest

from pvmkit.attest import dcap_collateral, dcap_verify, intel_tcb, tdx_verify
from pvmkit.attest.dcap_verify import appraise_quote
from pvmkit.attest.result import FAILED
from pvmkit.errors import FormatError
from pvmkit.formats import tdx_quote
from pvmkit.formats.intel_collateral import CollateralSet
from pvmkit.formats.sgx_quote import SgxQuote, parse_dcap_quote
from pvmkit.formats.tdx_quote import Quote, TdQuoteBody
from support import dcap_cases
from support.bitflip import flip, flip_certificate
from support.dcap_cases import at, case, collateral, quote_bytes

#: One TDX v4 and one SGX v3 quote whose appraisal passes with their accepted status.
CASES = {
    "tdx/dcap-qvl/sample-uptodate": (),
    "sgx/automata/quotev3-swhardening": ("SWHardeningNeeded",),
}


def _offsets(raw: bytes) -> dict[str, int]:
    """Where each platform-constant part of a quote starts (Intel DCAP sgx_quote_3/4/5.h layouts)."""
    quote = parse_dcap_quote(raw)
    sig = quote.body_offset + quote.body_size + 4  # the signature data, after its u32 length
    qe = sig + 128 + (0 if isinstance(quote, SgxQuote) else 6)  # v4/v5: the type-6 header first
    return {
        "attestation_key": sig + 64 + 32,
        "qe_report": qe + 16,  # MISCSELECT
        "qe_report_signature": qe + 384 + 40,
        "qe_auth_data": qe + 384 + 64 + 2,
    }


#: quote part -> (how to change the raw quote, the check that must fail)
QUOTE_TAMPER: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "qe_report": (lambda raw: flip(raw, _offsets(raw)["qe_report"]), "signature.qe_report"),
    "qe_report_signature": (
        lambda raw: flip(raw, _offsets(raw)["qe_report_signature"]),
        "signature.qe_report",
    ),
    "qe_auth_data": (lambda raw: flip(raw, _offsets(raw)["qe_auth_data"]), "qe_report.binding"),
    "attestation_key": (lambda raw: flip(raw, _offsets(raw)["attestation_key"]), "qe_report.binding"),
    "pck_certificate": (lambda raw: flip_certificate(raw, 0), "chain.pck"),
    "pck_ca_certificate": (lambda raw: flip_certificate(raw, 1), "chain.pck"),
    "root_certificate": (lambda raw: flip_certificate(raw, 2), "chain.pck"),
}


def _flip_text(text: bytes, key: bytes) -> bytes:
    return flip(text, text.index(key) + len(key))


def _flip_signature(der: bytes) -> bytes:
    return flip(der, len(der) - 3)  # a DER CRL ends with its signature


#: collateral item -> (how to change it, the check that must fail)
COLLATERAL_TAMPER: dict[str, tuple[Callable[[CollateralSet], CollateralSet], str]] = {
    "tcb_info": (
        lambda s: dataclasses.replace(s, tcb_info=_flip_text(s.tcb_info, b'"tcbEvaluationDataNumber":')),
        "collateral.tcb_info.signature",
    ),
    "tcb_info_signature": (
        lambda s: dataclasses.replace(s, tcb_info_signature=flip(s.tcb_info_signature, 40)),
        "collateral.tcb_info.signature",
    ),
    "tcb_info_issuer_chain": (
        lambda s: dataclasses.replace(s, tcb_info_issuer_chain=flip_certificate(s.tcb_info_issuer_chain, 0)),
        "collateral.tcb_info.chain",
    ),
    "qe_identity": (
        lambda s: dataclasses.replace(s, qe_identity=_flip_text(s.qe_identity, b'"isvprodid":')),
        "collateral.qe_identity.signature",
    ),
    "qe_identity_signature": (
        lambda s: dataclasses.replace(s, qe_identity_signature=flip(s.qe_identity_signature, 40)),
        "collateral.qe_identity.signature",
    ),
    "qe_identity_issuer_chain": (
        lambda s: dataclasses.replace(
            s, qe_identity_issuer_chain=flip_certificate(s.qe_identity_issuer_chain, 0)
        ),
        "collateral.qe_identity.chain",
    ),
    "pck_crl": (lambda s: dataclasses.replace(s, pck_crl=_flip_signature(s.pck_crl)), "collateral.pck_crl"),
    "pck_crl_issuer_chain": (
        lambda s: dataclasses.replace(s, pck_crl_issuer_chain=flip_certificate(s.pck_crl_issuer_chain, 0)),
        "collateral.pck_crl",
    ),
    "root_ca_crl": (
        lambda s: dataclasses.replace(s, root_ca_crl=_flip_signature(s.root_ca_crl)),
        "collateral.root_ca_crl",
    ),
}


def _appraise(case_id: str, raw: bytes, items: CollateralSet) -> dcap_verify.DcapAppraisal:
    c = case(case_id)
    return appraise_quote(raw, collateral=items, at=at(c), allow_debug=True, accept_status=CASES[case_id])


def _assert_warm_cache_refuses(case_id: str, raw: bytes, items: CollateralSet, check_name: str) -> None:
    c = case(case_id)
    good_raw, good_items = quote_bytes(c), collateral(c)
    assert _appraise(case_id, good_raw, good_items).ok  # every cache now holds the good inputs
    assert (raw, items) != (good_raw, good_items)
    try:
        result = _appraise(case_id, raw, items)
    except FormatError:  # refused as malformed: not a pass either, but each flip here should parse
        pytest.fail(f"{check_name}: the flipped input no longer parses")
    check = result.checks.get(check_name)
    assert check is not None and check.status == FAILED, [f.text() for f in result.checks.failures]
    assert not result.ok
    again = _appraise(case_id, good_raw, good_items)
    assert again.ok and again.tcb_status == c["expected"]["tcb_status"]


@pytest.mark.parametrize("part", sorted(QUOTE_TAMPER))
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_warm_cache_refuses_a_flipped_bit_in_the_quote(case_id: str, part: str) -> None:
    change, check_name = QUOTE_TAMPER[part]
    c = case(case_id)
    _assert_warm_cache_refuses(case_id, change(quote_bytes(c)), collateral(c), check_name)


@pytest.mark.parametrize("item", sorted(COLLATERAL_TAMPER))
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_warm_cache_refuses_a_flipped_bit_in_the_collateral(case_id: str, item: str) -> None:
    change, check_name = COLLATERAL_TAMPER[item]
    c = case(case_id)
    _assert_warm_cache_refuses(case_id, quote_bytes(c), change(collateral(c)), check_name)


def _caches() -> list[functools._lru_cache_wrapper[object]]:
    found = []
    for module in (dcap_verify, dcap_collateral, intel_tcb, tdx_verify, tdx_quote):
        for value in vars(module).values():
            if hasattr(value, "cache_info") and hasattr(value, "cache_clear"):
                found.append(value)
    return found


def test_every_cache_is_bounded_and_cleared() -> None:
    """Each content-keyed cache has a size limit, and ``clear_caches`` (the bench's uncached path)
    empties all of them."""
    c = case("tdx/dcap-qvl/sample-uptodate")
    assert appraise_quote(quote_bytes(c), collateral=collateral(c), at=at(c)).ok
    caches = _caches()
    assert len(caches) >= 10
    for cached in caches:
        assert cached.cache_info().maxsize is not None, cached
    assert dcap_collateral._VERIFIED_MAX > 0
    dcap_verify.clear_caches()
    for cached in caches:
        if cached is not tdx_verify._p256_tools:  # an algorithm object, not evidence: kept
            assert cached.cache_info().currsize == 0, cached
    assert not dcap_collateral._VERIFIED


@pytest.mark.parametrize("case_id", dcap_cases.case_ids())
def test_qe_report_is_read_where_the_parser_found_it(case_id: str) -> None:
    """The QE report bytes the signature check uses are the 384 bytes the parser read."""
    raw = quote_bytes(case(case_id))
    quote = parse_dcap_quote(raw)
    qe = quote.signature_data.qe_report
    assert qe is not None
    assert dcap_verify._qe_report_bytes(quote, raw) == qe.qe_report.to_bytes()
    assert isinstance(quote, Quote | SgxQuote)


def test_quote_body_fields_are_the_layouts_in_order() -> None:
    """TdQuoteBody is built positionally from the TDX 1.0 layout and the 1.5 tail."""
    names = [n for n, _ in tdx_quote._Body10.LAYOUT] + [n for n, _ in tdx_quote._Body15Tail.LAYOUT]
    assert [f.name for f in dataclasses.fields(TdQuoteBody)] == names
