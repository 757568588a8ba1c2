"""The ACPI tables of QEMU's q35 TDX guest besides the DSDT: FACS, FACP (FADT), APIC (MADT), MCFG,
WAET and RSDT, as QEMU 10.0 builds them (``hw/i386/acpi-build.c`` ``acpi_build``).

Every table is returned as QEMU places it in ``etc/acpi/tables``: checksum bytes zero and pointer
fields holding the target's offset in the blob. The firmware's loader fills both in
(:mod:`.loader`); the bytes measured into RTMR0 are these. Field layouts: ACPI 6.5 chapter 5.2.
"""

from __future__ import annotations

import struct

from pvmkit.vendors.tdx.acpi.machine import TDVF_MCFG_BASE, TDVF_MCFG_SIZE, TDVF_PMBASE, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.versions import acpi_profile

__all__ = [
    "FADT_DSDT_POINTERS",
    "FADT_FACS_POINTER",
    "SDT_HEADER_SIZE",
    "X2APIC_FROM",
    "build_facs",
    "build_fadt",
    "build_madt",
    "build_mcfg",
    "build_rsdt",
    "build_waet",
    "madt_cpu_entry",
    "sdt_header",
]

SDT_HEADER_SIZE = 36
# QEMU's identification of its tables (include/hw/acpi/aml-build.h ACPI_BUILD_APPNAME6 / _APPNAME8,
# hw/acpi/aml-build.c acpi_table_begin: creator "BXPC", creator revision 1, OEM revision 1).
OEM_ID = b"BOCHS "
OEM_TABLE_ID = b"BXPC    "
_CREATOR_ID = b"BXPC"

#: (offset, size) of the FADT's FIRMWARE_CTRL, pointing at the FACS (ACPI 6.5 table 5.9).
FADT_FACS_POINTER = (36, 4)
#: (offset, size) of the FADT's DSDT and X_DSDT fields, both pointing at the DSDT.
FADT_DSDT_POINTERS = ((40, 4), (140, 8))

# ICH9 ACPI PM register blocks at PMBASE (QEMU include/hw/acpi/ich9.h; hw/acpi/ich9.c
# ich9_pm_init: PM1 event at +0, PM1 control at +4, PM timer at +8, GPE0 at +0x20, 16 bytes).
_PM1_EVT, _PM1_CNT, _PM_TMR, _GPE0 = TDVF_PMBASE, TDVF_PMBASE + 4, TDVF_PMBASE + 8, TDVF_PMBASE + 0x20
_PM1_EVT_LEN, _PM1_CNT_LEN, _PM_TMR_LEN, _GPE0_LEN = 4, 2, 4, 16
_SCI_INT = 9  # ICH9 SCI (hw/acpi/ich9.c, ICH9_SCI_IRQ)
_RTC_CENTURY = 0x32  # MC146818 century register (hw/rtc/mc146818rtc.c RTC_CENTURY)
_IAPC_BOOT_ARCH_8042 = 0x0002  # q35 has an i8042 (hw/acpi/aml-build.c iapc_boot_arch_8042)
# FADT flags QEMU sets for q35 (hw/i386/acpi-build.c acpi_get_pm_info + build_fadt; ACPI 6.5
# table 5.10): WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP, USE_PLATFORM_CLOCK.
_FADT_FLAGS = (1 << 0) | (1 << 2) | (1 << 5) | (1 << 7) | (1 << 10) | (1 << 15)
# FORCE_APIC_CLUSTER_MODEL, set by QEMU (init_common_fadt_data) once max_cpus (the possible vCPUs,
# hot-pluggable ones included) exceeds 8: flat logical APIC destination mode addresses at most 8 CPUs.
_FADT_FORCE_APIC_CLUSTER_MODEL = 1 << 18
_FLAT_LOGICAL_MAX_CPUS = 8
_RESET_PORT, _RESET_VALUE = 0xCF9, 0x0F  # ICH9 reset control register (hw/isa/lpc_ich9.c)
_P_LVL_LAT_NONE = 0x0FFF  # > 100 / > 1000 us: C2/C3 not supported
_GAS_IO = 1  # Generic Address Structure address space: system I/O

