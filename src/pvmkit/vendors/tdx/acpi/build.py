"""The three fw_cfg blobs QEMU serves a TDX guest for ACPI, built from a :class:`QemuTdxMachine`.

Order and linking follow QEMU 10.0 ``hw/i386/acpi-build.c`` ``acpi_build`` for q35 with the options
the model admits: FACS (64-byte aligned, at offset 0), DSDT, FACP, APIC, MCFG, WAET, RSDT; one
ADD_CHECKSUM per table after its pointers; the RSDP in the F-segment, pointing at the RSDT; the
tables blob zero padded to 128 KiB (``ACPI_BUILD_TABLE_SIZE``).
"""

from __future__ import annotations

from pvmkit.vendors.tdx.acpi.loader import (
    RSDP_FILE,
    TABLE_LOADER_FILE,
    TABLES_FILE,
    ZONE_FSEG,
    ZONE_HIGH,
    TableLoader,
    build_rsdp,
)
from pvmkit.vendors.tdx.acpi.machine import QemuTdxMachine
from pvmkit.vendors.tdx.acpi.tables import (
    FADT_DSDT_POINTERS,
    FADT_FACS_POINTER,
    SDT_HEADER_SIZE,
    build_facs,
    build_fadt,
    build_madt,
    build_mcfg,
    build_rsdt,
    build_waet,
    sdt_header,
)

__all__ = ["ACPI_FILES", "acpi_blobs", "assemble_blobs"]

#: The fw_cfg files TDVF measures into RTMR0, in its order (the loader, then what it ALLOCATEs).
ACPI_FILES = (TABLE_LOADER_FILE, RSDP_FILE, TABLES_FILE)

_TABLES_SIZE = 0x20000  # ACPI_BUILD_TABLE_SIZE
_FACS_ALIGN, _RSDP_ALIGN = 64, 16
_CHECKSUM_OFFSET = 9  # in every SDT header
_RSDP_CHECKSUM_OFFSET, _RSDP_RSDT_OFFSET, _RSDP_SIZE = 8, 16, 20


def assemble_blobs(machine: QemuTdxMachine, dsdt_aml: bytes) -> dict[str, bytes]:
    """The three blobs of ``machine`` around a DSDT body (the AML after its 36-byte header)."""
    loader = TableLoader()
    loader.allocate(TABLES_FILE, _FACS_ALIGN, ZONE_HIGH)
    blob = bytearray(build_facs())  # FACS: no checksum, no pointers
    dsdt = len(blob)
    blob += sdt_header(b"DSDT", SDT_HEADER_SIZE + len(dsdt_aml), 1) + dsdt_aml
    loader.add_checksum(TABLES_FILE, dsdt, len(blob) - dsdt, dsdt + _CHECKSUM_OFFSET)
    fadt = len(blob)
    blob += build_fadt(machine, facs_offset=0, dsdt_offset=dsdt)
    offset, size = FADT_FACS_POINTER
    loader.add_pointer(TABLES_FILE, fadt + offset, size, TABLES_FILE)
    for offset, size in FADT_DSDT_POINTERS:
        loader.add_pointer(TABLES_FILE, fadt + offset, size, TABLES_FILE)
    loader.add_checksum(TABLES_FILE, fadt, len(blob) - fadt, fadt + _CHECKSUM_OFFSET)
    listed = [fadt]
    for table in (build_madt(machine), build_mcfg(), build_waet()):
        start = len(blob)
        blob += table
        loader.add_checksum(TABLES_FILE, start, len(table), start + _CHECKSUM_OFFSET)
        listed.append(start)
    rsdt = len(blob)
    blob += build_rsdt(listed)
    for i in range(len(listed)):
        loader.add_pointer(TABLES_FILE, rsdt + SDT_HEADER_SIZE + 4 * i, 4, TABLES_FILE)
    loader.add_checksum(TABLES_FILE, rsdt, len(blob) - rsdt, rsdt + _CHECKSUM_OFFSET)
    loader.allocate(RSDP_FILE, _RSDP_ALIGN, ZONE_FSEG)
    loader.add_pointer(RSDP_FILE, _RSDP_RSDT_OFFSET, 4, TABLES_FILE)
    loader.add_checksum(RSDP_FILE, 0, _RSDP_SIZE, _RSDP_CHECKSUM_OFFSET)
    padded = -(-len(blob) // _TABLES_SIZE) * _TABLES_SIZE
    return {
        TABLE_LOADER_FILE: loader.blob(),
        RSDP_FILE: build_rsdp(rsdt),
        TABLES_FILE: bytes(blob.ljust(padded, b"\0")),
    }


def acpi_blobs(machine: QemuTdxMachine) -> dict[str, bytes]:
    """``{name: bytes}`` for ``etc/table-loader``, ``etc/acpi/rsdp`` and ``etc/acpi/tables`` of
    ``machine``, as its QEMU version serves them."""
    from pvmkit.vendors.tdx.acpi.dsdt import dsdt_body

    return assemble_blobs(machine, dsdt_body(machine))
