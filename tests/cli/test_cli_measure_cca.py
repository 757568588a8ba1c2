"""``pvmkit measure --vendor cca`` through the dispatcher: the spec's RMM-1.0 flow (cca_igvm.md §A1.7,
tests/vectors/README.md "Arm CCA RIM"), output formats, and bad input as one line with exit 1 or 2."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from support.cli import run

FLOW_RIM = "7101085bb317cc1d53bbc494a4a47fbeae6a88a692ccda9aefba1286b2f56510"
FLOW_RMM2 = "522ce01c0d749020f70ddb9147a024351a8213c8a79f2d0dc613744195b1fe4e"


@pytest.fixture
def flow(tmp_path: Path) -> list[str]:
    """The §A1.7 flow as options: page P measured at 0x80000000, a zero page unmeasured after it."""
    (tmp_path / "P").write_bytes(bytes(range(256)) * 16)
    (tmp_path / "Z").write_bytes(bytes(100))  # padded to a granule, like the spec's zero page
    return [
        "measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4",
        "--load-unmeasured", f"0x80001000:{tmp_path / 'Z'}", "--load", f"0x80000000:{tmp_path / 'P'}",
        "--pc", "0x80000000", "--gpr", "0=0x80100000", "--vcpus", "2",
    ]  # fmt: skip


def test_the_spec_flow(flow: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*flow, "--ripas", "0x80000000:2M", "--ripas-first"], capsys) == (0, FLOW_RIM + "\n", "")
    assert run([*flow, "--rmm", "2.0", "--ripas", "0x80000000:2M"], capsys) == (0, FLOW_RMM2 + "\n", "")
    code, out, _ = run(
        [*flow, "--ripas", "0x80000000:2M", "--ripas-first", "--output-format", "json"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.measure-cca/1" and doc["rim"] == FLOW_RIM
    assert doc["rim_slot"] == FLOW_RIM + "00" * 32
    assert (doc["descriptors"], doc["pages"], doc["vcpus"], doc["rmm"]) == (4, 2, 2, "1.0")
    # the record states its inputs: each file's SHA-256 as given (hashlib over the bytes written above)
    p_file, z_file = flow[flow.index("--load") + 1][11:], flow[flow.index("--load-unmeasured") + 1][11:]
    p_sha, z_sha = hashlib.sha256(bytes(range(256)) * 16).hexdigest(), hashlib.sha256(bytes(100)).hexdigest()
    assert doc["images"] == [
        {"ipa": "0x80000000", "file": p_file, "sha256": p_sha, "measured": True},
        {"ipa": "0x80001000", "file": z_file, "sha256": z_sha, "measured": False},
    ]
    assert doc["pc"] == "0x80000000" and doc["gprs"] == ["0=0x80100000"]


def test_base64_and_hash_length(flow: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [*flow, "--ripas", "0x80000000:2M", "--ripas-first", "--output-format", "base64"], capsys
    )
    assert code == 0 and base64.b64decode(out).hex() == FLOW_RIM
    code, out, _ = run([*flow, "--hash", "sha512"], capsys)
    assert code == 0 and len(bytes.fromhex(out.strip())) == 64


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--num-bps", "1"], 2, "num_bps 1 is outside 2..64"),
        (["--load", "0x1001:{P}"], 2, "not 4 KiB aligned"),
        (["--load", "0x1000:{empty}"], 1, "the file is empty"),
        (["--load", "0x1000:{P}", "--load-unmeasured", "0x1000:{P}"], 1, "overlaps"),
        (["--load", "0x1000"], 2, "takes IPA:FILE"),
        (["--gpr", "8=1"], 2, "N in 0..7"),
        (["--ripas", "0x1000"], 2, "takes BASE:SIZE"),
        (["--hash", "sha384"], 2, "sha384 needs RMM 2.0"),
        (["--sve-vl", "100"], 2, "sve_vl 100"),
        (["--vcpus", "0"], 2, "outside 1..512"),
        (["--load", "0x1000:/nonexistent/file"], 1, "No such file"),
        (["--hash", "md5"], 2, "invalid choice"),
    ],
)
def test_bad_input(extra: list[str], code: int, message: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "P").write_bytes(b"p" * 4096)
    (tmp_path / "empty").write_bytes(b"")
    base = ["measure", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4"]
    argv = base + [a.format(P=tmp_path / "P", empty=tmp_path / "empty") for a in extra]
    got, out, err = run(argv, capsys)
    assert (got, out) == (code, "")
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


# -- --vmm-type kvmtool (vectors: cca-realm-measurements tests/cmdline.rs; tests/unit/test_cca_vmm.py) --
KVMTOOL = ["measure", "--vendor", "cca", "--num-bps", "6", "--num-wps", "6", "--vmm-type", "kvmtool",
           "--mem", "512M", "--vcpus", "1"]  # fmt: skip
PEER_FIRMWARE = "cf37146fce0ad50e1be1a04580c1024e5449b430b0dd96b6ef5c9a2b73767bf5"


def test_kvmtool_published_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(KVMTOOL, capsys)
    assert code == 0 and out.startswith("998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4599aa8671791d4d")
    (tmp_path / "fw").write_bytes(b"FW CONTENT")
    dumped = tmp_path / "out.dtb"
    firmware = ["--firmware", str(tmp_path / "fw")]
    code, out, _ = run([*KVMTOOL, *firmware, "--dump-dtb", str(dumped), "--output-format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["rim"] == PEER_FIRMWARE and doc["vmm"] == "kvmtool" and doc["ipa_bits"] == 33
    assert doc["pc"] == "0x80000000" and doc["dtb_gpa"] == "0x8fe00000"
    assert [i["label"] for i in doc["images"]] == ["firmware", "dtb"]
    # the dumped DTB, given back with --dtb, is measured as it is: the same RIM
    assert dumped.stat().st_size == 0x10000 and dumped.read_bytes()[:4] == b"\xd0\x0d\xfe\xed"
    code, out, _ = run([*KVMTOOL, "--firmware", str(tmp_path / "fw"), "--dtb", str(dumped)], capsys)
    assert (code, out) == (0, PEER_FIRMWARE + "\n")


def test_kvmtool_kernel_initrd_append(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import struct

    header = struct.pack("<IIQQQQQQII", 0x14000000, 0, 0, 0x100000, 0xA, 0, 0, 0, 0x644D5241, 0)
    (tmp_path / "Image").write_bytes(header + b"k" * 1000)
    (tmp_path / "initrd").write_bytes(b"i" * 333)
    argv = [
        *KVMTOOL,
        "--kernel",
        str(tmp_path / "Image"),
        "--initrd",
        str(tmp_path / "initrd"),
        "--output-format",
        "json",
    ]
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["pc"] == "0x80000000"
    initrd_at = hex((0x8FE00000 - 333 - 4 + 3) // 4 * 4)
    assert {i["label"]: i["ipa"] for i in doc["images"]} == {
        "kernel": "0x80000000",
        "initrd": initrd_at,
        "dtb": "0x8fe00000",
    }
    code, out2, _ = run([*argv, "--append", "quiet"], capsys)
    assert code == 0 and json.loads(out2)["rim"] != doc["rim"]  # the DTB's bootargs changed
    code, out3, _ = run([*argv, "--bootargs", " console=hvc0 root=/dev/vda rw  quiet"], capsys)
    assert json.loads(out3)["rim"] == json.loads(out2)["rim"]


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--load", "0x80000000:x"], 2, "--load cannot be used with --vmm-type"),
        (["--pc", "0x1000"], 2, "--pc cannot be used with --vmm-type"),
        (["--append", "a", "--bootargs", "b"], 2, "cannot be used together"),
        (["--mem", "3M"], 1, "multiple of 2 MiB"),
        (["--ipa-bits", "32"], 1, "needs 33 IPA bits, the host offers 32"),
        # realm parameters out of range are usage errors, as without --vmm-type (docs/cli.md "Exit codes")
        (["--sve-vl", "100"], 2, "sve_vl 100 is not a multiple of 128"),
        (["--hash", "sha384"], 2, "sha384 needs RMM 2.0"),
    ],
)
def test_kvmtool_bad_options(
    capsys: pytest.CaptureFixture[str], extra: list[str], code: int, message: str
) -> None:
    got, _, err = run([*KVMTOOL, *extra], capsys)
    assert got == code and message in err and err.count("\n") == 1


def test_kvmtool_needs_mem_and_not_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in KVMTOOL if a not in ("--mem", "512M")]
    code, _, err = run(argv, capsys)
    assert code == 2 and "--vmm-type kvmtool needs --memory" in err
    (tmp_path / "vmlinuz").write_bytes(b"\x1f\x8b" + bytes(200))
    code, _, err = run([*KVMTOOL, "--kernel", str(tmp_path / "vmlinuz")], capsys)
    assert code == 1 and "not an arm64 Image" in err and "gzip" in err
    code, _, err = run(
        ["measure", "--vendor", "cca", "--num-bps", "6", "--num-wps", "6", "--kernel", "x"], capsys
    )
    assert code == 2 and "--kernel need --vmm-type" in err
    code, _, err = run(["measure", "--vendor", "cca", "--num-bps", "6", "--num-wps", "6"], capsys)
    assert code == 2 and "--ipa-bits is required without --vmm-type" in err


# -- --vmm-type qemu (cca-realm-measurements tests/cmdline.rs qemu_params, qemu_measurements) ----------
QEMU = [
    "measure",
    "--vendor",
    "cca",
    "--num-bps",
    "6",
    "--num-wps",
    "6",
    "--ipa-bits",
    "52",
    "--vmm-type",
    "qemu",
]


def test_qemu_published_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(QEMU, capsys)  # SHA-512 by default, 128 MiB, one vCPU
    assert code == 0 and out.startswith("cf409055d866eea6c8d5e7862b540ff1") and len(out.strip()) == 128
    code, out, _ = run([*QEMU, "--pmu-counters", "2"], capsys)
    assert code == 0 and out.startswith("ef4e6f78ea9630f66146b33a405a07b6")
    (tmp_path / "fw").write_bytes(b"FW CONTENT")
    bios = [*QEMU, "--hash", "sha256", "--vcpus", "2", "--memory", "1G", "--firmware", str(tmp_path / "fw")]
    code, out, _ = run([*bios, "--cmdline", "root=/dev/vda2", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["rim"] == "fd3ce1072c3e95cd3a4d1a07729756564f260f9f7e95014418b416673a268b7a"
    assert (doc["vmm"], doc["ipa_bits"], doc["pc"], doc["dtb_gpa"]) == ("qemu", 41, "0x0", "0x40000000")
    code, _, err = run([*bios, "--firmware-address", "0x1000"], capsys)
    assert code == 2 and "--firmware-address is kvmtool's" in err
