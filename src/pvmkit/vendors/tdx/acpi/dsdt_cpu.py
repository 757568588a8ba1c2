"""The DSDT's CPU hotplug AML for QEMU's q35 machine: the register block ``\\_SB.PCI0.PRES``, the
processor container ``\\_SB.CPUS`` with its methods and one processor object per possible vCPU, and
the ``\\_GPE._E02`` event that scans it.

QEMU sources: ``hw/acpi/cpu.c`` ``build_cpus_aml`` (the register layout, CTFY/CSTA/CEJ0/CSCN/COST,
the processor objects: ``Processor`` for APIC IDs below 255, an ACPI0007 ``Device`` from 255), the
MADT entries the objects' ``_MAT`` return (``hw/i386/acpi-common.c`` ``pc_madt_cpu_entry``: Processor
Local APIC, ACPI 6.5 §5.2.12.2, or Processor Local x2APIC, §5.2.12.12), ``hw/i386/acpi-build.c``
``build_dsdt`` (the _E02 method), ``include/hw/acpi/pc-hotplug.h`` (the I/O base 0x0CD8,
``ICH9_CPU_HOTPLUG_IO_BASE``). There is one processor object per possible vCPU (``maxcpus`` of
them, numbered by topology index, :mod:`.topology`), whether present or hot-pluggable; its ``_MAT``
entry carries the vCPU's APIC ID and is always marked enabled (``build_cpus_aml`` passes
``force_enabled``), unlike the MADT's entry of an absent vCPU.
"""

from __future__ import annotations

import functools

from pvmkit.vendors.tdx.acpi import aml
from pvmkit.vendors.tdx.acpi.tables import X2APIC_FROM, madt_cpu_entry

_ARG = aml.ARGS
_L = aml.LOCALS
_IO_BASE, _IO_LEN = 0x0CD8, 0x0C  # ICH9_CPU_HOTPLUG_IO_BASE, ACPI_CPU_HOTPLUG_REG_LEN
_PRES = "\\_SB.PCI0.PRES"
_LOCK = _PRES + ".CPLK"
_EVENTS_MAX = 0xFF  # CSCN handles at most 255 insert and 255 remove events per pass


def _reg(field: str) -> bytes:
    return aml.ref(f"{_PRES}.{field}")


def cpu_name(index: int) -> str:
    return f"C{index:03X}"


def _registers(ini: bool) -> bytes:
    """``\\_SB.PCI0.PRES``: the CPU hotplug register block (QEMU ``docs/specs/acpi_cpu_hotplug.rst``),
    with the ``_INI`` method that zeroes the selector where ``ini`` (QEMU 10.x and older)."""
    flags = [
        aml.reserved_field(32),
        *(aml.named_field(n, 1) for n in ("CPEN", "CINS", "CRMV", "CEJ0", "CEJF")),
        aml.reserved_field(3),
        aml.named_field("CCMD", 8),
    ]
    selector = [aml.named_field("CSEL", 32), aml.reserved_field(32), aml.named_field("CDAT", 32)]
    init = [aml.method("_INI", 0, aml.store(aml.integer(0), aml.ref("CSEL")), serialized=True)] if ini else []
    return aml.device(
        _PRES,
        aml.name("_HID", aml.eisaid("PNP0A06")),
        aml.name("_UID", aml.string("CPU Hotplug resources")),
        aml.mutex("CPLK", 0),
        aml.name("_CRS", aml.resource_template(aml.io(aml.DECODE16, _IO_BASE, _IO_BASE, 1, _IO_LEN))),
        aml.operation_region("PRST", aml.SYSTEM_IO, _IO_BASE, _IO_LEN),
        aml.field("PRST", aml.BYTE_ACC, aml.NO_LOCK, aml.WRITE_AS_ZEROS, *flags),
        aml.field("PRST", aml.DWORD_ACC, aml.NO_LOCK, aml.PRESERVE, *selector),
        *init,
    )


