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

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.efi_fv import FV_FILETYPE_APPLICATION, FV_FILETYPE_DRIVER, firmware_files
from pvmkit.formats.guid import guid_bytes
from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.rtmr import NEW_BOOT_OPTIONS_SINCE, boot_option, default_boot_variables

__all__ = ["FirmwareBootFacts", "boot_variables", "firmware_boot_facts", "pci_device_path"]

# MdeModulePkg/Library/UefiBootManagerLib/BmBoot.c mBmAutoCreateBootOptionGuid
AUTO_CREATED_OPTION_GUID = "8108ac4e-9f11-4d59-850e-e21a522c59b2"
LOAD_OPTION_ACTIVE = 0x00000001  # UEFI 2.10 §3.1.3
VIRTIO_BLK_DESCRIPTION = "UEFI Misc Device"
#: edk2 ShellPkg.dec gUefiShellFileGuid: the EFI Shell application PlatformBootManagerLib registers as
#: "EFI Internal Shell" (OvmfPkg/Library/PlatformBootManagerLib/BdsPlatform.c,
#: PlatformBootManagerAfterConsole; RemoveStaleFvFileOptions deletes it again when the file is absent).
SHELL_FILE_GUID = "7c04a583-9e3e-4f1c-ad65-e05268d0b4d1"
#: OvmfPkg.dec gGrubFileGuid: registered the same way as "Grub Bootloader" (OvmfPkg/AmdSev builds).
GRUB_FILE_GUID = "b5ae312c-bc8a-43b1-9c62-ebb826dd5d07"
_WAY_OUT = "give --boot-var and --fw-cfg"


@dataclass(frozen=True)
class FirmwareBootFacts:
    """What an OVMF image holds that decides its boot options (read from its FFS files)."""

    shell: bool  #: the EFI Shell application (:data:`SHELL_FILE_GUID`) is built in
    grub: bool  #: a GRUB application (:data:`GRUB_FILE_GUID`) is built in
    drivers: frozenset[str]  #: the user-interface names of its DXE drivers ("VirtioBlkDxe", …)


_FACTS_CACHE: dict[bytes, FirmwareBootFacts] = {}


def firmware_boot_facts(firmware: bytes) -> FirmwareBootFacts:
    """The boot-option facts of an OVMF image (cached per image: decompressing its DXE volume costs
    ~0.1 s)."""
    key = hashlib.sha256(firmware).digest()
    facts = _FACTS_CACHE.get(key)
    if facts is None:
        files = firmware_files(firmware)
        apps = {f.name for f in files if f.type == FV_FILETYPE_APPLICATION}
        drivers = frozenset(f.ui for f in files if f.type == FV_FILETYPE_DRIVER and f.ui)
        if not drivers:
            raise InputError(f"the firmware image has no DXE drivers pvmkit can read: {_WAY_OUT}")
        facts = FirmwareBootFacts(SHELL_FILE_GUID in apps, GRUB_FILE_GUID in apps, drivers)
        _FACTS_CACHE[key] = facts
    return facts


def boot_variables(
    ovmf: tuple[int, int], firmware: bytes, devices: Sequence[BootDevice], *, direct_boot: bool
) -> tuple[tuple[str, bytes], ...]:
    """BootOrder, then each Boot#### in BootOrder's order: the ``EV_EFI_VARIABLE_BOOT`` events OVMF
    measures at ReadyToBoot for a launch with ``devices`` (``direct_boot``: QEMU ``-kernel``).

    Direct boot: OVMF's ``TryRunningQemuKernel`` (PlatformBootManagerAfterConsole) signals
    ReadyToBoot before ``PlatformBdsConnectSequence`` and ``EfiBootManagerRefreshAllBootOption``, so
    only the fixed entries exist (:func:`~pvmkit.vendors.tdx.rtmr.default_boot_variables`; dstack's
    TDs, with two virtio-blk disks and a NIC, log exactly those). Otherwise the modelled subset is
    the one of :func:`virtio_blk_boot_variables`. Anything else raises :class:`InputError`.
    """
    if direct_boot:
        indexed = [d for d in devices if d.bootindex is not None]
        if indexed:
            raise InputError(
                f"boot variables of a direct boot with bootindex on {indexed[0].model} are not modelled: "
                f"{_WAY_OUT}"
            )
        return default_boot_variables(ovmf)
    facts = firmware_boot_facts(firmware)
    if facts.shell or facts.grub:
        raise InputError(
            "boot variables of a disk boot are not modelled for a firmware with a built-in "
            f"{'EFI Shell' if facts.shell else 'GRUB'}: {_WAY_OUT}"
        )
    for device in devices:
        if device.model != "virtio-blk-pci":
            raise InputError(f"boot options of a {device.model} device are not modelled: {_WAY_OUT}")
        if device.bootindex is not None:
            raise InputError(f"boot options of a virtio-blk disk with bootindex are not modelled: {_WAY_OUT}")
        if device.root_port is not None:
            raise InputError(
                f"boot options of a virtio-blk disk behind a root port are not modelled: {_WAY_OUT}"
            )
    if "VirtioBlkDxe" not in facts.drivers:
        raise InputError(
            f"the firmware has no VirtioBlkDxe, its virtio-blk boot options are not modelled: {_WAY_OUT}"
        )
    return virtio_blk_boot_variables(ovmf, tuple((d.slot, d.function) for d in devices))


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
            f"{NEW_BOOT_OPTIONS_SINCE[1]:02d} only: {_WAY_OUT}"
        )
    if len(disks) != 1:
        raise InputError(
            f"boot variables are modelled for exactly one virtio-blk disk, not {len(disks)}: {_WAY_OUT}"
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
