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
from support.uki import build_uki, measure_rtmr_argv, systemd_efi

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
