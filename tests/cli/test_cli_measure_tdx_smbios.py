"""``pvmkit measure --vendor tdx --rtmr`` with OVMF >= stable202505: RTMR0's SMBIOS event from QEMU's
SMBIOS (pvmkit's generator or ``--qemu-binary``) instead of a capture.

Oracles: Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) for QEMU's tables (the generator's RTMR0 equals the
``--qemu-binary`` one for the same shapes); the same command with ``--smbios-digest`` of the table
the library says OVMF measures (the wiring); the Debian firmware's version string (its package
version). What OVMF makes of the tables follows edk2's source only (tests/vectors/README.md).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from pvmkit.vendors.tdx.smbios_ovmf import FirmwareStrings, measured_smbios
from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs
from support.cli import run
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES, qemu_binary

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
PID = "f8060800fffbebbf"  # an example `-cpu host` Processor ID (CPUID.1 EAX 0x000806F8, EDX 0xBFEBFBFF)
DEBIAN = FirmwareStrings("Debian distribution of EDK II", "2026.08+ds-2", "09/26/2026")


def base(*extra: str) -> list[str]:
    """A --rtmr --json command line on the Debian image, Secure Boot off (no authority event), a
    direct boot given by its kernel's digest (without a boot path RTMR0 is unknown)."""
    command = f"measure --vendor tdx --firmware {fixture_path(TDX_FD)} --rtmr --json --secure-boot off"
    return [*command.split(), "--kernel-authenticode", "00" * 48, *extra]


