"""The ACPI generator's machine model (pvmkit.vendors.tdx.acpi.machine): QEMU's RAM split and the
inputs it refuses. RAM split expectations: QEMU hw/i386/pc_q35.c pc_q35_init (lowmem 0x80000000 once
RAM >= 0xB0000000, else 0xB0000000)."""

from __future__ import annotations

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.machine import DSTACK_DEVICES, PciFunction, QemuTdxMachine

GIB = 1 << 30


def _machine(**kw: object) -> QemuTdxMachine:
    args: dict[str, object] = {"qemu_version": (10, 0), "vcpus": 1, "memory_size": 2 * GIB, "pic": False}
    args.update(kw)
    return QemuTdxMachine(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("memory", "below", "above"),
    [
        (2 * GIB, 2 * GIB, 0),
        (0xB0000000 - (1 << 20), 0xB0000000 - (1 << 20), 0),
        (0xB0000000, 0x80000000, 0x30000000),
        (16 * GIB, 0x80000000, 14 * GIB),
    ],
)
def test_ram_split(memory: int, below: int, above: int) -> None:
    m = _machine(memory_size=memory)
    assert (m.below_4g_mem_size, m.above_4g_mem_size) == (below, above)


def test_dstack_default_devices() -> None:
    m = _machine()
    assert m.devices == DSTACK_DEVICES
    assert m.slots == (1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"qemu_version": (7, 2)}, "QEMU 7.2 is not modelled"),
        ({"vcpus": 0}, "0 vCPUs"),
        ({"vcpus": 4097}, "4097 vCPUs"),
        ({"memory_size": GIB + 4096}, "whole number of MiB"),
        ({"devices": ()}, "without PCI devices"),
        ({"devices": (PciFunction(1, 0, "virtio-blk-pci"), PciFunction(1, 0, "virtio-net-pci"))}, "two PCI"),
        ({"devices": (PciFunction(2, 1, "virtio-blk-pci"),)}, "no function 0"),
        ({"pci_hole64_size": 0}, "pci-hole64-size"),
    ],
)
def test_refused_machines(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _machine(**kw)


@pytest.mark.parametrize(
    ("slot", "function", "model", "message"),
    [
        (1, 0, "VGA", "not modelled"),
        (0, 0, "virtio-blk-pci", "not free"),
        (0x1F, 0, "virtio-blk-pci", "not free"),
        (32, 0, "virtio-blk-pci", "not free"),
        (3, 8, "virtio-blk-pci", "outside 0..7"),
    ],
)
def test_refused_functions(slot: int, function: int, model: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        PciFunction(slot, function, model)
