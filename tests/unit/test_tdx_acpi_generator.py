"""pvmkit's own QEMU ACPI generator (pvmkit.vendors.tdx.acpi) against QEMU itself.

Oracle: Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) run under qtest with the chipset programmed as TDVF
programs it (``QemuAcpiDumper``); its blobs reproduce a real QEMU 10.2.1 TD's three ACPI digests
(tests/unit/test_tdx_qemu_acpi.py). Every expected value below is QEMU's output for the same machine.

The non-DSDT tables, the table-loader and the RSDP are compared around QEMU's own DSDT (taken out of
the same dump), so they are checked independently of the DSDT generator.
"""

from __future__ import annotations

import shlex
import struct

import pytest

from pvmkit.vendors.tdx.acpi.build import ACPI_FILES, assemble_blobs
from pvmkit.vendors.tdx.acpi.machine import QemuTdxMachine
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES, qemu_binary

GIB = 1 << 30

# (vCPUs, GiB, pic): the vCPU counts around QEMU's thresholds (8: FADT cluster model; 255: x2APIC
# entries and the x2APIC NMI), the three memory sizes of the bench (2 GiB below the 4 GiB split, 16
# and 64 above it), pic on and off.
SHAPES = [
    (1, 2, False),
    (2, 2, True),
    (8, 16, False),
    (9, 16, True),
    (17, 64, False),
    (255, 2, True),
    (256, 16, False),
    (288, 64, True),
]


@pytest.fixture(scope="module")
def dumper() -> QemuAcpiDumper:
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    return QemuAcpiDumper(qemu_binary(), firmware, tuple(shlex.split(DSTACK_DEVICES)))


def _qemu_dsdt_body(tables: bytes) -> bytes:
    assert tables[64:68] == b"DSDT"  # after the 64-byte FACS, as QEMU places it
    length = struct.unpack_from("<I", tables, 68)[0]
    return tables[64 + 36 : 64 + length]


@pytest.mark.parametrize(("vcpus", "gib", "pic"), SHAPES)
def test_non_dsdt_parts_equal_qemu(dumper: QemuAcpiDumper, vcpus: int, gib: int, pic: bool) -> None:
    qemu = dumper.dump(AcpiShape(vcpus=vcpus, memory_size=gib * GIB, pic=pic))
    machine = QemuTdxMachine(qemu_version=(10, 0), vcpus=vcpus, memory_size=gib * GIB, pic=pic)
    ours = assemble_blobs(machine, _qemu_dsdt_body(qemu["etc/acpi/tables"]))
    assert list(ours) == list(ACPI_FILES)
    for name in ACPI_FILES:
        assert ours[name] == qemu[name], name


def test_loader_refuses_a_file_name_longer_than_its_field() -> None:
    """bios-linker-loader.c: file names live in 56-byte, NUL-terminated fields."""
    from pvmkit.errors import InputError
    from pvmkit.vendors.tdx.acpi.loader import TableLoader

    with pytest.raises(InputError, match="56-byte"):
        TableLoader().allocate("x" * 56, 64, 1)
