"""The DSDT's PCI host bridge parts for QEMU's q35 machine: PCI0 with _OSC and EDSM, the MMCONFIG
reservation, the ACPI PCI hotplug registers, PCI0's _CRS windows, the GPE0/PHPR/FWCF resource devices
and one device object per PCI function on ``pcie.0``, with the ISA devices under the LPC bridge.

QEMU sources (``hw/i386/acpi-build.c`` unless named): ``build_dsdt`` (the order of the parts),
``build_q35_osc_method``, ``aml_pci_edsm``, ``build_q35_pci0_int`` / ``build_dsdt``'s DRAC device,
``hw/acpi/pcihp.c`` ``build_acpi_pci_hotplug`` (PCST, SEJ, BNMR, PCEJ, AIDX; PDSM from
``aml_pci_pdsm``), ``build_append_pci_bus_devices`` and ``build_append_pcihp_slots`` (the S<devfn>
devices and hot-pluggable slots; in ``hw/i386/acpi-build.c`` in QEMU 10.0, moved to
``hw/acpi/pcihp.c`` later), ``hw/isa/lpc_ich9.c`` ``build_ich9_isa_aml``
(PIRQ fields, ISA devices), the ISA devices' ``build_aml`` (``hw/input/pckbd.c``,
``hw/char/serial-isa.c``, ``hw/rtc/mc146818rtc.c``), ``hw/i386/fw_cfg.c`` ``fw_cfg_add_acpi_dsdt``,
``hw/acpi/ich9.c`` (the GPE0 block at PMBASE + 0x20), ``hw/pci-host/q35.c`` (the PCI holes).
"""

from __future__ import annotations

import functools

from pvmkit.vendors.tdx.acpi import aml
from pvmkit.vendors.tdx.acpi.machine import (
    ROOT_PORT_MODEL,
    TDVF_MCFG_BASE,
    TDVF_MCFG_SIZE,
    TDVF_PMBASE,
    PciFunction,
)

_ARG = aml.ARGS
_LOCAL = aml.LOCALS
_PCI_HOST_BRIDGE_UUID = "33db4d5b-1ff7-401c-9657-7441c03dd766"  # PCI Firmware spec 3.3, _OSC
_DEVICE_LABELING_UUID = "e5c937d0-3553-4d7a-9117-ea4d19c3434d"  # PCI Firmware spec 3.3, _DSM
_PCIHP_IO_BASE, _PCIHP_IO_LEN = 0x0CC0, 0x18  # include/hw/acpi/ich9.h ACPI_PCIHP_ADDR_ICH9, ACPI_PCIHP_SIZE
_GPE0_OFFSET, _GPE0_LEN = 0x20, 0x10  # hw/acpi/ich9.c ICH9_PMIO_GPE0_STS, ICH9_PMIO_GPE0_LEN
# hw/i386/fw_cfg.c fw_cfg_add_acpi_dsdt: FW_CFG_IO_BASE; the control register rounded up to 4, then
# the 8-byte DMA address register
_FW_CFG_IO_BASE, _FW_CFG_IO_LEN = 0x510, 0x0C
_PCI_HOLE_END = 0xFEC00000  # hw/pci-host/q35.c: the 32-bit hole ends at IO_APIC_DEFAULT_ADDRESS
_LPC_DEVFN = 0x1F << 3  # ICH9 LPC at 00:1f.0; SATA 1f.2 and SMBus 1f.3 (hw/i386/pc_q35.c)
_ICH9_FUNCTIONS = (_LPC_DEVFN, _LPC_DEVFN | 2, _LPC_DEVFN | 3)
_GIB = 1 << 30


def debug_scope() -> bytes:
    """``\\DBG``/``DBUG``: QEMU's debug port 0x402 and a method printing to it (``build_dbg_aml``)."""
    local0, local1, local2 = _LOCAL[:3]
    dbug = aml.method(
        "DBUG",
        1,
        aml.to_hex_string(_ARG[0], local0),
        aml.to_buffer(local0, local0),
        aml.subtract(aml.sizeof(local0), aml.integer(1), local1),
        aml.store(aml.integer(0), local2),
        aml.while_(
            aml.lless(local2, local1),
            aml.store(aml.deref_of(aml.index(local0, local2)), aml.ref("DBGB")),
            aml.increment(local2),
        ),
        aml.store(aml.integer(0x0A), aml.ref("DBGB")),
    )
    return aml.scope(
        "\\",
        aml.operation_region("DBG", aml.SYSTEM_IO, 0x0402, 1),
        aml.field("DBG", aml.BYTE_ACC, aml.NO_LOCK, aml.PRESERVE, aml.named_field("DBGB", 8)),
        dbug,
    )


