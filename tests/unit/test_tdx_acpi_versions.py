"""The QEMU version profiles of the ACPI generator (pvmkit.vendors.tdx.acpi.versions).

The profiles' flags are proven on real captures in tests/unit/test_tdx_qemu_acpi_versions.py (which
builds its transformations from these profiles); here: which versions map to which profile, and that
everything else is refused with one clear line."""

from __future__ import annotations

import re

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.versions import PROFILES, acpi_profile


@pytest.mark.parametrize(
    ("version", "key"),
    [
        ((8, 2), (8, 2)),
        ((8, 2, 2), (8, 2)),
        ((9, 2, 1), (9, 2)),
        ((10, 0, 2), (10, 0)),
        ((10, 1), (10, 1)),
        ((10, 1, 0), (10, 1)),
        ((10, 1, 3), (10, 1)),
        ((10, 2, 1), (10, 2)),
        ((11, 1), (11, 1)),
        ((11, 1, 3), (11, 1)),
    ],
)
def test_modelled_releases_map_to_their_profile(version: tuple[int, ...], key: tuple[int, int]) -> None:
    assert acpi_profile(version) is PROFILES[key]
    assert acpi_profile(version).version == key


def test_profiles_follow_the_qemu_history() -> None:
    """CSCN's eject queue arrived in 10.0 only; the PDSM change also reached 9.2.1; the edge-triggered
    interrupts are the 8.2 TDX series' alone; PCAT_COMPAT follows pic from 9.1; nothing reaches the
    tables between 10.0 and 10.2, so 10.1 has their flags; 11.1 drops the CPU hotplug _INI and flags
    COM1's IRQ (docs/tdx-measure.md "QEMU versions")."""
    flags = {
        key: (
            p.queued_cpu_eject,
            p.pci_dsm_label_only_with_index,
            p.edge_triggered_interrupts,
            p.madt_pcat_compat_always,
            p.cpu_hotplug_ini,
            p.serial_irq_level_low_shared,
        )
        for key, p in PROFILES.items()
    }
    assert flags == {
        (8, 2): (False, False, True, True, True, False),
        (9, 2): (False, True, False, False, True, False),
        (10, 0): (True, True, False, False, True, False),
        (10, 1): (True, True, False, False, True, False),
        (10, 2): (True, True, False, False, True, False),
        (11, 1): (True, True, False, False, False, True),
    }


BEFORE_UPSTREAM_TDX = (
    ": QEMU has TDX upstream only from 10.1, and no captured TD shows the tables of a TDX build"
)
MODELLED = "(modelled: 8.2, 9.2, 10.0, 10.1, 10.2, 11.1)"
BETWEEN = ": no release of it was checked, and the tables of 10.2 and 11.1 around it differ"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ((9, 1), f"QEMU 9.1 has no ACPI profile {MODELLED}{BEFORE_UPSTREAM_TDX} of 9.1"),
        ((9, 0, 4), f"QEMU 9.0 has no ACPI profile {MODELLED}{BEFORE_UPSTREAM_TDX} of 9.0"),
        ((8, 1), f"QEMU 8.1 has no ACPI profile {MODELLED}{BEFORE_UPSTREAM_TDX} of 8.1"),
        ((8, 0, 5), f"QEMU 8.0 has no ACPI profile {MODELLED}{BEFORE_UPSTREAM_TDX} of 8.0"),
        ((11, 0, 0), f"QEMU 11.0 has no ACPI profile {MODELLED}{BETWEEN}"),
        ((10, 3), f"QEMU 10.3 has no ACPI profile {MODELLED}{BETWEEN}"),
        ((11, 2), f"QEMU 11.2 has no ACPI profile {MODELLED}: newer than 11.1, the newest release checked"),
        ((12, 0, 1), "QEMU 12.0 has no ACPI profile .*newer than 11.1"),
        ((7, 2, 16), "QEMU 7.2 has no ACPI profile"),
        ((8, 2, 9), "QEMU 8.2.9 has no ACPI profile: its PCI hotplug _DSM differs"),
        ((9, 2, 0), "QEMU 9.2.0 has no ACPI profile: its PCI hotplug _DSM differs"),
        ((10,), "needs major and minor"),
    ],
)
def test_other_versions_are_refused(version: tuple[int, ...], message: str) -> None:
    pattern = message if ".*" in message else re.escape(message)
    with pytest.raises(InputError, match=pattern) as err:
        acpi_profile(version)
    assert "\n" not in str(err.value)
