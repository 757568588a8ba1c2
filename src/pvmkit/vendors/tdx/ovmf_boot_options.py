"""Boot variables OVMF's BDS creates for a virtio-blk disk boot (``EV_EFI_VARIABLE_BOOT`` of RTMR0).

Modelled subset (edk2 before stable202502, the fixed entry ``Boot0000`` UiApp; see
:func:`pvmkit.vendors.tdx.rtmr.default_boot_variables`): one virtio-blk disk on PCI root bus 0, no
``bootindex`` (QEMU's ``bootorder`` fw_cfg file then empty, so OvmfPkg/Library/QemuBootOrderLib
``SetBootOrderFromQemu`` returns NOT_FOUND and leaves BootOrder alone; a bootorder naming the disk
would put it first and keep UiApp after it, ``BootOrderComplete``), no NIC option, a fresh variable
store. Rules, from edk2 MdeModulePkg/Library/UefiBootManagerLib/BmBoot.c:

* ``EfiBootManagerRefreshAllBootOption`` appends one option per bootable whole-disk BlockIo handle
  after the platform's fixed entries (``BmEnumerateBootOptions``), numbered by ``BmGetFreeOptionNumber``
  (the lowest unused number) and added at the end of BootOrder.
* A virtio-blk disk's description is "UEFI Misc Device" (``mBmUefiPrefix`` and the default case of
  ``BmGetMiscDescription``, BmBootDescription.c: no floppy, ATA, USB, SCSI or network node), its
  device path the PCI handle's, ``PciRoot(0x0)/Pci(dev,fn)``, its attributes ``LOAD_OPTION_ACTIVE``
  only, and its optional data the GUID ``mBmAutoCreateBootOptionGuid``
  (8108ac4e-9f11-4d59-850e-e21a522c59b2) that marks it auto-created.

Other launches (several disks, NICs, ``bootindex``, OVMF ≥ stable202502) are refused with
:class:`~pvmkit.errors.InputError`, not approximated (docs/roadmap.md, "Issue 13").
"""

from __future__ import annotations

import struct

from pvmkit.errors import InputError
from pvmkit.formats.guid import guid_bytes
from pvmkit.vendors.tdx.rtmr import NEW_BOOT_OPTIONS_SINCE, boot_option, default_boot_variables

# MdeModulePkg/Library/UefiBootManagerLib/BmBoot.c mBmAutoCreateBootOptionGuid
AUTO_CREATED_OPTION_GUID = "8108ac4e-9f11-4d59-850e-e21a522c59b2"
LOAD_OPTION_ACTIVE = 0x00000001  # UEFI 2.10 §3.1.3
VIRTIO_BLK_DESCRIPTION = "UEFI Misc Device"


def pci_device_path(device: int, function: int) -> bytes:
    """``PciRoot(0x0)/Pci(device,function)``: ACPI node (HID PNP0A03, UID 0), PCI node, end node
    (UEFI 2.10 §10.3.3 ACPI Device Path, §10.3.2.1 PCI Device Path, §10.3.1 End of Hardware)."""
    if not 0 <= device < 32 or not 0 <= function < 8:
        raise InputError(f"PCI device {device:#x}.{function} is outside 0x0-0x1f.0-7")
    acpi = struct.pack("<BBHII", 2, 1, 12, 0x0A0341D0, 0)
    pci = struct.pack("<BBHBB", 1, 1, 6, function, device)
    return acpi + pci + bytes((0x7F, 0xFF, 4, 0))


def virtio_blk_boot_variables(
    ovmf: tuple[int, int], disks: tuple[tuple[int, int], ...]
) -> tuple[tuple[str, bytes], ...]:
    """BootOrder and Boot#### (measured order) for one virtio-blk disk at PCI ``(device, function)``."""
    if ovmf >= NEW_BOOT_OPTIONS_SINCE:
        raise InputError(
            f"boot variables of a disk boot are modelled for OVMF before {NEW_BOOT_OPTIONS_SINCE[0]}."
            f"{NEW_BOOT_OPTIONS_SINCE[1]:02d} only: give --boot-var and --fw-cfg"
        )
    if len(disks) != 1:
        raise InputError(
            f"boot variables are modelled for exactly one virtio-blk disk, not {len(disks)}: "
            "give --boot-var and --fw-cfg"
        )
    fixed = default_boot_variables(ovmf)[1:]
    number = len(fixed)
    device, function = disks[0]
    disk = boot_option(
        LOAD_OPTION_ACTIVE,
        VIRTIO_BLK_DESCRIPTION,
        pci_device_path(device, function),
        guid_bytes(AUTO_CREATED_OPTION_GUID),
    )
    order = struct.pack(f"<{number + 1}H", *range(number + 1))
    return (("BootOrder", order), *fixed, (f"Boot{number:04X}", disk))
