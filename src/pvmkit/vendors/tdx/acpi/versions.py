"""What differs in the q35 ACPI tables of a TDX guest between the QEMU versions TDX stacks ship.

One :class:`QemuAcpiProfile` per modelled QEMU version: the generator builds QEMU 10.0's tables and
switches each difference on or off from the profile. Every flag names the QEMU change behind it;
each was found in QEMU's source and proven on real TD event logs (docs/tdx-measure.md "QEMU
versions"; ``tests/unit/test_tdx_qemu_acpi_versions.py`` derives dstack's QEMU 8.2.2 and 9.2.1
digests from QEMU 10.0.2's output with exactly these flags).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError

__all__ = ["PROFILES", "QemuAcpiProfile", "acpi_profile"]


@dataclass(frozen=True)
class QemuAcpiProfile:
    """The version-dependent parts of QEMU's q35 ACPI tables for a TDX guest."""

    version: tuple[int, int]  #: (major, minor)
    #: ``\\_SB.CPUS.CSCN`` collects eject requests in a ``CEJL`` package (counter ``Local5``) and
    #: notifies them in a second loop; before, an eject was notified at once in an ``Else`` of the
    #: insert check. QEMU ``hw/acpi/cpu.c`` ``build_cpus_aml``; upstream "cpuhp: make sure that remove
    #: events are handled within the same SCI" (8aa35bebeeae, QEMU 10.0). +67 bytes of DSDT.
    queued_cpu_eject: bool
    #: ``\\_SB.PCI0.PDSM`` function 7 starts from an empty ``Package (2)`` and fills in the ACPI index
    #: and an empty label only when the slot has an index; before, it returned ``Package {Zero, ""}``
    #: with the index stored unconditionally. QEMU ``hw/acpi/pcihp.c`` ``aml_pci_pdsm``; upstream
    #: 0b053391985a "pci: acpi: Windows 'PCI Label Id' bug workaround" (QEMU 10.0), taken into the
    #: stable releases 7.2.16, 8.2.9 and 9.2.1. +18 bytes of DSDT, only where ACPI PCI hotplug builds
    #: ``PDSM``.
    pci_dsm_label_only_with_index: bool
    #: The pre-upstream TDX series' "hw/i386: add option to forcibly report edge trigger in acpi
    #: tables" (``X86MachineState.eoi_intercept_unsupported``, set for TDX): QEMU
    #: ``hw/i386/acpi-common.c`` ``acpi_build_madt`` emits an interrupt source override for each ISA
    #: IRQ 0-15 (IRQ0 -> GSI 2), flags active-high/edge (5), instead of IRQ0 -> 2 (flags 0) and IRQs 5,
    #: 9, 10, 11 (flags 0xD): +110 bytes of MADT; ``hw/i386/acpi-build.c`` ``build_link_dev``,
    #: ``build_gsi_link_dev`` and ``build_iqcr_method`` describe the link interrupts as edge-triggered
    #: (one flag bit each). Upstream TDX (QEMU 10.1) does not have it.
    edge_triggered_interrupts: bool
    #: The MADT's flags carry PCAT_COMPAT whatever ``-machine pic=`` says; from QEMU 9.1 only with the
    #: PIC (QEMU ``hw/i386/acpi-common.c`` ``acpi_build_madt``; upstream 292dd287e78e "hw/i386/acpi:
    #: Set PCAT_COMPAT bit only when pic is not disabled", Xiaoyao Li, pulled 2024-04-24 for 9.1).
    madt_pcat_compat_always: bool
    #: ``\\_SB.PCI0.PRES`` (the CPU hotplug register block) has an ``_INI`` method storing zero into
    #: ``CSEL``; QEMU 11.1 builds the block without it (QEMU ``hw/acpi/cpu.c`` ``build_cpus_aml``; the
    #: removal was posted with Zhao Liu's series whose "tests/acpi: Update DSDT tables for pc & q35
    #: machines" (2026-01-08, on top of 10.2) rewrote the q35 DSDT blobs). 13 bytes of DSDT.
    cpu_hotplug_ini: bool = True
    #: COM1's ``_CRS`` describes IRQ 4 as ``IRQ (Level, ActiveLow, Shared)`` (descriptor 0x23,
    #: information byte 0x18) instead of ``IRQNoFlags`` (0x22): QEMU 11.1's ``hw/char/serial-isa.c``
    #: ``serial_isa_build_aml``. +1 byte of DSDT where the machine has a serial port. Found by
    #: comparing Debian's QEMU 10.0.2 and 11.1.3 (tests/unit/test_tdx_acpi_qemu11.py).
    serial_irq_level_low_shared: bool = False


