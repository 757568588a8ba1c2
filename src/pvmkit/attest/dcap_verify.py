"""Verify and appraise a DCAP quote (TDX v4/v5, SGX v3): every check listed, passed / failed / not performed.

Three layers, as go-sev-guest splits SNP verification into ``abi`` / ``verify`` / ``validate``:

1. **parse** (:func:`pvmkit.formats.sgx_quote.parse_dcap_quote`): bytes → typed quote, or FormatError;
2. **cryptographic verification** (:func:`verify_dcap_signatures`): the quote's form, the PCK chain to
   the pinned Intel SGX Root CA (valid at t), the PCK certificate's SGX extension, the QE report's
   signature by the PCK key and its binding of the attestation key, the quote's signature; then, with
   collateral, the collateral itself (:mod:`pvmkit.attest.dcap_collateral`) and revocation of the PCK
   and its CA;
3. **appraisal and validation** (:func:`appraise_quote`): Intel's TCB evaluation
   (:mod:`pvmkit.attest.intel_tcb`) and the acceptable statuses, the DEBUG policy, the caller's
   :class:`~pvmkit.attest.tdx_verify.TdxExpected` values.

Nothing stops at the first problem: a failed step makes the checks that depend on it *not performed*
(with the reason) and the rest still run, so the result lists every mismatch. Without collateral
``tcb.status`` is not performed — never a silent pass; the caller decides (``require_tcb``) whether
that fails. What does not change between quotes of one platform (the PCK chain, the QE report
signature, collateral signatures and parsing) is cached by content.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pvmkit.attest._x509 import check_crl, check_validity, common_name, serial_number, utc, validity
from pvmkit.attest.dcap_collateral import VerifiedCollateral, verify_collateral
from pvmkit.attest.intel_tcb import ACCEPTABLE_STATUSES, QuoteTcbFacts, TcbEvaluation, evaluate_tcb
from pvmkit.attest.result import Check, CheckList
from pvmkit.attest.tdx_validate import validate_quote
from pvmkit.attest.tdx_verify import (
    BODY_FIELD_OFFSETS,
    INTEL_SGX_ROOT_CA_SHA256,
    TdxExpected,
    _check_form,
    _ecdsa_p256,
    pck_chain_certs,
)
from pvmkit.errors import FormatError, InputError, VerificationError
from pvmkit.formats.intel_collateral import CollateralSet
from pvmkit.formats.sgx_pck_extension import SGX_EXTENSION_OID, PckExtension, parse_sgx_extension
from pvmkit.formats.sgx_quote import SgxQuote, parse_dcap_quote
from pvmkit.formats.tdx_quote import ATT_KEY_ECDSA_P256, CERT_DATA_PCK_CHAIN, INTEL_QE_VENDOR_ID, Quote

__all__ = [
    "DcapAppraisal",
    "DcapSignatures",
    "TdxVerification",
    "appraise_quote",
    "clear_caches",
    "verify_dcap_signatures",
    "verify_tdx",
]

_HEX_DIGITS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class DcapSignatures:
    """What the cryptographic layer established (``pck`` etc. are None where a step failed)."""

    quote: Quote | SgxQuote
    at: _dt.datetime
    checks: CheckList
    platform: _PckPlatform | None
    pck: PckExtension | None
    collateral: VerifiedCollateral | None

    @property
    def ok(self) -> bool:
        return self.checks.ok


@dataclass(frozen=True)
class DcapAppraisal:
    """The whole result: the checks in order, the TCB evaluation (None when not made or refused)."""

    quote: Quote | SgxQuote
    at: _dt.datetime
    checks: CheckList
    tcb: TcbEvaluation | None
    pck: PckExtension | None
    collateral: VerifiedCollateral | None
    root_sha256: str
    pck_subject: str | None
    pck_issuer: str | None

    @property
    def ok(self) -> bool:
        return self.checks.ok

    @property
    def tee(self) -> str:
        return "SGX" if isinstance(self.quote, SgxQuote) else "TDX"

    @property
    def tcb_status(self) -> str | None:
        return None if self.tcb is None else self.tcb.status

    def to_dict(self) -> dict[str, Any]:
        q = self.quote
        out: dict[str, Any] = {
            "ok": self.ok,
            "tcb_status": self.tcb_status,
            "advisory_ids": [] if self.tcb is None else list(self.tcb.advisory_ids),
            "checks": self.checks.to_list(),
            "at": self.at.isoformat(),
            "tee": self.tee,
            "version": q.version,
            "root_sha256": self.root_sha256,
            "pck_subject": self.pck_subject,
            "pck_issuer": self.pck_issuer,
        }
        if isinstance(q, Quote):
            out["tdx_module"] = "1.5" if q.body.is_tdx15 else "1.0"
        if self.pck is not None:
            p = self.pck
            out["pck"] = {
                "fmspc": p.fmspc.hex().upper(),
                "pceid": p.pceid.hex().upper(),
                "pcesvn": p.pcesvn,
                "tcb_components": list(p.tcb_components),
                "sgx_type": p.sgx_type,
            }
        if self.tcb is not None:
            tcb = self.tcb.to_dict()
            del tcb["tcb_status"], tcb["advisory_ids"]
            out["tcb"] = tcb
        if self.collateral is not None:
            out["collateral"] = self.collateral.to_dict()
        out["body"] = _body_dict(q)
        return out


def _body_dict(q: Quote | SgxQuote) -> dict[str, str]:
    body: dict[str, str] = {}
    if isinstance(q, SgxQuote):
        r = q.body
        return {
            "mr_enclave": r.mr_enclave.hex(),
            "mr_signer": r.mr_signer.hex(),
            "isv_prod_id": str(r.isv_prod_id),
            "isv_svn": str(r.isv_svn),
            "attributes": r.attributes.hex(),
            "report_data": r.report_data.hex(),
        }
    for name in BODY_FIELD_OFFSETS:
        value = getattr(q.body, name)
        if value is not None:
            body[name] = value.hex() if isinstance(value, bytes) else f"{value:#018x}"
    return body


def clear_caches() -> None:
    """Forget every content-keyed cache of DCAP verification (PCK chains, QE report signatures, PCK
    extensions, attestation keys, collateral chains, signatures, CRLs and parsed documents): the next
    quote is verified from nothing, as a fresh process would (the bench's uncached path)."""
    from pvmkit.attest import dcap_collateral, intel_tcb, tdx_verify
    from pvmkit.formats import tdx_quote

    for cached in (
        tdx_quote._parse_qe_cert_data,
        _root_pin,
        _status_check,
        intel_tcb._evaluate,
        intel_tcb.ordered_levels,
        tdx_verify.pck_chain_certs,
        _qe_report_checks,
        _attestation_key,
        _pck_extension,
        _pck_platform,
        _pck_revocation,
        dcap_collateral.load_crl,
        dcap_collateral._issuer_chain,
        dcap_collateral._signed_json_ok,
        dcap_collateral._crl_signed_by,
        dcap_collateral._parse_tcb,
        dcap_collateral._parse_qe,
    ):
        cached.cache_clear()
    dcap_collateral.clear_verified()


# --------------------------------------------------------------------------------------------------
# layer 2: cryptographic verification


def _sgx_form(quote: SgxQuote) -> None:
    h = quote.header
    if h.att_key_type != ATT_KEY_ECDSA_P256:
        raise VerificationError(
            f"att_key_type is {h.att_key_type}, pvmkit verifies ECDSA P-256 quotes (2)", field="att_key_type"
        )
    if h.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise VerificationError(f"qe_vendor_id {h.qe_vendor_id.hex()} is not Intel's", field="qe_vendor_id")
    inner = quote.signature_data.pck_chain.cert_type
    if inner != CERT_DATA_PCK_CHAIN:
        raise VerificationError(
            f"certification data type is {inner}; pvmkit verifies quotes carrying the PCK chain (5)",
            field="certification_data.type",
        )


def _qe_report_bytes(quote: Quote | SgxQuote, raw: bytes) -> bytes:
    """The QE report (384 B) exactly as the quote carries it: after the body come the u32 signature
    data length, the quote signature and the attestation key (128 B) and, in v4/v5 only, the type-6
    certification data header (u16 type, u32 size); Intel DCAP ``sgx_quote_3.h``, ``sgx_quote_4.h``,
    ``sgx_quote_5.h``."""
    start = quote.body_offset + quote.body_size + 4 + 128 + (0 if isinstance(quote, SgxQuote) else 6)
    return raw[start : start + 384]


#: Content-keyed caches of the checks on a platform's QE report are this big (entries).
QE_CACHE_SIZE = 256


@functools.lru_cache(maxsize=QE_CACHE_SIZE)
def _qe_report_checks(
    pck_der: bytes, report: bytes, signature: bytes, attestation_key: bytes, auth_data: bytes
) -> tuple[Check, Check]:
    """``signature.qe_report`` (the QE report signed by the PCK key) and ``qe_report.binding`` (its
    REPORTDATA = SHA-256(attestation key || QE auth data) || 0*32). Cached by the exact bytes: every
    quote of a platform carries the same QE report, signature, attestation key and auth data."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.formats.tdx_quote import EnclaveReport

    checks = CheckList()
    key = x509.load_der_x509_certificate(pck_der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # pck_chain_certs checked it
    if _ecdsa_p256(signature, key, report):
        checks.passed("signature.qe_report", "QE report signed by the PCK key (ECDSA P-256 SHA-256)")
    else:
        checks.failed("signature.qe_report", "QE report signature does not verify with the PCK key")
    binding = hashlib.sha256(attestation_key + auth_data).digest() + bytes(32)
    checks.compare(
        "qe_report.binding",
        binding,
        EnclaveReport.parse(report).report_data,
        "QE REPORTDATA = SHA-256(attestation key || QE auth data) || 0*32",
    )
    first, second = checks
    return first, second


@functools.lru_cache(maxsize=256)
def _attestation_key(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)
def _pck_extension(pck_der: bytes) -> PckExtension:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(pck_der)
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    except x509.ExtensionNotFound:
        raise FormatError("the PCK certificate has no SGX extension", what="PCK SGX extension") from None
    value = ext.value
    return parse_sgx_extension(value.value if isinstance(value, x509.UnrecognizedExtension) else b"")


def _record(checks: CheckList, name: str, detail: str, fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except VerificationError as exc:  # malformed input (FormatError) is refused, not a failed check
        checks.failed(
            name, str(exc), expected=getattr(exc, "expected", None), actual=getattr(exc, "actual", None)
        )
        return False
    checks.passed(name, detail)
    return True


def verify_dcap_signatures(
    quote: Quote | SgxQuote,
    raw: bytes,
    *,
    at: _dt.datetime,
    root_pin: str,
    collateral: CollateralSet | None = None,
    pck_crl: bytes | None = None,
    root_crl: bytes | None = None,
    checks: CheckList | None = None,
) -> DcapSignatures:
    """Layer 2: every signature, chain, CRL and collateral check, each recorded; see the module doc."""

    checks = CheckList() if checks is None else checks
    if isinstance(quote, SgxQuote):
        form_ok = _record(checks, "quote.form", "ECDSA P-256, Intel QE, PCK chain", _sgx_form, quote)
    else:
        form_ok = _record(
            checks, "quote.form", "ECDSA P-256, Intel QE, QE report with PCK chain", _check_form, quote
        )
    if quote.trailing:
        checks.passed(
            "quote.trailing",
            f"ignored {len(quote.trailing)} bytes after the quote (no signature covers them)",
        )
    platform: _PckPlatform | None = None
    pck: PckExtension | None = None
    if form_ok:
        chain = quote.signature_data.pck_chain
        # the PEM text as the QE wrote it (the certificates are found in it; no re-joining per quote)
        pem = chain.data if chain is not None and b"-----BEGIN CERTIFICATE-----" in chain.data else b""

        def pck_chain() -> None:
            nonlocal platform
            if not pem:
                raise FormatError("the quote's PCK chain holds no PEM certificate", what="pck chain")
            found = _pck_platform(pem, root_pin)
            if not found.not_before <= at <= found.not_after:  # name the certificate that is out
                for cert, what in zip(found.certs, ("pck", "pck ca", "root"), strict=True):
                    check_validity(cert, what, at)
            platform = found

        _record(
            checks,
            "chain.pck",
            "PCK -> PCK CA -> pinned root, ECDSA P-256 signatures, valid at "
            + at.isoformat(timespec="seconds"),
            pck_chain,
        )
    else:
        checks.not_performed("chain.pck", "the quote's form is not one pvmkit verifies")
    certs = None if platform is None else platform.certs
    pck_der = b"" if platform is None else platform.pck_der
    if certs is not None:

        def extension() -> None:
            nonlocal pck
            pck = _pck_extension(pck_der)

        _record(checks, "pck.extension", "SGX extension: FMSPC, PCE-ID, TCB components, PCESVN", extension)
    sig = quote.signature_data
    qe = sig.qe_report
    if certs is not None and qe is not None:
        checks.checks.extend(
            _qe_report_checks(
                pck_der,
                _qe_report_bytes(quote, raw),
                qe.qe_report_signature,
                sig.attestation_key,
                qe.qe_auth_data,
            )
        )
    else:
        checks.not_performed("signature.qe_report", "no verified PCK certificate")
    key = _attestation_key(sig.attestation_key)
    if key is None:
        checks.failed("signature.quote", "the attestation key is not a P-256 point")
    elif _ecdsa_p256(sig.signature, key, raw[: quote.body_offset + quote.body_size]):
        checks.passed(
            "signature.quote", "header and body signed by the attestation key (ECDSA P-256 SHA-256)"
        )
    else:
        checks.failed(
            "signature.quote",
            "quote signature does not verify with the attestation key (header or body changed, or not "
            "this key's quote)",
        )
    verified: VerifiedCollateral | None = None
    if collateral is not None:
        verified = verify_collateral(collateral, at, checks, root_pin)
        if platform is not None and verified is not None:
            checks.checks.extend(_pck_revocation(platform, verified))
        elif certs is not None:
            checks.not_performed("crl.pck", "the collateral did not verify")
    elif certs is not None and (pck_crl is not None or root_crl is not None):
        pck_cert, ca, root = certs
        if root_crl is not None:
            _record(
                checks,
                "crl.root",
                "PCK CA not revoked",
                check_crl,
                root_crl,
                root,
                ca,
                "root CA CRL",
                "pck ca",
                at,
            )
        if pck_crl is not None:
            _record(
                checks, "crl.pck", "PCK not revoked", check_crl, pck_crl, ca, pck_cert, "PCK CRL", "pck", at
            )
    else:
        checks.not_performed("crl.pck", "no PCK CRL given (--collateral or --pck-crl)")
    return DcapSignatures(quote, at, checks, platform, pck, verified)


@dataclass(frozen=True, eq=False)
class _PckPlatform:
    """A quote's PCK chain once verified (cached by content): the certificates, the PCK's DER, the
    window in which all three are valid, and the names the result reports."""

    certs: tuple[Any, ...]
    pck_der: bytes
    not_before: _dt.datetime
    not_after: _dt.datetime
    pck_subject: str
    pck_issuer: str


@functools.lru_cache(maxsize=64)
def _pck_platform(pem: bytes, root_pin: str) -> _PckPlatform:
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = pck_chain_certs(pem, root_pin)
    windows = [validity(cert) for cert in certs]
    return _PckPlatform(
        certs,
        certs[0].public_bytes(Encoding.DER),
        max(w[0] for w in windows),
        min(w[1] for w in windows),
        certs[0].subject.rfc4514_string(),
        certs[1].subject.rfc4514_string(),
    )


@functools.lru_cache(maxsize=64)
def _pck_revocation(platform: _PckPlatform, collateral: VerifiedCollateral) -> tuple[Check, ...]:
    """QVL 4.1.2.4.6/7: the PCK CRL is the PCK issuer's (names equal byte for byte, a CA), the PCK is
    not on it; the PCK's CA is not on the root CA CRL. Cached per (chain, verified collateral)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    checks = CheckList()
    pck_cert, ca, _root = platform.certs
    crl, crl_ca = collateral.pck_crl, collateral.pck_crl_issuer
    if crl.issuer.public_bytes() != pck_cert.issuer.public_bytes() or crl_ca.public_bytes(
        Encoding.DER
    ) != ca.public_bytes(Encoding.DER):
        checks.failed(
            "crl.pck",
            f"the PCK CRL is {common_name(crl_ca)}'s, the PCK is issued by {common_name(ca)} "
            "(fetch the CRL with ca=platform or ca=processor to match)",
            expected=common_name(ca),
            actual=common_name(crl_ca),
        )
        return tuple(checks)
    serial = serial_number(pck_cert)
    if crl.get_revoked_certificate_by_serial_number(serial) is not None:
        checks.failed(
            "crl.pck", f"the PCK certificate (serial {serial:#x}) is revoked (Intel STATUS_PCK_REVOKED)"
        )
    else:
        checks.passed("crl.pck", f"PCK not on the {common_name(ca)} CRL")
    if collateral.root_ca_crl.get_revoked_certificate_by_serial_number(serial_number(ca)) is not None:
        checks.failed("crl.root", f"{common_name(ca)} is revoked by the root CA CRL")
    else:
        checks.passed("crl.root", f"{common_name(ca)} not on the root CA CRL")
    return tuple(checks)


# --------------------------------------------------------------------------------------------------
# layer 3: appraisal and validation


def _facts(quote: Quote | SgxQuote, pck: PckExtension) -> QuoteTcbFacts:
    qe = quote.signature_data.qe_report
    assert qe is not None
    if isinstance(quote, SgxQuote):
        return QuoteTcbFacts("SGX", quote.version, pck, qe.qe_report)
    b = quote.body
    return QuoteTcbFacts(
        "TDX",
        quote.version,
        pck,
        qe.qe_report,
        b.tee_tcb_svn,
        b.mr_signer_seam,
        b.seam_attributes,
        b.tee_tcb_svn2,
    )


def _check_status(checks: CheckList, tcb: TcbEvaluation, accept: frozenset[str]) -> None:
    checks.checks.append(_status_check(tcb.status, tcb.advisory_ids, accept))


@functools.lru_cache(maxsize=256)
def _status_check(status: str, advisory_ids: tuple[str, ...], accept: frozenset[str]) -> Check:
    """``tcb.status`` for a status, its advisories and the accepted statuses (cached: immutable)."""
    acceptable = ["UpToDate", *sorted(accept)]
    ok = status == "UpToDate" or status in accept
    advisories = f"; advisories {', '.join(advisory_ids)}" if advisory_ids else ""
    return CheckList().verdict(
        "tcb.status",
        ok,
        f"Intel TCB status {status}{advisories}"
        + ("" if ok else " (accept it with --accept-status if your policy allows)"),
        expected=acceptable,
        actual=status,
    )


_ACCEPTABLE = frozenset(ACCEPTABLE_STATUSES)


@functools.lru_cache(maxsize=16)
def _root_pin(text: str) -> str:
    """A root pin as lowercase hex without colons (InputError unless 64 hex digits); cached, as a
    verifier passes the same pin with every quote."""
    pin = text.strip().lower().replace(":", "")
    if len(pin) != 64 or not set(pin) <= _HEX_DIGITS:
        raise InputError(f"trusted root SHA-256 must be 64 hex digits, got {text!r}")
    return pin


def appraise_quote(
    quote: bytes | bytearray | memoryview,
    *,
    collateral: CollateralSet | None = None,
    at: _dt.datetime | None = None,
    expected: TdxExpected | None = None,
    trusted_root_sha256: str = INTEL_SGX_ROOT_CA_SHA256,
    accept_status: Iterable[str] = (),
    allow_debug: bool = False,
    require_tcb: bool = False,
    pck_crl: bytes | None = None,
    root_crl: bytes | None = None,
) -> DcapAppraisal:
    """Parse, verify and appraise raw quote bytes; see the module doc. ``accept_status``: statuses
    accepted beyond UpToDate (:data:`~pvmkit.attest.intel_tcb.ACCEPTABLE_STATUSES`); ``require_tcb``:
    without collateral, ``tcb.status`` fails instead of being not performed. Raises FormatError for
    input that does not parse (the quote, a certificate or CRL in it or in the collateral, the TCB
    Info or QE Identity JSON), InputError for a bad pin or status name; every other problem is a
    failed check."""
    pin = _root_pin(trusted_root_sha256)
    accept = frozenset(accept_status)
    unknown = sorted(accept - _ACCEPTABLE)
    if unknown:
        raise InputError(
            f"cannot accept TCB status {', '.join(unknown)}; acceptable: {', '.join(ACCEPTABLE_STATUSES)}"
        )
    when = utc(at)
    raw = bytes(quote)
    parsed = parse_dcap_quote(raw)
    sigs = verify_dcap_signatures(
        parsed, raw, at=when, root_pin=pin, collateral=collateral, pck_crl=pck_crl, root_crl=root_crl
    )
    checks = sigs.checks
    tcb: TcbEvaluation | None = None
    if sigs.collateral is None:
        reason = "TCB status not evaluated: " + (
            "no collateral given (--collateral)" if collateral is None else "the collateral did not verify"
        )
        if collateral is not None or require_tcb:
            extra = "" if collateral is not None else "; --require-tcb asks for it"
            checks.failed("tcb.status", reason + extra)
        else:
            checks.not_performed("tcb.status", reason)
    elif sigs.pck is None or parsed.signature_data.qe_report is None:
        checks.not_performed("tcb.status", "TCB status not evaluated: no verified PCK certificate")
    else:
        tcb = evaluate_tcb(
            _facts(parsed, sigs.pck), sigs.collateral.tcb_info, sigs.collateral.qe_identity, checks
        )
        if tcb is None:
            checks.failed("tcb.status", "no TCB status: a TCB evaluation step failed (above)")
        else:
            _check_status(checks, tcb, accept)
    validate_quote(parsed, expected, allow_debug=allow_debug, checks=checks)
    platform = sigs.platform
    return DcapAppraisal(
        quote=parsed,
        at=when,
        checks=checks,
        tcb=tcb,
        pck=sigs.pck,
        collateral=sigs.collateral,
        root_sha256=pin,
        pck_subject=None if platform is None else platform.pck_subject,
        pck_issuer=None if platform is None else platform.pck_issuer,
    )


#: The names symmetric with SNP's ``verify_snp`` / ``SnpVerification`` (the pipeline takes SGX quotes too).
verify_tdx = appraise_quote
TdxVerification = DcapAppraisal