# MADT (hw/i386/acpi-common.c acpi_build_madt, pc_madt_cpu_entry)
_LOCAL_APIC_ADDRESS = 0xFEE00000  # APIC_DEFAULT_ADDRESS
_IO_APIC_ADDRESS = 0xFEC00000  # IO_APIC_DEFAULT_ADDRESS
_PCI_IRQS = (5, 9, 10, 11)  # pc machines' pci_irq_mask (hw/i386/acpi-build.h ACPI_BUILD_PCI_IRQS)
_ISA_IRQS = 16
_ISO_BUS_CONFORMING, _ISO_LEVEL_HIGH, _ISO_EDGE_HIGH = 0x0, 0xD, 0x5  # MPS INTI flags


def sdt_header(signature: bytes, length: int, revision: int) -> bytes:
    """A system description table header with QEMU's identification and a zero checksum."""
    return struct.pack(
        "<4sIBB6s8sI4sI", signature, length, revision, 0, OEM_ID, OEM_TABLE_ID, 1, _CREATOR_ID, 1
    )


def _table(signature: bytes, revision: int, body: bytes) -> bytes:
    return sdt_header(signature, SDT_HEADER_SIZE + len(body), revision) + body


def build_facs() -> bytes:
    """FACS (hw/acpi/aml-build.c build_facs): signature and length, everything else zero."""
    return struct.pack("<4sI", b"FACS", 64) + bytes(56)


def _gas(bit_width: int, address: int) -> bytes:
    """Generic Address Structure in system I/O space, access size undefined (QEMU's PM blocks)."""
    return struct.pack("<BBBBQ", _GAS_IO, bit_width, 0, 0, address)


def build_fadt(machine: QemuTdxMachine, facs_offset: int, dsdt_offset: int) -> bytes:
    """FADT revision 3 (hw/acpi/aml-build.c build_fadt with q35's AcpiFadtData)."""
    flags = _FADT_FLAGS
    if machine.cpu_topology.maxcpus > _FLAT_LOGICAL_MAX_CPUS:
        flags |= _FADT_FORCE_APIC_CLUSTER_MODEL
    body = struct.pack(
        "<IIBBHIBBBB",
        facs_offset,  # FIRMWARE_CTRL (patched by the loader)
        dsdt_offset,  # DSDT (patched by the loader)
        1,  # reserved (formerly INT_MODEL): QEMU writes 1
        0,  # Preferred_PM_Profile: unspecified
        _SCI_INT,
        0,  # SMI_CMD: no SMM port (smm=off)
        0,  # ACPI_ENABLE
        0,  # ACPI_DISABLE
        0,  # S4BIOS_REQ
        0,  # PSTATE_CNT
    )
    body += struct.pack("<IIIIIIII", _PM1_EVT, 0, _PM1_CNT, 0, 0, _PM_TMR, _GPE0, 0)
    body += struct.pack("<BBBBBBBB", _PM1_EVT_LEN, _PM1_CNT_LEN, 0, _PM_TMR_LEN, _GPE0_LEN, 0, 0, 0)
    body += struct.pack("<HHHHBBBBBHB", _P_LVL_LAT_NONE, _P_LVL_LAT_NONE, 0, 0, 0, 0, 0, 0, _RTC_CENTURY,
                        _IAPC_BOOT_ARCH_8042, 0)  # fmt: skip
    body += struct.pack("<I", flags)
    body += _gas(8, _RESET_PORT) + struct.pack("<BHB", _RESET_VALUE, 0, 0)  # + ARM_BOOT_ARCH, minor 0
    body += struct.pack("<QQ", 0, dsdt_offset)  # X_FIRMWARE_CTRL (unused), X_DSDT (patched)
    body += _gas(_PM1_EVT_LEN * 8, _PM1_EVT) + bytes(12)  # X_PM1a_EVT_BLK, X_PM1b_EVT_BLK
    body += _gas(_PM1_CNT_LEN * 8, _PM1_CNT) + bytes(12) + bytes(12)  # X_PM1a/b_CNT, X_PM2_CNT
    body += _gas(_PM_TMR_LEN * 8, _PM_TMR)  # X_PM_TMR_BLK
    body += _gas(_GPE0_LEN * 8, _GPE0) + bytes(12)  # X_GPE0_BLK, X_GPE1_BLK
    return _table(b"FACP", 3, body)


