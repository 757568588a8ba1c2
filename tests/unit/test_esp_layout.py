"""The shim + GRUB boot chain found on an ESP (pvmkit.vendors.tdx.esp_layout) over an ESP directory
(pvmkit.formats.fsview.DirectoryTree). Expected paths follow shim's own rules (shim.c
``should_use_fallback``, ``DEFAULT_LOADER``; fallback.c ``find_boot_csv``), as the module cites them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvmkit.errors import InputError
from pvmkit.formats.fsview import DirectoryTree
from pvmkit.vendors.tdx.esp_layout import EspBootChain, GrubImageInfo, esp_boot_chain, grub_prefix


def _esp(root: Path, files: dict[str, bytes]) -> DirectoryTree:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return DirectoryTree(root)


CSV = "shimx64.efi,ubuntu,,This is the boot entry for ubuntu\n".encode("utf-16")


def test_removable_path_without_fallback_starts_grub_beside_shim(tmp_path: Path) -> None:
    esp = _esp(tmp_path, {"efi/boot/bootx64.efi": b"shim", "efi/boot/grubx64.efi": b"grub"})
    chain = esp_boot_chain(esp)
    assert chain == EspBootChain("\\EFI\\BOOT\\BOOTX64.EFI", "\\EFI\\BOOT\\grubx64.efi")
    assert esp.read(chain.grub) == b"grub"  # names match without regard to case, as on FAT
    assert grub_prefix(None, chain.grub, "hd0,gpt1") == "(hd0,gpt1)/EFI/BOOT"


def test_fallback_starts_the_entry_of_the_first_boot_csv(tmp_path: Path) -> None:
    esp = _esp(
        tmp_path,
        {
            "EFI/BOOT/BOOTX64.EFI": b"shim",
            "EFI/BOOT/fbx64.efi": b"fallback",
            "EFI/BOOT/grubx64.efi": b"not started: the fallback runs",
            "EFI/ubuntu/BOOTX64.CSV": CSV,
            "EFI/ubuntu/shimx64.efi": b"shim",
            "EFI/ubuntu/grubx64.efi": b"grub",
        },
    )
    chain = esp_boot_chain(esp)
    assert chain.fallback == "\\EFI\\BOOT\\fbx64.efi"
    assert chain.vendor_shim == "\\EFI\\ubuntu\\shimx64.efi"
    assert chain.grub == "\\EFI\\ubuntu\\grubx64.efi"
    # the real Ubuntu TD log reads (hd0,gpt15)/EFI/ubuntu/grub.cfg (its event 30)
    assert grub_prefix(None, chain.grub, "hd0,gpt15") + "/grub.cfg" == "(hd0,gpt15)/EFI/ubuntu/grub.cfg"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"EFI/BOOT/grubx64.efi": b"g"}, "no \\EFI\\BOOT\\BOOTX64.EFI"),
        ({"EFI/BOOT/BOOTX64.EFI": b"s"}, "no boot path pvmkit can follow"),
        ({"EFI/BOOT/BOOTX64.EFI": b"s", "EFI/BOOT/fbx64.efi": b"f"}, "finds no \\EFI\\*\\BOOTX64.CSV"),
        (
            {"EFI/BOOT/BOOTX64.EFI": b"s", "EFI/BOOT/fbx64.efi": b"f", "EFI/ubuntu/BOOTX64.CSV": CSV},
            "the fallback would start \\EFI\\ubuntu\\shimx64.efi",
        ),
    ],
)
def test_esp_without_a_boot_path_is_refused(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        esp_boot_chain(_esp(tmp_path, files))
    assert message in str(info.value)


def test_directory_tree_paths(tmp_path: Path) -> None:
    esp = _esp(tmp_path, {"EFI/BOOT/BOOTX64.EFI": b"shim"})
    assert esp.listdir("/") == ["EFI"] and esp.is_dir("efi") and not esp.exists("EFI/nothing")
    assert esp.size("efi/boot/bootx64.efi") == 4
    with pytest.raises(InputError, match="no file"):
        esp.read("EFI/BOOT/grubx64.efi")
    with pytest.raises(InputError, match="not a directory"):
        DirectoryTree(tmp_path / "EFI/BOOT/BOOTX64.EFI")


def test_embedded_configurations_other_than_normal_are_refused() -> None:
    assert GrubImageInfo(None, b"normal (memdisk)/grub.cfg\n").normal_config() == "(memdisk)/grub.cfg"
    assert GrubImageInfo("/EFI/ubuntu", None).normal_config() is None
    with pytest.raises(InputError, match="embeds a configuration \\('set root=x'\\)"):
        GrubImageInfo(None, b"set root=x\nnormal\n").normal_config()
