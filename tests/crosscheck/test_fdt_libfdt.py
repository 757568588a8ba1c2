"""Read pvmkit's DTBs back with libfdt itself (Debian's python3-libfdt, tests/support/pylibfdt.py): the
blob must pass ``fdt_check_header``, and every node and property must be where the Realm VM
specification v0.3 "Kvmtool" and "QEMU virt v9.1" memory and interrupt maps (cca-realm-measurements
docs/realm-vm.md) put them. Expected values are that document's numbers, written out here."""

from __future__ import annotations

import struct

import pytest

from pvmkit.vendors.cca.kvmtool import KvmtoolConfig, kvmtool_dtb
from pvmkit.vendors.cca.qemu import QemuConfig, qemu_dtb
from support import pylibfdt

pytestmark = pytest.mark.crosscheck
MIB = 1 << 20


def cells(value: bytes, size: int = 4) -> list[int]:
    return list(struct.unpack(f">{len(value) // size}{'I' if size == 4 else 'Q'}", value))


def test_kvmtool_dtb_through_libfdt() -> None:
    libfdt = pylibfdt.load()
    config = KvmtoolConfig(ram_size=1024 * MIB, vcpus=2, bootargs="console=hvc0 root=/dev/vda", pmu=True)
    blob = kvmtool_dtb(config, (0x8FD00000, 0x1000))
    fdt = libfdt.Fdt(blob)  # checks the header (fdt_check_header)
    assert fdt.totalsize() <= 0x10000 and fdt.version() == 17 and fdt.last_comp_version() == 16

    def prop(path: str, name: str) -> bytes:
        return bytes(fdt.getprop(fdt.path_offset(path), name))

    assert prop("/", "compatible") == b"linux,dummy-virt\0"
    assert cells(prop("/", "interrupt-parent")) == [1]
    assert prop("/chosen", "bootargs") == b"console=hvc0 root=/dev/vda\0"
    assert cells(prop("/chosen", "linux,initrd-start"), 8) == [0x8FD00000]
    assert cells(prop("/chosen", "linux,initrd-end"), 8) == [0x8FD01000]
    assert cells(prop("/memory@80000000", "reg"), 8) == [0x80000000, 1024 * MIB]
    assert [cells(prop(f"/cpus/cpu@{i}", "reg")) for i in range(2)] == [[0], [1]]
    # GIC: distributor 0x3fff0000-0x3fffffff, one 128 KiB redistributor per vCPU below it, the ITS below those
    assert cells(prop("/intc", "reg"), 8) == [0x3FFF0000, 0x10000, 0x3FFF0000 - 2 * 0x20000, 2 * 0x20000]
    assert cells(prop("/intc/msic", "reg"), 8) == [0x3FFF0000 - 2 * 0x20000 - 0x20000, 0x20000]
    assert fdt.get_phandle(fdt.path_offset("/intc")) == 1
    # timers PPIs 13, 14, 11 level-low; PMU PPI 7 level-high
    assert cells(prop("/timer", "interrupts")) == [1, 13, 8, 1, 14, 8, 1, 11, 8]
    assert cells(prop("/pmu", "interrupts")) == [1, 7, 4]
    # UARTs 0x01000000 + 0x1000 n, SPIs 0-3; RTC at 0x01010000
    for n in range(4):
        path = f"/U6_16550A@{0x01000000 + 0x1000 * n:x}"
        assert cells(prop(path, "reg"), 8) == [0x01000000 + 0x1000 * n, 8]
        assert cells(prop(path, "interrupts")) == [0, n, 4]
    assert cells(prop("/rtc@1010000", "reg"), 8) == [0x01010000, 2]
    # PCI: config 0x40000000-0x4fffffff, MMIO 0x50000000-0x7fffffff, SPIs 64-95 one per slot
    assert cells(prop("/pci@40000000", "reg"), 8) == [0x40000000, 0x10000000]
    ranges = cells(prop("/pci@40000000", "ranges"))
    assert ranges[7:] == [0x02000000, 0, 0x50000000, 0, 0x50000000, 0, 0x30000000]
    interrupt_map = cells(prop("/pci@40000000", "interrupt-map"))
    assert [interrupt_map[i * 10 + 8] for i in range(32)] == list(range(64, 96))
    assert prop("/psci", "method") == b"smc\0"


def test_qemu_dtb_through_libfdt() -> None:
    libfdt = pylibfdt.load()
    fdt = libfdt.Fdt(qemu_dtb(QemuConfig(ram_size=1024 * MIB, vcpus=2, bootargs="root=/dev/vda2"), None))

    def prop(path: str, name: str) -> bytes:
        return bytes(fdt.getprop(fdt.path_offset(path), name))

    assert cells(prop("/memory@40000000", "reg"), 8) == [0x40000000, 1024 * MIB]
    assert prop("/chosen", "bootargs") == b"root=/dev/vda2\0"
    # GIC distributor 0x08000000, ITS 0x08080000, redistributors 0x080a0000-0x08ffffff
    assert cells(prop("/intc@8000000", "reg"), 8) == [0x08000000, 0x10000, 0x080A0000, 0x00F60000]
    assert cells(prop("/intc@8000000/its@8080000", "reg"), 8) == [0x08080000, 0x20000]
    assert cells(prop("/", "interrupt-parent")) == [fdt.get_phandle(fdt.path_offset("/intc@8000000"))]
    # UART SPI 1, RTC SPI 2, fw-cfg 0x09020000, 32 virtio-mmio at 0x0a000000 + 0x200 n on SPIs 16-47
    assert cells(prop("/pl011@9000000", "interrupts")) == [0, 1, 4]
    assert cells(prop("/pl031@9010000", "interrupts")) == [0, 2, 4]
    assert cells(prop("/fw-cfg@9020000", "reg"), 8) == [0x09020000, 0x18]
    assert cells(prop("/virtio_mmio@a003e00", "interrupts")) == [0, 47, 1]
    # PCIe ECAM at 256 GiB; INTx: line = 3 + ((slot + pin - 1) & 3)
    assert cells(prop("/pcie@10000000", "reg"), 8) == [0x40_10000000, 256 * MIB]
    imap = cells(prop("/pcie@10000000", "interrupt-map"))
    entries = [imap[i : i + 10] for i in range(0, len(imap), 10)]
    assert all(e[8] == 3 + ((e[0] >> 11) + e[3] - 1) % 4 for e in entries) and len(entries) == 16
    assert cells(prop("/timer", "interrupts")) == [1, 13, 4, 1, 14, 4, 1, 11, 4]
    assert cells(prop("/apb-pclk", "clock-frequency")) == [24000000]
