"""Verify an SEV-SNP attestation report: the cryptographic layer and the verification pipeline.

Three layers, as go-sev-guest splits them (``abi`` / ``verify`` / ``validate``):
:mod:`pvmkit.attest.snp_report` parses the report (ABI), this module checks what is cryptographic,
:mod:`pvmkit.attest.snp_validate` applies the verifier's policy (:class:`SnpExpected`).
:func:`verify_snp` runs all three and reports **every** check (passed, failed or not performed) in a
:class:`~pvmkit.attest.result.CheckList`; :func:`verify_report` is the same pipeline for callers that
want an exception naming the first failure.

The cryptographic checks, in order (check names in brackets):

1. the certificates [``chain``]: the bundle holds exactly one self-issued ARK and one ASK (or ASVK,
   for VLEKs); ARK and ASK are RSA keys and every signature in the chain is RSASSA-PSS with SHA-384
   (as AMD's): ARK self-signed, ASK signed by the ARK, VCEK/VLEK signed by the ASK; each issuer name
   equals its issuer's subject; ARK/ASK are CAs where they say so; the VCEK/VLEK is an EC P-384 key;
   the certificate's kind (common name ``SEV-VCEK`` / ``SEV-VLEK``) agrees with the chain's
   (``SEV-<product>`` / ``SEV-VLEK-<product>``) and with ``key_kind`` when given;
   [``chain.validity``] every certificate is valid at ``at`` (default: now);
   [``chain.ark_trusted``] the ARK's SHA-256 is a trusted one: AMD's ARK of one product line
   (:data:`AMD_ARK_SHA256`) unless ``trusted_ark_sha256`` names others;
   [``crl.ark``] with ``crl``, the ARK's CRL is signed by the ARK, current, and does not revoke the ASK;
2. [``signature``] SIGNATURE_ALGO = 1, the 368 reserved bytes of the signature area (0x330–0x49F)
   are zero — they are *not* covered by the ECDSA signature, so they are rejected explicitly, which
   makes every single-bit change of the 1184 bytes fail verification — R and S fit 48 bytes, and
   ECDSA P-384/SHA-384 over bytes 0x000–0x29F verifies with the certificate's key;
3. the report against its certificate: [``report.version``] VERSION is one pvmkit knows;
   [``signing_key``] SIGNING_KEY matches the certificate's kind (0 VCEK, 1 VLEK); for a VCEK the AMD
   extensions agree with the report: [``vcek.chip_id``] hwID (``1.3.6.1.4.1.3704.1.4``) = CHIP_ID
   (unless MASK_CHIP_KEY or CHIP_ID is all zero, as go-sev-guest ``validate.SnpAttestation``) and
   [``vcek.tcb``] the SPLs (``1.3.6.1.4.1.3704.1.3.x``) = REPORTED_TCB (go-sev-guest ``validateTcb``:
   the host must provision the certificate of the TCB it reports); [``vcek.product``, ``report.product``]
   the VCEK's productName extension (``1.3.6.1.4.1.3704.1.2``, e.g. ``Milan-B0``) and, from version 3,
   the report's CPUID family/model name the chain's product line.

A verification service sees the same VCEK and chain many times: the parsed certificates, the chain's
signatures and the VCEK's extensions are cached by the SHA-256 of the bytes given (:data:`CACHE`);
validity periods, CRLs and the report are checked every time.

``cryptography`` is imported lazily. The certificates of AMD's key distribution service may carry a
serial number of 0, which ``cryptography`` warns about; that warning is silenced while loading.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pvmkit.attest._x509 import (
    check_ca,
    check_crl,
    check_issued_by,
    check_validity,
    common_name,
    extensions,
    load_certificates,
    utc,
)
from pvmkit.attest.result import FAILED, PASSED, Check, CheckList
from pvmkit.attest.snp_report import (
    FIELD_OFFSETS,
    KNOWN_VERSIONS,
    P384_SIZE,
    REPORT_SIZE,
    SIGNATURE_ALGO_ECDSA_P384_SHA384,
    SIGNATURE_COMPONENT_SIZE,
    SIGNATURE_OFFSET,
    SIGNATURE_RESERVED_OFFSET,
    SIGNED_SIZE,
    SIGNING_KEY_NAMES,
    SIGNING_KEY_VCEK,
    SIGNING_KEY_VLEK,
    SnpReport,
    TcbVersion,
)
from pvmkit.attest.snp_validate import SnpExpected, validate_report
from pvmkit.errors import (
    CertificateError,
    FormatError,
    InputError,
    SignatureError,
    TruncatedError,
    VerificationError,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "AMD_ARK_SHA256",
    "CACHE",
    "EndorsementCache",
    "Expected",
    "SnpExpected",
    "SnpVerification",
    "VerificationResult",
    "check_report_signature",
    "load_certificates",
    "verify_chain",
    "verify_report",
    "verify_snp",
]

#: SHA-256 of the DER of AMD's ARK certificates (the root of every VCEK/VLEK chain, as AMD's key
#: distribution service serves them), by product line. The default trust anchors of
#: :func:`verify_snp`. Provenance: tests/vectors/README.md ("SNP attestation").
AMD_ARK_SHA256 = {
    "Milan": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "Genoa": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "Turin": "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}

_AMD = "1.3.6.1.4.1.3704.1"
_SPL_OIDS = {  # TCB component -> VCEK extension OID
    "bootloader": _AMD + ".3.1",
    "tee": _AMD + ".3.2",
    "snp": _AMD + ".3.3",
    "microcode": _AMD + ".3.8",
    "fmc": _AMD + ".3.9",
}
_HWID_OID = _AMD + ".4"
_PRODUCT_NAME_OID = _AMD + ".2"
_PSS_SALT = 48


@dataclass(frozen=True)
class Expected(SnpExpected):
    """:class:`SnpExpected` for :func:`verify_report`'s existing callers: the guest policy is not
    appraised unless asked (``guest_policy=None``); everything else is :class:`SnpExpected`'s."""

    guest_policy: int | None = None


