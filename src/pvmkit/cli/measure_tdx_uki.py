"""``measure --vendor tdx --rtmr`` boot paths from the files a user has: ``--uki`` (a UKI, started by
systemd-boot or by the firmware) and ``--esp DIR`` (the boot path found on an ESP directory), besides
the shim + GRUB disk boot of :mod:`pvmkit.cli.measure_tdx_disk` (docs/tdx-measure.md).

``--boot-loader`` names GRUB or systemd-boot: which one is read from the binary (systemd-boot's
``.sdmagic`` LoaderInfo section); ``--esp`` finds ``EFI/BOOT/BOOTX64.EFI`` and follows it: systemd-boot
(with the one UKI in ``EFI/Linux/``), a UKI itself, or shim (then the shim + GRUB boot reads shim, its
fallback, GRUB and ``grub.cfg`` from the directory by the rules of :mod:`pvmkit.vendors.tdx.esp_layout`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pvmkit.cli._common import UsageError, map_file
from pvmkit.cli.measure_tdx_disk import disk_boot_events
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.vendors.tdx.eventlog_plan import PlannedEvent

__all__ = ["add_uki_options", "boot_path_events"]

#: options of the shim + GRUB path that mean nothing for a UKI boot
_DISK_ONLY = ("shim_efi", "shim_authenticode", "boot_loader_authenticode", "grub_cfg", "sbat_level")
#: what systemd-boot or systemd-stub would load or pack from the ESP besides the UKI (not modelled)
_UNMODELLED = (
    ("EFI/systemd/drivers", "systemd-boot's EFI drivers"),
    ("loader/addons", "systemd-stub's global PE add-ons"),
    ("loader/credentials", "systemd-stub's global credentials"),
    ("loader/entries", "type #1 loader entries"),
)


def add_uki_options(g: Any) -> None:
    g.add_argument(
        "--uki",
        metavar="FILE",
        help="unified kernel image (systemd-stub 252, 254 or 257) started by systemd-boot "
        "(--boot-loader) or, without one, by the firmware as EFI/BOOT/BOOTX64.EFI; --cmdline: options it "
        "is started with",
    )
    g.add_argument(
        "--esp",
        metavar="DIR",
        help="EFI system partition (a directory): follow EFI/BOOT/BOOTX64.EFI (systemd-boot with the UKI "
        "in EFI/Linux/, a UKI, or shim with grubx64.efi and grub.cfg)",
    )


def _find(root: Path, relative: str) -> Path | None:
    """``relative`` under ``root``, each component matched without regard to case (FAT)."""
    here = root
    for part in relative.split("/"):
        if not here.is_dir():
            return None
        match = [p for p in here.iterdir() if p.name.lower() == part.lower()]
        if not match:
            return None
        here = match[0]
    return here


def _loader_info(path: Path, what: str) -> tuple[str, str] | None:
    from pvmkit.vendors.tdx.uki import loader_info

    return loader_info(map_file(str(path), what), what)


def _esp_uki(args: argparse.Namespace, esp: Path, bootx64: Path) -> None:
    """systemd-boot at the removable path: the one UKI in EFI/Linux/ (or --uki)."""
    for relative, what in _UNMODELLED:
        found = _find(esp, relative)
        if found is not None and any(found.iterdir()):
            raise InputError(f"--esp {esp}: {relative}/ holds {what}, which pvmkit does not model")
    if not args.uki:
        linux = _find(esp, "EFI/Linux")
        ukis = sorted(p for p in linux.iterdir() if p.suffix.lower() == ".efi") if linux else []
        if len(ukis) != 1:
            message = f"{len(ukis)} UKIs in EFI/Linux/: give the one that boots with --uki"
            raise InputError(f"--esp {esp}: {message}")
        args.uki = str(ukis[0])
    extra = Path(args.uki).parent / (Path(args.uki).name + ".extra.d")
    if extra.is_dir() and any(extra.iterdir()):
        raise InputError(f"--esp {esp}: {extra.name}/ holds add-ons, credentials or system extensions")
    args.uki_path = "\\EFI\\Linux\\" + Path(args.uki).name
    args.boot_loader = str(bootx64)


def _esp_shim(args: argparse.Namespace, esp: Path) -> None:
    """shim at the removable path: the shim + GRUB boot reads its files from this directory through the
    same layout rules as from a disk image's FAT ESP (pvmkit.vendors.tdx.esp_layout)."""
    from pvmkit.formats.fsview import DirectoryTree
    from pvmkit.vendors.tdx.esp_layout import esp_boot_chain

    tree = DirectoryTree(esp, f"--esp {esp}")
    esp_boot_chain(tree)  # no boot path: one line now, before the disk image is read
    args.esp_tree = tree


