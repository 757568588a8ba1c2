"""QEMU's own ACPI blobs for a :class:`QemuTdxMachine`: the oracle of pvmkit's ACPI generator.

The machine becomes QEMU options (``-device ...,addr=SLOT.FUNCTION`` per PCI function, ``-serial``,
``-global`` for the hotplug and 64-bit hole options, ``-smp`` with every topology key) and
:class:`QemuAcpiDumper` runs Debian's QEMU 10.0.2 under qtest (``PVMKIT_QEMU``; skipped without it
outside CI). Results are cached per machine.
"""

from __future__ import annotations

import functools
import struct

from pvmkit.vendors.tdx.acpi.machine import ROOT_PORT_MODEL, PciFunction, QemuTdxMachine
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from support.fixtures import fixture_path
from support.qemu import qemu_binary

GIB = 1 << 30


def _device_args(dev: PciFunction, n: int, multifunction: bool) -> list[str]:
    addr = f"addr={dev.slot:#x}.{dev.function}" + (",multifunction=on" if multifunction else "")
    if dev.model == ROOT_PORT_MODEL:
        return ["-device", f"{ROOT_PORT_MODEL},id=pvmkit-rp{dev.slot},bus=pcie.0,chassis={dev.slot},{addr}"]
    if dev.root_port is not None:
        addr = f"bus=pvmkit-rp{dev.root_port},{addr}"
    if dev.model == "virtio-blk-pci":
        return [
            "-drive", f"file=/bin/sh,if=none,id=pvmkit-hd{n},format=raw,readonly=on",
            "-device", f"virtio-blk-pci,drive=pvmkit-hd{n},{addr}",
        ]  # fmt: skip
    if dev.model == "virtio-net-pci":
        return [
            "-netdev",
            f"user,id=pvmkit-net{n}",
            "-device",
            f"virtio-net-pci,netdev=pvmkit-net{n},romfile=,{addr}",
        ]
    if dev.model == "virtio-9p-pci":
        return [
            "-fsdev", f"local,id=pvmkit-fs{n},path=/bin,readonly=on,security_model=none",
            "-device", f"virtio-9p-pci,fsdev=pvmkit-fs{n},mount_tag=pvmkit{n},{addr}",
        ]  # fmt: skip
    if dev.model == "vhost-vsock-pci":
        # needs /dev/vhost-vsock, absent here: virtio-rng-pci, another hot-pluggable virtio endpoint
        # without ACPI objects of its own, takes its slot (see support/qemu.py)
        return ["-device", f"virtio-rng-pci,{addr}"]
    return ["-device", f"{dev.model},{addr}"]


def qemu_args(machine: QemuTdxMachine) -> tuple[str, ...]:
    """The QEMU options (beyond QemuAcpiDumper's machine, CPU, SMP and RAM) of ``machine``."""
    args: list[str] = ["-serial", "null"] if machine.serial else []
    functions_of: dict[tuple[int | None, int], int] = {}
    for dev in machine.devices:
        key = (dev.root_port, dev.slot)
        functions_of[key] = functions_of.get(key, 0) + 1
    for n, dev in enumerate(machine.devices):
        args += _device_args(dev, n, dev.function == 0 and functions_of[(dev.root_port, dev.slot)] > 1)
    if not machine.pci_hotplug_bridge_support:
        args += ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
    args += ["-global", f"q35-pcihost.pci-hole64-size={machine.pci_hole64_size}"]
    if machine.topology is not None:
        # QEMU merges this -smp into the dumper's "-smp N" (its -smp options list merges); APIC IDs
        # from 255 need x2APIC in the CPU model whatever the vCPU count (apic_common_set_id)
        args += ["-smp", machine.topology.smp_value()]
        if max(machine.topology.apic_ids) >= 255:
            args += ["-cpu", "qemu64,+x2apic"]
    return tuple(args)


@functools.lru_cache(maxsize=64)
def qemu_blobs(machine: QemuTdxMachine) -> dict[str, bytes]:
    """QEMU 10.0.2's ``etc/table-loader``, ``etc/acpi/rsdp`` and ``etc/acpi/tables`` for ``machine``."""
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    dumper = QemuAcpiDumper(qemu_binary(), firmware, qemu_args(machine))
    return dumper.dump(AcpiShape(vcpus=machine.vcpus, memory_size=machine.memory_size, pic=machine.pic))


def table(tables: bytes, signature: bytes) -> bytes:
    """One table (header included) of an ``etc/acpi/tables`` blob, by signature."""
    off = 0
    while tables[off : off + 4] != signature:
        length = struct.unpack_from("<I", tables, off + 4)[0]
        if length == 0:
            raise AssertionError(f"no {signature!r} table in the blob")
        off += length
    return tables[off : off + struct.unpack_from("<I", tables, off + 4)[0]]


def qemu_dsdt_body(machine: QemuTdxMachine | None = None) -> bytes:
    """QEMU's DSDT after its 36-byte header; by default dstack's 1-vCPU, 2 GiB, pic=off machine."""
    if machine is None:
        machine = QemuTdxMachine(qemu_version=(10, 0), vcpus=1, memory_size=2 * GIB, pic=False)
    return table(qemu_blobs(machine)["etc/acpi/tables"], b"DSDT")[36:]
