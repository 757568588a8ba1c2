"""A read-only FAT12/FAT16/FAT32 reader (an EFI system partition), bytes in.

Layout: Microsoft, "FAT: General Overview of On-Disk Format" (fatgen103, v1.03), which UEFI 2.10
§13.3 adopts for the system partition:

* the boot sector's BPB: ``BytsPerSec`` (offset 11; 512, 1024, 2048 or 4096), ``SecPerClus`` (13; a
  power of two up to 128), ``RsvdSecCnt`` (14), ``NumFATs`` (16), ``RootEntCnt`` (17), ``TotSec16``
  (19), ``FATSz16`` (22), ``TotSec32`` (32); FAT32 only: ``FATSz32`` (36), ``ExtFlags`` (40: bit 7
  set = only FAT number ``bits 0-3`` is active), ``RootClus`` (44); signature 0x55 0xAA at 510;
* the type comes from the count of clusters alone: below 4085 FAT12, below 65525 FAT16, else FAT32;
* ``FirstDataSector = RsvdSecCnt + NumFATs * FATSz + RootDirSectors``; cluster N (from 2) starts at
  sector ``FirstDataSector + (N - 2) * SecPerClus``; FAT12/16 keep the root directory in the
  ``RootEntCnt * 32`` bytes before the data region, FAT32 in the cluster chain from ``RootClus``;
* FAT entries: 12 bits at byte ``N + N / 2`` (the high 12 bits of the 16-bit word for odd N), 16 bits
  at ``2N``, 28 bits at ``4N`` (upper four bits reserved); end of chain from 0xFF8 / 0xFFF8 /
  0x0FFFFFF8, bad cluster 0xFF7 / 0xFFF7 / 0x0FFFFFF7;
* 32-byte directory entries: ``Name`` (11 bytes; first byte 0x00 ends the directory, 0xE5 a free
  entry, 0x05 stands for 0xE5), ``Attr`` (11; 0x10 directory, 0x08 volume label, 0x0F a long-name
  entry), ``NTRes`` (12; bits 0x08/0x10: base/extension shown in lower case, as Windows NT, Linux's
  vfat and mtools write short names), ``FstClusHI`` (20), ``FstClusLO`` (26), ``FileSize`` (28);
* long names: entries before the short entry, last part first, ``Ord`` (0x40 marks the last),
  13 UCS-2 characters at 1, 14 and 28, and the checksum of the short name at 13
  (``sum = ((sum & 1) << 7) + (sum >> 1) + byte``); a set whose order or checksum does not hold is
  ignored and the short name used, as the specification says.

Lookups are case-insensitive over the long and the short name, as UEFI's FAT driver compares them
(edk2 ``FatPkg``: the Unicode collation protocol's ``StriColl``, which upper-cases with its English
table; pvmkit upper-cases Latin-1 letters, :meth:`FatVolume.fold`).

Bounded: the volume must lie inside the given bytes, every cluster number is checked against the
count of clusters, a file's chain is followed only as far as its size needs, a directory's at most
to the 65536 entries the specification allows, and a chain that comes back to a cluster (a cycle)
or ends early is a :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pvmkit.errors import FormatError
from pvmkit.formats.fsview import FileTree, NodeKind

if TYPE_CHECKING:
    from pvmkit.formats.fsview import ByteData

__all__ = ["FatNode", "FatVolume", "open_fat"]

_ATTR_VOLUME_ID = 0x08
_ATTR_DIRECTORY = 0x10
_ATTR_LONG_NAME = 0x0F
_MAX_DIR_ENTRIES = 65536  # fatgen103: a directory holds at most 65536 32-byte entries
_LATIN1_UPPER = {
    c: ord(chr(c).upper()) for c in range(0x100) if len(chr(c).upper()) == 1 and ord(chr(c).upper()) < 0x100
}


@dataclass(frozen=True)
class FatNode:
    name: str
    attr: int
    cluster: int  #: first cluster (0: empty file, or the root directory)
    size: int
    is_root: bool = False

    @property
    def is_dir(self) -> bool:
        return self.is_root or bool(self.attr & _ATTR_DIRECTORY)


def _short_name(raw: bytes, nt_res: int) -> str:
    name = bytes([0xE5]) + raw[1:] if raw[0] == 0x05 else raw
    base = name[:8].rstrip(b" ").decode("cp437")
    ext = name[8:11].rstrip(b" ").decode("cp437")
    if nt_res & 0x08:
        base = base.lower()
    if nt_res & 0x10:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


def _checksum(short: bytes) -> int:
    total = 0
    for b in short:
        total = (((total & 1) << 7) + (total >> 1) + b) & 0xFF
    return total


def _lfn_chars(entry: bytes) -> bytes:
    return entry[1:11] + entry[14:26] + entry[28:32]


def _lfn_name(parts: list[bytes], short: bytes) -> str | None:
    """The long name the collected entries (in on-disk order) spell for ``short``, or None."""
    if not parts:
        return None
    first = parts[0][0]
    if not first & 0x40 or (first & 0x3F) != len(parts) or len(parts) > 20:
        return None
    chars = b""
    checksum = _checksum(short)
    for i, entry in enumerate(parts):
        if entry[0] & 0x3F != len(parts) - i or entry[13] != checksum:
            return None
        chars = _lfn_chars(entry) + chars
    units = [struct.unpack_from("<H", chars, i)[0] for i in range(0, len(chars), 2)]
    if 0 in units:
        units = units[: units.index(0)]
    try:
        name = b"".join(struct.pack("<H", u) for u in units).decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    return name or None


class FatVolume(FileTree[FatNode]):
    """A FAT volume in ``data`` (the partition's bytes; a memoryview or mmap is not copied)."""

    case_insensitive = True

    def __init__(self, data: ByteData, label: str = "FAT filesystem") -> None:
        self._buf = memoryview(data).cast("B")
        self.label = label
        self._parse_bpb()

    # -- boot sector ------------------------------------------------------------------------------

    def _fail(self, message: str, offset: int | None = None) -> FormatError:
        return FormatError(f"{self.label}: {message}", what="FAT", offset=offset)

    def _parse_bpb(self) -> None:
        if len(self._buf) < 512:
            raise self._fail("shorter than a boot sector")
        bs = bytes(self._buf[:512])
        if bs[510:512] != b"\x55\xaa":
            raise self._fail("no boot sector signature 0x55 0xAA", 510)
        sec, spc, rsvd, nfats, root_ents, tot16, _media, fatsz16 = struct.unpack_from("<HBHBHHBH", bs, 11)
        (tot32,) = struct.unpack_from("<I", bs, 32)
        if sec not in (512, 1024, 2048, 4096):
            raise self._fail(f"BytsPerSec {sec} is not 512, 1024, 2048 or 4096", 11)
        if spc == 0 or spc & (spc - 1):
            raise self._fail(f"SecPerClus {spc} is not a power of two", 13)
        if rsvd == 0 or nfats == 0:
            raise self._fail("RsvdSecCnt and NumFATs must not be zero", 14)
        fatsz = fatsz16 or struct.unpack_from("<I", bs, 36)[0]
        total = tot16 or tot32
        root_sectors = (root_ents * 32 + sec - 1) // sec
        first_data = rsvd + nfats * fatsz + root_sectors
        if fatsz == 0 or first_data >= total:
            raise self._fail(f"the FATs and root directory ({first_data} sectors) fill the volume ({total})")
        if total * sec > len(self._buf):
            raise self._fail(f"the volume claims {total * sec} bytes, the partition holds {len(self._buf)}")
        self.clusters = (total - first_data) // spc
        self.fat_bits = 12 if self.clusters < 4085 else 16 if self.clusters < 65525 else 32
        if self.fat_bits == 32:
            if fatsz16 or root_ents:
                raise self._fail("a FAT32 volume with FATSz16 or RootEntCnt set", 17)
            ext_flags, _ver, self._root_cluster = struct.unpack_from("<HHI", bs, 40)
            active = ext_flags & 0x0F if ext_flags & 0x80 else 0
            if active >= nfats:
                raise self._fail(f"ExtFlags names FAT {active} of {nfats}", 40)
        else:
            active, self._root_cluster = 0, 0
        if (self.clusters + 2) * self.fat_bits > fatsz * sec * 8:
            raise self._fail(f"a FAT of {fatsz} sectors cannot hold {self.clusters} clusters", 22)
        fat_start = (rsvd + active * fatsz) * sec
        self._fat = self._buf[fat_start : fat_start + fatsz * sec]
        self._root_dir = (rsvd + nfats * fatsz) * sec, root_ents * 32
        self._data_start = first_data * sec
        self.cluster_size = spc * sec
        eoc = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[self.fat_bits]
        self._eoc, self._bad = eoc, eoc - 1
        if self.fat_bits == 32:
            self._check_cluster(self._root_cluster, "RootClus")

    # -- clusters ---------------------------------------------------------------------------------

    def _check_cluster(self, n: int, what: str) -> None:
        if not 2 <= n < self.clusters + 2:
            raise self._fail(f"{what} names cluster {n}, outside 2..{self.clusters + 1}")

    def _next(self, n: int) -> int:
        if self.fat_bits == 12:
            word = int(struct.unpack_from("<H", self._fat, n + n // 2)[0])
            return word >> 4 if n & 1 else word & 0xFFF
        if self.fat_bits == 16:
            return int(struct.unpack_from("<H", self._fat, 2 * n)[0])
        return int(struct.unpack_from("<I", self._fat, 4 * n)[0]) & 0x0FFFFFFF

    def _chain(self, first: int, max_clusters: int, what: str) -> Iterator[int]:
        """The clusters from ``first``, at most ``max_clusters`` of them; stops at end of chain."""
        seen: set[int] = set()
        n = first
        while len(seen) < max_clusters:
            self._check_cluster(n, what)
            if n in seen:
                raise self._fail(f"the cluster chain of {what} comes back to cluster {n}")
            seen.add(n)
            yield n
            n = self._next(n)
            if n >= self._eoc:
                return
            if n == self._bad:
                raise self._fail(f"the cluster chain of {what} reaches a bad cluster")

    def _cluster_bytes(self, n: int) -> memoryview:
        start = self._data_start + (n - 2) * self.cluster_size
        return self._buf[start : start + self.cluster_size]

    # -- directories and files --------------------------------------------------------------------

    def _dir_bytes(self, node: FatNode) -> bytes:
        if node.is_root and self.fat_bits != 32:
            start, size = self._root_dir
            return bytes(self._buf[start : start + size])
        first = self._root_cluster if node.is_root else node.cluster
        if first == 0:
            raise self._fail(f"the directory {node.name!r} has no first cluster")
        limit = max(1, _MAX_DIR_ENTRIES * 32 // self.cluster_size)
        return b"".join(bytes(self._cluster_bytes(c)) for c in self._chain(first, limit, node.name))

    def _root(self) -> FatNode:
        return FatNode("/", _ATTR_DIRECTORY, 0, 0, is_root=True)

    def _entries(self, node: FatNode) -> Iterator[tuple[str, FatNode]]:
        raw = self._dir_bytes(node)
        lfn: list[bytes] = []
        for off in range(0, len(raw) - 31, 32):
            entry = raw[off : off + 32]
            if entry[0] == 0x00:
                return
            attr = entry[11]
            if entry[0] == 0xE5:
                lfn = []
                continue
            if attr & 0x3F == _ATTR_LONG_NAME:
                lfn = [entry] if entry[0] & 0x40 else [*lfn, entry]
                continue
            parts, lfn = lfn, []
            if attr & _ATTR_VOLUME_ID:
                continue
            short = _short_name(entry[:11], entry[12])
            if short in (".", ".."):
                continue
            hi, lo = struct.unpack_from("<H", entry, 20)[0], struct.unpack_from("<H", entry, 26)[0]
            (size,) = struct.unpack_from("<I", entry, 28)
            cluster = (hi << 16 | lo) if self.fat_bits == 32 else lo
            name = _lfn_name(parts, entry[:11]) or short
            yield name, FatNode(name, attr, cluster, size)

    def _kind(self, node: FatNode) -> NodeKind:
        return NodeKind.DIRECTORY if node.is_dir else NodeKind.FILE

    def _size(self, node: FatNode) -> int:
        return node.size

    def _data(self, node: FatNode) -> bytes:
        if node.size == 0:
            return b""
        if node.size > len(self._buf):
            raise self._fail(f"{node.name!r} claims {node.size} bytes, more than the volume holds")
        need = -(-node.size // self.cluster_size)
        out = bytearray()
        for c in self._chain(node.cluster, need, node.name):
            out += self._cluster_bytes(c)
        if len(out) < node.size:
            raise self._fail(f"the cluster chain of {node.name!r} ends before its {node.size} bytes")
        return bytes(out[: node.size])

    @staticmethod
    def fold(name: str) -> str:
        return name.translate(_LATIN1_UPPER)


def open_fat(data: ByteData, label: str = "FAT filesystem") -> FatVolume:
    """The FAT volume in ``data``; FormatError if it is not one pvmkit can read."""
    return FatVolume(data, label)
