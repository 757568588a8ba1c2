"""``pvmkit snp-create-id-block`` against sev-snp-measure 0.0.13's ``snp-create-id-block`` (the peer,
PyPI test dependency): same keys and measurement → the same ID block, the same key digests, and ID
auth structures equal outside their (randomized) ECDSA signatures, each signature verifying with
pvmkit's verifier, so the peer's layout and pvmkit's agree."""

from __future__ import annotations

import base64
import contextlib
import io
import sys
from pathlib import Path
from unittest import mock

import pytest

from pvmkit.cli.main import main
from pvmkit.vendors.amd.id_block import verify_id_auth

pytestmark = pytest.mark.crosscheck
SIGNATURES = ((0x040, 0x240), (0x680, 0x880))  # ID block signature, ID key signature


def _keys(tmp_path: Path) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    paths = []
    for name in ("id", "author"):
        key = ec.generate_private_key(ec.SECP384R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        (tmp_path / f"{name}.pem").write_bytes(pem)
        paths.append(str(tmp_path / f"{name}.pem"))
    return paths[0], paths[1]


def _parse(text: str) -> tuple[bytes, bytes, str, str]:
    first, id_hash, author = text.strip().splitlines()
    block, auth = (part.split("=", 1)[1] for part in first.split(","))
    return base64.b64decode(block), base64.b64decode(auth), id_hash, author


def _blank_signatures(auth: bytes) -> bytes:
    out = bytearray(auth)
    for start, end in SIGNATURES:
        out[start:end] = bytes(end - start)
    return bytes(out)


def test_same_block_digests_and_layout_as_the_peer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sevsnpmeasure import id_block as peer

    id_key, author_key = _keys(tmp_path)
    measurement = base64.b64encode(bytes(range(48))).decode()
    argv = ["--measurement", measurement, "--idkey", id_key, "--authorkey", author_key]
    out = io.StringIO()
    with mock.patch.object(sys, "argv", ["snp-create-id-block", *argv]), contextlib.redirect_stdout(out):
        assert peer.main() == 0
    theirs = _parse(out.getvalue())
    assert main(["snp-create-id-block", *argv]) == 0
    ours = _parse(capsys.readouterr().out)
    assert ours[0] == theirs[0] and ours[2:] == theirs[2:]  # ID block, id_key_hash, author_key
    assert len(ours[1]) == len(theirs[1]) == 4096
    assert _blank_signatures(ours[1]) == _blank_signatures(theirs[1])
    assert ours[1] != theirs[1]  # ECDSA signatures are randomized: the comparison above is not vacuous
    verify_id_auth(theirs[0], theirs[1])  # the peer's signatures verify with pvmkit's reading
    verify_id_auth(ours[0], ours[1])
