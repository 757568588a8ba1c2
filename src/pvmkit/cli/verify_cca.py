"""``pvmkit verify --cca-token``: an Arm CCA attestation token, its platform key and binding, appraised
against reference values (:mod:`pvmkit.attest.cca_verify`).

:mod:`pvmkit.cli.verify` builds the one parser (``add_options``) and hands a token here (``run``).
Exit 0 when every check passed (checks not performed do not fail); 3 when one failed; 1 when the token,
key or a store cannot be read as what it claims to be; 2 for usage errors.
"""

from __future__ import annotations

import sys

from pvmkit.cli._common import MAX_EVIDENCE, UsageError, parse_digest, parse_hex, print_json, read_file
from pvmkit.cli._verify_common import (
    ExpectedSets,
    check_lines,
    combine_expected,
    corim_options,
    expected_sets,
    option_name,
)
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from pvmkit.attest.cca_verify import CcaVerification, Expected
    from pvmkit.cli._parser import Parser

__all__ = ["EVIDENCE", "OPTIONS", "SCHEMA", "add_options", "run"]

EVIDENCE = "cca_token"
OPTIONS = ("cpak", "ta_store", "rv_store", "rim", "rem", "challenge", "rpv")
SCHEMA = "pvmkit.verify-cca/1"
#: Shared options that mean nothing for a CCA token (no certificates, no report data, no debug bit).
_REFUSED = {"at": "--at", "report_data": "--report-data (use --challenge)", "no_debug": "--no-debug"}


def add_options(p: Parser, evidence: argparse._MutuallyExclusiveGroup) -> None:
    evidence.add_argument("--cca-token", metavar="FILE", help="Arm CCA: the attestation token (CBOR)")
    cca = p.add_argument_group("Arm CCA tokens (--cca-token)")
    keys = cca.add_mutually_exclusive_group()
    keys.add_argument(
        "--cpak", metavar="KEY", help="the platform's CPAK: PEM or DER public key, JWK or COSE_Key"
    )
    keys.add_argument(
        "--ta-store",
        metavar="FILE",
        help="a rust-ccatoken/Trustee trust-anchor store (JSON) holding the CPAK",
    )
    cca.add_argument(
        "--rv-store",
        metavar="FILE",
        help="a rust-ccatoken/Trustee reference-value store (JSON): platform and realm reference values",
    )
    cca.add_argument("--rim", metavar="HEX", help="expected Realm Initial Measurement (32, 48 or 64 bytes)")
    cca.add_argument(
        "--rem", metavar="N=HEX", action="append", default=[], help="expected REM N (0-3); repeatable"
    )
    cca.add_argument(
        "--challenge",
        metavar="HEX",
        help="the nonce the realm token must carry (up to 64 bytes, zero-padded)",
    )
    cca.add_argument(
        "--rpv", metavar="HEX", help="expected Realm Personalization Value (up to 64 bytes, zero-padded)"
    )


def _padded(text: str, what: str) -> bytes:
    value = parse_hex(text, what=what)
    if len(value) > 64:
        raise UsageError(f"{what} is at most 64 bytes, got {len(value)}")
    return value.ljust(64, b"\0")


def _measurement(text: str, what: str) -> bytes:
    """A RIM or REM: 32, 48 or 64 bytes (the realm's hash), as hex or base64 like every digest option
    (:func:`~pvmkit.cli._common.parse_digest`). One text length reads both ways: 64 characters are
    the hex of 32 bytes or the base64 of 48; hex digits only are read as hex (the base64 of a 48-byte
    value is hex digits only with probability (16/64)^64: give such a value as hex)."""
    for length in (32, 48, 64):
        try:
            return parse_digest(text, length, what)
        except UsageError:
            continue
    t = text.strip()
    if t[:2].lower() == "0x" or set(t) <= set("0123456789abcdefABCDEF"):
        raise UsageError(f"{what} is 32, 48 or 64 bytes, got {len(parse_hex(t, what=what))}")
    raise UsageError(
        f"{what} is 32, 48 or 64 bytes as hex (64, 96, 128 digits) or base64 (44, 64, 88 characters)"
    )