@dataclass(frozen=True)
class SnpVerification:
    """What :func:`verify_snp` established: the parsed report (None when it could not be
    interpreted), every check made, the key kind (``"vcek"`` or ``"vlek"``), the time the
    certificates were checked at, and the chain's subjects and ARK fingerprint (pin it: the chain's
    ARK is the trust anchor). ``ok`` is True when no check failed."""

    report: SnpReport | None
    checks: CheckList
    signing_key: str
    at: _dt.datetime
    certificate_subject: str
    ask_subject: str | None
    ark_subject: str | None
    ark_sha256: str | None
    product: str | None = None
    #: the first failure of each failed check, as the exception :func:`verify_report` raises
    errors: tuple[VerificationError, ...] = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.checks.ok

    @property
    def expected_fields(self) -> tuple[str, ...]:
        """The report fields that matched an expected value (``measurement``, ``host_data``, ...)."""
        return tuple(
            c.name.removeprefix("expected.")
            for c in self.checks
            if c.name.startswith("expected.") and c.status == PASSED
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": self.checks.to_list(),
            "signing_key": self.signing_key,
            "at": self.at.isoformat(),
            "product": self.product,
            "certificate_subject": self.certificate_subject,
            "ask_subject": self.ask_subject,
            "ark_subject": self.ark_subject,
            "ark_sha256": self.ark_sha256,
            "report": self.report.to_dict() if self.report is not None else None,
        }


#: The name :func:`verify_report` has always returned.
VerificationResult = SnpVerification


# --------------------------------------------------------------------------------------------------
# certificates


def _kind_of_signing_cert(cert: x509.Certificate) -> str | None:
    cn = common_name(cert)
    if cn == "SEV-VCEK":
        return "vcek"
    if cn == "SEV-VLEK":
        return "vlek"
    return None


