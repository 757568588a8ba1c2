"""``pvmkit snp-create-id-block``: build and sign an SEV-SNP ID block and ID auth structure (spec amd.md
§4.4), a drop-in for sev-snp-measure 0.0.13's ``snp-create-id-block``.

With the peer's flags (``--measurement BASE64 --idkey PEM --authorkey PEM``) it prints what the peer
prints, in QEMU's ``sev-snp-guest`` property syntax::

    id-block=<base64>,id-auth=<base64>
    id_key_hash: <base64 SHA-384 of the ID key structure>
    author_key: <base64 SHA-384 of the author key structure>

(the ECDSA signatures are randomized, so two runs differ there). pvmkit adds ``--family-id``,
``--image-id``, ``--guest-svn`` and ``--policy`` (the peer fixes them at zeros, 0 and 0x30000), makes
``--authorkey`` optional (no author key: AUTHOR_KEY_EN off, ``author_key: none``), and
JSON (``--json``, or ``--output-format json``). ``--measurement`` takes the digest in base64 (the peer's
form) or hex.
"""

from __future__ import annotations

import base64

from pvmkit.cli._common import MAX_EVIDENCE, Parser, parse_digest, parse_hex, parse_int, print_json, read_file
from pvmkit.cli._options import add_rows, output_format, output_rows

__all__ = ["build_parser", "main"]


def build_parser() -> Parser:
    p = Parser(
        "snp-create-id-block",
        "Calculate AMD SEV-SNP guest id block (drop-in for sev-snp-measure's snp-create-id-block)",
    )
    p.add_argument(
        "--measurement", metavar="VALUE", required=True, help="guest launch digest, 48 bytes in base64 or hex"
    )
    p.add_argument("--idkey", metavar="PATH", required=True, help="ID private key (PEM, ECDSA P-384)")
    p.add_argument("--authorkey", metavar="PATH", help="author private key (PEM, ECDSA P-384)")
    p.add_argument("--family-id", metavar="HEX", help="FAMILY_ID, 16 bytes (default zeros)")
    p.add_argument("--image-id", metavar="HEX", help="IMAGE_ID, 16 bytes (default zeros)")
    p.add_argument("--guest-svn", metavar="N", default="0", help="GUEST_SVN, 0..2^32-1 (default 0)")
    p.add_argument(
        "--policy",
        metavar="N",
        default="0x30000",
        help="guest policy the block allows, 0..2^64-1 (default 0x30000)",
    )
    add_rows(p, output_rows(("text", "json"), "text"), {})
    return p


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    fmt = output_format(args, "text", p.error)
    from pvmkit.vendors.amd.id_block import build_id_block, load_private_key, sign_id_block

    ld = parse_digest(args.measurement, 48, "--measurement")
    block = build_id_block(  # field widths: SEV-SNP ABI spec, ID_BLOCK (GUEST_SVN u32, POLICY u64)
        ld,
        family_id=parse_hex(args.family_id, 16, "--family-id") if args.family_id else bytes(16),
        image_id=parse_hex(args.image_id, 16, "--image-id") if args.image_id else bytes(16),
        guest_svn=parse_int(args.guest_svn, "--guest-svn", 0, 0xFFFFFFFF),
        policy=parse_int(args.policy, "--policy", 0, (1 << 64) - 1),
    )
    id_key = load_private_key(read_file(args.idkey, "a key", MAX_EVIDENCE))
    author_key = None
    if args.authorkey:
        author_key = load_private_key(read_file(args.authorkey, "a key", MAX_EVIDENCE))
    signed = sign_id_block(block, id_key, author_key)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    author = signed.author_key_digest
    if fmt == "json":
        print_json(
            {
                "schema": "pvmkit.snp-id-block/1",
                "id_block": b64(signed.id_block),
                "id_auth": b64(signed.id_auth),
                "id_key_digest": signed.id_key_digest.hex(),
                "author_key_digest": None if author is None else author.hex(),
            }
        )
        return 0
    print(
        f"id-block={b64(signed.id_block)},id-auth={b64(signed.id_auth)}\n"
        f"id_key_hash: {b64(signed.id_key_digest)}\n"
        f"author_key: {'none' if author is None else b64(author)}"
    )
    return 0
