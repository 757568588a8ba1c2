"""Verify Intel PCS collateral (a :class:`~pvmkit.formats.intel_collateral.CollateralSet`) at a time t.

The checks Intel's QVL makes before it trusts TCB Info and QE Identity (``QuoteVerifier.cpp``
4.1.2.4.1 to 4.1.2.4.8; Intel PCS API v4 documentation for the issuer chains), each recorded as a
check of a :class:`~pvmkit.attest.result.CheckList`:

``collateral.root_ca_crl``
    issued and signed by the pinned Intel SGX Root CA, current at t (thisUpdate ≤ t ≤ nextUpdate);
``collateral.tcb_info.chain`` / ``collateral.qe_identity.chain`` / ``collateral.pck_crl.chain``
    the issuer chain is (Intel SGX TCB Signing or PCK CA, the pinned root): ECDSA P-256/SHA-256
    signatures, names, validity at t, the signing certificate not on the root CA CRL;
``collateral.tcb_info.signature`` / ``collateral.qe_identity.signature``
    ECDSA P-256/SHA-256 by the TCB Signing key over the exact signed JSON text;
``collateral.tcb_info.dates`` / ``collateral.qe_identity.dates``
    issueDate ≤ t ≤ nextUpdate (QVL refuses expired TCB Info and QE Identity);
``collateral.pck_crl``
    signed by its issuer chain's CA, current at t.

What does not depend on t (signatures, parsing) is cached by content, so a verifier that sees the
same collateral for many quotes pays for it once. A failed check carries the reason; the function
returns the parsed collateral only when every check passed.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pvmkit.attest._x509 import (
    check_crl_signed_by,
    check_validity,
    common_name,
    load_certificates,
    parse_crl,
    serial_number,
    validity,
)
from pvmkit.attest.result import Check, CheckList
from pvmkit.attest.tdx_verify import _check_ecdsa_signed_by, _ecdsa_p256
from pvmkit.errors import CertificateError, VerificationError
from pvmkit.formats.intel_collateral import (
    CollateralSet,
    EnclaveIdentity,
    TcbInfo,
    parse_enclave_identity,
    parse_tcb_info,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["VerifiedCollateral", "load_crl", "verify_collateral"]


@dataclass(frozen=True, eq=False)
class VerifiedCollateral:
    """Collateral whose every signature, chain and date checked at ``at``."""

    tcb_info: TcbInfo
    qe_identity: EnclaveIdentity
    pck_crl: Any  # x509.CertificateRevocationList
    pck_crl_issuer: Any  # x509.Certificate
    root_ca_crl: Any
    expires: _dt.datetime  # the earliest nextUpdate / notAfter of everything used

    def to_dict(self) -> dict[str, Any]:
        return {
            "tcb_info": {
                "id": self.tcb_info.id,
                "fmspc": self.tcb_info.fmspc.hex().upper(),
                "issue_date": self.tcb_info.issue_date.isoformat(),
                "next_update": self.tcb_info.next_update.isoformat(),
                "tcb_evaluation_data_number": self.tcb_info.tcb_evaluation_data_number,
            },
            "qe_identity": {
                "id": self.qe_identity.id,
                "issue_date": self.qe_identity.issue_date.isoformat(),
                "next_update": self.qe_identity.next_update.isoformat(),
                "tcb_evaluation_data_number": self.qe_identity.tcb_evaluation_data_number,
            },
            "pck_crl_issuer": common_name(self.pck_crl_issuer),
            "expires": self.expires.isoformat(),
        }


@functools.lru_cache(maxsize=64)
def load_crl(data: bytes, what: str) -> x509.CertificateRevocationList:
    """A CRL, DER or PEM, fully parsed (FormatError otherwise: :func:`pvmkit.attest._x509.parse_crl`).
    Cached by content."""
    return parse_crl(data, what)


@functools.lru_cache(maxsize=64)
def _issuer_chain(data: bytes, pin: str, what: str, leaf_cn: tuple[str, ...]) -> tuple[Any, Any]:
    """(leaf, root) of a two-certificate issuer chain, signatures and names checked; cached."""
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = load_certificates(data, what)
    if len(certs) != 2:
        raise CertificateError(
            f"{what} holds {len(certs)} certificates; Intel's is ({' or '.join(leaf_cn)}, Intel SGX Root CA)",
            field=f"{what}.length",
        )
    leaf, root = certs
    digest = hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest()
    if digest != pin:
        raise CertificateError(
            f"{what}: the root is not the trusted one (sha256 {digest}, expected {pin})",
            field=f"{what}.root",
            expected=pin,
            actual=digest,
        )
    if common_name(leaf) not in leaf_cn:
        raise CertificateError(
            f"{what}: the first certificate is {common_name(leaf)!r}, expected {' or '.join(leaf_cn)}",
            field=f"{what}.subject",
        )
    _check_ecdsa_signed_by(root, root, f"{what} root", "root")
    _check_ecdsa_signed_by(leaf, root, f"{what} {common_name(leaf)}", "root")
    return leaf, root


@functools.lru_cache(maxsize=256)
def _signed_json_ok(key_der: bytes, signature: bytes, text: bytes) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = load_der_public_key(key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)  # a checked TCB Signing certificate's key
    return _ecdsa_p256(signature, key, text)


@functools.lru_cache(maxsize=64)
def _crl_signed_by(crl_data: bytes, issuer_der: bytes, what: str) -> None:
    from cryptography import x509

    crl = load_crl(crl_data, what)
    issuer = x509.load_der_x509_certificate(issuer_der)
    check_crl_signed_by(crl, issuer, what)


def _crl_current(crl: Any, what: str, at: _dt.datetime, starts: list[_dt.datetime]) -> _dt.datetime:
    last, nxt = crl.last_update_utc, crl.next_update_utc
    if at < last or nxt is None or at > nxt:
        until = nxt.isoformat() if nxt is not None else "no nextUpdate"
        raise CertificateError(
            f"{what} is not current at {at.isoformat()} (it covers {last.isoformat()} to {until})",
            field=f"{what}.next_update",
            expected=f"{last.isoformat()} .. {until}",
            actual=at.isoformat(),
        )
    starts.append(last)
    return nxt  # type: ignore[no-any-return]


def _not_revoked(crl: Any, cert: Any, what: str, by: str) -> None:
    serial = serial_number(cert)
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    if entry is not None:
        raise CertificateError(f"{what} (serial {serial:#x}) is revoked by the {by}", field=f"{what}.revoked")


def _dates(issue: _dt.datetime, nxt: _dt.datetime, what: str, at: _dt.datetime) -> None:
    if at < issue or at > nxt:
        raise VerificationError(
            f"{what} is not valid at {at.isoformat()} (issueDate {issue.isoformat()}, nextUpdate "
            f"{nxt.isoformat()}){'; it has expired' if at > nxt else ''}",
            field=f"{what}.next_update",
            expected=f"{issue.isoformat()} .. {nxt.isoformat()}",
            actual=at.isoformat(),
        )


def _step(checks: CheckList, name: str, ok_detail: str, fn: Any, *args: Any) -> Any:
    """Run one check; record passed with ``ok_detail`` or failed with the error's reason."""
    try:
        result = fn(*args)
    except VerificationError as exc:  # malformed input (FormatError) is refused, not a failed check
        expected = getattr(exc, "expected", None)
        actual = getattr(exc, "actual", None)
        checks.failed(name, str(exc), expected=expected, actual=actual)
        return _FAILED
    checks.passed(name, ok_detail)
    return result


