"""Predict → ID block → launch → verify, on the real /dev/kvm with the software-protected VM: the
bundled guest's measurement predicted by ``pvmkit measure --vendor sw``, an ID block signed for it by
``pvmkit snp-create-id-block``, the launch with ``--id-block/--id-auth`` (the sw VM checks it as
SNP_LAUNCH_FINISH does), and a report whose ID_KEY_DIGEST / AUTHOR_KEY_DIGEST verify."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pvmkit.cli.main import main

pytestmark = pytest.mark.kvm
NONCE = "ab" * 32


def _pem(tmp_path: Path, name: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / f"{name}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return str(path)


def test_predict_sign_launch_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--vendor", "sw", "--output-format", "base64"]) == 0
    measurement = capsys.readouterr().out.strip()
    idkey, authorkey = _pem(tmp_path, "id"), _pem(tmp_path, "author")
    assert (
        main(
            ["snp-create-id-block", "--measurement", measurement, "--idkey", idkey, "--authorkey", authorkey]
        )
        == 0
    )
    first, id_hash, author_hash = capsys.readouterr().out.strip().splitlines()
    block, auth = (part.split("=", 1)[1] for part in first.split(","))
    keys, report = tmp_path / "keys", tmp_path / "report.bin"
    launch = ["launch", "--vendor", "sw", "--key", str(keys), "--nonce", NONCE, "--report-out", str(report)]
    certs = tmp_path / "certs.bin"
    assert main([*launch, "--id-block", block, "--id-auth", auth, "--certs-out", str(certs)]) == 0
    capsys.readouterr()
    from pvmkit.attest.software_ca import SoftwareAttestationKeys

    ark = SoftwareAttestationKeys.load(str(keys)).ark_sha256
    assert main(["verify", "--report", str(report), "--certs", str(certs), "--ark-sha256", ark]) == 0
    capsys.readouterr()
    verify = ["verify", "--report", str(report), "--key", str(keys), "--measurement",
              base64.b64decode(measurement).hex()]  # fmt: skip
    digests = ["--id-key-digest", base64.b64decode(id_hash.split(": ")[1]).hex(),
               "--author-key-digest", base64.b64decode(author_hash.split(": ")[1]).hex()]  # fmt: skip
    assert main([*verify, *digests]) == 0
    assert "matched      measurement, id_key_digest, author_key_digest" in capsys.readouterr().out
    # an ID block signed for another measurement: the launch is refused as SNP_LAUNCH_FINISH would
    other = base64.b64encode(bytes(48)).decode()
    assert main(["snp-create-id-block", "--measurement", other, "--idkey", idkey]) == 0
    first = capsys.readouterr().out.strip().splitlines()[0]
    block, auth = (part.split("=", 1)[1] for part in first.split(","))
    assert main([*launch, "--id-block", block, "--id-auth", auth]) == 1
    assert "SEV_RET_BAD_MEASUREMENT" in capsys.readouterr().err
    assert main([*launch, "--id-block", block]) == 1
    assert "--id-block and --id-auth go together" in capsys.readouterr().err
