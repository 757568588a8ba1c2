"""``measure --vendor tdx --rtmr --disk-image`` reading shim, the fallback, GRUB's configurations,
module lists, kernel and initrd from a disk image made by Debian's tools (sfdisk, mkfs.fat/mcopy,
mke2fs -d) with the real Ubuntu TD log's layout: shim as ``\\EFI\\BOOT\\BOOTX64.EFI`` with
``fbx64.efi`` beside it, ``\\EFI\\ubuntu\\{BOOTX64.CSV,shimx64.efi,grubx64.efi,grub.cfg}`` on the ESP in
GPT slot 15, the root ext4 in slot 1 with the log's filesystem UUID.

Expected values (tests/vectors/README.md, "Filesystem readers" and "TDX shim + GRUB disk boot"): the
ESP's grub.cfg read from FAT hashes to the log's event 30; the events GRUB logs from there on are the
log's commands (31-32, 37) and hashlib over the files this test wrote; MoK mirrors are the log's
digests (given); the SbatLevel is the text of Debian shim's ``.sbatlevel`` section. The whole
prediction equals the explicit-option form (every file given by option) on the same disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.ccel import EventLog
from pvmkit.vendors.tdx.esp_layout import grub_image_info, shim_sbat_level
from support.disktools import ext4_image, fat_image, gpt_disk, run_tool
from support.fixtures import missing
from support.gpt_disk import ROOT_UUID, logged_digest, ubuntu_log
from support.pe import make_pe
from support.uki import measure_rtmr_argv

pytestmark = pytest.mark.crosscheck

ESP_CFG = f"search.fs_uuid {ROOT_UUID} root \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n"
KERNEL = "vmlinuz-6.1.0-13-amd64"
MAIN_CFG = (
    "set default=0\nmenuentry 'Linux' {\n"
    f"\tlinux /boot/vmlinuz root=UUID={ROOT_UUID} ro\n\tinitrd /boot/initrd.img\n}}\n"
).encode()
LISTS = ("command.lst", "fs.lst", "crypto.lst", "terminal.lst")


def _shim() -> Path:
    where = os.environ.get("PVMKIT_PE_SAMPLES")
    if not where or not (Path(where) / "shimx64.efi.signed").exists():
        missing("PVMKIT_PE_SAMPLES not set (./dev test fetches Debian's shim-signed)", "under CI")
    return Path(where) / "shimx64.efi.signed"


def _sha(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def _ubuntu_esp() -> dict[str, bytes]:
    shim = _shim().read_bytes()
    return {
        "EFI/BOOT/BOOTX64.EFI": shim,
        "EFI/BOOT/fbx64.efi": shim,  # any PE: its Authenticode digest is what is measured
        "EFI/ubuntu/shimx64.efi": shim,
        "EFI/ubuntu/grubx64.efi": b"given by its digest",
        "EFI/ubuntu/grub.cfg": ESP_CFG.encode(),
        "EFI/ubuntu/BOOTX64.CSV": "shimx64.efi,ubuntu,,This is the boot entry for ubuntu\n".encode("utf-16"),
    }


def _disk(tmp: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """The disk image: ``files`` on the FAT ESP (slot 15), the root ext4 (slot 1); the root's files."""
    esp, root = tmp / "esp", tmp / "root"
    for name, data in files.items():
        (esp / name).parent.mkdir(parents=True, exist_ok=True)
        (esp / name).write_bytes(data)
    roots = {
        f"boot/{KERNEL}": os.urandom(200_000),
        "boot/initrd.img-6.1.0-13-amd64": os.urandom(50_000),
        "boot/grub/grub.cfg": MAIN_CFG,
        **{f"boot/grub/x86_64-efi/{n}": f"{n} of this test\n".encode() for n in LISTS},
    }
    for name, data in roots.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "boot" / "vmlinuz").symlink_to(KERNEL)
    (root / "boot" / "initrd.img").symlink_to("initrd.img-6.1.0-13-amd64")
    fat = fat_image(tmp / "esp.img", esp, 8192, "-F", "16", "-s", "1")
    ext = ext4_image(tmp / "root.img", root, 8192, "-t", "ext4", "-U", ROOT_UUID)
    gpt_disk(tmp / "disk.img", [("L", ext), ("U", fat)], slots=[1, 15])
    return roots


def _measure_argv(tmp: Path) -> list[str]:
    return measure_rtmr_argv("--disk-image", str(tmp / "disk.img"))


