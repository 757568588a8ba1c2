"""QEMU's realm layout (``-M virt,confidential-guest-support=rme0 -object rme-guest``): where it loads
the kernel, initrd, firmware and DTB, and the DTB the Realm VM specification describes.

Placement follows QEMU's ``hw/arm/boot.c`` (``arm_setup_direct_kernel_boot``, ``load_aarch64_image``,
``arm_load_dtb``) and ``hw/arm/virt.c`` (``base_memmap``, ``extended_memmap``, ``a15irqmap``); the DTB
follows the *Realm VM specification* v0.3 "QEMU virt v9.1" (veraison/cca-realm-measurements
``docs/realm-vm.md``) as its reference generator (``src/qemu.rs``) emits it, which reproduces that
project's published QEMU RIMs (docs/cca.md "VMM layouts"). QEMU itself builds a larger DTB (GPIO
keys, flash, ...) with libfdt's read-write API; for a real QEMU give its DTB (``-machine
dumpdtb=FILE``) to :func:`qemu_layout`.

* RAM at 0x40000000 (``VIRT_MEM``); the IPA width is 41 bits: the high memory map (PCIe ECAM at 256
  GiB, 64-bit MMIO up to 1 TiB) needs 40, plus the realm's unprotected-alias bit (realm-vm.md: "at
  least 41 bits"; at most 255 GiB of RAM).
* Direct kernel boot: the kernel at RAM base + the Image's ``text_offset``, vCPU 0 there; the initrd at
  ``ALIGN(max(RAM base + min(RAM / 2, 128 MiB), kernel end), 4 KiB)``; the DTB at the next 2 MiB
  boundary after the initrd (``arm_setup_direct_kernel_boot``); x0 = the DTB.
* Firmware boot (``-bios``): the firmware at 0 (the flash region), the DTB at RAM base, vCPU 0 at 0
  with x0 = 0; the kernel and initrd go to the firmware through fw_cfg, so they are not in the RIM
  (the firmware measures them into a REM); ``-append`` still reaches the DTB.
* INIT_RIPAS over RAM, the images in IPA order (the rme-guest series populates ROM blobs sorted by
  address), vCPU 0's REC.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.arm64_image import parse_arm64_image
from pvmkit.formats.fdt import FdtWriter, check_dtb
from pvmkit.vendors.cca.realm_dtb import begin_realm_dtb
from pvmkit.vendors.cca.vmm_layout import Blob, VmmLayout, align_up

__all__ = ["QEMU_IPA_BITS", "QemuConfig", "qemu_dtb", "qemu_layout"]

_KIB, _MIB, _GIB = 1 << 10, 1 << 20, 1 << 30
RAM_BASE = 0x40000000  # VIRT_MEM
QEMU_IPA_BITS = 41
MAX_RAM = 255 * _GIB  # realm-vm.md: below the high redistributor region at 256 GiB
DEFAULT_RAM = 128 * _MIB  # virt's default -m

# hw/arm/virt.c base_memmap / extended_memmap, a15irqmap
_GIC_DIST, _GIC_DIST_SIZE = 0x08000000, 0x10000
_GIC_ITS, _GIC_ITS_SIZE = 0x08080000, 0x20000
_GIC_REDIST, _GIC_REDIST_SIZE = 0x080A0000, 0x00F60000
_HIGH_REDIST, _HIGH_REDIST_SIZE = 0x40_00000000, 64 * _MIB
_REDIST_STRIDE = 0x20000  # GICv3: 128 KiB per vCPU
_UART, _RTC, _FW_CFG, _FW_CFG_SIZE, _DEVICE_SIZE = 0x09000000, 0x09010000, 0x09020000, 0x18, 0x1000
_MMIO, _MMIO_SIZE, _MMIO_COUNT = 0x0A000000, 0x200, 32
_PLATFORM_BUS, _PLATFORM_BUS_SIZE = 0x0C000000, 0x02000000
_PCIE_MMIO, _PCIE_MMIO_SIZE, _PCIE_PIO, _PCIE_PIO_SIZE = 0x10000000, 0x2EFF0000, 0x3EFF0000, 0x10000
_HIGH_PCIE_ECAM, _HIGH_PCIE_ECAM_SIZE = 0x40_10000000, 256 * _MIB
_HIGH_PCIE_MMIO, _HIGH_PCIE_MMIO_SIZE = 0x80_00000000, 512 * _GIB
_SPI_UART, _SPI_RTC, _SPI_PCIE, _SPI_MMIO = 1, 2, 3, 16
_SPI, _PPI, _EDGE_RISING, _LEVEL_HIGH = 0, 1, 1, 4
_CLOCK_PHANDLE = 0x8000  # QEMU's first phandle (the 24 MHz apb-pclk)


@dataclass(frozen=True)
class QemuConfig:
    """The QEMU options that shape a realm's layout: ``-m``, ``-smp`` (vCPUs), ``-kernel``,
    ``-initrd``, ``-bios`` (firmware), ``-append`` (None: no ``bootargs``), ``-M its=`` and ``-cpu
    pmu=``."""

    ram_size: int = DEFAULT_RAM
    vcpus: int = 1
    kernel: bytes | None = None
    initrd: bytes | None = None
    firmware: bytes | None = None
    bootargs: str | None = None
    its: bool = True
    pmu: bool = False


def qemu_dtb(config: QemuConfig, initrd: tuple[int, int] | None) -> bytes:
    """The virt DTB of the Realm VM specification's reference generator (not padded)."""
    gic = _CLOCK_PHANDLE + config.vcpus + 1  # phandles after the clock and one per vCPU
    its = gic + 1
    f = begin_realm_dtb((RAM_BASE, config.ram_size), config.vcpus, gic, config.bootargs, initrd)
    f.begin_node(f"platform-bus@{_PLATFORM_BUS:x}")  # virt.c create_platform_bus
    f.prop_u32("interrupt-parent", gic)
    f.prop_u32("ranges", 0, 0, _PLATFORM_BUS, _PLATFORM_BUS_SIZE)
    f.prop_u32("#address-cells", 1)
    f.prop_u32("#size-cells", 1)
    f.prop_strings("compatible", "qemu,platform", "simple-bus")
    f.end_node()
    f.begin_node(f"fw-cfg@{_FW_CFG:x}")  # virt.c create_fw_cfg
    f.prop_empty("dma-coherent")
    f.prop_u64("reg", _FW_CFG, _FW_CFG_SIZE)
    f.prop_strings("compatible", "qemu,fw-cfg-mmio")
    f.end_node()
    for i in range(_MMIO_COUNT):  # virt.c create_virtio_devices: 32 transports, SPIs 16-47
        address = _MMIO + i * _MMIO_SIZE
        f.begin_node(f"virtio_mmio@{address:x}")
        f.prop_empty("dma-coherent")
        f.prop_u32("interrupts", _SPI, _SPI_MMIO + i, _EDGE_RISING)
        f.prop_u64("reg", address, _MMIO_SIZE)
        f.prop_strings("compatible", "virtio,mmio")
        f.end_node()
    _pcie_node(f, gic, its if config.its else None)
    f.begin_node(f"pl031@{_RTC:x}")  # virt.c create_rtc
    f.prop_strings("clock-names", "apb_pclk")
    f.prop_u64("reg", _RTC, _DEVICE_SIZE)
    f.prop_u32("clocks", _CLOCK_PHANDLE)
    f.prop_u32("interrupts", _SPI, _SPI_RTC, _LEVEL_HIGH)
    f.prop_strings("compatible", "arm,pl031", "arm,primecell")
    f.end_node()
    f.begin_node(f"pl011@{_UART:x}")  # virt.c create_uart
    f.prop_strings("clock-names", "uartclk", "apb_pclk")
    f.prop_u64("reg", _UART, _DEVICE_SIZE)
    f.prop_u32("clocks", _CLOCK_PHANDLE, _CLOCK_PHANDLE)
    f.prop_u32("interrupts", _SPI, _SPI_UART, _LEVEL_HIGH)
    f.prop_strings("compatible", "arm,pl011", "arm,primecell")
    f.end_node()
    if config.pmu:  # virt.c fdt_add_pmu_nodes: PPI 7
        f.begin_node("pmu")
        f.prop_u32("interrupts", _PPI, 7, _LEVEL_HIGH)
        f.prop_strings("compatible", "arm,armv8-pmuv3")
        f.end_node()
    _gic_node(f, config.vcpus, gic, its if config.its else None)
    f.begin_node("timer")  # virt.c fdt_add_timer_nodes: PPIs 13, 14, 11, level-high
    f.prop_u32("interrupts", *(c for irq in (13, 14, 11) for c in (_PPI, irq, _LEVEL_HIGH)))
    f.prop_empty("always-on")
    f.prop_strings("compatible", "arm,armv8-timer", "arm,armv7-timer")
    f.end_node()
    f.begin_node("apb-pclk")  # virt.c create_fdt: the 24 MHz fixed clock
    f.prop_u32("phandle", _CLOCK_PHANDLE)
    f.prop_strings("clock-output-names", "clk24mhz")
    f.prop_u32("clock-frequency", 24000000)
    f.prop_u32("#clock-cells", 0)
    f.prop_strings("compatible", "fixed-clock")
    f.end_node()
    f.end_node()
    return f.finish()