def _osc(native_pcie_hotplug: bool) -> bytes:
    """PCI0._OSC (``build_q35_osc_method``): grants the OS every control in the support mask but
    native PCIe hotplug (bit 0) while ACPI PCI hotplug is enabled."""
    cdw1, cdw3 = aml.ref("CDW1"), aml.ref("CDW3")
    local0 = _LOCAL[0]
    mask = 0x1F if native_pcie_hotplug else 0x1E
    return aml.method(
        "_OSC",
        4,
        aml.create_dword_field(_ARG[3], aml.integer(0), "CDW1"),
        aml.if_(
            aml.lequal(_ARG[0], aml.touuid(_PCI_HOST_BRIDGE_UUID)),
            aml.create_dword_field(_ARG[3], aml.integer(4), "CDW2"),
            aml.create_dword_field(_ARG[3], aml.integer(8), "CDW3"),
            aml.store(cdw3, local0),
            aml.and_(local0, aml.integer(mask), local0),
            aml.if_(aml.lnot_equal(_ARG[1], aml.integer(1)), aml.or_(cdw1, aml.integer(0x08), cdw1)),
            aml.if_(aml.lnot_equal(cdw3, local0), aml.or_(cdw1, aml.integer(0x10), cdw1)),
            aml.store(local0, cdw3),
        ),
        aml.else_(aml.or_(cdw1, aml.integer(0x04), cdw1)),
        aml.return_(_ARG[3]),
    )


def _dsm_func0_prologue(local0: bytes) -> tuple[bytes, ...]:
    """The start of a Device Labeling _DSM function 0: an empty answer unless the UUID and revision
    (>= 2) are the ones the labels need (``aml_pci_edsm``, ``aml_pci_pdsm``)."""
    return (
        aml.store(aml.buffer(b"\x00"), local0),
        aml.if_(aml.lnot_equal(_ARG[0], aml.touuid(_DEVICE_LABELING_UUID)), aml.return_(local0)),
        aml.if_(aml.lless(_ARG[1], aml.integer(2)), aml.return_(local0)),
    )


def _edsm() -> bytes:
    """PCI0.EDSM (``aml_pci_edsm``): _DSM for devices with a static acpi-index."""
    local0, local1 = _LOCAL[:2]
    return aml.method(
        "EDSM",
        5,
        aml.if_(
            aml.lequal(_ARG[2], aml.integer(0)),
            *_dsm_func0_prologue(local0),
            aml.store(aml.integer(0x81), aml.index(local0, aml.integer(0))),
            aml.return_(local0),
        ),
        aml.if_(
            aml.lequal(_ARG[2], aml.integer(7)),
            aml.store(aml.package(aml.integer(0), aml.string("")), local0),
            aml.store(aml.deref_of(aml.index(_ARG[4], aml.integer(0))), local1),
            aml.store(local1, aml.index(local0, aml.integer(0))),
            aml.return_(local0),
        ),
        serialized=True,
    )


@functools.lru_cache(maxsize=4)
def pci0_scope(acpi_pci_hotplug: bool) -> bytes:
    """``\\_SB`` with PCI0 (PNP0A08) and DRAC, the MMCONFIG reservation (``build_dsdt``)."""
    pci0 = aml.device(
        "PCI0",
        aml.name("_HID", aml.eisaid("PNP0A08")),
        aml.name("_CID", aml.eisaid("PNP0A03")),
        aml.name("_UID", aml.integer(0)),
        _osc(native_pcie_hotplug=not acpi_pci_hotplug),
        _edsm(),
    )
    mcfg_end = TDVF_MCFG_BASE + TDVF_MCFG_SIZE - 1
    drac = aml.device(
        "DRAC",
        aml.name("_HID", aml.string("PNP0C01")),
        aml.name(
            "_CRS",
            aml.resource_template(
                _dword_window(aml.NON_CACHEABLE, TDVF_MCFG_BASE, mcfg_end),
            ),
        ),
    )
    return aml.scope("_SB", pci0, drac)


