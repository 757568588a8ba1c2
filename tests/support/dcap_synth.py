"""Synthetic DCAP evidence signed by a test CA: a TDX quote and a whole Intel-shaped collateral set.

For the rules no real quote reaches (status merging, TEE_TCB_SVN bytes 0-1, advisory lists, TD
relaunch, debug TDs), tests build quotes and collateral here and pin the test root
(``Pki.root_sha256``). Everything is built from the layouts in Intel's headers and PCS documentation
with ``struct`` and ``cryptography``, not with pvmkit's own builders: the quote header and TD quote
body (``sgx_quote_4.h`` / ``sgx_quote_5.h``), the QE report (``sgx_report_body_t``), the
certification data types 6 and 5, the PCK certificate's SGX extension (Intel's PCK certificate
profile) in DER, and TCB Info v3 / QE Identity v2 JSON signed by a "TCB Signing" key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from pvmkit.formats.intel_collateral import CollateralSet

NOW = dt.datetime(2026, 1, 15, tzinfo=dt.timezone.utc)
FMSPC = bytes.fromhex("90C06F000000")
SGX_OID = "1.2.840.113741.1.13.1"
QE_VENDOR = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
QE_MRSIGNER = bytes(range(32))


# --- DER, just enough for the SGX extension ---------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, out)


def _int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _tlv(0x02, raw)


def _pair(oid: str, value: bytes) -> bytes:
    return _tlv(0x30, _oid(oid) + value)


def sgx_extension(components: list[int], pcesvn: int, fmspc: bytes = FMSPC) -> bytes:
    tcb = b"".join(_pair(f"{SGX_OID}.2.{i + 1}", _int(svn)) for i, svn in enumerate(components))
    tcb += _pair(f"{SGX_OID}.2.17", _int(pcesvn)) + _pair(f"{SGX_OID}.2.18", _tlv(0x04, bytes(components)))
    return _tlv(
        0x30,
        _pair(f"{SGX_OID}.1", _tlv(0x04, bytes(16)))
        + _pair(f"{SGX_OID}.2", _tlv(0x30, tcb))
        + _pair(f"{SGX_OID}.3", _tlv(0x04, b"\0\0"))
        + _pair(f"{SGX_OID}.4", _tlv(0x04, fmspc))
        + _pair(f"{SGX_OID}.5", _tlv(0x0A, b"\x01")),
    )


# --- the test PKI -------------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    extension: bytes | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=365))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_OID), extension), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(issuer: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(issuer))
        .last_update(NOW - dt.timedelta(days=1))
        .next_update(NOW + dt.timedelta(days=29))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _raw_sig(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass
class Pki:
    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    signing_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.root = _cert("Intel SGX Root CA", self.root_key, "Intel SGX Root CA", self.root_key, True)
        self.ca = _cert("Intel SGX PCK Platform CA", self.ca_key, "Intel SGX Root CA", self.root_key, True)
        self.signing = _cert(
            "Intel SGX TCB Signing", self.signing_key, "Intel SGX Root CA", self.root_key, False
        )
        self.root_sha256 = hashlib.sha256(self.root.public_bytes(serialization.Encoding.DER)).hexdigest()

    def pck(self, components: list[int], pcesvn: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(
            "Intel SGX PCK Certificate", key, "Intel SGX PCK Platform CA", self.ca_key, False,
            sgx_extension(components, pcesvn),
        )  # fmt: skip
        return key, cert

    def collateral(self, tcb_info: dict[str, Any], qe_identity: dict[str, Any]) -> CollateralSet:
        tcb_text = json.dumps(tcb_info, separators=(",", ":")).encode()
        qe_text = json.dumps(qe_identity, separators=(",", ":")).encode()
        chain = _pem(self.signing, self.root)
        return CollateralSet(
            tcb_info=tcb_text,
            tcb_info_signature=_raw_sig(self.signing_key, tcb_text),
            tcb_info_issuer_chain=chain,
            qe_identity=qe_text,
            qe_identity_signature=_raw_sig(self.signing_key, qe_text),
            qe_identity_issuer_chain=chain,
            pck_crl=_crl("Intel SGX PCK Platform CA", self.ca_key),
            pck_crl_issuer_chain=_pem(self.ca, self.root),
            root_ca_crl=_crl("Intel SGX Root CA", self.root_key),
        )


# --- collateral documents --------------------------------------------------------------------------------


def _time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def level(sgx: list[int], pcesvn: int, tdx: list[int], status: str, advisories: list[str] | None = None,
          date: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "tcb": {
            "sgxtcbcomponents": [{"svn": v} for v in sgx],
            "pcesvn": pcesvn,
            "tdxtcbcomponents": [{"svn": v} for v in tdx],
        },
        "tcbDate": date,
        "tcbStatus": status,
    }
    if advisories:
        out["advisoryIDs"] = advisories
    return out


def module_level(isvsvn: int, status: str, advisories: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"tcb": {"isvsvn": isvsvn}, "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": status}
    if advisories:
        out["advisoryIDs"] = advisories
    return out


def tcb_info(levels: list[dict[str, Any]], module_levels: list[dict[str, Any]]) -> dict[str, Any]:
    zero48, zero8 = "00" * 48, "00" * 8
    return {
        "id": "TDX",
        "version": 3,
        "issueDate": _time(NOW - dt.timedelta(days=1)),
        "nextUpdate": _time(NOW + dt.timedelta(days=29)),
        "fmspc": FMSPC.hex().upper(),
        "pceId": "0000",
        "tcbType": 0,
        "tcbEvaluationDataNumber": 99,
        "tdxModule": {"mrsigner": zero48, "attributes": zero8, "attributesMask": "FF" * 8},
        "tdxModuleIdentities": [
            {
                "id": "TDX_01",
                "mrsigner": zero48,
                "attributes": zero8,
                "attributesMask": "FF" * 8,
                "tcbLevels": module_levels,
            },
        ],
        "tcbLevels": levels,
    }


def qe_identity(isvsvn: int = 4) -> dict[str, Any]:
    return {
        "id": "TD_QE",
        "version": 2,
        "issueDate": _time(NOW - dt.timedelta(days=1)),
        "nextUpdate": _time(NOW + dt.timedelta(days=29)),
        "tcbEvaluationDataNumber": 99,
        "miscselect": "00000000",
        "miscselectMask": "FFFFFFFF",
        "attributes": "11000000000000000000000000000000",
        "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner": QE_MRSIGNER.hex().upper(),
        "isvprodid": 2,
        "tcbLevels": [
            {"tcb": {"isvsvn": isvsvn}, "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"}
        ],
    }


# --- the quote -----------------------------------------------------------------------------------------


def quote(
    pki: Pki,
    *,
    pck_components: list[int],
    pcesvn: int,
    tee_tcb_svn: bytes,
    td_attributes: int = 0x10000000,
    tee_tcb_svn2: bytes | None = None,
    qe_isvsvn: int = 4,
) -> bytes:
    """A TDX quote: v4, or v5 with a TD 1.5 body (type 3) when ``tee_tcb_svn2`` is given."""
    pck_key, pck_cert = pki.pck(pck_components, pcesvn)
    version = 4 if tee_tcb_svn2 is None else 5
    header = struct.pack("<HHIHH16s20s", version, 2, 0x81, 0, 0, QE_VENDOR, bytes(20))
    body = (
        tee_tcb_svn.ljust(16, b"\0")
        + bytes(48)  # MRSEAM
        + bytes(48)  # MRSIGNERSEAM (Intel's modules: zero)
        + struct.pack("<QQQ", 0, td_attributes, 0xE7)  # SEAMATTRIBUTES, TDATTRIBUTES, XFAM
        + bytes(48 * 8)  # MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3
        + bytes(64)  # REPORTDATA
    )
    if tee_tcb_svn2 is not None:
        body += tee_tcb_svn2.ljust(16, b"\0") + bytes(48)
        signed = header + struct.pack("<HI", 3, len(body)) + body
    else:
        signed = header + body
    att_key = ec.generate_private_key(ec.SECP256R1())
    att_pub = att_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]
    auth = bytes(32)
    # sgx_report_body_t: CPUSVN, MISCSELECT, reserved, ATTRIBUTES, MRENCLAVE, reserved, MRSIGNER,
    # reserved, ISVPRODID, ISVSVN, reserved, REPORTDATA
    qe_report = (
        bytes(16)
        + struct.pack("<I", 0)
        + bytes(28)
        + bytes.fromhex("11000000000000000000000000000000")
        + bytes(32)
        + bytes(32)
        + QE_MRSIGNER
        + bytes(96)
        + struct.pack("<HH", 2, qe_isvsvn)
        + bytes(60)
        + hashlib.sha256(att_pub + auth).digest()
        + bytes(32)
    )
    chain = _pem(pck_cert, pki.ca, pki.root)
    inner = struct.pack("<HI", 5, len(chain)) + chain
    qe_data = qe_report + _raw_sig(pck_key, qe_report) + struct.pack("<H", len(auth)) + auth + inner
    sig_data = _raw_sig(att_key, signed) + att_pub + struct.pack("<HI", 6, len(qe_data)) + qe_data
    return signed + struct.pack("<I", len(sig_data)) + sig_data


def v3_json(c: CollateralSet) -> str:
    """A collateral set as dcap-qvl's QuoteCollateralV3 JSON (CRLs as hex DER, chains as PEM)."""
    from pvmkit.attest._x509 import load_certificates
    from pvmkit.attest.dcap_collateral import load_crl

    def chain(data: bytes) -> str:
        return _pem(*load_certificates(data)).decode()

    def crl(data: bytes, what: str) -> str:
        return load_crl(data, what).public_bytes(serialization.Encoding.DER).hex()

    return json.dumps(
        {
            "tcb_info": c.tcb_info.decode(),
            "tcb_info_signature": c.tcb_info_signature.hex(),
            "tcb_info_issuer_chain": chain(c.tcb_info_issuer_chain),
            "qe_identity": c.qe_identity.decode(),
            "qe_identity_signature": c.qe_identity_signature.hex(),
            "qe_identity_issuer_chain": chain(c.qe_identity_issuer_chain),
            "pck_crl": crl(c.pck_crl, "PCK CRL"),
            "pck_crl_issuer_chain": chain(c.pck_crl_issuer_chain),
            "root_ca_crl": crl(c.root_ca_crl, "root CA CRL"),
        }
    )
