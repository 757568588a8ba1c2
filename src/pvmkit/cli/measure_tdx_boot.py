"""RTMR0's fw_cfg items and boot variables for ``measure --vendor tdx --rtmr`` (docs/tdx-measure.md,
"Boot variables and bootorder from the launch").

OVMF ≥ stable202505 measures QEMU's ``BootMenu`` and ``bootorder`` fw_cfg items, and every OVMF
measures ``BootOrder`` and the ``Boot####`` variables its boot manager made. Where each comes from,
in order of precedence:

* given: ``--fw-cfg NAME=FILE`` / ``--boot-var NAME=FILE`` replace everything below;
* ``--qemu-binary``: the fw_cfg items that QEMU serves for the launch of ``--qemu-args`` (with the
  ``-kernel`` entry first for a direct boot, :func:`~pvmkit.vendors.tdx.qemu_bootorder.with_kernel_entry`);
* the launch (the generator's ``--qemu-args``, default dstack's): QEMU's rules for its devices
  (:mod:`pvmkit.vendors.tdx.qemu_bootorder`); for a ``-kernel``, disk, UKI or ESP boot the boot
  variables from OVMF's rules for the launch's boot devices
  (:func:`pvmkit.vendors.tdx.ovmf_boot_options.boot_variables`);
* no launch (ACPI captures): QEMU's defaults of a plain ``-kernel`` boot; a ``-kernel`` boot's boot
  variables from the same model (the image's fixed entries, whatever the devices), none for a disk
  boot (RTMR0 unknown).

A launch the boot-option model does not cover leaves the boot variables unknown, with the model's
reason as the note beside the null RTMR0 (the other registers are still predicted); a launch QEMU
itself would refuse (``-kernel`` beside a device with ``bootindex=0``) is an error.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pvmkit.vendors.tdx.boot_devices import BootDevice

__all__ = ["BootInputs", "LaunchBoot", "boot_inputs"]

_NO_LAUNCH = (
    "a disk boot's Boot#### and fw_cfg bootorder name the disk: describe the launch (--vcpus or "
    "--qemu-binary with --qemu-args) or give --boot-var and --fw-cfg"
)

#: Without a boot path RTMR0 is not one value: the boot variables (a -kernel boot's fixed entries, or
#: the options of the devices OVMF connects), QEMU's bootorder (the -kernel entry) and, with Secure
#: Boot, the authority event of the image booted all depend on it.
_NO_BOOT_PATH = (
    "the boot path decides RTMR0's boot variables, QEMU's bootorder and the Secure Boot authority: "
    "give a kernel (--kernel, direct boot), a UKI (--uki, --esp), a disk image (--disk-image), "
    "or their digests"
)


@dataclass(frozen=True)
class LaunchBoot:
    """What the launch says about booting: its boot devices (None where they are unknown, ``note``
    says why) and, from a ``--qemu-binary``, the fw_cfg items that QEMU served."""

    devices: tuple[BootDevice, ...] | None
    note: str = ""
    qemu_fw_cfg: dict[str, bytes] | None = None  #: ``bootorder`` and ``BootMenu`` as QEMU served them


@dataclass(frozen=True)
class BootInputs:
    """The RtmrInputs fields of this part, and where they came from (for the JSON document)."""

    fw_cfg: tuple[tuple[str, bytes], ...] | None
    boot_variables: tuple[tuple[str, bytes], ...] | None
    boot_variables_note: str | None
    fw_cfg_source: str  #: ``given``, ``qemu``, ``launch`` or ``default``
    boot_variables_source: str | None  #: ``given``, ``generated``, ``default`` or None (unknown)


def boot_inputs(
    args: argparse.Namespace,
    given_fw_cfg: tuple[tuple[str, bytes], ...] | None,
    given_boot_variables: tuple[tuple[str, bytes], ...] | None,
    launch: LaunchBoot | None,
    *,
    ovmf: tuple[int, int],
    firmware: bytes,
    direct_boot: bool,
    disk_boot: bool,
) -> BootInputs:
    """The fw_cfg items and boot variables of one shape (module docstring)."""
    fw_cfg, fw_cfg_source = _fw_cfg(given_fw_cfg, launch, direct_boot)
    if given_boot_variables is not None:
        return BootInputs(fw_cfg, given_boot_variables, None, fw_cfg_source, "given")
    devices = launch.devices if launch is not None else None
    if direct_boot and devices is None:
        devices = ()  # a -kernel boot's variables are the image's fixed entries, whatever the devices
    if not (disk_boot or direct_boot):  # no boot path: RTMR0 depends on it (_NO_BOOT_PATH)
        return BootInputs(fw_cfg, None, _NO_BOOT_PATH, fw_cfg_source, None)
    if devices is None:
        note = launch.note if launch is not None else _NO_LAUNCH
        return BootInputs(fw_cfg, None, note, fw_cfg_source, None)
    from pvmkit.vendors.tdx.ovmf_boot_options import boot_variables

    roms = [d for d in devices if d.option_rom]
    if disk_boot and roms:
        return BootInputs(fw_cfg, None, _option_rom_note(roms[0]), fw_cfg_source, None)
    try:
        generated = boot_variables(ovmf, firmware, devices, direct_boot=direct_boot)
    except InputError as e:
        return BootInputs(fw_cfg, None, f"boot variables of this launch: {e}", fw_cfg_source, None)
    return BootInputs(fw_cfg, generated, None, fw_cfg_source, "generated")


def _option_rom_note(device: BootDevice) -> str:
    """Why a disk boot beside a PCI option ROM is not modelled: the ROM's EFI driver (iPXE in QEMU's
    efi-virtio.rom) can make boot options of its own, which OVMF's boot-option model does not cover
    (ovmf_boot_options: "the launch reader must refuse them")."""
    return (
        f"the {device.model} at {device.slot:02x}.{device.function} has a PCI option ROM (QEMU's default "
        "unless romfile= is given empty), whose driver can add boot options: not modelled; give it "
        "romfile= or give --boot-var and --fw-cfg"
    )


def _fw_cfg(
    given: tuple[tuple[str, bytes], ...] | None, launch: LaunchBoot | None, direct_boot: bool
) -> tuple[tuple[tuple[str, bytes], ...] | None, str]:
    if given is not None:
        return given, "given"
    if launch is not None and launch.qemu_fw_cfg is not None:
        from pvmkit.vendors.tdx.qemu_bootorder import with_kernel_entry

        served = launch.qemu_fw_cfg
        bootorder = served.get("bootorder", b"")
        if direct_boot:
            bootorder = with_kernel_entry(bootorder)
        return (("BootMenu", served.get("BootMenu", bytes(2))), ("bootorder", bootorder)), "qemu"
    if launch is not None and launch.devices is not None:
        from pvmkit.vendors.tdx.qemu_bootorder import launch_fw_cfg

        return launch_fw_cfg(launch.devices, direct_boot=direct_boot), "launch"
    return None, "default"
