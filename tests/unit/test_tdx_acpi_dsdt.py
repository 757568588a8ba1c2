"""pvmkit's DSDT generator (pvmkit.vendors.tdx.acpi.dsdt) against the DSDT QEMU 10.0.2 builds for the
same machine, run under qtest with the chipset programmed as TDVF leaves it (tests/support/
qemu_machine.py; tests/vectors/README.md, "ACPI generator"). Byte for byte, after the 36-byte header."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.dsdt import dsdt_body, dsdt_body_for
from pvmkit.vendors.tdx.acpi.machine import DSTACK_DEVICES, ROOT_PORT_MODEL, PciFunction, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.versions import PROFILES
from support.qemu_acpi_versions import transform_blobs
from support.qemu_machine import GIB, qemu_blobs, qemu_dsdt_body, table

DSTACK_1_VCPU = QemuTdxMachine(qemu_version=(10, 0), vcpus=1, memory_size=2 * GIB, pic=False)


def _machine(**changes: Any) -> QemuTdxMachine:
    """dstack's 1-vCPU, 2 GiB machine with ``changes``."""
    return dataclasses.replace(DSTACK_1_VCPU, **changes)


def _first_difference(got: bytes, want: bytes) -> str:
    n = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    where = f"first difference at {n:#x}: {got[n : n + 16].hex()} != {want[n : n + 16].hex()}"
    return f"lengths {len(got)}/{len(want)}, {where}"


def _root_port(slot: int) -> PciFunction:
    return PciFunction(slot, 0, ROOT_PORT_MODEL)


def _behind(port: int, model: str = "virtio-rng-pci") -> PciFunction:
    return PciFunction(0, 0, model, root_port=port)


