"""QEMU's BIOS linker/loader commands (``etc/table-loader``) and the RSDP (``etc/acpi/rsdp``).

Command format: QEMU ``hw/acpi/bios-linker-loader.c`` (``BiosLinkerLoaderEntry``: a 32-bit command
and a 124-byte union, 128 bytes in all; file names in 56-byte fields). ALLOCATE commands come
before all others (QEMU prepends each one, so the last allocated file comes first); the blob is zero
padded to 4 KiB (hw/i386/acpi-build.c ``acpi_align_size(..., ACPI_BUILD_ALIGN_SIZE)``).
"""

from __future__ import annotations

import struct

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.tables import OEM_ID

__all__ = ["RSDP_FILE", "TABLES_FILE", "TABLE_LOADER_FILE", "TableLoader", "build_rsdp"]

TABLE_LOADER_FILE = "etc/table-loader"
RSDP_FILE = "etc/acpi/rsdp"
TABLES_FILE = "etc/acpi/tables"

_ENTRY_SIZE = 128
_FILE_SIZE = 56
_ALLOCATE, _ADD_POINTER, _ADD_CHECKSUM = 1, 2, 3
ZONE_HIGH, ZONE_FSEG = 1, 2
_ALIGN = 4096
_RSDP_SIZE = 20  # ACPI 1.0 RSDP (revision 0), QEMU build_rsdp for x86


def _name(file: str) -> bytes:
    raw = file.encode("ascii")
    if len(raw) >= _FILE_SIZE:
        raise InputError(f"fw_cfg file name {file!r} does not fit the loader's 56-byte field")
    return raw.ljust(_FILE_SIZE, b"\0")


class TableLoader:
    """Collects loader commands in QEMU's order and serializes them."""

    def __init__(self) -> None:
        self._allocs: list[bytes] = []
        self._commands: list[bytes] = []

    def allocate(self, file: str, align: int, zone: int) -> None:
        entry = struct.pack("<I56sIB", _ALLOCATE, _name(file), align, zone)
        self._allocs.insert(0, entry)  # bios_linker_loader_alloc prepends

    def add_pointer(self, dest_file: str, dest_offset: int, size: int, src_file: str) -> None:
        """Add ``src_file``'s address to the ``size``-byte field at ``dest_offset`` in ``dest_file``."""
        entry = struct.pack("<I56s56sIB", _ADD_POINTER, _name(dest_file), _name(src_file), dest_offset, size)
        self._commands.append(entry)

    def add_checksum(self, file: str, start: int, length: int, checksum_offset: int) -> None:
        entry = struct.pack("<I56sIII", _ADD_CHECKSUM, _name(file), checksum_offset, start, length)
        self._commands.append(entry)

    def blob(self) -> bytes:
        out = b"".join(e.ljust(_ENTRY_SIZE, b"\0") for e in self._allocs + self._commands)
        return out.ljust(-(-len(out) // _ALIGN) * _ALIGN, b"\0")


def build_rsdp(rsdt_offset: int) -> bytes:
    """RSDP revision 0 (hw/acpi/aml-build.c build_rsdp): checksum zero, RSDT address = its offset."""
    rsdp = struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 0, rsdt_offset)
    assert len(rsdp) == _RSDP_SIZE
    return rsdp
