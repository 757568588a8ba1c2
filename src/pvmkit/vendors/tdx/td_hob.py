"""The TD HOB QEMU builds for a TDVF guest and the RTMR0 digest OVMF logs for it (spec tdx.md §2.2, §7.3).

Layout (QEMU ``hw/i386/tdvf-hob.c``)::

    PHIT (56 B)                 type 0x0001, version 9, boot mode 0, memory fields 0,
                                EfiEndOfHobList = HOB GPA + 56 + 48·N + 8 (past the END HOB)
    N × resource descriptor     type 0x0003, owner GUID 0, ResourceType, attribute 7
       (48 B each)              (PRESENT|INITIALIZED|TESTED), PhysicalStart, ResourceLength
    END (8 B)                   type 0xFFFF — *not* hashed

RAM comes from the Q35 e820 map: ``lowmem`` = 0x80000000 once RAM ≥ 0xB0000000 (else 0xB0000000),
``[0, min(ram, lowmem))`` and, if RAM is bigger, ``[4 GiB, 4 GiB + rest)``. Each TD_HOB/TempMem section,
in metadata order, splits the entry that contains it into head (unaccepted, ResourceType 7) + section
(accepted, ResourceType 0 = system memory) + tail. Adjacent accepted ranges stay separate. Entries are
sorted by start address.

OVMF measures the HOB list from its start up to, not including, the END HOB (event
``EV_EFI_HANDOFF_TABLES2`` "TdxTable"). When pvmkit is itself the VMM, this is the HOB it hands over.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.tdvf import TdvfMetadata, TdvfSectionType

__all__ = [
    "ResourceRange",
    "ResourceType",
    "build_td_hob",
    "q35_ram_ranges",
    "td_hob_digest",
    "td_hob_resources",
]

FOUR_GIB = 1 << 32
_PHIT = struct.Struct("<HHIIIQQQQQ")
_RESOURCE = struct.Struct("<HHI16sIIQQ")
_END = struct.Struct("<HHI")
_ATTRIBUTES = 0x7  # PRESENT | INITIALIZED | TESTED


class ResourceType(enum.IntEnum):
    SYSTEM_MEMORY = 0  #: accepted by the VMM (TD_HOB / TempMem sections)
    MEMORY_UNACCEPTED = 7  #: the guest accepts it


@dataclass(frozen=True)
class ResourceRange:
    start: int
    length: int
    type: ResourceType

    @property
    def end(self) -> int:
        return self.start + self.length


def q35_ram_ranges(memory_size: int) -> list[tuple[int, int]]:
    """QEMU Q35's RAM ranges ``(start, end)`` for ``-m memory_size``."""
    if memory_size <= 0 or memory_size % 4096:
        raise InputError(f"memory size {memory_size:#x} is not a positive multiple of 4 KiB")
    lowmem = 0x80000000 if memory_size >= 0xB0000000 else 0xB0000000
    below = min(memory_size, lowmem)
    ranges = [(0, below)]
    if memory_size > below:
        ranges.append((FOUR_GIB, FOUR_GIB + memory_size - below))
    return ranges


def td_hob_resources(meta: TdvfMetadata, memory_size: int) -> list[ResourceRange]:
    """The resource descriptors of the HOB, sorted by address."""
    entries: list[tuple[int, int, ResourceType]] = [
        (s, e, ResourceType.MEMORY_UNACCEPTED) for s, e in q35_ram_ranges(memory_size)
    ]
    for section in meta.sections:
        if section.type not in (TdvfSectionType.TD_HOB, TdvfSectionType.TEMP_MEM):
            continue
        start, end = section.memory_address, section.end
        for i, (s, e, kind) in enumerate(entries):
            if kind is ResourceType.MEMORY_UNACCEPTED and s <= start and end <= e:
                pieces = [(s, start, kind), (start, end, ResourceType.SYSTEM_MEMORY), (end, e, kind)]
                entries[i : i + 1] = [p for p in pieces if p[1] > p[0]]
                break
        else:
            raise InputError(
                f"TDVF section {section.index} ({section.type_name}) at {start:#x}"
                f"+{section.memory_data_size:#x} is not inside the guest RAM of {memory_size:#x} bytes"
            )
    entries.sort(key=lambda t: t[0])
    return [ResourceRange(s, e - s, kind) for s, e, kind in entries]


def build_td_hob(meta: TdvfMetadata, memory_size: int, *, hob_gpa: int | None = None) -> bytes:
    """The TD HOB list (including the END HOB) QEMU places in the TD_HOB section."""
    if hob_gpa is None:
        hob = meta.td_hob
        if hob is None:
            raise InputError("the firmware has no TD_HOB section; give the HOB GPA")
        hob_gpa = hob.memory_address
    resources = td_hob_resources(meta, memory_size)
    end_of_list = hob_gpa + _PHIT.size + _RESOURCE.size * len(resources) + _END.size
    out = [_PHIT.pack(0x0001, _PHIT.size, 0, 9, 0, 0, 0, 0, 0, end_of_list)]
    for r in resources:
        out.append(
            _RESOURCE.pack(0x0003, _RESOURCE.size, 0, bytes(16), r.type, _ATTRIBUTES, r.start, r.length)
        )
    out.append(_END.pack(0xFFFF, _END.size, 0))
    data = b"".join(out)
    if meta.td_hob is not None and len(data) > meta.td_hob.memory_data_size:
        raise InputError(f"a TD HOB of {len(data)} bytes does not fit the TD_HOB section")
    return data


def td_hob_digest(hob: bytes) -> bytes:
    """SHA-384 of the HOB list without its END HOB (what OVMF extends into RTMR0)."""
    if len(hob) < _END.size or hob[-_END.size :][:2] != b"\xff\xff":
        raise InputError("HOB list does not end with an END_OF_HOB_LIST HOB")
    return hashlib.sha384(hob[: -_END.size]).digest()
