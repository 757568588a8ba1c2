"""``pvmkit verify --quote``: an Intel DCAP quote (TDX v4/v5, SGX v3) verified and appraised.

Cryptography (PCK chain to the pinned Intel SGX Root CA, QE report, quote signature), then, with
Intel's collateral, the TCB status by Intel's rules, the DEBUG policy and the values you expect
(:mod:`pvmkit.attest.dcap_verify`). Every check is listed, passed / failed / not performed, in text
and in the ``pvmkit.verify-tdx/2`` JSON; exit 0 when none failed, 3 otherwise.

Collateral: ``--collateral FILE`` (a QuoteCollateralV3 JSON), ``--collateral DIR`` (the seven files
under the names of :data:`COLLATERAL_FILES`), or the seven per-part options. ``--pck-crl`` /
``--root-ca-crl`` alone check revocation only (no TCB status).

:mod:`pvmkit.cli.verify` builds the one parser (``add_options``) and hands a quote here (``run``).
"""

from __future__ import annotations

import os

from pvmkit.cli._common import (
    MAX_EVIDENCE,
    U64_MAX,
    parse_digest,
    parse_int,
    print_json,
    read_file,
)
from pvmkit.cli._verify_common import (
    TDX_HEX_FIELDS,
    ExpectedSets,
    check_lines,
    combine_expected,
    corim_options,
    expected_sets,
    failure_line,
    option_name,
    parse_time,
)
from pvmkit.cli._verify_common import report_data as _report_data
from pvmkit.errors import InputError, VerificationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from pvmkit.attest.dcap_verify import DcapAppraisal
    from pvmkit.cli._parser import Parser
    from pvmkit.formats.intel_collateral import CollateralSet

__all__ = ["COLLATERAL_FILES", "EVIDENCE", "OPTIONS", "add_options", "run"]

#: The evidence option's destination that selects this kind.
EVIDENCE = "quote"

#: Per-part collateral options (destination → file name in a ``--collateral DIR``).
COLLATERAL_FILES = {
    "tcb_info": "tcb_info.json",
    "tcb_info_issuer_chain": "tcb_info_issuer_chain.pem",
    "qe_identity": "qe_identity.json",
    "qe_identity_issuer_chain": "qe_identity_issuer_chain.pem",
    "pck_crl": "pck_crl.der",
    "pck_crl_issuer_chain": "pck_crl_issuer_chain.pem",
    "root_ca_crl": "root_ca_crl.der",
}
_PART_HELP = {
    "tcb_info": 'TCB Info as PCS serves it ({"tcbInfo": ..., "signature": ...})',
    "tcb_info_issuer_chain": "the TCB Info's issuer chain (PEM, URL-encoded accepted: PCS's "
    "TCB-Info-Issuer-Chain header)",
    "qe_identity": 'QE Identity as PCS serves it ({"enclaveIdentity": ..., "signature": ...})',
    "qe_identity_issuer_chain": "the QE Identity's issuer chain (PEM, URL-encoded accepted)",
    "pck_crl": "the PCK CRL of the quote's PCK CA (platform or processor; DER or PEM)",
    "pck_crl_issuer_chain": "the PCK CRL's issuer chain (PEM, URL-encoded accepted)",
    "root_ca_crl": "Intel SGX Root CA CRL (DER or PEM; --root-crl is an alias)",
}

#: Destinations of the options only a quote takes (the dispatcher refuses them elsewhere).
OPTIONS = (
    "root_sha256",
    "collateral",
    *COLLATERAL_FILES,
    "accept_status",
    "require_tcb",
    *TDX_HEX_FIELDS,
    "td_attributes",
    "xfam",
)


