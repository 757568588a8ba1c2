"""``pvmkit measure --vendor V --igvm FILE``: the spec's IGVM regression file (cca_igvm.md §B2.6) through
the CLI, each loader's rules, output formats and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from support.cli import run
from support.igvm_vectors import SEV_ES_LD, SNP, TDX_MRTD, igvm_file


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name, platform in (("snp", 2), ("tdx", 3), ("sev-es", 5)):
        (tmp_path / f"{name}.igvm").write_bytes(igvm_file(platform_type=platform))
        out[name] = str(tmp_path / f"{name}.igvm")
    (tmp_path / "junk").write_bytes(b"junk" * 100)
    out["junk"] = str(tmp_path / "junk")
    return out


def test_loaders_and_platforms(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    snp = ["measure", "--vendor", "snp", "--igvm", files["snp"]]
    assert run([*snp, "--igvm-loader", "igvm-crate"], capsys) == (0, SNP["igvm-crate"] + "\n", "")
    assert run([*snp, "--igvm-loader", "igvmmeasure"], capsys) == (0, SNP["igvmmeasure"] + "\n", "")
    assert (
        run([*snp, "--igvm-loader", "igvmmeasure", "--native-zero"], capsys)[1].strip() == SNP["native-zero"]
    )
    tdx = ["measure", "--vendor", "tdx", "--igvm", files["tdx"], "--igvm-loader", "igvm-crate"]
    assert run(tdx, capsys) == (0, TDX_MRTD + "\n", "")
    sev_es = ["measure", "--vendor", "sev-es", "--igvm", files["sev-es"], "--igvm-loader", "igvmmeasure"]
    assert run(sev_es, capsys) == (0, SEV_ES_LD + "\n", "")


def test_output_formats(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "snp", "--igvm", files["snp"], "--igvm-loader", "igvmmeasure"]
    code, out, _ = run([*argv, "--output-format", "base64"], capsys)
    assert code == 0 and base64.b64decode(out).hex() == SNP["igvmmeasure"]
    code, out, _ = run([*argv, "--output-format", "json"], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.measure-igvm/1" and doc["digest"] == SNP["igvmmeasure"]
    assert doc["igvm_sha256"] == hashlib.sha256(Path(files["snp"]).read_bytes()).hexdigest()
    assert (doc["policy"], doc["platform_mask"], doc["vcpus"], doc["loader"]) == (
        0x30000,
        1,
        1,
        "igvmmeasure",
    )


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--vendor", "tdx", "--igvm", "{snp}"], 1, "supports sev-snp, not tdx"),
        (["--vendor", "snp", "--igvm", "{junk}"], 1, "not an IGVM file"),
        (["--vendor", "snp", "--igvm", "/nonexistent.igvm"], 1, "No such file"),
        (["--vendor", "sev", "--igvm", "{snp}"], 1, "not sev"),
        (["--vendor", "cca", "--igvm", "{snp}"], 2, "invalid choice"),
        (["--vendor", "snp", "--igvm", "{snp}", "--igvm-loader", "ovmf"], 2, "invalid choice"),
    ],
)
def test_bad_input(argv: list[str], code: int, message: str, files: dict[str, str], capsys) -> None:
    got, out, err = run(["measure", *[a.format(**files) for a in argv]], capsys)
    assert (got, out) == (code, "")
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def _igvm_id_block(ld: bytes, *, author: bool, policy: int = 0x30000):  # type: ignore[no-untyped-def]
    """An IGVM SNP_ID_BLOCK for ``ld`` signed with fresh P-384 keys by pvmkit's SNP signer (tested
    against the spec's ID block vector), rewritten in IGVM's layout (spec cca_igvm.md §B1.2): r and s,
    then ``{curve, reserved, qx, qy}`` per key. Returns the record and the SNP key digests."""
    import struct

    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.formats.igvm import SnpIdBlock
    from pvmkit.vendors.amd.id_block import build_id_block, sign_id_block

    family, image = b"F" * 16, b"I" * 16
    id_key = ec.generate_private_key(ec.SECP384R1())
    author_key = ec.generate_private_key(ec.SECP384R1()) if author else None
    block = build_id_block(ld, family_id=family, image_id=image, guest_svn=7, policy=policy)
    signed = sign_id_block(block, id_key, author_key)
    auth = signed.id_auth

    def igvm_key(snp_struct: bytes) -> bytes:
        return snp_struct[0:4] + bytes(4) + snp_struct[4:148]

    body = (
        struct.pack("<IB3x", 1, int(author))
        + ld
        + family
        + image
        + struct.pack("<IIII", 1, 7, 1, 1 if author else 0)
    )
    body += auth[0x40 : 0x40 + 144] + igvm_key(auth[0x240 : 0x240 + 1028])
    body += auth[0x680 : 0x680 + 144] + igvm_key(auth[0x880 : 0x880 + 1028])
    assert len(body) == 696
    return SnpIdBlock(1, int(author), ld, family, image, 1, 7, body), signed


def _write(tmp_path: Path, name: str, block) -> str:  # type: ignore[no-untyped-def]
    from support.igvm_vectors import DIRECTIVES

    path = tmp_path / name
    path.write_bytes(igvm_file(directives=[*DIRECTIVES, block]))
    return str(path)


@pytest.mark.parametrize("author", [False, True])
def test_the_snp_id_block_is_checked_and_described(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], author: bool
) -> None:
    import dataclasses

    digest = bytes.fromhex(SNP["igvmmeasure"])  # an ID block directive is not measured
    command = ["measure", "--vendor", "snp", "--igvm-loader", "igvmmeasure", "--igvm"]
    block, signed = _igvm_id_block(digest, author=author)
    code, out, _ = run([*command, _write(tmp_path, "good.igvm", block), "--output-format", "json"], capsys)
    info = json.loads(out)["id_block"]
    assert code == 0 and info["verified"] and info["ld"] == SNP["igvmmeasure"] and info["guest_svn"] == 7
    assert info["id_key_digest"] == signed.id_key_digest.hex()  # what the report's ID_KEY_DIGEST will be
    assert info["author_key_digest"] == (signed.author_key_digest.hex() if author else None)
    assert (info["family_id"], info["image_id"]) == ((b"F" * 16).hex(), (b"I" * 16).hex())
    # signed for another digest: the firmware would refuse the launch
    other, _ = _igvm_id_block(bytes(48), author=author)
    code, out, err = run([*command, _write(tmp_path, "other.igvm", other)], capsys)
    assert (
        (code, out) == (3, "") and "SNP_LAUNCH_FINISH would refuse it" in err and len(err.splitlines()) == 1
    )
    assert run([*command, _write(tmp_path, "other.igvm", other), "--ignore-id-block"], capsys) == (
        0, SNP["igvmmeasure"] + "\n", "",
    )  # fmt: skip
    # a damaged signature, or a policy other than the one signed
    body = bytearray(block.body)
    body[110] ^= 1  # inside the ID block signature's r
    broken = dataclasses.replace(block, body=bytes(body))
    code, _, err = run([*command, _write(tmp_path, "broken.igvm", broken)], capsys)
    assert code == 3 and "ID block signature does not verify" in err
    if author:
        body = bytearray(block.body)
        body[410] ^= 1  # inside the author's signature of the ID key
        code, _, err = run(
            [*command, _write(tmp_path, "author.igvm", dataclasses.replace(block, body=bytes(body)))], capsys
        )
        assert code == 3 and "ID key signature does not verify" in err
    repolicied, _ = _igvm_id_block(digest, author=author, policy=0x30001)
    code, _, err = run([*command, _write(tmp_path, "policy.igvm", repolicied)], capsys)
    assert code == 3 and "ID block signature does not verify" in err  # the file's policy is 0x30000
