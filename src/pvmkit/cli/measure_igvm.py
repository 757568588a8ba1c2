"""``pvmkit measure --vendor snp|sev-es|sev|tdx --igvm FILE``: the launch digest of an IGVM file.

The file's directives for the vendor's platform become a launch plan under one loader's rules
(``--igvm-loader``: QEMU's by default, or igvmmeasure's / the igvm crate's; docs/igvm.md), which the
vendor's measurer then measures: SNP launch digest, SEV/SEV-ES launch digest (GCTX.LD), TDX MRTD.
For SNP, a file's SNP_ID_BLOCK must have been signed for that digest, and its signatures must verify
(exit 3 otherwise), as the firmware checks at SNP_LAUNCH_FINISH; JSON output gives the ID block's
fields and key digests, the values the attestation report will carry.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib

from pvmkit.cli._common import MAX_IMAGE, Parser, print_json, read_file
from pvmkit.cli._options import add_rows, output_format, output_rows
from pvmkit.plan import Vendor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["build_parser", "main", "predict"]


def build_parser() -> Parser:
    p = Parser(
        "measure --igvm",
        "Predict the launch digest of an IGVM file on one platform (SNP, SEV-ES, SEV or TDX MRTD).",
    )
    p.add_argument(
        "--vendor",
        required=True,
        choices=[v.value for v in Vendor if v.spec.igvm_platform is not None],
        help="protected-VM technology",
    )
    p.add_argument("--igvm", required=True, metavar="FILE", help="the IGVM file")
    p.add_argument(
        "--igvm-loader",
        choices=["qemu", "igvmmeasure", "igvm-crate"],
        default="qemu",
        help="whose rules turn directives into launch calls (default qemu: what QEMU >= 10.1 and KVM do)",
    )
    p.add_argument(
        "--native-zero",
        action="store_true",
        help="SNP: measure zero pages as ZERO pages (igvmmeasure --native-zero), not as 4 KiB of zeros",
    )
    p.add_argument(
        "--ignore-id-block",
        action="store_true",
        help="SNP: do not check the file's SNP_ID_BLOCK launch digest against the prediction",
    )
    add_rows(p, output_rows(("hex", "base64", "json"), "hex"), {})
    return p


def predict(args: Any) -> tuple[bytes, dict[str, Any]]:
    """(launch digest, the JSON record's fields) for parsed options (shared with
    ``pvmkit reference-values --igvm``); VerificationError/SignatureError for an ID block the
    firmware would refuse."""
    import pvmkit
    from pvmkit.errors import VerificationError
    from pvmkit.formats.igvm import parse_igvm
    from pvmkit.loaders.igvm import PROFILES, id_block_of, igvm_plan, platform_of, snp_id_auth

    data = read_file(args.igvm, "an IGVM file", MAX_IMAGE)
    igvm = parse_igvm(data)
    vendor = Vendor(args.vendor)
    rules = dataclasses.replace(PROFILES[args.igvm_loader], native_zero=args.native_zero)
    plan = igvm_plan(igvm, vendor, rules)
    digest = pvmkit.measure(plan)
    id_block = id_block_of(igvm, vendor)
    if id_block is not None and id_block.ld != digest and not args.ignore_id_block:
        raise VerificationError(
            f"the file's SNP_ID_BLOCK was signed for launch digest {id_block.ld.hex()}, but the launch "
            f"digest is {digest.hex()}: SNP_LAUNCH_FINISH would refuse it (--ignore-id-block to print "
            "the digest anyway)",
            field="id_block.ld",
            expected=id_block.ld,
            actual=digest,
        )
    id_info = None
    if id_block is not None:
        from pvmkit.vendors.amd.id_block import verify_id_auth

        block, auth = snp_id_auth(id_block, plan.init.policy)
        if not args.ignore_id_block:
            verify_id_auth(block, auth)  # SignatureError (exit 3): the firmware would refuse it too
        id_info = {
            "ld": id_block.ld.hex(),
            "family_id": id_block.family_id.hex(),
            "image_id": id_block.image_id.hex(),
            "version": id_block.version,
            "guest_svn": id_block.guest_svn,
            "id_key_digest": hashlib.sha384(auth[0x240 : 0x240 + 1028]).hexdigest(),
            "author_key_digest": hashlib.sha384(auth[0x880 : 0x880 + 1028]).hexdigest()
            if id_block.author_key_enabled
            else None,
            "verified": not args.ignore_id_block,
        }
    return digest, {
        "schema": "pvmkit.measure-igvm/1",
        "vendor": vendor.value,
        "igvm_sha256": hashlib.sha256(data).hexdigest(),
        "loader": args.igvm_loader,
        "native_zero": args.native_zero,
        "digest": digest.hex(),
        "platform_mask": platform_of(igvm, vendor),
        "policy": plan.init.policy,
        "pages": sum(op.pages for op in plan.memory),
        "vcpus": len(plan.vcpus),
        "id_block": id_info,
    }


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    fmt = output_format(args, "hex", p.error)
    digest, record = predict(args)
    if fmt == "base64":
        print(base64.b64encode(digest).decode())
    elif fmt == "json":
        print_json(record)
    else:
        print(digest.hex())
    return 0
