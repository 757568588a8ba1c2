"""``pvmkit tdx SUBCOMMAND``: TDX evidence tools.

``pvmkit tdx replay --ccel-data F [--ccel-table F] [--quote F | --tdreport F] [--reference F]
[--json] [--verbose]`` replays the CC event log into RTMR0..3 and, with a quote (v4 or v5) or a
TDREPORT (or, with only ``--reference``, the registers the reference log replays to), compares
them: exit 0 when everything matches, exit 3 (a
:class:`~pvmkit.errors.VerificationError` whose ``field`` names the event, e.g. ``event 12``, or the
register) at the first difference. See :mod:`pvmkit.vendors.tdx.replay` for the semantics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pvmkit.cli._common import MAX_EVIDENCE, Parser, print_json, read_file
from pvmkit.cli.inspectors.ccel import decoded_summary
from pvmkit.errors import FormatError, VerificationError
from pvmkit.formats.ccel import CcelTable, CcType, EventLog
from pvmkit.formats.tdx_quote import Quote, TdReport
from pvmkit.vendors.tdx.replay import Comparison, EventResult, Replay, compare, replay

_T = TypeVar("_T")

__all__ = ["main"]

USAGE = """usage: pvmkit tdx SUBCOMMAND [ARGS...]

subcommands:
  replay    replay a CC event log (CCEL) into RTMR0-3 and compare with a quote or TDREPORT
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub == "replay":
        return _replay(rest)
    sys.stderr.write(f"pvmkit tdx: usage error: unknown subcommand {sub!r}\n{USAGE}")
    return 2


def _event_row(r: EventResult) -> dict[str, Any]:
    e = r.event
    return {
        "index": e.index,
        "offset": e.offset,
        "mr_index": e.mr_index,
        "rtmr": e.rtmr,
        "type": e.type_name,
        "event_type": e.event_type,
        "rule": r.rule.value,
        "status": r.status.value,
        "digest": None if r.logged is None else r.logged.hex(),
        "recomputed": None if r.recomputed is None else r.recomputed.hex(),
        "rtmr_after": None if r.rtmr_after is None else r.rtmr_after.hex(),
        "summary": decoded_summary(e),
        **({"detail": r.detail} if r.detail else {}),
    }