SHAPES = {
    # vCPUs: one more CPU object per vCPU; from APIC ID 255 ACPI0007 devices with x2APIC _MAT
    "1-vcpu": _machine(),
    "2-vcpus-pic": _machine(vcpus=2, pic=True),
    "17-vcpus-16g": _machine(vcpus=17, memory_size=16 * GIB),
    "255-vcpus": _machine(vcpus=255),
    "256-vcpus-64g": _machine(vcpus=256, memory_size=64 * GIB),
    "288-vcpus": _machine(vcpus=288, pic=True),
    # RAM below 4 GiB moves the 32-bit window's start (q35: all of it up to 2.75 GiB, else 2 GiB)
    "1g": _machine(memory_size=1 * GIB),
    "2815m": _machine(memory_size=2815 << 20),
    # the ACPI PCI hotplug registers, PHPR, _E01 and the _OSC mask
    "no-acpi-pci-hotplug": _machine(vcpus=2, pci_hotplug_bridge_support=False),
    # the 64-bit window: pci-hole64-size, rounded up to 1 GiB
    "hole64-64g": _machine(pci_hole64_size=1 << 36),
    "hole64-unaligned": _machine(pci_hole64_size=(1 << 35) + 0x3039000),
    # the ISA serial port and the PCI functions (slot order, multi-function slots, slot 0x1e)
    "no-serial": _machine(serial=False),
    "one-device": _machine(devices=(PciFunction(1, 0, "virtio-blk-pci"),)),
    "sparse-slots": _machine(
        devices=(
            PciFunction(3, 0, "virtio-net-pci"),
            PciFunction(0x10, 0, "virtio-rng-pci"),
            PciFunction(0x1E, 0, "virtio-9p-pci"),
        )
    ),
    "multifunction": _machine(
        devices=(
            PciFunction(2, 0, "virtio-net-pci"),
            PciFunction(2, 1, "virtio-rng-pci"),
            PciFunction(2, 7, "virtio-blk-pci"),
        )
    ),
    # root ports: dstack's GPU TD (a root port in slot 6 with the GPU behind it, ACPI PCI hotplug
    # off), and with hotplug on (bus selectors numbered from the last port, PCNT, _E01)
    "gpu-root-port": _machine(
        pci_hotplug_bridge_support=False, devices=(*DSTACK_DEVICES, _root_port(6), _behind(6))
    ),
    "root-ports-hotplug": _machine(
        devices=(
            *DSTACK_DEVICES,
            _root_port(0x10),
            _behind(0x10, "virtio-net-pci"),
            _root_port(7),
            _root_port(8),
            _behind(8),
        )
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_dsdt_equals_qemus(shape: str) -> None:
    machine = SHAPES[shape]
    want = qemu_dsdt_body(machine)
    got = dsdt_body(machine)
    assert got == want, _first_difference(got, want)


# (QEMU 8.2 without ACPI PCI hotplug is left out: the transformation expects the PDSM it rewrites)
VERSIONED = [
    (version, shape)
    for version in ((8, 2), (9, 2), (10, 2))
    for shape in ("1-vcpu", "2-vcpus-pic", "no-acpi-pci-hotplug", "256-vcpus-64g", "gpu-root-port")
    if version != (8, 2) or shape not in ("no-acpi-pci-hotplug", "gpu-root-port")
]


@pytest.mark.parametrize(("version", "shape"), VERSIONED)
def test_older_versions_dsdt(version: tuple[int, int], shape: str) -> None:
    """The version profiles' DSDT differences (CSCN without the eject queue, PDSM's older function 7,
    edge-triggered link interrupts) against QEMU 10.0.2's DSDT with those differences applied by
    tests/support/qemu_acpi_versions.py, which gives all three ACPI digests of dstack's real QEMU
    8.2.2 and 9.2.1 TDs (test_tdx_qemu_acpi_versions.py)."""
    machine, profile = SHAPES[shape], PROFILES[version]
    older = transform_blobs(qemu_blobs(machine), profile, machine.vcpus)
    want = table(older["etc/acpi/tables"], b"DSDT")[36:]
    got = dsdt_body_for(machine, profile)
    assert got == want, _first_difference(got, want)


# The shapes of dstack's real TDs whose three ACPI digests tests/unit/test_tdx_qemu_acpi_versions.py
# reproduces from QEMU 10.0.2's blobs with a version profile's differences: (profile, the QEMU
# command line of that test, the same machine in the model)
REAL_CAPTURES = {
    "qemu-10.2.1-1-vcpu": ((10, 2), "DSTACK_DEVICES", _machine()),
    "qemu-8.2.2-1-vcpu": ((8, 2), "DSTACK_DEVICES", _machine()),
    "qemu-8.2.2-2-vcpus": ((8, 2), "DSTACK_DEVICES", _machine(vcpus=2)),
    "qemu-8.2-ccel-sample": (
        (8, 2),
        "DSTACK_CDROM_DEVICES",
        _machine(memory_size=GIB, devices=DSTACK_DEVICES[:4]),
    ),
    "qemu-9.2.1-gpu-td": (
        (9, 2),
        "GPU_TD_DEVICES",
        _machine(
            vcpus=16,
            memory_size=64 * GIB,
            pci_hotplug_bridge_support=False,
            pci_hole64_size=1 << 44,
            devices=(*DSTACK_DEVICES, _root_port(6), _behind(6)),
        ),
    ),
}


@pytest.mark.parametrize("capture", sorted(REAL_CAPTURES))
def test_dsdt_of_the_real_captures(capture: str) -> None:
    """The generator's DSDT for the shape of a real dstack TD equals the DSDT inside the tables blob
    whose digest is that TD's (the capture test's own command line, dumped by QEMU 10.0.2 and
    transformed by the profile's differences)."""
    import shlex

    from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
    from support import qemu
    from support.fixtures import fixture_path

    version, command_line, machine = REAL_CAPTURES[capture]
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    dumper = QemuAcpiDumper(qemu.qemu_binary(), firmware, tuple(shlex.split(getattr(qemu, command_line))))
    files = dumper.dump(AcpiShape(vcpus=machine.vcpus, memory_size=machine.memory_size, pic=False))
    profile = PROFILES[version]
    want = table(transform_blobs(files, profile, machine.vcpus)["etc/acpi/tables"], b"DSDT")[36:]
    got = dsdt_body_for(machine, profile)
    assert got == want, _first_difference(got, want)


def test_root_ports_with_hotplug_before_10_0_are_refused() -> None:
    machine = SHAPES["root-ports-hotplug"]
    with pytest.raises(InputError, match=r"root ports with ACPI PCI hotplug .* not 9\.2"):
        dsdt_body_for(machine, PROFILES[(9, 2)])


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ((*DSTACK_DEVICES, _behind(6)), "no pcie-root-port in slot 0x6"),
        ((*DSTACK_DEVICES, _root_port(6), _behind(6), _behind(6)), "two PCI devices behind"),
        ((_root_port(6), _behind(6)), "without PCI devices on pcie.0"),
    ],
)
def test_unmodelled_root_port_layouts_are_refused(devices: tuple[PciFunction, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _machine(devices=devices)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((6, 1, ROOT_PORT_MODEL), "only as function 0"),
        ((1, 0, "virtio-rng-pci", 6), "only slot 0, function 0"),
    ],
)
def test_unmodelled_root_port_functions_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        PciFunction(*args)


def test_a_shape_costs_milliseconds() -> None:
    """The issue's grid (vCPUs 1-256 x three RAM sizes) needs the DSDT in well under 6 ms a shape:
    the parts that do not change with the shape are built once (generous margin: loaded machine)."""
    start = time.perf_counter()
    for vcpus in range(1, 257):
        for memory in (2 * GIB, 16 * GIB, 64 * GIB):
            dsdt_body(_machine(vcpus=vcpus, memory_size=memory))
    per_shape = (time.perf_counter() - start) / (256 * 3)
    assert per_shape < 0.006, f"{per_shape * 1000:.2f} ms per shape"