def add_options(p: Parser, evidence: argparse._MutuallyExclusiveGroup) -> None:
    evidence.add_argument(
        "--quote", metavar="FILE", help="an Intel DCAP quote: TDX (v4 or v5) or SGX (v3), as the guest got it"
    )
    tdx = p.add_argument_group("TDX and SGX quotes (--quote)")
    tdx.add_argument(
        "--root-sha256",
        metavar="HEX",
        help="trust a root CA certificate (DER) with this SHA-256 (default: Intel SGX Root CA)",
    )
    tdx.add_argument(
        "--collateral",
        metavar="FILE|DIR",
        help="Intel PCS collateral for the TCB status: one QuoteCollateralV3 JSON file (PCCS clients, "
        "dcap-qvl), or a directory holding " + ", ".join(COLLATERAL_FILES.values()),
    )
    for dest, text in _PART_HELP.items():
        flags = [option_name(dest)] + (["--root-crl"] if dest == "root_ca_crl" else [])
        tdx.add_argument(*flags, dest=dest, metavar="FILE", help=text)
    tdx.add_argument(
        "--accept-status",
        metavar="S,...",
        help="TCB statuses accepted beyond UpToDate, e.g. SWHardeningNeeded,ConfigurationNeeded "
        "(default: none; Revoked is never accepted)",
    )
    tdx.add_argument(
        "--require-tcb",
        action="store_true",
        help="fail (exit 3) when no TCB status could be evaluated (default: listed as not performed)",
    )
    for name, what in TDX_HEX_FIELDS.items():
        tdx.add_argument(
            f"--{name.replace('_', '-')}", dest=name, metavar="HEX", help=f"TDX: expected {what}"
        )
    tdx.add_argument("--td-attributes", metavar="N", help="TDX: expected TDATTRIBUTES (the whole u64)")
    tdx.add_argument("--xfam", metavar="N", help="TDX: expected XFAM (the whole u64)")


def _collateral(args: Any, parser: Parser) -> tuple[CollateralSet | None, bytes | None, bytes | None]:
    """(the full collateral set, or a lone PCK CRL and root CA CRL for revocation only)."""
    from pvmkit.formats.intel_collateral import collateral_from_parts, collateral_from_v3_json

    parts = {dest: getattr(args, dest) for dest in COLLATERAL_FILES if getattr(args, dest)}
    if args.collateral:
        if parts:
            parser.error(
                f"--collateral cannot be combined with {', '.join(option_name(d) for d in parts)}; "
                "give the whole set one way"
            )
        if os.path.isdir(args.collateral):
            parts = {dest: os.path.join(args.collateral, name) for dest, name in COLLATERAL_FILES.items()}
        else:
            return collateral_from_v3_json(read_file(args.collateral, "a collateral JSON")), None, None
    elif set(parts) <= {"pck_crl", "root_ca_crl"}:
        pck, root = parts.get("pck_crl"), parts.get("root_ca_crl")
        return None, read_file(pck, "a CRL") if pck else None, read_file(root, "a CRL") if root else None
    missing = [option_name(d) for d in COLLATERAL_FILES if d not in parts]
    if missing and not args.collateral:
        parser.error(f"the collateral set also needs {', '.join(missing)} (or give --collateral FILE|DIR)")
    data = {dest: read_file(path, option_name(dest)) for dest, path in parts.items()}
    return collateral_from_parts(data), None, None


def _accept(text: str | None, parser: Parser) -> list[str]:
    from pvmkit.attest.intel_tcb import ACCEPTABLE_STATUSES

    # UpToDate is always accepted: naming it (as a list copied from a verifier's policy may) adds nothing
    names = [s.strip() for s in (text or "").split(",") if s.strip() and s.strip() != "UpToDate"]
    bad = [s for s in names if s not in ACCEPTABLE_STATUSES]
    if bad:
        parser.error(
            f"--accept-status: {', '.join(bad)} cannot be accepted; "
            f"choose from {', '.join(ACCEPTABLE_STATUSES)}"
        )
    return names


def _xfam(args: Any, sets: ExpectedSets, parser: Parser) -> int | frozenset[int] | None:
    """``--xfam N`` and the ``xfam`` reference values (the 8 quote bytes, little-endian) together."""
    given = parse_int(args.xfam, "--xfam", 0, U64_MAX) if args.xfam is not None else None
    if given is not None and not 0 <= given < 1 << 64:
        raise InputError(f"--xfam {args.xfam} does not fit 64 bits")
    as_bytes = given.to_bytes(8, "little") if given is not None else None
    combined = combine_expected(sets, "xfam", as_bytes, parser)
    if isinstance(combined, frozenset):
        return frozenset(int.from_bytes(v, "little") for v in combined)
    return None if combined is None else int.from_bytes(combined, "little")


