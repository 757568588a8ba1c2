"""Helpers shared by the ``pvmkit verify`` evidence kinds (:mod:`pvmkit.cli.verify_snp`,
:mod:`pvmkit.cli.verify_tdx`, ...): times, ``--expect`` predictions, expected-value merging and the
rendering of a :class:`~pvmkit.attest.result.CheckList`."""

from __future__ import annotations

import datetime as _dt

from pvmkit.cli._common import MAX_EVIDENCE, UsageError, parse_hex, read_file
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.attest.result import CheckList

__all__ = [
    "EXPECT_FIELDS",
    "TDX_HEX_FIELDS",
    "ExpectedSets",
    "check_lines",
    "combine_expected",
    "corim_options",
    "expected_sets",
    "failure_line",
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


def parse_time(text: str, option: str = "--at") -> _dt.datetime:
    """An ISO 8601 time option (``Z`` accepted); a time without a zone is UTC. A value that does not
    parse is a usage error (exit 2), as for every option value."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise UsageError(f"{option} is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


#: The evidence fields ``--expect`` files can set, per evidence kind: reference-value name → field.
EXPECT_FIELDS = {
    "report": {"snp_launch_measurement": "measurement", "snp_host_data": "host_data"},
    "quote": {"mr_td": "mr_td", **{f"rtmr_{i}": f"rtmr{i}" for i in range(4)}, "xfam": "xfam"},
    "cca_token": {
        "cca.realm.cca-realm-initial-measurement": "rim",
        **{f"cca.realm.cca-realm-extensible-measurements-{i}": f"rem{i}" for i in range(4)},
        "cca.realm.cca-realm-personalization-value": "rpv",
    },
}
_EVIDENCE_NAMES = {"report": "an SNP report", "quote": "a TDX quote", "cca_token": "a CCA token"}


class ExpectedSets:
    """What ``--expect`` files say about one piece of evidence: evidence field → the acceptable values
    (``values``), the reference-value name each came from (``names``), and the names in the files
    that this evidence does not carry or this command does not check (``not_covered``)."""

    def __init__(self) -> None:
        self.values: dict[str, frozenset[bytes]] = {}
        self.names: dict[str, str] = {}
        self.not_covered: list[str] = []

    def summary(self, checked: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """For the result: which name matched which field (of how many values), and what was not covered."""
        matched = {
            self.names[f]: {"field": f, "values": len(self.values[f])} for f in self.values if f in checked
        }
        return {"matched": matched, "not_covered": list(self.not_covered)}

    def checked_by(self, checks: CheckList) -> list[str]:
        """The fields of these sets whose ``expected.<field>`` check passed."""
        return [
            f for f in self.values if (c := checks.get(f"expected.{f}")) is not None and c.status == "passed"
        ]

    def text_lines(self, checked: list[str] | tuple[str, ...], width: int) -> list[str]:
        lines = []
        for name, info in self.summary(checked)["matched"].items():
            n = info["values"]
            label = "expect".ljust(width)
            lines.append(f"  {label} {info['field']} is one of {n} value{'s' if n != 1 else ''} of {name}")
        if self.not_covered:
            lines.append(f"  {'not covered'.ljust(width)} {', '.join(self.not_covered)}")
        return lines


def expected_sets(paths: list[str], evidence: str, corim: Any = None) -> ExpectedSets:
    """The acceptable values ``--expect`` files give for ``evidence`` (``report``, ``quote`` or
    ``cca_token``).

    Every format :mod:`pvmkit.refvalues` reads is accepted (Trustee message or provenance, CoRIM,
    pvmkit's reference-value JSON, pvmkit's measurement JSON, detected from the content); several
    files add up (the union of each name's values). A file set holding nothing this evidence carries
    is refused (:class:`InputError`)."""
    from pvmkit.refvalues import load_reference_values

    out = ExpectedSets()
    if not paths:
        return out
    rvs = load_reference_values(paths, corim)
    fields = EXPECT_FIELDS[evidence]
    for name, values in rvs:
        field_ = fields.get(name)
        if field_ is None:
            out.not_covered.append(name)
            continue
        out.values[field_] = frozenset(v for v in values if isinstance(v, bytes))
        out.names[field_] = name
    if not out.values:
        found = ", ".join(out.not_covered)
        raise InputError(
            f"--expect {' '.join(paths)}: {found or 'nothing'} cannot check {_EVIDENCE_NAMES[evidence]}"
        )
    return out


def corim_options(args: Any) -> Any:
    """``--corim-key`` and ``--at`` as :class:`pvmkit.refvalues.CorimOptions` (None without a key)."""
    if getattr(args, "corim_key", None) is None:
        return None
    from pvmkit.refvalues import CorimOptions

    key = read_file(args.corim_key, "a key", MAX_EVIDENCE)
    return CorimOptions(key, parse_time(args.at) if args.at else None)


def combine_expected(
    sets: ExpectedSets, field_: str, given: bytes | frozenset[bytes] | None, parser: Any
) -> bytes | frozenset[bytes] | None:
    """An explicit option and ``--expect`` files together: every explicit value must be one the files
    accept (else a usage error, exit 2), and the explicit values are then what is checked; either
    alone is the expected value (a set: any of its values)."""
    accepted = sets.values.get(field_)
    if given is None or accepted is None:
        return given if given is not None else _single(accepted)
    explicit = given if isinstance(given, frozenset) else frozenset({given})
    outside = sorted(v.hex() for v in explicit - accepted)
    if outside:
        parser.error(
            f"{option_name(field_)} {outside[0][:16]}… is not among the {len(accepted)} value(s) of "
            f"{sets.names[field_]} in --expect"
        )
    return given


def _single(values: frozenset[bytes] | None) -> bytes | frozenset[bytes] | None:
    if values is not None and len(values) == 1:
        return next(iter(values))
    return values


def predictions(paths: list[str], evidence: str) -> dict[str, bytes]:
    """Single expected values from ``--expect`` files: evidence field → value, for callers that take
    one value per field; a field with several acceptable values is refused (use :func:`expected_sets`)."""
    sets = expected_sets(paths, evidence)
    out: dict[str, bytes] = {}
    for field_, values in sets.values.items():
        if len(values) != 1:
            raise InputError(f"--expect: {len(values)} acceptable values of {sets.names[field_]}; keep one")
        out[field_] = next(iter(values))
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
        raise UsageError(f"--report-data is at most 64 bytes, got {len(data)}")
    return data.ljust(64, b"\0")


def failure_line(checks: CheckList) -> str:
    """The one stderr line of a failed verification: the first failed check with its reason, and
    how many more failed (the full list is on stdout)."""
    failures = checks.failures
    first = failures[0]
    line = first.text().removeprefix("failed").strip()  # name: detail (expected …, got …)
    if len(failures) > 1:
        line += f" (and {len(failures) - 1} more failed check(s): {', '.join(c.name for c in failures[1:])})"
    return line


def check_lines(checks: CheckList, headline: str) -> list[str]:
    """The text form of a verification: one headline, then every check (passed, failed, not
    performed), the same on success and on failure."""
    return [headline, *checks.text_lines()]
