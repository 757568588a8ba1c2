"""``measure --vendor tdx --rtmr`` options for a disk boot through shim and GRUB (docs/tdx-measure.md).

``--disk-image`` selects the disk boot: the GPT event and the filesystem UUIDs come from the image;
shim and GRUB are given as EFI binaries or Authenticode digests; GRUB's first configuration as a
file, the files it reads next by the path GRUB names them (``--grub-file``, ``--grub-file-sha384``);
the kernel and initrd GRUB loads with ``--kernel`` / ``--initrd``.
"""

from __future__ import annotations

import argparse

from pvmkit.cli._common import UsageError, map_file, parse_digest, read_file
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
    for opt in ("grub_cfg", "sbat_level"):
        if not getattr(args, opt):
            raise UsageError(f"--disk-image needs --{opt.replace('_', '-')}")


def disk_boot_events(args: argparse.Namespace) -> tuple[PlannedEvent, ...] | None:
    """The disk boot's events, or None without ``--disk-image``."""
    disk_opts = ("shim_efi", "shim_authenticode", "boot_loader", "boot_loader_authenticode", "grub_cfg")
    if not args.disk_image:
        given = [o for o in disk_opts if getattr(args, o)] + (["grub_file"] if args.grub_file else [])
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} needs --disk-image")
        return None
    _check(args)
    from pvmkit.formats.gpt import read_gpt
    from pvmkit.vendors.tdx.grub import GrubFiles, follow_grub_cfg
    from pvmkit.vendors.tdx.shim_grub import PeImage, ShimGrubBoot, shim_grub_events

    disk = read_gpt(args.disk_image)
    esp = disk.esp()
    shim_path, shim_digest = _one(args, "shim_efi", "shim_authenticode")
    grub_path, grub_digest = _one(args, "boot_loader", "boot_loader_authenticode")
    if shim_path is None and shim_digest is None:
        raise UsageError("--disk-image needs --shim-efi or --shim-authenticode")
    if grub_path is None and grub_digest is None:
        raise UsageError("--disk-image needs --boot-loader or --boot-loader-authenticode")
    contents = {p: read_file(f, "a GRUB file") for p, f in _pairs(args.grub_file, "--grub-file").items()}
    digests = {
        p: parse_digest(h, 48, "--grub-file-sha384")
        for p, h in _pairs(args.grub_file_sha384, "--grub-file-sha384").items()
    }
    files = GrubFiles(
        contents=contents,
        digests=digests,
        kernel=map_file(args.kernel, "a kernel") if args.kernel else None,
        initrd=map_file(args.initrd, "an initrd") if args.initrd else None,
    )
    try:
        grub = follow_grub_cfg(
            read_file(args.grub_cfg, "a grub.cfg"),
            f"(hd0,gpt{esp.number})/EFI/BOOT/grub.cfg",
            files=files,
            fs_devices={u: f"hd0,gpt{n}" for u, n in disk.fs_uuids.items()},
            config_source=contents.get,
        )
    except InputError as exc:
        raise InputError(f"--grub-cfg {args.grub_cfg}: {exc}") from None
    if grub.stopped_at is not None:
        raise InputError(
            f"GRUB reads {grub.stopped_at} next: give its contents with --grub-file (only its digest "
            "was given, and pvmkit cannot predict the commands it runs)"
        )
    boot = ShimGrubBoot(
        gpt_event_data=disk.gpt_event_data(),
        shim=PeImage("shim", "\\EFI\\BOOT\\BOOTX64.EFI", _image(shim_path, "shim"), shim_digest),
        grub=PeImage("GRUB", "\\EFI\\BOOT\\grubx64.efi", _image(grub_path, "GRUB"), grub_digest),
        mok=_mok(args),
        grub_events=grub.events,
    )
    return tuple(shim_grub_events(boot))


def _mok(args: argparse.Namespace) -> Any:
    from pvmkit.vendors.tdx.shim_grub import MokState

    mok_path, mok_digest = _one(args, "mok_list", "mok_list_sha384")
    mokx_path, mokx_digest = _one(args, "mok_list_x", "mok_list_x_sha384")
    return MokState(
        sbat_level=read_file(args.sbat_level, "an SbatLevel"),
        mok_list=read_file(mok_path, "a MokList") if mok_path else None,
        mok_list_digest=mok_digest,
        mok_list_x=read_file(mokx_path, "a MokListX") if mokx_path else None,
        mok_list_x_digest=mokx_digest,
        mok_list_trusted_authority=args.mok_list_trusted_authority,
    )


def _image(path: str | None, what: str) -> Any:
    return map_file(path, f"a {what} EFI binary") if path else None
