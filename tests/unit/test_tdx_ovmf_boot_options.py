"""OVMF's boot variables of a virtio-blk disk boot against the real Ubuntu TD log (evidence-api's
ccel_data.bin, events 12-14: BootOrder 0000,0001; Boot0000 UiApp; Boot0001 "UEFI Misc Device"
PciRoot(0x0)/Pci(0x3,0x0)). The log's Ubuntu TD ran the 2023 TDVF (before stable202502)."""

from __future__ import annotations

import hashlib

import pytest

from pvmkit.errors import InputError
from pvmkit.formats.ccel import TCG_ALG_SHA384, EventLog
from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.ovmf_boot_options import (
    boot_variables,
    firmware_boot_facts,
    pci_device_path,
    virtio_blk_boot_variables,
)
from support.fixtures import fixture_path, read_fixture
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


# --- boot_variables: the launch's devices and the firmware image ---------------------------------

TDX_IMAGE = "firmware/OVMF.inteltdx.ms.fd"
DSTACK_LOGS = (  # real direct-boot TDs: two virtio-blk disks, virtio-net, vhost-vsock, 9p (acpi/machine.py)
    "tdx-qemu-logs/dstack/dstack/verifier/fixtures/quote-report.json",
    "tdx-qemu-logs/dstack/dstack/verifier/fixtures/tdx-lite-getquote.json",
)
DSTACK_BOOT_DEVICES = (
    BootDevice("virtio-blk-pci", 1),
    BootDevice("virtio-net-pci", 2, mac=bytes.fromhex("525400123456")),
    BootDevice("virtio-blk-pci", 5),
)


@pytest.mark.parametrize("fixture", DSTACK_LOGS)
def test_direct_boot_gives_the_fixed_entries_of_dstack_tds(fixture: str) -> None:
    """dstack's TDs boot with -kernel; their OVMF (before stable202502: BootOrder has one entry) logs
    BootOrder and UiApp only, whatever disks and NIC the launch has."""
    import json

    events = json.loads(json.loads(fixture_path(fixture).read_text())["event_log"])
    logged = [e["digest"] for e in events if e["event_type"] == EV_EFI_VARIABLE_BOOT]
    generated = boot_variables((2024, 11), b"", DSTACK_BOOT_DEVICES, direct_boot=True)
    assert [hashlib.sha384(data).hexdigest() for _name, data in generated] == logged


def test_disk_boot_with_the_tdx_image_gives_the_logged_variables(log: EventLog) -> None:
    """The fixture's TDX build has what the log's TDVF shows it had: VirtioBlkDxe and no Shell (the log
    has no Shell entry), so its facts give the log's variables at the log's OVMF version."""
    generated = boot_variables(
        TDVF_2023, read_fixture(TDX_IMAGE), (BootDevice("virtio-blk-pci", 3),), direct_boot=False
    )
    assert [hashlib.sha384(data).digest() for _name, data in generated] == [d for d, _ in _boot_events(log)]


def test_firmware_facts_of_the_tdx_image() -> None:
    facts = firmware_boot_facts(read_fixture(TDX_IMAGE))
    assert not facts.shell and not facts.grub
    assert "VirtioBlkDxe" in facts.drivers and "VirtioNetDxe" not in facts.drivers


@pytest.mark.parametrize(
    "devices",
    [
        (BootDevice("virtio-blk-pci", 3), BootDevice("virtio-net-pci", 4, mac=bytes(6))),
        (BootDevice("virtio-blk-pci", 3, bootindex=1),),
        (BootDevice("virtio-blk-pci", 0, root_port=3),),
        (BootDevice("virtio-scsi-pci", 3),),
    ],
)
def test_unmodelled_disk_boots_are_refused(devices: tuple[BootDevice, ...]) -> None:
    with pytest.raises(InputError, match="--boot-var"):
        boot_variables(TDVF_2023, read_fixture(TDX_IMAGE), devices, direct_boot=False)


def test_direct_boot_with_bootindex_is_refused() -> None:
    with pytest.raises(InputError, match="--boot-var"):
        boot_variables(TDVF_2023, b"", (BootDevice("virtio-blk-pci", 3, bootindex=0),), direct_boot=True)


def test_image_without_ffs_volumes_is_refused() -> None:
    with pytest.raises(InputError, match="--boot-var"):
        boot_variables(TDVF_2023, bytes(1 << 16), (BootDevice("virtio-blk-pci", 3),), direct_boot=False)
