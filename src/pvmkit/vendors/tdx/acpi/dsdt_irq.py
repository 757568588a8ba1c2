"""The DSDT's PCI interrupt routing for QEMU's q35 machine: ``_PIC``, PCI0's ``_PRT`` (one table for
PIC mode through the ICH9 PIRQ links, one for APIC mode through fixed GSIs), the LNKA-LNKH link
devices and the GSIA-GSIH fixed-GSI devices.

QEMU sources: ``hw/i386/acpi-build.c`` ``build_dsdt`` (``_PIC``, ``PICF``),
``build_q35_pci0_int`` (PRTP/PRTA/_PRT, IQST, IQCR, the link devices), ``build_q35_routing_table``
(which link each slot's INTA-INTD reach), ``build_link_dev`` and ``build_gsi_link_dev``; the ICH9
PIRQ routing registers at LPC config 0x60-0x63 and 0x68-0x6B (Intel ICH9 datasheet,
LPC configuration registers ``PIRQ[A-D]_ROUT``, ``PIRQ[E-H]_ROUT``).
"""

from __future__ import annotations

import functools

from pvmkit.vendors.tdx.acpi import aml

_ARG = aml.ARGS
_LINK_IRQS = (5, 10, 11)  # build_link_dev: the ISA IRQs a PIRQ link may take
_FIRST_PIRQ_GSI = 0x10  # ICH9 PIRQA-H are wired to I/O APIC inputs 16-23
_SLOTS = 32


def pic_method() -> bytes:
    """``PICF`` and ``\\_PIC``: the OS reports PIC (0) or APIC (1) mode; _PRT follows it."""
    return aml.name("PICF", aml.integer(0)) + aml.method("_PIC", 1, aml.store(_ARG[0], aml.ref("PICF")))


def _link_letter(slot: int, pin: int) -> str:
    """``build_q35_routing_table``: slots 0x19-0x1D and 0x1F (ICH9 functions) reach PIRQA-D by pin;
    the PCIe-PCI bridge slot 0x1E PIRQE-H by pin; every other slot PIRQE-H rotated by the slot."""
    if 0x19 <= slot <= 0x1D or slot == 0x1F:
        return "ABCD"[pin]
    if slot == 0x1E:
        return "EFGH"[pin]
    return "EFGH"[(slot + pin) % 4]


def _routing_table(prefix: str) -> bytes:
    entries = [
        aml.package(
            aml.integer(slot << 16 | 0xFFFF),
            aml.integer(pin),
            aml.ref(prefix + _link_letter(slot, pin)),
            aml.integer(0),
        )
        for slot in range(_SLOTS)
        for pin in range(4)
    ]
    return aml.package(*entries)


def _link_interrupt(trigger: int, *irqs: int) -> bytes:
    return aml.resource_template(aml.interrupt(aml.CONSUMER, trigger, aml.ACTIVE_HIGH, aml.SHARED, *irqs))


def _link_device(letter: str, uid: int, trigger: int) -> bytes:
    """LNKx (``build_link_dev``): a PIRQ link whose IRQ lives in the LPC's PRQx register."""
    reg = aml.ref("PRQ" + letter)
    return aml.device(
        "LNK" + letter,
        aml.name("_HID", aml.eisaid("PNP0C0F")),
        aml.name("_UID", aml.integer(uid)),
        aml.name("_PRS", _link_interrupt(trigger, *_LINK_IRQS)),
        aml.method("_STA", 0, aml.return_(aml.call("IQST", reg))),
        aml.method("_DIS", 0, aml.or_(reg, aml.integer(0x80), reg)),
        aml.method("_CRS", 0, aml.return_(aml.call("IQCR", reg))),
        aml.method(
            "_SRS",
            1,
            aml.create_dword_field(_ARG[0], aml.integer(5), "PRRI"),
            aml.store(aml.ref("PRRI"), reg),
        ),
    )


def _gsi_device(letter: str, gsi: int, trigger: int) -> bytes:
    """GSIx (``build_gsi_link_dev``): a link fixed to one I/O APIC input."""
    irq = _link_interrupt(trigger, gsi)
    return aml.device(
        "GSI" + letter,
        aml.name("_HID", aml.eisaid("PNP0C0F")),
        aml.name("_UID", aml.integer(gsi)),
        aml.name("_PRS", irq),
        aml.name("_CRS", irq),
        aml.method("_DIS", 0),
        aml.method("_SRS", 1),
    )


@functools.lru_cache(maxsize=2)
def interrupt_routing_scope(edge_triggered: bool = False) -> bytes:
    """``\\_SB``'s routing objects (``build_q35_pci0_int``): a function of nothing in the machine but
    the QEMU version: the pre-upstream TDX series describes the link interrupts edge-triggered
    (:mod:`pvmkit.vendors.tdx.acpi.versions`, ``edge_triggered_interrupts``)."""
    trigger = aml.EDGE if edge_triggered else aml.LEVEL
    prt = aml.method(
        "_PRT",
        0,
        aml.if_(aml.lequal(aml.ref("PICF"), aml.integer(0)), aml.return_(aml.ref("PRTP"))),
        aml.else_(aml.return_(aml.ref("PRTA"))),
    )
    pci0 = aml.scope(
        "PCI0", aml.name("PRTP", _routing_table("LNK")), aml.name("PRTA", _routing_table("GSI")), prt
    )
    iqst = aml.method(
        "IQST",
        1,
        aml.if_(aml.and_(aml.integer(0x80), _ARG[0]), aml.return_(aml.integer(0x09))),
        aml.return_(aml.integer(0x0B)),
    )
    iqcr = aml.method(
        "IQCR",
        1,
        aml.name("PRR0", _link_interrupt(trigger, 0)),
        aml.create_dword_field(aml.ref("PRR0"), aml.integer(5), "PRRI"),
        aml.store(aml.and_(_ARG[0], aml.integer(0x0F)), aml.ref("PRRI")),
        aml.return_(aml.ref("PRR0")),
        serialized=True,
    )
    links = [_link_device(letter, uid, trigger) for uid, letter in enumerate("ABCDEFGH")]
    gsis = [_gsi_device(letter, _FIRST_PIRQ_GSI + i, trigger) for i, letter in enumerate("ABCDEFGH")]
    return aml.scope("_SB", pci0, iqst, iqcr, *links, *gsis)


def gpe_block_scope() -> bytes:
    """``_GPE._HID`` "ACPI0006" (``build_dsdt``: the GPE block device)."""
    return aml.scope("_GPE", aml.name("_HID", aml.string("ACPI0006")))
