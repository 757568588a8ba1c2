"""Software attestation keys: a per-user ARK → ASK → VCEK chain shaped like AMD's, and a report signer.

The chain mirrors AMD's algorithms so that a verifier needs nothing changed but the trust anchor:

* ARK: RSA (4096 bits by default, like AMD's), self-signed with RSASSA-PSS / SHA-384 / MGF1-SHA-384 /
  salt 48; keyUsage keyCertSign+cRLSign, basicConstraints CA (both critical), as AMD's ARK.
* ASK: RSA, signed by the ARK with the same RSASSA-PSS parameters, same extensions.
* VCEK: EC P-384, signed by the ASK with RSASSA-PSS, carrying AMD's VCEK extensions
  (``1.3.6.1.4.1.3704.1.1`` structVersion, ``.1.2`` productName, ``.1.3.1``–``.1.3.8`` the TCB SPLs,
  ``.1.4`` hwID = CHIP_ID, 64 raw bytes).

Names keep AMD's common names (``ARK-Milan``, ``SEV-Milan``, ``SEV-VCEK``, which verifiers use to tell
a VCEK chain from a VLEK one) but the organisation is ``pvmkit software attestation (not AMD)``: a
software chain never claims to be AMD's. What it proves: that the holder of the private VCEK key in
the key directory signed the report — a development/CI stand-in, **not** a hardware root of trust
(see docs/attestation.md).

Keys are created once per user under ``$XDG_DATA_HOME/pvmkit/attestation`` (default
``~/.local/share/pvmkit/attestation``) or in a directory given explicitly. Creation is atomic: the
files are written to a fresh temporary directory which is then renamed into place, so concurrent
creators never mix two generations (the loser loads the winner's keys). Private keys are PKCS#8 PEM
with mode 0600, the directory 0700.

Files: ``ark.pem``, ``ask.pem``, ``vcek.pem``, ``vcek.der``, ``cert_chain.pem`` (ASK then ARK, the
``--chain`` input of ``pvmkit verify``), ``ark.key``, ``ask.key``, ``vcek.key``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from pvmkit.attest._x509 import foreign_parse
from pvmkit.attest.snp_report import (
    SIGNATURE_ALGO_ECDSA_P384_SHA384,
    SIGNED_SIZE,
    SIGNING_KEY_VCEK,
    SnpReport,
    TcbVersion,
    der_to_amd_signature,
)
from pvmkit.errors import AttestationError, FormatError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "AMD_OID_BASE",
    "DEFAULT_TCB",
    "FILES",
    "SoftwareAttestationKeys",
    "default_directory",
]

#: AMD's private enterprise arc for the VCEK/VLEK extensions.
AMD_OID_BASE = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION = AMD_OID_BASE + ".1"
OID_PRODUCT_NAME = AMD_OID_BASE + ".2"
OID_BL_SPL = AMD_OID_BASE + ".3.1"
OID_TEE_SPL = AMD_OID_BASE + ".3.2"
OID_SNP_SPL = AMD_OID_BASE + ".3.3"
OID_SPL4 = AMD_OID_BASE + ".3.4"
OID_SPL5 = AMD_OID_BASE + ".3.5"
OID_SPL6 = AMD_OID_BASE + ".3.6"
OID_SPL7 = AMD_OID_BASE + ".3.7"
OID_UCODE_SPL = AMD_OID_BASE + ".3.8"
OID_FMC_SPL = AMD_OID_BASE + ".3.9"
OID_HWID = AMD_OID_BASE + ".4"
OID_CSP_ID = AMD_OID_BASE + ".5"

#: The software platform's TCB (Milan layout): arbitrary but plausible SPL values.
DEFAULT_TCB = TcbVersion.encode(bootloader=4, tee=0, snp=22, microcode=213)
PRODUCT = "Milan"
PRODUCT_NAME = "Milan-B1"
ORGANIZATION = "pvmkit software attestation (not AMD)"
ORGANIZATIONAL_UNIT = "development only"

FILES = {
    "ark_cert": "ark.pem",
    "ask_cert": "ask.pem",
    "vcek_cert": "vcek.pem",
    "vcek_der": "vcek.der",
    "chain": "cert_chain.pem",
    "ark_key": "ark.key",
    "ask_key": "ask.key",
    "vcek_key": "vcek.key",
}
_PRIVATE = ("ark_key", "ask_key", "vcek_key")
#: The largest key or certificate file read from a key directory (they are a few KiB).
_MAX_FILE_SIZE = 1 << 20

_ROOT_YEARS = 25
_VCEK_YEARS = 7
_PSS_SALT = 48


def default_directory() -> str:
    """``$XDG_DATA_HOME/pvmkit/attestation`` (absolute XDG_DATA_HOME only), else
    ``~/.local/share/pvmkit/attestation``."""
    base = os.environ.get("XDG_DATA_HOME", "")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "pvmkit", "attestation")


def der_integer(value: int) -> bytes:
    """DER INTEGER (non-negative, short length form) — the value of AMD's SPL extensions."""
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    if len(body) > 127:
        raise ValueError("integer too large")
    return b"\x02" + bytes([len(body)]) + body


