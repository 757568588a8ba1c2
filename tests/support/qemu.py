"""Debian's QEMU as the source of RTMR0's ACPI blobs (``PVMKIT_QEMU``: the wrapper script
tools/fetch_peers.py writes for bookworm-backports' ``qemu-system-x86``), and the device set of the
dstack launches whose event logs are in ``tdx-qemu-logs/``."""

from __future__ import annotations

import os

import pytest


def qemu_binary() -> str:
    where = os.environ.get("PVMKIT_QEMU")
    if not where:
        pytest.skip("PVMKIT_QEMU not set (./dev test fetches Debian's qemu-system-x86)")
    return where


# dstack-vmm's devices as its dstack-mr replays them (Dstack-TEE/dstack dstack-mr/src/acpi.rs; the
# root-verity variant): serial, a virtio-blk disk, virtio-net, vhost-vsock, a 9p share, a second
# virtio-blk. vhost-vsock needs /dev/vhost-vsock, absent here; virtio-rng-pci takes its PCI slot
# (a hotpluggable virtio endpoint like it: the DSDT's slot AML does not depend on the device kind).
DSTACK_DEVICES = (
    "-serial null "
    "-drive file=/bin/sh,if=none,id=hd1,format=raw,readonly=on -device virtio-blk-pci,drive=hd1 "
    "-netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile= "
    "-device virtio-rng-pci "
    "-virtfs local,path=/bin,mount_tag=host-shared,readonly=on,security_model=none,id=virtfs0 "
    "-drive file=/bin/sh,if=none,id=hd0,format=raw,readonly=on -device virtio-blk-pci,drive=hd0"
)
