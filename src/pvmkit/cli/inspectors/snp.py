"""SEV-SNP attestation reports for ``pvmkit inspect`` (fields as the report layout names them)."""

from __future__ import annotations

from pvmkit.attest import snp_report
from pvmkit.cli.inspectors.registry import Inspector, register

__all__: list[str] = []

register(
    Inspector(
        "snp-report",
        "SEV-SNP attestation report (1184 bytes)",
        # VERSION 2..5 (SEV-SNP ABI spec, ATTESTATION_REPORT), the size of a report
        lambda data: len(data) == 1184 and int.from_bytes(data[0:4], "little") in (2, 3, 4, 5),
        snp_report.parse,
    ),
    rank=60,
)
