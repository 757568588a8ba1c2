"""OVMF's boot variables of a virtio-blk disk boot against the real Ubuntu TD log (evidence-api's
ccel_data.bin, events 12-14: BootOrder 0000,0001; Boot0000 UiApp; Boot0001 "UEFI Misc Device"
PciRoot(0x0)/Pci(0x3,0x0)). The log's Ubuntu TD ran the 2023 TDVF (before stable202502)."""

from __future__ import annotations

import hashlib

import pytest

from pvmkit.errors import InputError
from pvmkit.formats.ccel import TCG_ALG_SHA384, EventLog
from pvmkit.vendors.tdx.ovmf_boot_options import pci_device_path, virtio_blk_boot_variables
from support.gpt_disk import ubuntu_log

EV_EFI_VARIABLE_BOOT = 0x80000002  # TCG PC Client PFP 1.05 §10.4.1
TDVF_2023 = (2023, 5)


@pytest.fixture(scope="module")
def log() -> EventLog:
    return ubuntu_log()


def _boot_events(log: EventLog) -> list[tuple[bytes, bytes]]:
    events = [e for e in log.events if e.event_type == EV_EFI_VARIABLE_BOOT]
    out = []
    for e in events:
        digest = e.digest(TCG_ALG_SHA384)
        assert digest is not None
        out.append((digest, e.event_data))
    return out


def test_virtio_blk_disk_gives_the_logged_boot_variables(log: EventLog) -> None:
    logged = _boot_events(log)
    generated = virtio_blk_boot_variables(TDVF_2023, ((3, 0),))
    assert [name for name, _ in generated] == ["BootOrder", "Boot0000", "Boot0001"]
    assert len(logged) == len(generated)
    for (name, data), (digest, event_data) in zip(generated, logged, strict=True):
        assert hashlib.sha384(data).digest() == digest, name
        assert event_data.endswith(data), name


def test_another_slot_changes_only_the_disk_option(log: EventLog) -> None:
    logged = _boot_events(log)
    generated = virtio_blk_boot_variables(TDVF_2023, ((4, 0),))
    assert hashlib.sha384(generated[1][1]).digest() == logged[1][0]
    assert hashlib.sha384(generated[2][1]).digest() != logged[2][0]


def test_device_path_layout() -> None:
    # UEFI 2.10 §10.3: ACPI(HID PNP0A03 = 0x0A0341D0, UID 0), PCI(function, device), end.
    assert pci_device_path(3, 0).hex() == "02010c00d041030a00000000" + "010106000003" + "7fff0400"
    with pytest.raises(InputError):
        pci_device_path(32, 0)


@pytest.mark.parametrize(
    ("ovmf", "disks"), [((2025, 2), ((3, 0),)), (TDVF_2023, ()), (TDVF_2023, ((3, 0), (4, 0)))]
)
def test_unmodelled_launches_are_refused(ovmf: tuple[int, int], disks: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(InputError, match="--boot-var"):
        virtio_blk_boot_variables(ovmf, disks)
