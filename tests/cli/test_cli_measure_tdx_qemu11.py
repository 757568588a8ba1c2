"""``pvmkit measure --vendor tdx --rtmr --qemu-version 11.1``: RTMR0 from pvmkit's generator equals
RTMR0 from Debian's QEMU 11.1.3 itself (``--qemu-binary``, ``PVMKIT_QEMU_11``) for the same shapes,
and versions after 11.1 are refused (exit 1, one line)."""

from __future__ import annotations

import json

import pytest

from pvmkit.cli.main import main
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES, qemu_11_binary

PID = "f8060800fffbebbf"  # an example `-cpu host` Processor ID (CPUID.1 EAX 0x000806F8, EDX 0xBFEBFBFF)


def _measure(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    firmware = fixture_path("firmware/OVMF.inteltdx.ms.fd")
    argv = [
        "measure",
        "--vendor",
        "tdx",
        "--firmware",
        str(firmware),
        "--rtmr",
        "--json",
        "--secure-boot",
        "off",
        "--kernel-authenticode",  # a direct boot: without a boot path RTMR0 is unknown
        "00" * 48,
    ]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_generator_equals_qemu_11_1_binary(capsys: pytest.CaptureFixture[str]) -> None:
    shapes = ["--vcpus", "1,17", "--memory", "2G,64G", "--qemu-version", "11.1",
              "--qemu-args", DSTACK_DEVICES, "--smbios-processor-id", PID]  # fmt: skip
    code, out, _ = _measure(capsys, *shapes)
    code_q, out_q, _ = _measure(capsys, *shapes, "--qemu-binary", qemu_11_binary())
    assert code == code_q == 0
    ours, qemu = json.loads(out), json.loads(out_q)
    assert ours["acpi_source"] == "generator" and qemu["smbios"]["source"] == "qemu"
    pick = [(s["vcpus"], s["memory"], s["rtmr0"]) for s in ours["shapes"]]
    assert pick == [(s["vcpus"], s["memory"], s["rtmr0"]) for s in qemu["shapes"]]
    assert len({r for *_x, r in pick}) == 4 and all(r is not None for *_x, r in pick)


def test_versions_after_11_1_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _measure(capsys, "--vcpus", "1", "--memory", "2G", "--qemu-version", "11.2")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "pvmkit: error: QEMU 11.2 has no ACPI profile (modelled: 8.2, 9.2, 10.0, 10.1, 10.2, 11.1): "
        "newer than 11.1, the newest release checked"
    ]
