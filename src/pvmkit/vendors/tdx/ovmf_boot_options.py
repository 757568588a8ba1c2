"""The boot variables OVMF measures at ReadyToBoot (``EV_EFI_VARIABLE_BOOT`` of RTMR0) for a launch.

:func:`boot_variables` gives BootOrder, then each Boot#### in BootOrder's order, from the OVMF release,
the image (its FFS files: :func:`firmware_boot_facts`) and the launch's PCI devices
(:class:`~pvmkit.vendors.tdx.boot_devices.BootDevice`). The rules, from edk2's source and confirmed
by real boots (docs/tdx-measure.md "Boot variables"; tests/vectors/README.md):

1. **Direct boot** (QEMU ``-kernel``): OvmfPkg/Library/PlatformBootManagerLib/BdsPlatform.c
   ``PlatformBootManagerAfterConsole`` calls ``TryRunningQemuKernel`` (QemuKernel.c), which signals
   ReadyToBoot and starts the kernel, *before* ``PlatformBdsConnectSequence``,
   ``EfiBootManagerRefreshAllBootOption`` and the Shell's registration: only the fixed entries exist,
   whatever the devices and ``bootindex``.
2. **Fixed entries** first (numbers 0…, :func:`fixed_entries`): before stable202505 Boot0000
   "UiApp"; from stable202505 Boot0000 "BootManagerMenuApp" and, when UiApp is in DXEFV, Boot0001
   "EFI Firmware Setup" (the IntelTdx 2026.08 build keeps UiApp in NCCFV and has no such entry).
   Only DXEFV's files count: a TD does not dispatch NCCFV.
3. **Connected devices** (``PlatformBdsConnectSequence``): with a ``bootindex`` on any device, QEMU's
   ``bootorder`` fw_cfg file names those devices and OvmfPkg/Library/QemuBootOrderLib
   ``ConnectDevicesFromQemu`` connects only them, in bootindex order; otherwise (file empty) it
   returns NOT_FOUND and ``EfiBootManagerConnectAll`` connects every device in PCI order (slot, then
   function; depth first: a root port's secondary bus right after the port's slot). Handles are
   created in that order.
4. **Enumeration** (MdeModulePkg/Library/UefiBootManagerLib/BmBoot.c ``BmEnumerateBootOptions``,
   appended by ``EfiBootManagerRefreshAllBootOption`` with the lowest free numbers, BmLoadOption.c
   ``BmGetFreeOptionNumber``): whole-disk BlockIo handles (virtio-blk: "UEFI Misc Device",
   ``PciRoot(0x0)/Pci(dev,fn)``, behind a root port ``PciRoot(0x0)/Pci(port,0x0)/Pci(dev,fn)``), then
   LoadFile handles with an IP node (a virtio-net NIC, when the image has the network stack: "UEFI
   PXEv4 (MAC:…)", "UEFI PXEv6 (MAC:…)", "UEFI HTTPv4 (MAC:…)", "UEFI HTTPv6 (MAC:…)", the NIC's PCI
   path then ``MAC(mac,0x1)/IPv4(…)|IPv6(…)[/Uri()]``); identical
   descriptions get " 2", " 3", … (``BmMakeBootOptionDescriptionUnique``, BmBootDescription.c);
   attributes ``LOAD_OPTION_ACTIVE``, optional data ``mBmAutoCreateBootOptionGuid``.
5. **Shell**: "EFI Internal Shell" (``Fv(DXEFV)/FvFile(gUefiShellFileGuid)``, attributes
   :data:`SHELL_ATTRIBUTES`) is registered next, and deleted again by ``RemoveStaleFvFileOptions``
   when the image lacks it.
6. **Reordering** (QemuBootOrderLib ``SetBootOrderFromQemu``), only with a ``bootindex``: for each
   bootorder entry, in order, every option whose device path starts with the device's is taken; then
   ``BootOrderComplete`` appends the options not starting with ``PciRoot()`` (the FV entries) in their
   previous order; ``PruneBootVariables`` deletes the others (never measured).
7. **Measurement** (Tcg2Dxe / TdTcg2Dxe ``MeasureAllBootVariables``): BootOrder, then each Boot####
   it lists.

What is modelled, and refused otherwise with :class:`~pvmkit.errors.InputError` (naming
``--boot-var``/``--fw-cfg`` as the way out): virtio-blk disks and virtio-net NICs (on ``pcie.0`` or
behind a PCIe root port), the
devices listed in :data:`NO_OPTION_MODELS`, an image whose DXEFV holds the boot manager menu of its
release, the Shell and the network stack only for the releases a real boot confirmed
(:data:`CONFIRMED_FULL_RELEASES`), an image whose network drivers are none or exactly
:data:`NETWORK_DRIVERS`. A NIC's boot options need ``EFI_RNG_PROTOCOL`` from edk2-stable202405
(CVE-2023-45237): a TD's vCPUs have RDRAND, which OVMF's RngDxe uses, so pvmkit models it present
when the image has RngDxe. A NIC option ROM (QEMU's default
``romfile``) or an ``opt/org.tianocore/*`` fw_cfg knob (EFIShellSupport, IPv4PXESupport,
VirtioNetSupport, …) would change the options: the launch reader must refuse them.
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
from pvmkit.vendors.tdx.rtmr import (
    DXEFV_GUID,
    NEW_BOOT_OPTIONS_SINCE,
    boot_option,
    default_boot_variables,
    fv_file_device_path,
)

__all__ = [
    "CONFIRMED_FULL_RELEASES",
    "NETWORK_DRIVERS",
    "NO_OPTION_MODELS",
    "FirmwareBootFacts",
    "boot_variables",
    "boot_variables_of",
    "firmware_boot_facts",
    "fixed_entries",
    "pci_device_path",
]

# MdeModulePkg/Library/UefiBootManagerLib/BmBoot.c mBmAutoCreateBootOptionGuid
AUTO_CREATED_OPTION_GUID = "8108ac4e-9f11-4d59-850e-e21a522c59b2"
LOAD_OPTION_ACTIVE = 0x00000001  # UEFI 2.10 §3.1.3
LOAD_OPTION_CATEGORY_APP = 0x00000100
VIRTIO_BLK_DESCRIPTION = "UEFI Misc Device"
#: edk2 ShellPkg.dec gUefiShellFileGuid: the EFI Shell application PlatformBootManagerLib registers as
#: "EFI Internal Shell" (OvmfPkg/Library/PlatformBootManagerLib/BdsPlatform.c,
#: PlatformBootManagerAfterConsole; RemoveStaleFvFileOptions deletes it again when the file is absent).
SHELL_FILE_GUID = "7c04a583-9e3e-4f1c-ad65-e05268d0b4d1"
SHELL_DESCRIPTION = "EFI Internal Shell"
#: OvmfPkg.dec gGrubFileGuid: registered the same way as "Grub Bootloader" (OvmfPkg/AmdSev builds).
GRUB_FILE_GUID = "b5ae312c-bc8a-43b1-9c62-ebb826dd5d07"
#: The Shell entry's attributes per OVMF release, for the releases a real boot confirmed (Debian's
#: ovmf 2022.11 and 2025.02 and ovmf-generic 2026.08 under TCG: tests/crosscheck/
#: test_ovmf_boot_options.py): ``LOAD_OPTION_ACTIVE`` up to 2025.02, also ``CATEGORY_APP`` in 2026.08.
#: The Shell and the network options of other releases are refused.
SHELL_ATTRIBUTES: dict[tuple[int, int], int] = {
    (2022, 11): LOAD_OPTION_ACTIVE,
    (2025, 2): LOAD_OPTION_ACTIVE,
    (2026, 8): LOAD_OPTION_ACTIVE | LOAD_OPTION_CATEGORY_APP,
}
CONFIRMED_FULL_RELEASES: frozenset[tuple[int, int]] = frozenset(SHELL_ATTRIBUTES)
#: From this release the network stack needs EFI_RNG_PROTOCOL (NetworkPkg's CVE-2023-45237 fix,
#: edk2-stable202405; tianocore/edk2#9530): without it a NIC gets no option.
NETWORK_NEEDS_RNG_SINCE = (2024, 5)
#: OvmfPkg's DXEFV and the IntelTdx build's NCCFV (FvNameGuid in OvmfPkg/IntelTdx/IntelTdxX64.fdf):
#: NCCFV holds the modules not dispatched in a confidential guest (tianocore/edk2#12488), so only
#: DXEFV's files count for a TD.
NCCFV_GUID = "ae047c6d-bce9-426c-ae03-a68e3b8a0488"
UIAPP_FILE_GUID = "462caa21-7614-4503-836e-8ab6f4662331"  # MdeModulePkg UiApp.inf FILE_GUID
BOOT_MANAGER_MENU_FILE_GUID = "eec25bdc-67f2-4d95-b1d5-f81b2039d11d"  # BootManagerMenuApp.inf
#: The network drivers of the image whose NIC options a real boot confirmed (Debian's ovmf-generic
#: 2026.08, read from its FFS files); an image with some of them but not exactly these is refused.
NETWORK_DRIVERS: frozenset[str] = frozenset(
    {
        "ArpDxe", "Dhcp4Dxe", "Dhcp6Dxe", "DnsDxe", "HttpBootDxe", "HttpDxe", "HttpUtilitiesDxe",
        "IScsiDxe", "Ip4Dxe", "Ip6Dxe", "MnpDxe", "Mtftp4Dxe", "Mtftp6Dxe", "SnpDxe", "TcpDxe",
        "TlsAuthConfigDxe", "TlsDxe", "Udp4Dxe", "Udp6Dxe", "UefiPxeBcDxe", "VirtioNetDxe", "VlanConfigDxe",
    }
)  # fmt: skip
#: QEMU device models no OVMF driver turns into a BlockIo, SimpleFileSystem or LoadFile handle:
#: vhost-vsock-pci and virtio-9p-pci (no driver binds them), virtio-rng-pci (VirtioRngDxe produces
#: EFI_RNG_PROTOCOL only). They give no boot option, but a ``bootindex`` on one is not modelled.
NO_OPTION_MODELS: frozenset[str] = frozenset({"vhost-vsock-pci", "virtio-9p-pci", "virtio-rng-pci"})
_WAY_OUT = "give --boot-var and --fw-cfg"
# UEFI 2.10 §10.3.5: device-path node (type, subtype) of MAC, IPv4, IPv6, URI; NET_IFTYPE_ETHERNET.
_MAC_NODE, _IPV4_NODE, _IPV6_NODE, _URI_NODE = (3, 11), (3, 12), (3, 13), (3, 24)
_ETHERNET = 1
_IPV6_PREFIX_LENGTH = 64  # NetworkPkg UefiPxeBcDxe / HttpBootDxe IPv6 node: PrefixLength 64, rest zero
_END = bytes((0x7F, 0xFF, 4, 0))


@dataclass(frozen=True)
class FirmwareBootFacts:
    """What an OVMF image holds that decides its boot options (read from its FFS files)."""

    shell: bool  #: the EFI Shell application (:data:`SHELL_FILE_GUID`) is in DXEFV
    grub: bool  #: a GRUB application (:data:`GRUB_FILE_GUID`) is in DXEFV
    drivers: frozenset[str]  #: the user-interface names of DXEFV's drivers ("VirtioBlkDxe", …)
    ui_app: bool = True  #: UiApp is in DXEFV
    menu_app: bool = True  #: BootManagerMenuApp is in DXEFV

    def network(self, ovmf: tuple[int, int]) -> bool:
        """Whether NICs get options: the image has the network stack checked against a real boot
        (InputError for a partial or different one) and, from :data:`NETWORK_NEEDS_RNG_SINCE`,
        RngDxe (a TD's vCPUs have RDRAND, which it uses)."""
        present = self.drivers & NETWORK_DRIVERS
        if not present:
            return False
        missing = sorted(NETWORK_DRIVERS - present)
        if not missing and ovmf >= NETWORK_NEEDS_RNG_SINCE and "RngDxe" not in self.drivers:
            missing = ["RngDxe"]
        if missing:
            raise InputError(
                "the firmware's network drivers differ from the network stack checked against a real boot "
                f"(missing {', '.join(missing)}): {_WAY_OUT}"
            )
        return True


_FACTS_CACHE: dict[bytes, FirmwareBootFacts] = {}
_LAST_IMAGE: list[tuple[bytes, FirmwareBootFacts]] = []  #: the image last read, by identity


def firmware_boot_facts(firmware: bytes) -> FirmwareBootFacts:
    """The boot-option facts of an OVMF image (cached per image: decompressing its DXE volume costs
    ~0.1 s)."""
    if _LAST_IMAGE and _LAST_IMAGE[0][0] is firmware:  # a grid of shapes passes one image object
        return _LAST_IMAGE[0][1]
    key = hashlib.sha256(firmware).digest()
    facts = _FACTS_CACHE.get(key)
    if facts is None:
        files = [f for f in firmware_files(firmware) if f.volume == DXEFV_GUID]
        apps = {f.name for f in files if f.type == FV_FILETYPE_APPLICATION}
        drivers = frozenset(f.ui for f in files if f.type == FV_FILETYPE_DRIVER and f.ui)
        if not drivers:
            raise InputError(
                f"the firmware image has no DXEFV volume with drivers pvmkit can read: {_WAY_OUT}"
            )
        facts = FirmwareBootFacts(
            SHELL_FILE_GUID in apps,
            GRUB_FILE_GUID in apps,
            drivers,
            ui_app=UIAPP_FILE_GUID in apps,
            menu_app=BOOT_MANAGER_MENU_FILE_GUID in apps,
        )
        _FACTS_CACHE[key] = facts
    if isinstance(firmware, bytes):  # immutable: the same object always holds the same image
        _LAST_IMAGE[:] = [(firmware, facts)]
    return facts


def fixed_entries(ovmf: tuple[int, int], facts: FirmwareBootFacts) -> tuple[tuple[str, bytes], ...]:
    """The Boot#### variables that exist before any device is connected (numbers 0…; rule 2 of the
    module docstring). Before :data:`~pvmkit.vendors.tdx.rtmr.NEW_BOOT_OPTIONS_SINCE` the boot
    manager menu is UiApp (Boot0000 "UiApp", MdeModulePkg BmBoot.c ``BmRegisterBootManagerMenu``);
    from it BootManagerMenuApp (Boot0000), and UiApp becomes Boot0001 "EFI Firmware Setup" only when
    it is in DXEFV: the IntelTdx build that keeps it in NCCFV registers no such entry (its boot's
    variable store, tests/crosscheck/test_ovmf_boot_options.py)."""
    entries = default_boot_variables(ovmf)[1:]
    if ovmf >= NEW_BOOT_OPTIONS_SINCE:
        if not facts.menu_app:
            raise InputError(f"the firmware has no BootManagerMenuApp in DXEFV: {_WAY_OUT}")
        return entries if facts.ui_app else entries[:1]
    if not facts.ui_app:
        raise InputError(
            f"the firmware has no UiApp in DXEFV (its boot manager menu before 2025.05): {_WAY_OUT}"
        )
    return entries


def pci_device_path(device: int, function: int, root_port: int | None = None) -> bytes:
    """``PciRoot(0x0)/Pci(device,function)``, or ``PciRoot(0x0)/Pci(root_port,0x0)/Pci(device,function)``
    behind a PCIe root port: ACPI node (HID PNP0A03, UID 0), PCI nodes, end node (UEFI 2.10 §10.3.3
    ACPI Device Path, §10.3.2.1 PCI Device Path, §10.3.1 End of Hardware)."""
    return _pci_nodes(device, function, root_port) + _END


def _pci_nodes(device: int, function: int, root_port: int | None = None) -> bytes:
    if not 0 <= device < 32 or not 0 <= function < 8 or not 0 <= (root_port or 0) < 32:
        raise InputError(f"PCI device {device:#x}.{function} is outside 0x0-0x1f.0-7")
    nodes = struct.pack("<BBHII", 2, 1, 12, 0x0A0341D0, 0)
    if root_port is not None:
        nodes += struct.pack("<BBHBB", 1, 1, 6, 0, root_port)
    return nodes + struct.pack("<BBHBB", 1, 1, 6, function, device)


def _pci_order(device: BootDevice) -> tuple[int, int, int, int]:
    """PciBusDxe's handle order: depth first, a root port's secondary bus right after the port's slot."""
    if device.root_port is None:
        return (device.slot, 0, 0, device.function)
    return (device.root_port, 1, device.slot, device.function)


def _node(kind: tuple[int, int], body: bytes) -> bytes:
    return struct.pack("<BBH", kind[0], kind[1], 4 + len(body)) + body


def _nic_options(device: BootDevice) -> list[tuple[str, bytes]]:
    """(description, device path) of a NIC's LoadFile handles in creation order: UefiPxeBcDxe's IPv4
    and IPv6 children, then HttpBootDxe's (NetworkPkg; UEFI 2.10 §10.3.5.11 MAC, .12 IPv4 (27 bytes,
    all zero: DHCP), .13 IPv6 (60 bytes), .23 URI (empty))."""
    if device.mac is None:
        raise InputError(f"{device.model} at {device.slot:#x}.{device.function} has no MAC address")
    mac = _node(_MAC_NODE, device.mac + bytes(26) + bytes((_ETHERNET,)))
    ipv4 = _node(_IPV4_NODE, bytes(23))
    ipv6 = _node(_IPV6_NODE, bytes(38) + bytes((0, _IPV6_PREFIX_LENGTH)) + bytes(16))
    uri = _node(_URI_NODE, b"")
    base = _pci_nodes(device.slot, device.function, device.root_port) + mac
    text = device.mac.hex().upper()
    return [
        (f"UEFI PXEv4 (MAC:{text})", base + ipv4 + _END),
        (f"UEFI PXEv6 (MAC:{text})", base + ipv6 + _END),
        (f"UEFI HTTPv4 (MAC:{text})", base + ipv4 + uri + _END),
        (f"UEFI HTTPv6 (MAC:{text})", base + ipv6 + uri + _END),
    ]


def _unique(descriptions: list[str]) -> list[str]:
    """BmBootDescription.c ``BmMakeBootOptionDescriptionUnique``: the second and later holders of a
    description get " 2", " 3", … in enumeration order."""
    seen: dict[str, int] = {}
    out = []
    for d in descriptions:
        seen[d] = seen.get(d, 0) + 1
        out.append(d if seen[d] == 1 else f"{d} {seen[d]}")
    return out


def _check(ovmf: tuple[int, int], facts: FirmwareBootFacts, devices: Sequence[BootDevice]) -> bool:
    """Refuse what is not modelled; whether NICs get options (the image's network stack)."""
    if facts.grub:
        raise InputError(f"boot variables of a firmware with a built-in GRUB are not modelled: {_WAY_OUT}")
    if facts.shell and ovmf not in SHELL_ATTRIBUTES:
        raise InputError(
            f"the EFI Shell entry of OVMF {ovmf[0]}.{ovmf[1]:02d} is not modelled (checked: "
            f"{', '.join(f'{y}.{m:02d}' for y, m in sorted(CONFIRMED_FULL_RELEASES))}): {_WAY_OUT}"
        )
    network = facts.network(ovmf)
    if "VirtioBlkDxe" not in facts.drivers:
        raise InputError(f"the firmware has no VirtioBlkDxe: its boot options are not modelled: {_WAY_OUT}")
    indexes = [d.bootindex for d in devices if d.bootindex is not None]
    if len(set(indexes)) != len(indexes):
        raise InputError("two devices have the same bootindex (QEMU refuses that launch)")
    for d in devices:
        if d.model in NO_OPTION_MODELS:
            if d.bootindex is not None:
                raise InputError(f"bootindex on a {d.model} is not modelled: {_WAY_OUT}")
        elif d.model == "virtio-net-pci":
            if network and ovmf not in CONFIRMED_FULL_RELEASES:
                raise InputError(
                    f"network boot options of OVMF {ovmf[0]}.{ovmf[1]:02d} are not modelled: {_WAY_OUT}"
                )
        elif d.model != "virtio-blk-pci":
            raise InputError(f"boot options of a {d.model} device are not modelled: {_WAY_OUT}")
    return network


def boot_variables(
    ovmf: tuple[int, int], firmware: bytes, devices: Sequence[BootDevice], *, direct_boot: bool
) -> tuple[tuple[str, bytes], ...]:
    """BootOrder, then each Boot#### in BootOrder's order: the ``EV_EFI_VARIABLE_BOOT`` events OVMF
    ``ovmf`` (year, month) measures at ReadyToBoot for a launch with ``devices`` (``direct_boot``: QEMU
    ``-kernel``; the devices do not matter then), ``firmware`` the image (its DXEFV decides the fixed
    entries, the Shell and the NIC options). Rules: the module docstring."""
    return boot_variables_of(ovmf, firmware_boot_facts(firmware), devices, direct_boot=direct_boot)


def boot_variables_of(
    ovmf: tuple[int, int], facts: FirmwareBootFacts, devices: Sequence[BootDevice], *, direct_boot: bool
) -> tuple[tuple[str, bytes], ...]:
    """:func:`boot_variables` for an image described by its facts (:func:`firmware_boot_facts`)."""
    fixed = fixed_entries(ovmf, facts)
    if direct_boot:
        return (("BootOrder", struct.pack(f"<{len(fixed)}H", *range(len(fixed)))), *fixed)
    return _disk_boot(ovmf, facts, fixed, devices, network=_check(ovmf, facts, devices))


def _disk_boot(
    ovmf: tuple[int, int],
    facts: FirmwareBootFacts,
    fixed: tuple[tuple[str, bytes], ...],
    devices: Sequence[BootDevice],
    *,
    network: bool,
) -> tuple[tuple[str, bytes], ...]:
    """Rules 3-7 of the module docstring for a checked launch after the ``fixed`` entries."""
    indexed = sorted((d for d in devices if d.bootindex is not None), key=lambda d: d.bootindex or 0)
    connected = indexed or sorted(devices, key=_pci_order)
    found: list[tuple[BootDevice, str, bytes]] = [
        (d, VIRTIO_BLK_DESCRIPTION, pci_device_path(d.slot, d.function, d.root_port))
        for d in connected
        if d.model == "virtio-blk-pci"
    ]
    if network:
        found += [
            (d, text, path)
            for d in connected
            if d.model == "virtio-net-pci"
            for text, path in _nic_options(d)
        ]
    marker = guid_bytes(AUTO_CREATED_OPTION_GUID)
    variables = dict(fixed)
    order = list(range(len(fixed)))
    owners: dict[int, BootDevice] = {}
    for (device, _text, path), text in zip(found, _unique([t for _d, t, _p in found]), strict=True):
        number = len(order)
        variables[f"Boot{number:04X}"] = boot_option(LOAD_OPTION_ACTIVE, text, path, marker)
        order.append(number)
        owners[number] = device
    if facts.shell:
        number = len(order)
        variables[f"Boot{number:04X}"] = boot_option(
            SHELL_ATTRIBUTES[ovmf],
            SHELL_DESCRIPTION,
            fv_file_device_path(SHELL_FILE_GUID),
        )
        order.append(number)
    if indexed and owners:  # SetBootOrderFromQemu: a match was found
        matched = [n for d in indexed for n in order if owners.get(n) is d]
        order = matched + [n for n in order if n not in owners]
    boot_order = struct.pack(f"<{len(order)}H", *order)
    return (("BootOrder", boot_order), *((f"Boot{n:04X}", variables[f"Boot{n:04X}"]) for n in order))
