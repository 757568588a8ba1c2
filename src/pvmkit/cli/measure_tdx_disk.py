"""``measure --vendor tdx --rtmr`` options for a disk boot through shim and GRUB (docs/tdx-measure.md).

``--disk-image`` selects the disk boot: the GPT event and the filesystem UUIDs come from the image;
shim and GRUB are given as EFI binaries or Authenticode digests; GRUB's first configuration as a
file, the files it reads next by the path GRUB names them (``--grub-file``, ``--grub-file-sha384``);
the kernel and initrd GRUB loads with ``--kernel`` / ``--initrd``.
"""

from __future__ import annotations

import argparse

from pvmkit.cli._common import MAX_DISK, UsageError, map_file, parse_digest, read_file
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.vendors.tdx.eventlog_plan import PlannedEvent

__all__ = ["add_disk_boot_options", "disk_boot_events"]

#: options that describe a -kernel boot and mean nothing for a disk boot
_DIRECT_ONLY = ("kernel_authenticode", "load_options_sha384", "initrd_sha384", "cmdline", "shim")


def add_disk_boot_options(g: Any) -> None:
    g.add_argument("--disk-image", metavar="FILE", help="raw disk image booted through shim and GRUB (GPT)")
    g.add_argument("--shim-efi", metavar="FILE", help="shim EFI binary the firmware starts (BOOTX64.EFI)")
    g.add_argument(
        "--shim-authenticode", metavar="HEX", help="instead of --shim-efi: its Authenticode SHA-384"
    )
    g.add_argument(
        "--boot-loader",
        metavar="FILE",
        help="GRUB EFI binary shim starts (grubx64.efi), or systemd-boot (with --uki); told apart by "
        "systemd-boot's .sdmagic section",
    )
    g.add_argument(
        "--boot-loader-authenticode", metavar="HEX", help="instead of --boot-loader: its Authenticode SHA-384"
    )
    g.add_argument("--grub-cfg", metavar="FILE", help="the first grub.cfg GRUB reads (on the ESP)")
    g.add_argument(
        "--grub-file",
        action="append",
        default=[],
        metavar="PATH=FILE",
        help="a file GRUB reads, by the path GRUB names it, e.g. '(hd0,gpt1)/boot/grub/grub.cfg=grub.cfg'",
    )
    g.add_argument(
        "--grub-file-sha384", action="append", default=[], metavar="PATH=HEX", help="or only its SHA-384"
    )
    g.add_argument("--sbat-level", metavar="FILE", help="the SbatLevel variable shim applies (its bytes)")
    g.add_argument("--mok-list", metavar="FILE", help="MokList as shim mirrors it (MokListRT bytes)")
    g.add_argument("--mok-list-sha384", metavar="HEX", help="or its SHA-384")
    g.add_argument("--mok-list-x", metavar="FILE", help="MokListX as shim mirrors it (MokListXRT bytes)")
    g.add_argument("--mok-list-x-sha384", metavar="HEX", help="or its SHA-384")
    g.add_argument(
        "--mok-list-trusted-authority",
        action="store_true",
        help="this shim also logs MokListTrusted as an RTMR0 authority event (as the GCE log's shim does)",
    )


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        path, eq, value = item.rpartition("=")
        if not eq or not path or not value:
            raise UsageError(f"{option} takes PATH=VALUE, got {item!r}")
        out[path] = value
    return out


def _one(args: argparse.Namespace, file_opt: str, digest_opt: str) -> tuple[str | None, bytes | None]:
    path, text = getattr(args, file_opt), getattr(args, digest_opt)
    name, dname = "--" + file_opt.replace("_", "-"), "--" + digest_opt.replace("_", "-")
    if path and text:
        raise UsageError(f"give {name} or {dname}, not both")
    return path, parse_digest(text, 48, dname) if text else None


def _check(args: argparse.Namespace) -> None:
    misused = [o for o in _DIRECT_ONLY if getattr(args, o)]
    if misused:
        opt = "--" + misused[0].replace("_", "-")
        raise UsageError(
            f"{opt} describes a -kernel boot; with --disk-image the kernel is the one GRUB loads"
        )


