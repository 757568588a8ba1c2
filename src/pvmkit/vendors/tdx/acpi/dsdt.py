"""The DSDT QEMU builds for a q35 TDX guest, as AML after the 36-byte table header.

``dsdt_body(machine)`` concatenates the parts in the order of QEMU 10.0's ``build_dsdt``
(``hw/i386/acpi-build.c``) for a q35 machine without HPET, NUMA, memory hotplug, TPM, IOMMU or PCI
expander bridges:

====================================  =============================================  =====================
part                                  depends on                                     module
====================================  =============================================  =====================
``\\`` DBG / DBUG                      nothing                                        :mod:`.dsdt_pci`
``\\_SB.PCI0`` (_OSC, EDSM), DRAC      ACPI PCI hotplug (the _OSC control mask)       :mod:`.dsdt_pci`
PCI hotplug registers and methods     ACPI PCI hotplug on                            :mod:`.dsdt_pci`
``_PIC``, ``_PRT``, LNKx, GSIx        nothing                                        :mod:`.dsdt_irq`
``_GPE._HID``                         nothing                                        :mod:`.dsdt_irq`
CPU hotplug (PRES, CPUS, Cxxx)        the vCPU count (x2APIC objects from 255)       :mod:`.dsdt_cpu`
``\\_GPE._E02``                        nothing                                        :mod:`.dsdt_cpu`
PCI0._CRS, GPE0, PHPR                 RAM below 4 GiB, pci-hole64-size, hotplug      :mod:`.dsdt_pci`
``\\_S3`` ``\\_S4`` ``\\_S5``            nothing                                        :mod:`.dsdt_pci`
FWCF                                  nothing                                        :mod:`.dsdt_pci`
S<devfn> devices, LPC's ISA devices   the PCI functions, the serial port             :mod:`.dsdt_pci`
``_GPE._E01``                         ACPI PCI hotplug on                            :mod:`.dsdt_pci`
====================================  =============================================  =====================

Each part is built once per value of what it depends on (cached), so a new shape costs the parts
its vCPU count and RAM size change.
"""

from __future__ import annotations

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi import dsdt_cpu, dsdt_irq, dsdt_pci
from pvmkit.vendors.tdx.acpi.machine import QemuTdxMachine

__all__ = ["MODELLED_DSDT_VERSIONS", "dsdt_body"]

#: QEMU versions whose DSDT these parts reproduce (compared with QEMU 10.0.2's output).
MODELLED_DSDT_VERSIONS: frozenset[tuple[int, int]] = frozenset({(10, 0)})


def dsdt_body(machine: QemuTdxMachine) -> bytes:
    """The AML of ``machine``'s DSDT (everything after the 36-byte SDT header), QEMU 10.0's bytes."""
    if machine.qemu_version not in MODELLED_DSDT_VERSIONS:
        major, minor = machine.qemu_version
        raise InputError(f"the DSDT of QEMU {major}.{minor} is not modelled (modelled: 10.0)")
    hotplug = machine.pci_hotplug_bridge_support
    parts = [dsdt_pci.debug_scope(), dsdt_pci.pci0_scope(hotplug)]
    if hotplug:
        parts.append(dsdt_pci.pci_hotplug_scope())
    parts += [
        dsdt_irq.pic_method(),
        dsdt_irq.interrupt_routing_scope(),
        dsdt_irq.gpe_block_scope(),
        dsdt_cpu.cpu_hotplug_scope(machine.vcpus),
        dsdt_cpu.cpu_scan_event(),
        dsdt_pci.crs_scope(
            machine.below_4g_mem_size, machine.pci_hole64_start, machine.pci_hole64_size, hotplug
        ),
        dsdt_pci.sleep_states_scope(),
        dsdt_pci.fw_cfg_scope(),
        dsdt_pci.pci_devices_scope(machine.devices, machine.serial),
    ]
    if hotplug:
        parts.append(dsdt_pci.gpe_e01_scope())
    return b"".join(parts)
