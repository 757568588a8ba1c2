"""The sw VM's attestation service: SNP-layout reports signed by the software VCEK (docs/sw-vm.md).

:class:`SoftwareReportService` implements :class:`~pvmkit.vendors.sw.launch_record.ReportService` over
:class:`pvmkit.attest.software_ca.SoftwareAttestationKeys`. Report fields: VERSION 3, POLICY,
FAMILY_ID, IMAGE_ID, GUEST_SVN, HOST_DATA, ID_KEY_DIGEST, AUTHOR_KEY_DIGEST (and AUTHOR_KEY_EN),
REPORT_ID from the launch; MEASUREMENT = the launch digest; REPORT_DATA and VMPL from the guest's
request; CHIP_ID and the TCB fields from the software VCEK certificate; SIGNING_KEY 0 (VCEK);
REPORT_ID_MA all 0xFF (no migration agent); PLATFORM_INFO 0.
"""

from __future__ import annotations

from typing import Any

from pvmkit.attest.snp_report import SnpReport
from pvmkit.errors import AttestationError
from pvmkit.vendors.sw.launch_record import LaunchRecord

__all__ = ["SoftwareReportService", "build_report"]


def build_report(launch: LaunchRecord, report_data: bytes, vmpl: int = 0) -> SnpReport:
    """The unsigned report for a launch and a request."""
    if len(report_data) != 64:
        raise AttestationError(f"REPORT_DATA must be 64 bytes, got {len(report_data)}")
    return SnpReport(
        version=3,
        guest_svn=launch.guest_svn,
        policy=launch.policy,
        family_id=launch.family_id,
        image_id=launch.image_id,
        vmpl=vmpl,
        author_key_en=launch.author_key_en,
        report_data=bytes(report_data),
        measurement=launch.measurement,
        host_data=launch.host_data,
        id_key_digest=launch.id_key_digest,
        author_key_digest=launch.author_key_digest,
        report_id=launch.report_id,
    )


class SoftwareReportService:
    """Signs reports with a :class:`~pvmkit.attest.software_ca.SoftwareAttestationKeys` set."""

    def __init__(self, keys: Any) -> None:
        self.keys = keys

    def report(self, launch: LaunchRecord, report_data: bytes, vmpl: int = 0) -> bytes:
        signed: bytes = self.keys.sign_report(build_report(launch, report_data, vmpl))
        return signed
