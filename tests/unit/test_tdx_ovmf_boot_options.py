"""OVMF's boot variables of a launch (pvmkit.vendors.tdx.ovmf_boot_options) against real TD logs.

* The evidence-api Ubuntu TD log (ccel_data.bin, events 12-14: BootOrder 0000,0001; Boot0000 UiApp;
  Boot0001 "UEFI Misc Device" PciRoot(0x0)/Pci(0x3,0x0)): a disk boot by the 2023 TDVF (before
  stable202502). Its image is not in the fixtures: the facts are what the log shows of it (UiApp in
  DXEFV, VirtioBlkDxe, no Shell entry, no network option).
* Two dstack TD logs: direct boots with two virtio-blk disks and a NIC, fixed entries only (UiApp in
  DXEFV, as their logged device path says).

The multi-device, bootindex, network and Shell rules are checked against real OVMF boots in
tests/crosscheck/test_ovmf_boot_options.py; here: what is refused, and the rules' parts that need no
boot (description uniqueness, the image's facts).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from pvmkit.errors import InputError
from pvmkit.formats.ccel import TCG_ALG_SHA384, EventLog
from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.ovmf_boot_options import (
    NETWORK_DRIVERS,
    FirmwareBootFacts,
    boot_variables,
    boot_variables_of,
    firmware_boot_facts,
    pci_device_path,
)
from support.fixtures import fixture_path, read_fixture
from support.gpt_disk import ubuntu_log

EV_EFI_VARIABLE_BOOT = 0x80000002  # TCG PC Client PFP 1.05 §10.4.1
TDVF_2023 = (2023, 5)
TDX_IMAGE = "firmware/OVMF.inteltdx.ms.fd"
DSTACK_LOGS = (  # real direct-boot TDs: two virtio-blk disks, virtio-net, vhost-vsock, 9p (acpi/machine.py)
    "tdx-qemu-logs/dstack/dstack/verifier/fixtures/quote-report.json",
    "tdx-qemu-logs/dstack/dstack/verifier/fixtures/tdx-lite-getquote.json",
)
MAC = bytes.fromhex("525400123456")
#: what the Ubuntu and dstack logs show of their TDVF: UiApp in DXEFV, a virtio-blk driver, no Shell
LOGGED_TDVF = FirmwareBootFacts(False, False, frozenset({"VirtioBlkDxe"}), ui_app=True, menu_app=False)
DSTACK_BOOT_DEVICES = (
    BootDevice("virtio-blk-pci", 1),
    BootDevice("virtio-net-pci", 2, mac=MAC),
    BootDevice("vhost-vsock-pci", 3),
    BootDevice("virtio-9p-pci", 4),
    BootDevice("virtio-blk-pci", 5),
)


@pytest.fixture(scope="module")
def log() -> EventLog:
    return ubuntu_log()


@pytest.fixture(scope="module")
def tdx_image() -> bytes:
    return read_fixture(TDX_IMAGE)


def _boot_events(log: EventLog) -> list[tuple[bytes, bytes]]:
    out = []
    for e in log.events:
        if e.event_type == EV_EFI_VARIABLE_BOOT:
            digest = e.digest(TCG_ALG_SHA384)
            assert digest is not None
            out.append((digest, e.event_data))
    return out


def test_disk_boot_gives_the_logged_variables(log: EventLog) -> None:
    logged = _boot_events(log)
    generated = boot_variables_of(
        TDVF_2023, LOGGED_TDVF, [BootDevice("virtio-blk-pci", 3)], direct_boot=False
    )
    assert [name for name, _ in generated] == ["BootOrder", "Boot0000", "Boot0001"]
    assert len(logged) == len(generated)
    for (name, data), (digest, event_data) in zip(generated, logged, strict=True):
        assert hashlib.sha384(data).digest() == digest, name
        assert event_data.endswith(data), name


def test_another_slot_changes_only_the_disk_option(log: EventLog) -> None:
    logged = _boot_events(log)
    generated = boot_variables_of(
        TDVF_2023, LOGGED_TDVF, [BootDevice("virtio-blk-pci", 4)], direct_boot=False
    )
    assert hashlib.sha384(generated[1][1]).digest() == logged[1][0]
    assert hashlib.sha384(generated[2][1]).digest() != logged[2][0]


def test_devices_without_options_leave_the_logged_variables(log: EventLog) -> None:
    """Without a network stack, a NIC, vsock and 9p add no option to the one disk's."""
    launch = [BootDevice("virtio-blk-pci", 3), *DSTACK_BOOT_DEVICES[1:4]]
    generated = boot_variables_of(TDVF_2023, LOGGED_TDVF, launch, direct_boot=False)
    assert [hashlib.sha384(d).digest() for _n, d in generated] == [d for d, _e in _boot_events(log)]


@pytest.mark.parametrize("fixture", DSTACK_LOGS)
def test_direct_boot_gives_the_fixed_entries_of_dstack_tds(fixture: str) -> None:
    """dstack's TDs boot with -kernel; their OVMF (before stable202502: BootOrder has one entry) logs
    BootOrder and UiApp only, whatever disks and NIC the launch has. The image is not read."""
    events = json.loads(json.loads(fixture_path(fixture).read_text())["event_log"])
    logged = [e["digest"] for e in events if e["event_type"] == EV_EFI_VARIABLE_BOOT]
    generated = boot_variables_of((2024, 11), LOGGED_TDVF, DSTACK_BOOT_DEVICES, direct_boot=True)
    assert [hashlib.sha384(data).hexdigest() for _name, data in generated] == logged