def _check_signed_by(cert: x509.Certificate, issuer: x509.Certificate, what: str, by: str) -> None:
    """``cert``'s signature is RSASSA-PSS/SHA-384 by ``issuer``'s RSA key, and the names chain."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    check_issued_by(cert, issuer, what, by)
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError(f"{by} key is {type(key).__name__}, AMD's is RSA", field=f"{by}.key_type")
    try:
        params = cert.signature_algorithm_parameters
        algorithm = cert.signature_hash_algorithm
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError(
            f"{what} certificate signature algorithm is not supported: {exc}", field=f"{what}.signature"
        ) from None
    if not isinstance(params, padding.PSS) or not isinstance(algorithm, hashes.SHA384):
        raise CertificateError(
            f"{what} certificate is not signed with RSASSA-PSS/SHA-384 as AMD's are "
            f"({cert.signature_algorithm_oid.dotted_string})",
            field=f"{what}.signature_algorithm",
            expected="RSASSA-PSS SHA-384",
            actual=cert.signature_algorithm_oid.dotted_string,
        )
    # AMD: MGF1 with SHA-384, salt length 48. cryptography exposes both only as private attributes,
    # so they are compared where present (the signature check itself uses the certificate's values).
    salt = getattr(params, "_salt_length", None)
    mgf_hash = getattr(getattr(params, "mgf", None), "_algorithm", None)
    if (isinstance(salt, int) and salt != _PSS_SALT) or (
        mgf_hash is not None and not isinstance(mgf_hash, hashes.SHA384)
    ):
        raise CertificateError(
            f"{what} certificate RSASSA-PSS parameters are not AMD's (MGF1-SHA-384, salt 48)",
            field=f"{what}.signature_algorithm",
            expected="MGF1-SHA-384, salt 48",
            actual=f"MGF1-{getattr(mgf_hash, 'name', '?')}, salt {salt}",
        )
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, params, algorithm)
    except InvalidSignature:
        raise CertificateError(
            f"{what} certificate signature does not verify with the {by} key",
            field=f"{what}.signature",
        ) from None


@dataclass(frozen=True)
class _Chain:
    cert: x509.Certificate
    ask: x509.Certificate
    ark: x509.Certificate
    kind: str
    product: str | None
    checks: tuple[str, ...]


def verify_chain(
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    *,
    at: _dt.datetime | None,
    key_kind: str | None = None,
) -> _Chain:
    """Check ``cert`` (VCEK/VLEK) → ASK/ASVK → ARK as described in the module docstring; ``at=None``
    leaves out the validity periods (the pipeline checks them separately, per report, and caches the
    rest by content)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    checks: list[str] = []
    arks = [c for c in chain if c.subject == c.issuer]
    others = [c for c in chain if c.subject != c.issuer]
    if len(arks) != 1 or len(others) != 1:
        raise CertificateError(
            f"the chain must hold one self-issued ARK and one ASK, got {len(arks)} self-issued and "
            f"{len(others)} other certificate(s)",
            field="chain",
        )
    ark, ask = arks[0], others[0]
    what = key_kind or _kind_of_signing_cert(cert) or "vcek"

    for c, name in ((ark, "ark"), (ask, "ask")):
        key = c.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
            raise CertificateError(
                f"{name} key must be RSA (>= 2048 bits) as AMD's, got {type(key).__name__}",
                field=f"{name}.key_type",
            )
    _check_signed_by(ark, ark, "ark", "ark")
    check_ca(ark, "ark")
    checks.append("ark self-signed (RSASSA-PSS SHA-384)")
    _check_signed_by(ask, ark, "ask", "ark")
    check_ca(ask, "ask")
    checks.append("ask signed by ark (RSASSA-PSS SHA-384)")
    _check_signed_by(cert, ask, what, "ask")
    checks.append(f"{what} signed by ask (RSASSA-PSS SHA-384)")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise CertificateError(
            f"{what} key must be EC P-384, got {type(key).__name__}", field=f"{what}.key_type"
        )
    checks.append(f"{what} key is EC P-384")
    if at is not None:
        for c, name in ((ark, "ark"), (ask, "ask"), (cert, what)):
            check_validity(c, name, at)
        checks.append(f"certificates valid at {at.isoformat()}")

    # Kinds: the signing certificate's common name, the ASK's common name, the caller's choice.
    cert_kind = _kind_of_signing_cert(cert)
    ask_cn = common_name(ask)
    chain_kind = "vlek" if ask_cn.startswith("SEV-VLEK") else "vcek"
    product = ask_cn.split("-")[-1] if ask_cn.startswith("SEV-") else None
    if cert_kind is not None and cert_kind != chain_kind:
        raise CertificateError(
            f"the certificate is a {cert_kind.upper()} but the chain is a {chain_kind.upper()} chain "
            f"(ASK {ask_cn!r})",
            field="chain",
            expected=cert_kind,
            actual=chain_kind,
        )
    kind = cert_kind or chain_kind
    if key_kind is not None and key_kind != kind:
        raise CertificateError(
            f"the certificate given as {key_kind.upper()} is a {kind.upper()} ({common_name(cert)!r})",
            field="certificate_kind",
            expected=key_kind,
            actual=kind,
        )
    checks.append(f"certificate kind {kind}")
    return _Chain(cert, ask, ark, kind, product, tuple(checks))


