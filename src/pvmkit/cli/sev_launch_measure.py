"""``pvmkit sev-launch-measure``: compute or check the SEV/SEV-ES LAUNCH_MEASURE blob (spec amd.md §2.2).

The blob is ``HMAC-SHA256(TIK, 0x04 || API major || API minor || build || policy || LD || MNONCE)``
followed by MNONCE (48 bytes; QEMU's ``query-sev-launch-measure`` prints it in base64). LD comes from
``--launch-digest`` or is measured from the usual inputs (``--firmware``, ``--vendor sev|sev-es``,
``--vcpus``, ``--kernel`` ...). ``--check BLOB`` verifies a blob a host returned (its MNONCE is used)
and exits 3 on a mismatch.
"""

from __future__ import annotations

import base64
import sys
from typing import Any

from pvmkit.cli._common import Parser, parse_digest, parse_hex, parse_int, print_json
from pvmkit.cli._options import add_rows, output_format, output_rows
from pvmkit.errors import InputError

__all__ = ["build_parser", "main", "parse_blob"]


def parse_blob(text: str) -> bytes:
    """A 48-byte blob given as hex (96 digits) or base64 (64 characters); UsageError otherwise."""
    return parse_digest(text, 48, "--check")


def build_parser() -> Parser:
    from pvmkit.cli._options import AMD_GROUPS, amd_launch_rows

    p = Parser(
        "sev-launch-measure",
        "Compute (or check) the SEV/SEV-ES LAUNCH_MEASURE blob: HMAC-SHA256 with the TIK, plus MNONCE.",
    )
    p.add_argument("--tik", metavar="HEX", required=True, help="16-byte transport integrity key")
    p.add_argument("--mnonce", metavar="HEX", help="16-byte nonce (not needed with --check)")
    p.add_argument("--policy", metavar="N", required=True, help="SEV guest policy, 0..2^32-1")
    p.add_argument("--api-major", metavar="N", required=True, help="firmware API major version, 0-255")
    p.add_argument("--api-minor", metavar="N", required=True, help="firmware API minor version, 0-255")
    p.add_argument("--build", metavar="N", required=True, help="firmware build id, 0-255")
    p.add_argument("--launch-digest", metavar="HEX", help="32-byte SEV launch digest (else measured)")
    p.add_argument("--check", metavar="BLOB", help="verify this blob (base64 or hex); exit 3 on mismatch")
    add_rows(p, output_rows(("base64", "hex", "json"), "base64"), {})
    add_rows(p, amd_launch_rows(("sev", "sev-es"), vendor_required=False, policy=False), AMD_GROUPS)
    return p


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    fmt = output_format(args, "base64", p.error)
    tik = parse_hex(args.tik, 16, "--tik")
    # field widths: SEV API spec, LAUNCH_MEASURE (policy u32; API major, minor and build u8)
    policy = parse_int(args.policy, "--policy", 0, 0xFFFFFFFF)
    kw = {
        "policy": policy,
        "api_major": parse_int(args.api_major, "--api-major", 0, 255),
        "api_minor": parse_int(args.api_minor, "--api-minor", 0, 255),
        "build": parse_int(args.build, "--build", 0, 255),
    }
    ld = _launch_digest(args, p)
    from pvmkit.vendors.amd.launch_blob import check_launch_measure, launch_measure_blob

    if args.check is not None:
        blob = parse_blob(args.check)
        if args.mnonce is not None and parse_hex(args.mnonce, 16, "--mnonce") != blob[32:]:
            raise InputError("--mnonce differs from the MNONCE in the --check blob")
        check_launch_measure(blob, tik, ld, **kw)
        if fmt == "json":
            print_json(_document(blob, ld, policy, kw, checked=True))
        else:
            sys.stdout.write(f"OK: LAUNCH_MEASURE matches launch digest {ld.hex()}\n")
        return 0
    if args.mnonce is None:
        p.error("--mnonce is required to compute a blob")
    blob = launch_measure_blob(tik, ld, parse_hex(args.mnonce, 16, "--mnonce"), **kw)
    if fmt == "json":
        print_json(_document(blob, ld, policy, kw, checked=False))
    else:
        sys.stdout.write((blob.hex() if fmt == "hex" else base64.b64encode(blob).decode()) + "\n")
    return 0


def _launch_digest(args: Any, p: Parser) -> bytes:
    """The launch digest given (--launch-digest), or measured from the measure options."""
    if args.launch_digest is not None:
        if args.firmware is not None:
            p.error("give --launch-digest or the measure inputs (--firmware ...), not both")
        return parse_digest(args.launch_digest, 32, "--launch-digest")
    if args.firmware is None:
        p.error("give --launch-digest or --firmware (and the other measure inputs)")
    from pvmkit.cli.measure_amd import launch_from_args
    from pvmkit.vendors.amd.measure import measure_plan

    amd_launch, counts = launch_from_args(args, p, policy_arg=False)
    if len(counts) != 1:
        p.error("--vcpus must be a single count here")
    return measure_plan(amd_launch.plan())


def _document(blob: bytes, ld: bytes, policy: int, kw: dict[str, int], *, checked: bool) -> dict[str, object]:
    """The JSON document (docs/cli.md): the blob and what it was computed from (the TIK is secret)."""
    return {
        "schema": "pvmkit.sev-launch-measure/1",
        "blob": blob.hex(),
        "launch_digest": ld.hex(),
        "mnonce": blob[32:].hex(),
        "policy": f"{policy:#x}",
        "api_major": kw["api_major"],
        "api_minor": kw["api_minor"],
        "build": kw["build"],
        "checked": checked,
    }
