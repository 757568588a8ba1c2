"""Validation of a TDX or SGX quote: the policy (DEBUG) and the caller's expected values.

The third layer of quote verification (:mod:`pvmkit.attest.dcap_verify`), symmetric with SNP's
:mod:`pvmkit.attest.snp_validate`: it reads parsed, signature-checked fields and records each rule
as a check; nothing here is cryptographic. Field offsets: Intel TDX DCAP quote layout
(``sgx_quote_4.h``, ``sgx_quote_5.h``), :data:`pvmkit.attest.tdx_verify.BODY_FIELD_OFFSETS`.
"""

from __future__ import annotations

from pvmkit.attest.result import CheckList
from pvmkit.attest.tdx_verify import BODY_FIELD_OFFSETS, TdxExpected, _mismatch
from pvmkit.formats.sgx_quote import SgxQuote
from pvmkit.formats.tdx_quote import Quote

__all__ = ["SGX_ATTRIBUTES_DEBUG", "TD_ATTRIBUTES_DEBUG", "validate_quote"]

#: TD_ATTRIBUTES bit 0 (DEBUG, Intel TDX module ABI TDINFO_STRUCT); SGX ATTRIBUTES.FLAGS bit 1 (DEBUG,
#: Intel SDM vol. 3D, SECS).
TD_ATTRIBUTES_DEBUG = 1
SGX_ATTRIBUTES_DEBUG = 2


def validate_quote(
    quote: Quote | SgxQuote,
    expected: TdxExpected | None = None,
    *,
    allow_debug: bool = False,
    checks: CheckList | None = None,
) -> CheckList:
    """The policy rules and ``expected`` values applied to a parsed quote, each added to ``checks`` (a
    new list when None) as passed or failed; returns the list. A debuggable TD (TD_ATTRIBUTES bit 0)
    or enclave (ATTRIBUTES.DEBUG) fails ``policy.debug`` unless ``allow_debug``; an SGX quote is
    compared on ``report_data`` only (the other fields are a TD's)."""
    checks = CheckList() if checks is None else checks
    if isinstance(quote, SgxQuote):
        debug = bool(quote.body.attributes[0] & SGX_ATTRIBUTES_DEBUG)
        what = "enclave ATTRIBUTES.DEBUG"
    else:
        debug = bool(quote.body.td_attributes & TD_ATTRIBUTES_DEBUG)
        what = "TD_ATTRIBUTES.DEBUG"
    if not debug:
        checks.passed("policy.debug", f"{what} clear")
    elif allow_debug:
        checks.passed("policy.debug", f"{what} set, allowed by --allow-debug")
    else:
        checks.failed(
            "policy.debug",
            f"{what} is set: a debuggable guest's memory is open to the host (give --allow-debug to accept)",
            expected=False,
            actual=True,
        )
    if expected is None:
        return checks
    if isinstance(quote, SgxQuote):
        if expected.report_data is not None:
            checks.compare("expected.report_data", expected.report_data, quote.body.report_data)
        return checks
    body = quote.body
    for name, offset in BODY_FIELD_OFFSETS.items():
        want = getattr(expected, name, None)
        if want is None:
            continue
        actual = getattr(body, name)
        if actual in want if isinstance(want, frozenset) else want == actual:
            checks.passed(f"expected.{name}", f"quote offset {quote.body_offset + offset:#x}", actual=actual)
        else:
            checks.failed(
                f"expected.{name}",
                str(_mismatch(name, quote.body_offset, want, actual)),
                expected=want,
                actual=actual,
            )
    if expected.td_attributes_bits_clear:
        present = body.td_attributes & expected.td_attributes_bits_clear
        checks.verdict(
            "expected.td_attributes_clear",
            not present,
            f"TD attribute bits {expected.td_attributes_bits_clear:#x} clear",
            expected=0,
            actual=present,
        )
    return checks
