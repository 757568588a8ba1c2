"""A small flattened device tree (DTB) writer: the Devicetree Specification v0.4 §5 format.

Layout of the blob :meth:`FdtWriter.finish` returns (§5.2-§5.5): the 40-byte header (magic
0xd00dfeed, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap, version 17, last compatible
version 16, boot_cpuid_phys 0, size_dt_strings, size_dt_struct), the memory reservation block at
offset 40 (only its terminating zero entry), the structure block at 56 (FDT_BEGIN_NODE 1 + name,
FDT_PROP 3 + len + nameoff + value, FDT_END_NODE 2, FDT_END 9; every token 4-byte aligned), then
the strings block.

Property names are stored once, **in the order they are first used** (what libfdt's read-write API
and rust-vmm's vm-fdt ``FdtWriter`` produce; libfdt's sequential-write API stores them in the
reverse order). Bytes matter here: a VMM's DTB is measured into a realm's RIM.
"""

from __future__ import annotations

import struct

from pvmkit.errors import FormatError, InputError, TruncatedError

__all__ = ["FDT_MAGIC", "FdtWriter", "check_dtb"]

FDT_MAGIC = 0xD00DFEED
_BEGIN_NODE, _END_NODE, _PROP, _END = 1, 2, 3, 9
_HEADER = 40
_RSVMAP = 16  # the terminating {address 0, size 0} entry


class FdtWriter:
    """Nodes and properties in the order they are written; :meth:`finish` gives the blob."""

    def __init__(self) -> None:
        self._struct = bytearray()
        self._strings = bytearray()
        self._offsets: dict[str, int] = {}
        self._depth = 0

    def _word(self, value: int) -> None:
        self._struct += struct.pack(">I", value)

    def _pad(self) -> None:
        self._struct += bytes(-len(self._struct) % 4)

    @staticmethod
    def _text(value: str, what: str) -> bytes:
        if "\0" in value:
            raise InputError(f"device tree {what} {value!r} contains a NUL character")
        return value.encode() + b"\0"

    def begin_node(self, name: str) -> None:
        self._word(_BEGIN_NODE)
        self._struct += self._text(name, "node name")
        self._pad()
        self._depth += 1

    def end_node(self) -> None:
        if self._depth == 0:
            raise InputError("device tree: end_node without an open node")
        self._word(_END_NODE)
        self._depth -= 1

    def prop(self, name: str, value: bytes) -> None:
        if self._depth == 0:
            raise InputError(f"device tree: property {name!r} outside a node")
        if name not in self._offsets:
            self._offsets[name] = len(self._strings)
            self._strings += self._text(name, "property name")
        self._word(_PROP)
        self._word(len(value))
        self._word(self._offsets[name])
        self._struct += value
        self._pad()

    def prop_empty(self, name: str) -> None:
        self.prop(name, b"")

    def prop_u32(self, name: str, *cells: int) -> None:
        self.prop(name, struct.pack(f">{len(cells)}I", *cells))

    def prop_u64(self, name: str, *values: int) -> None:
        self.prop(name, struct.pack(f">{len(values)}Q", *values))

    def prop_strings(self, name: str, *values: str) -> None:
        self.prop(name, b"".join(self._text(v, f"{name} value") for v in values))

    def finish(self) -> bytes:
        if self._depth:
            raise InputError(f"device tree: {self._depth} node(s) not ended")
        self._word(_END)
        off_struct = _HEADER + _RSVMAP
        off_strings = off_struct + len(self._struct)
        total = off_strings + len(self._strings)
        header = struct.pack(
            ">10I",
            FDT_MAGIC,
            total,
            off_struct,
            off_strings,
            _HEADER,
            17,
            16,
            0,
            len(self._strings),
            len(self._struct),
        )
        return header + bytes(_RSVMAP) + bytes(self._struct) + bytes(self._strings)


def check_dtb(data: bytes, what: str = "DTB") -> int:
    """The ``totalsize`` of a DTB whose header is sound (§5.2: the magic, version 16 or later, the
    blocks inside ``totalsize``, ``totalsize`` inside ``data``); FormatError otherwise. The rest of
    ``data`` (a VMM's zero padding) is not looked at."""
    if len(data) < _HEADER:
        raise TruncatedError(f"{what}: {len(data)} bytes is too short for a device tree header", what=what)
    magic, total, off_struct, off_strings, off_rsvmap, version, _last, _cpu, size_strings, size_struct = (
        struct.unpack_from(">10I", data)
    )
    if magic != FDT_MAGIC:
        raise FormatError(f"{what}: not a device tree blob (magic {magic:#010x}, not 0xd00dfeed)", what=what)
    if version < 16:
        raise FormatError(f"{what}: device tree version {version} is older than 16", what=what)
    if total > len(data):
        raise TruncatedError(f"{what}: totalsize {total} is more than the {len(data)} bytes given", what=what)
    for name, offset, size in (
        ("structure", off_struct, size_struct),
        ("strings", off_strings, size_strings),
    ):
        if offset < _HEADER or offset + size > total:
            raise FormatError(f"{what}: the {name} block lies outside totalsize {total}", what=what)
    if not _HEADER <= off_rsvmap <= total - _RSVMAP:
        raise FormatError(f"{what}: the memory reservation block lies outside totalsize {total}", what=what)
    return int(total)
