"""BootDevice refuses what no QEMU launch can give (PCI limits of PCI Local Bus 3.0 §6.2.1: 32
devices of 8 functions; a MAC address of IEEE 802 is 6 bytes)."""

from __future__ import annotations

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.boot_devices import BootDevice


@pytest.mark.parametrize(
    "kwargs",
    [
        {"slot": 32},
        {"slot": 3, "function": 8},
        {"slot": 3, "bootindex": -1},
        {"slot": 3, "mac": bytes(5)},
    ],
)
def test_impossible_devices_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        BootDevice("virtio-blk-pci", **kwargs)  # type: ignore[arg-type]


def test_a_nic_with_its_mac() -> None:
    nic = BootDevice("virtio-net-pci", 2, mac=bytes.fromhex("525400123456"), bootindex=1)
    assert (nic.slot, nic.function, nic.bootindex, nic.mac) == (2, 0, 1, bytes.fromhex("525400123456"))
