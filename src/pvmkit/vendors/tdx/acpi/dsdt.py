"""The DSDT QEMU builds for a q35 TDX guest, as AML after the 36-byte table header.

``dsdt_body(machine)`` concatenates the parts in the order of QEMU 10.0's ``build_dsdt``
(``hw/i386/acpi-build.c``) for a q35 machine without HPET, NUMA, memory hotplug, TPM, IOMMU or PCI
expander bridges:

====================================  ==============================================  ==============
part                                  depends on                                      module
====================================  ==============================================  ==============
``\\`` DBG / DBUG                      nothing                                         :mod:`.dsdt_pci`
``\\_SB.PCI0`` (_OSC, EDSM), DRAC      ACPI PCI hotplug (the _OSC control mask)        :mod:`.dsdt_pci`
PCI hotplug registers and methods     ACPI PCI hotplug on; version (PDSM function 7)  :mod:`.dsdt_pci`
``_PIC``, ``_PRT``, LNKx, GSIx        version (edge-triggered link interrupts)        :mod:`.dsdt_irq`
``_GPE._HID``                         nothing                                         :mod:`.dsdt_irq`
CPU hotplug (PRES, CPUS, Cxxx)        the vCPU count (x2APIC from 255); version       :mod:`.dsdt_cpu`
                                      (CSCN's eject queue)
``\\_GPE._E02``                        nothing                                         :mod:`.dsdt_cpu`
PCI0._CRS, GPE0, PHPR                 RAM below 4 GiB, pci-hole64-size, hotplug       :mod:`.dsdt_pci`
``\\_S3`` ``\\_S4`` ``\\_S5``            nothing                                         :mod:`.dsdt_pci`
FWCF                                  nothing                                         :mod:`.dsdt_pci`
S<devfn> devices, LPC's ISA devices   the PCI functions, the serial port              :mod:`.dsdt_pci`
``_GPE._E01``                         ACPI PCI hotplug on                             :mod:`.dsdt_pci`
====================================  ==============================================  ==============

The version differences are the flags of :class:`pvmkit.vendors.tdx.acpi.versions.QemuAcpiProfile`.

Each part is built once per value of what it depends on (cached), so a new shape costs the parts
its vCPU count and RAM size change.
"""

from __future__ import annotations

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi import dsdt_cpu, dsdt_irq, dsdt_pci
from pvmkit.vendors.tdx.acpi.machine import ROOT_PORT_MODEL, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.versions import QemuAcpiProfile, acpi_profile

__all__ = ["dsdt_body", "dsdt_body_for"]


def dsdt_body(machine: QemuTdxMachine) -> bytes:
    """The AML of ``machine``'s DSDT (everything after the 36-byte SDT header), as the QEMU version
    of ``machine.qemu_version`` builds it (:func:`pvmkit.vendors.tdx.acpi.versions.acpi_profile`
    refuses versions without a profile)."""
    return dsdt_body_for(machine, acpi_profile(machine.qemu_version))


def dsdt_body_for(machine: QemuTdxMachine, profile: QemuAcpiProfile) -> bytes:
    """The DSDT's AML of ``machine`` with the version differences of ``profile``: QEMU 10.0's parts,
    CSCN without the eject queue, PDSM's older function 7, edge-triggered link interrupts, the CPU
    hotplug ``_INI`` and COM1's interrupt flags where the profile says so."""
    hotplug = machine.pci_hotplug_bridge_support
    if hotplug and profile.version < (10, 0) and any(d.model == ROOT_PORT_MODEL for d in machine.devices):
        major, minor = profile.version
        raise InputError(
            f"root ports with ACPI PCI hotplug are modelled for QEMU 10.0 and later, not {major}.{minor}"
        )
    parts = [dsdt_pci.debug_scope(), dsdt_pci.pci0_scope(hotplug)]
    if hotplug:
        parts.append(dsdt_pci.pci_hotplug_scope(profile.pci_dsm_label_only_with_index))
    parts += [
        dsdt_irq.pic_method(),
        dsdt_irq.interrupt_routing_scope(profile.edge_triggered_interrupts),
        dsdt_irq.gpe_block_scope(),
        dsdt_cpu.cpu_hotplug_scope(
            machine.cpu_topology.apic_ids, profile.queued_cpu_eject, profile.cpu_hotplug_ini
        ),
        dsdt_cpu.cpu_scan_event(),
        dsdt_pci.crs_scope(
            machine.below_4g_mem_size, machine.pci_hole64_start, machine.pci_hole64_size, hotplug
        ),
        dsdt_pci.sleep_states_scope(),
        dsdt_pci.fw_cfg_scope(),
        dsdt_pci.pci_devices_scope(
            machine.devices, machine.serial, hotplug, profile.serial_irq_level_low_shared
        ),
    ]
    if hotplug:
        bsels = dsdt_pci.root_port_bsels(machine.devices)
        parts += [dsdt_pci.hotplug_notify_scope(bsels), dsdt_pci.gpe_e01_scope(bool(bsels))]
    return b"".join(parts)