#: The modelled versions. 8.2 is QEMU 8.2.2 with the TDX series (Canonical's and dstack's legacy
#: stacks); 9.2 is dstack's 9.2.1 TDX build; 10.0 is Debian's 10.0.2, the oracle; 10.2's tables equal
#: 10.0's for every captured shape (dstack's 10.2.1 TD); 11.1 is checked against Debian's 11.1.3
#: (no CPU hotplug ``_INI``, COM1's IRQ flags; no TD capture of it exists).
#:
#: 10.1 (upstream TDX's first release; Ubuntu 25.10 ships it) builds 10.0's tables: no change reaches
#: them between the two. QEMU's bios-tables-test pins every q35 DSDT it tests as a git blob, and the
#: blobs that 9fb1c9a1bb26 "tests: acpi: update expected blobs" (the PDSM change, pulled 2025-01-15
#: for 10.0) wrote are the very blobs that the first later q35 DSDT update (Zhao Liu, "tests/acpi:
#: Update DSDT tables for pc & q35 machines", posted 2026-01-08 on top of 10.2, for 11.0's ``_INI``
#: removal) starts from: ``tests/data/acpi/x86/q35/DSDT`` is e5e8d1e041e2 at both ends, and so are
#: the many-vCPU (``DSDT.xapic``, ``DSDT.core-count2``), hotplug-off (``DSDT.noacpihp``), CPU
#: hotplug, 64-bit hole and bridge variants. The ACPI changes proposed in between (the
#: control-method sleep button, q35 DSDT 8440 -> 8550 bytes) were not merged, and the stable
#: releases 10.1.1-10.1.3 take no q35 table change (their one ACPI fix, 325aa2d86a20 "gpex-acpi:
#: Fix _DSM function 0 support return value", changes only the Arm, LoongArch, RISC-V and microvm
#: blobs). Those tests run without TDX; TDX itself (``target/i386/kvm/tdx.c``, merged for 10.1)
#: reaches the tables only through ``tdx_kvm_init`` turning SMM and ``pic`` off (the modelled
#: machine has both off; ``pic`` is a launch input); the pre-upstream "forcibly report edge trigger
#: in acpi tables" (``edge_triggered_interrupts``), posted with the series up to v6 (November 2024),
#: reached no pull request, and dstack's 10.2.1 TD has tables without it.
PROFILES: dict[tuple[int, int], QemuAcpiProfile] = {
    (8, 2): QemuAcpiProfile((8, 2), False, False, True, True),
    (9, 2): QemuAcpiProfile((9, 2), False, True, False, False),
    (10, 0): QemuAcpiProfile((10, 0), True, True, False, False),
    (10, 1): QemuAcpiProfile((10, 1), True, True, False, False),
    (10, 2): QemuAcpiProfile((10, 2), True, True, False, False),
    (11, 1): QemuAcpiProfile(
        (11, 1), True, True, False, False, cpu_hotplug_ini=False, serial_irq_level_low_shared=True
    ),
}

#: Releases of a modelled (major, minor) whose tables differ from its profile: the stable releases
#: on the other side of the ``PDSM`` change (``pci_dsm_label_only_with_index``).
_OTHER_SIDE_OF_PDSM = {(8, 2): range(9, 1 << 16), (9, 2): range(0, 1)}

#: The first upstream release with TDX (``target/i386/kvm/tdx.c``); a TDX build of an older QEMU
#: carries a vendor's patch series, whose table changes only a capture of it shows (the 8.2 series'
#: edge-triggered interrupts are one).
_UPSTREAM_TDX = (10, 1)
_NEWEST_CHECKED = max(PROFILES)


def _why_not_modelled(major: int, minor: int) -> str:
    if (major, minor) < _UPSTREAM_TDX:
        return (
            "QEMU has TDX upstream only from 10.1, and no captured TD shows the tables of a TDX "
            f"build of {major}.{minor}"
        )
    if (major, minor) > _NEWEST_CHECKED:
        return f"newer than {_NEWEST_CHECKED[0]}.{_NEWEST_CHECKED[1]}, the newest release checked"
    return "no release of it was checked, and the tables of 10.2 and 11.1 around it differ"


def acpi_profile(version: tuple[int, ...]) -> QemuAcpiProfile:
    """The profile of QEMU ``version`` ((major, minor) or (major, minor, micro)); other versions are
    refused rather than approximated by a neighbour."""
    if len(version) < 2:
        raise InputError(f"a QEMU version needs major and minor, not {version!r}")
    major, minor = version[0], version[1]
    profile = PROFILES.get((major, minor))
    if profile is None:
        modelled = ", ".join(f"{a}.{b}" for a, b in sorted(PROFILES))
        raise InputError(
            f"QEMU {major}.{minor} has no ACPI profile (modelled: {modelled}): "
            + _why_not_modelled(major, minor)
        )
    if len(version) > 2 and version[2] in _OTHER_SIDE_OF_PDSM.get((major, minor), ()):
        raise InputError(
            f"QEMU {major}.{minor}.{version[2]} has no ACPI profile: its PCI hotplug _DSM differs from "
            f"the modelled {major}.{minor} release's"
        )
    return profile
