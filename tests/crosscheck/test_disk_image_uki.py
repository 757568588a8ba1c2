"""``measure --vendor tdx --rtmr --disk-image`` alone on a disk whose ESP boots systemd-boot and a UKI,
made by Debian's tools (mkfs.fat/mcopy, sfdisk; tests/support/disktools.py) from Debian's real
systemd-boot 257 and a UKI built from its real stub (tests/support/uki.py).

Expected values: the prediction equals the explicit form (``--uki`` and ``--boot-loader`` given as the
files this test put on the ESP) on the same disk, so the ESP reader found the files the rules name
(EFI/BOOT/BOOTX64.EFI, the one UKI in EFI/Linux/); the UKI boot's own rules are tested in
tests/unit/test_tdx_uki_boot.py. Provenance: tests/vectors/README.md, "TDX UKI boot".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from support.disktools import fat_image, gpt_disk
from support.uki import NEWEST, build_uki, measure_rtmr_argv, sdmagic, systemd_efi

pytestmark = pytest.mark.crosscheck


def _measure(extra: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    argv = measure_rtmr_argv(*extra)
    assert main(argv) == 0, capsys.readouterr().err
    shape: dict[str, object] = json.loads(capsys.readouterr().out)["shapes"][0]
    return shape


def test_disk_image_with_systemd_boot_and_a_uki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "build").mkdir()
    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()  # a PE with MajorImageVersion >= 1
    sections = {".osrel": b"ID=t\n", ".cmdline": b"console=ttyS0\n", ".initrd": b"I" * 999, ".linux": kernel}
    uki = build_uki(257, sections, tmp_path / "build")
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "Linux").mkdir(parents=True)
    (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(systemd_efi(257, "systemd-bootx64.efi").read_bytes())
    (esp / "EFI" / "Linux" / "debian-6.12.efi").write_bytes(uki)
    fat = fat_image(tmp_path / "esp.img", esp, 8192, "-F", "16", "-s", "1")
    gpt_disk(tmp_path / "disk.img", [("U", fat)])
    disk = ["--disk-image", str(tmp_path / "disk.img")]
    alone = _measure(disk, capsys)
    files = [
        "--uki",
        str(esp / "EFI/Linux/debian-6.12.efi"),
        "--boot-loader",
        str(esp / "EFI/BOOT/BOOTX64.EFI"),
    ]
    assert alone == _measure([*disk, *files], capsys)
    assert alone["rtmr1"] is not None and alone["rtmr2"] is not None
    assert alone == _measure([*disk, "--esp", str(esp)], capsys)


def test_disk_image_with_debians_newest_systemd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same disk with sid's real systemd-boot and a UKI of sid's real stub (262.1 when this was
    written): --disk-image alone refuses it as --uki does, with one line naming the release (the
    binary's .sdmagic LoaderInfo, dumped here by objcopy), unless pvmkit models that release."""
    from pvmkit.vendors.tdx.uki import MODELLED_VERSIONS

    (tmp_path / "build").mkdir()
    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()  # a PE with MajorImageVersion >= 1
    uki = build_uki(NEWEST, {".osrel": b"ID=t\n", ".linux": kernel}, tmp_path / "build")
    loader = systemd_efi(NEWEST, "systemd-bootx64.efi").read_bytes()
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "Linux").mkdir(parents=True)
    (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(loader)
    (esp / "EFI" / "Linux" / "sid.efi").write_bytes(uki)
    fat = fat_image(tmp_path / "esp.img", esp, 8192, "-F", "16", "-s", "1")
    gpt_disk(tmp_path / "disk.img", [("U", fat)])
    program, version, major = sdmagic(NEWEST, "systemd-bootx64.efi", tmp_path)
    assert program == "systemd-boot"
    if major in MODELLED_VERSIONS:
        _measure(["--disk-image", str(tmp_path / "disk.img")], capsys)
        return
    assert main(measure_rtmr_argv("--disk-image", str(tmp_path / "disk.img"))) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, lines
    assert f"systemd-boot {version} is not modelled" in lines[0]
