"""``pvmkit snp-create-id-block``: pvmkit's additions (family/image IDs, guest SVN, policy, no author
key, JSON) and bad input; the peer-compatible output is in tests/crosscheck/test_snp_id_block_peer.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.vendors.amd.id_block import key_digest, load_private_key, parse_id_block, verify_id_auth

LD = bytes(range(48))


@pytest.fixture
def id_key(tmp_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "id.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return str(path)


def test_fields_and_json_without_an_author_key(id_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["snp-create-id-block", "--measurement", base64.b64encode(LD).decode(), "--idkey", id_key,
            "--family-id", "11" * 16, "--image-id", "22" * 16,
            "--guest-svn", "5", "--policy", "0x30001"]  # fmt: skip
    assert main([*argv, "--output-format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    block, auth = base64.b64decode(doc["id_block"]), base64.b64decode(doc["id_auth"])
    parsed = parse_id_block(block)
    assert (parsed.launch_digest, parsed.family_id, parsed.image_id) == (LD, b"\x11" * 16, b"\x22" * 16)
    assert (parsed.guest_svn, parsed.policy) == (5, 0x30001)
    verify_id_auth(block, auth)
    key = load_private_key(Path(id_key).read_bytes())
    assert doc["id_key_digest"] == key_digest(key).hex() and doc["author_key_digest"] is None
    assert main(argv) == 0
    assert capsys.readouterr().out.rstrip().endswith("author_key: none")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--measurement", "not base64!"], "96 hex digits or 64 base64 characters"),
        (["--measurement", base64.b64encode(bytes(32)).decode()], "got 44 characters"),
        (["--measurement", "ab" * 47], "got 94 characters"),
        (["--family-id", "00"], "--family-id must be 16 bytes"),
        (["--guest-svn", "-1"], "--guest-svn -1 is outside 0..0xffffffff"),
        (["--guest-svn", "4294967296"], "--guest-svn 4294967296 is outside"),
        (["--policy", "-1"], "--policy -1 is outside"),
        (["--policy", str(2**64)], "is outside 0..0xffffffffffffffff"),
    ],
)
def test_bad_option_values(
    id_key: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Option values that do not parse or are out of range: one line, exit 2 (docs/cli.md)."""
    argv = ["snp-create-id-block", "--measurement", base64.b64encode(LD).decode(), "--idkey", id_key, *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_key_that_is_not_p384(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "k.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert main(["snp-create-id-block", "--measurement", base64.b64encode(LD).decode(), "--idkey",
                 str(tmp_path / "k.pem")]) == 1  # fmt: skip
    assert "cannot load the private key" in capsys.readouterr().err
