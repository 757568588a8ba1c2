"""pvmkit's own generator of the ACPI fw_cfg blobs QEMU gives a TDX guest (``etc/table-loader``,
``etc/acpi/rsdp``, ``etc/acpi/tables``), which TDVF measures into RTMR0 (docs/tdx-measure.md).

* :mod:`.machine`: the modelled machine (QEMU version, vCPUs, RAM, PCI devices, options);
* :mod:`.aml` / :mod:`.dsdt`: the DSDT's AML;
* :mod:`.tables`: the other tables (FACS, FACP, APIC, MCFG, WAET, RSDT);
* :mod:`.loader`: the table-loader commands and the RSDP;
* :mod:`.build`: the three blobs of one machine.

QEMU itself (:mod:`pvmkit.vendors.tdx.qemu_acpi`) is the oracle the generator is tested against.
"""