def _json(
    rep: Replay,
    cmp: Comparison | None,
    source: dict[str, Any] | None,
    table: CcelTable | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": "pvmkit.tdx-replay/1"}
    if table is not None:
        out["ccel_table"] = {
            "cc_type": table.cc_type_name,
            "cc_subtype": table.cc_subtype,
            "laml": table.laml,
            "lasa": table.lasa,
            "checksum_ok": table.checksum_ok,
        }
    out["rtmrs"] = {f"rtmr{i}": v.hex() for i, v in enumerate(rep.rtmrs)}
    out["events"] = [_event_row(r) for r in rep.events]
    if cmp is not None and source is not None:
        d = cmp.first_difference
        out["evidence"] = {
            **source,
            "rtmrs": {f"rtmr{i}": v.hex() for i, v in enumerate(cmp.expected_rtmrs)},
            "matches": {f"rtmr{i}": m for i, m in enumerate(cmp.rtmr_matches)},
        }
        out["result"] = "match" if d is None else "mismatch"
        out["first_difference"] = (
            None
            if d is None
            else {
                "kind": d.kind,
                "field": d.field,
                "event": None if d.event is None else d.event.index,
                "mr_index": None if d.event is None else d.event.mr_index,
                "type": None if d.event is None else d.event.type_name,
                "rtmr": d.rtmr,
                "message": d.message,
                "expected": None if d.expected is None else d.expected.hex(),
                "actual": None if d.actual is None else d.actual.hex(),
                "candidates": list(d.candidates),
                "component": d.component or None,
            }
        )
        out["unmeasured_differences"] = list(cmp.unmeasured_differences)
    else:
        out["result"] = "replayed"
    return out


#: What ``replay`` does not do with the evidence it compares against.
_NOT_VERIFIED = (
    "not performed: the evidence's signature and certificate chain (replay compares registers only; "
    "'pvmkit tdx replay --json > r.json' then 'pvmkit verify --quote Q --expect r.json' checks both)"
)


#: How the text output names the evidence a register is compared with.
_KIND = {"quote": "quote", "tdreport": "TDREPORT", "reference": "reference"}
#: Said instead of :data:`_NOT_VERIFIED` when the registers come from a reference log.
_NO_EVIDENCE = (
    "not performed: a comparison with the TD's evidence (no --quote or --tdreport: the registers "
    "compared with are those the reference log replays to)"
)


def _text(
    rep: Replay, cmp: Comparison | None, source: dict[str, Any] | None, label: str | None, verbose: bool
) -> list[str]:
    lines: list[str] = []
    if verbose:
        lines.append(f"{'#':>3}  MR  {'type':<34} {'rule':<13} {'status':<12} sha384")
        for r in rep.events:
            dg = "-" if r.logged is None else r.logged.hex()[:32] + "…"
            lines.append(
                f"{r.index:>3}  {r.event.mr_index:>2}  {r.event.type_name:<34} {r.rule.value:<13} "
                f"{r.status.value:<12} {dg}  {decoded_summary(r.event)}"
            )
        lines.append("")
    counts: dict[str, int] = {}
    for r in rep.events:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    lines.append(f"{len(rep.events)} events ({summary})")
    for i, value in enumerate(rep.rtmrs):
        mark = ""
        if cmp is not None and i < len(cmp.expected_rtmrs):
            theirs = cmp.expected_rtmrs[i].hex()
            kind = _KIND[source["kind"]] if source is not None else "evidence"
            mark = "  match" if cmp.rtmr_matches[i] else f"  DIFFERS ({kind} {theirs})"
        lines.append(f"RTMR{i} {value.hex()}{mark}")
    if cmp is not None and source is not None:
        for note in cmp.unmeasured_differences:
            lines.append(f"note: {note}")
        if cmp.ok:
            lines.append(f"OK: the event log replays to the RTMRs of {label}")
        lines.append(f"note: {_NO_EVIDENCE if source['kind'] == 'reference' else _NOT_VERIFIED}")
    return lines


def build_replay_parser() -> Parser:
    parser = Parser(
        "tdx replay",
        "Replay a CC event log into RTMR0-3; with --quote/--tdreport (or only --reference), compare "
        "and name the first event that differs (exit 3).",
    )
    parser.add_argument("--ccel-data", required=True, metavar="F", help="the event log (ACPI CCEL data)")
    parser.add_argument("--ccel-table", metavar="F", help="the ACPI CCEL table (checked: signature, CC type)")
    evidence = parser.add_mutually_exclusive_group()
    evidence.add_argument("--quote", metavar="F", help="a TDX quote (v4 or v5) to compare with")
    evidence.add_argument("--tdreport", metavar="F", help="a TDREPORT (1024 bytes) to compare with")
    parser.add_argument(
        "--reference",
        metavar="F",
        help="a known-good or predicted event log of the same configuration: names the event whose "
        "external digest differs (alone: compare with the registers it replays to)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (see docs/cli.md)")
    parser.add_argument("--verbose", "-v", action="store_true", help="per-event table")
    return parser


def _replay(argv: list[str]) -> int:
    parser = build_replay_parser()
    args = parser.parse_args(argv)
    table, log = _read_log(args)
    reference = (
        _parsed(args.reference, EventLog.parse, read_file(args.reference, "an event log"))
        if args.reference
        else None
    )
    rtmrs, source, label = _evidence(args, reference)
    if rtmrs is None:
        rep = replay(log)
        cmp = None
    else:
        cmp = compare(log, rtmrs, reference=reference)
        rep = cmp.replay
    if args.json:
        print_json(_json(rep, cmp, source, table))
    else:
        for line in _text(rep, cmp, source, label, args.verbose):
            print(line)
    if cmp is not None and cmp.first_difference is not None:
        d = cmp.first_difference
        raise VerificationError(
            d.message,
            field=d.field,
            expected=None if d.expected is None else d.expected.hex(),
            actual=None if d.actual is None else d.actual.hex(),
        )
    return 0


def _read_log(args: Any) -> tuple[CcelTable | None, EventLog]:
    """The CCEL table (checked: a TDX table whose LAML holds the log) and the event log."""
    table: CcelTable | None = None
    if args.ccel_table:
        table = _parsed(
            args.ccel_table, CcelTable.parse, read_file(args.ccel_table, "an ACPI table", MAX_EVIDENCE)
        )
        if table.cc_type != CcType.TDX:
            raise FormatError(
                f"{args.ccel_table}: CCEL CC type is {table.cc_type_name}, not TDX", what="CCEL.CcType"
            )
    log = _parsed(args.ccel_data, EventLog.parse, read_file(args.ccel_data, "an event log"))
    if table is not None and table.laml and log.end_offset > table.laml:
        raise FormatError(
            f"the event log uses {log.end_offset} bytes, more than the CCEL table's LAML {table.laml}",
            what="CCEL.LAML",
        )
    return table, log


def _parsed(path: str, parse: Callable[[bytes], _T], data: bytes) -> _T:
    """``parse(data)``, its FormatError naming ``path`` (several files are read: say which failed)."""
    try:
        return parse(data)
    except FormatError as exc:
        raise type(exc)(f"{path}: {exc}", what=exc.what) from None


def _evidence(
    args: Any, reference: EventLog | None
) -> tuple[tuple[bytes, ...] | None, dict[str, Any] | None, str | None]:
    """(RTMRs, JSON source, text label) of the quote or TDREPORT to compare with; without either,
    the registers the reference log replays to (a log compared with a predicted one); else Nones."""
    if args.quote:
        q = _parsed(args.quote, Quote.parse, read_file(args.quote, "a quote", MAX_EVIDENCE))
        source = {"kind": "quote", "file": args.quote, "version": q.version, "signature_checked": False}
        return q.rtmrs, source, f"the quote (v{q.version})"
    if args.tdreport:
        r = _parsed(args.tdreport, TdReport.parse, read_file(args.tdreport, "a TDREPORT", MAX_EVIDENCE))
        return (
            r.rtmrs,
            {"kind": "tdreport", "file": args.tdreport, "signature_checked": False},
            "the TDREPORT",
        )
    if reference is not None:
        source = {"kind": "reference", "file": args.reference, "signature_checked": False}
        return replay(reference).rtmrs, source, "the reference log"
    return None, None, None
