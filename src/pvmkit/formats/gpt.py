"""GUID partition tables of disk images, and the EV_EFI_GPT_EVENT data the firmware logs for them.

Layout: UEFI Specification 2.10 §5.3 (GPT header at LBA 1, 92 bytes; partition entry array at
``PartitionEntryLBA``; CRC32 of the header with its CRC field zeroed, and of the whole entry array).
Event data: TCG PC Client Platform Firmware Profile §10.4.5 ``UEFI_GPT_DATA`` as edk2 builds it in
``SecurityPkg/Library/DxeTpm2MeasureBootLib/DxeTpm2MeasureBootLib.c`` (``Tcg2MeasureGptTable``):
the 92-byte header as read, a UINT64 count of the entries whose PartitionTypeGUID is not zero, then
those entries (``SizeOfPartitionEntry`` bytes each) in array order.

Filesystem UUIDs (for GRUB's ``search --fs-uuid``): ext2/3/4 superblock at byte 1024 of the
partition, magic 0xEF53 at offset 56, ``s_uuid`` at offset 104 (Linux ``fs/ext4/ext4.h``); GRUB
prints it as the usual 8-4-4-4-12 text of the stored bytes (``grub-core/fs/ext2.c``).

The disk is read through a file handle: only the header, the entry array and superblocks are read.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pvmkit.errors import FormatError, InputError

__all__ = [
    "ESP_TYPE",
    "GptDisk",
    "GptPartition",
    "read_gpt",
]

SECTOR = 512
HEADER_SIZE = 92
_SIGNATURE = b"EFI PART"
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
_EXT_MAGIC = 0xEF53


@dataclass(frozen=True)
class GptPartition:
    number: int  #: 1-based index in the entry array (GRUB's ``gptN``)
    type_guid: uuid.UUID
    first_lba: int
    last_lba: int
    name: str
    entry: bytes  #: the raw entry as it is in the array

    @property
    def is_esp(self) -> bool:
        return self.type_guid == ESP_TYPE


@dataclass(frozen=True)
class GptDisk:
    header: bytes  #: the 92-byte primary header
    partitions: tuple[GptPartition, ...]  #: the entries with a non-zero type GUID, in array order
    fs_uuids: dict[str, int]  #: filesystem UUID text -> partition number (ext2/3/4 only)

    def gpt_event_data(self) -> bytes:
        """``UEFI_GPT_DATA``: header, UINT64 count, the used entries (edk2 Tcg2MeasureGptTable)."""
        return (
            self.header + struct.pack("<Q", len(self.partitions)) + b"".join(p.entry for p in self.partitions)
        )

    def esp(self) -> GptPartition:
        """The EFI system partition; InputError if the disk has none."""
        for p in self.partitions:
            if p.is_esp:
                return p
        raise InputError(f"the disk image has no EFI system partition (type {ESP_TYPE}) in its GPT")


def _read_at(f: BinaryIO, offset: int, size: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise FormatError(f"disk image ends inside the {what}", what=what, offset=offset)
    return data


def _ext_uuid(f: BinaryIO, first_lba: int) -> str | None:
    f.seek(first_lba * SECTOR + 1024)
    sb = f.read(120)
    if len(sb) < 120 or struct.unpack_from("<H", sb, 56)[0] != _EXT_MAGIC:
        return None
    return str(uuid.UUID(bytes=sb[104:120]))


def _parse(f: BinaryIO) -> GptDisk:
    header = _read_at(f, SECTOR, HEADER_SIZE, "GPT header")
    if header[:8] != _SIGNATURE:
        raise InputError("the disk image has no GUID partition table (no 'EFI PART' at LBA 1)")
    (header_size,) = struct.unpack_from("<I", header, 12)
    if not HEADER_SIZE <= header_size <= SECTOR:
        raise FormatError(
            f"GPT HeaderSize {header_size} is outside 92..512", what="GPT header", offset=SECTOR + 12
        )
    full = _read_at(f, SECTOR, header_size, "GPT header")
    zeroed = full[:16] + bytes(4) + full[20:]
    if zlib.crc32(zeroed) != struct.unpack_from("<I", header, 16)[0]:
        raise FormatError("GPT header CRC32 does not match", what="GPT header", offset=SECTOR + 16)
    entry_lba, count, entry_size, array_crc = struct.unpack_from("<QIII", header, 72)
    if entry_size < 128 or entry_size % 8 or count > 4096:
        raise FormatError(
            f"GPT entry array of {count} entries of {entry_size} bytes is not supported",
            what="GPT header",
            offset=SECTOR + 80,
        )
    array = _read_at(f, entry_lba * SECTOR, count * entry_size, "GPT partition entry array")
    if zlib.crc32(array) != array_crc:
        raise FormatError(
            "GPT partition entry array CRC32 does not match", what="GPT entries", offset=entry_lba * SECTOR
        )
    parts: list[GptPartition] = []
    for i in range(count):
        entry = array[i * entry_size : (i + 1) * entry_size]
        if entry[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", entry, 32)
        name = entry[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0]
        parts.append(GptPartition(i + 1, uuid.UUID(bytes_le=entry[:16]), first, last, name, entry))
    uuids: dict[str, int] = {}
    for p in parts:
        text = _ext_uuid(f, p.first_lba)
        if text is not None:
            uuids[text] = p.number
    return GptDisk(header, tuple(parts), uuids)


def read_gpt(path: str | Path) -> GptDisk:
    """The primary GPT of the raw disk image at ``path`` (512-byte sectors)."""
    try:
        with open(path, "rb") as f:
            return _parse(f)
    except OSError as exc:
        raise InputError(f"cannot read the disk image {path}: {exc.strerror}") from exc