def _locked(*body: bytes) -> tuple[bytes, ...]:
    return (aml.acquire(_LOCK, 0xFFFF), *body, aml.release(_LOCK))


def _common_methods(possible: int, queued_eject: bool) -> tuple[bytes, ...]:
    """CSTA, CEJ0, CSCN and COST of ``\\_SB.CPUS`` (``build_cpus_aml``); CTFY is built per vCPU."""
    one, zero = aml.integer(1), aml.integer(0)
    csta = aml.method(
        "CSTA",
        1,
        *_locked(
            aml.store(_ARG[0], _reg("CSEL")),
            aml.store(zero, _L[0]),
            aml.if_(aml.lequal(_reg("CPEN"), one), aml.store(aml.integer(0x0F), _L[0])),
        ),
        aml.return_(_L[0]),
        serialized=True,
    )
    cej0 = aml.method(
        "CEJ0", 1, *_locked(aml.store(_ARG[0], _reg("CSEL")), aml.store(one, _reg("CEJ0"))), serialized=True
    )
    cost = aml.method(
        "COST",
        4,
        *_locked(
            aml.store(_ARG[0], _reg("CSEL")),
            aml.store(one, _reg("CCMD")),
            aml.store(_ARG[1], _reg("CDAT")),
            aml.store(aml.integer(2), _reg("CCMD")),
            aml.store(_ARG[2], _reg("CDAT")),
        ),
        serialized=True,
    )
    return csta, cej0, _cscn(possible, queued_eject), cost


def _cscn(possible: int, queued_eject: bool) -> bytes:
    """CSCN: scan the CPUs for insert and remove events and notify them. With ``queued_eject``
    (QEMU 10.0, upstream 8aa35bebeeae) remove events are collected in CEJL (count in Local5) and
    notified after the inserted CPUs; before, each was notified at once in an Else of the insert
    check (:mod:`pvmkit.vendors.tdx.acpi.versions`).

    Locals: 0 more events this pass, 1 inserted count, 2 notify cursor, 3 the CPU cursor, 4 scan
    again (a list overflowed), 5 removed count."""
    one, zero = aml.integer(1), aml.integer(0)
    full = aml.lequal(_L[1], aml.integer(_EVENTS_MAX))
    if queued_eject:
        full = aml.lor(full, aml.lequal(_L[5], aml.integer(_EVENTS_MAX)))
    inserted = aml.if_(
        aml.lequal(_reg("CINS"), one),
        aml.store(_L[3], aml.index(aml.ref("CNEW"), _L[1])),
        aml.increment(_L[1]),
        aml.store(one, _L[0]),
    )
    if queued_eject:
        removed = aml.if_(
            aml.lequal(_reg("CRMV"), one),
            aml.store(_L[3], aml.index(aml.ref("CEJL"), _L[5])),
            aml.increment(_L[5]),
            aml.store(one, _L[0]),
        )
    else:
        removed = aml.else_(
            aml.if_(
                aml.lequal(_reg("CRMV"), one),
                aml.call("CTFY", _L[3], aml.integer(3)),
                aml.store(one, _reg("CRMV")),
                aml.store(one, _L[0]),
            )
        )
    scan = aml.while_(
        aml.land(aml.lequal(_L[0], one), aml.lless(_L[3], aml.integer(possible))),
        aml.store(zero, _L[0]),
        aml.store(_L[3], _reg("CSEL")),
        aml.store(zero, _reg("CCMD")),
        aml.if_(aml.lless(_reg("CDAT"), _L[3]), aml.BREAK),
        aml.if_(full, aml.store(one, _L[4]), aml.BREAK),
        aml.store(_reg("CDAT"), _L[3]),
        inserted,
        removed,
        aml.increment(_L[3]),
    )
    notify = [
        aml.store(zero, _L[2]),
        aml.while_(
            aml.lless(_L[2], _L[1]),
            aml.store(aml.deref_of(aml.index(aml.ref("CNEW"), _L[2])), _L[3]),
            aml.call("CTFY", _L[3], one),
            aml.store(_L[3], aml.DEBUG),
            aml.store(_L[3], _reg("CSEL")),
            aml.store(one, _reg("CINS")),
            aml.increment(_L[2]),
        ),
    ]
    lists = [aml.name("CNEW", aml.package(count=_EVENTS_MAX))]
    restart = [aml.store(zero, _L[4]), aml.store(one, _L[0]), aml.store(zero, _L[1])]
    if queued_eject:
        lists.append(aml.name("CEJL", aml.package(count=_EVENTS_MAX)))
        restart.append(aml.store(zero, _L[5]))
        notify += [
            aml.store(zero, _L[2]),
            aml.while_(
                aml.lless(_L[2], _L[5]),
                aml.store(aml.deref_of(aml.index(aml.ref("CEJL"), _L[2])), _L[3]),
                aml.call("CTFY", _L[3], aml.integer(3)),
                aml.store(_L[3], _reg("CSEL")),
                aml.store(one, _reg("CRMV")),
                aml.increment(_L[2]),
            ),
        ]
    return aml.method(
        "CSCN",
        0,
        aml.acquire(_LOCK, 0xFFFF),
        *lists,
        aml.store(zero, _L[3]),
        aml.store(one, _L[4]),
        aml.while_(aml.lequal(_L[4], one), *restart, scan, *notify),
        aml.release(_LOCK),
        serialized=True,
    )