def _dword_window(cacheable: int, first: int, last: int) -> bytes:
    general = aml.POS_DECODE | aml.MIN_FIXED | aml.MAX_FIXED
    return aml.memory_range(32, general, cacheable, aml.READ_WRITE, 0, first, last, 0, last - first + 1)


def _io_region(region: str, base: int, length: int, *fields: tuple[str, int]) -> tuple[bytes, bytes]:
    elements = [aml.named_field(n, bits) for n, bits in fields]
    return (
        aml.operation_region(region, aml.SYSTEM_IO, base, length),
        aml.field(region, aml.DWORD_ACC, aml.NO_LOCK, aml.WRITE_AS_ZEROS, *elements),
    )


def _pdsm(label_only_with_index: bool) -> bytes:
    """PCI0.PDSM (``aml_pci_pdsm``): _DSM of hot-pluggable slots, the acpi-index read through AIDX.
    Function 7 with ``label_only_with_index`` (QEMU 10.0, upstream 0b053391985a; stable 8.2.9,
    9.2.1) starts from an empty Package (2) filled only for a slot with an index; before, it was
    ``Package {Zero, ""}`` with the index stored unconditionally."""
    local0, local1, local2 = _LOCAL[:3]
    arg4 = _ARG[4]
    aidx = aml.call(
        "AIDX",
        aml.deref_of(aml.index(arg4, aml.integer(0))),
        aml.deref_of(aml.index(arg4, aml.integer(1))),
    )

    def no_index(logical_or: bool) -> bytes:
        is_zero = aml.lequal(local2, aml.integer(0))
        is_ones = aml.lequal(local2, aml.integer(0xFFFFFFFF))
        return aml.lnot(aml.lor(is_zero, is_ones) if logical_or else aml.or_(is_zero, is_ones))

    if label_only_with_index:
        label = (
            aml.store(aidx, local2),
            aml.store(aml.package(count=2), local0),
            aml.if_(
                no_index(logical_or=True),
                aml.store(local2, aml.index(local0, aml.integer(0))),
                aml.store(aml.string(""), aml.index(local0, aml.integer(1))),
            ),
        )
    else:
        label = (
            aml.store(aml.package(aml.integer(0), aml.string("")), local0),
            aml.store(aidx, local2),
            aml.store(local2, aml.index(local0, aml.integer(0))),
        )
    return aml.method(
        "PDSM",
        5,
        aml.if_(
            aml.lequal(_ARG[2], aml.integer(0)),
            *_dsm_func0_prologue(local0),
            aml.store(aml.integer(0), local1),
            aml.store(aidx, local2),
            aml.if_(
                no_index(logical_or=False),
                aml.or_(local1, aml.integer(1), local1),
                aml.or_(local1, aml.shift_left(aml.integer(1), aml.integer(7)), local1),
            ),
            aml.store(local1, aml.index(local0, aml.integer(0))),
            aml.return_(local0),
        ),
        aml.if_(aml.lequal(_ARG[2], aml.integer(7)), *label, aml.return_(local0)),
        serialized=True,
    )


@functools.lru_cache(maxsize=2)
def pci_hotplug_scope(label_only_with_index: bool = True) -> bytes:
    """``_SB.PCI0``'s ACPI PCI hotplug registers and methods (``build_acpi_pci_hotplug``; the register
    block of QEMU ``docs/specs/acpi_pci_hotplug.rst`` at 0xCC0); PDSM's form as :func:`_pdsm`."""
    blck = "BLCK"

    def locked(*body: bytes) -> tuple[bytes, ...]:
        return (aml.acquire(blck, 0xFFFF), aml.store(_ARG[0], aml.ref("BNUM")), *body)

    pcej = aml.method(
        "PCEJ",
        2,
        *locked(aml.store(aml.shift_left(aml.integer(1), _ARG[1]), aml.ref("B0EJ"))),
        aml.release(blck),
        aml.return_(aml.integer(0)),
    )
    aidx = aml.method(
        "AIDX",
        2,
        *locked(
            aml.store(aml.shift_left(aml.integer(1), _ARG[1]), aml.ref("PIDX")),
            aml.store(aml.ref("PIDX"), _LOCAL[0]),
        ),
        aml.release(blck),
        aml.return_(_LOCAL[0]),
    )
    return aml.scope(
        "_SB.PCI0",
        *_io_region("PCST", _PCIHP_IO_BASE, 0x08, ("PCIU", 32), ("PCID", 32)),
        *_io_region("SEJ", _PCIHP_IO_BASE + 0x08, 0x04, ("B0EJ", 32)),
        *_io_region("BNMR", _PCIHP_IO_BASE + 0x10, 0x08, ("BNUM", 32), ("PIDX", 32)),
        aml.mutex(blck, 0),
        pcej,
        aidx,
        _pdsm(label_only_with_index),
    )