_FAILED: Any = object()


@dataclass(frozen=True)
class _Verified:
    """A collateral set that verified: its checks, and the window of times at which all of them pass
    (the latest start and the earliest end of every validity period involved)."""

    checks: tuple[Check, ...]
    not_before: _dt.datetime
    not_after: _dt.datetime
    result: VerifiedCollateral


#: (collateral, root pin) → :class:`_Verified`; only sets that verified, most recent last.
_VERIFIED: OrderedDict[tuple[CollateralSet, str], _Verified] = OrderedDict()
_VERIFIED_MAX = 64


def clear_verified() -> None:
    _VERIFIED.clear()


def verify_collateral(
    collateral: CollateralSet, at: _dt.datetime, checks: CheckList, root_pin: str
) -> VerifiedCollateral | None:
    """Check every item of ``collateral`` at ``at`` against the pinned root (hex SHA-256 of its DER);
    each step is recorded in ``checks``. The parsed collateral, or None when any step failed.

    A set that verified is remembered with the window of times at which every check passes: within it
    the same checks are recorded again without redoing them (what they compare does not change)."""
    key = (collateral, root_pin)
    known = _VERIFIED.get(key)
    if known is not None and known.not_before <= at <= known.not_after:
        _VERIFIED.move_to_end(key)
        checks.checks.extend(known.checks)
        return known.result
    start = len(checks.checks)
    starts: list[_dt.datetime] = []
    expiries: list[_dt.datetime] = []
    result = _verify_collateral(collateral, at, checks, root_pin, starts, expiries)
    if result is not None:
        _VERIFIED[key] = _Verified(tuple(checks.checks[start:]), max(starts), min(expiries), result)
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return result


