"""QEMU's ``bootorder`` fw_cfg file of a launch, and the fw_cfg items OVMF measures from it.

QEMU lists every boot entry that has a ``bootindex`` (``-device ...,bootindex=N``; ``-kernel`` takes
index 0) in ascending index order (``system/bootdevice.c`` ``add_boot_device_path``; QEMU refuses an
index given twice, ``check_boot_index``), each as an OpenFirmware device path, and serves them as the
fw_cfg file ``bootorder`` (``hw/nvram/fw_cfg.c`` ``fw_cfg_machine_reset`` →
``get_boot_devices_list``): the paths joined by ``\\n`` with one NUL at the end, or an empty file (size
0) when no entry has an index. The paths, as QEMU 10.0 builds them (``hw/core/qdev-fw.c``
``qdev_get_fw_dev_path``):

* the q35 host bridge: ``/pci@i0cf8`` (its I/O port 0xcf8, ``hw/core/sysbus.c``
  ``sysbus_get_fw_dev_path``);
* a PCI function: ``NAME@SLOT`` or ``NAME@SLOT,FUNCTION`` in hex (``hw/pci/pci.c``
  ``pcibus_get_fw_dev_path``), NAME from its class code (``pci_dev_fw_name``, the
  ``pci_class_descriptions`` table): virtio-blk is a SCSI controller (``scsi``), virtio-net an
  Ethernet controller (``ethernet``), a PCIe root port a PCI bridge (``pci-bridge``, then the device
  behind it at slot 0);
* the device's own suffix (``device_add_bootindex_property``): ``/disk@0,0`` for virtio-blk
  (``hw/block/virtio-blk.c``), ``/ethernet-phy@0`` for virtio-net (``hw/net/virtio-net.c``);
* ``-kernel``: ``/rom@genroms/linuxboot_dma.bin`` (``hw/i386/x86-common.c`` ``x86_load_linux`` adds
  the linuxboot option ROM with boot index 0, ``hw/core/loader.c`` ``rom_add_option``).

All of it is checked byte for byte against QEMU 10.0.2's own file (tests/unit/test_tdx_qemu_bootorder.py).

OVMF ≥ stable202505 measures the file into RTMR0 only when it is not empty (edk2
``OvmfPkg/Library/QemuFwCfgLib/QemuFwCfgCacheInit.c`` ``ConstructCacheFwCfgList`` skips an item of
size 0), after ``BootMenu`` (the 2-byte item ``FW_CFG_BOOT_MENU``, 0 unless ``-boot menu=on``, which
the launch reader refuses).
"""

from __future__ import annotations

from collections.abc import Sequence

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.boot_devices import BootDevice

__all__ = ["LINUXBOOT_PATH", "bootorder_file", "launch_fw_cfg", "ofw_path", "with_kernel_entry"]

#: the ``-kernel`` entry (boot index 0)
LINUXBOOT_PATH = "/rom@genroms/linuxboot_dma.bin"
_PCI_HOST = "/pci@i0cf8"
_ROOT_PORT_NAME = "pci-bridge"
#: model -> (class-code name, the device's bootindex suffix)
_PATH_PARTS = {
    "virtio-blk-pci": ("scsi", "/disk@0,0"),
    "virtio-net-pci": ("ethernet", "/ethernet-phy@0"),
}
_BOOT_MENU_OFF = bytes(2)  # FW_CFG_BOOT_MENU, little-endian 0


def _pci_node(name: str, slot: int, function: int) -> str:
    return f"/{name}@{slot:x}" if function == 0 else f"/{name}@{slot:x},{function:x}"


def ofw_path(device: BootDevice) -> str:
    """QEMU's OpenFirmware device path of a boot device, e.g. ``/pci@i0cf8/scsi@3/disk@0,0``."""
    parts = _PATH_PARTS.get(device.model)
    if parts is None:
        raise InputError(f"QEMU's boot path of a {device.model} is not modelled")
    name, suffix = parts
    path = _PCI_HOST
    if device.root_port is not None:
        path += _pci_node(_ROOT_PORT_NAME, device.root_port, 0)
    return path + _pci_node(name, device.slot, device.function) + suffix


def bootorder_file(devices: Sequence[BootDevice], *, direct_boot: bool) -> bytes:
    """The ``bootorder`` fw_cfg file of a launch (empty when nothing has a boot index)."""
    entries: list[tuple[int, str]] = [(0, LINUXBOOT_PATH)] if direct_boot else []
    for device in devices:
        if device.bootindex is None:
            continue
        if any(index == device.bootindex for index, _ in entries):
            taken = "by -kernel" if direct_boot and device.bootindex == 0 else "twice"
            raise InputError(f"bootindex {device.bootindex} is taken {taken} (QEMU refuses the launch)")
        entries.append((device.bootindex, ofw_path(device)))
    if not entries:
        return b""
    return "\n".join(path for _, path in sorted(entries)).encode() + b"\0"


def launch_fw_cfg(devices: Sequence[BootDevice], *, direct_boot: bool) -> tuple[tuple[str, bytes], ...]:
    """The fw_cfg items of the launch that OVMF's list names (rtmr.py ``_FW_CFG_ORDER``): ``BootMenu``
    and ``bootorder``; a QEMU q35 launch without ``pxb``, ``-boot`` options, hot-pluggable memory or
    ``-fw_cfg`` serves none of the others."""
    return (("BootMenu", _BOOT_MENU_OFF), ("bootorder", bootorder_file(devices, direct_boot=direct_boot)))


def with_kernel_entry(bootorder: bytes) -> bytes:
    """The ``bootorder`` a QEMU served without ``-kernel``, as it serves it with ``-kernel``: the
    linuxboot entry first (boot index 0; a device holding index 0 makes QEMU refuse the launch)."""
    entry = LINUXBOOT_PATH.encode()
    return entry + (b"\n" + bootorder if bootorder else b"\0")