def _expected(args: Any, parser: Parser) -> tuple[Any, ExpectedSets]:
    """The expected values, and the ``--expect`` sets they came from (the result names what matched)."""
    from pvmkit.attest.cca_verify import CcaExpected

    sets = expected_sets(args.expect, EVIDENCE, corim_options(args))
    given_rems: dict[int, bytes] = {}
    for item in args.rem:
        index, sep, value = item.partition("=")
        if not sep or index.strip() not in ("0", "1", "2", "3"):
            raise UsageError(f"--rem takes N=HEX with N in 0..3, got {item!r}")
        if int(index) in given_rems:
            raise InputError(f"--rem {index} given twice")
        given_rems[int(index)] = _measurement(value, f"--rem {index}")
    rems: dict[int, Expected] = {}
    for i in range(4):
        merged = combine_expected(sets, f"rem{i}", given_rems.get(i), parser)
        if merged is not None:
            rems[i] = merged
    rim = _measurement(args.rim, "--rim") if args.rim else None
    rpv = _padded(args.rpv, "--rpv") if args.rpv else None
    expected = CcaExpected(
        rim=combine_expected(sets, "rim", rim, parser),
        rems=rems,
        rpv=combine_expected(sets, "rpv", rpv, parser),
        challenge=_padded(args.challenge, "--challenge") if args.challenge else None,
    )
    return expected, sets


def result_json(result: CcaVerification) -> dict[str, Any]:
    """The ``pvmkit.verify-cca/1`` document (docs/cli.md)."""
    token = result.token
    return {
        "schema": SCHEMA,
        "ok": result.ok,
        "generation": token.generation,
        "collection_tag": token.tag,
        "checks": result.checks.to_list(),
        "claims": {"platform": token.platform_claims.to_json(), "realm": token.realm_claims.to_json()},
        "warnings": list(token.warnings),
    }


def run(args: Any, parser: Parser) -> int:
    from pvmkit.attest.cca_store import parse_reference_store, parse_trust_anchors
    from pvmkit.attest.cca_verify import verify_token
    from pvmkit.attest.cose_verify import load_public_key

    for dest, option in _REFUSED.items():
        if getattr(args, dest) and not (dest == "at" and args.corim_key):  # --at: a signed CoRIM's time
            parser.error(f"{option} cannot be used with {option_name(EVIDENCE)}")
    if not args.cpak and not args.ta_store:
        parser.error("--cca-token needs --cpak KEY or --ta-store FILE")
    expected, sets = _expected(args, parser)
    token = read_file(args.cca_token, "a token", MAX_EVIDENCE)
    cpak = None
    if args.cpak:
        cpak = load_public_key(read_file(args.cpak, "a key", MAX_EVIDENCE), f"--cpak {args.cpak}")
    result = verify_token(
        token,
        cpak=cpak,
        trust_anchors=parse_trust_anchors(read_file(args.ta_store), f"--ta-store {args.ta_store}")
        if args.ta_store
        else (),
        references=parse_reference_store(read_file(args.rv_store), f"--rv-store {args.rv_store}")
        if args.rv_store
        else None,
        expected=expected,
    )
    failed = [c.name for c in result.checks.failures]
    if args.json:
        doc = result_json(result)
        if args.expect:
            doc["expect"] = sets.summary(sets.checked_by(result.checks))
        print_json(doc)
    else:
        t, realm = result.token, result.token.realm_claims
        headline = (
            f"{'OK' if result.ok else 'FAILED'}: Arm CCA token {t.generation} (tag {t.tag}), "
            f"realm hash {realm.hash_algo}, RIM {realm.rim.hex()}"
        )
        lines = check_lines(result.checks, headline)
        lines += [f"  warning        {w}" for w in t.warnings]
        lines += sets.text_lines(sets.checked_by(result.checks), 14)
        print("\n".join(lines))
    if failed:
        sys.stderr.write(f"pvmkit: error: CCA token verification failed: {', '.join(failed)}\n")
        return 3
    return 0
