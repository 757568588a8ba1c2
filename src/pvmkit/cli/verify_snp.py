"""``pvmkit verify --report``: an SEV-SNP(-layout) attestation report with its VCEK/VLEK and the
ASK/ARK chain (:mod:`pvmkit.attest.verify`).

:mod:`pvmkit.cli.verify` builds the one parser (``add_options``) and hands a report here (``run``).
"""

from __future__ import annotations

import os

from pvmkit.cli._common import MAX_EVIDENCE, parse_hex, parse_int, print_json, read_file
from pvmkit.cli._verify_common import merge_expected, parse_time, predictions
from pvmkit.cli._verify_common import report_data as _report_data
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from pvmkit.cli._parser import Parser

__all__ = ["EVIDENCE", "OPTIONS", "add_options", "run"]

#: The evidence option's destination that selects this kind.
EVIDENCE = "report"
#: Destinations of the options only an SNP report takes (the dispatcher refuses them elsewhere).
OPTIONS = (
    "vcek",
    "vlek",
    "certs",
    "key",
    "chain",
    "ark_sha256",
    "crl",
    "measurement",
    "host_data",
    "policy",
    "id_key_digest",
    "author_key_digest",
    "min_tcb",
)


def add_options(p: Parser, evidence: argparse._MutuallyExclusiveGroup) -> None:
    evidence.add_argument("--report", metavar="FILE", help="SEV-SNP: the raw 1184-byte report")
    snp = p.add_argument_group("SEV-SNP reports (--report)")
    who = snp.add_mutually_exclusive_group()
    who.add_argument("--vcek", metavar="FILE", help="the VCEK certificate (report SIGNING_KEY must be 0)")
    who.add_argument("--vlek", metavar="FILE", help="the VLEK certificate (report SIGNING_KEY must be 1)")
    who.add_argument(
        "--certs",
        metavar="FILE",
        help="the certificate table of an extended report (VCEK or VLEK, ASK, ARK; snpguest/sev-guest)",
    )
    who.add_argument(
        "--key",
        metavar="DIR",
        help="a pvmkit software attestation key directory: use its vcek.pem and cert_chain.pem, and "
        "trust its ARK",
    )
    snp.add_argument("--chain", metavar="FILE", help="ASK and ARK certificates (PEM bundle or DER)")
    snp.add_argument(
        "--ark-sha256",
        metavar="HEX",
        action="append",
        help="trust an ARK certificate (DER) with this SHA-256 instead of AMD's ARKs (default: AMD's "
        "Milan, Genoa and Turin ARKs); repeatable",
    )
    snp.add_argument(
        "--crl", metavar="FILE", help="the ARK's CRL (AMD KDS /vcek/v1/<product>/crl, DER or PEM)"
    )
    snp.add_argument("--measurement", metavar="HEX", help="expected MEASUREMENT (48 bytes)")
    snp.add_argument("--host-data", metavar="HEX", help="expected HOST_DATA (32 bytes)")
    snp.add_argument("--policy", metavar="N", help="expected guest POLICY (the whole u64)")
    snp.add_argument("--id-key-digest", metavar="HEX", help="expected ID_KEY_DIGEST (48 bytes)")
    snp.add_argument("--author-key-digest", metavar="HEX", help="expected AUTHOR_KEY_DIGEST (48 bytes)")
    snp.add_argument(
        "--min-tcb",
        metavar="NAME=SPL,...",
        help="minimum REPORTED_TCB levels, e.g. bootloader=3,tee=0,snp=8,microcode=115 (Turin: fmc too)",
    )


def _from_cert_table(path: str, chain_path: str | None) -> tuple[bytes, bytes, str]:
    """(VCEK or VLEK, ASK+ARK, kind) from an extended report's certificate table; ``--chain``, when
    given, replaces the table's ASK and ARK."""
    from pvmkit.attest.cert_table import parse_cert_table

    table = parse_cert_table(read_file(path, "a certificate table", MAX_EVIDENCE))
    kind = "vlek" if "vlek" in table else "vcek"
    if kind not in table:
        raise InputError(f"--certs {path}: the table holds neither a VCEK nor a VLEK ({', '.join(table)})")
    if chain_path:
        return table[kind], read_file(chain_path, "a certificate chain", MAX_EVIDENCE), kind
    missing = [name for name in ("ask", "ark") if name not in table]
    if missing:
        raise InputError(
            f"--certs {path}: the table has no {' or '.join(m.upper() for m in missing)}; give --chain FILE"
        )
    return table[kind], table["ask"] + table["ark"], kind


def _min_tcb(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"--min-tcb takes NAME=SPL,... (bootloader, tee, snp, microcode, fmc), got {item!r}"
            )
        out[name.strip().lower()] = parse_int(value, f"--min-tcb {name.strip()}")
    return out


def _ark_sha256(path: str) -> str:
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    from pvmkit.attest._x509 import load_certificates

    certs = load_certificates(read_file(path, "certificates", MAX_EVIDENCE), path)
    return hashlib.sha256(certs[0].public_bytes(Encoding.DER)).hexdigest()


def run(args: Any, parser: Parser) -> int:
    if not (args.vcek or args.vlek or args.certs or args.key):
        parser.error("--report needs one of --vcek, --vlek, --certs or --key")
    if (args.vcek or args.vlek) and not args.chain:
        parser.error("--chain FILE is required with --vcek/--vlek")

    from pvmkit.attest.verify import Expected, verify_report

    at = parse_time(args.at) if args.at else None
    report_data = _report_data(args)
    predicted = predictions(args.expect, "report")
    expected = Expected(
        measurement=merge_expected(
            predicted,
            "measurement",
            parse_hex(args.measurement, 48, "--measurement") if args.measurement else None,
        ),
        host_data=parse_hex(args.host_data, 32, "--host-data") if args.host_data else None,
        report_data=report_data,
        policy=parse_int(args.policy, "--policy") if args.policy is not None else None,
        policy_bits_clear=1 << 19 if args.no_debug else 0,
        id_key_digest=parse_hex(args.id_key_digest, 48, "--id-key-digest") if args.id_key_digest else None,
        author_key_digest=parse_hex(args.author_key_digest, 48, "--author-key-digest")
        if args.author_key_digest
        else None,
        min_reported_tcb=_min_tcb(args.min_tcb) if args.min_tcb else None,
    )

    pins = [parse_hex(pin, 32, "--ark-sha256").hex() for pin in args.ark_sha256 or ()]
    if args.key:
        cert = read_file(os.path.join(args.key, "vcek.pem"), "a certificate", MAX_EVIDENCE)
        chain = read_file(args.chain or os.path.join(args.key, "cert_chain.pem"), "a chain", MAX_EVIDENCE)
        kind = "vcek"
        if not pins:  # the user named this software CA: its own ARK (ark.pem) is the anchor
            pins = [_ark_sha256(os.path.join(args.key, "ark.pem"))]
    elif args.certs:
        cert, chain, kind = _from_cert_table(args.certs, args.chain)
    else:
        kind = "vcek" if args.vcek else "vlek"
        cert = read_file(args.vcek or args.vlek, "a certificate", MAX_EVIDENCE)
        chain = read_file(args.chain, "a certificate chain", MAX_EVIDENCE)
    result = verify_report(
        read_file(args.report, "a report", MAX_EVIDENCE),
        cert,
        chain,
        at=at,
        expected=expected,
        key_kind=kind,
        trusted_ark_sha256=pins or None,
        crl=read_file(args.crl, "a CRL", MAX_EVIDENCE) if args.crl else None,
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
