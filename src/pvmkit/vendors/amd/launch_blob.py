"""The SEV / SEV-ES LAUNCH_MEASURE blob (spec amd.md §2.2).

The firmware returns 48 bytes: ``MEASURE(32) || MNONCE(16)`` where

    MEASURE = HMAC-SHA256(key = TIK, msg = 0x04 || API_MAJOR || API_MINOR || BUILD || POLICY (u32 LE)
                                             || LD (32) || MNONCE (16))

(QEMU ``query-sev-launch-measure`` gives the base64 of these 48 bytes). TIK is the guest owner's
16-byte transport integrity key; API version and build come from the platform status.
"""

from __future__ import annotations

import hashlib
import hmac

from pvmkit.errors import InputError, VerificationError

__all__ = ["BLOB_SIZE", "check_launch_measure", "launch_measure_blob", "launch_measure_mac"]

BLOB_SIZE = 48
_CONTEXT = 0x04


def _check(
    tik: bytes, ld: bytes, mnonce: bytes, policy: int, api_major: int, api_minor: int, build: int
) -> None:
    if len(tik) != 16:
        raise InputError(f"TIK must be 16 bytes, got {len(tik)}")
    if len(ld) != 32:
        raise InputError(f"SEV launch digest must be 32 bytes, got {len(ld)}")
    if len(mnonce) != 16:
        raise InputError(f"MNONCE must be 16 bytes, got {len(mnonce)}")
    if not 0 <= policy < 1 << 32:
        raise InputError(f"SEV policy {policy:#x} does not fit in 32 bits")
    for name, v in (("API major", api_major), ("API minor", api_minor), ("build", build)):
        if not 0 <= v <= 0xFF:
            raise InputError(f"{name} {v} does not fit in a byte")


def launch_measure_mac(
    tik: bytes, ld: bytes, mnonce: bytes, *, policy: int, api_major: int, api_minor: int, build: int
) -> bytes:
    """The 32-byte MEASURE HMAC."""
    _check(tik, ld, mnonce, policy, api_major, api_minor, build)
    msg = bytes((_CONTEXT, api_major, api_minor, build)) + policy.to_bytes(4, "little") + ld + mnonce
    return hmac.new(tik, msg, hashlib.sha256).digest()


def launch_measure_blob(
    tik: bytes, ld: bytes, mnonce: bytes, *, policy: int, api_major: int, api_minor: int, build: int
) -> bytes:
    """The 48-byte LAUNCH_MEASURE blob ``MEASURE || MNONCE``."""
    mac = launch_measure_mac(
        tik, ld, mnonce, policy=policy, api_major=api_major, api_minor=api_minor, build=build
    )
    return mac + mnonce


def check_launch_measure(
    blob: bytes, tik: bytes, ld: bytes, *, policy: int, api_major: int, api_minor: int, build: int
) -> None:
    """Verify a blob a host returned against the expected launch digest; VerificationError if not."""
    if len(blob) != BLOB_SIZE:
        raise InputError(f"a LAUNCH_MEASURE blob is {BLOB_SIZE} bytes, got {len(blob)}")
    mnonce = blob[32:]
    expected = launch_measure_mac(
        tik, ld, mnonce, policy=policy, api_major=api_major, api_minor=api_minor, build=build
    )
    if not hmac.compare_digest(expected, blob[:32]):
        raise VerificationError(
            "LAUNCH_MEASURE does not match: the launch digest, policy, API version or TIK differ",
            field="measure",
            expected=expected.hex(),
            actual=blob[:32].hex(),
        )
