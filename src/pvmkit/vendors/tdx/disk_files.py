"""The files of a raw disk image by the names GRUB gives them (``(hd0,gpt1)/boot/vmlinuz``).

The image is given as bytes (a mapped file: only what is read is touched) with its GPT
(:mod:`pvmkit.formats.gpt`); each partition is read as FAT (:mod:`pvmkit.formats.fat`; the ESP) or
ext2/3/4 (:mod:`pvmkit.formats.ext4`; ext superblock magic), whichever it holds. GRUB names the
partitions of the boot disk ``hd0,gptN`` with N the partition's slot in the GPT entry array
(``grub-core/partmap/gpt.c``; ``(hd0,gpt15)`` in the real Ubuntu TD log).
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING, Any

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ext4 import open_ext4
from pvmkit.formats.fat import open_fat
from pvmkit.formats.gpt import SECTOR

if TYPE_CHECKING:
    from pvmkit.formats.fsview import ByteData, FileTree
    from pvmkit.formats.gpt import GptDisk, GptPartition

__all__ = ["DiskFiles"]

_DEVICE = re.compile(r"^\(([^()]*)\)(/.*)?$")
_PARTITION = re.compile(r"^hd0,gpt(\d+)$")


class DiskFiles:
    """Read-only access to the filesystems of a GPT disk image."""

    def __init__(self, data: ByteData, disk: GptDisk, esp: FileTree[Any] | None = None) -> None:
        """``esp``: the ESP's files from elsewhere (an ESP directory), instead of its partition's."""
        self._data = memoryview(data).cast("B")
        self.disk = disk
        self._trees: dict[int, FileTree[Any] | None] = {}
        self._devices: dict[str, FileTree[Any]] = {}
        if esp is not None:
            self._trees[disk.esp().number] = esp

    def partition(self, number: int) -> GptPartition:
        for p in self.disk.partitions:
            if p.number == number:
                return p
        raise InputError(f"the disk image has no partition {number} (hd0,gpt{number})")

    def _bytes(self, part: GptPartition) -> memoryview:
        start, end = part.first_lba * SECTOR, (part.last_lba + 1) * SECTOR
        if not part.first_lba <= part.last_lba or end > len(self._data):
            raise FormatError(
                f"GPT partition {part.number} (LBA {part.first_lba}-{part.last_lba}) "
                "lies outside the disk image",
                what="GPT entries",
            )
        return self._data[start:end]

    def tree(self, number: int) -> FileTree[Any] | None:
        """The filesystem of partition ``number``: FAT, ext2/3/4, or None for anything else."""
        if number not in self._trees:
            part = self.partition(number)
            data = self._bytes(part)
            label = f"partition {number} (hd0,gpt{number})"
            tree: FileTree[Any] | None = None
            if len(data) >= 1082 and struct.unpack_from("<H", data, 1080)[0] == 0xEF53:
                tree = open_ext4(data, f"the ext filesystem of {label}")
            elif part.is_esp or (len(data) >= 512 and bytes(data[510:512]) == b"\x55\xaa"):
                tree = open_fat(data, f"the FAT filesystem of {label}")
            self._trees[number] = tree
        return self._trees[number]

    def esp(self) -> tuple[int, FileTree[Any]]:
        """The EFI system partition's number and FAT filesystem."""
        part = self.disk.esp()
        tree = self.tree(part.number)
        if tree is None:  # pragma: no cover - tree() opens every ESP as FAT or raises
            raise InputError(f"the EFI system partition {part.number} holds no FAT filesystem")
        return part.number, tree

    def add_device(self, name: str, tree: FileTree[Any]) -> None:
        """Another GRUB device, such as ``memdisk`` (GRUB's embedded FAT image)."""
        self._devices[name] = tree

    def _locate(self, path: str) -> tuple[FileTree[Any], str]:
        m = _DEVICE.match(path)
        if m is None:
            raise InputError(f"GRUB reads {path}: pvmkit reads files only on devices it knows (hd0,gptN)")
        device, inner = m.group(1), m.group(2) or "/"
        if device in self._devices:
            return self._devices[device], inner
        part = _PARTITION.match(device)
        if part is None:
            raise InputError(
                f"GRUB reads {path}: pvmkit reads files only on the boot disk's partitions (hd0,gptN)"
            )
        number = int(part.group(1))
        tree = self.tree(number)
        if tree is None:
            raise InputError(f"GRUB reads {path}, but partition {number} holds no FAT or ext2/3/4 filesystem")
        return tree, inner

    def grub_file(self, path: str) -> bytes | None:
        """The file GRUB names ``(hd0,gptN)/path``; None when that filesystem has no such file."""
        tree, inner = self._locate(path)
        return tree.read(inner) if tree.is_file(inner) else None

    def grub_probe(self, path: str) -> tuple[str, int] | None:
        """What is at ``(device)/path``, for GRUB's file tests: ("file", size), ("dir", 0) or None."""
        tree, inner = self._locate(path)
        if tree.is_dir(inner):
            return "dir", 0
        return ("file", tree.size(inner)) if tree.is_file(inner) else None