@functools.lru_cache(maxsize=4096)
def _cpu_object(index: int, apic_id: int) -> bytes:
    """The processor object of possible vCPU ``index``: ``Processor`` below APIC ID 255, else an
    ACPI0007 device (``build_cpus_aml``)."""
    idx = aml.integer(index)
    body = [
        aml.method("_STA", 0, aml.return_(aml.call("CSTA", idx)), serialized=True),
        aml.name("_MAT", aml.buffer(madt_cpu_entry(index, apic_id, enabled=True))),
    ]
    if index != 0:  # the boot CPU cannot be ejected
        body.append(aml.method("_EJ0", 1, aml.call("CEJ0", idx)))
    body.append(aml.method("_OST", 3, aml.call("COST", idx, _ARG[0], _ARG[1], _ARG[2]), serialized=True))
    if apic_id < X2APIC_FROM:
        return aml.processor(cpu_name(index), index, *body)
    uid = [aml.name("_HID", aml.string("ACPI0007")), aml.name("_UID", idx)]
    return aml.device(cpu_name(index), *uid, *body)


@functools.lru_cache(maxsize=4096)
def _notify_case(index: int) -> bytes:
    return aml.if_(aml.lequal(_ARG[0], aml.integer(index)), aml.notify(aml.ref(cpu_name(index)), _ARG[1]))


@functools.lru_cache(maxsize=8)
def cpu_hotplug_scope(apic_ids: tuple[int, ...], queued_eject: bool = True, ini: bool = True) -> bytes:
    """``\\_SB``'s CPU hotplug objects for the possible vCPUs with these APIC IDs (by index, present
    or not: :attr:`.topology.CpuTopology.apic_ids`); ``queued_eject`` selects CSCN's form
    (:func:`_cscn`), ``ini`` the register block's ``_INI`` (:func:`_registers`)."""
    possible = len(apic_ids)
    ctfy = aml.method("CTFY", 2, *(_notify_case(i) for i in range(possible)))
    cpus = aml.device(
        "\\_SB.CPUS",
        aml.name("_HID", aml.string("ACPI0010")),
        aml.name("_CID", aml.eisaid("PNP0A05")),
        ctfy,
        *_common_methods(possible, queued_eject),
        *(_cpu_object(i, apic_id) for i, apic_id in enumerate(apic_ids)),
    )
    return aml.scope("_SB", _registers(ini), cpus)


def cpu_scan_event() -> bytes:
    """``\\_GPE._E02``: the CPU hotplug GPE calls CSCN."""
    return aml.method("\\_GPE._E02", 0, aml.call("\\_SB.CPUS.CSCN"))
