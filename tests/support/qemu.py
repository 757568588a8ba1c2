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


def qemu_11_binary() -> str:
    """Debian trixie-backports' QEMU 11.1 (``PVMKIT_QEMU_11``: tools/fetch_peers.py's wrapper, which
    runs it under trixie's own dynamic loader and libc)."""
    where = os.environ.get("PVMKIT_QEMU_11")
    if not where:
        pytest.skip("PVMKIT_QEMU_11 not set (./dev test fetches trixie-backports' qemu-system-x86)")
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

# dstack-vmm's GPU launch without hugepages (Dstack-TEE/dstack dstack-mr/src/acpi.rs): the ACPI PCI
# hotplug of ICH9 off (hotplug_off), the 64-bit hole 16 TiB (pci_hole64_size), one pcie-root-port on
# pcie.0 with the VFIO GPU behind it. virtio-rng-pci stands in for the GPU: the DSDT describes an
# endpoint behind a root port by its address only (hw/i386/acpi-build.c build_append_pci_bus_devices).
# A 16 TiB hole needs more than qemu64's 40 physical address bits; TDX vCPUs have 52.
GPU_TD_DEVICES = (
    DSTACK_DEVICES + " -cpu qemu64,phys-bits=52"
    " -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"
    " -global q35-pcihost.pci-hole64-size=0x100000000000"
    " -device pcie-root-port,id=pci.0,bus=pcie.0,chassis=0 -device virtio-rng-pci,bus=pci.0"
)


# dstack-mr's replay without root_verity: the root image as a CD-ROM (on ICH9's AHCI, no PCI slot)
# instead of the second virtio-blk disk, so four hot-pluggable endpoints in slots 1-4.
DSTACK_CDROM_DEVICES = DSTACK_DEVICES.rsplit(" -drive ", 1)[0] + " -cdrom /bin/sh"