def test_generator_gives_rtmr0_with_ovmf_2026(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(base("--vcpus", "1-2", "--memory", "2G", "--qemu-version", "10.0",
                              "--smbios-processor-id", PID), capsys)  # fmt: skip
    doc = json.loads(out)
    assert code == 0 and "SMBIOS" not in err
    assert doc["versions"]["ovmf"] == "2026.08"
    assert doc["smbios"] == {
        "source": "generator",
        "processor_id": PID,
        "firmware_strings": DEBIAN.as_dict(),
        "note": None,
    }
    for shape in doc["shapes"]:
        assert shape["rtmr0"] is not None and [m for m in shape["missing"] if m["rtmr"] == 0] == []
        tables = qemu_smbios_blobs((10, 0), shape["vcpus"], 2 << 30, bytes.fromhex(PID)).tables
        assert shape["smbios_sha384"] == hashlib.sha384(measured_smbios(tables, DEBIAN)).hexdigest()
        # the same register from the digest alone
        code, out, _ = run(base("--vcpus", str(shape["vcpus"]), "--memory", "2G", "--qemu-version", "10.0",
                                "--smbios-digest", shape["smbios_sha384"]), capsys)  # fmt: skip
        assert code == 0 and json.loads(out)["shapes"][0]["rtmr0"] == shape["rtmr0"]
        assert json.loads(out)["smbios"]["source"] == "captured"


def test_generator_equals_qemu_binary(capsys: pytest.CaptureFixture[str]) -> None:
    """QEMU 10.0.2's own SMBIOS (Processor ID replaced by the given one) and the generator's give the
    same RTMR0 for every shape (255 and 256 vCPUs: SMBIOS 3.0)."""
    shapes = ["--vcpus", "255-256", "--memory", "2G,100G", "--qemu-version", "10.0",
              "--qemu-args", DSTACK_DEVICES, "--smbios-processor-id", PID]  # fmt: skip
    code, out, _ = run(base(*shapes), capsys)
    code_q, out_q, _ = run(base(*shapes, "--qemu-binary", qemu_binary()), capsys)
    ours, qemu = json.loads(out), json.loads(out_q)
    assert code == code_q == 0
    assert qemu["smbios"]["source"] == "qemu"
    pick = [(s["vcpus"], s["memory"], s["rtmr0"], s["smbios_sha384"]) for s in ours["shapes"]]
    assert pick == [(s["vcpus"], s["memory"], s["rtmr0"], s["smbios_sha384"]) for s in qemu["shapes"]]
    assert all(r is not None for _v, _m, r, _s in pick) and len({r for _v, _m, r, _s in pick}) == 4
    # both on SMBIOS 3.0, and the filter blanks the core and thread counts: one table per memory size
    assert len({s for *_x, s in pick}) == 2


def test_without_processor_id_rtmr0_is_unknown_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(base("--vcpus", "1", "--memory", "2G"), capsys)
    doc = json.loads(out)
    assert code == 0 and doc["shapes"][0]["rtmr0"] is None and doc["shapes"][0]["smbios_sha384"] is None
    assert [m["what"] for m in doc["shapes"][0]["missing"] if m["rtmr"] == 0] == ["SMBIOS"]
    assert (
        "--smbios-processor-id" in doc["shapes"][0]["missing"][0]["note"] and "--smbios-processor-id" in err
    )
    assert doc["smbios"]["source"] is None


def test_unmodelled_ovmf_release_is_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(base("--vcpus", "1", "--memory", "2G", "--ovmf-version", "2027.02",
                            "--smbios-processor-id", PID), capsys)  # fmt: skip
    doc = json.loads(out)
    assert code == 0 and doc["shapes"][0]["rtmr0"] is None
    assert "not modelled" in doc["smbios"]["note"]


def test_ovmf_before_202505_measures_no_smbios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(base("--vcpus", "1", "--memory", "2G", "--ovmf-version", "2025.02"), capsys)
    doc = json.loads(out)
    assert code == 0 and not [e for e in doc["events"] if e["what"] == "SMBIOS"]
    assert doc["smbios"]["source"] is None and doc["shapes"][0]["smbios_sha384"] is None
    # RTMR0 itself stays unknown, for another reason: this image (2026.08) has no UiApp in DXEFV, the
    # boot manager menu a 2025.02 OVMF would register (ovmf_boot_options.fixed_entries)
    assert [m["what"] for m in doc["shapes"][0]["missing"] if m["rtmr"] == 0] == ["boot variables"]


def test_firmware_strings_given(capsys: pytest.CaptureFixture[str]) -> None:
    strings = FirmwareStrings("EDK II", "edk2-stable202505", "05/09/2025")
    given = ["--firmware-vendor", strings.vendor, "--firmware-version-string", strings.version,
             "--firmware-release-date", strings.release_date]  # fmt: skip
    shape = ["--vcpus", "1", "--memory", "2G", "--qemu-version", "10.0", "--smbios-processor-id", PID]
    code, out, _ = run(base(*shape, *given), capsys)
    doc = json.loads(out)
    tables = qemu_smbios_blobs((10, 0), 1, 2 << 30, bytes.fromhex(PID)).tables
    assert code == 0 and doc["smbios"]["firmware_strings"] == strings.as_dict()
    assert doc["shapes"][0]["smbios_sha384"] == hashlib.sha384(measured_smbios(tables, strings)).hexdigest()


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--smbios-processor-id", "0011"], 2, "--smbios-processor-id must be 8 bytes"),
        (["--smbios-processor-id", "zz" * 8], 2, "not hex"),
        (["--firmware-vendor", "EDK II"], 2, "give all three"),
        (["--firmware-vendor", "ab", "--firmware-version-string", "1.0.0",
          "--firmware-release-date", "1/1/2025", "--smbios-processor-id", PID], 1, "under 3 characters"),
    ],
)  # fmt: skip
def test_bad_smbios_options(
    extra: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out, err = run(base("--vcpus", "1", "--memory", "2G", *extra), capsys)
    assert got == code and out == "" and message in err and err.count("\n") == 1


def test_processor_id_is_an_rtmr_input(capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(TDX_FD))
    code, _, err = run(["measure", "--vendor", "tdx", "--firmware", fw, "--smbios-processor-id", PID], capsys)
    assert code == 1 and "add --rtmr" in err


@pytest.mark.parametrize("smp", ["sockets=2", "sockets=2,cores=3,maxcpus=12"])
def test_topology_generator_equals_qemu_binary(smp: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An -smp topology: QEMU 10.0.2's own SMBIOS (one type 4 per socket) and the generator's give
    the same table and RTMR0. 2 vCPUs in 2 sockets have 1 thread per socket (no HTT), unlike plain
    -smp 2; 2 x 3 cores x 2 threads, 12 possible, 6 threads per socket whatever the count."""
    shapes = ["--vcpus", "2" if smp == "sockets=2" else "5-6", "--memory", "2G", "--qemu-version", "10.0",
              "--qemu-args", f"{DSTACK_DEVICES} -smp {smp}", "--smbios-processor-id", PID]  # fmt: skip
    code, out, _ = run(base(*shapes), capsys)
    code_q, out_q, _ = run(base(*shapes, "--qemu-binary", qemu_binary()), capsys)
    ours, qemu = json.loads(out), json.loads(out_q)
    assert (
        code == code_q == 0 and ours["smbios"]["source"] == "generator" and qemu["smbios"]["source"] == "qemu"
    )
    pick = [(s["vcpus"], s["rtmr0"], s["smbios_sha384"]) for s in ours["shapes"]]
    assert pick == [(s["vcpus"], s["rtmr0"], s["smbios_sha384"]) for s in qemu["shapes"]]
    assert all(r is not None and t is not None for _v, r, t in pick)
    if smp == "sockets=2":
        plain = json.loads(run(base(*shapes[:-4], "--smbios-processor-id", PID), capsys)[1])
        assert plain["shapes"][0]["smbios_sha384"] != pick[0][2]