def _pcie_node(f: FdtWriter, gic: int, its: int | None) -> None:
    """virt.c create_pcie: ECAM at 256 GiB, PIO/32-bit/64-bit windows, INTx swizzled onto SPIs 3-6."""
    f.begin_node(f"pcie@{_PCIE_MMIO:x}")
    interrupt_map = []
    for slot in range(4):
        for pin in range(4):
            interrupt_map += [
                (slot << 3) << 8,
                0,
                0,
                pin + 1,
                gic,
                0,
                0,
                _SPI,
                _SPI_PCIE + (pin + slot) % 4,
                _LEVEL_HIGH,
            ]
    f.prop_u32("interrupt-map", *interrupt_map)
    f.prop_u32("interrupt-map-mask", (3 << 3) << 8, 0, 0, 7)
    f.prop_u32("#interrupt-cells", 1)
    io_space, mmio32, mmio64 = 0x01000000, 0x02000000, 0x03000000
    high, high_size = _HIGH_PCIE_MMIO, _HIGH_PCIE_MMIO_SIZE
    f.prop_u32(
        "ranges",
        *(io_space, 0, 0, 0, _PCIE_PIO, 0, _PCIE_PIO_SIZE),
        *(mmio32, 0, _PCIE_MMIO, 0, _PCIE_MMIO, 0, _PCIE_MMIO_SIZE),
        *(
            mmio64,
            high >> 32,
            high & 0xFFFFFFFF,
            high >> 32,
            high & 0xFFFFFFFF,
            high_size >> 32,
            high_size & 0xFFFFFFFF,
        ),
    )
    f.prop_u64("reg", _HIGH_PCIE_ECAM, _HIGH_PCIE_ECAM_SIZE)
    if its is not None:
        f.prop_u32("msi-map", 0, its, 0, 0x10000)
    f.prop_empty("dma-coherent")
    f.prop_u32("bus-range", 0, 0xFF)
    f.prop_u32("linux,pci-domain", 0)
    f.prop_u32("#size-cells", 2)
    f.prop_u32("#address-cells", 3)
    f.prop_strings("device_type", "pci")
    f.prop_strings("compatible", "pci-host-ecam-generic")
    f.end_node()


