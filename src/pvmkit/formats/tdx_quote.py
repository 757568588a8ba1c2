"""TDX evidence: the TDREPORT_STRUCT and the DCAP ECDSA quote, versions 4 and 5.

Bytes in, typed data out, and back (spec tdx.md §4): every structure parses into a frozen dataclass
whose :meth:`to_bytes` rebuilds the input byte for byte (lengths are recomputed from the content, and
bytes that follow a structure inside its declared length are kept as ``trailing``).

* :class:`TdReport` (1024 B, ``TDG.MR.REPORT``): :class:`ReportMacStruct` @0, :class:`TeeTcbInfo`
  @256, 17 reserved bytes @495, :class:`TdInfo` @512. Offsets as Linux ``tdx-guest.c`` (RTMR0 @720),
  *not* the quote-body offsets that confidential-os-builder #114 applied to TDREPORTs (§4.1).
* :class:`Quote`: :class:`QuoteHeader` (48 B), then for v4 a TDX 1.0 :class:`TdQuoteBody` @0x30, for
  v5 a body descriptor (type u16: 2 = TDX 1.0 body, 584 B; 3 = TDX 1.5 body, 648 B, adding
  TEE_TCB_SVN2 and MRSERVICETD; size u32) and the body @54; then ``u32`` signature-data length and
  :class:`QuoteSignatureData` (ECDSA signature, attestation key, :class:`CertificationData`: type 6 =
  :class:`QeReportCertificationData` with the QE :class:`EnclaveReport`, its signature, QE auth data
  and the inner certification data, type 5 = PCK certificate chain, PEM). Bytes after the signature
  data (some quote buffers are padded) are kept as ``Quote.trailing``.

A version or type pvmkit does not know raises :class:`~pvmkit.errors.UnsupportedVersionError`; short
input raises :class:`~pvmkit.errors.TruncatedError`. Nothing here verifies a signature.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError

__all__ = [
    "CERT_DATA_PCK_CHAIN",
    "CERT_DATA_QE_REPORT",
    "INTEL_QE_VENDOR_ID",
    "QUOTE_BODY_TDX10",
    "QUOTE_BODY_TDX15",
    "TDREPORT_SIZE",
    "TDX_TEE_TYPE",
    "CertificationData",
    "EnclaveReport",
    "QeReportCertificationData",
    "Quote",
    "QuoteHeader",
    "QuoteSignatureData",
    "ReportMacStruct",
    "TdInfo",
    "TdQuoteBody",
    "TdReport",
    "TdxQuote",
    "TeeTcbInfo",
    "parse_quote",
]

TDREPORT_SIZE = 1024
TDX_TEE_TYPE = 0x81
SGX_TEE_TYPE = 0x00
ATT_KEY_ECDSA_P256 = 2
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
QUOTE_BODY_TDX10 = 2
QUOTE_BODY_TDX15 = 3
CERT_DATA_PCK_CHAIN = 5
CERT_DATA_QE_REPORT = 6

_T = TypeVar("_T", bound="_Fixed")

# --------------------------------------------------------------------------------------------------
# fixed-layout structures: a declarative layout of (field, kind), kind = "u8"/"u16"/"u32"/"u64" or a
# byte count


_INT_FMT = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
#: Each layout's compiled struct and whether its fields are the dataclass's in order (then a parse
#: builds the instance positionally), computed once per class: a verifier parses a quote per request.
_LAYOUTS: dict[type, tuple[struct.Struct, bool]] = {}


class _Fixed:
    """Mixin for frozen dataclasses whose fields follow ``LAYOUT`` in order."""

    LAYOUT: ClassVar[tuple[tuple[str, str | int], ...]]
    NAME: ClassVar[str]

    @classmethod
    def size(cls) -> int:
        return cls._layout()[0].size

    @classmethod
    def _fmt(cls) -> str:
        return cls._layout()[0].format

    @classmethod
    def _layout(cls) -> tuple[struct.Struct, bool]:
        layout = _LAYOUTS.get(cls)
        if layout is None:
            fmt = "<" + "".join(_INT_FMT[k] if isinstance(k, str) else f"{k}s" for _, k in cls.LAYOUT)
            names = tuple(n for n, _ in cls.LAYOUT)
            in_order = names == tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
            layout = _LAYOUTS[cls] = (struct.Struct(fmt), in_order)
        return layout

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, ...]:
        """The field values at ``offset``, in ``LAYOUT`` order (TruncatedError when short)."""
        layout = cls._layout()[0]
        size = layout.size
        if offset < 0 or len(data) - offset < size:
            raise TruncatedError(
                f"{cls.NAME} needs {size} bytes, {max(0, len(data) - offset)} available",
                what=cls.NAME,
                offset=offset,
            )
        return layout.unpack_from(data, offset)

    @classmethod
    def parse(cls: type[_T], data: bytes | bytearray | memoryview, offset: int = 0) -> _T:
        values = cls.unpack(data, offset)
        if cls._layout()[1]:
            return cls(*values)
        return cls(**dict(zip((n for n, _ in cls.LAYOUT), values, strict=True)))

    def to_bytes(self) -> bytes:
        cls = type(self)
        values = []
        for name, kind in cls.LAYOUT:
            v = getattr(self, name)
            if not isinstance(kind, str) and len(v) != kind:
                raise FormatError(
                    f"{cls.NAME}.{name} must be {kind} bytes, got {len(v)}", what=f"{cls.NAME}.{name}"
                )
            values.append(v)
        return struct.pack(cls._fmt(), *values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def _sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


# --------------------------------------------------------------------------------------------------
# TDREPORT_STRUCT


@dataclass(frozen=True)
class ReportMacStruct(_Fixed):
    """REPORTMACSTRUCT (256 B) at TDREPORT offset 0."""

    report_type: int  # 0x81 = TDX
    report_subtype: int
    report_version: int  # 0 = TDX 1.0, 1 = TDX 1.5 (SERVTD_HASH valid)
    report_type_reserved: int
    reserved0: bytes  # 12
    cpu_svn: bytes  # 16 @16
    tee_tcb_info_hash: bytes  # 48 @32, SHA-384(TEE_TCB_INFO)
    tee_info_hash: bytes  # 48 @80, SHA-384(TDINFO)
    report_data: bytes  # 64 @128
    reserved1: bytes  # 32 @192
    mac: bytes  # 32 @224

    NAME = "REPORTMACSTRUCT"
    LAYOUT = (
        ("report_type", "u8"),
        ("report_subtype", "u8"),
        ("report_version", "u8"),
        ("report_type_reserved", "u8"),
        ("reserved0", 12),
        ("cpu_svn", 16),
        ("tee_tcb_info_hash", 48),
        ("tee_info_hash", 48),
        ("report_data", 64),
        ("reserved1", 32),
        ("mac", 32),
    )


@dataclass(frozen=True)
class TeeTcbInfo(_Fixed):
    """TEE_TCB_INFO (239 B) at TDREPORT offset 256. In TDX 1.0 ``tee_tcb_svn2`` is reserved (zero)."""

    valid: bytes  # 8
    tee_tcb_svn: bytes  # 16
    mr_seam: bytes  # 48
    mr_signer_seam: bytes  # 48
    attributes: bytes  # 8
    tee_tcb_svn2: bytes  # 16 (TDX 1.5)
    reserved: bytes  # 95

    NAME = "TEE_TCB_INFO"
    LAYOUT = (
        ("valid", 8),
        ("tee_tcb_svn", 16),
        ("mr_seam", 48),
        ("mr_signer_seam", 48),
        ("attributes", 8),
        ("tee_tcb_svn2", 16),
        ("reserved", 95),
    )


@dataclass(frozen=True)
class TdInfo(_Fixed):
    """TDINFO (512 B) at TDREPORT offset 512."""

    attributes: int  # u64 @512
    xfam: int  # u64 @520
    mr_td: bytes  # @528
    mr_config_id: bytes  # @576
    mr_owner: bytes  # @624
    mr_owner_config: bytes  # @672
    rtmr0: bytes  # @720
    rtmr1: bytes  # @768
    rtmr2: bytes  # @816
    rtmr3: bytes  # @864
    servtd_hash: bytes  # @912 (TDX 1.5)
    reserved: bytes  # 64 @960

    NAME = "TDINFO"
    LAYOUT = (
        ("attributes", "u64"),
        ("xfam", "u64"),
        ("mr_td", 48),
        ("mr_config_id", 48),
        ("mr_owner", 48),
        ("mr_owner_config", 48),
        ("rtmr0", 48),
        ("rtmr1", 48),
        ("rtmr2", 48),
        ("rtmr3", 48),
        ("servtd_hash", 48),
        ("reserved", 64),
    )

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)


@dataclass(frozen=True)
class TdReport:
    """TDREPORT_STRUCT (1024 B)."""

    report_mac: ReportMacStruct
    tee_tcb_info: TeeTcbInfo
    reserved: bytes  # 17 @495
    td_info: TdInfo

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> TdReport:
        data = bytes(data)
        if len(data) < TDREPORT_SIZE:
            raise TruncatedError(
                f"TDREPORT needs {TDREPORT_SIZE} bytes, {len(data)} available", what="TDREPORT", offset=0
            )
        if len(data) > TDREPORT_SIZE:
            raise FormatError(
                f"TDREPORT is {TDREPORT_SIZE} bytes, got {len(data)}", what="TDREPORT", offset=TDREPORT_SIZE
            )
        return cls(
            ReportMacStruct.parse(data, 0),
            TeeTcbInfo.parse(data, 256),
            data[495:512],
            TdInfo.parse(data, 512),
        )

    def to_bytes(self) -> bytes:
        return (
            self.report_mac.to_bytes()
            + self.tee_tcb_info.to_bytes()
            + self.reserved
            + self.td_info.to_bytes()
        )

    build = to_bytes

    @property
    def is_tdx(self) -> bool:
        return self.report_mac.report_type == TDX_TEE_TYPE

    @property
    def tee_info_hash_ok(self) -> bool:
        """TEE_INFO_HASH == SHA-384(TDINFO) (the 512-byte TDINFO)."""
        return self.report_mac.tee_info_hash == _sha384(self.td_info.to_bytes())

    @property
    def tee_tcb_info_hash_ok(self) -> bool:
        """TEE_TCB_INFO_HASH == SHA-384(TEE_TCB_INFO) (the 239-byte TEE_TCB_INFO)."""
        return self.report_mac.tee_tcb_info_hash == _sha384(self.tee_tcb_info.to_bytes())

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return self.td_info.rtmrs


# --------------------------------------------------------------------------------------------------
# quote


@dataclass(frozen=True)
class QuoteHeader(_Fixed):
    """Quote header (48 B). For TDX, bytes 8..11 are reserved; go-tdx-guest names them PceSvn, QeSvn."""

    version: int
    att_key_type: int
    tee_type: int
    pce_svn: int
    qe_svn: int
    qe_vendor_id: bytes  # 16
    user_data: bytes  # 20

    NAME = "QuoteHeader"
    LAYOUT = (
        ("version", "u16"),
        ("att_key_type", "u16"),
        ("tee_type", "u32"),
        ("pce_svn", "u16"),
        ("qe_svn", "u16"),
        ("qe_vendor_id", 16),
        ("user_data", 20),
    )


@dataclass(frozen=True)
class _Body10(_Fixed):
    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: int
    td_attributes: int
    xfam: int
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes

    NAME = "TD quote body"
    LAYOUT = (
        ("tee_tcb_svn", 16),
        ("mr_seam", 48),
        ("mr_signer_seam", 48),
        ("seam_attributes", "u64"),
        ("td_attributes", "u64"),
        ("xfam", "u64"),
        ("mr_td", 48),
        ("mr_config_id", 48),
        ("mr_owner", 48),
        ("mr_owner_config", 48),
        ("rtmr0", 48),
        ("rtmr1", 48),
        ("rtmr2", 48),
        ("rtmr3", 48),
        ("report_data", 64),
    )


@dataclass(frozen=True)
class _Body15Tail(_Fixed):
    tee_tcb_svn2: bytes
    mr_service_td: bytes

    NAME = "TD quote body 1.5"
    LAYOUT = (("tee_tcb_svn2", 16), ("mr_service_td", 48))


@dataclass(frozen=True)
class TdQuoteBody:
    """The TD quote body: TDX 1.0 (584 B) or, with ``tee_tcb_svn2`` and ``mr_service_td``, TDX 1.5
    (648 B, v5 body type 3). Offsets (1.0 part) per spec §4.2; the 1.5 tail starts at 0x248."""

    tee_tcb_svn: bytes  # 0x000
    mr_seam: bytes  # 0x010
    mr_signer_seam: bytes  # 0x040
    seam_attributes: int  # 0x070 u64
    td_attributes: int  # 0x078 u64
    xfam: int  # 0x080 u64
    mr_td: bytes  # 0x088
    mr_config_id: bytes  # 0x0B8
    mr_owner: bytes  # 0x0E8
    mr_owner_config: bytes  # 0x118
    rtmr0: bytes  # 0x148
    rtmr1: bytes  # 0x178
    rtmr2: bytes  # 0x1A8
    rtmr3: bytes  # 0x1D8
    report_data: bytes  # 0x208
    tee_tcb_svn2: bytes | None = None  # 0x248 (1.5)
    mr_service_td: bytes | None = None  # 0x258 (1.5)

    SIZE_10: ClassVar[int] = 584
    SIZE_15: ClassVar[int] = 648

    @classmethod
    def parse(cls, data: bytes, offset: int = 0, *, tdx15: bool = False) -> TdQuoteBody:
        # the fields of _Body10 then _Body15Tail are this class's, in order (a unit test keeps them so)
        base = _Body10.unpack(data, offset)
        if not tdx15:
            return cls(*base)
        return cls(*base, *_Body15Tail.unpack(data, offset + cls.SIZE_10))

    @property
    def is_tdx15(self) -> bool:
        return self.tee_tcb_svn2 is not None

    @property
    def size(self) -> int:
        return self.SIZE_15 if self.is_tdx15 else self.SIZE_10

    def to_bytes(self) -> bytes:
        d = {f.name: getattr(self, f.name) for f in fields(_Body10)}
        out = _Body10(**d).to_bytes()
        if self.tee_tcb_svn2 is not None or self.mr_service_td is not None:
            out += _Body15Tail(self.tee_tcb_svn2 or b"", self.mr_service_td or b"").to_bytes()
        return out

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)


@dataclass(frozen=True)
class EnclaveReport(_Fixed):
    """SGX enclave report body (384 B): the QE report inside the certification data."""

    cpu_svn: bytes
    misc_select: int
    reserved1: bytes
    attributes: bytes
    mr_enclave: bytes
    reserved2: bytes
    mr_signer: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes

    NAME = "QE report"
    LAYOUT = (
        ("cpu_svn", 16),
        ("misc_select", "u32"),
        ("reserved1", 28),
        ("attributes", 16),
        ("mr_enclave", 32),
        ("reserved2", 32),
        ("mr_signer", 32),
        ("reserved3", 96),
        ("isv_prod_id", "u16"),
        ("isv_svn", "u16"),
        ("reserved4", 60),
        ("report_data", 64),
    )


def _slice(data: bytes, offset: int, size: int, what: str) -> bytes:
    if size < 0 or offset + size > len(data):
        raise TruncatedError(
            f"{what} needs {size} bytes, {max(0, len(data) - offset)} available", what=what, offset=offset
        )
    return data[offset : offset + size]


def _u16(data: bytes, offset: int, what: str) -> int:
    value: int = struct.unpack("<H", _slice(data, offset, 2, what))[0]
    return value


def _u32(data: bytes, offset: int, what: str) -> int:
    value: int = struct.unpack("<I", _slice(data, offset, 4, what))[0]
    return value


@dataclass(frozen=True)
class CertificationData:
    """``type u16 | size u32 | data``. Type 6: ``qe_report`` holds the parsed QE report certification
    data; type 5: ``data`` is the PEM PCK certificate chain (see :attr:`pem_certificates`)."""

    cert_type: int
    data: bytes
    qe_report: QeReportCertificationData | None = None

    @classmethod
    def parse(cls, data: bytes, offset: int = 0, base: int = 0) -> CertificationData:
        ctype = _u16(data, offset, "CertificationData.type")
        size = _u32(data, offset + 2, "CertificationData.size")
        body = _slice(data, offset + 6, size, f"certification data (type {ctype})")
        qe = (
            QeReportCertificationData.parse(body, base + offset + 6) if ctype == CERT_DATA_QE_REPORT else None
        )
        return cls(ctype, body, qe)

    def to_bytes(self) -> bytes:
        body = self.qe_report.to_bytes() if self.qe_report is not None else self.data
        return struct.pack("<HI", self.cert_type, len(body)) + body

    @property
    def size(self) -> int:
        return len(self.to_bytes()) - 6

    @property
    def pem_certificates(self) -> tuple[bytes, ...]:
        """The PEM certificates of a type-5 chain (leaf first, as the QE writes them)."""
        end = b"-----END CERTIFICATE-----"
        out = []
        for chunk in self.data.split(end):
            start = chunk.find(b"-----BEGIN CERTIFICATE-----")
            if start >= 0:
                out.append(chunk[start:] + end + b"\n")
        return tuple(out)


@dataclass(frozen=True)
class QeReportCertificationData:
    """Certification data type 6: QE report, its ECDSA signature, QE auth data, inner cert data."""

    qe_report: EnclaveReport
    qe_report_signature: bytes  # 64
    qe_auth_data: bytes
    certification_data: CertificationData
    trailing: bytes = b""

    @classmethod
    def parse(cls, data: bytes, base: int = 0) -> QeReportCertificationData:
        """Parse; cached by content (bytes and base offset, :data:`QE_CERT_DATA_CACHE_SIZE` entries):
        every quote of a platform carries the same QE report, signature, auth data and PCK chain, and
        the result is immutable."""
        return _parse_qe_cert_data(bytes(data), base)

    @classmethod
    def _parse(cls, data: bytes, base: int) -> QeReportCertificationData:
        try:
            report = EnclaveReport.parse(data, 0)
            sig = _slice(data, 384, 64, "QE report signature")
            auth_len = _u16(data, 448, "QE auth data size")
            auth = _slice(data, 450, auth_len, "QE auth data")
            inner = CertificationData.parse(data, 450 + auth_len, base)
        except TruncatedError as exc:
            raise TruncatedError(
                f"QE report certification data: {exc}",
                what=exc.what,
                offset=None if exc.offset is None else base + exc.offset,
            ) from None
        end = 450 + auth_len + 6 + len(inner.data)
        return cls(report, sig, auth, inner, data[end:])

    def to_bytes(self) -> bytes:
        return (
            self.qe_report.to_bytes()
            + self.qe_report_signature
            + struct.pack("<H", len(self.qe_auth_data))
            + self.qe_auth_data
            + self.certification_data.to_bytes()
            + self.trailing
        )


#: How many distinct QE report certification data (one per platform and QE) parses are kept.
QE_CERT_DATA_CACHE_SIZE = 64


@functools.lru_cache(maxsize=QE_CERT_DATA_CACHE_SIZE)
def _parse_qe_cert_data(data: bytes, base: int) -> QeReportCertificationData:
    return QeReportCertificationData._parse(data, base)


@dataclass(frozen=True)
class QuoteSignatureData:
    """ECDSA-256 quote signature data (v4 layout, also used by v5): signature over header ‖ body,
    attestation public key (raw x ‖ y), certification data."""

    signature: bytes  # 64
    attestation_key: bytes  # 64
    certification_data: CertificationData
    trailing: bytes = b""

    @classmethod
    def parse(cls, data: bytes, base: int = 0) -> QuoteSignatureData:
        sig = _slice(data, 0, 64, "quote signature")
        key = _slice(data, 64, 64, "attestation key")
        try:
            cert = CertificationData.parse(data, 128, base)
        except TruncatedError as exc:
            raise TruncatedError(
                f"quote signature data: {exc}",
                what=exc.what,
                offset=None if exc.offset is None else base + exc.offset,
            ) from None
        end = 128 + 6 + len(cert.data)
        return cls(sig, key, cert, data[end:])

    def to_bytes(self) -> bytes:
        return self.signature + self.attestation_key + self.certification_data.to_bytes() + self.trailing

    @property
    def qe_report(self) -> QeReportCertificationData | None:
        return self.certification_data.qe_report

    @property
    def pck_chain(self) -> CertificationData | None:
        qe = self.certification_data.qe_report
        if qe is not None:
            return qe.certification_data
        if self.certification_data.cert_type == CERT_DATA_PCK_CHAIN:
            return self.certification_data
        return None


@dataclass(frozen=True)
class Quote:
    """A TDX quote, version 4 or 5.

    ``body_type`` is None for v4 (the body is always TDX 1.0) and the v5 descriptor's type otherwise.
    """

    header: QuoteHeader
    body: TdQuoteBody
    signature_data: QuoteSignatureData
    body_type: int | None = None
    trailing: bytes = b""

    HEADER_SIZE: ClassVar[int] = 48

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def body_offset(self) -> int:
        return 48 if self.body_type is None else 54

    @property
    def body_size(self) -> int:
        return self.body.size

    @property
    def signature_data_len(self) -> int:
        return len(self.signature_data.to_bytes())

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return self.body.rtmrs

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Quote:
        data = bytes(data)
        header = QuoteHeader.parse(data, 0)
        if header.version not in (4, 5):
            raise UnsupportedVersionError(
                f"unsupported TDX quote version {header.version} (pvmkit reads versions 4 and 5)",
                what="Quote.version",
                offset=0,
            )
        if header.tee_type != TDX_TEE_TYPE:
            raise UnsupportedVersionError(
                f"quote TEE type {header.tee_type:#x} is not TDX (0x81)", what="Quote.tee_type", offset=4
            )
        body_type: int | None = None
        if header.version == 4:
            body = TdQuoteBody.parse(data, 48)
            pos = 48 + TdQuoteBody.SIZE_10
        else:
            body_type = _u16(data, 48, "quote v5 body type")
            body_size = _u32(data, 50, "quote v5 body size")
            expected = {QUOTE_BODY_TDX10: TdQuoteBody.SIZE_10, QUOTE_BODY_TDX15: TdQuoteBody.SIZE_15}
            if body_type not in expected:
                raise UnsupportedVersionError(
                    f"unsupported quote v5 body type {body_type} (pvmkit reads 2 = TDX 1.0, 3 = TDX 1.5)",
                    what="Quote.body_type",
                    offset=48,
                )
            if body_size != expected[body_type]:
                raise FormatError(
                    f"quote v5 body type {body_type} has size {expected[body_type]}, "
                    f"descriptor says {body_size}",
                    what="Quote.body_size",
                    offset=50,
                )
            body = TdQuoteBody.parse(data, 54, tdx15=body_type == QUOTE_BODY_TDX15)
            pos = 54 + body_size
        sig_len = _u32(data, pos, "quote signature data length")
        sig_raw = _slice(data, pos + 4, sig_len, "quote signature data")
        sig = QuoteSignatureData.parse(sig_raw, pos + 4)
        return cls(header, body, sig, body_type, data[pos + 4 + sig_len :])

    def to_bytes(self) -> bytes:
        out = self.header.to_bytes()
        body = self.body.to_bytes()
        if self.body_type is not None:
            out += struct.pack("<HI", self.body_type, len(body))
        sig = self.signature_data.to_bytes()
        return out + body + struct.pack("<I", len(sig)) + sig + self.trailing

    build = to_bytes

    def signed_bytes(self) -> bytes:
        """The bytes the attestation key signs: header ‖ (v5: body descriptor ‖) body."""
        out = self.header.to_bytes()
        body = self.body.to_bytes()
        if self.body_type is not None:
            out += struct.pack("<HI", self.body_type, len(body))
        return out + body

    def qe_report_binds_key(self) -> bool | None:
        """DCAP: the QE report's REPORTDATA[0:32] = SHA-256(attestation key ‖ QE auth data) and
        REPORTDATA[32:64] = 0. None when the quote has no QE report certification data."""
        qe = self.signature_data.qe_report
        if qe is None:
            return None
        want = hashlib.sha256(self.signature_data.attestation_key + qe.qe_auth_data).digest() + bytes(32)
        return qe.qe_report.report_data == want


def parse_quote(data: bytes | bytearray | memoryview) -> Quote:
    """:meth:`Quote.parse`."""
    return Quote.parse(data)


#: The name :class:`Quote` has in the flat ``pvmkit`` namespace.
TdxQuote = Quote
