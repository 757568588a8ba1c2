"""OVMF's boot options of a launch (pvmkit.vendors.tdx.ovmf_boot_options) against real OVMF boots.

Oracle: Debian's TPM-enabled OVMF of three edk2 releases, with the EFI Shell and the network stack
the TDX build lacks: sid's ``ovmf-generic`` 2026.08 (the TDX fixture's release), trixie's ``ovmf``
2025.02 and bookworm's 2022.11 (before the BootManagerMenuApp entries), booted under TCG by QEMU
10.0.2 with swtpm (tests/support/ovmf_boot.py). The TCG2 log in guest RAM has the PCR 1
``EV_EFI_VARIABLE_BOOT`` events OVMF measures at ReadyToBoot; every one (name, data, order, SHA-256
and SHA-384 digests) must equal what pvmkit generates for the same devices. The disks are empty raw
files (an unbootable disk still gets its option and ReadyToBoot is signalled when BDS tries it). The
vCPU has RDRAND, as a TD's has: without an EFI_RNG_PROTOCOL the network stack (since
edk2-stable202405) creates no NIC options. The boots settle the rules: all devices connected (no
``bootindex``; each release), and only the ``bootindex`` devices connected and ordered first. The
direct-boot rule (``-kernel``) is checked by the SMBIOS boot (test_smbios_ovmf_boot.py).

The fixture's IntelTdx image itself boots under TCG as an ordinary guest (not a TD); it has no TPM
driver outside a TD, so its boot variables are read from the variable store it keeps in RAM: the
values OVMF would measure. Its UiApp sits in the volume a TD does not dispatch (NCCFV), and it
registers no "EFI Firmware Setup" entry: the disks follow BootManagerMenuApp directly.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.ovmf_boot_options import boot_variables
from support.fixtures import fixture_path
from support.ovmf_boot import (
    boot_and_save_ram,
    boot_variable_events,
    generic_ovmf_code,
    peer_path,
    stored_boot_variables,
)

pytestmark = [pytest.mark.crosscheck, pytest.mark.slow]

RELEASES = {"PVMKIT_OVMF_TPM": (2026, 8), "PVMKIT_OVMF_2025_02": (2025, 2), "PVMKIT_OVMF_2022_11": (2022, 11)}
MAC_A = bytes.fromhex("525400abcdef")  # letters: the description's hex case shows
MAC_B = bytes.fromhex("525400123456")
DISK = 1 << 20


def _mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _disk(
    name: str, slot: int, bootindex: int | None = None, *, root_port: int | None = None, function: int = 0
) -> list[str]:
    """A virtio-blk disk on pcie.0's ``slot`` (``function``: function 0 then is multifunction), or
    behind a new root port at pcie.0's ``root_port``."""
    index = f",bootindex={bootindex}" if bootindex is not None else ""
    where = f"addr={slot:#x}.{function:#x}" if function else f"addr={slot:#x}"
    port: list[str] = []
    if root_port is not None:
        port = ["-device", f"pcie-root-port,id=rp{root_port},chassis={root_port},addr={root_port:#x}"]
        where = f"bus=rp{root_port},addr={slot:#x}"
    return [
        *port,
        "-drive", f"if=none,id={name},format=raw,file={{{name}}}",
        "-device", f"virtio-blk-pci,drive={name},{where}{index}",
    ]  # fmt: skip


def _nic(name: str, slot: int, mac: bytes, bootindex: int | None = None) -> list[str]:
    index = f",bootindex={bootindex}" if bootindex is not None else ""
    return [
        "-netdev", f"user,id={name}",
        "-device", f"virtio-net-pci,netdev={name},romfile=,addr={slot:#x},mac={_mac(mac)}{index}",
    ]  # fmt: skip