def disk_boot_events(args: argparse.Namespace) -> tuple[PlannedEvent, ...] | None:
    """The disk boot's events, or None without ``--disk-image``."""
    disk_opts = ("shim_efi", "shim_authenticode", "boot_loader", "boot_loader_authenticode", "grub_cfg")
    esp_tree = getattr(args, "esp_tree", None)  # --esp DIR with shim (measure_tdx_uki.read_esp)
    if not args.disk_image:
        given = [o for o in disk_opts if getattr(args, o)] + (["grub_file"] if args.grub_file else [])
        if esp_tree is not None:
            raise UsageError("--esp with shim needs --disk-image (its GPT and the filesystems GRUB reads)")
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} needs --disk-image")
        return None
    _check(args)
    from pvmkit.formats.gpt import read_gpt
    from pvmkit.vendors.tdx.disk_files import DiskFiles
    from pvmkit.vendors.tdx.shim_grub import ShimGrubBoot, shim_grub_events

    shim_given, grub_given = (
        _one(args, "shim_efi", "shim_authenticode"),
        _one(args, "boot_loader", "boot_loader_authenticode"),
    )
    digests = {
        p: parse_digest(h, 48, "--grub-file-sha384")
        for p, h in _pairs(args.grub_file_sha384, "--grub-file-sha384").items()
    }
    grub_files = _pairs(args.grub_file, "--grub-file")
    disk = read_gpt(args.disk_image)
    files = DiskFiles(map_file(args.disk_image, "a disk image", MAX_DISK), disk, esp_tree)
    explicit = all(x != (None, None) for x in (shim_given, grub_given)) and bool(args.grub_cfg)
    esp_number, esp = _esp(files, explicit)
    chain = _chain(esp)
    shim = _pe("shim", chain.shim, shim_given, esp)
    grub = _pe("GRUB", chain.grub, grub_given, esp)
    fallback = _pe("fallback", chain.fallback, (None, None), esp) if chain.fallback else None
    contents = {p: read_file(f, "a GRUB file") for p, f in grub_files.items()}
    grub_events = _grub_events(
        args, files, (esp_number, esp is not None), chain.grub, grub, contents, digests
    )
    boot = ShimGrubBoot(
        gpt_event_data=disk.gpt_event_data(),
        shim=shim,
        grub=grub,
        mok=_mok(args, shim),
        grub_events=grub_events,
        fallback=fallback,
        vendor_shim_path=chain.vendor_shim or "",
    )
    return tuple(shim_grub_events(boot))


def _esp(files: Any, explicit: bool) -> tuple[int, Any]:
    """The ESP's number and filesystem; None for the filesystem when shim, GRUB and grub.cfg are all
    given and the ESP cannot be read (the image then gives only its GPT and filesystem UUIDs)."""
    from pvmkit.errors import FormatError

    number = files.disk.esp().number
    try:
        esp: tuple[int, Any] = files.esp()
    except FormatError as exc:
        if explicit:
            return number, None
        raise InputError(
            f"the EFI system partition {number} of the disk image cannot be read ({exc}); "
            "give --shim-efi, --boot-loader and --grub-cfg"
        ) from None
    return esp


def _chain(esp: Any) -> Any:
    from pvmkit.vendors.tdx.esp_layout import REMOVABLE_PATH, EspBootChain, esp_boot_chain

    if esp is None:
        return EspBootChain(REMOVABLE_PATH, "\\EFI\\BOOT\\grubx64.efi")
    return esp_boot_chain(esp)


def _pe(what: str, path: str, given: tuple[str | None, bytes | None], esp: Any) -> Any:
    """The EFI binary at ``path`` on the ESP, unless given as a file or digest (which win)."""
    from pvmkit.vendors.tdx.shim_grub import PeImage

    file, digest = given
    if file is not None:
        return PeImage(what, path, _image(file, what), None)
    if digest is not None:
        return PeImage(what, path, None, digest)
    return PeImage(what, path, esp.read(path), None)


