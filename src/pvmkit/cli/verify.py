"""``pvmkit verify``: check evidence and the fields you expect.

This module is the dispatcher: it builds one parser from the options every kind shares and those each
evidence kind adds, refuses options of another kind, and hands the arguments to the kind's module:

* ``--report``: an SEV-SNP(-layout) attestation report (:mod:`pvmkit.cli.verify_snp`);
* ``--quote``: an Intel TDX quote (:mod:`pvmkit.cli.verify_tdx`);
* ``--cca-token``: an Arm CCA attestation token (:mod:`pvmkit.cli.verify_cca`).

Each kind module defines ``EVIDENCE`` (its evidence option's destination), ``OPTIONS`` (the
destinations only it takes), ``add_options(parser, evidence_group)`` and ``run(args, parser)``.
Exit codes: 0 when everything checks; 3 on a failed check (``VerificationError`` or a failed check
list); 1 for unreadable or malformed input; 2 for usage errors.
"""

from __future__ import annotations

from pvmkit.cli import verify_cca, verify_snp, verify_tdx
from pvmkit.cli._common import Parser
from pvmkit.cli._verify_common import option_name

__all__ = ["KINDS", "main"]

#: The evidence kinds, in the order their options appear in ``--help``.
KINDS = (verify_snp, verify_tdx, verify_cca)


def _parser() -> Parser:
    p = Parser(
        "verify",
        "Verify an SEV-SNP attestation report (1184 bytes) against its VCEK or VLEK certificate and "
        "the ASK+ARK chain, an Intel TDX quote against its PCK chain and Intel's root, or an Arm CCA "
        "token against its platform key (CPAK), then compare the fields you expect. Certificates and "
        "CRLs may be PEM or DER.",
    )
    evidence = p.add_mutually_exclusive_group(required=True)
    p.add_argument(
        "--at",
        metavar="ISO-TIME",
        help="check certificate validity at this time (e.g. 2025-01-01T00:00:00Z; default now)",
    )
    p.add_argument(
        "--report-data", metavar="HEX", help="expected REPORT_DATA / REPORTDATA (up to 64 bytes, zero-padded)"
    )
    p.add_argument(
        "--allow-debug",
        action="store_true",
        help="accept a debuggable guest (SNP POLICY bit 19 DEBUG, TD_ATTRIBUTES bit 0 DEBUG, SGX "
        "ATTRIBUTES.DEBUG; default: refused, exit 3)",
    )
    p.add_argument(
        "--no-debug",
        action="store_true",
        help="refuse a debuggable guest (the default, accepted for compatibility; TDX: also lists "
        "expected.td_attributes_clear)",
    )
    p.add_argument(
        "--expect",
        metavar="FILE",
        action="append",
        default=[],
        help="acceptable values: a 'pvmkit reference-values' file (Trustee message or provenance, "
        "pvmkit JSON, a CoRIM: unsigned, or signed with --corim-key) or a prediction printed by "
        "'pvmkit measure ... --output-format json' (or --json); "
        "the value in the evidence must be one of them; repeatable (the files add up)",
    )
    p.add_argument(
        "--corim-key",
        metavar="FILE",
        help="the public key (PEM, DER, JWK or COSE_Key) a signed CoRIM given to --expect must verify "
        "with; --at sets the time its validity is checked at",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON (docs/cli.md)")
    for kind in KINDS:
        kind.add_options(p, evidence)
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    chosen = next(kind for kind in KINDS if getattr(args, kind.EVIDENCE) is not None)
    stray = [
        option_name(dest)
        for kind in KINDS
        if kind is not chosen
        for dest in kind.OPTIONS
        if dest not in chosen.OPTIONS and getattr(args, dest) not in (None, False, [])
    ]
    if stray:
        parser.error(f"{', '.join(stray)} cannot be used with {option_name(chosen.EVIDENCE)}")
    if args.corim_key is not None and not args.expect:  # it would verify nothing
        parser.error("--corim-key is the key of a signed CoRIM given to --expect: give --expect FILE")
    code: int = chosen.run(args, parser)
    return code
