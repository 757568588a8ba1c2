"""Verify an Intel TDX quote (DCAP, ECDSA P-256; versions 4 and 5) up to Intel's root of trust.

:func:`verify_quote` checks, in this order, and raises on the **first** problem:

1. the quote's form (:class:`~pvmkit.errors.VerificationError`): attestation key type 2 (ECDSA
   P-256), Intel's QE vendor ID, certification data type 6 (QE report) holding a type-5 PCK chain
   (bytes after the signature data, e.g. a zero-padded buffer, are outside the quote: no signature
   covers them, so they are ignored and said so in the checks);
2. the PCK chain (:class:`~pvmkit.errors.CertificateError`): exactly PCK certificate → Intel SGX PCK
   Platform/Processor CA → Intel SGX Root CA, as the QE writes it; the root is self-signed and its
   DER hashes to the pinned SHA-256 (default: Intel's root, :data:`INTEL_SGX_ROOT_CA_SHA256`); each
   certificate is ECDSA P-256 / SHA-256 signed by the next, names chain, the CAs are CAs, all are
   valid at ``at`` (default now); with CRLs given, each is signed by its issuer, current at ``at``,
   and lists neither the PCK certificate (PCK CRL) nor the intermediate CA (root CA CRL);
3. the QE (:class:`~pvmkit.errors.SignatureError`): the QE report (384 bytes) is signed by the PCK
   key, and its REPORTDATA binds the attestation key: SHA-256(attestation key ‖ QE auth data) ‖ 0³²;
4. the quote (:class:`~pvmkit.errors.SignatureError`): the attestation key signs header ‖ (v5: body
   descriptor ‖) body;
5. the caller's :class:`TdxExpected` values, in body layout order.

What it does not do: TCB evaluation (Intel's TCB info for the PCK certificate's FMSPC, and the QE
identity), which needs Intel's signed collateral: :func:`pvmkit.attest.dcap_verify.appraise_quote`
does that, and lists every check instead of raising on the first.
The trust anchor is a pin of Intel's SGX Root CA certificate (SHA-256 of its DER, as Intel publishes
it at certificates.trustedservices.intel.com/IntelSGXRootCA.der); the root certificate itself comes
from the quote's chain. Quote layouts: spec tdx.md §4.2–§4.3, :mod:`pvmkit.formats.tdx_quote`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pvmkit.attest._x509 import (
    check_ca,
    check_crl,
    check_issued_by,
    check_validity,
    common_name,
    load_certificates,
    utc,
)
from pvmkit.errors import CertificateError, FormatError, InputError, SignatureError, VerificationError
from pvmkit.formats.tdx_quote import (
    ATT_KEY_ECDSA_P256,
    CERT_DATA_PCK_CHAIN,
    CERT_DATA_QE_REPORT,
    INTEL_QE_VENDOR_ID,
    Quote,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "INTEL_SGX_ROOT_CA_SHA256",
    "TdxExpected",
    "TdxVerificationResult",
    "verify_quote",
]

#: SHA-256 of the DER of Intel's "Intel SGX Root CA" certificate (valid 2018-05-21 to 2049-12-31), the
#: root of every PCK chain. Provenance: tests/vectors/README.md.
INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

_PCK_CN = "Intel SGX PCK Certificate"
_INTERMEDIATE_CNS = ("Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA")
_ROOT_CN = "Intel SGX Root CA"

#: Offsets of the body fields inside the TD quote body (spec tdx.md §4.2); the quote adds body_offset.
BODY_FIELD_OFFSETS = {
    "tee_tcb_svn": 0x000,
    "mr_seam": 0x010,
    "mr_signer_seam": 0x040,
    "seam_attributes": 0x070,
    "td_attributes": 0x078,
    "xfam": 0x080,
    "mr_td": 0x088,
    "mr_config_id": 0x0B8,
    "mr_owner": 0x0E8,
    "mr_owner_config": 0x118,
    "rtmr0": 0x148,
    "rtmr1": 0x178,
    "rtmr2": 0x1A8,
    "rtmr3": 0x1D8,
    "report_data": 0x208,
    "tee_tcb_svn2": 0x248,
    "mr_service_td": 0x258,
}


@dataclass(frozen=True)
class TdxExpected:
    """Values the quote body must hold; ``None`` (0 for the mask) means "not checked"; a frozenset is
    the set of acceptable values (reference values for a fleet, :mod:`pvmkit.refvalues`).

    ``td_attributes_bits_clear`` is a mask of TD attribute bits that must be 0, e.g. ``1`` (DEBUG)
    to refuse debuggable TDs. ``report_data`` is compared whole (64 bytes).
    """

    mr_seam: bytes | frozenset[bytes] | None = None
    mr_signer_seam: bytes | frozenset[bytes] | None = None
    td_attributes: int | None = None
    td_attributes_bits_clear: int = 0
    xfam: int | frozenset[int] | None = None
    mr_td: bytes | frozenset[bytes] | None = None
    mr_config_id: bytes | frozenset[bytes] | None = None
    mr_owner: bytes | frozenset[bytes] | None = None
    mr_owner_config: bytes | frozenset[bytes] | None = None
    rtmr0: bytes | frozenset[bytes] | None = None
    rtmr1: bytes | frozenset[bytes] | None = None
    rtmr2: bytes | frozenset[bytes] | None = None
    rtmr3: bytes | frozenset[bytes] | None = None
    report_data: bytes | frozenset[bytes] | None = None
    mr_service_td: bytes | frozenset[bytes] | None = None


@dataclass(frozen=True)
class TdxVerificationResult:
    """What :func:`verify_quote` established: the parsed quote, the time the certificates were
    checked at, the checks performed (in order), the chain's subjects and the root's SHA-256."""

    quote: Quote
    at: _dt.datetime
    checks: tuple[str, ...]
    pck_subject: str
    pck_issuer: str
    root_subject: str
    root_sha256: str
    expected_fields: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        q = self.quote
        body = q.body
        out: dict[str, Any] = {
            "ok": True,
            "at": self.at.isoformat(),
            "version": q.version,
            "tdx_module": "1.5" if body.is_tdx15 else "1.0",
            "pck_subject": self.pck_subject,
            "pck_issuer": self.pck_issuer,
            "root_subject": self.root_subject,
            "root_sha256": self.root_sha256,
            "checks": list(self.checks),
            "expected_fields": list(self.expected_fields),
        }
        fields_: dict[str, Any] = {}
        for name in BODY_FIELD_OFFSETS:
            value = getattr(body, name)
            if value is None:
                continue
            fields_[name] = value.hex() if isinstance(value, bytes) else f"{value:#018x}"
        out["body"] = fields_
        return out


# --------------------------------------------------------------------------------------------------
# the PCK chain


def _check_ecdsa_signed_by(cert: x509.Certificate, issuer: x509.Certificate, what: str, by: str) -> None:
    """``cert`` is signed ECDSA/SHA-256 by ``issuer``'s P-256 key, and the names chain."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    check_issued_by(cert, issuer, what, by)
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CertificateError(f"{by} key is not an EC P-256 key, as Intel's are", field=f"{by}.key_type")
    if not isinstance(cert.signature_hash_algorithm, hashes.SHA256):
        raise CertificateError(
            f"{what} certificate is not signed with ECDSA/SHA-256 as Intel's are "
            f"({cert.signature_algorithm_oid.dotted_string})",
            field=f"{what}.signature_algorithm",
            expected="ecdsa-with-SHA256",
            actual=cert.signature_algorithm_oid.dotted_string,
        )
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CertificateError(
            f"{what} certificate signature does not verify with the {by} key", field=f"{what}.signature"
        ) from None