# --------------------------------------------------------------------------------------------------
# the report signature


_ZERO_RESERVED = bytes(REPORT_SIZE - SIGNATURE_RESERVED_OFFSET)
_ZERO_HIGH = bytes(SIGNATURE_COMPONENT_SIZE - P384_SIZE)


@functools.lru_cache(maxsize=1)
def _p384_tools() -> tuple[Any, Any, Any]:
    """(encode_dss_signature, the ECDSA/SHA-384 algorithm, InvalidSignature): imported on first use
    and made once, since a verifier checks a signature per report."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature, ec.ECDSA(hashes.SHA384()), InvalidSignature


def check_report_signature(report: bytes, public_key: ec.EllipticCurvePublicKey) -> None:
    """Verify the signature of raw report bytes with a VCEK/VLEK public key.

    Raises TruncatedError/FormatError when ``report`` is not 1184 bytes, SignatureError otherwise:
    field ``signature_algo`` (not 1), ``signature.reserved`` (non-zero bytes at 0x330–0x49F, which the
    signature does not cover), ``signature.r``/``signature.s`` (does not fit P-384), ``signature``
    (ECDSA P-384/SHA-384 over 0x000–0x29F fails). Cheap checks come first, so rejecting a bad
    report usually costs no ECDSA operation.
    """
    encode_dss_signature, algorithm, invalid_signature = _p384_tools()
    if len(report) != REPORT_SIZE:
        cls = TruncatedError if len(report) < REPORT_SIZE else FormatError
        raise cls(
            f"SEV-SNP attestation report must be {REPORT_SIZE} bytes, got {len(report)}",
            what="snp_report",
            offset=min(len(report), REPORT_SIZE),
        )
    algo = int.from_bytes(report[0x34:0x38], "little")
    if algo != SIGNATURE_ALGO_ECDSA_P384_SHA384:
        raise SignatureError(
            f"report SIGNATURE_ALGO is {algo}, only 1 (ECDSA P-384 SHA-384) is defined",
            field="signature_algo",
            expected=SIGNATURE_ALGO_ECDSA_P384_SHA384,
            actual=algo,
        )
    if report[SIGNATURE_RESERVED_OFFSET:] != _ZERO_RESERVED:  # (compared in C: checked per report)
        first = next(i for i in range(SIGNATURE_RESERVED_OFFSET, REPORT_SIZE) if report[i])
        raise SignatureError(
            f"report signature area has non-zero reserved bytes (first at {first:#x}); they are not "
            "covered by the signature and must be zero",
            field="signature.reserved",
            expected=0,
            actual=f"byte {first:#x} = {report[first]:#04x}",
        )
    values = []
    for i, name in enumerate(("r", "s")):
        start = SIGNATURE_OFFSET + i * SIGNATURE_COMPONENT_SIZE
        comp = report[start : start + SIGNATURE_COMPONENT_SIZE]
        if comp[P384_SIZE:] != _ZERO_HIGH:
            raise SignatureError(
                f"report signature {name.upper()} does not fit P-384 (non-zero high bytes)",
                field=f"signature.{name}",
            )
        values.append(int.from_bytes(comp, "little"))
    r, s = values
    if r == 0 or s == 0:
        raise SignatureError("report signature is zero (unsigned report?)", field="signature")
    try:
        public_key.verify(encode_dss_signature(r, s), report[:SIGNED_SIZE], algorithm)
    except invalid_signature:
        raise SignatureError(
            "report signature does not verify with the certificate's key", field="signature"
        ) from None


# --------------------------------------------------------------------------------------------------
# the endorsement (certificate + chain), cached by content


def _amd_extensions(cert: x509.Certificate) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for ext in extensions(cert, "vcek"):
        raw = getattr(ext.value, "value", None)
        if isinstance(raw, bytes) and ext.oid.dotted_string.startswith(_AMD):
            out[ext.oid.dotted_string] = raw
    return out


def _der_int(data: bytes) -> int | None:
    if len(data) >= 3 and data[0] == 0x02 and data[1] == len(data) - 2:
        return int.from_bytes(data[2:], "big", signed=True)
    return None


@dataclass(frozen=True)
class _Endorsement:
    """A VCEK/VLEK with its ASK+ARK bundle: parsed, and the chain's signatures checked (``chain``) or
    refused (``error``). Nothing here depends on the time or on the report."""

    cert: x509.Certificate
    chain: _Chain | None
    error: CertificateError | None
    ark_sha256: str | None
    key: ec.EllipticCurvePublicKey | None
    extensions: dict[str, bytes]
    #: RFC 4514 names of the certificate, ASK and ARK (None: the chain did not verify)
    subjects: tuple[str, str | None, str | None]


def _endorse(cert_bytes: bytes, chain_bytes: bytes, key_kind: str | None) -> _Endorsement:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = load_certificates(cert_bytes, "vcek/vlek certificate")
    if len(certs) != 1:
        raise FormatError(
            f"expected one VCEK/VLEK certificate, got {len(certs)}", what="vcek/vlek certificate"
        )
    bundle = load_certificates(chain_bytes, "certificate chain")
    chain: _Chain | None = None
    error: CertificateError | None = None
    try:
        chain = verify_chain(certs[0], bundle, at=None, key_kind=key_kind)
    except CertificateError as exc:
        error = exc
    key = certs[0].public_key()
    ark = chain.ark.public_bytes(Encoding.DER) if chain is not None else None
    return _Endorsement(
        cert=certs[0],
        chain=chain,
        error=error,
        ark_sha256=hashlib.sha256(ark).hexdigest() if ark is not None else None,
        key=key if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1" else None,
        extensions=_amd_extensions(certs[0]),
        subjects=(
            certs[0].subject.rfc4514_string(),
            chain.ask.subject.rfc4514_string() if chain is not None else None,
            chain.ark.subject.rfc4514_string() if chain is not None else None,
        ),
    )


class EndorsementCache:
    """Endorsements by the SHA-256 of the certificate and chain bytes (and the claimed key kind), the
    least recently used dropped beyond ``size``. One cache may be shared by threads: the table is
    guarded by a lock, entries are immutable, and two threads missing the same entry at once both
    build it (the work is repeated, the result is the same)."""

    def __init__(self, size: int = 64) -> None:
        import threading

        self.size = size
        self._entries: OrderedDict[bytes, _Endorsement] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cert_bytes: bytes, chain_bytes: bytes, key_kind: str | None) -> _Endorsement:
        key = hashlib.sha256(
            hashlib.sha256(cert_bytes).digest()
            + hashlib.sha256(chain_bytes).digest()
            + str(key_kind).encode()
        ).digest()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        entry = _endorse(cert_bytes, chain_bytes, key_kind)  # outside the lock: it takes milliseconds
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The process-wide cache :func:`verify_snp` uses unless given ``cache=None`` or another one.
CACHE = EndorsementCache()


# --------------------------------------------------------------------------------------------------
# the pipeline


class _Run:
    """One verification's check list and the exception behind each failure."""

    def __init__(self) -> None:
        self.checks = CheckList()
        self.errors: list[VerificationError] = []

    def fail(self, name: str, exc: VerificationError) -> None:
        self.checks.failed(name, str(exc), expected=_plain(exc.expected), actual=_plain(exc.actual))
        self.errors.append(exc)


