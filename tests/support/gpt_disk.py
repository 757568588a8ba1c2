"""A sparse raw disk image rebuilt from a logged EV_EFI_GPT_EVENT (UEFI 2.10 §5.3 layout), for the
shim+GRUB tests against the real Ubuntu TD log (tests/vectors/README.md, "TDX shim + GRUB disk boot")."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

from pvmkit.formats.ccel import TCG_ALG_SHA384, EventLog
from pvmkit.formats.gpt import SECTOR
from support.fixtures import read_fixture

#: the real Ubuntu shim+GRUB TD log (fixtures README, evidence-api)
UBUNTU_LOG = "tdx-qemu-logs/evidence-api/common/golang/evidence_api/test_data/ccel_data.bin"

#: the root filesystem UUID GRUB searches for in the log
ROOT_UUID = "960cb05a-e11f-4dd7-a4f1-bb5727d07e1a"


def disk_from_gpt_event(event_data: bytes, path: Path) -> Path:
    """A sparse disk image holding the GPT the firmware measured: the logged header at LBA 1, the
    three logged entries at array slots 1, 14 and 15 (GRUB names the ESP gpt15), and an ext4
    superblock with the root filesystem's UUID in partition 1."""
    header = event_data[:92]
    count = struct.unpack_from("<Q", event_data, 92)[0]
    entries = [event_data[100 + 128 * i : 228 + 128 * i] for i in range(count)]
    array = bytearray(128 * 128)
    for slot, entry in zip((0, 13, 14), entries, strict=True):
        array[slot * 128 : (slot + 1) * 128] = entry
    root_first = struct.unpack_from("<Q", entries[0], 32)[0]
    superblock = bytearray(1024)
    struct.pack_into("<H", superblock, 56, 0xEF53)
    superblock[104:120] = uuid.UUID(ROOT_UUID).bytes
    with open(path, "wb") as f:
        f.seek(SECTOR)
        f.write(header)
        f.seek(2 * SECTOR)
        f.write(array)
        f.seek(root_first * SECTOR + 1024)
        f.write(superblock)
    return path


def ubuntu_log() -> EventLog:
    return EventLog.parse(read_fixture(UBUNTU_LOG))


def logged_digest(log: EventLog, number: int) -> bytes:
    """The SHA-384 digest of event ``number`` (1-based) as the log gives it."""
    d = log.events[number - 1].digest(TCG_ALG_SHA384)
    assert d is not None
    return d
