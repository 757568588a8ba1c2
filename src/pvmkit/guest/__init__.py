"""pvmkit's bundled guest: a 256-byte 32-bit program that fetches a software attestation report and
prints its MEASUREMENT (source ``attest.S`` next to this file; docs/sw-vm.md "The bundled guest").

Boot protocol (the VMSA in the plan sets it, :func:`pvmkit.vendors.sw.builder.flat_binary_plan`):
32-bit flat protected mode, EIP = load address (the code is position independent), ESI = GPA of the
shared page, ESP = top of the stack page. The host puts :data:`NONCE_SIZE` nonce bytes at
:data:`NONCE_OFFSET` of the shared page; the guest asks for a report with
REPORT_DATA = nonce ‖ :data:`TAG` (:func:`report_data_for`) and prints ``measurement=<hex>``.
"""

from __future__ import annotations

import re
from importlib import resources

from pvmkit.errors import FormatError, InputError

__all__ = [
    "NONCE_OFFSET",
    "NONCE_SIZE",
    "TAG",
    "attest_guest",
    "parse_guest_output",
    "report_data_for",
]

NONCE_OFFSET = 0xF00
NONCE_SIZE = 32
TAG = b"pvmkit-sw-attest-guest/v1".ljust(32, b"\0")

_cache: bytes | None = None


def attest_guest() -> bytes:
    """The bundled guest's flat binary (``attest.bin``, built from ``attest.S``)."""
    global _cache
    if _cache is None:
        _cache = resources.files(__name__).joinpath("attest.bin").read_bytes()
    return _cache


def report_data_for(nonce: bytes) -> bytes:
    """The REPORT_DATA the bundled guest asks for given the host's nonce: nonce ‖ TAG (64 bytes)."""
    if len(nonce) != NONCE_SIZE:
        raise InputError(f"the nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    return bytes(nonce) + TAG


_LINE = re.compile(rb"measurement=([0-9a-f]{96})\n")
_FAIL = re.compile(rb"attestation failed: status=([0-9a-f]{8})\n")


def parse_guest_output(serial: bytes) -> bytes:
    """The MEASUREMENT the guest printed; FormatError if it printed a failure or nothing usable."""
    m = _LINE.search(serial)
    if m:
        return bytes.fromhex(m.group(1).decode())
    f = _FAIL.search(serial)
    if f:
        status = int.from_bytes(bytes.fromhex(f.group(1).decode()), "little")
        raise FormatError(
            f"the guest's attestation request failed with status {status:#x}", what="guest output"
        )
    raise FormatError("the guest printed no measurement line", what="guest output")
