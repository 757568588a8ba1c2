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
from dataclasses import dataclass
from pathlib import Path

from pvmkit.cli._common import UsageError, map_file
from pvmkit.cli.measure_tdx_disk import disk_boot_events
from pvmkit.cli.measure_tdx_uki_digests import uki_digest_events_from_args
from pvmkit.errors import FormatError, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.formats.fsview import FileTree
    from pvmkit.plan import ByteData
    from pvmkit.vendors.tdx.eventlog_plan import PlannedEvent

__all__ = ["add_uki_options", "boot_path_events"]

#: options of the shim + GRUB path that mean nothing for a UKI boot
_DISK_ONLY = ("shim_efi", "shim_authenticode", "boot_loader_authenticode", "grub_cfg", "sbat_level")
_REMOVABLE = "EFI/BOOT/BOOTX64.EFI"
#: what systemd-boot or systemd-stub would load or pack from the ESP besides the UKI (not modelled)
_UNMODELLED = (
    ("EFI/systemd/drivers", "systemd-boot's EFI drivers"),
    ("loader/addons", "systemd-stub's global PE add-ons"),
    ("loader/credentials", "systemd-stub's global credentials"),
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


def _loader_info(path: str, what: str) -> tuple[str, str] | None:
    from pvmkit.vendors.tdx.uki import loader_info

    return loader_info(map_file(path, what), what)


@dataclass(frozen=True)
class _UkiFiles:
    """The UKI boot's files, from options or read off an ESP (a directory or the disk image's FAT)."""

    uki: ByteData
    uki_name: str  #: for messages
    uki_path: str = "\\EFI\\Linux\\linux.efi"  #: ESP path (event data only)
    loader: ByteData | None = None


def _nonempty_dir(tree: FileTree[Any], path: str) -> bool:
    return tree.is_dir(path) and bool(tree.listdir(path))


def _listed(tree: FileTree[Any], directory: str, suffix: str) -> list[str]:
    names = tree.listdir(directory) if tree.is_dir(directory) else []
    return [n for n in names if n.lower().endswith(suffix)]


@dataclass(frozen=True)
class _Type1Files:
    """A type #1 loader entry and the files it names, read off the ESP."""

    loader: ByteData
    entry: Any  #: pvmkit.vendors.tdx.loader_entry.LoaderEntry
    kernel: bytes
    initrds: tuple[bytes, ...]


def _type1(tree: FileTree[Any], bootx64: bytes, name: str) -> _Type1Files:
    from pvmkit.vendors.tdx.loader_entry import parse_loader_entry

    where = f"{tree.label}: loader/entries/{name}"
    entry = parse_loader_entry(tree.read("loader/entries/" + name), where)
    files = []
    assert entry.linux is not None  # parse_loader_entry refuses an entry without one
    for path in (entry.linux, *entry.initrds):
        if not tree.is_file(path):
            raise InputError(f"{where}: {path} is not on the ESP")
        files.append(tree.read(path))
    return _Type1Files(bootx64, entry, files[0], tuple(files[1:]))


def _tree_uki(tree: FileTree[Any], uki_option: str | None) -> _UkiFiles | _Type1Files | None:
    """systemd-boot (with the one UKI in EFI/Linux/, or --uki) or a UKI at the ESP's removable path;
    None when it is neither (shim). InputError for what pvmkit cannot follow."""
    if not tree.is_file(_REMOVABLE):
        raise InputError(f"{tree.label}: no EFI/BOOT/BOOTX64.EFI: no boot path pvmkit can follow")
    bootx64 = tree.read(_REMOVABLE)
    from pvmkit.vendors.tdx.uki import loader_info

    info = loader_info(bootx64, "EFI/BOOT/BOOTX64.EFI")
    program = info[0] if info else None
    if program == "systemd-stub":
        if uki_option:
            raise UsageError(f"{tree.label}: EFI/BOOT/BOOTX64.EFI is a UKI itself: drop --uki")
        return _UkiFiles(bootx64, f"{tree.label}: EFI/BOOT/BOOTX64.EFI", "\\EFI\\BOOT\\BOOTX64.EFI")
    if program != "systemd-boot":
        return None
    for relative, what in _UNMODELLED:
        if _nonempty_dir(tree, relative):
            raise InputError(f"{tree.label}: {relative}/ holds {what}, which pvmkit does not model")
    if uki_option:
        uki, name = map_file(uki_option, "a UKI"), Path(uki_option).name
    else:
        names, entries = _listed(tree, "EFI/Linux", ".efi"), _listed(tree, "loader/entries", ".conf")
        if len(names) + len(entries) != 1:
            message = (
                f"{len(names) + len(entries)} boot entries (EFI/Linux/*.efi, loader/entries/*.conf): "
                "pvmkit follows one (give the UKI that boots with --uki)"
            )
            raise InputError(f"{tree.label}: {message}")
        if entries:
            return _type1(tree, bootx64, entries[0])
        name = names[0]
        uki = tree.read("EFI/Linux/" + name)
    if _nonempty_dir(tree, f"EFI/Linux/{name}.extra.d"):
        raise InputError(f"{tree.label}: {name}.extra.d/ holds add-ons, credentials or system extensions")
    where = f"--uki {uki_option}" if uki_option else f"{tree.label}: EFI/Linux/{name}"
    return _UkiFiles(uki, where, "\\EFI\\Linux\\" + name, bootx64)


def _esp_files(args: argparse.Namespace) -> _UkiFiles | _Type1Files | None:
    """``--esp DIR``: the UKI boot's files, or None for shim (whose chain the shim + GRUB boot reads
    from the same directory, pvmkit.vendors.tdx.esp_layout)."""
    from pvmkit.formats.fsview import DirectoryTree

    found_by_esp = ("shim_efi", "boot_loader", "shim_authenticode", "boot_loader_authenticode")
    given = [o for o in found_by_esp if getattr(args, o)]
    if given:
        raise UsageError(f"--esp finds the boot loader itself: drop --{given[0].replace('_', '-')}")
    tree = DirectoryTree(args.esp, f"--esp {args.esp}")
    files = _tree_uki(tree, args.uki)
    if files is None:
        from pvmkit.vendors.tdx.esp_layout import esp_boot_chain

        esp_boot_chain(tree)  # no boot path: one line now, before the disk image is read
        args.esp_tree = tree
    return files


def _disk_files(args: argparse.Namespace) -> _UkiFiles | _Type1Files | None:
    """``--disk-image`` alone: the UKI boot's files when its ESP boots systemd-boot or a UKI."""
    from pvmkit.cli._common import MAX_DISK
    from pvmkit.formats.gpt import read_gpt
    from pvmkit.vendors.tdx.disk_files import DiskFiles

    disk = read_gpt(args.disk_image)
    _number, tree = DiskFiles(map_file(args.disk_image, "a disk image", MAX_DISK), disk).esp()
    if not tree.is_file(_REMOVABLE):
        return None  # the shim + GRUB boot reads the ESP and says what it cannot follow
    return _tree_uki(tree, None)


def _not_misused(args: argparse.Namespace, why: str) -> None:
    misused = [o for o in _DISK_ONLY if getattr(args, o)]
    if misused or args.grub_file or args.grub_file_sha384:
        opt = "--" + (misused[0] if misused else "grub_file").replace("_", "-")
        raise UsageError(f"{opt} describes a shim + GRUB boot, not a systemd-boot boot")
    for opt in ("kernel", "initrd", "kernel_authenticode", "load_options_sha384", "initrd_sha384", "shim"):
        if getattr(args, opt):
            raise UsageError(f"--{opt.replace('_', '-')} describes a -kernel boot; {why}")


def _type1_events(args: argparse.Namespace, files: _Type1Files, linux: tuple[int, int]) -> list[PlannedEvent]:
    from pvmkit.vendors.tdx.loader_entry import Type1Boot, type1_boot_events

    _not_misused(args, "a loader entry names its kernel")
    if args.cmdline:
        raise UsageError("--cmdline: a type #1 loader entry carries its options")
    boot = Type1Boot(files.loader, files.entry, files.kernel, files.initrds, _gpt(args), linux)
    return type1_boot_events(boot)


def _uki_events(
    args: argparse.Namespace, files: _UkiFiles, secure_boot: bool, linux: tuple[int, int]
) -> list[PlannedEvent]:
    from pvmkit.vendors.tdx.uki_boot import UkiBoot, uki_boot_events

    _not_misused(args, "a UKI carries its kernel")
    boot = UkiBoot(
        uki=files.uki,
        uki_path=files.uki_path,
        boot_loader=files.loader,
        gpt_event_data=_gpt(args),
        options=args.cmdline or None,
        secure_boot=secure_boot,
        linux=linux,
    )
    try:
        return uki_boot_events(boot)
    except (InputError, FormatError) as exc:
        raise InputError(f"{files.uki_name}: {exc}") from None


def _gpt(args: argparse.Namespace) -> bytes | None:
    if not args.disk_image:
        return None
    from pvmkit.formats.gpt import read_gpt

    return read_gpt(args.disk_image).gpt_event_data()


def _files(args: argparse.Namespace) -> _UkiFiles | _Type1Files | None:
    """The UKI boot's files from ``--esp``, ``--uki [--boot-loader]`` or a disk image's ESP; None for a
    shim + GRUB or ``-kernel`` boot."""
    if args.esp:
        return _esp_files(args)
    if args.uki:
        loader = map_file(args.boot_loader, "a boot loader") if args.boot_loader else None
        return _UkiFiles(map_file(args.uki, "a UKI"), f"--uki {args.uki}", loader=loader)
    if args.boot_loader:
        info = _loader_info(args.boot_loader, "--boot-loader")
        if info is not None and info[0] == "systemd-boot":
            raise UsageError("--boot-loader is systemd-boot: give the UKI it starts with --uki")
    disk_only = ("shim_efi", "shim_authenticode", "boot_loader", "boot_loader_authenticode", "grub_cfg")
    if args.disk_image and not any(getattr(args, o) for o in disk_only):
        return _disk_files(args)
    return None


def boot_path_events(
    args: argparse.Namespace, firmware: bytes, versions: Any
) -> tuple[PlannedEvent, ...] | None:
    """The events of the boot path the options describe after the firmware's ready-to-boot events
    (UKI or shim + GRUB), or None for a direct ``-kernel`` boot."""
    from pvmkit.vendors.tdx.rtmr import secure_boot_enabled

    if args.uki_authenticode or args.systemd_version:
        gpt = _gpt(args)
        secure_boot = secure_boot_enabled(firmware, args.secure_boot)
        return tuple(uki_digest_events_from_args(args, gpt, secure_boot, versions.linux) or ())
    uki_digest_events_from_args(args, None, False, versions.linux)  # companions without it: usage error
    files = _files(args)
    if files is None:
        return disk_boot_events(args)
    linux = _files_linux(args, files, versions.linux)
    if isinstance(files, _Type1Files):
        return tuple(_type1_events(args, files, linux))
    return tuple(_uki_events(args, files, secure_boot_enabled(firmware, args.secure_boot), linux))


def _files_linux(args: argparse.Namespace, files: _UkiFiles | _Type1Files, assumed: tuple[int, int]) -> Any:
    """The Linux release of the kernel the UKI (``--uki`` or found on the ESP) or the loader entry
    starts (its setup header's version string), where neither --linux-version nor a --kernel file
    fixed one; recorded as ``args.kernel_linux`` for the JSON (``linux_version_source``: ``uki`` for
    ``--uki FILE``, ``esp`` for one found on ``--esp`` or the disk image)."""
    if getattr(args, "linux_version_source", "given") != "default":
        return assumed
    from pvmkit.vendors.tdx.linux_boot import kernel_release
    from pvmkit.vendors.tdx.uki import linux_section

    kernel = linux_section(files.uki) if isinstance(files, _UkiFiles) else files.kernel
    release = kernel_release(kernel) if kernel is not None else None
    if release is None:
        return assumed
    from_esp = bool(args.esp) or not args.uki  # --esp (--uki then names a file on it), or the disk's ESP
    args.kernel_linux, args.linux_version_source = release, "esp" if from_esp else "uki"
    return release
