"""The part of a realm's DTB that every VMM layout shares (the Realm VM specification v0.3 reference
generator, cca-realm-measurements ``src/fdt.rs`` ``fdt_new``): the root node's properties, ``/chosen``
(bootargs, initrd range), the memory node, one PSCI-enabled node per vCPU and the PSCI node for the
RMM's PSCI 1.0 subset, called with SMC from a realm (Arm DEN0022: CPU_ON SMC64 0xc4000003, CPU_OFF
0x84000002). The VMM modules then add their devices and end the root node."""

from __future__ import annotations

from pvmkit.formats.fdt import FdtWriter

__all__ = ["begin_realm_dtb"]

_PSCI_CPU_ON_64, _PSCI_CPU_OFF = 0xC4000003, 0x84000002


def begin_realm_dtb(
    ram: tuple[int, int],
    vcpus: int,
    interrupt_parent: int,
    bootargs: str | None,
    initrd: tuple[int, int] | None,
) -> FdtWriter:
    """A writer holding the shared nodes, the root node still open. ``ram`` and ``initrd`` are
    ``(base, size)``; ``bootargs`` None leaves the property out."""
    f = FdtWriter()
    f.begin_node("")
    f.prop_strings("compatible", "linux,dummy-virt")
    f.prop_strings("model", "linux,dummy-virt-realm")
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 2)
    f.prop_u32("interrupt-parent", interrupt_parent)
    f.begin_node("chosen")
    if bootargs is not None:
        f.prop_strings("bootargs", bootargs)
    if initrd is not None:
        f.prop_u64("linux,initrd-start", initrd[0])
        f.prop_u64("linux,initrd-end", initrd[0] + initrd[1])
    f.end_node()
    f.begin_node(f"memory@{ram[0]:x}")
    f.prop_strings("device_type", "memory")
    f.prop_u64("reg", *ram)
    f.end_node()
    f.begin_node("cpus")
    f.prop_u32("#size-cells", 0)
    f.prop_u32("#address-cells", 1)
    for cpu in range(vcpus):
        f.begin_node(f"cpu@{cpu}")
        f.prop_u32("reg", cpu)
        f.prop_strings("enable-method", "psci")
        f.prop_strings("compatible", "arm,armv8")
        f.prop_strings("device_type", "cpu")
        f.end_node()
    f.end_node()
    f.begin_node("psci")
    f.prop_u32("cpu_on", _PSCI_CPU_ON_64)
    f.prop_u32("cpu_off", _PSCI_CPU_OFF)
    f.prop_strings("method", "smc")
    f.prop_strings("compatible", "arm,psci-1.0", "arm,psci-0.2", "arm,psci")
    f.end_node()
    return f