#: APIC IDs from 255 need x2APIC: the MADT entry and the DSDT's processor object change form.
X2APIC_FROM = 255


def madt_cpu_entry(uid: int, apic_id: int, enabled: bool) -> bytes:
    """The MADT entry of possible vCPU ``uid`` (``hw/i386/acpi-common.c`` ``pc_madt_cpu_entry``):
    Processor Local APIC (ACPI 6.5 §5.2.12.2) below APIC ID 255, else Processor Local x2APIC
    (§5.2.12.12); flags bit 0 (Enabled) for a present vCPU, 0 for a hot-pluggable one."""
    if apic_id < X2APIC_FROM:
        return struct.pack("<BBBBI", 0, 8, uid, apic_id, int(enabled))
    return struct.pack("<BBHIII", 9, 16, 0, apic_id, int(enabled), uid)


def build_madt(machine: QemuTdxMachine) -> bytes:
    """MADT (hw/i386/acpi-common.c acpi_build_madt), revision 3; PCAT_COMPAT follows ``pic`` (from
    QEMU 9.1; always set before, versions.QemuAcpiProfile.madt_pcat_compat_always)."""
    profile = acpi_profile(machine.qemu_version)
    pcat_compat = machine.pic or profile.madt_pcat_compat_always
    entries = bytearray(struct.pack("<II", _LOCAL_APIC_ADDRESS, 1 if pcat_compat else 0))
    topology = machine.cpu_topology
    # every possible vCPU, the hot-pluggable ones disabled (acpi_build_madt: omitting them would
    # break hotplug on Linux)
    for uid, apic_id in enumerate(topology.apic_ids):
        entries += madt_cpu_entry(uid, apic_id, enabled=uid < topology.cpus)
    x2apic = max(topology.apic_ids) >= X2APIC_FROM
    entries += struct.pack("<BBBBII", 1, 12, 0, 0, _IO_APIC_ADDRESS, 0)  # I/O APIC 0, GSI base 0
    if profile.edge_triggered_interrupts:
        # the pre-upstream TDX series (versions.QemuAcpiProfile.edge_triggered_interrupts): every ISA
        # IRQ overridden, active high, edge triggered
        overrides = [(irq, 2 if irq == 0 else irq, _ISO_EDGE_HIGH) for irq in range(_ISA_IRQS)]
    else:
        overrides = [(0, 2, _ISO_BUS_CONFORMING)] + [(irq, irq, _ISO_LEVEL_HIGH) for irq in _PCI_IRQS]
    for irq, gsi, flags in overrides:
        entries += struct.pack("<BBBBIH", 2, 10, 0, irq, gsi, flags)  # Interrupt Source Override
    if x2apic:
        entries += struct.pack("<BBHIB3x", 0xA, 12, 0, 0xFFFFFFFF, 1)  # Local x2APIC NMI, LINT1
    else:
        entries += struct.pack("<BBBHB", 4, 6, 0xFF, 0, 1)  # Local APIC NMI, all CPUs, LINT1
    return _table(b"APIC", 3, bytes(entries))


def build_mcfg() -> bytes:
    """MCFG (hw/acpi/pci.c build_mcfg): one segment, buses 0..(size / 1 MiB - 1)."""
    last_bus = TDVF_MCFG_SIZE // (1 << 20) - 1
    body = bytes(8) + struct.pack("<QHBB4x", TDVF_MCFG_BASE, 0, 0, last_bus)
    return _table(b"MCFG", 1, body)


def build_waet() -> bytes:
    """WAET (hw/i386/acpi-build.c build_waet): "ACPI PM timer good" (one read suffices)."""
    return _table(b"WAET", 1, struct.pack("<I", 1 << 1))


def build_rsdt(table_offsets: list[int]) -> bytes:
    """RSDT (hw/acpi/aml-build.c build_rsdt): one 32-bit entry per table (patched by the loader)."""
    return _table(b"RSDT", 1, struct.pack(f"<{len(table_offsets)}I", *table_offsets))
