"""``pvmkit verify --quote``: an Intel TDX quote (v4/v5) with the PCK chain it carries, up to the
pinned Intel SGX Root CA, optionally against Intel's CRLs (:mod:`pvmkit.attest.tdx_verify`).

:mod:`pvmkit.cli.verify` builds the one parser (``add_options``) and hands a quote here (``run``).
"""

from __future__ import annotations

from pvmkit.cli._common import MAX_EVIDENCE, U64_MAX, parse_hex, parse_int, print_json, read_file
from pvmkit.cli._verify_common import (
    TDX_HEX_FIELDS,
    ExpectedSets,
    combine_expected,
    corim_options,
    expected_sets,
    option_name,
    parse_time,
)
from pvmkit.cli._verify_common import report_data as _report_data
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from pvmkit.cli._parser import Parser

__all__ = ["EVIDENCE", "OPTIONS", "add_options", "run"]

#: The evidence option's destination that selects this kind.
EVIDENCE = "quote"
#: Destinations of the options only a TDX quote takes (the dispatcher refuses them elsewhere).
OPTIONS = ("root_sha256", "pck_crl", "root_crl", *TDX_HEX_FIELDS, "td_attributes", "xfam")


def add_options(p: Parser, evidence: argparse._MutuallyExclusiveGroup) -> None:
    evidence.add_argument("--quote", metavar="FILE", help="TDX: the quote (v4 or v5), as the guest got it")
    tdx = p.add_argument_group("TDX quotes (--quote)")
    tdx.add_argument(
        "--root-sha256",
        metavar="HEX",
        help="trust a root CA certificate (DER) with this SHA-256 (default: Intel SGX Root CA)",
    )
    tdx.add_argument("--pck-crl", metavar="FILE", help="Intel PCS PCK CRL (platform or processor CA)")
    tdx.add_argument("--root-crl", metavar="FILE", help="Intel PCS root CA CRL")
    for name, what in TDX_HEX_FIELDS.items():
        tdx.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="HEX", help=f"expected {what}")
    tdx.add_argument("--td-attributes", metavar="N", help="expected TDATTRIBUTES (the whole u64)")
    tdx.add_argument("--xfam", metavar="N", help="expected XFAM (the whole u64)")


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
    from pvmkit.attest.tdx_verify import INTEL_SGX_ROOT_CA_SHA256, TdxExpected, verify_quote

    sets = expected_sets(args.expect, "quote", corim_options(args))
    hex_fields = {
        name: combine_expected(
            sets,
            name,
            parse_hex(getattr(args, name), 48, option_name(name)) if getattr(args, name) else None,
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
    result = verify_quote(
        read_file(args.quote, "a quote", MAX_EVIDENCE),
        at=parse_time(args.at) if args.at else None,
        expected=expected,
        trusted_root_sha256=(
            parse_hex(args.root_sha256, 32, "--root-sha256").hex()
            if args.root_sha256
            else INTEL_SGX_ROOT_CA_SHA256
        ),
        pck_crl=read_file(args.pck_crl, "a CRL", MAX_EVIDENCE) if args.pck_crl else None,
        root_crl=read_file(args.root_crl, "a CRL", MAX_EVIDENCE) if args.root_crl else None,
    )
    if args.json:
        extra = {"expect": sets.summary(result.expected_fields)} if args.expect else {}
        print_json({"schema": "pvmkit.verify-tdx/1", **result.to_dict(), **extra})
        return 0
    q, body = result.quote, result.quote.body
    crls = [c.split(":")[0] for c in result.checks if "CRL:" in c]
    lines = [
        f"OK: TDX quote v{q.version} (TDX {'1.5' if body.is_tdx15 else '1.0'} body); PCK chain to "
        f"{'Intel SGX Root CA' if result.root_sha256 == INTEL_SGX_ROOT_CA_SHA256 else 'the pinned root'} "
        f"verified at {result.at.isoformat(timespec='seconds')}"
        + (f", not revoked ({', '.join(crls)})" if crls else ""),
        f"  mr_td          {body.mr_td.hex()}",
        *(f"  rtmr{i}          {r.hex()}" for i, r in enumerate(body.rtmrs)),
        f"  report_data    {body.report_data.hex()}",
        f"  td_attributes  {body.td_attributes:#018x}{' (DEBUG)' if body.td_attributes & 1 else ''}",
        f"  xfam           {body.xfam:#018x}",
        f"  mr_seam        {body.mr_seam.hex()}",
        f"  pck issuer     {result.pck_issuer}",
        f"  root sha256    {result.root_sha256}",
    ]
    lines += [f"  note           {c}" for c in result.checks if c.startswith("ignored")]
    if result.expected_fields:
        lines.append(f"  matched        {', '.join(result.expected_fields)}")
    lines += sets.text_lines(result.expected_fields, 14)
    print("\n".join(lines))
    return 0
