"""What a sw VM's FINALIZE fixes and its attestation reports carry (pure; docs/sw-vm.md).

:class:`LaunchRecord` holds the SNP report fields that come from the launch (spec amd.md §4.4/§4.5):
MEASUREMENT (the launch digest), POLICY (from INIT), HOST_DATA, and from the optional ID block /
ID auth: FAMILY_ID, IMAGE_ID, GUEST_SVN, ID_KEY_DIGEST, AUTHOR_KEY_DIGEST (only with auth_key_en).
:class:`ReportService` is what the machine asks for a signed report.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Protocol

from pvmkit.plan import Finalize, Init

__all__ = [
    "ID_AUTH_AUTHOR_KEY",
    "ID_AUTH_ID_KEY",
    "KEY_SIZE",
    "LaunchRecord",
    "ReportService",
    "launch_record",
]

ID_AUTH_ID_KEY = 0x240  #: ID_AUTH_INFO offset of ID_KEY (spec amd.md §4.4)
ID_AUTH_AUTHOR_KEY = 0x880  #: ID_AUTH_INFO offset of AUTHOR_KEY
KEY_SIZE = 1028  #: SEV public key structure size


@dataclass(frozen=True)
class LaunchRecord:
    measurement: bytes
    policy: int
    vmsa_features: int  #: the SEV_FEATURES value (SNPActive included)
    host_data: bytes = bytes(32)
    family_id: bytes = bytes(16)
    image_id: bytes = bytes(16)
    guest_svn: int = 0
    id_key_digest: bytes = bytes(48)
    author_key_digest: bytes = bytes(48)
    author_key_en: bool = False
    report_id: bytes = bytes(32)  #: random per launch, like the SNP firmware's REPORT_ID


class ReportService(Protocol):
    """Produces a signed 1184-byte SNP-layout report for a launch (raise AttestationError if not)."""

    def report(self, launch: LaunchRecord, report_data: bytes, vmpl: int = 0) -> bytes: ...


def launch_record(init: Init, finalize: Finalize, measurement: bytes, report_id: bytes) -> LaunchRecord:
    """The record of a finished launch (the ID block is assumed checked by the caller)."""
    family_id, image_id, guest_svn = bytes(16), bytes(16), 0
    id_key_digest, author_key_digest = bytes(48), bytes(48)
    if finalize.id_block is not None and finalize.id_auth is not None:
        block, auth = finalize.id_block, finalize.id_auth
        family_id, image_id = bytes(block[0x30:0x40]), bytes(block[0x40:0x50])
        (guest_svn,) = struct.unpack_from("<I", block, 0x54)
        id_key_digest = hashlib.sha384(auth[ID_AUTH_ID_KEY : ID_AUTH_ID_KEY + KEY_SIZE]).digest()
        if finalize.auth_key_en:
            author_key_digest = hashlib.sha384(
                auth[ID_AUTH_AUTHOR_KEY : ID_AUTH_AUTHOR_KEY + KEY_SIZE]
            ).digest()
    return LaunchRecord(
        measurement=bytes(measurement),
        policy=init.policy,
        vmsa_features=init.sev_features,
        host_data=bytes(finalize.host_data),
        family_id=family_id,
        image_id=image_id,
        guest_svn=guest_svn,
        id_key_digest=id_key_digest,
        author_key_digest=author_key_digest,
        author_key_en=bool(finalize.auth_key_en and finalize.id_block is not None),
        report_id=bytes(report_id),
    )