@functools.lru_cache(maxsize=64)
def pck_chain_certs(chain_pem: bytes, root_pin: str) -> tuple[x509.Certificate, ...]:
    """The PCK chain (PCK, PCK CA, root) from the quote's type-5 certification data, with everything
    that does not depend on the time checked: the root's pin, every signature, names, CA flags, the
    PCK key type. Cached by content (a verifier sees the same chain for every quote of a platform);
    raises CertificateError / FormatError."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = load_certificates(chain_pem, "pck chain")
    if len(certs) != 3:
        raise CertificateError(
            f"the PCK chain holds {len(certs)} certificates; Intel's is PCK, PCK CA, root CA (3)",
            field="pck_chain.length",
            expected=3,
            actual=len(certs),
        )
    pck, intermediate, root = certs
    root_sha256 = hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest()
    if root_sha256 != root_pin:
        raise CertificateError(
            f"the chain's root CA is not the trusted one: sha256 {root_sha256}, expected {root_pin}",
            field="root.sha256",
            expected=root_pin,
            actual=root_sha256,
        )
    if root.issuer != root.subject:
        raise CertificateError("the chain's last certificate is not self-issued", field="root.issuer")
    _check_ecdsa_signed_by(root, root, "root", "root")
    _check_ecdsa_signed_by(intermediate, root, "pck ca", "root")
    _check_ecdsa_signed_by(pck, intermediate, "pck", "pck ca")
    for cert, what in ((root, "root"), (intermediate, "pck ca")):
        check_ca(cert, what)
    names = (common_name(pck), common_name(intermediate), common_name(root))
    if names[0] != _PCK_CN or names[1] not in _INTERMEDIATE_CNS or names[2] != _ROOT_CN:
        raise CertificateError(
            f"the chain is {' -> '.join(map(repr, names))}, not Intel's "
            f"{_PCK_CN!r} -> {' or '.join(map(repr, _INTERMEDIATE_CNS))} -> {_ROOT_CN!r}",
            field="pck_chain.names",
        )
    pck_key = pck.public_key()
    if not isinstance(pck_key, ec.EllipticCurvePublicKey) or pck_key.curve.name != "secp256r1":
        raise CertificateError("the PCK key is not an EC P-256 key", field="pck.key_type")
    return tuple(certs)


def _pck_chain(
    quote: Quote, at: _dt.datetime, root_pin: str, pck_crl: bytes | None, root_crl: bytes | None
) -> tuple[list[x509.Certificate], list[str]]:
    chain_data = quote.signature_data.pck_chain
    assert chain_data is not None  # _check_form checked it
    pems = chain_data.pem_certificates
    if not pems:
        raise FormatError("the quote's PCK certificate chain holds no PEM certificate", what="pck chain")
    certs = list(pck_chain_certs(b"".join(pems), root_pin))
    pck, intermediate, root = certs
    checks = [
        "root CA sha256 = trusted pin",
        "chain signatures (ECDSA P-256 SHA-256): root self-signed, PCK CA by root, PCK by PCK CA",
    ]
    for cert, what in ((root, "root"), (intermediate, "pck ca"), (pck, "pck")):
        check_validity(cert, what, at)
    checks.append(f"chain valid at {at.isoformat(timespec='seconds')}")
    if root_crl is not None:
        checks.append(check_crl(root_crl, root, intermediate, "root CA CRL", "pck ca", at))
    if pck_crl is not None:
        checks.append(check_crl(pck_crl, intermediate, pck, "PCK CRL", "pck", at))
    return certs, checks


# --------------------------------------------------------------------------------------------------
# the quote


def _check_form(quote: Quote) -> list[str]:
    header = quote.header
    if header.att_key_type != ATT_KEY_ECDSA_P256:
        raise VerificationError(
            f"att_key_type (offset 0x2) is {header.att_key_type}, pvmkit verifies ECDSA P-256 quotes (2)",
            field="att_key_type",
            expected=ATT_KEY_ECDSA_P256,
            actual=header.att_key_type,
        )
    if header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise VerificationError(
            f"qe_vendor_id (offset 0xc) is {header.qe_vendor_id.hex()}, "
            f"not Intel's {INTEL_QE_VENDOR_ID.hex()}",
            field="qe_vendor_id",
            expected=INTEL_QE_VENDOR_ID,
            actual=header.qe_vendor_id,
        )
    cert_data = quote.signature_data.certification_data
    if cert_data.cert_type != CERT_DATA_QE_REPORT or cert_data.qe_report is None:
        raise VerificationError(
            f"certification data type is {cert_data.cert_type}; a DCAP TDX quote carries type "
            f"{CERT_DATA_QE_REPORT} (QE report certification data)",
            field="certification_data.type",
            expected=CERT_DATA_QE_REPORT,
            actual=cert_data.cert_type,
        )
    inner = cert_data.qe_report.certification_data
    if inner.cert_type != CERT_DATA_PCK_CHAIN:
        raise VerificationError(
            f"the QE report's certification data type is {inner.cert_type}; pvmkit verifies quotes that "
            f"carry the PCK chain (type {CERT_DATA_PCK_CHAIN})",
            field="qe_report.certification_data.type",
            expected=CERT_DATA_PCK_CHAIN,
            actual=inner.cert_type,
        )
    checks = ["form: ECDSA P-256, Intel QE, QE report with PCK chain"]
    if quote.trailing:
        zero = "zero " if quote.trailing.count(0) == len(quote.trailing) else ""
        checks.append(f"ignored {len(quote.trailing)} {zero}bytes after the quote (no signature covers them)")
    return checks


@functools.lru_cache(maxsize=1)
def _p256_tools() -> tuple[Any, Any, Any]:
    """(encode_dss_signature, the ECDSA/SHA-256 algorithm, InvalidSignature), imported on first use
    (cryptography stays off the import path of pvmkit's other commands) and made once: a verifier
    checks a signature per quote."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature, ec.ECDSA(hashes.SHA256()), InvalidSignature


def _ecdsa_p256(signature: bytes, key: ec.EllipticCurvePublicKey, data: bytes) -> bool:
    """A raw r || s ECDSA P-256/SHA-256 signature over ``data`` verifies with ``key``."""
    encode, algorithm, invalid = _p256_tools()
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    try:
        key.verify(encode(r, s), data, algorithm)
    except invalid:
        return False
    return True


def _mismatch(name: str, body_offset: int, expected: object, actual: object) -> VerificationError:
    def show(v: object) -> str:
        if isinstance(v, frozenset):
            shown = sorted(show(x) for x in v)
            more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
            return "one of " + ", ".join(shown[:3]) + more
        if isinstance(v, bytes | bytearray):
            return bytes(v).hex()
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:#x}"
        return str(v)

    offset = body_offset + BODY_FIELD_OFFSETS[name]
    return VerificationError(
        f"{name} (quote offset {offset:#x}) mismatch: expected {show(expected)}, got {show(actual)}",
        field=name,
        expected=expected,
        actual=actual,
    )


def _check_expected(quote: Quote, expected: TdxExpected) -> list[str]:
    body, base = quote.body, quote.body_offset
    checked: list[str] = []
    for name in BODY_FIELD_OFFSETS:
        want = getattr(expected, name, None)
        if want is not None:
            actual = getattr(body, name)
            if isinstance(want, bytes | bytearray):
                want = bytes(want)
            if actual not in want if isinstance(want, frozenset) else want != actual:
                raise _mismatch(name, base, want, actual)
            checked.append(name)
        if name == "td_attributes" and expected.td_attributes_bits_clear:
            present = body.td_attributes & expected.td_attributes_bits_clear
            if present:
                raise _mismatch(
                    name, base, f"bits {expected.td_attributes_bits_clear:#x} clear", body.td_attributes
                )
            checked.append("td_attributes bits clear")
    return checked


def verify_quote(
    quote: bytes | bytearray | memoryview,
    *,
    at: _dt.datetime | None = None,
    expected: TdxExpected | None = None,
    trusted_root_sha256: str = INTEL_SGX_ROOT_CA_SHA256,
    pck_crl: bytes | None = None,
    root_crl: bytes | None = None,
) -> TdxVerificationResult:
    """Verify raw TDX quote bytes (v4 or v5) with the PCK chain they carry.

    ``at``: the time the certificates (and CRLs) must be valid at (default now; naive = UTC).
    ``trusted_root_sha256``: hex SHA-256 of the root CA certificate's DER (default Intel's).
    ``pck_crl`` / ``root_crl``: Intel PCS CRLs (DER or PEM) to check revocation against.
    Raises CertificateError, SignatureError or VerificationError naming the first problem (module
    docstring for the order); FormatError (or its subclasses) for a quote that does not parse.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    when = utc(at)
    pin = trusted_root_sha256.strip().lower().replace(":", "")
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise InputError(f"trusted root SHA-256 must be 64 hex digits, got {trusted_root_sha256!r}")
    raw = bytes(quote)
    parsed = Quote.parse(raw)
    checks = _check_form(parsed)
    certs, chain_checks = _pck_chain(parsed, when, pin, pck_crl, root_crl)
    checks += chain_checks
    pck, intermediate, root = certs

    sig_data = parsed.signature_data
    qe = sig_data.qe_report
    assert qe is not None  # _check_form checked it
    # The QE report is the first 384 bytes of the type-6 certification data; slice it from the input
    # (signature data starts 4 bytes after the body; its certification data header is at +128).
    qe_report_offset = parsed.body_offset + parsed.body_size + 4 + 128 + 6
    qe_report = raw[qe_report_offset : qe_report_offset + 384]
    pck_key = pck.public_key()
    assert isinstance(pck_key, ec.EllipticCurvePublicKey)  # _pck_chain checked it
    if not _ecdsa_p256(qe.qe_report_signature, pck_key, qe_report):
        raise SignatureError(
            "QE report signature does not verify with the PCK certificate's key", field="qe_report_signature"
        )
    checks.append("QE report signature (ECDSA P-256 SHA-256, PCK key)")
    binding = hashlib.sha256(sig_data.attestation_key + qe.qe_auth_data).digest() + bytes(32)
    if qe.qe_report.report_data != binding:
        raise SignatureError(
            "QE report REPORTDATA does not bind the attestation key: expected SHA-256(attestation key || "
            f"QE auth data) || 0*32 = {binding.hex()}, got {qe.qe_report.report_data.hex()}",
            field="qe_report.report_data",
            expected=binding,
            actual=qe.qe_report.report_data,
        )
    checks.append("QE REPORTDATA = SHA-256(attestation key || QE auth data) || 0*32")
    try:
        attestation_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + sig_data.attestation_key
        )
    except ValueError:
        raise SignatureError("the attestation key is not a P-256 point", field="attestation_key") from None
    signed = raw[: parsed.body_offset + parsed.body_size]
    if not _ecdsa_p256(sig_data.signature, attestation_key, signed):
        raise SignatureError(
            "quote signature does not verify with the attestation key (header and body changed, or not "
            "this key's quote)",
            field="signature",
        )
    checks.append(f"quote signature (ECDSA P-256 SHA-256 over bytes 0x0-{len(signed) - 1:#x})")
    expected_fields: list[str] = []
    if expected is not None:
        expected_fields = _check_expected(parsed, expected)
        checks += [f"expected {name}" for name in expected_fields]
    return TdxVerificationResult(
        quote=parsed,
        at=when,
        checks=tuple(checks),
        pck_subject=pck.subject.rfc4514_string(),
        pck_issuer=intermediate.subject.rfc4514_string(),
        root_subject=root.subject.rfc4514_string(),
        root_sha256=pin,
        expected_fields=tuple(expected_fields),
    )
