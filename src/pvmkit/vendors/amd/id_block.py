"""SEV-SNP ID block and ID authentication structure for SNP_LAUNCH_FINISH (spec amd.md §4.4).

* ID block (96 bytes): LD[48] @0x00, FAMILY_ID[16] @0x30, IMAGE_ID[16] @0x40, VERSION u32 @0x50 (1),
  GUEST_SVN u32 @0x54, POLICY u64 @0x58.
* ID auth (4096 bytes): ID_KEY_ALGO u32 @0x000 (1 = ECDSA P-384 with SHA-384), AUTH_KEY_ALGO u32
  @0x004, ID_BLOCK_SIG[512] @0x040, ID_KEY[1028] @0x240, ID_KEY_SIG[512] @0x680, AUTHOR_KEY[1028]
  @0x880; the rest reserved (zero).
* Signature (512): R[72] and S[72] little-endian, zero-extended, then zeros. Public key (1028):
  CURVE u32 (2 = P-384), QX[72] LE, QY[72] LE, then zeros.
* The report's ID_KEY_DIGEST / AUTHOR_KEY_DIGEST are SHA-384 of the 1028-byte key structures.

Signing uses the ``cryptography`` package, imported only when a key is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pvmkit.attest._x509 import foreign_parse
from pvmkit.errors import FormatError, InputError, SignatureError, TruncatedError

__all__ = [
    "ALGO_ECDSA_P384_SHA384",
    "CURVE_P384",
    "ID_AUTH_SIZE",
    "ID_BLOCK_SIZE",
    "IdBlock",
    "SignedIdBlock",
    "build_id_block",
    "has_author_key",
    "key_digest",
    "load_private_key",
    "parse_id_block",
    "public_key_struct",
    "sign_id_block",
    "signature_struct",
    "verify_id_auth",
]

ID_BLOCK_SIZE = 96
ID_AUTH_SIZE = 4096
ALGO_ECDSA_P384_SHA384 = 1
CURVE_P384 = 2
_KEY_SIZE = 1028
_SIG_SIZE = 512
_COORD = 72
_OFF_BLOCK_SIG, _OFF_ID_KEY, _OFF_ID_KEY_SIG, _OFF_AUTHOR_KEY = 0x040, 0x240, 0x680, 0x880


@dataclass(frozen=True)
class IdBlock:
    launch_digest: bytes
    family_id: bytes = bytes(16)
    image_id: bytes = bytes(16)
    version: int = 1
    guest_svn: int = 0
    policy: int = 0x30000

    def to_bytes(self) -> bytes:
        if len(self.launch_digest) != 48:
            raise InputError(f"ID block launch digest must be 48 bytes, got {len(self.launch_digest)}")
        if len(self.family_id) != 16 or len(self.image_id) != 16:
            raise InputError("ID block family and image IDs are 16 bytes each")
        return (
            self.launch_digest
            + self.family_id
            + self.image_id
            + self.version.to_bytes(4, "little")
            + self.guest_svn.to_bytes(4, "little")
            + self.policy.to_bytes(8, "little")
        )


def build_id_block(
    launch_digest: bytes,
    *,
    family_id: bytes = bytes(16),
    image_id: bytes = bytes(16),
    version: int = 1,
    guest_svn: int = 0,
    policy: int = 0x30000,
) -> bytes:
    """The 96-byte ID block."""
    return IdBlock(launch_digest, family_id, image_id, version, guest_svn, policy).to_bytes()


def parse_id_block(data: bytes) -> IdBlock:
    if len(data) < ID_BLOCK_SIZE:
        raise TruncatedError(
            f"an ID block is {ID_BLOCK_SIZE} bytes, got {len(data)}", what="ID block", offset=0
        )
    return IdBlock(
        bytes(data[:48]),
        bytes(data[48:64]),
        bytes(data[64:80]),
        int.from_bytes(data[80:84], "little"),
        int.from_bytes(data[84:88], "little"),
        int.from_bytes(data[88:96], "little"),
    )


def load_private_key(pem: bytes) -> Any:
    """An EC P-384 private key from PEM bytes (InputError for anything else)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with foreign_parse("", "cannot load the private key", InputError):  # an unknown curve, a bad PEM, ...
        key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise InputError("SNP ID and author keys must be ECDSA P-384 keys")
    return key


def _public(key: Any) -> Any:
    return key.public_key() if hasattr(key, "private_numbers") else key


def public_key_struct(key: Any) -> bytes:
    """The 1028-byte SNP public-key structure of a P-384 key (private or public)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = _public(key)
    if not isinstance(pub, ec.EllipticCurvePublicKey) or not isinstance(pub.curve, ec.SECP384R1):
        raise InputError("SNP keys must be ECDSA P-384 keys")
    nums = pub.public_numbers()
    out = (
        CURVE_P384.to_bytes(4, "little")
        + nums.x.to_bytes(_COORD, "little")
        + nums.y.to_bytes(_COORD, "little")
    )
    return out + bytes(_KEY_SIZE - len(out))


def key_digest(key: Any) -> bytes:
    """SHA-384 of the key structure: the report's ID_KEY_DIGEST / AUTHOR_KEY_DIGEST."""
    return hashlib.sha384(public_key_struct(key)).digest()