def _plain(value: object) -> object:
    return value if isinstance(value, (bytes, str, int, list, tuple, dict, frozenset, set)) else None


#: AMD's ARKs as trust anchors (SHA-256 -> name); read-only.
_AMD_ANCHORS = {sha: f"AMD ARK-{product}" for product, sha in AMD_ARK_SHA256.items()}


def _trust_anchors(trusted_ark_sha256: str | Iterable[str] | None) -> dict[str, str]:
    if trusted_ark_sha256 is None:
        return _AMD_ANCHORS
    given = [trusted_ark_sha256] if isinstance(trusted_ark_sha256, str) else list(trusted_ark_sha256)
    return {pin.strip().lower().replace(":", ""): "pinned" for pin in given}


def _check_chain(
    run: _Run, e: _Endorsement, when: _dt.datetime, pins: dict[str, str], crl: bytes | None
) -> None:
    if e.chain is None:
        assert e.error is not None
        run.fail("chain", e.error)
        for name in ("chain.validity", "chain.ark_trusted", "crl.ark"):
            run.checks.not_performed(name, "the chain did not verify")
        return
    c = e.chain
    run.checks.passed("chain", "; ".join(c.checks))
    try:
        for cert, name in ((c.ark, "ark"), (c.ask, "ask"), (c.cert, c.kind)):
            check_validity(cert, name, when)
        run.checks.passed("chain.validity", f"ARK, ASK and {c.kind.upper()} valid at {when.isoformat()}")
    except CertificateError as exc:
        run.fail("chain.validity", exc)
    assert e.ark_sha256 is not None
    if e.ark_sha256 in pins:
        run.checks.passed("chain.ark_trusted", f"the ARK is {pins[e.ark_sha256]}", actual=e.ark_sha256)
    else:
        trusted = ", ".join(f"{name} {sha}" for sha, name in pins.items()) or "none"
        run.fail(
            "chain.ark_trusted",
            CertificateError(
                f"the chain's ARK is not a trusted one: sha256 {e.ark_sha256} "
                f"({c.ark.subject.rfc4514_string()}); trusted: {trusted} "
                "(pin it with --ark-sha256 / trusted_ark_sha256 if you trust it)",
                field="ark.sha256",
                expected=sorted(pins),
                actual=e.ark_sha256,
            ),
        )
    if crl is None:
        run.checks.not_performed("crl.ark", "no CRL given (AMD KDS /vcek/v1/<product>/crl; --crl)")
        return
    try:
        run.checks.passed("crl.ark", check_crl(crl, c.ark, c.ask, "ARK CRL", "ask", when))
    except CertificateError as exc:
        run.fail("crl.ark", exc)