def run(args: Any, parser: Parser) -> int:
    from pvmkit.attest.dcap_verify import appraise_quote
    from pvmkit.attest.tdx_verify import INTEL_SGX_ROOT_CA_SHA256, TdxExpected

    allow_debug = bool(args.allow_debug)
    if allow_debug and args.no_debug:
        parser.error("--allow-debug and --no-debug contradict each other")
    accept = _accept(args.accept_status, parser)
    collateral, pck_crl, root_crl = _collateral(args, parser)
    sets = expected_sets(args.expect, "quote", corim_options(args))
    hex_fields = {
        name: combine_expected(
            sets,
            name,
            parse_digest(getattr(args, name), 48, option_name(name)) if getattr(args, name) else None,
            parser,
        )
        for name in TDX_HEX_FIELDS
    }
    expected = TdxExpected(
        **hex_fields,
        report_data=_report_data(args),
        td_attributes=parse_int(args.td_attributes, "--td-attributes", 0, U64_MAX)
        if args.td_attributes is not None
        else None,
        xfam=_xfam(args, sets, parser),
        td_attributes_bits_clear=1 if args.no_debug else 0,
    )
    result = appraise_quote(
        read_file(args.quote, "a quote", MAX_EVIDENCE),
        collateral=collateral,
        at=parse_time(args.at) if args.at else None,
        expected=expected,
        trusted_root_sha256=(
            parse_digest(args.root_sha256, 32, "--root-sha256").hex()
            if args.root_sha256
            else INTEL_SGX_ROOT_CA_SHA256
        ),
        accept_status=accept,
        allow_debug=allow_debug,
        require_tcb=args.require_tcb,
        pck_crl=pck_crl,
        root_crl=root_crl,
    )
    if result.tee == "SGX" and any(getattr(args, n) for n in (*TDX_HEX_FIELDS, "td_attributes", "xfam")):
        parser.error("--mr-td, --rtmrN, --td-attributes, ... are TDX quote fields; this is an SGX quote")
    matched = [c.name.removeprefix("expected.") for c in result.checks if c.name.startswith("expected.")]
    matched = [m for m in matched if result.checks.get("expected." + m).status == "passed"]  # type: ignore[union-attr]
    if args.json:
        extra = {"expect": sets.summary(matched)} if args.expect else {}
        print_json({"schema": "pvmkit.verify-tdx/2", **result.to_dict(), "expected_fields": matched, **extra})
    else:
        lines = _text(result)
        if matched:
            lines.append(f"  matched        {', '.join(matched)}")
        print("\n".join(lines + sets.text_lines(matched, 14)))
    if not result.ok:
        raise VerificationError(failure_line(result.checks))
    return 0


def _text(result: DcapAppraisal) -> list[str]:
    q = result.quote
    kind = f"SGX quote v{q.version}" if result.tee == "SGX" else f"TDX quote v{q.version}"
    if result.tee == "TDX":
        kind += " (TDX 1.5 body)" if getattr(q.body, "is_tdx15", False) else " (TDX 1.0 body)"
    verdict = "OK" if result.ok else "FAILED"
    status = result.tcb_status or "not evaluated"
    headline = f"{verdict}: {kind}; TCB status {status}, checked at {result.at.isoformat(timespec='seconds')}"
    lines = check_lines(result.checks, headline)
    if result.tcb is not None:
        tcb = result.tcb
        lines.append(f"  advisory_ids   {', '.join(tcb.advisory_ids) or '(none)'}")
        lines.append(f"  platform level {tcb.platform_level.tcb_date} {tcb.platform_level.status}")
        if tcb.module is not None and tcb.module.level is not None:
            level = tcb.module.level
            lines.append(f"  tdx module     {tcb.module.identity} isvsvn {level.isvsvn} {level.status}")
        lines.append(f"  qe identity    isvsvn {tcb.qe_level.isvsvn} {tcb.qe_level.status}")
    if result.pck is not None:
        lines.append(f"  fmspc          {result.pck.fmspc.hex().upper()}")
    if result.collateral is not None:
        lines.append(f"  collateral     valid until {result.collateral.expires.isoformat()}")
    for name, value in _body_lines(result):
        lines.append(f"  {name:<14} {value}")
    return lines


def _body_lines(result: DcapAppraisal) -> list[tuple[str, str]]:
    body = result.to_dict()["body"]
    keys: tuple[str, ...] = (
        "mr_td",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "report_data",
        "td_attributes",
        "xfam",
        "mr_seam",
    )
    if result.tee == "SGX":
        keys = ("mr_enclave", "mr_signer", "isv_prod_id", "isv_svn", "attributes", "report_data")
    return [(k, body[k]) for k in keys if k in body]
