"""Verify an SEV-SNP attestation report against its VCEK/VLEK certificate and the ASK/ARK chain.

:func:`verify_report` checks, in this order, and raises on the **first** problem:

1. the certificates (``CertificateError``): the bundle holds exactly one self-issued ARK and one ASK
   (or ASVK, for VLEKs); ARK and ASK are RSA keys and every signature in the chain is RSASSA-PSS with
   SHA-384 (as AMD's): ARK self-signed, ASK signed by the ARK, VCEK/VLEK signed by the ASK; each
   issuer name equals its issuer's subject; ARK/ASK are CAs where they say so; the VCEK/VLEK is an
   EC P-384 key; every certificate is valid at ``at`` (default: now); the certificate's kind (common
   name ``SEV-VCEK`` / ``SEV-VLEK``) agrees with the chain's (``SEV-<product>`` / ``SEV-VLEK-<product>``)
   and with ``key_kind`` when given; the ARK's SHA-256 is a trusted one: AMD's ARK of one product
   line (:data:`AMD_ARK_SHA256`) unless ``trusted_ark_sha256`` names others; with ``crl``, the ARK's
   CRL is signed by the ARK, current, and does not revoke the ASK;
2. the report's signature (``SignatureError``): SIGNATURE_ALGO = 1, the 368 reserved bytes of the
   signature area (0x330–0x49F) are zero — they are *not* covered by the ECDSA signature, so they are
   rejected explicitly, which makes every single-bit change of the 1184 bytes fail verification — R
   and S fit 48 bytes, and ECDSA P-384/SHA-384 over bytes 0x000–0x29F verifies with the certificate's
   key;
3. the report itself (``VerificationError``): VERSION is one pvmkit knows, SIGNING_KEY matches the
   certificate's kind (0 VCEK, 1 VLEK), and for a VCEK the AMD extensions agree with the report:
   hwID (``1.3.6.1.4.1.3704.1.4``) = CHIP_ID (unless MASK_CHIP_KEY) and the SPLs
   (``1.3.6.1.4.1.3704.1.3.x``) = REPORTED_TCB;
4. the caller's :class:`Expected` values, in report layout order.

``cryptography`` is imported lazily. The certificates of AMD's key distribution service may carry a
serial number of 0, which ``cryptography`` warns about; that warning is silenced while loading.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
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
    "Expected",
    "VerificationResult",
    "check_report_signature",
    "load_certificates",
    "verify_chain",
    "verify_report",
]

#: SHA-256 of the DER of AMD's ARK certificates (the root of every VCEK/VLEK chain, as AMD's key
#: distribution service serves them), by product line. The default trust anchors of
#: :func:`verify_report`. Provenance: tests/vectors/README.md ("SNP attestation").
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
_PSS_SALT = 48


@dataclass(frozen=True)
class Expected:
    """Values the report must hold. ``None`` (or 0 for the bit masks) means "not checked".

    ``policy`` compares the whole u64; ``policy_bits_set`` / ``policy_bits_clear`` are masks of bits
    that must be 1 / 0 (e.g. ``policy_bits_clear=1 << 19`` refuses debuggable guests);
    ``min_reported_tcb`` sets minimum security patch levels.
    """

    version: int | None = None
    guest_svn: int | None = None
    policy: int | None = None
    policy_bits_set: int = 0
    policy_bits_clear: int = 0
    family_id: bytes | None = None
    image_id: bytes | None = None
    vmpl: int | None = None
    report_data: bytes | None = None
    measurement: bytes | None = None
    host_data: bytes | None = None
    id_key_digest: bytes | None = None
    author_key_digest: bytes | None = None
    chip_id: bytes | None = None
    #: minimum SPLs of REPORTED_TCB by component (``bootloader``, ``tee``, ``snp``, ``microcode``,
    #: Turin ``fmc``): a report below any of them fails
    min_reported_tcb: dict[str, int] | None = None


@dataclass(frozen=True)
class VerificationResult:
    """What :func:`verify_report` established: the parsed report, the key kind (``"vcek"`` or
    ``"vlek"``), the time the certificates were checked at, the checks performed (in order), and the
    chain's subjects and ARK fingerprint (pin it: the chain's ARK is the trust anchor)."""

    report: SnpReport
    signing_key: str
    at: _dt.datetime
    checks: tuple[str, ...]
    certificate_subject: str
    ask_subject: str
    ark_subject: str
    ark_sha256: str
    product: str | None = None
    expected_fields: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "signing_key": self.signing_key,
            "at": self.at.isoformat(),
            "product": self.product,
            "certificate_subject": self.certificate_subject,
            "ask_subject": self.ask_subject,
            "ark_subject": self.ark_subject,
            "ark_sha256": self.ark_sha256,
            "checks": list(self.checks),
            "expected_fields": list(self.expected_fields),
            "report": self.report.to_dict(),
        }


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
    at: _dt.datetime,
    key_kind: str | None = None,
) -> _Chain:
    """Check ``cert`` (VCEK/VLEK) → ASK/ASVK → ARK as described in the module docstring."""
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


def check_report_signature(report: bytes, public_key: ec.EllipticCurvePublicKey) -> None:
    """Verify the signature of raw report bytes with a VCEK/VLEK public key.

    Raises TruncatedError/FormatError when ``report`` is not 1184 bytes, SignatureError otherwise:
    field ``signature_algo`` (not 1), ``signature.reserved`` (non-zero bytes at 0x330–0x49F, which the
    signature does not cover), ``signature.r``/``signature.s`` (does not fit P-384), ``signature``
    (ECDSA P-384/SHA-384 over 0x000–0x29F fails). Cheap checks come first, so rejecting a bad
    report usually costs no ECDSA operation.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

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
    if any(report[SIGNATURE_RESERVED_OFFSET:]):
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
        if any(comp[P384_SIZE:]):
            raise SignatureError(
                f"report signature {name.upper()} does not fit P-384 (non-zero high bytes)",
                field=f"signature.{name}",
            )
        values.append(int.from_bytes(comp, "little"))
    r, s = values
    if r == 0 or s == 0:
        raise SignatureError("report signature is zero (unsigned report?)", field="signature")
    try:
        public_key.verify(encode_dss_signature(r, s), report[:SIGNED_SIZE], ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise SignatureError(
            "report signature does not verify with the certificate's key", field="signature"
        ) from None


# --------------------------------------------------------------------------------------------------
# the report's fields


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


def _check_vcek_extensions(cert: x509.Certificate, report: SnpReport) -> list[str]:
    checks = []
    ext = _amd_extensions(cert)
    hwid = ext.get(_HWID_OID)
    if hwid is not None and not report.mask_chip_key:
        # A shorter hwID (Turin-style 8-byte chip ids) must equal CHIP_ID's prefix, the rest being zero.
        want = hwid.ljust(len(report.chip_id), b"\0") if len(hwid) < len(report.chip_id) else hwid
        if want != report.chip_id:
            raise _mismatch("chip_id", want, report.chip_id)
        checks.append("chip_id = vcek hwID")
    tcb = TcbVersion.decode(report.reported_tcb, report.tcb_layout)
    compared = []
    for name, value in tcb.components().items():
        raw = ext.get(_SPL_OIDS[name])
        if raw is None:
            continue
        spl = _der_int(raw)
        if spl != value:
            raise _mismatch(f"reported_tcb.{name}", spl, value)
        compared.append(name)
    if compared:
        checks.append(f"reported_tcb = vcek TCB ({', '.join(compared)})")
    return checks


def _check_expected(report: SnpReport, expected: Expected) -> list[str]:
    checked: list[str] = []
    for name in ("version", "guest_svn"):
        want = getattr(expected, name)
        if want is not None:
            if getattr(report, name) != want:
                raise _mismatch(name, want, getattr(report, name))
            checked.append(name)
    if expected.policy is not None:
        if report.policy != expected.policy:
            raise _mismatch("policy", expected.policy, report.policy)
        checked.append("policy")
    if expected.policy_bits_set:
        missing = expected.policy_bits_set & ~report.policy
        if missing:
            raise _mismatch("policy", f"bits {expected.policy_bits_set:#x} set", report.policy)
        checked.append("policy bits set")
    if expected.policy_bits_clear:
        present = expected.policy_bits_clear & report.policy
        if present:
            raise _mismatch("policy", f"bits {expected.policy_bits_clear:#x} clear", report.policy)
        checked.append("policy bits clear")
    for name in (
        "family_id",
        "image_id",
        "vmpl",
        "report_data",
        "measurement",
        "host_data",
        "id_key_digest",
        "author_key_digest",
        "chip_id",
    ):
        want = getattr(expected, name)
        if want is None:
            continue
        actual = getattr(report, name)
        if isinstance(want, (bytes, bytearray)):
            want = bytes(want)
        if want != actual:
            raise _mismatch(name, want, actual)
        checked.append(name)
    if expected.min_reported_tcb:
        tcb = TcbVersion.decode(report.reported_tcb, report.tcb_layout).components()
        for component, minimum in expected.min_reported_tcb.items():
            if component not in tcb:
                raise InputError(
                    f"no TCB component {component!r} in a {report.tcb_layout} report (have {', '.join(tcb)})"
                )
            if tcb[component] < minimum:
                raise _mismatch(f"reported_tcb.{component}", f">= {minimum}", tcb[component])
        checked.append(
            "reported_tcb minimum ("
            + ", ".join(f"{k} >= {v}" for k, v in expected.min_reported_tcb.items())
            + ")"
        )
    return checked


# --------------------------------------------------------------------------------------------------
# everything


def verify_report(
    report: bytes,
    vcek_or_vlek_cert: bytes,
    chain: bytes,
    *,
    at: _dt.datetime | None = None,
    expected: Expected | None = None,
    key_kind: str | None = None,
    trusted_ark_sha256: str | Iterable[str] | None = None,
    crl: bytes | None = None,
) -> VerificationResult:
    """Verify raw report bytes with a VCEK or VLEK certificate and an ASK+ARK bundle (PEM or DER).

    ``at`` is the time the certificates must be valid at (default now; naive = UTC); ``key_kind``
    (``"vcek"``/``"vlek"``) says what the caller claims the certificate is (default: from its
    common name); ``trusted_ark_sha256`` (hex SHA-256 of an ARK certificate's DER, or several) are the
    trust anchors, by default AMD's ARKs (:data:`AMD_ARK_SHA256`); a chain whose ARK is none of them
    fails, however well its signatures verify (pass a software CA's ARK explicitly). ``crl`` (DER or
    PEM, as AMD's key distribution service serves ``/vcek/v1/<product>/crl``): the ARK's CRL, which must
    be signed by the ARK, current at ``at``, and not list the ASK. Raises
    CertificateError, SignatureError or VerificationError naming the first
    problem (module docstring for the order); FormatError for malformed input.
    """
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

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
    certs = load_certificates(bytes(vcek_or_vlek_cert), "vcek/vlek certificate")
    if len(certs) != 1:
        raise FormatError(
            f"expected one VCEK/VLEK certificate, got {len(certs)}", what="vcek/vlek certificate"
        )
    bundle = load_certificates(bytes(chain), "certificate chain")
    checked = verify_chain(certs[0], bundle, at=when, key_kind=key_kind)
    checks = list(checked.checks)
    ark_sha256 = hashlib.sha256(checked.ark.public_bytes(Encoding.DER)).hexdigest()
    if trusted_ark_sha256 is None:
        pins = {sha: f"AMD ARK-{product}" for product, sha in AMD_ARK_SHA256.items()}
    else:
        given = [trusted_ark_sha256] if isinstance(trusted_ark_sha256, str) else list(trusted_ark_sha256)
        pins = {pin.strip().lower().replace(":", ""): "pinned" for pin in given}
    if ark_sha256 not in pins:
        trusted = ", ".join(f"{name} {sha}" for sha, name in pins.items()) or "none"
        raise CertificateError(
            f"the chain's ARK is not a trusted one: sha256 {ark_sha256} "
            f"({checked.ark.subject.rfc4514_string()}); trusted: {trusted} "
            "(pin it with --ark-sha256 / trusted_ark_sha256 if you trust it)",
            field="ark.sha256",
            expected=sorted(pins),
            actual=ark_sha256,
        )
    checks.append(f"ark sha256 = trusted ({pins[ark_sha256]})")
    if crl is not None:
        checks.append(check_crl(crl, checked.ark, checked.ask, "ARK CRL", "ask", when))

    key = certs[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # verify_chain checked it
    check_report_signature(report, key)
    checks.append("report signature (ECDSA P-384 SHA-384 over 0x000-0x29F)")
    checks.append("signature reserved bytes 0x330-0x49F are zero")

    version = int.from_bytes(report[:4], "little")
    if version not in KNOWN_VERSIONS:
        raise _mismatch("version", f"one of {sorted(KNOWN_VERSIONS)}", version)
    parsed = SnpReport.parse(report)
    want = SIGNING_KEY_VCEK if checked.kind == "vcek" else SIGNING_KEY_VLEK
    if parsed.signing_key != want:
        raise VerificationError(
            f"signing_key (offset 0x48) mismatch: the report says it was signed by "
            f"{parsed.signing_key_name.upper()} but the certificate is a {checked.kind.upper()}",
            field="signing_key",
            expected=checked.kind,
            actual=parsed.signing_key_name,
        )
    checks.append(f"signing_key = {SIGNING_KEY_NAMES[want]}")
    if checked.kind == "vcek":
        checks += _check_vcek_extensions(certs[0], parsed)
    expected_fields: list[str] = []
    if expected is not None:
        expected_fields = _check_expected(parsed, expected)
        checks += [f"expected {name}" for name in expected_fields]

    return VerificationResult(
        report=parsed,
        signing_key=checked.kind,
        at=when,
        checks=tuple(checks),
        certificate_subject=certs[0].subject.rfc4514_string(),
        ask_subject=checked.ask.subject.rfc4514_string(),
        ark_subject=checked.ark.subject.rfc4514_string(),
        ark_sha256=ark_sha256,
        product=checked.product,
        expected_fields=tuple(expected_fields),
    )
