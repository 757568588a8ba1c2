"""Inputs as digests (issue 10 part 3): ``--ovmf-description`` (what ``pvmkit inspect --json`` prints
for an OVMF image) and ``--kernel-sha256``/``--initrd-sha256`` give the same launch digests as the
files, for every SNP-capable firmware fixture; contradictions and vendors that need the image are
refused in one line.

Oracles: the image path (``measure --firmware``, itself cross-checked against sev-snp-measure 0.0.13
in tests/crosscheck); the hash seed against sev-snp-measure's own ``snp:ovmf-hash`` mode (PyPI peer);
``hashlib`` for the SHA-256 of the generated kernel/initrd.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from support.cli import run
from support.fixtures import fixture_path, import_peer

#: Every SNP-capable firmware among the fixtures (the two 4 KiB tails are sev-snp-measure's own test
#: images; svsm_ovmf.fd is the OVMF of its SVSM pair).
SNP_FIRMWARE = [
    "firmware/OVMF.amdsev.fd",
    "sev-snp-measure-tests/ovmf_AmdSev_suffix.bin",
    "sev-snp-measure-tests/ovmf_OvmfX64_suffix.bin",
    "sev-snp-measure-tests/svsm_ovmf.fd",
]


def describe(firmware: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, _ = run(["inspect", "--type", "ovmf", "--json", firmware], capsys)
    assert code == 0
    path = tmp_path / "description.json"
    path.write_text(out)
    return path


@pytest.fixture(scope="module")
def kernel_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("inputs")
    kernel, initrd = d / "kernel", d / "initrd"
    kernel.write_bytes(bytes((i * 7 + 3) & 0xFF for i in range(65536)))
    initrd.write_bytes(b"pvmkit-initrd\n" * 1000)
    return kernel, initrd


@pytest.mark.parametrize("name", SNP_FIRMWARE)
def test_description_gives_the_image_values(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kernel_files: tuple[Path, Path]
) -> None:
    firmware = str(fixture_path(name))
    description = describe(firmware, tmp_path, capsys)
    doc = json.loads(description.read_text())
    assert doc["value"]["size"] == Path(firmware).stat().st_size
    kernel, initrd = kernel_files
    kernels: list[tuple[list[str], list[str]]] = [([], [])]
    if (
        any(s["type_name"] == "SNP_KERNEL_HASHES" for s in doc["value"]["sections"])
        and doc["value"]["hashes_table"]
    ):
        kernels.append(
            (
                ["--kernel", str(kernel), "--initrd", str(initrd), "--cmdline", "console=ttyS0"],
                [
                    "--kernel-sha256", hashlib.sha256(kernel.read_bytes()).hexdigest(),
                    "--initrd-sha256", hashlib.sha256(initrd.read_bytes()).hexdigest().upper(),
                    "--cmdline", "console=ttyS0",
                ],
            )
        )  # fmt: skip
    for vmm in ("qemu", "ec2", "gce"):
        for files, digests in kernels:
            shape = [
                "--vendor",
                "snp",
                "--vcpus",
                "1-3",
                "--vcpu-type",
                "EPYC-Milan",
                "--vmm-type",
                vmm,
                "--json",
            ]
            code, from_image, _ = run(["measure", *shape, "--firmware", firmware, *files], capsys)
            assert code == 0
            code, from_description, _ = run(
                ["measure", *shape, "--ovmf-description", str(description), *digests], capsys
            )
            assert code == 0
            image_digests = [json.loads(line)["digest"] for line in from_image.splitlines()]
            assert [json.loads(line)["digest"] for line in from_description.splitlines()] == image_digests
    # and through reference-values, as a set
    shape = ["--vcpus", "1-4", "--vcpu-type", "EPYC-v4,EPYC-Genoa", "--format", "trustee-provenance"]
    code, a, _ = run(["reference-values", "--vendor", "snp", "--firmware", firmware, *shape], capsys)
    code2, b, _ = run(
        ["reference-values", "--vendor", "snp", "--ovmf-description", str(description), *shape], capsys
    )
    assert code == code2 == 0 and json.loads(a) == json.loads(b)


def test_the_hash_seed_is_sev_snp_measures_ovmf_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peer = import_peer("sevsnpmeasure.gctx")
    firmware = str(fixture_path("firmware/OVMF.amdsev.fd"))
    doc = json.loads(describe(firmware, tmp_path, capsys).read_text())
    from sevsnpmeasure.ovmf import OVMF

    ovmf = OVMF(firmware)
    gctx = peer.GCTX()
    gctx.update_normal_pages(ovmf.gpa(), ovmf.data())
    assert doc["value"]["snp_hash_seed"] == gctx.ld().hex()


def test_digests_equal_files_for_sev_and_sev_es(
    capsys: pytest.CaptureFixture[str], kernel_files: tuple[Path, Path]
) -> None:
    firmware = str(fixture_path("firmware/OVMF.amdsev.fd"))
    kernel, initrd = kernel_files
    for vendor in ("sev", "sev-es"):
        base = [
            "measure",
            "--vendor",
            vendor,
            "--firmware",
            firmware,
            "--vcpu-type",
            "EPYC-v4",
            "--cmdline",
            "x",
        ]
        _, a, _ = run([*base, "--kernel", str(kernel), "--initrd", str(initrd)], capsys)
        k, i = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (kernel, initrd))
        _, b, _ = run([*base, "--kernel-sha256", k, "--initrd-sha256", i], capsys)
        assert a == b and len(a.strip()) == 64


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    firmware = str(fixture_path("firmware/OVMF.amdsev.fd"))
    description = describe(firmware, tmp_path, capsys)
    doc = json.loads(description.read_text())
    base = ["measure", "--vendor", "snp", "--vcpu-type", "EPYC-v4"]
    code, _, err = run(
        ["measure", "--vendor", "sev-es", "--vcpu-type", "EPYC-v4", "--ovmf-description", str(description)],
        capsys,
    )
    assert code == 1 and "hashes the whole firmware image; give --firmware FILE" in err
    code, _, err = run([*base, "--ovmf-description", str(description), "--firmware", firmware], capsys)
    assert code == 2 and "not both" in err
    code, _, err = run([*base, "--firmware", firmware, "--initrd-sha256", "00" * 32], capsys)
    assert code == 2 and "need --kernel" in err
    for key, value, message in (
        ("reset_eip", doc["value"]["reset_eip"] + 0x1000, "contradicts itself: reset_eip"),
        ("hashes_table", [0x810C00, 0x800], "contradicts itself: hashes_table"),
        ("snp_hash_seed", "00" * 47, "snp_hash_seed must be 96 hex digits"),
        ("metadata_offset", None, "contradicts itself: SEV metadata sections"),
        ("size", 12345, "not a positive multiple of 4 KiB"),
    ):
        bad = tmp_path / f"bad-{key}.json"
        bad.write_text(json.dumps({**doc, "value": {**doc["value"], key: value}}))
        code, out, err = run([*base, "--ovmf-description", str(bad)], capsys)
        assert code == 1 and out == "" and message in err, (key, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