def _resource_device(name_: str, uid: str, base: int, length: int) -> bytes:
    """A PNP0A06 container that only reserves an I/O range (``build_dsdt``'s GPE0, pcihp's PHPR)."""
    return aml.device(
        name_,
        aml.name("_HID", aml.string("PNP0A06")),
        aml.name("_UID", aml.string(uid)),
        aml.name("_STA", aml.integer(0x0B)),
        aml.name("_CRS", aml.resource_template(aml.io(aml.DECODE16, base, base, 1, length))),
    )


def crs_scope(below_4g_mem_size: int, hole64_start: int, hole64_size: int, acpi_pci_hotplug: bool) -> bytes:
    """``\\_SB.PCI0._CRS`` and the GPE0 (and PHPR) resource devices (``build_dsdt``).

    The windows: bus numbers 0-255; the config ports; I/O below and above them; the VGA hole; the
    32-bit PCI hole from the end of low RAM to the I/O APIC, without the MMCONFIG window; the 64-bit
    window from the lowest 64-bit BAR, ``pci-hole64-size`` long rounded up to 1 GiB
    (``q35_host_get_pci_hole64_start``/``_end``)."""
    general = aml.POS_DECODE | aml.MIN_FIXED | aml.MAX_FIXED
    hole64_end = -(-(hole64_start + hole64_size) // _GIB) * _GIB
    windows = [
        aml.word_bus_number(general, 0, 0, 0xFF, 0, 0x100),
        aml.io(aml.DECODE16, 0x0CF8, 0x0CF8, 0x01, 0x08),
        aml.word_io(general, aml.ENTIRE_RANGE, 0, 0x0000, 0x0CF7, 0, 0x0CF8),
        aml.word_io(general, aml.ENTIRE_RANGE, 0, 0x0D00, 0xFFFF, 0, 0xF300),
        _dword_window(aml.CACHEABLE, 0x000A0000, 0x000BFFFF),
    ]
    mcfg_end = TDVF_MCFG_BASE + TDVF_MCFG_SIZE
    for first, end in ((below_4g_mem_size, TDVF_MCFG_BASE), (mcfg_end, _PCI_HOLE_END)):
        if first < end:
            windows.append(_dword_window(aml.NON_CACHEABLE, first, end - 1))
    windows.append(
        aml.memory_range(
            64,
            general,
            aml.CACHEABLE,
            aml.READ_WRITE,
            0,
            hole64_start,
            hole64_end - 1,
            0,
            hole64_end - hole64_start,
        )
    )
    devices = [_resource_device("GPE0", "GPE0 resources", TDVF_PMBASE + _GPE0_OFFSET, _GPE0_LEN)]
    if acpi_pci_hotplug:
        devices.append(_resource_device("PHPR", "PCI Hotplug resources", _PCIHP_IO_BASE, _PCIHP_IO_LEN))
    return aml.scope("\\_SB.PCI0", aml.name("_CRS", aml.resource_template(*windows)), *devices)


@functools.lru_cache(maxsize=1)
def sleep_states_scope() -> bytes:
    """``\\_S3``, ``\\_S4``, ``\\_S5`` (``build_dsdt``; ICH9's S3/S4 enabled by default)."""

    def state(value: int) -> bytes:
        v = aml.integer(value)
        return aml.package(v, v, aml.integer(0), aml.integer(0))

    return aml.scope("\\", aml.name("_S3", state(1)), aml.name("_S4", state(2)), aml.name("_S5", state(0)))


@functools.lru_cache(maxsize=1)
def fw_cfg_scope() -> bytes:
    """``\\_SB.PCI0.FWCF``: QEMU's fw_cfg I/O ports (``hw/i386/fw_cfg.c`` ``fw_cfg_add_acpi_dsdt``)."""
    fwcf = aml.device(
        "FWCF",
        aml.name("_HID", aml.string("QEMU0002")),
        aml.name("_STA", aml.integer(0x0B)),
        aml.name(
            "_CRS",
            aml.resource_template(aml.io(aml.DECODE16, _FW_CFG_IO_BASE, _FW_CFG_IO_BASE, 1, _FW_CFG_IO_LEN)),
        ),
    )
    return aml.scope("\\_SB.PCI0", fwcf)


def _isa_device(name_: str, hid: str, *resources: bytes, uid: int | None = None, sta: bool = True) -> bytes:
    parts = [aml.name("_HID", aml.eisaid(hid))]
    if uid is not None:
        parts.append(aml.name("_UID", aml.integer(uid)))
    if sta:
        parts.append(aml.name("_STA", aml.integer(0x0F)))
    parts.append(aml.name("_CRS", aml.resource_template(*resources)))
    return aml.device(name_, *parts)


def _lpc_body(serial: bool, serial_irq_level_low_shared: bool) -> tuple[bytes, ...]:
    """What the ICH9 LPC bridge adds to its S<devfn> device (``build_ich9_isa_aml`` and the ISA
    devices' ``build_aml`` in ISA bus order: i8042 keyboard and mouse, COM1, the RTC); COM1's
    interrupt as ``serial_irq_level_low_shared`` says (:class:`~.versions.QemuAcpiProfile`)."""
    pirq = [aml.named_field(f"PRQ{c}", 8) for c in "ABCD"]
    pirq += [aml.reserved_field(32)]
    pirq += [aml.named_field(f"PRQ{c}", 8) for c in "EFGH"]
    parts = [
        aml.operation_region("PIRQ", aml.PCI_CONFIG, 0x60, 0x0C),
        aml.scope("\\_SB", aml.field("PCI0.SF8.PIRQ", aml.BYTE_ACC, aml.NO_LOCK, aml.PRESERVE, *pirq)),
        _isa_device(
            "KBD",
            "PNP0303",
            aml.io(aml.DECODE16, 0x60, 0x60, 1, 1),
            aml.io(aml.DECODE16, 0x64, 0x64, 1, 1),
            aml.irq_no_flags(1),
        ),
        _isa_device("MOU", "PNP0F13", aml.irq_no_flags(12)),
    ]
    if serial:
        parts.append(
            _isa_device(
                "COM1",
                "PNP0501",
                aml.io(aml.DECODE16, 0x3F8, 0x3F8, 0, 8),
                aml.irq_level_low_shared(4) if serial_irq_level_low_shared else aml.irq_no_flags(4),
                uid=1,
            )
        )
    parts.append(
        _isa_device("RTC", "PNP0B00", aml.io(aml.DECODE16, 0x70, 0x70, 1, 8), aml.irq_no_flags(8), sta=False)
    )
    return tuple(parts)


def root_port_bsels(devices: tuple[PciFunction, ...]) -> dict[int, int]:
    """``{root port slot: BSEL}``: QEMU numbers the hot-pluggable buses depth first over each bus's
    child list, which holds the newest bridge first (``acpi_set_pci_info``, ``pci_for_each_bus``),
    so the last root port of the command line is bus selector 0."""
    ports = [dev.slot for dev in devices if dev.model == ROOT_PORT_MODEL]
    return {slot: len(ports) - 1 - i for i, slot in enumerate(ports)}


def _hotplug_slot_objects() -> tuple[bytes, ...]:
    """Slot 0 of a hot-pluggable bus (``build_append_pci_bus_devices``, ``build_append_pcihp_slots``):
    its acpi-index _DSM through PDSM, its slot number and its eject method."""
    local0 = _LOCAL[0]
    dsm = aml.method(
        "_DSM",
        4,
        aml.store(aml.package(aml.integer(0), aml.integer(0)), local0),
        aml.store(aml.ref("BSEL"), aml.index(local0, aml.integer(0))),
        aml.store(aml.ref("ASUN"), aml.index(local0, aml.integer(1))),
        aml.return_(aml.call("PDSM", *_ARG[:4], local0)),
        serialized=True,
    )
    return (
        aml.name("ASUN", aml.integer(0)),
        dsm,
        aml.name("_SUN", aml.integer(0)),
        aml.method("_EJ0", 1, aml.call("PCEJ", aml.ref("BSEL"), aml.ref("_SUN"))),
    )


def _root_port_body(bsel: int | None, occupied: bool) -> list[bytes]:
    """What a root port's device holds besides _ADR: its slot 0, and with ACPI PCI hotplug (a bus
    selector) the slot's hotplug objects and DVNT, which notifies slot 0 of an event."""
    endpoint = aml.name("_ADR", aml.integer(0))
    if bsel is None:
        return [aml.device("S00", endpoint)] if occupied else []
    selector = aml.name("BSEL", aml.integer(bsel))
    if occupied:
        body = [aml.device("S00", endpoint), selector, aml.scope("S00", *_hotplug_slot_objects())]
    else:
        body = [selector, aml.device("S00", endpoint, *_hotplug_slot_objects())]
    dvnt = aml.method(
        "DVNT",
        2,
        aml.if_(aml.and_(_ARG[0], aml.integer(1)), aml.notify(aml.ref("S00"), _ARG[1])),
    )
    return [*body, dvnt]


@functools.lru_cache(maxsize=64)
def pci_devices_scope(
    devices: tuple[PciFunction, ...],
    serial: bool,
    acpi_pci_hotplug: bool,
    serial_irq_level_low_shared: bool = False,
) -> bytes:
    """``\\_SB.PCI0.S<devfn>``: one device per function present on ``pcie.0`` in devfn order, the host
    bridge and the ICH9 functions included (``build_append_pci_bus_devices``; the root bus of q35 is
    not hot-pluggable, so its objects carry _ADR, the LPC bridge its ISA devices, and a root port
    its own slot, hot-pluggable with ACPI PCI hotplug)."""
    on_root_bus = [dev for dev in devices if dev.root_port is None]
    devfns = {0, *_ICH9_FUNCTIONS, *((dev.slot << 3) | dev.function for dev in on_root_bus)}
    ports = {dev.slot for dev in on_root_bus if dev.model == ROOT_PORT_MODEL}
    occupied = {dev.root_port for dev in devices if dev.root_port is not None}
    bsels = root_port_bsels(devices) if acpi_pci_hotplug else {}
    objects = []
    for devfn in sorted(devfns):
        body = [aml.name("_ADR", aml.integer((devfn >> 3) << 16 | (devfn & 7)))]
        if devfn == _LPC_DEVFN:
            body += _lpc_body(serial, serial_irq_level_low_shared)
        elif devfn & 7 == 0 and devfn >> 3 in ports:
            body += _root_port_body(bsels.get(devfn >> 3), devfn >> 3 in occupied)
        objects.append(aml.device(f"S{devfn:02X}", *body))
    return aml.scope("\\_SB", aml.scope("PCI0", *objects))


def hotplug_notify_scope(bsels: dict[int, int]) -> bytes:
    """``\\_SB.PCI0.PCNT`` and each hot-pluggable bus's PCNT, in bus selector order: select the bus
    (BNUM) and notify its slots of the device-check (PCIU) and eject (PCID) requests
    (``build_dsdt``, ``build_append_pci_bus_devices``). Empty without root ports."""
    if not bsels:
        return b""
    order = sorted(bsels, key=bsels.__getitem__)
    buses = [
        aml.scope(
            f"S{slot << 3:02X}",
            aml.method(
                "PCNT",
                0,
                aml.store(aml.integer(bsels[slot]), aml.ref("BNUM")),
                aml.call("DVNT", aml.ref("PCIU"), aml.integer(1)),
                aml.call("DVNT", aml.ref("PCID"), aml.integer(3)),
            ),
        )
        for slot in order
    ]
    pcnt = aml.method("PCNT", 0, *(aml.call(f"^S{slot << 3:02X}.PCNT") for slot in order))
    return aml.scope("\\_SB.PCI0", *buses, pcnt)


def gpe_e01_scope(any_hotplug_bus: bool) -> bytes:
    """``_GPE._E01``, the PCI hotplug event: PCNT under the hotplug lock when a bus is hot-pluggable
    (a root port), else empty (``build_dsdt``)."""
    body: list[bytes] = []
    if any_hotplug_bus:
        lock = "\\_SB.PCI0.BLCK"
        body = [aml.acquire(lock, 0xFFFF), aml.call("\\_SB.PCI0.PCNT"), aml.release(lock)]
    return aml.scope("_GPE", aml.method("_E01", 0, *body))