def read_esp(args: argparse.Namespace) -> None:
    """Fill the boot-path options from ``--esp``."""
    esp = Path(args.esp)
    if not esp.is_dir():
        raise InputError(f"--esp {esp}: not a directory")
    found_by_esp = ("shim_efi", "boot_loader", "shim_authenticode", "boot_loader_authenticode")
    given = [o for o in found_by_esp if getattr(args, o)]
    if given:
        raise UsageError(f"--esp finds the boot loader itself: drop --{given[0].replace('_', '-')}")
    bootx64 = _find(esp, "EFI/BOOT/BOOTX64.EFI")
    if bootx64 is None:
        raise InputError(f"--esp {esp}: no EFI/BOOT/BOOTX64.EFI: no boot path pvmkit can follow")
    info = _loader_info(bootx64, "EFI/BOOT/BOOTX64.EFI")
    program = info[0] if info else None
    if program == "systemd-boot":
        _esp_uki(args, esp, bootx64)
    elif program == "systemd-stub":
        if args.uki:
            raise UsageError("--esp: EFI/BOOT/BOOTX64.EFI is a UKI itself: drop --uki")
        args.uki = str(bootx64)
    else:
        _esp_shim(args, esp)


def _uki_events(args: argparse.Namespace, secure_boot: bool, linux: tuple[int, int]) -> list[PlannedEvent]:
    from pvmkit.vendors.tdx.uki_boot import UkiBoot, uki_boot_events

    misused = [o for o in _DISK_ONLY if getattr(args, o)]
    if misused or args.grub_file or args.grub_file_sha384:
        opt = "--" + (misused[0] if misused else "grub_file").replace("_", "-")
        raise UsageError(f"{opt} describes a shim + GRUB boot, not a UKI boot")
    for opt in ("kernel", "initrd", "kernel_authenticode", "load_options_sha384", "initrd_sha384", "shim"):
        if getattr(args, opt):
            raise UsageError(f"--{opt.replace('_', '-')} describes a -kernel boot; a UKI carries its kernel")
    gpt = None
    if args.disk_image:
        from pvmkit.formats.gpt import read_gpt

        gpt = read_gpt(args.disk_image).gpt_event_data()
    boot = UkiBoot(
        uki=map_file(args.uki, "a UKI"),
        uki_path=getattr(args, "uki_path", "\\EFI\\Linux\\linux.efi"),
        boot_loader=map_file(args.boot_loader, "a boot loader") if args.boot_loader else None,
        gpt_event_data=gpt,
        options=args.cmdline or None,
        secure_boot=secure_boot,
        linux=linux,
    )
    try:
        return uki_boot_events(boot)
    except InputError as exc:
        raise InputError(f"--uki {args.uki}: {exc}") from None


def boot_path_events(
    args: argparse.Namespace, firmware: bytes, versions: Any
) -> tuple[PlannedEvent, ...] | None:
    """The events of the boot path the options describe after the firmware's ready-to-boot events
    (UKI or shim + GRUB), or None for a direct ``-kernel`` boot."""
    if args.esp:
        read_esp(args)
    if args.boot_loader and not args.uki:
        info = _loader_info(Path(args.boot_loader), "--boot-loader")
        if info is not None and info[0] == "systemd-boot":
            raise UsageError("--boot-loader is systemd-boot: give the UKI it starts with --uki")
    if not args.uki:
        return disk_boot_events(args)
    from pvmkit.vendors.tdx.rtmr import secure_boot_enabled

    return tuple(_uki_events(args, secure_boot_enabled(firmware, args.secure_boot), versions.linux))
