"""SGX DCAP ECDSA quotes, version 3, and one entry point for every DCAP quote pvmkit reads.

Layout (Intel SGX DCAP ``sgx_quote_3.h``; Intel "SGX ECDSA Quote Library API", appendix A.4):

* header (48 B): version u16 = 3, att_key_type u16 = 2 (ECDSA P-256), 4 reserved bytes (0: the TEE
  type of later versions, SGX), QE SVN u16 @8, PCE SVN u16 @10, QE vendor ID (16 B), user data (20 B);
* the ISV enclave report body (``sgx_report_body_t``, 384 B) @48 — the same layout as the QE report,
  :class:`~pvmkit.formats.tdx_quote.EnclaveReport`;
* u32 signature-data length @432, then the ECDSA signature data: signature (64 B, r ‖ s over header ‖
  body), attestation public key (64 B, x ‖ y), and — with no type-6 wrapper, unlike v4/v5 — the QE
  report, its signature, the QE auth data and the certification data (type 5: the PCK chain), which is
  exactly the layout of :class:`~pvmkit.formats.tdx_quote.QeReportCertificationData`.

:func:`parse_dcap_quote` reads an SGX v3 quote or a TDX v4/v5 quote (``tee_type`` 0x81) and returns
:class:`SgxQuote` or :class:`~pvmkit.formats.tdx_quote.Quote`. Nothing here verifies a signature.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.tdx_quote import (
    TDX_TEE_TYPE,
    CertificationData,
    EnclaveReport,
    QeReportCertificationData,
    Quote,
    QuoteHeader,
)

__all__ = ["SGX_QUOTE_VERSION", "SgxQuote", "SgxSignatureData", "parse_dcap_quote"]

SGX_QUOTE_VERSION = 3
_HEADER = 48
_BODY = 384


@dataclass(frozen=True)
class SgxSignatureData:
    """ECDSA-256 signature data of a v3 quote: signature, attestation key, then the QE report
    certification data inline (QE report, its signature, QE auth data, PCK certification data)."""

    signature: bytes  # 64
    attestation_key: bytes  # 64
    qe_report: QeReportCertificationData

    @classmethod
    def parse(cls, data: bytes, base: int = 0) -> SgxSignatureData:
        if len(data) < 128:
            raise TruncatedError(
                f"SGX quote signature data needs at least 128 bytes, {len(data)} available",
                what="quote signature data",
                offset=base,
            )
        return cls(data[:64], data[64:128], QeReportCertificationData.parse(data[128:], base + 128))

    def to_bytes(self) -> bytes:
        return self.signature + self.attestation_key + self.qe_report.to_bytes()

    @property
    def pck_chain(self) -> CertificationData:
        return self.qe_report.certification_data


@dataclass(frozen=True)
class SgxQuote:
    """An SGX ECDSA quote, version 3: header, ISV enclave report body, signature data."""

    header: QuoteHeader
    body: EnclaveReport
    signature_data: SgxSignatureData
    trailing: bytes = b""

    body_offset: ClassVar[int] = _HEADER
    body_size: ClassVar[int] = _BODY

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def qe_svn(self) -> int:
        """Header bytes 8..9 (``QuoteHeader.pce_svn`` by the v4 field names)."""
        return self.header.pce_svn

    @property
    def pce_svn(self) -> int:
        """Header bytes 10..11 (``QuoteHeader.qe_svn`` by the v4 field names)."""
        return self.header.qe_svn

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> SgxQuote:
        data = bytes(data)
        header = QuoteHeader.parse(data, 0)
        if header.version != SGX_QUOTE_VERSION:
            raise UnsupportedVersionError(
                f"unsupported SGX quote version {header.version} (pvmkit reads version 3)",
                what="Quote.version",
                offset=0,
            )
        if header.tee_type != 0:
            raise FormatError(
                f"SGX v3 quote header bytes 4..7 are reserved (0), got {header.tee_type:#x}",
                what="Quote.reserved",
                offset=4,
            )
        body = EnclaveReport.parse(data, _HEADER)
        pos = _HEADER + _BODY
        if len(data) < pos + 4:
            raise TruncatedError(
                "quote signature data length needs 4 bytes", what="quote signature data length", offset=pos
            )
        (sig_len,) = struct.unpack_from("<I", data, pos)
        if len(data) < pos + 4 + sig_len:
            raise TruncatedError(
                f"quote signature data needs {sig_len} bytes, {len(data) - pos - 4} available",
                what="quote signature data",
                offset=pos + 4,
            )
        sig = SgxSignatureData.parse(data[pos + 4 : pos + 4 + sig_len], pos + 4)
        return cls(header, body, sig, data[pos + 4 + sig_len :])

    def signed_bytes(self) -> bytes:
        """The bytes the attestation key signs: header ‖ ISV enclave report body."""
        return self.header.to_bytes() + self.body.to_bytes()

    def to_bytes(self) -> bytes:
        sig = self.signature_data.to_bytes()
        return self.signed_bytes() + struct.pack("<I", len(sig)) + sig + self.trailing


def parse_dcap_quote(data: bytes | bytearray | memoryview) -> Quote | SgxQuote:
    """An SGX v3 quote (:class:`SgxQuote`) or a TDX v4/v5 quote (:class:`Quote`), by the header."""
    raw = bytes(data)
    if len(raw) < _HEADER:
        QuoteHeader.parse(raw, 0)  # raises TruncatedError naming the header
    version, _att_key_type, tee_type = struct.unpack_from("<HHI", raw, 0)  # the header's first fields
    if version == SGX_QUOTE_VERSION:
        return SgxQuote.parse(raw)
    if version in (4, 5) and tee_type == TDX_TEE_TYPE:
        return Quote.parse(raw)
    raise UnsupportedVersionError(
        f"unsupported DCAP quote: version {version}, TEE type {tee_type:#x} "
        "(pvmkit reads SGX version 3 and TDX versions 4 and 5)",
        what="Quote.version",
        offset=0,
    )