def test_several_disks_get_unique_descriptions(tdx_image: bytes) -> None:
    """BmMakeBootOptionDescriptionUnique: " 2", " 3" after the first, in PCI order (slot 2 first),
    after the TDX image's one fixed entry."""
    launch = [BootDevice("virtio-blk-pci", s) for s in (7, 2, 5)]
    generated = dict(boot_variables((2026, 8), tdx_image, launch, direct_boot=False))
    texts = [generated[f"Boot000{n}"][6:].decode("utf-16-le").split("\0")[0] for n in (1, 2, 3)]
    assert texts == ["UEFI Misc Device", "UEFI Misc Device 2", "UEFI Misc Device 3"]
    assert generated["Boot0001"].find(pci_device_path(2, 0)) > 0


def test_bootindex_on_a_device_without_options_connects_nothing_else(tdx_image: bytes) -> None:
    """ConnectDevicesFromQemu connects only bootorder's devices: a NIC the image has no driver for,
    with bootindex, leaves the disk unconnected and only the fixed entries."""
    launch = [BootDevice("virtio-blk-pci", 3), BootDevice("virtio-net-pci", 4, bootindex=0, mac=MAC)]
    assert boot_variables((2026, 8), tdx_image, launch, direct_boot=False) == boot_variables(
        (2026, 8), tdx_image, [], direct_boot=True
    )


def test_device_path_layout() -> None:
    # UEFI 2.10 §10.3: ACPI(HID PNP0A03 = 0x0A0341D0, UID 0), PCI(function, device), end.
    assert pci_device_path(3, 0).hex() == "02010c00d041030a00000000" + "010106000003" + "7fff0400"
    # behind a root port at slot 2: the port's PCI node first
    assert (
        pci_device_path(0, 0, 2).hex()
        == "02010c00d041030a00000000" + "010106000002" + "010106000000" + "7fff0400"
    )
    with pytest.raises(InputError):
        pci_device_path(32, 0)


def test_firmware_facts_of_the_tdx_image(tdx_image: bytes) -> None:
    """DXEFV only: UiApp and VirtioScsiDxe sit in NCCFV, which a TD does not dispatch."""
    facts = firmware_boot_facts(tdx_image)
    assert not facts.shell and not facts.grub and not facts.network((2026, 8))
    assert facts.menu_app and not facts.ui_app
    assert "VirtioBlkDxe" in facts.drivers and "VirtioScsiDxe" not in facts.drivers


def test_tdx_image_before_2025_05_is_refused(tdx_image: bytes) -> None:
    """Before stable202505 Boot0000 is UiApp, which this image has only in NCCFV: not modelled."""
    with pytest.raises(InputError, match="UiApp"):
        boot_variables((2025, 2), tdx_image, [], direct_boot=True)


@pytest.mark.parametrize(
    "devices",
    [
        (BootDevice("virtio-blk-pci", 3, bootindex=1), BootDevice("virtio-blk-pci", 4, bootindex=1)),
        (BootDevice("virtio-scsi-pci", 3),),
        (BootDevice("nvme", 3),),
        (BootDevice("vhost-vsock-pci", 3, bootindex=0),),
    ],
)
def test_unmodelled_disk_boots_are_refused(devices: tuple[BootDevice, ...], tdx_image: bytes) -> None:
    with pytest.raises(InputError, match=r"--boot-var|bootindex"):
        boot_variables(TDVF_2023, tdx_image, devices, direct_boot=False)


def test_image_without_ffs_volumes_is_refused() -> None:
    with pytest.raises(InputError, match="--boot-var"):
        boot_variables(TDVF_2023, bytes(1 << 16), (BootDevice("virtio-blk-pci", 3),), direct_boot=False)


def test_partial_network_stack_is_refused() -> None:
    facts = FirmwareBootFacts(False, False, frozenset({"VirtioBlkDxe", "VirtioNetDxe", "RngDxe"}))
    with pytest.raises(InputError, match="network"):
        facts.network((2026, 8))
    whole = FirmwareBootFacts(False, False, NETWORK_DRIVERS | {"VirtioBlkDxe"})
    assert whole.network((2022, 11))  # before stable202405 the stack needs no RNG
    with pytest.raises(InputError, match="RngDxe"):
        whole.network((2026, 8))


def test_generic_image_is_modelled_only_for_the_release_a_boot_checked() -> None:
    """Shell and network stack: confirmed for the releases booted (2022.11, 2025.02, 2026.08)."""
    from support.ovmf_boot import generic_ovmf_code

    image = generic_ovmf_code().read_bytes()
    facts = firmware_boot_facts(image)
    assert facts.shell and facts.network((2026, 8)) and facts.ui_app and facts.menu_app
    with pytest.raises(InputError, match="Shell"):
        boot_variables((2025, 5), image, [BootDevice("virtio-blk-pci", 3)], direct_boot=False)
    names = [
        n for n, _ in boot_variables((2026, 8), image, [BootDevice("virtio-blk-pci", 3)], direct_boot=False)
    ]
    assert names == ["BootOrder", "Boot0000", "Boot0001", "Boot0002", "Boot0003"]
