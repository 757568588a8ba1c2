"""pvmkit.vendors.tdx.disk_files: GRUB's device names over a GPT disk image, and its refusals. The disk
holds the real Ubuntu TD log's GPT (tests/support/gpt_disk.py: slots 1, 14, 15), truncated after the
root filesystem's superblock."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.gpt import read_gpt
from pvmkit.vendors.tdx.disk_files import DiskFiles
from support.gpt_disk import disk_from_gpt_event, ubuntu_log


def _files(tmp_path: Path) -> DiskFiles:
    path = disk_from_gpt_event(ubuntu_log().events[16].event_data, tmp_path / "disk.img")
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return DiskFiles(data, read_gpt(path))


def test_grub_device_names_and_refusals(tmp_path: Path) -> None:
    files = _files(tmp_path)
    assert files.partition(15).is_esp
    with pytest.raises(InputError, match="only on the boot disk's partitions"):
        files.grub_file("(hd1,gpt1)/boot/vmlinuz")
    with pytest.raises(InputError, match="no partition 2"):
        files.grub_file("(hd0,gpt2)/boot/vmlinuz")
    # the image ends after partition 1's superblock: its partitions claim sectors it does not hold
    with pytest.raises(FormatError, match="lies outside the disk image"):
        files.grub_file("(hd0,gpt1)/boot/vmlinuz")
    # the ESP (slot 15, before the root) is inside the image but holds no FAT boot sector
    with pytest.raises(FormatError, match=r"partition 15 \(hd0,gpt15\): no boot sector signature"):
        files.esp()
