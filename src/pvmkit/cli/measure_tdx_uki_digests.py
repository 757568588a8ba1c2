"""``measure --vendor tdx --rtmr --uki-authenticode HEX --systemd-version V ...``: a UKI boot from
digests only (:mod:`pvmkit.vendors.tdx.uki_digests`; docs/tdx-measure.md), for pipelines that publish
hashes instead of files."""

from __future__ import annotations

import argparse

from pvmkit.cli._common import UsageError, parse_digest, parse_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.vendors.tdx.eventlog_plan import PlannedEvent

__all__ = ["add_uki_digest_options", "uki_digest_events_from_args"]

_DIGESTS = ("uki_linux_authenticode", "uki_load_options_sha384", "uki_initrd_sha384")
#: options that describe files or another boot path, refused with --uki-authenticode
_OTHERS = (
    "uki", "esp", "kernel", "initrd", "kernel_authenticode", "load_options_sha384", "initrd_sha384",
    "shim", "shim_efi", "shim_authenticode", "boot_loader", "grub_cfg", "sbat_level", "cmdline",
)  # fmt: skip


def add_uki_digest_options(g: Any) -> None:
    g.add_argument(
        "--uki-authenticode",
        metavar="HEX",
        help="instead of --uki: the UKI's Authenticode SHA-384 (with --systemd-version; "
        "--boot-loader-authenticode: systemd-boot's)",
    )
    g.add_argument(
        "--systemd-version", metavar="V", help="the UKI's systemd-stub release: 252, 254 or 257 (1-100000)"
    )
    g.add_argument(
        "--uki-linux-authenticode",
        metavar="HEX",
        help="Authenticode SHA-384 of the UKI's .linux (measured only without Secure Boot)",
    )
    g.add_argument(
        "--uki-section-sha384",
        metavar="NAME=HEX",
        action="append",
        default=[],
        help="SHA-384 of a UKI section's data, e.g. .linux=HEX (systemd 257 measures them; every one)",
    )
    g.add_argument(
        "--uki-load-options-sha384", metavar="HEX", help="SHA-384 of the LoadOptions the kernel measures"
    )
    g.add_argument("--uki-initrd-sha384", metavar="HEX", help="SHA-384 of the initrd the kernel measures")


def _digest(args: argparse.Namespace, name: str) -> bytes | None:
    text = getattr(args, name)
    return parse_digest(text, 48, "--" + name.replace("_", "-")) if text else None


def _sections(items: list[str]) -> tuple[tuple[str, bytes], ...] | None:
    if not items:
        return None
    out = []
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.startswith("."):
            raise UsageError(
                f"--uki-section-sha384 takes NAME=HEX with NAME a section (.linux), got {item!r}"
            )
        out.append((name, parse_digest(text, 48, "--uki-section-sha384")))
    return tuple(out)


def uki_digest_events_from_args(
    args: argparse.Namespace, gpt_event_data: bytes | None, secure_boot: bool, linux: tuple[int, int]
) -> list[PlannedEvent] | None:
    """The UKI boot's events from ``--uki-authenticode`` and its companions, or None without it."""
    companions = [n for n in (*_DIGESTS, "systemd_version") if getattr(args, n)]
    if not args.uki_authenticode:
        if companions or args.uki_section_sha384:
            name = companions[0] if companions else "uki_section_sha384"
            raise UsageError(f"--{name.replace('_', '-')} needs --uki-authenticode")
        return None
    others = [n for n in _OTHERS if getattr(args, n)]
    if others:
        raise UsageError(f"--uki-authenticode is the digests-only form: drop --{others[0].replace('_', '-')}")
    if not args.systemd_version:
        raise UsageError("--uki-authenticode needs --systemd-version (the UKI's systemd-stub release)")
    from pvmkit.vendors.tdx.uki_digests import UkiDigests, uki_digest_events

    digests = UkiDigests(
        version=parse_int(args.systemd_version, "--systemd-version", 1, 100000),
        uki_authenticode=parse_digest(args.uki_authenticode, 48, "--uki-authenticode"),
        boot_loader_authenticode=_digest(args, "boot_loader_authenticode"),
        gpt_event_data=gpt_event_data,
        secure_boot=secure_boot,
        linux_authenticode=_digest(args, "uki_linux_authenticode"),
        sections=_sections(args.uki_section_sha384),
        load_options_sha384=_digest(args, "uki_load_options_sha384"),
        initrd_sha384=_digest(args, "uki_initrd_sha384"),
        linux=linux,
    )
    return uki_digest_events(digests)
