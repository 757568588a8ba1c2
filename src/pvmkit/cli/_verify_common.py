"""Helpers shared by the ``pvmkit verify`` evidence kinds (:mod:`pvmkit.cli.verify_snp`,
:mod:`pvmkit.cli.verify_tdx`, ...): times, ``--expect`` predictions, expected-value merging and the
rendering of a :class:`~pvmkit.attest.result.CheckList`."""

from __future__ import annotations

import datetime as _dt

from pvmkit.cli._common import parse_hex, read_file
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.attest.result import CheckList

__all__ = [
    "TDX_HEX_FIELDS",
    "check_lines",
    "merge_expected",
    "option_name",
    "parse_time",
    "predictions",
    "report_data",
]

#: ``--NAME HEX`` options of TDX quotes: body field → what it is (all 48 bytes).
TDX_HEX_FIELDS = {
    "mr_td": "MRTD (48 bytes)",
    "rtmr0": "RTMR0 (48 bytes)",
    "rtmr1": "RTMR1 (48 bytes)",
    "rtmr2": "RTMR2 (48 bytes)",
    "rtmr3": "RTMR3 (48 bytes)",
    "mr_config_id": "MRCONFIGID (48 bytes)",
    "mr_owner": "MROWNER (48 bytes)",
    "mr_owner_config": "MROWNERCONFIG (48 bytes)",
    "mr_seam": "MRSEAM, the TDX module's measurement (48 bytes)",
}


def option_name(dest: str) -> str:
    """An argparse destination → its option as typed (``host_data`` → ``--host-data``)."""
    return "--" + dest.replace("_", "-")


def parse_time(text: str) -> _dt.datetime:
    """``--at``: an ISO 8601 time (``Z`` accepted); a time without a zone is UTC."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise InputError(f"--at is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def predictions(paths: list[str], evidence: str) -> dict[str, bytes]:
    """Expected values from pvmkit's own JSON predictions: ``measurement`` for an SNP report (``pvmkit
    measure --vendor snp|sw``, ``measure --igvm`` records), ``mr_td``/``rtmrN`` for a TDX quote
    (``measure --vendor tdx [--rtmr] --json``, ``measure --vendor tdx --igvm``, ``tdx replay --json``)."""
    import json

    out: dict[str, bytes] = {}
    for path in paths:
        text = read_file(path).decode("utf-8", "replace")
        try:
            docs = [json.loads(text)]  # one document (measure --json / --output-format json)
        except ValueError:
            try:  # JSON lines: a vCPU range prints one record per configuration
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError:
                raise InputError(f"--expect {path}: not a pvmkit JSON prediction") from None
        if not docs:
            raise InputError(f"--expect {path}: empty, not a pvmkit JSON prediction")
        if len(docs) != 1:
            raise InputError(f"--expect {path}: {len(docs)} predictions in one file; keep the one to check")
        doc = docs[0]
        if not isinstance(doc, dict):
            raise InputError(f"--expect {path}: not a pvmkit JSON prediction")
        schema, vendor = doc.get("schema"), doc.get("vendor")
        found: dict[str, object] = {}
        if evidence == "report" and vendor in ("snp", "sw") and schema in (None, "pvmkit.measure-igvm/1"):
            found = {"measurement": doc.get("digest")}
        elif evidence == "quote" and schema == "pvmkit.measure-tdx/1":
            found = {"mr_td": doc.get("mrtd")}
        elif evidence == "quote" and schema == "pvmkit.measure-tdx-rtmr/1":
            found = {f"rtmr{i}": doc[f"rtmr{i}"] for i in range(4) if doc.get(f"rtmr{i}") is not None}
        elif evidence == "quote" and schema == "pvmkit.tdx-replay/1" and isinstance(doc.get("rtmrs"), dict):
            found = {name: value for name, value in doc["rtmrs"].items() if name in TDX_HEX_FIELDS}
        elif evidence == "quote" and schema == "pvmkit.measure-igvm/1" and vendor == "tdx":
            found = {"mr_td": doc.get("digest")}
        else:
            what = "an SNP report" if evidence == "report" else "a TDX quote"
            raise InputError(
                f"--expect {path}: a {vendor or schema or 'unknown'} prediction cannot check {what}"
            )
        for name, value in found.items():
            raw = parse_hex(str(value), 48, f"--expect {path} {name}")
            if out.get(name, raw) != raw:
                raise InputError(f"--expect files disagree on {name}")
            out[name] = raw
    return out


def merge_expected(expected: dict[str, bytes], name: str, given: bytes | None) -> bytes | None:
    """An explicit option and a prediction must agree; either alone is the expected value."""
    predicted = expected.get(name)
    if given is not None and predicted is not None and given != predicted:
        raise InputError(f"{option_name(name)} differs from the --expect prediction of {name}")
    return given if given is not None else predicted


def report_data(args: Any) -> bytes | None:
    """``--report-data HEX``: up to 64 bytes, zero-padded to 64 (SNP REPORT_DATA, TDX REPORTDATA)."""
    if args.report_data is None:
        return None
    data = parse_hex(args.report_data, what="--report-data")
    if len(data) > 64:
        raise InputError(f"--report-data is at most 64 bytes, got {len(data)}")
    return data.ljust(64, b"\0")


def check_lines(checks: CheckList, headline: str) -> list[str]:
    """The text form of a verification: one headline, then every check (passed, failed, not
    performed), the same on success and on failure."""
    return [headline, *checks.text_lines()]
