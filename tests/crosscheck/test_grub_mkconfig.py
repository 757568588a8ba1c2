"""The GRUB follower on a grub.cfg written by Debian's own grub-mkconfig scripts (bookworm's
grub-common 2.06: ``/etc/grub.d/00_header`` and ``41_custom``, run with the variables grub-mkconfig
exports, against nothing of the host: with ``GRUB_TERMINAL=console`` they probe no device).

``10_linux`` lists the host's ``/boot`` and probes its devices, so the menu entries are written by
hand in the shape it writes (tests/vectors/README.md, "GRUB: a grub.cfg from Debian's grub-mkconfig
scripts"). Expected events: the command texts by GRUB's rules (script/execute.c, test.c, loadenv.c,
normal/menu.c) for the disk state given, hashlib over the files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from pvmkit.vendors.tdx.grub import GrubFiles, follow_grub_cfg
from support.fixtures import missing

pytestmark = pytest.mark.crosscheck

UUID = "0f3e5d2a-6c1b-4f57-9a43-2d8e7b1c9f60"
GRUB = "(hd0,gpt2)/boot/grub"
KERNEL = b"kernel" * 50
INITRD = b"initrd" * 40


def _grub_common() -> Path:
    where = os.environ.get("PVMKIT_GRUB_COMMON")
    if where:
        return Path(where)
    cache = Path(__file__).resolve().parents[2] / ".cache" / "peers" / "grub-common"
    found = sorted(cache.glob("root-*/etc/grub.d/00_header"))
    if not found:
        missing("PVMKIT_GRUB_COMMON not set (./dev test fetches Debian's grub-common)", "under CI")
    return found[-1].parents[2]


def _run_script(root: Path, name: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "pkgdatadir": str(root / "usr" / "share" / "grub"),
        "GRUB_DEFAULT": "0",
        "GRUB_TIMEOUT": "0",
        "GRUB_TIMEOUT_STYLE": "hidden",
        "GRUB_TERMINAL_INPUT": "console",
        "GRUB_TERMINAL_OUTPUT": "console",
        "GRUB_DISTRIBUTOR": "Debian",
    }
    done = subprocess.run(
        ["sh", str(root / "etc" / "grub.d" / name)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _entry(title: str, entry_id: str, version: str) -> str:
    """A menu entry as bookworm's 10_linux writes one (prepare_grub_to_access_device's search hints)."""
    search = "search --no-floppy --fs-uuid --set=root"
    return (
        f"menuentry '{title}' --class debian --class gnu-linux --class gnu --class os "
        f"$menuentry_id_option '{entry_id}' {{\n"
        "\tload_video\n\tinsmod gzio\n"
        "\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi\n"
        "\tinsmod part_gpt\n\tinsmod ext2\n"
        "\tif [ x$feature_platform_search_hint = xy ]; then\n"
        f"\t  {search} --hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2  {UUID}\n"
        "\telse\n"
        f"\t  {search}  {UUID}\n"
        "\tfi\n"
        f"\techo\t'Loading Linux {version} ...'\n"
        f"\tlinux\t/boot/vmlinuz-{version} root=UUID={UUID} ro  quiet\n"
        "\techo\t'Loading initial ramdisk ...'\n"
        f"\tinitrd\t/boot/initrd.img-{version}\n"
        "}\n"
    )


def _sha(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def test_debian_generated_grub_cfg_boots_next_entry_from_grubenv() -> None:
    root = _grub_common()
    entries = _entry("Debian GNU/Linux", f"gnulinux-simple-{UUID}", "6.1.0-18-amd64")
    entries += _entry("Debian GNU/Linux, older", f"gnulinux-6.1.0-17-amd64-advanced-{UUID}", "6.1.0-17-amd64")
    cfg = (_run_script(root, "00_header") + entries + _run_script(root, "41_custom")).encode()
    # grub-reboot's one-time choice: next_entry in grubenv (by the entry's id)
    grubenv = b"# GRUB Environment Block\nnext_entry=gnulinux-6.1.0-17-amd64-advanced-" + UUID.encode()
    grubenv += b"\n"
    grubenv += b"#" * (1024 - len(grubenv))
    disk = {f"{GRUB}/grubenv": grubenv}
    files = GrubFiles(
        kernel=KERNEL,
        initrd=INITRD,
        source=disk.get,
        probe=lambda p: ("file", len(disk[p])) if p in disk else None,
    )
    out = follow_grub_cfg(
        cfg,
        f"{GRUB}/grub.cfg",
        files=files,
        fs_devices={UUID: "hd0,gpt2"},
        env={"root": "hd0,gpt2", "prefix": GRUB},
    )
    older = f"gnulinux-6.1.0-17-amd64-advanced-{UUID}"
    commands = [
        f"[ -s {GRUB}/grubenv ]",
        None,  # -s opens grubenv: measured
        "set have_grubenv=true",
        "load_env",
        None,  # load_env reads it: measured again
        f"[ {older} ]",
        f"set default={older}",
        "set next_entry=",
        "save_env next_entry",  # opened without the verifiers: no file event
        "set boot_once=true",
        "[ xy = xy ]",
        "menuentry_id_option=--id",
        "export menuentry_id_option",
        "[  ]",
        "terminal_input console",
        "terminal_output console",
        "[  = 1 ]",
        "[ xy = xy ]",
        "set timeout_style=hidden",
        "set timeout=0",
    ]
    texts = [e.event_data for e in out.events]
    assert texts[0] == f"{GRUB}/grub.cfg\0".encode() and out.events[0].digest == _sha(cfg)
    for i, command in enumerate(commands, start=1):
        if command is None:
            assert texts[i] == f"{GRUB}/grubenv\0".encode()
            assert out.events[i].digest == _sha(grubenv)
        else:
            assert texts[i] == f"grub_cmd: {command}\0".encode(), i
            assert out.events[i].digest == _sha(command.encode()), i
    rest = [t.rstrip(b"\0").decode() for t in texts[len(commands) + 1 :]]
    assert rest[0].startswith("grub_cmd: menuentry Debian GNU/Linux --class debian")
    assert rest[1].startswith("grub_cmd: menuentry Debian GNU/Linux, older --class debian")
    assert rest[1].endswith(
        f"--id {older} {{\n\tload_video\n" + entries.split("{\n\tload_video\n")[2].rstrip("\n")
    )
    linux = f"/boot/vmlinuz-6.1.0-17-amd64 root=UUID={UUID} ro quiet"
    search = "search --no-floppy --fs-uuid --set=root"
    assert rest[2:] == [
        f"grub_cmd: [ -f {GRUB}/custom.cfg ]",
        f"grub_cmd: [ -z {GRUB} -a -f {GRUB}/custom.cfg ]",
        "grub_cmd: setparams Debian GNU/Linux, older",
        "grub_cmd: load_video",
        "grub_cmd: [ xy = xy ]",
        "grub_cmd: insmod all_video",
        "grub_cmd: insmod gzio",
        "grub_cmd: [ xefi = xxen ]",
        "grub_cmd: insmod part_gpt",
        "grub_cmd: insmod ext2",
        "grub_cmd: [ xy = xy ]",
        f"grub_cmd: {search} --hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2 {UUID}",
        "grub_cmd: echo Loading Linux 6.1.0-17-amd64 ...",
        f"grub_cmd: linux {linux}",
        "/boot/vmlinuz-6.1.0-17-amd64",
        f"kernel_cmdline: {linux}",
        "grub_cmd: echo Loading initial ramdisk ...",
        "grub_cmd: initrd /boot/initrd.img-6.1.0-17-amd64",
        "/boot/initrd.img-6.1.0-17-amd64",
    ]
    assert out.events[-1].digest == _sha(INITRD)
    assert out.events[-5].digest == _sha(KERNEL)
