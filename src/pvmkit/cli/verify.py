"""``pvmkit verify``: check an SEV-SNP(-layout) attestation report, its VCEK/VLEK and the ASK/ARK chain.

Exit 0 with a short summary (or ``--json``) when everything checks; exit 3 with one line naming the
first differing field on a bad signature, chain or field (``VerificationError``, turned into exit 3
by the dispatcher); exit 1 for unreadable or malformed input.
"""

from __future__ import annotations

import datetime as _dt
import os

from pvmkit.cli._common import Parser, parse_hex, parse_int, print_json, read_file
from pvmkit.errors import InputError

__all__ = ["main"]


def _parser() -> Parser:
    p = Parser(
        "verify",
        "Verify an SEV-SNP attestation report (1184 bytes) against its VCEK or VLEK certificate and "
        "the ASK+ARK chain, then compare the fields you expect. Certificates may be PEM or DER.",
    )
    p.add_argument("--report", required=True, metavar="FILE", help="the raw 1184-byte report")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--vcek", metavar="FILE", help="the VCEK certificate (report SIGNING_KEY must be 0)")
    who.add_argument("--vlek", metavar="FILE", help="the VLEK certificate (report SIGNING_KEY must be 1)")
    who.add_argument(
        "--key",
        metavar="DIR",
        help="a pvmkit software attestation key directory: use its vcek.pem and cert_chain.pem",
    )
    p.add_argument("--chain", metavar="FILE", help="ASK and ARK certificates (PEM bundle or DER)")
    p.add_argument(
        "--ark-sha256",
        metavar="HEX",
        help="trust only an ARK certificate (DER) with this SHA-256 (default: the chain's ARK)",
    )
    p.add_argument(
        "--at",
        metavar="ISO-TIME",
        help="check certificate validity at this time (e.g. 2025-01-01T00:00:00Z; default now)",
    )
    p.add_argument("--measurement", metavar="HEX", help="expected MEASUREMENT (48 bytes)")
    p.add_argument("--host-data", metavar="HEX", help="expected HOST_DATA (32 bytes)")
    p.add_argument("--report-data", metavar="HEX", help="expected REPORT_DATA (up to 64 bytes, zero-padded)")
    p.add_argument("--policy", metavar="N", help="expected guest POLICY (the whole u64)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (docs/cli.md)")
    return p


def _parse_time(text: str) -> _dt.datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise InputError(f"--at is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.key and not args.chain:
        parser.error("--chain FILE is required with --vcek/--vlek")

    from pvmkit.attest.verify import Expected, verify_report

    at = _parse_time(args.at) if args.at else None
    report_data = None
    if args.report_data is not None:
        report_data = parse_hex(args.report_data, what="--report-data")
        if len(report_data) > 64:
            raise InputError(f"--report-data is at most 64 bytes, got {len(report_data)}")
        report_data = report_data.ljust(64, b"\0")
    expected = Expected(
        measurement=parse_hex(args.measurement, 48, "--measurement") if args.measurement else None,
        host_data=parse_hex(args.host_data, 32, "--host-data") if args.host_data else None,
        report_data=report_data,
        policy=parse_int(args.policy, "--policy") if args.policy is not None else None,
    )

    if args.key:
        cert_path = os.path.join(args.key, "vcek.pem")
        chain_path = args.chain or os.path.join(args.key, "cert_chain.pem")
        kind = "vcek"
    else:
        cert_path, chain_path = (args.vcek, args.chain) if args.vcek else (args.vlek, args.chain)
        kind = "vcek" if args.vcek else "vlek"

    result = verify_report(
        read_file(args.report),
        read_file(cert_path),
        read_file(chain_path),
        at=at,
        expected=expected,
        key_kind=kind,
        trusted_ark_sha256=(
            parse_hex(args.ark_sha256, 32, "--ark-sha256").hex() if args.ark_sha256 else None
        ),
    )
    if args.json:
        print_json({"schema": "pvmkit.verify/1", **result.to_dict()})
        return 0
    r = result.report
    policy = r.policy_info
    flags = [name for name in ("debug", "migrate_ma", "smt", "single_socket") if policy.bit(name)]
    flag_text = f" ({', '.join(flags)})" if flags else ""
    product = f" ({result.product})" if result.product else ""
    lines = [
        f"OK: SEV-SNP report v{r.version} signed by {result.signing_key.upper()}"
        f"{product}; chain verified at "
        f"{result.at.isoformat(timespec='seconds')}",
        f"  measurement  {r.measurement.hex()}",
        f"  host_data    {r.host_data.hex()}",
        f"  report_data  {r.report_data.hex()}",
        f"  policy       {r.policy:#x}{flag_text}",
        f"  reported_tcb {r.reported_tcb:#018x}",
        f"  ark          {result.ark_subject}",
        f"  ark sha256   {result.ark_sha256}",
    ]
    if result.expected_fields:
        lines.append(f"  matched      {', '.join(result.expected_fields)}")
    print("\n".join(lines))
    return 0