def parse_der_integer(data: bytes) -> int:
    """Inverse of :func:`der_integer` (short length form); ValueError otherwise."""
    if len(data) < 3 or data[0] != 0x02 or data[1] != len(data) - 2 or data[1] > 127:
        raise ValueError("not a DER INTEGER")
    return int.from_bytes(data[2:], "big", signed=True)


def _pss() -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=_PSS_SALT)


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ORGANIZATIONAL_UNIT),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _years(start: _dt.datetime, years: int) -> _dt.datetime:
    return start + _dt.timedelta(days=365 * years + years // 4)


class SoftwareAttestationKeys:
    """A loaded software ARK/ASK/VCEK set. Build with :meth:`load_or_create`, :meth:`load` or
    :meth:`create`; sign reports with :meth:`sign_report`. ``created`` is True only on the object
    whose call generated the keys now (of concurrent creators, exactly one: the rename's winner)."""

    created = False

    def __init__(
        self,
        directory: str,
        ark_cert: x509.Certificate,
        ask_cert: x509.Certificate,
        vcek_cert: x509.Certificate,
        vcek_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        self.directory = directory
        self.ark_cert = ark_cert
        self.ask_cert = ask_cert
        self.vcek_cert = vcek_cert
        self._vcek_key = vcek_key
        self.chip_id, self.tcb = _platform_from_vcek(vcek_cert)

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, directory: str | None = None, *, rsa_bits: int = 4096) -> SoftwareAttestationKeys:
        """Load the keys in ``directory`` (default :func:`default_directory`), creating them first
        when the directory is absent or empty."""
        path = os.path.abspath(directory if directory is not None else default_directory())
        if _has_keys(path):
            return cls.load(path)
        return cls.create(path, rsa_bits=rsa_bits, exist_ok=True)

    @classmethod
    def load(cls, directory: str) -> SoftwareAttestationKeys:
        """Load existing keys; AttestationError when files are missing or do not belong together."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        path = os.path.abspath(directory)
        missing = [
            FILES[k]
            for k in ("ark_cert", "ask_cert", "vcek_cert", "vcek_key")
            if not os.path.isfile(os.path.join(path, FILES[k]))
        ]
        if missing:
            raise AttestationError(
                f"software attestation key directory {path} is incomplete: missing {', '.join(missing)}"
            )

        def read(key: str) -> bytes:
            with open(os.path.join(path, FILES[key]), "rb") as f:
                data = f.read(_MAX_FILE_SIZE + 1)  # a key or certificate is a few KiB (issue 15)
            if len(data) > _MAX_FILE_SIZE:
                raise FormatError(f"{FILES[key]}: longer than 1 MiB, not a PEM file", what=FILES[key])
            return data

        certs = {}
        for key in ("ark_cert", "ask_cert", "vcek_cert"):
            with foreign_parse(FILES[key], "not a PEM certificate"):
                certs[key] = x509.load_pem_x509_certificate(read(key))
                _ = (certs[key].subject, certs[key].issuer, certs[key].public_key())
        with foreign_parse(FILES["vcek_key"], "not a PEM private key"):
            vcek_key = serialization.load_pem_private_key(read("vcek_key"), password=None)
        if not isinstance(vcek_key, ec.EllipticCurvePrivateKey) or vcek_key.curve.name != "secp384r1":
            raise AttestationError(f"{FILES['vcek_key']} in {path} is not an EC P-384 private key")
        if vcek_key.public_key() != certs["vcek_cert"].public_key():
            raise AttestationError(f"{FILES['vcek_key']} does not match {FILES['vcek_cert']} in {path}")
        return cls(path, certs["ark_cert"], certs["ask_cert"], certs["vcek_cert"], vcek_key)

    @classmethod
    def create(
        cls,
        directory: str | None = None,
        *,
        rsa_bits: int = 4096,
        now: _dt.datetime | None = None,
        chip_id: bytes | None = None,
        tcb: int = DEFAULT_TCB,
        exist_ok: bool = False,
    ) -> SoftwareAttestationKeys:
        """Generate a fresh chain and store it in ``directory`` (which must be absent or empty).

        ``now`` sets the certificates' notBefore (tests use it to make expired chains); ``chip_id``
        (64 bytes, default random) and ``tcb`` (Milan-layout TCB_VERSION) go into the VCEK's AMD
        extensions. With ``exist_ok``, a directory that another process filled first is loaded
        instead (used by :meth:`load_or_create`); otherwise that is an AttestationError.
        """
        path = os.path.abspath(directory if directory is not None else default_directory())
        if chip_id is None:
            chip_id = os.urandom(64)
        if len(chip_id) != 64:
            raise AttestationError(f"chip_id must be 64 bytes, got {len(chip_id)}")
        if rsa_bits < 2048:
            raise AttestationError(f"rsa_bits must be at least 2048, got {rsa_bits}")
        files = _generate(rsa_bits, now, chip_id, tcb)

        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".pvmkit-attestation-", dir=parent)  # mode 0700
        try:
            for key, data in files.items():
                mode = 0o600 if key in _PRIVATE else 0o644
                fd = os.open(os.path.join(tmp, FILES[key]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            try:
                os.rename(tmp, path)  # replaces an empty directory; fails on a non-empty one
            except OSError as exc:
                if not _has_keys(path):
                    raise AttestationError(
                        f"cannot create software attestation keys in {path}: {exc.strerror or exc} "
                        "(the directory must be absent or empty)"
                    ) from None
                if not exist_ok:
                    raise AttestationError(f"{path} already holds attestation keys") from None
                return cls.load(path)  # another process won the rename: its keys, not created here
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
        keys = cls.load(path)
        keys.created = True
        return keys

    # ---- certificates ------------------------------------------------------------------------------

    @property
    def vcek_der(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.vcek_cert.public_bytes(Encoding.DER)

    @property
    def vcek_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.vcek_cert.public_bytes(Encoding.PEM)

    @property
    def ask_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.ask_cert.public_bytes(Encoding.PEM)

    @property
    def ark_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.ark_cert.public_bytes(Encoding.PEM)

    @property
    def ark_sha256(self) -> str:
        """SHA-256 of this software ARK's DER: the trust anchor to give ``verify_report``."""
        import hashlib

        from cryptography.hazmat.primitives.serialization import Encoding

        return hashlib.sha256(self.ark_cert.public_bytes(Encoding.DER)).hexdigest()

    @property
    def chain_pem(self) -> bytes:
        """ASK then ARK, PEM (what ``pvmkit verify --chain`` takes)."""
        return self.ask_pem + self.ark_pem

    def path(self, name: str) -> str:
        """Path of one of :data:`FILES` (by key, e.g. ``"chain"``, ``"vcek_cert"``)."""
        return os.path.join(self.directory, FILES[name])

    # ---- signing -----------------------------------------------------------------------------------

    def sign_bytes(self, signed_area: bytes) -> bytes:
        """The 512-byte AMD-format ECDSA P-384/SHA-384 signature of ``signed_area`` by the VCEK."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        der = self._vcek_key.sign(bytes(signed_area), ec.ECDSA(hashes.SHA384()))
        return der_to_amd_signature(der)

    def fill_platform(self, report: SnpReport) -> SnpReport:
        """A copy of ``report`` with this platform's CHIP_ID (unless MASK_CHIP_KEY) where CHIP_ID is
        all zero, and its TCB in CURRENT/REPORTED/COMMITTED/LAUNCH_TCB where those are zero."""
        changes: dict[str, Any] = {}
        if not report.mask_chip_key and not any(report.chip_id):
            changes["chip_id"] = self.chip_id
        for name in ("current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"):
            if getattr(report, name) == 0:
                changes[name] = self.tcb
        return dataclasses.replace(report, **changes)

    def sign_report(self, report: SnpReport, *, fill_platform: bool = True) -> bytes:
        """The 1184 report bytes with SIGNATURE filled by the software VCEK.

        The report must say SIGNING_KEY 0 (VCEK) and SIGNATURE_ALGO 1 (the defaults), else
        AttestationError. With ``fill_platform`` (default) zero CHIP_ID/TCB fields are filled from
        this platform (:meth:`fill_platform`), so the report matches the VCEK's extensions.
        """
        if report.signing_key != SIGNING_KEY_VCEK:
            raise AttestationError(
                f"software keys sign with the VCEK: SIGNING_KEY must be 0, got {report.signing_key}"
            )
        if report.signature_algo != SIGNATURE_ALGO_ECDSA_P384_SHA384:
            raise AttestationError(
                f"SIGNATURE_ALGO must be 1 (ECDSA P-384/SHA-384), got {report.signature_algo}"
            )
        if fill_platform:
            report = self.fill_platform(report)
        try:
            body = report.to_bytes()[:SIGNED_SIZE]
        except FormatError as exc:
            raise AttestationError(f"cannot sign report: {exc}") from None
        return body + self.sign_bytes(body)


def _has_keys(path: str) -> bool:
    return os.path.isfile(os.path.join(path, FILES["vcek_key"]))


def _platform_from_vcek(cert: x509.Certificate) -> tuple[bytes, int]:
    """(CHIP_ID, TCB_VERSION) from a VCEK's AMD extensions (zeros where absent)."""
    values: dict[str, bytes] = {}
    for ext in cert.extensions:
        raw = getattr(ext.value, "value", None)
        if isinstance(raw, bytes):
            values[ext.oid.dotted_string] = raw

    def spl(oid: str) -> int:
        try:
            return parse_der_integer(values[oid]) if oid in values else 0
        except ValueError:
            return 0

    tcb = TcbVersion.encode(
        bootloader=spl(OID_BL_SPL), tee=spl(OID_TEE_SPL), snp=spl(OID_SNP_SPL), microcode=spl(OID_UCODE_SPL)
    )
    hwid = values.get(OID_HWID, b"")
    return (hwid if len(hwid) == 64 else bytes(64)), tcb


def _generate(rsa_bits: int, now: _dt.datetime | None, chip_id: bytes, tcb: int) -> dict[str, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    start = (now or _dt.datetime.now(_dt.timezone.utc)).replace(microsecond=0)
    if start.tzinfo is None:
        start = start.replace(tzinfo=_dt.timezone.utc)
    start -= _dt.timedelta(days=1)  # tolerate clock skew between creator and verifier
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    vcek_key = ec.generate_private_key(ec.SECP384R1())
    ark_name = _name(f"ARK-{PRODUCT}")
    ask_name = _name(f"SEV-{PRODUCT}")
    vcek_name = _name("SEV-VCEK")

    def ca(
        subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(_years(start, _ROOT_YEARS))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        )
        return builder.sign(issuer_key, hashes.SHA384(), rsa_padding=_pss())

    ark = ca(ark_name, ark_key, ark_name, ark_key)
    ask = ca(ask_name, ask_key, ark_name, ark_key)

    t = TcbVersion.decode(tcb, "milan")
    amd_ext: list[tuple[str, bytes]] = [
        (OID_STRUCT_VERSION, der_integer(0)),
        (OID_PRODUCT_NAME, b"\x16" + bytes([len(PRODUCT_NAME)]) + PRODUCT_NAME.encode()),
        (OID_BL_SPL, der_integer(t.bootloader)),
        (OID_TEE_SPL, der_integer(t.tee)),
        (OID_SPL4, der_integer(0)),
        (OID_SPL5, der_integer(0)),
        (OID_SPL6, der_integer(0)),
        (OID_SPL7, der_integer(0)),
        (OID_SNP_SPL, der_integer(t.snp)),
        (OID_UCODE_SPL, der_integer(t.microcode)),
        (OID_HWID, bytes(chip_id)),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(vcek_name)
        .issuer_name(ask_name)
        .public_key(vcek_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(_years(start, _VCEK_YEARS))
    )
    for oid, value in amd_ext:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
        )
    vcek = builder.sign(ask_key, hashes.SHA384(), rsa_padding=_pss())

    pem = serialization.Encoding.PEM

    def key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    return {
        "ark_cert": ark.public_bytes(pem),
        "ask_cert": ask.public_bytes(pem),
        "vcek_cert": vcek.public_bytes(pem),
        "vcek_der": vcek.public_bytes(serialization.Encoding.DER),
        "chain": ask.public_bytes(pem) + ark.public_bytes(pem),
        "ark_key": key_pem(ark_key),
        "ask_key": key_pem(ask_key),
        "vcek_key": key_pem(vcek_key),
    }
