"""``pvmkit measure --vendor tdx`` through ``pvmkit.cli.main.main(argv)``: MRTD (spec tdx.md §1.5
vectors, td-shim-confirmed for the interleaved order), RTMR output, and every bad input as one stderr
line with a non-zero exit code."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from pvmkit.formats.ccel import EventLog
from support.cli import run
from support.fixtures import fixture_path, read_fixture

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
MRTD_1 = "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08"
MRTD_2 = "b90b236113eb4c0d4df4ef590568c14e6028a3a31d7e8ac63dee9845df5008d3ebf82d4f5974e933798f65d7a279b9a9"
TD_HOB_2G = "0b8772e5b0b41b83e6044a68397e02f49fb47066b4fbe4917ea2c45c64f323fdacbb37948f821ebaf8bc9c938ba8a749"


@pytest.fixture
def fw() -> str:
    return str(fixture_path(TDX_FD))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], MRTD_1),
        (["--order", "interleaved"], MRTD_1),
        (["--order", "kvm-upstream"], MRTD_1),
        (["--order", "two-pass"], MRTD_2),
        (["--order", "legacy-two-pass"], MRTD_2),
        (["--qemu-version", "8.2.2"], MRTD_2),  # QEMU 8.x TDX stacks are two-pass (dstack's rule)
        (["--qemu-version", "10.2"], MRTD_1),
    ],
)
def test_mrtd(fw: str, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str) -> None:
    code, out, err = run(["measure", "--vendor", "tdx", "--firmware", fw, *extra], capsys)
    assert (code, out, err) == (0, expected + "\n", "")


def test_mrtd_json(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--order", "two-pass", "--json"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.measure-tdx/1"
    assert doc["mrtd"] == MRTD_2 and doc["order"] == "two-pass" and doc["order_label"] == "legacy-two-pass"
    assert doc["metadata_offset"] == 0x3FF600 and len(doc["sections"]) == 6
    assert doc["sections"][0]["type"] == "BFV" and doc["sections"][0]["mr_extend"] is True
    assert doc["firmware_sha256"].startswith("a265075b4147a096")


def _fail(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 1) -> str:
    got, out, err = run(argv, capsys)
    assert got == code and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_random_image_has_no_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "random.fd"
    bad.write_bytes(hashlib.shake_256(b"pvmkit").digest(4 << 20))
    assert "no TDVF metadata" in _fail(["measure", "--vendor", "tdx", "--firmware", str(bad)], capsys)


def test_truncated_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = read_fixture(TDX_FD)
    head = tmp_path / "head.fd"
    head.write_bytes(image[: 3 << 20])  # footer gone
    assert "no TDVF metadata" in _fail(["measure", "--vendor", "tdx", "--firmware", str(head)], capsys)
    tail = tmp_path / "tail.fd"
    tail.write_bytes(image[0x84000:])  # the split OVMF_CODE case: metadata points outside the image
    line = _fail(["measure", "--vendor", "tdx", "--firmware", str(tail)], capsys)
    assert "runs past the end" in line and "at offset" in line


def test_amd_image_has_tdx_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    amd = str(fixture_path("firmware/OVMF.amdsev.fd"))
    code, out, _ = run(["measure", "--vendor", "tdx", "--firmware", amd], capsys)
    assert code == 0 and out.startswith("5f77220a") and out.strip().endswith("fe6f004d")


def test_missing_file_and_usage_errors(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "nope.fd" in _fail(["measure", "--vendor", "tdx", "--firmware", "/nope/nope.fd"], capsys)
    assert "usage" in _fail(["measure", "--vendor", "tdx"], capsys, code=2)
    assert "usage" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--order", "sideways"], capsys, code=2
    )
    assert "add --rtmr" in _fail(["measure", "--vendor", "tdx", "--firmware", fw, "--memory", "2G"], capsys)
    assert "needs --memory" in _fail(["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr"], capsys)
    assert "not a size" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "lots"], capsys, code=2
    )
    assert "apply to MRTD" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--order", "two-pass"], capsys
    )
    assert "all three" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--acpi-tables", fw], capsys
    )
    assert "OVMF version" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--ovmf-version", "new"],
        capsys,
        code=2,
    )
    assert "QEMU version" in _fail(
        ["measure", "--vendor", "tdx", "--firmware", fw, "--qemu-version", "x"], capsys, code=2
    )


def test_rtmr_text_output_marks_unknown_registers(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--memory", "2G"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "RTMR0: unknown (missing: ACPI tables, SMBIOS, boot variables)"
    assert lines[3] == "RTMR3: " + "00" * 48
    assert "note: RTMR0 ACPI tables" in err


def make_pe(total: int) -> bytes:
    """A minimal PE32+ bzImage: MZ, PE at 0x40, 16 data directories, one section at 0x200, HdrS 2.15."""
    img = bytearray(hashlib.shake_256(b"kernel").digest(total))
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3C, 0x40)
    img[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", img, 0x44, 0x8664, 1, 0, 0, 0, 240, 0x206)
    img[0x58 : 0x58 + 240] = bytes(240)
    struct.pack_into("<H", img, 0x58, 0x20B)
    struct.pack_into("<I", img, 0x58 + 60, 0x200)
    struct.pack_into("<I", img, 0x58 + 108, 16)
    struct.pack_into("<8sIIII", img, 0x58 + 240, b".text", 0x400, 0x1000, 0x400, 0x200)
    struct.pack_into("<I", img, 0x202, 0x53726448)
    struct.pack_into("<H", img, 0x206, 0x20F)
    img[0x211] = 0x01
    struct.pack_into("<H", img, 0x236, 0x3)
    return bytes(img)


def _acpi_files(tmp_path: Path) -> list[str]:
    loader = bytearray(4096)
    struct.pack_into("<I56s", loader, 0, 1, b"etc/acpi/rsdp")
    struct.pack_into("<I56s", loader, 128, 1, b"etc/acpi/tables")
    files = {
        "loader": bytes(loader),
        "rsdp": b"RSD PTR " + bytes(12),
        "tables": b"\x02" * 512,
        "smbios": b"s",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [
        "--acpi-loader", str(tmp_path / "loader"), "--acpi-rsdp", str(tmp_path / "rsdp"),
        "--acpi-tables", str(tmp_path / "tables"), "--smbios", str(tmp_path / "smbios"),
    ]  # fmt: skip


def test_rtmr_json(fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--json",
            "--ovmf-version", "2026.08", *_acpi_files(tmp_path)]  # fmt: skip
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.measure-tdx-rtmr/2" and doc["acpi_source"] == "captured"
    shape = doc["shapes"][0]
    assert shape["vcpus"] is None and shape["memory"] == 2 << 30
    # without a boot path RTMR0 is unknown: its boot variables, bootorder and authority depend on it
    assert shape["rtmr0"] is None and shape["rtmr1"] is None and shape["rtmr3"] == "00" * 48
    assert doc["versions"] == {"ovmf": "2026.08", "qemu": "10.2", "linux": "6.9"}
    assert doc["events"][0]["what"] == "TD HOB" and doc["events"][0]["digest"] == TD_HOB_2G
    assert {(m["rtmr"], m["what"]) for m in shape["missing"]} == {
        (0, "boot variables"), (1, "boot path"), (2, "boot path")
    }  # fmt: skip
    assert doc["boot_variables"] is None
    assert doc["firmware_sha256"] == hashlib.sha256(Path(fw).read_bytes()).hexdigest()
    assert doc["kernel_sha256"] is None and doc["initrd_sha256"] is None


def test_ovmf_release_from_the_image(fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --ovmf-version the rules are the image's own release: the fixture is Debian's
    ovmf-inteltdx 2026.08+ds-2 (fixtures README), whose SMBIOS BIOS version names it."""
    base = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--json"]
    base += _acpi_files(tmp_path)
    code, out, err = run(base, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["ovmf_version_source"] == "image" and doc["versions"]["ovmf"] == "2026.08"
    assert "warning" not in err
    code, out, err = run([*base, "--ovmf-version", "2025.02"], capsys)
    doc = json.loads(out)
    assert doc["ovmf_version_source"] == "given" and doc["versions"]["ovmf"] == "2025.02"
    # a release that contradicts the image's is followed, not silently: one warning, also in the JSON
    (warning,) = [w for w in doc["warnings"] if w.startswith("--ovmf-version")]
    assert "differs from the release the image names (2026.08" in warning
    assert err.count(f"pvmkit: warning: {warning}\n") == 1
    code, out, err = run([*base, "--ovmf-version", "2026.08"], capsys)
    assert code == 0 and json.loads(out)["warnings"] == [] and "warning" not in err
    # before stable202505 OVMF measures no fw_cfg item (FW_CFG_MEASURED_SINCE)
    assert not [e for e in doc["events"] if e["what"].startswith("fw_cfg")]
    assert doc["cmdline_sha256"] == hashlib.sha256(b"").hexdigest()  # -append defaults to empty


def test_incomplete_event_log_is_refused(fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.bin"
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--event-log-out", str(log)]
    assert "cannot write a log" in _fail(argv, capsys)
    assert list(tmp_path.iterdir()) == []


def test_rtmr_direct_boot(fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd"
    kernel.write_bytes(make_pe(0x2000))
    initrd.write_bytes(b"initrd" * 64)
    log = tmp_path / "log.bin"
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "4G", "--kernel", str(kernel),
            "--initrd", str(initrd), "--cmdline", "console=ttyS0", "--secure-boot", "off",
            "--qemu-version", "9.2", "--linux-version", "6.12", "--event-log-out", str(log), "--json",
            *_acpi_files(tmp_path)]  # fmt: skip
    code, out, err = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and err == ""
    shape = doc["shapes"][0]
    assert all(shape[f"rtmr{i}"] for i in range(4))
    events = list(EventLog.parse(log.read_bytes()))
    assert len(events) == len(doc["events"])
    from pvmkit.vendors.tdx.replay import replay

    assert [r.hex() for r in replay(EventLog.parse(log.read_bytes())).rtmrs] == [
        shape[f"rtmr{i}"] for i in range(4)
    ]


def test_td_shim_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A synthetic td-shim layout (descriptor offset at len-0x20, a PermMem PAGE.AUG section): refused by
    the QEMU rules, measured with --td-shim (the PAGE.AUG section is not added)."""
    size = 0x10000
    img = bytearray(size)
    desc = 0x1010
    img[desc - 16 : desc] = bytes.fromhex("f3f9eae98e16d544a8eb7f4d8738f6ae")
    sections = [(0x2000, 0xE000, 0xFF002000, 0xE000, 0, 1), (0, 0, 0x1000000, 0x100000, 4, 2)]
    struct.pack_into("<4sIII", img, desc, b"TDVF", 16 + 32 * len(sections), 1, len(sections))
    for i, s in enumerate(sections):
        struct.pack_into("<IIQQII", img, desc + 16 + 32 * i, *s)
    struct.pack_into("<I", img, size - 0x20, desc)
    path = tmp_path / "td-shim.bin"
    path.write_bytes(bytes(img))
    assert "not accepted by QEMU" in _fail(["measure", "--vendor", "tdx", "--firmware", str(path)], capsys)
    code, out, _ = run(["measure", "--vendor", "tdx", "--firmware", str(path), "--td-shim", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["metadata_layout"] == "td-shim"
    stream = b""
    for page in range(0xE000 // 4096):
        gpa = 0xFF002000 + page * 4096
        stream += b"MEM.PAGE.ADD" + bytes(4) + gpa.to_bytes(8, "little") + bytes(104)
        for c in range(16):
            chunk = img[0x2000 + page * 4096 + 256 * c : 0x2000 + page * 4096 + 256 * (c + 1)]
            stream += b"MR.EXTEND" + bytes(7) + (gpa + 256 * c).to_bytes(8, "little") + bytes(104) + chunk
    assert doc["mrtd"] == hashlib.sha384(stream).hexdigest()


@pytest.mark.parametrize(
    ("shape", "given", "message"),
    [
        (["--memory", "2G,4G"], "captures", "the --acpi-* captures are one shape's tables"),
        (["--vcpus", "1-2", "--memory", "2G"], "captures", "the --acpi-* captures are one shape's tables"),
        (["--vcpus", "1-2", "--memory", "2G"], "smbios-digest", "--smbios/--smbios-digest is one shape's"),
        (["--vcpus", "1", "--memory", "2G,4G"], "smbios-digest", "--smbios/--smbios-digest is one shape's"),
    ],
)
def test_one_shapes_capture_is_refused_for_a_grid(
    fw: str, tmp_path: Path, shape: list[str], given: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A captured table holds its shape (QEMU's MADT lists the vCPUs, the DSDT's 32-bit window and
    SMBIOS types 16/17/19 the memory size, docs/tdx-measure.md): the same capture for several shapes
    would give each of the others a wrong RTMR0, so a grid is refused (exit 1, one line, no log)."""
    log = tmp_path / "log.bin"
    if given == "captures":
        extra = [*_acpi_files(tmp_path)[:6], "--smbios-processor-id", "f8060800fffbebbf"]  # no --smbios
    else:
        extra = ["--smbios-digest", "11" * 48]
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--secure-boot", "off",
            "--kernel-authenticode", "00" * 48, "--event-log-out", str(log), *shape, *extra]  # fmt: skip
    assert message in _fail(argv, capsys)
    assert not log.exists()


def _with_version_string(kernel: bytes, version: bytes) -> bytes:
    """The bzImage with a kernel version string where the Linux boot protocol puts it
    (Documentation/arch/x86/boot.rst: ``kernel_version`` at 0x20E, the string's offset less 0x200)."""
    img = bytearray(kernel)
    at = 0x1000  # inside the image, past the setup header
    img[at : at + len(version) + 1] = version + b"\0"
    struct.pack_into("<H", img, 0x20E, at - 0x200)
    return bytes(img)


@pytest.mark.parametrize(
    ("version", "linux", "source"),
    [
        (b"6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC", "6.1", "kernel"),
        (b"6.12.9+bpo-amd64 (debian-kernel@lists.debian.org) #1 SMP", "6.12", "kernel"),
        (b"not a version", "6.9", "default"),
    ],
)
def test_linux_release_from_the_kernel(
    fw: str, tmp_path: Path, version: bytes, linux: str, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --linux-version the rules follow the release the --kernel names (a 6.1 EFI stub
    measures nothing into RTMR2: RTMR2 stays zero), not the 6.9 default; --linux-version still wins."""
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(_with_version_string(make_pe(0x2000), version))
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--kernel", str(kernel),
            "--secure-boot", "off", "--json", *_acpi_files(tmp_path)]  # fmt: skip
    code, out, err = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0, err
    assert (doc["versions"]["linux"], doc["linux_version_source"]) == (linux, source)
    assert (doc["shapes"][0]["rtmr2"] == "00" * 48) == (linux == "6.1")
    code, out, _ = run([*argv, "--linux-version", "6.9"], capsys)
    doc = json.loads(out)
    assert (doc["versions"]["linux"], doc["linux_version_source"]) == ("6.9", "given")
    assert doc["shapes"][0]["rtmr2"] != "00" * 48


def test_linux_release_of_a_real_kernel(fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Debian trixie's kernel (tools/fetch_peers.py): the release read from its setup header is the
    one its package file name carries (``vmlinuz-6.12.117+deb13-amd64``)."""
    import re

    from support.ovmf_boot import peer_path

    kernel = peer_path("PVMKIT_LINUX_KERNEL")
    named = re.match(r"vmlinuz-(\d+)\.(\d+)\.", kernel.name)
    assert named is not None
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--kernel", str(kernel),
            "--secure-boot", "off", "--json", *_acpi_files(tmp_path)]  # fmt: skip
    code, out, err = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0, err
    assert doc["versions"]["linux"] == f"{named.group(1)}.{named.group(2)}"
    assert doc["linux_version_source"] == "kernel"


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        ("4096", "a bare number is MiB to QEMU -m but bytes to pvmkit"),  # QEMU: 4 GiB, pvmkit: 4 KiB
        ("2G,2097156K", "QEMU rounds -m up to a multiple of 8 KiB (2147491840 bytes)"),
    ],
)
def test_memory_qemu_would_read_otherwise_is_refused(
    fw: str, memory: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """QEMU's -m reads a bare number as MiB and rounds the size up to 8 KiB (QEMU system/vl.c
    set_memory_options; QEMU 10.0.2's query-memory-size-summary reports 2147491840 bytes for
    -m 2097156k): a --memory that pvmkit would read otherwise is a usage error, not another TD's RTMR0."""
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--memory", memory]
    assert message in _fail(argv, capsys, 2)
    rv = ["reference-values", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--memory", memory]
    code, out, err = run(rv, capsys)
    assert code == 2 and out == "" and message in err