def signature_struct(r: int, s: int) -> bytes:
    out = r.to_bytes(_COORD, "little") + s.to_bytes(_COORD, "little")
    return out + bytes(_SIG_SIZE - len(out))


def _sign(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    der = key.sign(data, ec.ECDSA(hashes.SHA384()))
    r, s = utils.decode_dss_signature(der)
    return signature_struct(r, s)


def _verify(key_struct: bytes, sig: bytes, data: bytes, what: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    curve = int.from_bytes(key_struct[:4], "little")
    if curve != CURVE_P384:
        raise FormatError(f"{what}: key curve {curve}, expected {CURVE_P384} (P-384)", what=what)
    x = int.from_bytes(key_struct[4 : 4 + _COORD], "little")
    y = int.from_bytes(key_struct[4 + _COORD : 4 + 2 * _COORD], "little")
    try:
        pub = ec.EllipticCurvePublicNumbers(x, y, ec.SECP384R1()).public_key()
    except ValueError:
        raise FormatError(f"{what}: the key is not a point on P-384", what=what) from None
    r = int.from_bytes(sig[:_COORD], "little")
    s = int.from_bytes(sig[_COORD : 2 * _COORD], "little")
    try:
        pub.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise SignatureError(f"{what} does not verify", field=what) from None


@dataclass(frozen=True)
class SignedIdBlock:
    id_block: bytes
    id_auth: bytes
    id_key_digest: bytes
    author_key_digest: bytes | None

    @property
    def auth_key_en(self) -> bool:
        return self.author_key_digest is not None


def sign_id_block(id_block: bytes, id_key: Any, author_key: Any | None = None) -> SignedIdBlock:
    """Sign an ID block with the ID key and (optionally) the ID key with the author key.

    Keys are ``cryptography`` EC private keys or PEM bytes. Signatures are randomized (ECDSA).
    """
    if len(id_block) != ID_BLOCK_SIZE:
        raise InputError(f"an ID block is {ID_BLOCK_SIZE} bytes, got {len(id_block)}")
    if isinstance(id_key, bytes):
        id_key = load_private_key(id_key)
    if isinstance(author_key, bytes):
        author_key = load_private_key(author_key)
    auth = bytearray(ID_AUTH_SIZE)
    id_struct = public_key_struct(id_key)
    auth[0:4] = ALGO_ECDSA_P384_SHA384.to_bytes(4, "little")
    auth[_OFF_BLOCK_SIG : _OFF_BLOCK_SIG + _SIG_SIZE] = _sign(id_key, id_block)
    auth[_OFF_ID_KEY : _OFF_ID_KEY + _KEY_SIZE] = id_struct
    author_digest = None
    if author_key is not None:
        author_struct = public_key_struct(author_key)
        auth[4:8] = ALGO_ECDSA_P384_SHA384.to_bytes(4, "little")
        auth[_OFF_ID_KEY_SIG : _OFF_ID_KEY_SIG + _SIG_SIZE] = _sign(author_key, id_struct)
        auth[_OFF_AUTHOR_KEY : _OFF_AUTHOR_KEY + _KEY_SIZE] = author_struct
        author_digest = hashlib.sha384(author_struct).digest()
    return SignedIdBlock(bytes(id_block), bytes(auth), hashlib.sha384(id_struct).digest(), author_digest)


def has_author_key(id_auth: bytes | None) -> bool:
    """Whether an ID auth structure carries an author key (AUTH_KEY_ALGO @0x004 set): the value
    SNP_LAUNCH_FINISH's AUTH_KEY_EN takes for it (spec amd.md, ID auth layout)."""
    return id_auth is not None and any(id_auth[4:8])


def verify_id_auth(id_block: bytes, id_auth: bytes) -> None:
    """Check the ID block signature (and the ID key signature if an author key is present)."""
    if len(id_block) != ID_BLOCK_SIZE:
        raise TruncatedError(f"an ID block is {ID_BLOCK_SIZE} bytes", what="ID block", offset=0)
    if len(id_auth) != ID_AUTH_SIZE:
        raise TruncatedError(f"an ID auth structure is {ID_AUTH_SIZE} bytes", what="ID auth", offset=0)
    algo = int.from_bytes(id_auth[0:4], "little")
    if algo != ALGO_ECDSA_P384_SHA384:
        raise FormatError(f"ID key algorithm {algo} is not ECDSA P-384", what="ID auth", offset=0)
    id_struct = id_auth[_OFF_ID_KEY : _OFF_ID_KEY + _KEY_SIZE]
    _verify(id_struct, id_auth[_OFF_BLOCK_SIG : _OFF_BLOCK_SIG + _SIG_SIZE], id_block, "ID block signature")
    if int.from_bytes(id_auth[4:8], "little") == ALGO_ECDSA_P384_SHA384:
        _verify(
            id_auth[_OFF_AUTHOR_KEY : _OFF_AUTHOR_KEY + _KEY_SIZE],
            id_auth[_OFF_ID_KEY_SIG : _OFF_ID_KEY_SIG + _SIG_SIZE],
            id_struct,
            "ID key signature",
        )
