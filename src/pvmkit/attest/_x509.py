"""X.509 helpers shared by the SEV-SNP and TDX verifiers (``cryptography`` is imported lazily).

* :func:`load_certificates`: PEM or DER bundles, every part parsed up front (a malformed certificate is
  a :class:`~pvmkit.errors.FormatError` here, not a surprise mid-verification), and RFC 5280 §4.1.1.2's
  rule that the unsigned signatureAlgorithm equals the signed one;
* validity at a given time, CA basic constraints, extensions and common names with errors that name
  the certificate (:class:`~pvmkit.errors.CertificateError`);
* :func:`foreign_parse`: bytes handed to ``cryptography`` (certificates, CRLs, keys): whatever it
  raises or warns is one pvmkit error line (issue 15), never a traceback or a printed warning.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pvmkit.errors import CertificateError, FormatError, InputError, PvmkitError, TruncatedError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "check_ca",
    "check_crl",
    "check_crl_signed_by",
    "check_issued_by",
    "check_validity",
    "common_name",
    "extensions",
    "foreign_parse",
    "load_certificates",
    "load_public_key",
    "parse_crl",
    "serial_number",
    "utc",
    "validity",
]

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _split_der(data: bytes, what: str) -> Iterator[bytes]:
    """Concatenated DER SEQUENCEs → each one's bytes (FormatError naming ``what`` on a malformed one)."""
    pos = 0
    while pos < len(data):
        if data[pos] != 0x30 or pos + 2 > len(data):
            raise FormatError(f"{what}: neither PEM nor a DER certificate", what=what, offset=pos)
        first = data[pos + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            n = first & 0x7F
            if n == 0 or n > 4 or pos + 2 + n > len(data):
                raise FormatError(f"{what}: bad DER length", what=what, offset=pos + 1)
            length, header = int.from_bytes(data[pos + 2 : pos + 2 + n], "big"), 2 + n
        end = pos + header + length
        if end > len(data):
            raise TruncatedError(f"{what}: DER certificate is truncated", what=what, offset=len(data))
        yield data[pos:end]
        pos = end


def _der_header(data: bytes, pos: int) -> tuple[int, int]:
    """(header length, content length) of the DER element at ``pos`` (ValueError when malformed)."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    first = data[pos + 1]
    if first < 0x80:
        return 2, first
    n = first & 0x7F
    if n == 0 or n > 4 or pos + 2 + n > len(data):
        raise ValueError("bad DER length")
    return 2 + n, int.from_bytes(data[pos + 2 : pos + 2 + n], "big")


def _der_children(data: bytes) -> list[bytes]:
    """The encoded elements inside the constructed DER element ``data``."""
    header, length = _der_header(data, 0)
    pos, end, out = header, header + length, []
    while pos < end:
        h, n = _der_header(data, pos)
        out.append(data[pos : pos + h + n])
        pos += h + n
    return out


def _signature_algorithms_agree(der: bytes) -> bool:
    """RFC 5280 §4.1.1.2: Certificate.signatureAlgorithm (outside the signed part) must equal
    TBSCertificate.signature. ``cryptography`` does not compare them; an attacker could otherwise
    change the unsigned copy (e.g. the RSASSA-PSS trailer field) without breaking the signature."""
    try:
        tbs, outer = _der_children(der)[:2]
        fields = _der_children(tbs)
        inner = fields[2] if fields[0][:1] == b"\xa0" else fields[1]
    except (ValueError, IndexError):
        return False
    return inner == outer


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (some of cryptography's messages span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def foreign_parse(
    what: str, problem: str, error: type[PvmkitError] = FormatError
) -> Iterator[None]:  # fmt: skip
    """Run ``cryptography`` on attacker-controlled bytes: any exception it raises (ValueError,
    TypeError - e.g. a BitString under another OID than x500UniqueIdentifier -, DuplicateExtension,
    InvalidVersion, UnsupportedAlgorithm for an unknown curve, ...) and any warning it gives (e.g. a
    countryName that is not 2 characters, X.520's PrintableString SIZE(2)) becomes one ``error``,
    "{what}: {problem}: {reason}" (without ``what``: "{problem}: {reason}"). Such a warning means
    malformed input, so it is an error, not a printed line. The one warning ignored: AMD KDS
    certificates have serial number 0 (RFC 5280 4.1.2.2 wants it positive), which ``cryptography``
    deprecates."""
    from cryptography.utils import CryptographyDeprecationWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            yield
    except PvmkitError:
        raise
    except Exception as exc:  # every one of them means the same thing here
        message = f"{what}: {problem}: {_one_line(exc)}" if what else f"{problem}: {_one_line(exc)}"
        raise (error(message, what=what) if issubclass(error, FormatError) else error(message)) from None


def load_certificates(data: bytes, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in ``data``: PEM (one or more blocks) or DER (one or concatenated).
    FormatError when a certificate does not parse (every part is parsed here, although
    ``cryptography`` would parse lazily); CertificateError when its unsigned signatureAlgorithm
    differs from the signed one."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    blobs: list[tuple[bytes, bool]]
    if b"-----BEGIN" in data:
        blobs = [(m.group(0), True) for m in _PEM_RE.finditer(data)]
    else:
        blobs = [(d, False) for d in _split_der(bytes(data), what)]
    if not blobs:
        raise FormatError(f"{what}: no certificate found (PEM or DER expected)", what=what)
    out = []
    for blob, is_pem in blobs:
        with foreign_parse(what, "not a valid X.509 certificate"):
            cert = (x509.load_pem_x509_certificate if is_pem else x509.load_der_x509_certificate)(blob)
            # cryptography parses lazily: touch every part used later so that a malformed
            # certificate is a FormatError here, not an unexpected exception mid-verification.
            _ = (cert.version, cert.serial_number, cert.subject, cert.issuer, cert.extensions)
            _ = (cert.signature_algorithm_oid, cert.signature, cert.tbs_certificate_bytes)
            cert.public_key()
            validity(cert)
            der = cert.public_bytes(Encoding.DER)
        if not _signature_algorithms_agree(der):
            raise CertificateError(
                f"{what}: signatureAlgorithm differs from the signed TBSCertificate.signature "
                "(RFC 5280 4.1.1.2)",
                field="certificate.signature_algorithm",
            )
        out.append(cert)
    return out


def parse_crl(data: bytes, what: str) -> x509.CertificateRevocationList:
    """A CRL, PEM or DER, every part parsed up front (FormatError otherwise, via :func:`foreign_parse`)."""
    from cryptography import x509

    with foreign_parse(what, "not a valid X.509 CRL"):
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions)
        _ = [(r.serial_number, r.revocation_date_utc, r.extensions) for r in crl]
        _ = (crl.signature_algorithm_oid, crl.signature, crl.tbs_certlist_bytes)
    return crl


def serial_number(cert: x509.Certificate) -> int:
    """The certificate's serial number, without the warning ``cryptography`` gives on every access
    to one that is 0 or negative (AMD KDS certificates have 0; a forged one may have any): a warning
    is never printed (issue 15)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(cert.serial_number)


def common_name(cert: x509.Certificate, subject: bool = True) -> str:
    from cryptography.x509.oid import NameOID

    name = cert.subject if subject else cert.issuer
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def validity(cert: x509.Certificate) -> tuple[_dt.datetime, _dt.datetime]:
    before = getattr(cert, "not_valid_before_utc", None)
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None or after is None:  # cryptography < 42
        before = cert.not_valid_before.replace(tzinfo=_dt.timezone.utc)
        after = cert.not_valid_after.replace(tzinfo=_dt.timezone.utc)
    return before, after


def check_validity(cert: x509.Certificate, what: str, at: _dt.datetime) -> None:
    before, after = validity(cert)
    if at < before:
        raise CertificateError(
            f"{what} certificate is not yet valid at {at.isoformat()} (valid from {before.isoformat()})",
            field=f"{what}.not_before",
            expected=f">= {before.isoformat()}",
            actual=at.isoformat(),
        )
    if at > after:
        raise CertificateError(
            f"{what} certificate has expired at {at.isoformat()} (valid until {after.isoformat()}); "
            "use --at / at= to check at another time",
            field=f"{what}.not_after",
            expected=f"<= {after.isoformat()}",
            actual=at.isoformat(),
        )


def extensions(cert: x509.Certificate, what: str) -> x509.Extensions:
    try:
        return cert.extensions
    except ValueError as exc:  # duplicate or malformed extensions
        raise CertificateError(
            f"{what} certificate has malformed extensions: {exc}", field=f"{what}.extensions"
        ) from None


def check_ca(cert: x509.Certificate, what: str) -> None:
    from cryptography import x509

    try:
        bc = extensions(cert, what).get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    if not bc.ca:
        raise CertificateError(f"{what} certificate is not a CA certificate", field=f"{what}.ca")


def check_issued_by(cert: x509.Certificate, issuer: x509.Certificate, what: str, by: str) -> None:
    """``cert``'s issuer name is ``issuer``'s subject (the signature is each verifier's business)."""
    if cert.issuer != issuer.subject:
        raise CertificateError(
            f"{what} certificate is issued by {cert.issuer.rfc4514_string()!r}, "
            f"not by the {by} {issuer.subject.rfc4514_string()!r}",
            field=f"{what}.issuer",
            expected=issuer.subject.rfc4514_string(),
            actual=cert.issuer.rfc4514_string(),
        )


def check_crl(
    crl_bytes: bytes, issuer: x509.Certificate, subject: x509.Certificate, what: str, subject_what: str,
    at: _dt.datetime,
) -> str:  # fmt: skip
    """The CRL (DER or PEM) is ``issuer``'s, its signature verifies with ``issuer``'s key (ECDSA or
    RSA, PSS included, as the CRL says), it is current at ``at``, and it does not list ``subject``.
    Returns the line for the verifier's list of checks."""
    crl = parse_crl(crl_bytes, what)
    check_crl_signed_by(crl, issuer, what)
    last, nxt = crl.last_update_utc, crl.next_update_utc
    if at < last or (nxt is not None and at > nxt):
        until = nxt.isoformat() if nxt is not None else "open"
        raise CertificateError(
            f"{what} is not current at {at.isoformat()} (it covers {last.isoformat()} to {until}); "
            "fetch a fresh one or use --at / at=",
            field=f"{what}.next_update",
            expected=f"{last.isoformat()} .. {until}",
            actual=at.isoformat(),
        )
    serial = serial_number(subject)
    revoked = crl.get_revoked_certificate_by_serial_number(serial)
    if revoked is not None:
        raise CertificateError(
            f"{subject_what} certificate (serial {serial:#x}) is revoked by the {what} "
            f"since {revoked.revocation_date_utc.isoformat()}",
            field=f"{subject_what}.revoked",
            actual=f"{serial:#x}",
        )
    return f"{what}: signed by {common_name(issuer)}, current, {subject_what} not revoked"


def check_crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str) -> None:
    """The CRL names ``issuer`` as its issuer and its signature verifies with ``issuer``'s key."""
    if crl.issuer != issuer.subject:
        raise CertificateError(
            f"{what} is issued by {crl.issuer.rfc4514_string()!r}, "
            f"not by {issuer.subject.rfc4514_string()!r}",
            field=f"{what}.issuer",
            expected=issuer.subject.rfc4514_string(),
            actual=crl.issuer.rfc4514_string(),
        )
    public_key: Any = issuer.public_key()
    if not crl.is_signature_valid(public_key):
        raise CertificateError(
            f"{what} signature does not verify with its issuer's key", field=f"{what}.signature"
        )


def utc(at: _dt.datetime | None) -> _dt.datetime:
    """``at`` as an aware UTC time (naive = UTC); None = now."""
    if at is None:
        return _dt.datetime.now(_dt.timezone.utc)
    return at if at.tzinfo is not None else at.replace(tzinfo=_dt.timezone.utc)


def load_public_key(data: bytes, what: str, error: type[PvmkitError] = InputError) -> Any:
    """The public key of a certificate or of a bare public key (SubjectPublicKeyInfo), PEM or DER;
    ``error`` (InputError by default) when it is neither."""
    from cryptography.hazmat.primitives import serialization

    try:
        return load_certificates(data, what)[0].public_key()
    except PvmkitError:
        pass
    loader = (
        serialization.load_pem_public_key
        if data.lstrip().startswith(b"-----")
        else serialization.load_der_public_key
    )
    with foreign_parse(what, "neither a certificate nor a public key", error):  # unknown curves too
        return loader(data)
