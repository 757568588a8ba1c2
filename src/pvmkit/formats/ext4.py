"""A read-only ext2/ext3/ext4 reader, enough for a root or /boot filesystem, bytes in.

Layout: the kernel's ``Documentation/filesystems/ext4/`` (the "ext4 Data Structures and Algorithms"
pages: super.rst, group_descr.rst, inodes.rst, ifork.rst, directory.rst) and ``fs/ext4/ext4.h``,
``fs/ext4/ext4_extents.h``:

* superblock at byte 1024: ``s_inodes_count`` (0), ``s_blocks_count_lo`` (4), ``s_first_data_block``
  (20), ``s_log_block_size`` (24; block size ``1024 << n``), ``s_blocks_per_group`` (32),
  ``s_inodes_per_group`` (40), ``s_magic`` 0xEF53 (56), ``s_rev_level`` (76), ``s_inode_size`` (88;
  128 in revision 0), ``s_feature_incompat`` (96), ``s_uuid`` (104), ``s_desc_size`` (254, with
  ``INCOMPAT_64BIT``), ``s_blocks_count_hi`` (0x150);
* group descriptors from the block after ``s_first_data_block``, 32 bytes each, or ``s_desc_size``
  with ``INCOMPAT_64BIT``: ``bg_inode_table_lo`` (8) and ``_hi`` (0x28, 64-byte descriptors only).
  ``INCOMPAT_META_BG`` places them elsewhere and is refused;
* inode N (from 1) is entry ``(N - 1) % s_inodes_per_group`` of group ``(N - 1) / s_inodes_per_group``'s
  table, ``s_inode_size`` bytes: ``i_mode`` (0), ``i_size_lo`` (4), ``i_flags`` (0x20), ``i_block``
  (0x28, 60 bytes), ``i_size_high`` (0x6C); the root directory is inode 2;
* ``i_block`` holds an extent tree (``EXT4_EXTENTS_FL`` 0x80000): a 12-byte header (magic 0xF30A,
  entries, max, depth), then 12-byte index entries (``ei_block``, ``ei_leaf_lo``, ``ei_leaf_hi``)
  or leaf extents (``ee_block``, ``ee_len`` — above 32768 an unwritten extent of ``len - 32768``
  blocks that reads as zeros —, ``ee_start_hi``, ``ee_start_lo``); the kernel allows depth 5 at most;
  or else the classic block map: 12 direct blocks, then single, double and triple indirect blocks of
  32-bit block numbers (0: a hole, read as zeros);
* directories are read linearly (``ext4_dir_entry_2``: inode, ``rec_len``, ``name_len``,
  ``file_type``, name): a hashed (``dir_index``) directory keeps its index in blocks that read as one
  empty entry, and ``metadata_csum``'s tail is an entry with inode 0, so both are skipped;
* a symbolic link shorter than 60 bytes without extents or inline data keeps its target in
  ``i_block`` (a fast symlink); otherwise the target is the link's data.

Refused with a :class:`~pvmkit.errors.FormatError`: ``INCOMPAT_META_BG``, compression, inline data,
encrypted inodes; anything that points outside the filesystem. Bounded: the filesystem must lie
inside the given bytes, a file may claim at most as many bytes as the filesystem holds, an extent
tree is at most 5 deep, every block number is checked against ``s_blocks_count``.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pvmkit.errors import FormatError
from pvmkit.formats.fsview import FileTree, NodeKind

if TYPE_CHECKING:
    from pvmkit.formats.fsview import ByteData

__all__ = ["Ext4Inode", "Ext4Volume", "open_ext4"]

_MAGIC = 0xEF53
_EXTENT_MAGIC = 0xF30A
_ROOT_INODE = 2
_INCOMPAT_COMPRESSION = 0x1
_INCOMPAT_FILETYPE = 0x2
_INCOMPAT_META_BG = 0x10
_INCOMPAT_64BIT = 0x80
_INCOMPAT_INLINE_DATA = 0x8000
_EXTENTS_FL = 0x80000
_INLINE_DATA_FL = 0x10000000
_ENCRYPT_FL = 0x800
_MAX_DEPTH = 5  # fs/ext4/ext4_extents.h: EXT4_MAX_EXTENT_DEPTH
_KINDS = {0x4000: NodeKind.DIRECTORY, 0x8000: NodeKind.FILE, 0xA000: NodeKind.SYMLINK}


@dataclass(frozen=True)
class Ext4Inode:
    number: int
    mode: int
    size: int
    flags: int
    block: bytes  #: the 60 bytes of ``i_block``


class Ext4Volume(FileTree[Ext4Inode]):
    """An ext2/3/4 filesystem in ``data`` (the partition's bytes; a memoryview or mmap is not copied)."""

    def __init__(self, data: ByteData, label: str = "ext4 filesystem") -> None:
        self._buf = memoryview(data).cast("B")
        self.label = label
        self._parse_superblock()

    def _fail(self, message: str, offset: int | None = None) -> FormatError:
        return FormatError(f"{self.label}: {message}", what="ext4", offset=offset)

    def _parse_superblock(self) -> None:
        if len(self._buf) < 2048:
            raise self._fail("shorter than a superblock")
        sb = bytes(self._buf[1024:2048])
        if struct.unpack_from("<H", sb, 56)[0] != _MAGIC:
            raise self._fail("no ext2/3/4 superblock (magic 0xEF53)", 1024 + 56)
        inodes, blocks_lo, _r, _f, _fi, first_data, log_bs = struct.unpack_from("<7I", sb, 0)
        blocks_per_group, _cpg, inodes_per_group = struct.unpack_from("<3I", sb, 32)
        (rev,) = struct.unpack_from("<I", sb, 76)
        (inode_size,) = struct.unpack_from("<H", sb, 88)
        (self.incompat,) = struct.unpack_from("<I", sb, 96)
        self.uuid = str(uuid.UUID(bytes=sb[104:120]))
        if log_bs > 6:
            raise self._fail(f"s_log_block_size {log_bs} (blocks above 64 KiB)", 1024 + 24)
        self.block_size = bs = 1024 << log_bs
        inode_size = inode_size if rev >= 1 else 128
        if inode_size < 128 or inode_size & (inode_size - 1) or inode_size > bs:
            raise self._fail(f"s_inode_size {inode_size}", 1024 + 88)
        for bit, what in (
            (_INCOMPAT_META_BG, "meta_bg"),
            (_INCOMPAT_COMPRESSION, "compression"),
            (_INCOMPAT_INLINE_DATA, "inline_data"),
        ):
            if self.incompat & bit:
                raise self._fail(f"the {what} feature is not supported")
        wide = bool(self.incompat & _INCOMPAT_64BIT)
        blocks = blocks_lo | (struct.unpack_from("<I", sb, 0x150)[0] << 32 if wide else 0)
        desc_size = struct.unpack_from("<H", sb, 254)[0] if wide else 32
        if desc_size < 32 or desc_size > bs or (wide and desc_size < 64):
            raise self._fail(f"s_desc_size {desc_size}", 1024 + 254)
        if blocks_per_group == 0 or inodes_per_group == 0 or first_data >= blocks:
            raise self._fail("s_blocks_per_group, s_inodes_per_group or s_first_data_block is not usable")
        if blocks * bs > len(self._buf):
            raise self._fail(
                f"the filesystem claims {blocks * bs} bytes, the partition holds {len(self._buf)}"
            )
        groups = -(-(blocks - first_data) // blocks_per_group)
        if groups * inodes_per_group < inodes or groups * desc_size > blocks * bs:
            raise self._fail(f"{groups} block groups cannot hold {inodes} inodes")
        self.blocks, self.inodes = blocks, inodes
        self._inode_size, self._ipg, self._desc_size = inode_size, inodes_per_group, desc_size
        self._desc_start = (first_data + 1) * bs
        self._filetype = bool(self.incompat & _INCOMPAT_FILETYPE)

    # -- blocks and inodes ------------------------------------------------------------------------

    def _block(self, n: int, what: str) -> memoryview:
        if not 0 < n < self.blocks:
            raise self._fail(f"{what} names block {n}, outside the filesystem's {self.blocks}")
        return self._buf[n * self.block_size : (n + 1) * self.block_size]

    def inode(self, number: int) -> Ext4Inode:
        if not 1 <= number <= self.inodes:
            raise self._fail(f"inode {number} is outside 1..{self.inodes}")
        group, index = divmod(number - 1, self._ipg)
        desc = self._desc_start + group * self._desc_size
        table = struct.unpack_from("<I", self._buf, desc + 8)[0]
        if self._desc_size >= 64:
            table |= struct.unpack_from("<I", self._buf, desc + 0x28)[0] << 32
        if not 0 < table < self.blocks:
            raise self._fail(f"block group {group}'s inode table is at block {table}", desc + 8)
        off = table * self.block_size + index * self._inode_size
        if off + 128 > len(self._buf):
            raise self._fail(f"inode {number} lies outside the filesystem")
        raw = bytes(self._buf[off : off + 128])
        (mode,) = struct.unpack_from("<H", raw, 0)
        size = struct.unpack_from("<I", raw, 4)[0] | struct.unpack_from("<I", raw, 0x6C)[0] << 32
        (flags,) = struct.unpack_from("<I", raw, 0x20)
        return Ext4Inode(number, mode, size, flags, raw[0x28:0x64])

    def _extents(
        self, node: bytes, depth_left: int, what: str, budget: list[int]
    ) -> Iterator[tuple[int, int, int, bool]]:
        """(logical block, length, physical block, unwritten) of each leaf extent under ``node``;
        ``budget`` bounds the nodes read (a valid tree has fewer nodes than twice its blocks)."""
        budget[0] -= 1
        if budget[0] < 0:
            raise self._fail(f"{what}: the extent tree has more nodes than the file has blocks")
        magic, entries, _max, depth = struct.unpack_from("<4H", node, 0)
        if magic != _EXTENT_MAGIC:
            raise self._fail(f"{what}: extent header magic {magic:#x}, not 0xf30a")
        if depth > depth_left or 12 + 12 * entries > len(node):
            raise self._fail(f"{what}: extent node of depth {depth} with {entries} entries does not fit")
        for i in range(entries):
            e = 12 + 12 * i
            if depth == 0:
                logical, length, hi, lo = struct.unpack_from("<IHHI", node, e)
                unwritten = length > 32768
                yield logical, length - 32768 if unwritten else length, hi << 32 | lo, unwritten
            else:
                _logical, lo, hi = struct.unpack_from("<IIH", node, e)
                child = bytes(self._block(hi << 32 | lo, f"{what}'s extent index"))
                yield from self._extents(child, depth - 1, what, budget)

    def _mapped_blocks(self, ino: Ext4Inode, count: int, what: str) -> list[int]:
        """Physical block of each of the first ``count`` logical blocks (0: a hole)."""
        out = [0] * count
        if ino.flags & _EXTENTS_FL:
            left = count  # extents of a valid tree do not overlap: at most count blocks to map
            for logical, length, start, unwritten in self._extents(
                ino.block, _MAX_DEPTH, what, [2 * count + 8]
            ):
                if unwritten or logical >= count:
                    continue
                span = min(length, count - logical)
                left -= span
                if left < 0:
                    raise self._fail(f"{what}: its extents overlap")
                out[logical : logical + span] = range(start, start + span)
            return out
        per = self.block_size // 4
        direct = struct.unpack_from("<15I", ino.block, 0)
        out[: min(12, count)] = direct[: min(12, count)]
        base, span = 12, per
        for level, top in enumerate(direct[12:15]):
            if base >= count:
                break
            if top:
                self._indirect(top, level, base, count, out, what)
            base += span
            span *= per
        return out

    def _indirect(self, block: int, level: int, base: int, count: int, out: list[int], what: str) -> None:
        per = self.block_size // 4
        span = per**level  # logical blocks under each entry of this block
        numbers = struct.unpack_from(f"<{per}I", self._block(block, f"{what}'s indirect block"), 0)
        for i, n in enumerate(numbers):
            first = base + i * span
            if first >= count:
                return
            if n == 0:
                continue
            if level == 0:
                out[first] = n
            else:
                self._indirect(n, level - 1, first, count, out, what)

    def _contents(self, ino: Ext4Inode, what: str) -> bytes:
        if ino.flags & _ENCRYPT_FL:
            raise self._fail(f"{what} is encrypted")
        if ino.flags & _INLINE_DATA_FL:
            raise self._fail(f"{what} keeps its data inline (not supported)")
        if ino.size > len(self._buf):
            raise self._fail(f"{what} claims {ino.size} bytes, more than the filesystem holds")
        bs = self.block_size
        count = -(-ino.size // bs)
        out = bytearray(count * bs)
        for i, n in enumerate(self._mapped_blocks(ino, count, what)):
            if n:
                out[i * bs : (i + 1) * bs] = self._block(n, what)
        return bytes(out[: ino.size])

    # -- the tree ---------------------------------------------------------------------------------

    def _root(self) -> Ext4Inode:
        return self.inode(_ROOT_INODE)

    def _entries(self, node: Ext4Inode) -> Iterator[tuple[str, Ext4Inode]]:
        data = self._contents(node, f"directory inode {node.number}")
        bs, off = self.block_size, 0
        while off + 8 <= len(data):
            inode, rec_len, name_len = struct.unpack_from("<IHB" if self._filetype else "<IHH", data, off)
            if bs == 65536 and rec_len in (0, 65535):  # ext4_rec_len_from_disk
                rec_len = 65536
            if rec_len < 8 or rec_len % 4 or off % bs + rec_len > bs or 8 + name_len > rec_len:
                raise self._fail(f"directory inode {node.number}: malformed entry at byte {off}")
            if inode:
                name = data[off + 8 : off + 8 + name_len].decode("utf-8", "surrogateescape")
                if name not in (".", ".."):
                    yield name, self.inode(inode)
            off += rec_len

    def _kind(self, node: Ext4Inode) -> NodeKind:
        return _KINDS.get(node.mode & 0xF000, NodeKind.OTHER)

    def _size(self, node: Ext4Inode) -> int:
        return node.size

    def _data(self, node: Ext4Inode) -> bytes:
        return self._contents(node, f"inode {node.number}")

    def _link_target(self, node: Ext4Inode) -> str:
        fast = node.size < 60 and not node.flags & (_EXTENTS_FL | _INLINE_DATA_FL)
        raw = node.block[: node.size] if fast else self._contents(node, f"symlink inode {node.number}")
        return raw.decode("utf-8", "surrogateescape")


def open_ext4(data: ByteData, label: str = "ext4 filesystem") -> Ext4Volume:
    """The ext2/3/4 filesystem in ``data``; FormatError if it is not one pvmkit can read."""
    return Ext4Volume(data, label)
