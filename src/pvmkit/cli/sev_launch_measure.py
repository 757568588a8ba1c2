"""``pvmkit sev-launch-measure``: compute or check the SEV/SEV-ES LAUNCH_MEASURE blob (spec amd.md §2.2).

The blob is ``HMAC-SHA256(TIK, 0x04 || API major || API minor || build || policy || LD || MNONCE)``
followed by MNONCE (48 bytes; QEMU's ``query-sev-launch-measure`` prints it in base64). LD comes from
``--launch-digest`` or is measured from the usual inputs (``--ovmf``, ``--vendor sev|sev-es``,
``--vcpus``, ``--kernel`` ...). ``--check BLOB`` verifies a blob a host returned (its MNONCE is used)
and exits 3 on a mismatch.
"""

from __future__ import annotations

import base64
import binascii
import sys

from pvmkit.cli._common import Parser, parse_hex, parse_int
from pvmkit.errors import InputError

__all__ = ["main", "parse_blob"]


def parse_blob(text: str) -> bytes:
    """A 48-byte blob given as hex (96 digits) or base64."""
    t = text.strip()
    raw = t[2:] if t.lower().startswith("0x") else t
    if len(raw) == 96:
        try:
            return bytes.fromhex(raw)
        except ValueError:
            pass
    try:
        blob = base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("--check must be the 48-byte blob in hex or base64") from None
    if len(blob) != 48:
        raise InputError(f"--check blob is {len(blob)} bytes, expected 48")
    return blob


def main(argv: list[str]) -> int:
    from pvmkit.cli.measure_amd import add_launch_arguments, launch_from_args

    p = Parser(
        "sev-launch-measure",
        "Compute (or check) the SEV/SEV-ES LAUNCH_MEASURE blob: HMAC-SHA256 with the TIK, plus MNONCE.",
    )
    p.add_argument("--tik", metavar="HEX", required=True, help="16-byte transport integrity key")
    p.add_argument("--mnonce", metavar="HEX", help="16-byte nonce (not needed with --check)")
    p.add_argument("--policy", metavar="N", required=True, help="SEV guest policy (u32)")
    p.add_argument("--api-major", metavar="N", required=True)
    p.add_argument("--api-minor", metavar="N", required=True)
    p.add_argument("--build", metavar="N", required=True, help="firmware build id")
    p.add_argument("--launch-digest", metavar="HEX", help="32-byte SEV launch digest (else measured)")
    p.add_argument("--check", metavar="BLOB", help="verify this blob (base64 or hex); exit 3 on mismatch")
    p.add_argument("--output-format", choices=("base64", "hex"), default="base64")
    add_launch_arguments(p, vendors=("sev", "sev-es"), vendor_required=False, policy=False)
    args = p.parse_args(argv)

    tik = parse_hex(args.tik, 16, "--tik")
    policy = parse_int(args.policy, "--policy")
    kw = {
        "policy": policy,
        "api_major": parse_int(args.api_major, "--api-major"),
        "api_minor": parse_int(args.api_minor, "--api-minor"),
        "build": parse_int(args.build, "--build"),
    }
    if args.launch_digest is not None:
        if args.ovmf is not None:
            p.error("give --launch-digest or the measure inputs (--ovmf ...), not both")
        ld = parse_hex(args.launch_digest, 32, "--launch-digest")
    else:
        if args.ovmf is None:
            p.error("give --launch-digest or --ovmf (and the other measure inputs)")
        amd_launch, counts = launch_from_args(args, p, policy_arg=False)
        if len(counts) != 1:
            p.error("--vcpus must be a single count here")
        from pvmkit.vendors.amd.measure import measure_plan

        ld = measure_plan(amd_launch.plan())

    from pvmkit.vendors.amd.launch_blob import check_launch_measure, launch_measure_blob

    if args.check is not None:
        blob = parse_blob(args.check)
        if args.mnonce is not None and parse_hex(args.mnonce, 16, "--mnonce") != blob[32:]:
            raise InputError("--mnonce differs from the MNONCE in the --check blob")
        check_launch_measure(blob, tik, ld, **kw)
        sys.stdout.write(f"OK: LAUNCH_MEASURE matches launch digest {ld.hex()}\n")
        return 0
    if args.mnonce is None:
        p.error("--mnonce is required to compute a blob")
    blob = launch_measure_blob(tik, ld, parse_hex(args.mnonce, 16, "--mnonce"), **kw)
    sys.stdout.write((blob.hex() if args.output_format == "hex" else base64.b64encode(blob).decode()) + "\n")
    return 0