def _grub_events(
    args: argparse.Namespace,
    files: Any,
    esp: tuple[int, bool],
    grub_path: str,
    grub: Any,
    contents: dict[str, bytes],
    digests: dict[str, bytes],
) -> tuple[PlannedEvent, ...]:
    from pvmkit.vendors.tdx.grub import GrubFiles, follow_grub_cfg

    esp_number, esp_readable = esp
    device = f"hd0,gpt{esp_number}"
    cfg_path, cfg, env, info = _first_config(args, files, grub, grub_path, device)
    grub_files = GrubFiles(
        contents=contents,
        digests=digests,
        kernel=map_file(args.kernel, "a kernel") if args.kernel else None,
        initrd=map_file(args.initrd, "an initrd") if args.initrd else None,
        source=files.grub_file if esp_readable else None,
        probe=files.grub_probe if esp_readable else None,
        modules=info.modules if info is not None else None,
    )
    try:
        follow = follow_grub_cfg(
            cfg,
            cfg_path,
            files=grub_files,
            fs_devices={u: f"hd0,gpt{n}" for u, n in files.disk.fs_uuids.items()},
            config_source=contents.get,
            env=env,
        )
    except InputError as exc:
        raise InputError(f"{args.grub_cfg or cfg_path}: {exc}") from None
    if follow.stopped_at is not None:
        raise InputError(
            f"GRUB reads {follow.stopped_at} next: give its contents with --grub-file (only its digest "
            "was given, and pvmkit cannot predict the commands it runs)"
        )
    return follow.events


def _first_config(
    args: argparse.Namespace, files: Any, grub: Any, grub_path: str, device: str
) -> tuple[str, bytes, dict[str, str], Any]:
    """The configuration GRUB's normal mode reads first (its path and bytes) and GRUB's variables then:
    ``$prefix/grub.cfg``, or the file an embedded ``normal FILE`` names (on GRUB's memdisk); and what
    GRUB's image embeds (None when GRUB is given as a digest)."""
    from pvmkit.formats.fat import open_fat
    from pvmkit.vendors.tdx.esp_layout import grub_image_info, grub_prefix

    info = grub_image_info(grub.image) if grub.image is not None else None
    prefix = grub_prefix(info, grub_path, device)
    cmdpath = f"({device}){grub_path.rsplit(chr(92), 1)[0].replace(chr(92), '/')}"
    cfg_path = f"{prefix}/grub.cfg"
    embedded = info.normal_config() if info is not None else None
    if embedded is not None:
        cfg_path = embedded
        if info is not None and info.memdisk is not None:
            files.add_device("memdisk", open_fat(info.memdisk, "GRUB's memdisk"))
    if args.grub_cfg:
        cfg = read_file(args.grub_cfg, "a grub.cfg")
    else:
        found = files.grub_file(cfg_path)
        if found is None:
            raise InputError(f"GRUB reads {cfg_path} first, and the disk image has no such file")
        cfg = found
    return cfg_path, cfg, {"root": device, "prefix": prefix, "cmdpath": cmdpath}, info


def _mok(args: argparse.Namespace, shim: Any) -> Any:
    from pvmkit.vendors.tdx.esp_layout import shim_sbat_level
    from pvmkit.vendors.tdx.shim_grub import MokState

    sbat: bytes | None
    if args.sbat_level:
        sbat = read_file(args.sbat_level, "an SbatLevel")
    else:
        sbat = shim_sbat_level(shim.image) if shim.image is not None else None
        if sbat is None:
            raise InputError(
                "--disk-image needs --sbat-level: shim is given as a digest or has no .sbatlevel section"
            )

    mok_path, mok_digest = _one(args, "mok_list", "mok_list_sha384")
    mokx_path, mokx_digest = _one(args, "mok_list_x", "mok_list_x_sha384")
    return MokState(
        sbat_level=sbat,
        mok_list=read_file(mok_path, "a MokList") if mok_path else None,
        mok_list_digest=mok_digest,
        mok_list_x=read_file(mokx_path, "a MokListX") if mokx_path else None,
        mok_list_x_digest=mokx_digest,
        mok_list_trusted_authority=args.mok_list_trusted_authority,
    )


def _image(path: str | None, what: str) -> Any:
    return map_file(path, f"a {what} EFI binary") if path else None