def _check_against_certificate(run: _Run, e: _Endorsement, kind: str, report: SnpReport) -> None:
    want = SIGNING_KEY_VCEK if kind == "vcek" else SIGNING_KEY_VLEK
    if report.signing_key == want:
        run.checks.passed(
            "signing_key", f"SIGNING_KEY = {SIGNING_KEY_NAMES[want]}", actual=report.signing_key_name
        )
    else:
        run.fail(
            "signing_key",
            VerificationError(
                f"signing_key (offset 0x48) mismatch: the report says it was signed by "
                f"{report.signing_key_name.upper()} but the certificate is a {kind.upper()}",
                field="signing_key",
                expected=kind,
                actual=report.signing_key_name,
            ),
        )
    hwid = e.extensions.get(_HWID_OID)
    if hwid is None or kind != "vcek":
        run.checks.not_performed("vcek.chip_id", f"the {kind.upper()} has no hwID extension")
    elif report.mask_chip_key or report.chip_id.count(0) == len(report.chip_id):
        run.checks.not_performed("vcek.chip_id", "CHIP_ID is masked (MASK_CHIP_KEY) or all zero")
    else:
        # A shorter hwID (Turin-style 8-byte chip ids) must equal CHIP_ID's prefix, the rest being zero.
        expect = hwid.ljust(len(report.chip_id), b"\0") if len(hwid) < len(report.chip_id) else hwid
        if expect == report.chip_id:
            run.checks.passed("vcek.chip_id", "CHIP_ID = the VCEK's hwID", actual=report.chip_id)
        else:
            run.fail("vcek.chip_id", _mismatch("chip_id", expect, report.chip_id))
    tcb = TcbVersion.decode(report.reported_tcb, report.tcb_layout).components()
    spls = {name: _der_int(e.extensions[_SPL_OIDS[name]]) for name in tcb if _SPL_OIDS[name] in e.extensions}
    if not spls:
        run.checks.not_performed("vcek.tcb", f"the {kind.upper()} has no SPL extensions")
        return
    differ = [name for name, spl in spls.items() if spl != tcb[name]]
    if not differ:
        run.checks.passed(
            "vcek.tcb", f"REPORTED_TCB = the {kind.upper()}'s SPLs ({', '.join(spls)})", actual=spls
        )
    else:
        name = differ[0]
        run.fail("vcek.tcb", _mismatch(f"reported_tcb.{name}", spls[name], tcb[name]))


