"""The ACPI generator's QEMU 11.1 profile and the SMBIOS model of 11.1 against QEMU 11.1 itself.

Oracle: Debian trixie-backports' QEMU 11.1.3 (``PVMKIT_QEMU_11``, run under trixie's own ``ld-linux``
and libc by tools/fetch_peers.py's wrapper) under qtest, the chipset programmed as TDVF programs it
(``QemuAcpiDumper``): ``etc/table-loader``, ``etc/acpi/rsdp``, ``etc/acpi/tables`` and the two SMBIOS
files byte-equal to the generator's for a sample of shapes (vCPU counts around the 8/255 thresholds
and the 288 maximum of dstack's launches, memory below and above the 4 GiB split, pic on and off,
ACPI PCI hotplug off, no serial port, a root port; two ``-smp`` topologies with hot-pluggable
vCPUs). The two DSDT differences from 10.x (the CPU
hotplug ``_INI`` and COM1's interrupt flags) are asserted on QEMU's own AML, so a change of either
fails here with its name.
"""

from __future__ import annotations

import functools
import shlex

import pytest

from pvmkit.vendors.tdx.acpi import aml
from pvmkit.vendors.tdx.acpi.build import ACPI_FILES, acpi_blobs
from pvmkit.vendors.tdx.acpi.machine import DSTACK_DEVICES, PciFunction, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.qemu_args import parse_qemu_args
from pvmkit.vendors.tdx.qemu_acpi import SMBIOS_FILES, AcpiShape, QemuAcpiDumper
from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES as DSTACK_QEMU_ARGS
from support.qemu import qemu_11_binary
from support.qemu_machine import qemu_args, table

GIB = 1 << 30
ROOT_PORT = (*DSTACK_DEVICES, PciFunction(6, 0, "pcie-root-port"), PciFunction(0, 0, "virtio-rng-pci", 6))

# (vCPUs, GiB, pic, machine keywords)
SHAPES = [
    (1, 2, False, {}),
    (2, 2, True, {}),
    (9, 16, False, {}),
    (255, 64, False, {}),
    (288, 100, True, {}),
    (4, 2, False, {"pci_hotplug_bridge_support": False}),
    (3, 2, False, {"serial": False}),
    (2, 16, False, {"devices": ROOT_PORT}),
]


def _machine(vcpus: int, gib: int, pic: bool, kw: dict[str, object]) -> QemuTdxMachine:
    return QemuTdxMachine(qemu_version=(11, 1), vcpus=vcpus, memory_size=gib * GIB, pic=pic, **kw)


@functools.lru_cache(maxsize=16)
def _qemu_11(machine: QemuTdxMachine) -> dict[str, bytes]:
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    dumper = QemuAcpiDumper(qemu_11_binary(), firmware, qemu_args(machine))
    assert dumper.version[:2] == (11, 1)
    shape = AcpiShape(vcpus=machine.vcpus, memory_size=machine.memory_size, pic=machine.pic)
    return dumper.dump(shape)


@pytest.mark.parametrize(("vcpus", "gib", "pic", "kw"), SHAPES)
def test_generator_equals_qemu_11_1(vcpus: int, gib: int, pic: bool, kw: dict[str, object]) -> None:
    machine = _machine(vcpus, gib, pic, kw)
    qemu = _qemu_11(machine)
    ours = acpi_blobs(machine)
    for name in ACPI_FILES:
        assert ours[name] == qemu[name], name
    smbios = qemu_smbios_blobs((11, 1), vcpus, gib * GIB)
    assert (smbios.anchor, smbios.tables) == (qemu[SMBIOS_FILES[0]], qemu[SMBIOS_FILES[1]])


def test_the_two_dsdt_changes_of_11_1_are_in_qemu_itself() -> None:
    """QEMU 11.1's DSDT has no CPU hotplug ``_INI`` (``_INI`` storing Zero into ``CSEL``) and describes
    COM1's IRQ 4 with a level/active-low/shared information byte; the 10.2 profile has both the
    other way."""
    dsdt = table(_qemu_11(_machine(1, 2, False, {}))["etc/acpi/tables"], b"DSDT")
    ini = aml.method("_INI", 0, aml.store(aml.integer(0), aml.ref("CSEL")), serialized=True)
    assert ini not in dsdt
    assert aml.irq_level_low_shared(4) == bytes.fromhex("23100018")
    assert aml.irq_level_low_shared(4) in dsdt
    assert aml.irq_no_flags(4) not in dsdt
    old = table(acpi_blobs(QemuTdxMachine((10, 2), 1, 2 * GIB, False))["etc/acpi/tables"], b"DSDT")
    assert ini in old and aml.irq_no_flags(4) in old
    assert len(dsdt) == len(old) - len(ini) + 1


# (vCPUs, -smp keys, pic): hot-pluggable vCPUs (the CPU hotplug block whose _INI 11.1 dropped), and
# absent vCPUs past APIC ID 254 (x2APIC entries)
TOPOLOGIES = [(5, "sockets=2,cores=3,maxcpus=12", True), (4, "sockets=4,cores=65,maxcpus=260", False)]


@pytest.mark.parametrize(("vcpus", "keys", "pic"), TOPOLOGIES)
def test_topologies_equal_qemu_11_1(vcpus: int, keys: str, pic: bool) -> None:
    args = ["-smp", keys, *shlex.split(DSTACK_QEMU_ARGS)]
    machine = parse_qemu_args(args).machine((11, 1), vcpus, 2 * GIB, pic)
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    qemu = QemuAcpiDumper(qemu_11_binary(), firmware, tuple(args)).dump(AcpiShape(vcpus, 2 * GIB, pic))
    ours = acpi_blobs(machine)
    for name in ACPI_FILES:
        assert ours[name] == qemu[name], name