def _gic_node(f: FdtWriter, vcpus: int, gic: int, its: int | None) -> None:
    """virt.c create_gic / fdt_add_gic_node: GICv3, a second (high) redistributor region once the
    first is full (123 vCPUs), the ITS below the redistributors."""
    regs = [_GIC_DIST, _GIC_DIST_SIZE, _GIC_REDIST, _GIC_REDIST_SIZE]
    if vcpus > _GIC_REDIST_SIZE // _REDIST_STRIDE:
        regs += [_HIGH_REDIST, _HIGH_REDIST_SIZE]
    f.begin_node(f"intc@{_GIC_DIST:x}")
    f.prop_u32("phandle", gic)
    f.prop_u64("reg", *regs)
    f.prop_u32("#redistributor-regions", len(regs) // 2 - 1)
    f.prop_strings("compatible", "arm,gic-v3")
    f.prop_empty("ranges")
    f.prop_u32("#size-cells", 2)
    f.prop_u32("#address-cells", 2)
    f.prop_empty("interrupt-controller")
    f.prop_u32("#interrupt-cells", 3)
    if its is not None:
        f.begin_node(f"its@{_GIC_ITS:x}")
        f.prop_u32("phandle", its)
        f.prop_u64("reg", _GIC_ITS, _GIC_ITS_SIZE)
        f.prop_u32("#msi-cells", 1)
        f.prop_empty("msi-controller")
        f.prop_strings("compatible", "arm,gic-v3-its")
        f.end_node()
    f.end_node()


def qemu_layout(config: QemuConfig, dtb: bytes | None = None) -> VmmLayout:
    """Where QEMU loads everything for a realm; ``dtb`` replaces the generated DTB (e.g. QEMU's own,
    from ``-machine dumpdtb=FILE``)."""
    ram = config.ram_size
    if not 0 < ram <= MAX_RAM or ram % (2 * _MIB):
        raise InputError(f"QEMU realm RAM must be a multiple of 2 MiB up to 255 GiB, got {ram:#x}")
    if not 1 <= config.vcpus <= 512:
        raise InputError(f"--vcpus {config.vcpus} is outside 1..512")
    blobs: list[Blob] = []
    initrd_range = None
    dtb_gpa, pc, x0 = RAM_BASE, RAM_BASE, RAM_BASE
    if config.firmware is not None:
        blobs.append(Blob(0, config.firmware, "firmware"))
        pc, x0 = 0, 0
    elif config.kernel is not None:
        header = parse_arm64_image(config.kernel)
        kernel_gpa = RAM_BASE + header.text_offset
        kernel_end = kernel_gpa + (header.image_size or len(config.kernel))
        blobs.append(Blob(kernel_gpa, config.kernel, "kernel"))
        initrd_gpa = align_up(max(RAM_BASE + min(ram // 2, 128 * _MIB), kernel_end), 4 * _KIB)
        initrd_size = 0
        if config.initrd is not None:
            initrd_size = len(config.initrd)
            initrd_range = (initrd_gpa, initrd_size)
            blobs.append(Blob(initrd_gpa, config.initrd, "initrd"))
        dtb_gpa = align_up(initrd_gpa + initrd_size, 2 * _MIB)
        pc, x0 = kernel_gpa, dtb_gpa
    elif config.initrd is not None:
        raise InputError("QEMU loads an initrd only with a kernel (-kernel)")
    if dtb is None:
        dtb = qemu_dtb(config, initrd_range)
    else:
        check_dtb(dtb, "--dtb")
    if dtb_gpa + len(dtb) > RAM_BASE + ram:
        raise InputError(f"QEMU: the DTB at {dtb_gpa:#x} does not fit in {ram:#x} bytes of RAM")
    blobs.append(Blob(dtb_gpa, dtb, "dtb"))
    return VmmLayout(
        vmm="qemu",
        ram=((RAM_BASE, ram),),
        blobs=tuple(blobs),
        pc=pc,
        gprs=(x0, 0, 0, 0, 0, 0, 0, 0),
        dtb_gpa=dtb_gpa,
        dtb=dtb,
        ipa_bits=QEMU_IPA_BITS,
    )