def _verify_collateral(
    collateral: CollateralSet,
    at: _dt.datetime,
    checks: CheckList,
    root_pin: str,
    starts: list[_dt.datetime],
    expiries: list[_dt.datetime],
) -> VerifiedCollateral | None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    c = collateral
    before = len(checks.failures)

    def chain(data: bytes, what: str, leaf_cn: tuple[str, ...]) -> tuple[Any, Any]:
        leaf, root = _issuer_chain(data, root_pin, what, leaf_cn)
        for cert, name in ((leaf, f"{what} {common_name(leaf)}"), (root, f"{what} root")):
            check_validity(cert, name, at)
            window = validity(cert)
            starts.append(window[0])
            expiries.append(window[1])
        return leaf, root

    tcb_chain = _step(
        checks,
        "collateral.tcb_info.chain",
        "Intel SGX TCB Signing -> pinned root, valid",
        chain,
        c.tcb_info_issuer_chain,
        "TCB Info issuer chain",
        ("Intel SGX TCB Signing",),
    )
    root = None if tcb_chain is _FAILED else tcb_chain[1]

    def root_crl() -> Any:
        crl = load_crl(c.root_ca_crl, "root CA CRL")
        if root is None:
            raise VerificationError("root CA CRL: no verified root to check it with (TCB Info chain failed)")
        _crl_signed_by(c.root_ca_crl, root.public_bytes(Encoding.DER), "root CA CRL")
        expiries.append(_crl_current(crl, "root CA CRL", at, starts))
        return crl

    root_crl_obj = _step(
        checks, "collateral.root_ca_crl", "signed by the Intel SGX Root CA, current", root_crl
    )
    have_root_crl = root_crl_obj is not _FAILED

    def revoked_check(cert: Any, what: str) -> None:
        if have_root_crl:
            _not_revoked(root_crl_obj, cert, what, "root CA CRL")

    def signed_item(
        name: str, item: str, chain_result: Any, text: bytes, signature: bytes, parse: Any
    ) -> Any:
        """Revocation of the signing certificate, the signature, the format, the dates of one item."""
        if chain_result is _FAILED:
            checks.not_performed(f"collateral.{name}.signature", f"the {item} issuer chain did not verify")
            return None
        if have_root_crl:
            _step(
                checks,
                f"collateral.{name}.chain.revocation",
                "TCB Signing certificate not on the root CA CRL",
                revoked_check,
                chain_result[0],
                "TCB Signing certificate",
            )
        key = chain_result[0].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if not _signed_json_ok(key, signature, text):
            checks.failed(
                f"collateral.{name}.signature",
                f"{item} signature does not verify with the TCB Signing key (the signed JSON changed, or "
                "it is not Intel's)",
            )
            return None
        checks.passed(
            f"collateral.{name}.signature", "ECDSA P-256 by Intel SGX TCB Signing over the signed text"
        )
        parsed = _step(checks, f"collateral.{name}.format", f"{item} parsed", parse, text)
        if parsed is _FAILED:
            return None
        dates = f"issueDate {parsed.issue_date.isoformat()} .. nextUpdate {parsed.next_update.isoformat()}"
        args = (parsed.issue_date, parsed.next_update, item, at)
        if _step(checks, f"collateral.{name}.dates", dates, _dates, *args) is _FAILED:
            return None
        starts.append(parsed.issue_date)
        expiries.append(parsed.next_update)
        return parsed

    tcb_info: TcbInfo | None = signed_item(
        "tcb_info", "TCB Info", tcb_chain, c.tcb_info, c.tcb_info_signature, _parse_tcb
    )
    qe_chain = _step(
        checks,
        "collateral.qe_identity.chain",
        "Intel SGX TCB Signing -> pinned root, valid",
        chain,
        c.qe_identity_issuer_chain,
        "QE Identity issuer chain",
        ("Intel SGX TCB Signing",),
    )
    qe_identity: EnclaveIdentity | None = signed_item(
        "qe_identity", "QE Identity", qe_chain, c.qe_identity, c.qe_identity_signature, _parse_qe
    )

    def pck_crl() -> tuple[Any, Any]:
        ca, _root = chain(
            c.pck_crl_issuer_chain,
            "PCK CRL issuer chain",
            ("Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"),
        )
        revoked_check(ca, "PCK CA certificate")
        crl = load_crl(c.pck_crl, "PCK CRL")
        _crl_signed_by(c.pck_crl, ca.public_bytes(Encoding.DER), "PCK CRL")
        expiries.append(_crl_current(crl, "PCK CRL", at, starts))
        return crl, ca

    pck = _step(
        checks,
        "collateral.pck_crl",
        "issuer chain PCK CA -> pinned root, CA not revoked; CRL signed by the CA, current",
        pck_crl,
    )
    if len(checks.failures) != before or tcb_info is None or qe_identity is None or pck is _FAILED:
        return None
    return VerifiedCollateral(tcb_info, qe_identity, pck[0], pck[1], root_crl_obj, min(expiries))


@functools.lru_cache(maxsize=64)
def _parse_tcb(text: bytes) -> TcbInfo:
    return parse_tcb_info(text)


@functools.lru_cache(maxsize=64)
def _parse_qe(text: bytes) -> EnclaveIdentity:
    return parse_enclave_identity(text)