def _measure(tmp: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    log = ubuntu_log()
    argv = _measure_argv(tmp)
    argv += ["--boot-loader-authenticode", logged_digest(log, 29).hex()]
    argv += [
        "--mok-list-sha384",
        logged_digest(log, 19).hex(),
        "--mok-list-x-sha384",
        logged_digest(log, 20).hex(),
    ]
    code = main([*argv, *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)  # type: ignore[no-any-return]


def _root_events(log: EventLog, roots: dict[str, bytes]) -> list[bytes]:
    """The digests of what GRUB logs from grub-install's ESP configuration on: its commands (the log's
    events 31, 32, 37), the module lists and main grub.cfg on the root, the boot entry, kernel, initrd."""
    grub = [logged_digest(log, n) for n in (31, 32)]
    grub += [_sha(roots[f"boot/grub/x86_64-efi/{n}"]) for n in LISTS]
    grub += [logged_digest(log, 37), _sha(MAIN_CFG)]
    commands = [
        "set default=0",
        f"menuentry Linux {{\n\tlinux /boot/vmlinuz root=UUID={ROOT_UUID} ro\n\tinitrd /boot/initrd.img\n}}",
        "setparams Linux",
        f"linux /boot/vmlinuz root=UUID={ROOT_UUID} ro",
    ]
    grub += [_sha(c.encode()) for c in commands] + [_sha(roots[f"boot/{KERNEL}"])]
    grub += [_sha(f"/boot/vmlinuz root=UUID={ROOT_UUID} ro".encode()), _sha(b"initrd /boot/initrd.img")]
    return [*grub, _sha(roots["boot/initrd.img-6.1.0-13-amd64"])]


def test_disk_image_alone_reads_the_boot_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roots = _disk(tmp_path, _ubuntu_esp())
    alone = _measure(tmp_path, [], capsys)
    shape = alone["shapes"][0]  # type: ignore[index]
    log = ubuntu_log()
    # RTMR2: shim's MoK events twice (shim, then shim again from the fallback), then GRUB's
    mok = [logged_digest(log, 19), logged_digest(log, 20), _sha(b"\x01")]
    grub = [logged_digest(log, 30), *_root_events(log, roots)]  # the ESP grub.cfg read from FAT = the log's
    value = bytes(48)
    for d in [*mok, *mok, *grub]:
        value = _sha(value + d)
    assert shape["rtmr2"] == value.hex()
    events = alone["events"]  # type: ignore[index]
    sbat = [bytes.fromhex(e["event_data"]) for e in events if e["what"] == "shim SbatLevel"]
    # Debian shim 16.1's .sbatlevel "previous" text, applied twice (both shim runs)
    assert len(sbat) == 2 and all(s.endswith(b"sbat,1,2025021800\nshim,4\ngrub,5\n") for s in sbat)
    assert [e["what"] for e in events if "Authenticode" in e["what"]] == [
        "shim (Authenticode)",
        "fallback (Authenticode)",
        "shim (Authenticode)",
        "GRUB (Authenticode)",
    ]
    # the explicit-option form on the same disk gives the same registers
    for name, data in {**roots, "esp.cfg": ESP_CFG.encode(), "sbat": sbat[0][-33:]}.items():
        (tmp_path / "given" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "given" / name).write_bytes(data)
    given = tmp_path / "given"
    explicit = [
        "--shim-efi",
        str(_shim()),
        "--grub-cfg",
        str(given / "esp.cfg"),
        "--sbat-level",
        str(given / "sbat"),
    ]
    explicit += [
        "--kernel",
        str(given / "boot" / KERNEL),
        "--initrd",
        str(given / "boot/initrd.img-6.1.0-13-amd64"),
    ]
    explicit += ["--grub-file", f"(hd0,gpt1)/boot/grub/grub.cfg={given / 'boot/grub/grub.cfg'}"]
    for n in LISTS:
        explicit += [
            "--grub-file",
            f"(hd0,gpt1)/boot/grub/x86_64-efi/{n}={given / 'boot/grub/x86_64-efi' / n}",
        ]
    assert _measure(tmp_path, explicit, capsys)["shapes"] == alone["shapes"]


def test_debian_grub_runs_its_memdisk_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Debian's signed GRUB at the removable path: its embedded ``normal (memdisk)/grub.cfg`` reads the
    memdisk's configuration, whose ``if`` tests find ``$prefix`` (``/EFI/debian`` on the ESP) and
    ``source`` its grub.cfg. Expected: the memdisk file as mtools reads it, the command texts by GRUB's
    rules (test.c, script/execute.c), the log's digests for the grub-install configuration's commands,
    hashlib over the root's files."""
    where = os.environ.get("PVMKIT_GRUB_EFI")
    if not where:
        missing("PVMKIT_GRUB_EFI not set (./dev test fetches Debian's grub-efi-amd64-signed)", "under CI")
    grub_image = (Path(where) / "grubx64.efi.signed").read_bytes()
    roots = _disk(
        tmp_path,
        {
            "EFI/BOOT/BOOTX64.EFI": _shim().read_bytes(),
            "EFI/BOOT/grubx64.efi": grub_image,
            "EFI/debian/grub.cfg": ESP_CFG.encode(),
        },
    )
    memdisk = grub_image_info(grub_image).memdisk
    assert memdisk is not None
    (tmp_path / "memdisk.img").write_bytes(memdisk)
    run_tool("mcopy", "-i", str(tmp_path / "memdisk.img"), "::grub.cfg", str(tmp_path / "memdisk.cfg"))
    log = ubuntu_log()
    argv = [*_measure_argv(tmp_path), "--mok-list-sha384", logged_digest(log, 19).hex()]
    assert main([*argv, "--mok-list-x-sha384", logged_digest(log, 20).hex()]) == 0, capsys.readouterr().err
    shape = json.loads(capsys.readouterr().out)["shapes"][0]
    prefix = "(hd0,gpt15)/EFI/debian"
    events = [logged_digest(log, 19), logged_digest(log, 20), _sha(b"\x01")]
    events += [_sha((tmp_path / "memdisk.cfg").read_bytes())]
    events += [
        _sha(c.encode())
        for c in (
            f"[ -z {prefix} -o ! -e {prefix} ]",  # false: the ESP has /EFI/debian
            f"[ -e {prefix}/x86_64-efi/grub.cfg ]",  # false
            f"[ -e {prefix}/grub.cfg ]",  # true
            f"source {prefix}/grub.cfg",
        )
    ]
    events += [_sha(ESP_CFG.encode()), *_root_events(log, roots)]
    value = bytes(48)
    for d in events:
        value = _sha(value + d)
    assert shape["rtmr2"] == value.hex()


def test_debian_binaries_embed_what_pvmkit_reads() -> None:
    """Debian's signed GRUB embeds prefix /EFI/debian and the configuration 'normal (memdisk)/grub.cfg'
    (its mods section, as grub-mkimage -p/-c wrote them; Debian's build-efi-images); Debian's shim 16.1
    carries the .sbatlevel 'previous' text (shim's SbatLevel_Variable.txt, 2025021800)."""
    where = os.environ.get("PVMKIT_GRUB_EFI")
    if not where:
        missing("PVMKIT_GRUB_EFI not set (./dev test fetches Debian's grub-efi-amd64-signed)", "under CI")
    info = grub_image_info((Path(where) / "grubx64.efi.signed").read_bytes())
    assert info.prefix == "/EFI/debian"
    assert info.config == b"normal (memdisk)/grub.cfg\n"
    assert shim_sbat_level(_shim().read_bytes()) == b"sbat,1,2025021800\nshim,4\ngrub,5\n"


@pytest.mark.parametrize(
    ("esp_files", "message"),
    [
        ({"EFI/debian/grubx64.efi": b"g"}, "no \\EFI\\BOOT\\BOOTX64.EFI (the removable-media boot path)"),
        ({"EFI/BOOT/BOOTX64.EFI": make_pe(), "EFI/BOOT/fbx64.efi": b"f"}, "finds no \\EFI\\*\\BOOTX64.CSV"),
    ],
)
def test_an_esp_without_a_boot_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], esp_files: dict[str, bytes], message: str
) -> None:
    for name, data in esp_files.items():
        (tmp_path / "esp" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "esp" / name).write_bytes(data)
    fat = fat_image(tmp_path / "esp.img", tmp_path / "esp", 4096, "-F", "12")
    gpt_disk(tmp_path / "disk.img", [("U", fat)])
    assert main(_measure_argv(tmp_path)) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and message in lines[0], lines


def test_debian_signed_grub_embeds_the_modules_its_configurations_load() -> None:
    """The modules of Debian's signed GRUB (each ELF module's .modname): the ``GRUB_MODULES`` Debian's
    ``debian/build-efi-images`` builds in include ``tpm`` (so the image measures) and those its
    generated grub.cfg ``insmod``s; a module outside the list is refused by the follower."""
    where = os.environ.get("PVMKIT_GRUB_EFI")
    if not where:
        missing("PVMKIT_GRUB_EFI not set (./dev test fetches Debian's grub-efi-amd64-signed)", "under CI")
    modules = grub_image_info((Path(where) / "grubx64.efi.signed").read_bytes()).modules
    built_in = {"tpm", "all_video", "gzio", "part_gpt", "ext2", "fat", "loadenv", "search_fs_uuid", "linux"}
    assert built_in <= modules
    assert {"normal", "test", "echo", "sleep", "efifwsetup", "gfxterm", "gettext"} <= modules