def _compare(
    args: list[str], disks: list[str], devices: list[BootDevice], *, release: str = "PVMKIT_OVMF_TPM"
) -> None:
    code = generic_ovmf_code() if release == "PVMKIT_OVMF_TPM" else peer_path(release) / "OVMF_CODE_4M.fd"
    ram = boot_and_save_ram(
        code, code.parent / "OVMF_VARS_4M.fd", args, disks=[(d, DISK) for d in disks], cpu="qemu64,+rdrand"
    )
    logged = boot_variable_events(ram)
    expected = boot_variables(RELEASES[release], code.read_bytes(), devices, direct_boot=False)
    assert [(name, data) for _d, name, data in logged] == list(expected)
    assert len(logged) == 1 + len(expected[0][1]) // 2  # BootOrder and one event per entry
    for digests, _name, data in logged:
        assert digests[0x000B] == hashlib.sha256(data).digest()
        assert digests[0x000C] == hashlib.sha384(data).digest()


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_every_device_connected_without_bootindex(release: str) -> None:
    """Disks given slot 5 first and slot 3 second, one behind a root port at slot 6, functions 1 and 0
    of slot 8 (in that order), two NICs: options in PCI order (slot, then function), depth first (the
    root port's disk, slot 0 on its bus, after slot 5's: its path PciRoot/Pci(0x6,0x0)/Pci(0x0,0x0)),
    disks before each NIC's PXEv4, PXEv6, HTTPv4, HTTPv6, "UEFI Misc Device 2" … " 5", the Shell last
    (attributes 0x1 up to 2025.02, 0x101 in 2026.08), Boot000A… (the name's hex case)."""
    args = (
        _disk("d1", 5) + _disk("d2", 3) + _nic("n1", 4, MAC_A) + _nic("n2", 2, MAC_B)
        + _disk("d3", 0, root_port=6) + _disk("d4", 8, function=1)
        + _disk("d5", 8)[:-1] + [_disk("d5", 8)[-1] + ",multifunction=on"]
    )  # fmt: skip
    devices = [
        BootDevice("virtio-blk-pci", 5),
        BootDevice("virtio-blk-pci", 3),
        BootDevice("virtio-net-pci", 4, mac=MAC_A),
        BootDevice("virtio-net-pci", 2, mac=MAC_B),
        BootDevice("virtio-blk-pci", 0, root_port=6),
        BootDevice("virtio-blk-pci", 8, 1),
        BootDevice("virtio-blk-pci", 8, 0),
    ]
    _compare(args, ["d1", "d2", "d3", "d4", "d5"], devices, release=release)


def test_bootindex_connects_only_the_indexed_devices() -> None:
    """A NIC (bootindex 1), two disks (slot 5: 2, slot 3: 3) and one behind a root port at slot 7 (4)
    connected in bootindex order; a disk and a NIC without bootindex get no option; BootOrder lists the
    matched options in bootindex order (bootorder's path through the bridge matches), then the
    firmware's own entries."""
    args = (
        _disk("d1", 5, 2) + _disk("d2", 3, 3) + _disk("d3", 6)
        + _nic("n1", 4, MAC_A, 1) + _nic("n2", 2, MAC_B) + _disk("d4", 0, 4, root_port=7)
    )  # fmt: skip
    devices = [
        BootDevice("virtio-blk-pci", 5, bootindex=2),
        BootDevice("virtio-blk-pci", 3, bootindex=3),
        BootDevice("virtio-blk-pci", 6),
        BootDevice("virtio-net-pci", 4, bootindex=1, mac=MAC_A),
        BootDevice("virtio-net-pci", 2, mac=MAC_B),
        BootDevice("virtio-blk-pci", 0, bootindex=4, root_port=7),
    ]
    _compare(args, ["d1", "d2", "d3", "d4"], devices)


def test_tdx_image_variable_store() -> None:
    """The fixture's IntelTdx 2026.08 image, two disks (slots 5 and 3) and a NIC it has no driver for:
    Boot0000 BootManagerMenuApp, Boot0001/Boot0002 the disks in PCI order, nothing else."""
    image = fixture_path("firmware/OVMF.inteltdx.ms.fd")
    args = _disk("d1", 5) + _disk("d2", 3) + _nic("n1", 4, MAC_A)
    devices = [
        BootDevice("virtio-blk-pci", 5),
        BootDevice("virtio-blk-pci", 3),
        BootDevice("virtio-net-pci", 4, mac=MAC_A),
    ]
    expected = boot_variables(RELEASES["PVMKIT_OVMF_TPM"], image.read_bytes(), devices, direct_boot=False)
    seen: list[dict[str, bytes]] = []

    def settled(ram: bytes) -> bool:
        """BootOrder and every Boot#### it lists are stored, unchanged since the previous poll."""
        stored = stored_boot_variables(ram)
        order = stored.get("BootOrder", b"")
        listed = [f"Boot{n:04X}" for n in struct.unpack(f"<{len(order) // 2}H", order)]
        settled = bool(listed) and all(name in stored for name in listed) and seen[-1:] == [stored]
        seen.append(stored)
        return settled

    boot_and_save_ram(
        image, None, args, disks=[("d1", DISK), ("d2", DISK)], cpu="qemu64,+rdrand", until=settled
    )
    stored = seen[-1]
    order = stored["BootOrder"]
    listed = [f"Boot{n:04X}" for n in struct.unpack(f"<{len(order) // 2}H", order)]
    assert listed == ["Boot0000", "Boot0001", "Boot0002"]
    assert [("BootOrder", order), *((name, stored[name]) for name in listed)] == list(expected)