def _product_line(name: str) -> str | None:
    """``Milan-B0`` / ``SEV-Genoa`` / ``Siena`` → the KDS product line (Bergamo and Siena are Genoa's)."""
    line = name.split("-")[0].strip().lower()
    return {"milan": "Milan", "genoa": "Genoa", "bergamo": "Genoa", "siena": "Genoa", "turin": "Turin"}.get(
        line
    )


def _check_products(run: _Run, e: _Endorsement, report: SnpReport) -> None:
    """The product line three ways: the chain's (ASK common name ``SEV-<product>``), the VCEK's
    productName extension (``1.3.6.1.4.1.3704.1.2``, an IA5String such as ``Milan-B0``; go-sev-guest
    ``validate`` compares it with the expected product) and, from version 3, the report's CPUID
    family/model (as Trustee derives the generation). All that are known must agree."""
    chain = _product_line(e.chain.product) if e.chain is not None and e.chain.product else None
    if chain is None:
        for name in ("vcek.product", "report.product"):
            run.checks.not_performed(name, "the chain did not verify or names no product")
        return
    raw = e.extensions.get(_PRODUCT_NAME_OID)
    if raw is None or len(raw) < 2 or raw[0] != 0x16 or raw[1] != len(raw) - 2:  # DER IA5String
        run.checks.not_performed("vcek.product", "the certificate has no productName extension")
    else:
        name = raw[2:].decode("ascii", "replace")
        run.checks.verdict("vcek.product", _product_line(name) == chain,
                       f"the certificate's productName {name} is of the chain's product line",
                       expected=chain, actual=name)  # fmt: skip
    if report.product is None:
        run.checks.not_performed(
            "report.product", f"a version {report.version} report has no CPUID family/model"
        )
    else:
        cpuid = f"family {report.cpuid_fam_id:#x} model {report.cpuid_mod_id:#x}"
        run.checks.verdict("report.product", report.product == chain,
                       f"the report's CPUID {cpuid} is the chain's product line", expected=chain,
                       actual=report.product)  # fmt: skip


def _mismatch(name: str, expected: object, actual: object) -> VerificationError:
    def show(v: object) -> str:
        if isinstance(v, (bytes, bytearray)):
            return bytes(v).hex()
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:#x}" if v > 9 else str(v)
        return str(v)

    offset = FIELD_OFFSETS.get(name.split(".")[0])
    where = f" (offset {offset:#x})" if offset is not None else ""
    return VerificationError(
        f"{name}{where} mismatch: expected {show(expected)}, got {show(actual)}",
        field=name,
        expected=expected,
        actual=actual,
    )


def _field_of(check: Check) -> str:
    """The report field a validation check is about (``expected.host_data`` → ``host_data``,
    ``policy.debug`` → ``policy``, ``tcb.minimum.launch`` → ``launch_tcb``)."""
    parts = check.name.split(".")
    if parts[0] == "expected":
        return parts[1]
    if parts[0] == "tcb":
        return f"{parts[-1]}_tcb"
    return parts[0]


