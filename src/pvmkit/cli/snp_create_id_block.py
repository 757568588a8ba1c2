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
``--output-format json``.
"""

from __future__ import annotations

import base64
import binascii

from pvmkit.cli._common import MAX_EVIDENCE, Parser, parse_hex, parse_int, print_json, read_file
from pvmkit.errors import InputError

__all__ = ["main"]


def _parser() -> Parser:
    p = Parser(
        "snp-create-id-block",
        "Calculate AMD SEV-SNP guest id block (drop-in for sev-snp-measure's snp-create-id-block)",
    )
    p.add_argument("--measurement", metavar="VALUE", required=True, help="guest launch measurement, base64")
    p.add_argument("--idkey", metavar="PATH", required=True, help="ID private key (PEM, ECDSA P-384)")
    p.add_argument("--authorkey", metavar="PATH", help="author private key (PEM, ECDSA P-384)")
    p.add_argument("--family-id", metavar="HEX", help="FAMILY_ID, 16 bytes (default zeros)")
    p.add_argument("--image-id", metavar="HEX", help="IMAGE_ID, 16 bytes (default zeros)")
    p.add_argument("--guest-svn", metavar="N", default="0", help="GUEST_SVN (default 0)")
    p.add_argument(
        "--policy", metavar="N", default="0x30000", help="guest policy the block allows (default 0x30000)"
    )
    p.add_argument("--output-format", choices=("text", "json"), default="text")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from pvmkit.vendors.amd.id_block import build_id_block, load_private_key, sign_id_block

    try:
        ld = base64.b64decode(args.measurement, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("--measurement is not base64") from None
    if len(ld) != 48:
        raise InputError(f"--measurement must be a 48-byte launch digest, got {len(ld)} bytes")
    block = build_id_block(
        ld,
        family_id=parse_hex(args.family_id, 16, "--family-id") if args.family_id else bytes(16),
        image_id=parse_hex(args.image_id, 16, "--image-id") if args.image_id else bytes(16),
        guest_svn=parse_int(args.guest_svn, "--guest-svn"),
        policy=parse_int(args.policy, "--policy"),
    )
    id_key = load_private_key(read_file(args.idkey, "a key", MAX_EVIDENCE))
    author_key = None
    if args.authorkey:
        author_key = load_private_key(read_file(args.authorkey, "a key", MAX_EVIDENCE))
    signed = sign_id_block(block, id_key, author_key)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    author = signed.author_key_digest
    if args.output_format == "json":
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
