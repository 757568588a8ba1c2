"""kvmtool's realm layout (``lkvm run --realm``): where it loads the kernel, initrd, firmware and DTB,
and the DTB it generates.

Placement follows kvmtool's arm code as the CCA branches carry it (islet-project/3rd-kvmtool, which
tracks kvmtool-cca): ``arm/kvm.c`` ``kvm__arch_load_kernel_image`` and ``kvm__load_firmware``,
``arm/aarch64/kvm.c`` ``kvm__arch_get_kern_offset`` and ``kvm__get_vm_type``, and ``arm/fdt.c``; the
DTB and the address rules that differ between kvmtool versions follow the *Realm VM specification*
v0.3 (veraison/cca-realm-measurements ``docs/realm-vm.md``, "Kvmtool"), which the Linaro kvmtool-cca
branches implement and whose reference generator (cca-realm-measurements ``src/kvmtool.rs``) publishes
RIMs pvmkit reproduces (docs/cca.md "VMM layouts").

* RAM at 0x80000000 (``ARM_MEMORY_AREA``, arm/include/arm-common/kvm-arch.h), a multiple of 2 MiB.
* Kernel at RAM base + the Image header's ``text_offset`` (``kvm__arch_get_kern_offset``); vCPU 0
  starts there. Firmware (``--firmware``) at ``--firmware-address`` (default: RAM base); vCPU 0
  starts there instead.
* DTB: 64 KiB (``FDT_MAX_SIZE``), its unused tail zero, at ``ALIGN(min(RAM end, RAM base + 256 MiB)
  - 1 - 64 KiB - 2 MiB, 2 MiB)`` (``kvm__arch_load_kernel_image``: "Linux requires the initrd and dtb
  to be mapped inside lowmem"), i.e. 0x8fe00000 with 256 MiB or more of RAM; x0 = its address.
* Initrd just below the DTB: ``ALIGN(DTB - size - 4, 4)`` (``INITRD_ALIGN`` 4; not page-aligned).
* RIPAS RAM over all of RAM first, then the images in IPA order, then vCPU 0's REC
  (``kvm_arm_realm_finalize``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.arm64_image import parse_arm64_image
from pvmkit.formats.fdt import FdtWriter, check_dtb
from pvmkit.vendors.cca.realm_dtb import begin_realm_dtb
from pvmkit.vendors.cca.vmm_layout import Blob, VmmLayout, align_up, required_ipa_bits

__all__ = ["KVMTOOL_DEFAULT_BOOTARGS", "KvmtoolConfig", "kvmtool_dtb", "kvmtool_layout"]

_MIB = 1 << 20
RAM_BASE = 0x80000000  # ARM_MEMORY_AREA
FDT_MAX_SIZE = 0x10000
FDT_ALIGN = 2 * _MIB
INITRD_ALIGN = 4
LOWMEM_LIMIT = 256 * _MIB  # "Linux requires the initrd and dtb to be mapped inside lowmem"
DEFAULT_TEXT_OFFSET = 0x80000  # kvm__arch_get_kern_offset when the header has no image size

# Memory map (arm/include/arm-common/kvm-arch.h; Realm VM spec "Kvmtool" memory map)
_IOPORT_SIZE = 0x10000
_UART_BASE, _UART_STRIDE, _UART_SIZE, _UART_COUNT = 0x01000000, 0x1000, 8, 4
_UART_CLOCK = 1843200
_RTC_BASE, _RTC_SIZE = 0x01010000, 2
_GIC_DIST_BASE, _GIC_DIST_SIZE = 0x3FFF0000, 0x10000
_GIC_REDIST_SIZE = 0x20000  # per vCPU
_GIC_ITS_SIZE = 0x20000
_PCI_CFG_BASE, _PCI_CFG_SIZE = 0x40000000, 1 << 28
_PCI_MMIO_BASE = _PCI_CFG_BASE + _PCI_CFG_SIZE
_PHANDLE_GIC, _PHANDLE_ITS = 1, 2

# Interrupt specifiers (Linux dt-bindings/interrupt-controller/arm-gic.h)
_SPI, _PPI = 0, 1
_EDGE_RISING, _LEVEL_HIGH, _LEVEL_LOW = 1, 4, 8
_PCI_SPI_BASE = 64

#: The command line kvmtool passes before the user's ``-p`` for a guest with a virtio console and a
#: virtio block root device (builtin-run.c), as the Realm VM spec's reference generator models it.
KVMTOOL_DEFAULT_BOOTARGS = " console=hvc0 root=/dev/vda rw "


@dataclass(frozen=True)
class KvmtoolConfig:
    """The ``lkvm run --realm`` inputs that shape the layout: RAM size (``-m``), vCPUs (``-c``), the
    kernel (``-k``), initrd (``-i``), firmware (``-f``/``--firmware-address``), the whole
    ``/chosen/bootargs`` string, the GIC ITS (``--irqchip gicv3-its``, the default, or ``gicv3``)
    and whether a PMU node is described (``--pmu``)."""

    ram_size: int
    vcpus: int
    kernel: bytes | None = None
    initrd: bytes | None = None
    firmware: bytes | None = None
    firmware_address: int | None = None
    bootargs: str = KVMTOOL_DEFAULT_BOOTARGS
    its: bool = True
    pmu: bool = False


def kvmtool_dtb(config: KvmtoolConfig, initrd: tuple[int, int] | None) -> bytes:
    """The DTB kvmtool generates for a realm (Realm VM spec v0.3 "Kvmtool": nodes and their order as
    the reference generator emits them; which node exists follows kvmtool's ``arm/fdt.c``
    ``setup_fdt`` and the generators it calls), zero-padded to 64 KiB."""
    f = begin_realm_dtb((RAM_BASE, config.ram_size), config.vcpus, _PHANDLE_GIC, config.bootargs, initrd)
    # GICv3 (arm/gic.c gic__generate_fdt_nodes): one 128 KiB redistributor per vCPU below the
    # distributor, the 128 KiB ITS below them
    redist_size = config.vcpus * _GIC_REDIST_SIZE
    redist_base = _GIC_DIST_BASE - redist_size
    f.begin_node("intc")
    f.prop_strings("compatible", "arm,gic-v3")
    f.prop_u32("#interrupt-cells", 3)
    f.prop_empty("interrupt-controller")
    f.prop_u64("reg", _GIC_DIST_BASE, _GIC_DIST_SIZE, redist_base, redist_size)
    f.prop_u32("phandle", _PHANDLE_GIC)
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 2)
    f.prop_empty("ranges")
    if config.its:
        f.begin_node("msic")
        f.prop_strings("compatible", "arm,gic-v3-its")
        f.prop_empty("msi-controller")
        f.prop_u32("phandle", _PHANDLE_ITS)
        f.prop_u64("reg", redist_base - _GIC_ITS_SIZE, _GIC_ITS_SIZE)
        f.end_node()
    f.end_node()
    # arm/timer.c: secure, non-secure physical and virtual timer PPIs 13, 14, 11
    f.begin_node("timer")
    f.prop_u32("interrupts", *(c for irq in (13, 14, 11) for c in (_PPI, irq, _LEVEL_LOW)))
    f.prop_empty("always-on")
    f.prop_strings("compatible", "arm,armv8-timer", "arm,armv7-timer")
    f.end_node()
    if config.pmu:  # arm/aarch64/pmu.c: PPI 7
        f.begin_node("pmu")
        f.prop_u32("interrupts", _PPI, 7, _LEVEL_HIGH)
        f.prop_strings("compatible", "arm,armv8-pmuv3")
        f.end_node()
    for i in range(_UART_COUNT):  # hw/serial.c: four 8250 UARTs, SPIs 0-3
        address = _UART_BASE + i * _UART_STRIDE
        f.begin_node(f"U6_16550A@{address:x}")
        f.prop_strings("compatible", "ns16550a")
        f.prop_u64("reg", address, _UART_SIZE)
        f.prop_u32("interrupts", _SPI, i, _LEVEL_HIGH)
        f.prop_u32("clock-frequency", _UART_CLOCK)
        f.end_node()
    f.begin_node(f"rtc@{_RTC_BASE:x}")  # hw/rtc.c
    f.prop_strings("compatible", "motorola,mc146818")
    f.prop_u64("reg", _RTC_BASE, _RTC_SIZE)
    f.end_node()
    _pci_node(f, config.its)
    f.end_node()
    blob = f.finish()
    if len(blob) > FDT_MAX_SIZE:
        raise InputError(f"the generated DTB is {len(blob)} bytes, more than kvmtool's {FDT_MAX_SIZE}")
    return blob + bytes(FDT_MAX_SIZE - len(blob))


def _pci_node(f: FdtWriter, its: bool) -> None:
    """arm/pci.c ``pci__generate_fdt_nodes``: ECAM config space, I/O and 32-bit MMIO windows, one SPI
    per slot (64 + slot, pin A; buses share them)."""
    f.begin_node(f"pci@{_PCI_CFG_BASE:x}")
    f.prop_strings("device_type", "pci")
    f.prop_u32("#address-cells", 3)
    f.prop_u32("#size-cells", 2)
    f.prop_empty("dma-coherent")
    f.prop_u32("bus-range", 0, 0)
    f.prop_strings("compatible", "pci-host-ecam-generic")
    f.prop_u64("reg", _PCI_CFG_BASE, _PCI_CFG_SIZE)
    mmio_size = RAM_BASE - _PCI_MMIO_BASE
    io_space, mmio_space = 0x01000000, 0x02000000  # PCI bus binding: phys.hi space codes
    f.prop_u32("ranges", io_space, 0, 0, 0, 0, 0, _IOPORT_SIZE,
               mmio_space, 0, _PCI_MMIO_BASE, 0, _PCI_MMIO_BASE, 0, mmio_size)  # fmt: skip
    interrupt_map = []
    for slot in range(32):
        devfn = slot << 3
        interrupt_map += [devfn << 8, 0, 0, 1, _PHANDLE_GIC, 0, 0, _SPI, _PCI_SPI_BASE + slot, _LEVEL_HIGH]
    f.prop_u32("interrupt-map", *interrupt_map)
    f.prop_u32("interrupt-map-mask", (0x1F << 3) << 8, 0, 0, 7)
    f.prop_u32("#interrupt-cells", 1)
    if its:
        f.prop_u32("msi-map", 0, _PHANDLE_ITS, 0, 0x10000)
    f.end_node()


def kvmtool_layout(config: KvmtoolConfig, dtb: bytes | None = None) -> VmmLayout:
    """Where ``lkvm run --realm`` loads everything; ``dtb`` replaces the generated DTB (e.g. one kvmtool
    wrote with ``--dump-dtb``; it is populated as given, zero-padded to 64 KiB)."""
    ram = config.ram_size
    if ram <= 0 or ram % (2 * _MIB):
        raise InputError(f"kvmtool realm RAM must be a positive multiple of 2 MiB, got {ram:#x}")
    if not 1 <= config.vcpus <= 512:
        raise InputError(f"--vcpus {config.vcpus} is outside 1..512")
    ram_end = RAM_BASE + ram
    blobs: list[Blob] = []
    pc = 0
    kernel_end = RAM_BASE
    if config.kernel is not None:
        header = parse_arm64_image(config.kernel)
        offset = header.text_offset if header.image_size else DEFAULT_TEXT_OFFSET
        pc = RAM_BASE + offset
        size = header.image_size or len(config.kernel)
        kernel_end = pc + max(size, len(config.kernel))
        blobs.append(Blob(pc, config.kernel, "kernel"))
    # the DTB (and initrd) sit below the lowmem limit (Realm VM spec: 0x8fe00000 with >= 256 MiB)
    limit = RAM_BASE + min(ram, LOWMEM_LIMIT) - 1
    dtb_gpa = align_up(limit - (FDT_MAX_SIZE + FDT_ALIGN), FDT_ALIGN)
    if dtb_gpa < kernel_end:
        raise InputError(f"kvmtool: the DTB at {dtb_gpa:#x} would overlap the kernel (ends {kernel_end:#x})")
    initrd_range = None
    if config.initrd is not None:
        start = align_up(dtb_gpa - (len(config.initrd) + INITRD_ALIGN), INITRD_ALIGN)
        if start < align_up(kernel_end, 4096):
            raise InputError(
                f"kvmtool: the initrd at {start:#x} would overlap the kernel (ends {kernel_end:#x})"
            )
        initrd_range = (start, len(config.initrd))
        blobs.append(Blob(start, config.initrd, "initrd"))
    if config.firmware is not None:
        address = RAM_BASE if config.firmware_address is None else config.firmware_address
        if not RAM_BASE <= address < ram_end:
            raise InputError(
                f"--firmware-address {address:#x} is not in RAM ({RAM_BASE:#x}-{ram_end - 1:#x})"
            )
        if address + len(config.firmware) > dtb_gpa:
            raise InputError(f"kvmtool: the firmware at {address:#x} would overlap the DTB at {dtb_gpa:#x}")
        pc = address
        blobs.append(Blob(address, config.firmware, "firmware"))
    if dtb is None:
        dtb = kvmtool_dtb(config, initrd_range)
    elif check_dtb(dtb, "--dtb") and len(dtb) > FDT_MAX_SIZE:
        raise InputError(f"the DTB is {len(dtb)} bytes, more than kvmtool's {FDT_MAX_SIZE}")
    dtb = dtb + bytes(FDT_MAX_SIZE - len(dtb))
    blobs.append(Blob(dtb_gpa, dtb, "dtb"))
    return VmmLayout(
        vmm="kvmtool",
        ram=((RAM_BASE, ram),),
        blobs=tuple(blobs),
        pc=pc,
        gprs=(dtb_gpa, 0, 0, 0, 0, 0, 0, 0),
        dtb_gpa=dtb_gpa,
        dtb=dtb,
        ipa_bits=required_ipa_bits(ram_end - 1),
    )
