"""The software-protected VM's guest ↔ host interface (docs/sw-vm.md "Attestation interface").

Pure constants and codecs, shared by the machine (host side), the bundled guest (``attest.S``, which
repeats the numbers) and tests.

* Serial output: byte ``OUT`` to :data:`SERIAL_PORT` (0x3F8, COM1's data register).
* Attestation request: the guest writes the GPA of a 4 KiB *shared* page (an ``UNMEASURED`` page of
  the launch plan) with a 32-bit ``OUT`` to :data:`ATTEST_PORT`. The page holds a request at offset
  0 in the layout of SNP ``MSG_REPORT_REQ`` (SNP ABI 56860 "MSG_REPORT_REQ"; Linux
  ``struct snp_report_req``)::

      0x000  REPORT_DATA[64]
      0x040  VMPL u32             (must be 0: a sw guest runs at VMPL0)
      0x044  reserved[28]         (must be 0)

  The host answers in the same page at :data:`RESPONSE_OFFSET` in the layout of ``MSG_REPORT_RSP``
  (Linux ``struct snp_report_resp`` data)::

      0x800  STATUS u32           (0 success, else a SEV_RET_* code, see below)
      0x804  REPORT_SIZE u32      (1184 on success, else 0)
      0x808  reserved[24]
      0x820  REPORT[1184]         (SNP attestation report layout, spec amd.md §4.5)

  then resumes the guest after the ``OUT``. Status codes: :data:`STATUS_SUCCESS`,
  :data:`STATUS_INVALID_PARAM` (VMPL ≠ 0 or reserved bytes set), :data:`STATUS_UNSUPPORTED` (the
  machine was started without an attestation service). A GPA that is not the start of a shared page
  gets no answer at all (the host must not write anywhere else); the guest sees its own STATUS.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.plan import PAGE_SIZE

__all__ = [
    "ATTEST_PORT",
    "REPORT_SIZE",
    "REQUEST_OFFSET",
    "REQUEST_SIZE",
    "RESPONSE_HEADER_SIZE",
    "RESPONSE_OFFSET",
    "SERIAL_PORT",
    "STATUS_INVALID_PARAM",
    "STATUS_SUCCESS",
    "STATUS_UNSUPPORTED",
    "ReportRequest",
    "build_response",
    "parse_request",
    "parse_response",
]

SERIAL_PORT = 0x3F8
ATTEST_PORT = 0xA77

REQUEST_OFFSET = 0x000
REQUEST_SIZE = 96  # report_data[64] + vmpl u32 + reserved[28]
RESPONSE_OFFSET = 0x800
RESPONSE_HEADER_SIZE = 32  # status u32 + report_size u32 + reserved[24]
REPORT_SIZE = 0x4A0  # 1184, spec amd.md §4.5 (equal to pvmkit.attest.snp_report.REPORT_SIZE)

# SEV_RET_* values (linux/psp-sev.h), as the SNP firmware reports them in MSG_REPORT_RSP.STATUS
STATUS_SUCCESS = 0x00
STATUS_UNSUPPORTED = 0x15
STATUS_INVALID_PARAM = 0x16

assert RESPONSE_OFFSET + RESPONSE_HEADER_SIZE + REPORT_SIZE <= PAGE_SIZE
assert REQUEST_OFFSET + REQUEST_SIZE <= RESPONSE_OFFSET


@dataclass(frozen=True)
class ReportRequest:
    report_data: bytes
    vmpl: int
    reserved_ok: bool

    @property
    def valid(self) -> bool:
        return self.vmpl == 0 and self.reserved_ok


def parse_request(page: bytes | bytearray | memoryview) -> ReportRequest:
    """The request at the start of a shared page (at least :data:`REQUEST_SIZE` bytes)."""
    if len(page) < REQUEST_OFFSET + REQUEST_SIZE:
        raise TruncatedError("attestation request is 96 bytes", what="MSG_REPORT_REQ", offset=0)
    raw = bytes(page[REQUEST_OFFSET : REQUEST_OFFSET + REQUEST_SIZE])
    (vmpl,) = struct.unpack_from("<I", raw, 64)
    return ReportRequest(report_data=raw[:64], vmpl=vmpl, reserved_ok=not any(raw[68:96]))


def build_response(status: int, report: bytes = b"") -> bytes:
    """The response block (header + report) the host writes at :data:`RESPONSE_OFFSET`."""
    if report and len(report) != REPORT_SIZE:
        raise FormatError(f"a report is {REPORT_SIZE} bytes, got {len(report)}", what="report")
    header = struct.pack("<II24x", status, len(report))
    return header + (report or bytes(REPORT_SIZE))


def parse_response(page: bytes | bytearray | memoryview) -> tuple[int, bytes]:
    """(STATUS, REPORT) from a whole shared page; REPORT is empty unless STATUS is success."""
    if len(page) < PAGE_SIZE:
        raise TruncatedError("a shared page is 4096 bytes", what="MSG_REPORT_RSP", offset=len(page))
    status, size = struct.unpack_from("<II", page, RESPONSE_OFFSET)
    if status != STATUS_SUCCESS:
        return status, b""
    if size != REPORT_SIZE:
        raise FormatError(
            f"response REPORT_SIZE {size}, expected {REPORT_SIZE}",
            what="MSG_REPORT_RSP",
            offset=RESPONSE_OFFSET + 4,
        )
    start = RESPONSE_OFFSET + RESPONSE_HEADER_SIZE
    return status, bytes(page[start : start + REPORT_SIZE])