def verify_snp(
    report: bytes,
    vcek_or_vlek_cert: bytes,
    chain: bytes,
    *,
    at: _dt.datetime | None = None,
    expected: SnpExpected | None = SnpExpected(),  # noqa: B008 (frozen: one shared default is safe)
    key_kind: str | None = None,
    trusted_ark_sha256: str | Iterable[str] | None = None,
    crl: bytes | None = None,
    cache: EndorsementCache | None = CACHE,
) -> SnpVerification:
    """Verify raw report bytes with a VCEK or VLEK certificate and an ASK+ARK bundle (PEM or DER),
    then appraise it under ``expected`` (default :class:`SnpExpected`'s secure defaults; None: no
    appraisal); every check is in the result, failed ones included (``result.ok``).

    ``at`` is the time the certificates must be valid at (default now; naive = UTC); ``key_kind``
    (``"vcek"``/``"vlek"``) says what the caller claims the certificate is (default: from its
    common name); ``trusted_ark_sha256`` (hex SHA-256 of an ARK certificate's DER, or several) are the
    trust anchors, by default AMD's ARKs (:data:`AMD_ARK_SHA256`); a chain whose ARK is none of them
    fails, however well its signatures verify (pass a software CA's ARK explicitly). ``crl`` (DER or
    PEM, as AMD's key distribution service serves ``/vcek/v1/<product>/crl``): the ARK's CRL, which must
    be signed by the ARK, current at ``at``, and not list the ASK. ``cache``: where endorsements are
    kept between calls (None: none).

    Raises only for input that cannot be checked at all: FormatError/TruncatedError for a report that
    is not 1184 bytes or certificates that do not parse, InputError for a bad ``key_kind`` or an
    expectation that cannot apply to the report (a TCB component its layout lacks).
    """
    if key_kind is not None and key_kind not in ("vcek", "vlek"):
        raise InputError(f"key_kind must be 'vcek' or 'vlek', not {key_kind!r}")
    when = utc(at)
    report = bytes(report)
    if len(report) != REPORT_SIZE:
        cls = TruncatedError if len(report) < REPORT_SIZE else FormatError
        raise cls(
            f"SEV-SNP attestation report must be {REPORT_SIZE} bytes, got {len(report)}",
            what="snp_report",
            offset=min(len(report), REPORT_SIZE),
        )
    cert_bytes, chain_bytes = bytes(vcek_or_vlek_cert), bytes(chain)
    e = (
        cache.get(cert_bytes, chain_bytes, key_kind)
        if cache is not None
        else _endorse(cert_bytes, chain_bytes, key_kind)
    )
    run = _Run()
    _check_chain(run, e, when, _trust_anchors(trusted_ark_sha256), crl)
    kind = e.chain.kind if e.chain is not None else (key_kind or _kind_of_signing_cert(e.cert) or "vcek")

    if e.key is None:
        run.checks.not_performed("signature", f"the {kind.upper()} key is not EC P-384")
    else:
        try:
            check_report_signature(report, e.key)
            run.checks.passed(
                "signature",
                "ECDSA P-384 SHA-384 over 0x000-0x29F; reserved bytes 0x330-0x49F are zero",
            )
        except SignatureError as exc:
            run.fail("signature", exc)

    parsed: SnpReport | None = None
    version = int.from_bytes(report[:4], "little")
    if version not in KNOWN_VERSIONS:
        run.fail("report.version", _mismatch("version", f"one of {sorted(KNOWN_VERSIONS)}", version))
    else:
        run.checks.passed("report.version", f"VERSION {version} is one pvmkit interprets", actual=version)
        parsed = SnpReport.parse(report)
        _check_against_certificate(run, e, kind, parsed)
        _check_products(run, e, parsed)
        if expected is not None:
            first = len(run.checks)
            validate_report(parsed, expected, run.checks)
            for check in run.checks.checks[first:]:
                if check.status == FAILED:
                    run.errors.append(_validation_error(check))
    c = e.chain
    return SnpVerification(
        report=parsed,
        checks=run.checks,
        signing_key=kind,
        at=when,
        certificate_subject=e.subjects[0],
        ask_subject=e.subjects[1],
        ark_subject=e.subjects[2],
        ark_sha256=e.ark_sha256,
        product=c.product if c is not None else None,
        errors=tuple(run.errors),
    )


def _validation_error(check: Check) -> VerificationError:
    name = _field_of(check)
    offset = FIELD_OFFSETS.get(name)
    where = f" (offset {offset:#x})" if offset is not None else ""
    shown = f" (expected {check.expected}, got {check.actual})" if check.expected is not None else ""
    return VerificationError(
        f"{check.name}{where}: {check.detail or 'mismatch'}{shown}",
        field=name,
        expected=check.expected,
        actual=check.actual,
    )


def verify_report(
    report: bytes,
    vcek_or_vlek_cert: bytes,
    chain: bytes,
    *,
    at: _dt.datetime | None = None,
    expected: SnpExpected | None = None,
    key_kind: str | None = None,
    trusted_ark_sha256: str | Iterable[str] | None = None,
    crl: bytes | None = None,
) -> SnpVerification:
    """:func:`verify_snp` for callers that want an exception: the same pipeline (without appraisal
    unless ``expected`` is given; :class:`Expected` appraises no guest policy unless asked), then the
    first failed check raised — CertificateError, SignatureError or VerificationError, with the field,
    expected and actual values — in the order of the module docstring."""
    result = verify_snp(
        report,
        vcek_or_vlek_cert,
        chain,
        at=at,
        expected=expected,
        key_kind=key_kind,
        trusted_ark_sha256=trusted_ark_sha256,
        crl=crl,
    )
    if result.errors:
        raise result.errors[0]
    return result
