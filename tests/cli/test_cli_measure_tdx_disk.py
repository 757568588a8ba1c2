"""``pvmkit measure --vendor tdx --rtmr --disk-image …``: the shim + GRUB disk boot on the command line.

The disk image is rebuilt from the real Ubuntu TD log's GPT event (tests/support/gpt_disk.py); the
expected RTMR1/RTMR2 are folded here from that log's digests (the EFI binaries, MoK mirrors and GRUB's
module lists it logged) and hashlib over the synthetic configuration, kernel and initrd this test
writes — not from pvmkit's output. Provenance: tests/vectors/README.md, "TDX shim + GRUB disk boot".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.ccel import EventLog
from support.fixtures import fixture_path, read_fixture
from support.gpt_disk import ROOT_UUID, disk_from_gpt_event, ubuntu_log
from support.gpt_disk import logged_digest as _digest

ESP_CFG = f"search.fs_uuid {ROOT_UUID} root \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n"
MAIN_CFG = (
    b"set default=0\nmenuentry 'Linux' {\n"
    b"\tlinux /boot/vmlinuz root=/dev/vda1 ro\n\tinitrd /boot/initrd.img\n}\n"
)
NOT_FOLLOWED = (
    "if.cfg: GRUB configuration pvmkit cannot follow: (hd0,gpt15)/EFI/BOOT/grub.cfg line 2: "
    "the command 'hwmatch' is not modelled"
)
NO_MAIN = "give the contents of (hd0,gpt1)/boot/grub/grub.cfg"
LISTS = ("command.lst", "fs.lst", "crypto.lst", "terminal.lst")


def _fold(digests: list[bytes]) -> str:
    value = bytes(48)
    for d in digests:
        value = hashlib.sha384(value + d).digest()
    return value.hex()


def _sha(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


@pytest.fixture(scope="module")
def log() -> EventLog:
    return ubuntu_log()


def _argv(log: EventLog, tmp_path: Path) -> list[str]:
    disk_from_gpt_event(log.events[16].event_data, tmp_path / "disk.img")
    (tmp_path / "esp.cfg").write_text(ESP_CFG)
    (tmp_path / "main.cfg").write_bytes(MAIN_CFG)
    (tmp_path / "sbat").write_bytes(b"sbat,1,2022052400\ngrub,2\n")
    (tmp_path / "k").write_bytes(b"kernel" * 100)
    (tmp_path / "i").write_bytes(b"initrd" * 100)
    argv = [
        "measure",
        "--vendor",
        "tdx",
        "--rtmr",
        "--firmware",
        str(fixture_path("firmware/OVMF.inteltdx.ms.fd")),
    ]
    argv += [
        "--memory",
        "2G",
        "--disk-image",
        str(tmp_path / "disk.img"),
        "--grub-cfg",
        str(tmp_path / "esp.cfg"),
    ]
    argv += [
        "--sbat-level",
        str(tmp_path / "sbat"),
        "--kernel",
        str(tmp_path / "k"),
        "--initrd",
        str(tmp_path / "i"),
    ]
    argv += [
        "--shim-authenticode",
        _digest(log, 18).hex(),
        "--boot-loader-authenticode",
        _digest(log, 29).hex(),
    ]
    argv += [
        "--mok-list-sha384",
        _digest(log, 19).hex(),
        "--mok-list-x-sha384",
        _digest(log, 20).hex(),
    ]
    for i, name in enumerate(LISTS):
        argv += [
            "--grub-file-sha384",
            f"(hd0,gpt1)/boot/grub/x86_64-efi/{name}={_digest(log, 33 + i).hex()}",
        ]
    return [*argv, "--grub-file", f"(hd0,gpt1)/boot/grub/grub.cfg={tmp_path / 'main.cfg'}", "--json"]


def test_disk_boot_rtmr1_rtmr2(log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(log, tmp_path)) == 0
    shape = json.loads(capsys.readouterr().out)["shapes"][0]
    # RTMR1: ready-to-boot action and separator, GPT, shim, GRUB, ExitBootServices (the log's digests)
    assert shape["rtmr1"] == _fold([_digest(log, n) for n in (15, 8, 17, 18, 29, 97, 98)])
    commands = [
        "set default=0",
        "menuentry Linux {\n\tlinux /boot/vmlinuz root=/dev/vda1 ro\n\tinitrd /boot/initrd.img\n}",
        "setparams Linux",
        "linux /boot/vmlinuz root=/dev/vda1 ro",
    ]
    rtmr2 = [_digest(log, n) for n in (19, 20, 22, 30, 31, 32, 33, 34, 35, 36, 37)]
    rtmr2 += [_sha(MAIN_CFG), *(_sha(c.encode()) for c in commands), _sha(b"kernel" * 100)]
    rtmr2 += [
        _sha(b"/boot/vmlinuz root=/dev/vda1 ro"),
        _sha(b"initrd /boot/initrd.img"),
        _sha(b"initrd" * 100),
    ]
    assert shape["rtmr2"] == _fold(rtmr2)
    # a disk boot's boot options are not guessed
    assert shape["rtmr0"] is None
    assert "boot options of a disk boot" in [m["what"] for m in shape["missing"]]


def _drop(argv: list[str], option: str) -> list[str]:
    i = argv.index(option)
    return [*argv[:i], *argv[i + 2 :]]


def _replace(argv: list[str], option: str, value: str) -> list[str]:
    i = argv.index(option)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            lambda a, p: _replace(a, "--grub-cfg", str(p / "if.cfg")),
            1,
            NOT_FOLLOWED,
        ),
        (lambda a, p: _replace(a, "--disk-image", str(p / "blank.img")), 1, "no GUID partition table"),
        (
            lambda a, p: [x for x in a if x != "--disk-image" and not x.endswith("disk.img")],
            2,
            "needs --disk-image",
        ),
        (
            lambda a, p: [*a, "--kernel-authenticode", "00" * 48],
            2,
            "--kernel-authenticode describes a -kernel",
        ),
        (lambda a, p: [*[x for x in a if not x.endswith("main.cfg")][:-2], "--json"], 1, NO_MAIN),
        (lambda a, p: _replace(a, "--shim-authenticode", "00"), 2, "--shim-authenticode"),
        (  # without --grub-cfg pvmkit reads the ESP, which is not a FAT filesystem here
            lambda a, p: _drop(a, "--grub-cfg"),
            1,
            "the EFI system partition 15 of the disk image cannot be read (the FAT filesystem of partition",
        ),
    ],
)
def test_disk_boot_bad_input(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: object, code: int, message: str
) -> None:
    (tmp_path / "if.cfg").write_text("if [ x = x ]; then\n  hwmatch f 3\nfi\n")
    (tmp_path / "blank.img").write_bytes(bytes(8192))
    argv = change(_argv(log, tmp_path), tmp_path)  # type: ignore[operator]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_mok_list_trusted_authority_adds_its_rtmr0_event(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*_argv(log, tmp_path), "--mok-list-trusted-authority"]
    assert main(argv) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    authority = [e for e in events if e["what"] == "shim MokListTrusted" and e["mr_index"] == 1]
    # the GCE log's event 22 (that shim's MokListTrusted authority event), byte for byte
    gce = EventLog.parse(read_fixture("go-tdx-guest/ccel/ccel_data.dat"))
    assert [bytes.fromhex(e["event_data"]) for e in authority] == [gce.events[21].event_data]
    assert authority[0]["digest"] == _digest(gce, 22).hex()


def test_disk_boot_follows_load_env_from_a_grub_file(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A main grub.cfg in 00_header's shape: load_env reads grubenv (given by --grub-file, measured),
    its next_entry picks the second entry. Expected: GRUB's rules (loadenv.c, script/execute.c)."""
    main_cfg = (
        b'load_env\nif [ "${next_entry}" ] ; then\n   set default="${next_entry}"\n'
        b'else\n   set default="0"\nfi\n'
        b"menuentry 'A' {\n\tlinux /boot/a\n}\nmenuentry 'B' {\n\tlinux /boot/vmlinuz ro\n}\n"
    )
    grubenv = b"# GRUB Environment Block\nnext_entry=1\n"
    grubenv += b"#" * (1024 - len(grubenv))
    argv = _argv(log, tmp_path)
    (tmp_path / "main.cfg").write_bytes(main_cfg)
    (tmp_path / "grubenv").write_bytes(grubenv)
    argv += ["--grub-file", f"(hd0,gpt1)/boot/grub/grubenv={tmp_path / 'grubenv'}"]
    assert main(argv) == 0, capsys.readouterr().err
    shape = json.loads(capsys.readouterr().out)["shapes"][0]
    rtmr2 = [_digest(log, n) for n in (19, 20, 22, 30, 31, 32, 33, 34, 35, 36, 37)]
    rtmr2 += [_sha(main_cfg), _sha(b"load_env"), _sha(grubenv), _sha(b"[ 1 ]"), _sha(b"set default=1")]
    rtmr2 += [_sha(b"menuentry A {\n\tlinux /boot/a\n}"), _sha(b"menuentry B {\n\tlinux /boot/vmlinuz ro\n}")]
    rtmr2 += [_sha(b"setparams B"), _sha(b"linux /boot/vmlinuz ro"), _sha(b"kernel" * 100)]
    rtmr2 += [_sha(b"/boot/vmlinuz ro")]
    assert shape["rtmr2"] == _fold(rtmr2)


# One virtio-blk disk at slot 3, no NIC, no bootindex: the Ubuntu TD's disk (its Boot0001 names
# PciRoot(0x0)/Pci(0x3,0x0)). The fixture image is edk2 2026.08 (the default --ovmf-version), which
# measures fw_cfg items and SMBIOS (given as a digest here: not this test's subject).
DISK_LAUNCH = (
    "-drive file=/bin/sh,if=none,id=hd0,format=raw,readonly=on -device virtio-blk-pci,drive=hd0,addr=3"
)
# the log's TD ran with Secure Boot off (its PK is empty: setup mode, fixtures README)
COMMON = ["--vcpus", "1", "--secure-boot", "off", "--smbios-digest", "11" * 48]
EV_EFI_VARIABLE_BOOT = 0x80000002  # TCG PC Client PFP 1.05 §10.4.1


def _variable(event_data: bytes) -> tuple[str, bytes]:
    """(name, data) of a UEFI_VARIABLE_DATA (TCG PC Client PFP §10.2.6: GUID, name length in
    characters, data length, UTF-16 name, data)."""
    import struct

    name_chars, data_length = struct.unpack_from("<QQ", event_data, 16)
    name = event_data[32 : 32 + 2 * name_chars].decode("utf-16-le")
    start = 32 + 2 * name_chars
    return name, event_data[start : start + data_length]


def _guid(text: str) -> bytes:
    import uuid

    return uuid.UUID(text).bytes_le  # EFI_GUID: the first three fields little-endian (UEFI 2.10 App. A)


def _boot_manager_menu_option() -> bytes:
    """Boot0000 of an edk2 ≥ 2025.05 image whose DXEFV holds BootManagerMenuApp, assembled from the
    specs: EFI_LOAD_OPTION (UEFI 2.10 §3.1.3) with attributes ACTIVE | HIDDEN | CATEGORY_APP (0x109,
    edk2 BmBoot.c BmRegisterBootManagerMenu), its description, and the device path
    Fv(DXEFV)/FvFile(BootManagerMenuApp)/End (PI 1.8 vol. 3 §II-8.2 media FV nodes 4/7 and 4/6; DXEFV's
    FvNameGuid from OvmfPkg's FDF, the application's FILE_GUID from its .inf). The crosscheck boot of
    the fixture image (tests/crosscheck/test_ovmf_boot_options.py) reads the same record from its RAM."""
    import struct

    path = (
        struct.pack("<BBH", 4, 7, 20)
        + _guid("7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1")
        + struct.pack("<BBH", 4, 6, 20)
        + _guid("eec25bdc-67f2-4d95-b1d5-f81b2039d11d")
        + bytes((0x7F, 0xFF, 4, 0))
    )
    return struct.pack("<IH", 0x109, len(path)) + "BootManagerMenuApp\0".encode("utf-16-le") + path


def test_disk_boot_rtmr0_from_the_launch_equals_the_logged_boot_variables(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RTMR0 of a disk boot from the launch alone (boot variables generated, fw_cfg from the launch)
    equals RTMR0 with the boot variables and fw_cfg items given as files from outside pvmkit: BootOrder
    and the disk's Boot0001 as the Ubuntu TD logged them (events 12 and 14: the same slot, the same
    "UEFI Misc Device" record), Boot0000 assembled from the specs (this 2026.08 image's boot manager
    menu replaces that log's UiApp), BootMenu and bootorder as QEMU 10.0.2 serves them."""
    import shlex

    from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
    from support.qemu import qemu_binary

    common = [*COMMON, "--qemu-args", DISK_LAUNCH]
    assert main([*_argv(log, tmp_path), *common]) == 0, capsys.readouterr().err
    generated = json.loads(capsys.readouterr().out)
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    served = QemuAcpiDumper(qemu_binary(), firmware, tuple(shlex.split(DISK_LAUNCH))).dump(
        AcpiShape(1, 2 << 30, False)
    )
    explicit = list(common)
    for name in ("BootMenu", "bootorder"):
        (tmp_path / name).write_bytes(served[name])
        explicit += ["--fw-cfg", f"{name}={tmp_path / name}"]
    logged = dict(_variable(e.event_data) for e in log.events if e.event_type == EV_EFI_VARIABLE_BOOT)
    assert list(logged) == ["BootOrder", "Boot0000", "Boot0001"]
    variables = {"BootOrder": logged["BootOrder"], "Boot0000": _boot_manager_menu_option()}
    variables["Boot0001"] = logged["Boot0001"]
    for name, data in variables.items():
        (tmp_path / name).write_bytes(data)
        explicit += ["--boot-var", f"{name}={tmp_path / name}"]
    assert main([*_argv(log, tmp_path), *explicit]) == 0, capsys.readouterr().err
    given = json.loads(capsys.readouterr().out)
    assert (generated["boot_variables"], generated["fw_cfg"]) == ("generated", "launch")
    assert (given["boot_variables"], given["fw_cfg"]) == ("given", "given")
    rtmr0 = generated["shapes"][0]["rtmr0"]
    assert rtmr0 is not None and [m for m in generated["shapes"][0]["missing"] if m["rtmr"] == 0] == []
    assert rtmr0 == given["shapes"][0]["rtmr0"]
    assert served["bootorder"] == b""  # no bootindex: QEMU's file is empty, OVMF measures no bootorder
    fw_cfg_events = [e["what"] for e in generated["events"] if e["what"].startswith("fw_cfg")]
    assert fw_cfg_events == ["fw_cfg BootMenu"]


ONE_DISK = "-drive file=/bin/sh,if=none,id=hd0,format=raw,readonly=on -device virtio-blk-pci,drive=hd0"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        # the fixture image said to be 2025.02: before 2025.05 Boot0000 is UiApp, which this image keeps
        # outside DXEFV: outside OVMF's boot-option model (ovmf_boot_options)
        (["--vcpus", "1", "--ovmf-version", "2025.02", "--qemu-args", ONE_DISK], "UiApp"),
        # no launch (no --vcpus, no --qemu-binary): nothing names the disk
        ([], "describe the launch"),
        # a NIC with QEMU's default option ROM (no romfile=): its driver can add boot options
        (
            [
                "--vcpus",
                "1",
                "--qemu-args",
                DISK_LAUNCH + " -netdev user,id=n0 -device virtio-net-pci,netdev=n0",
            ],
            "option ROM",
        ),
    ],
)
def test_disk_boot_of_an_unmodelled_launch_leaves_rtmr0_null_with_the_reason(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], reason: str
) -> None:
    argv = [*_argv(log, tmp_path), *COMMON[2:], *extra]  # --vcpus, where given, in extra
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    shape = out["shapes"][0]
    assert shape["rtmr0"] is None and shape["rtmr1"] is not None and shape["rtmr2"] is not None
    assert out["boot_variables"] is None
    [missing] = [m for m in shape["missing"] if m["what"] == "boot options of a disk boot"]
    assert reason in missing["note"]


def test_disk_boot_rtmr0_exported_by_reference_values(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reference-values --vendor tdx --rtmr`` with the same inputs exports the same RTMR0."""
    argv = [*_argv(log, tmp_path), *COMMON, "--qemu-args", DISK_LAUNCH]
    assert main(argv) == 0
    rtmr0 = json.loads(capsys.readouterr().out)["shapes"][0]["rtmr0"]
    rv = ["reference-values", "--vendor", "tdx", "--format", "json", *[a for a in argv[3:] if a != "--json"]]
    assert main(rv) == 0, capsys.readouterr().err
    values = json.loads(capsys.readouterr().out)["values"]
    assert [v["value"] for v in values["rtmr_0"]] == [rtmr0]


def test_disk_boot_with_the_qemu_binary_equals_the_generator(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--qemu-binary takes bootorder and BootMenu from QEMU 10.0.2 itself: same RTMR0 as the
    generator's launch model (QEMU 10.0 profile)."""
    from support.qemu import qemu_binary

    common = [*COMMON, "--qemu-args", DISK_LAUNCH]
    assert main([*_argv(log, tmp_path), *common, "--qemu-version", "10.0"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert main([*_argv(log, tmp_path), *common, "--qemu-binary", qemu_binary()]) == 0
    qemu = json.loads(capsys.readouterr().out)
    assert (qemu["fw_cfg"], qemu["boot_variables"], qemu["acpi_source"]) == ("qemu", "generated", "qemu")
    assert qemu["qemu"]["boot_devices"] == generated["qemu"]["boot_devices"]
    assert [d["addr"] for d in qemu["qemu"]["boot_devices"]] == ["03.0"]
    assert qemu["shapes"][0]["rtmr0"] is not None
    assert qemu["shapes"][0]["rtmr0"] == generated["shapes"][0]["rtmr0"]


def test_direct_boot_without_a_launch_takes_the_images_fixed_entries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A -kernel boot without a launch (no --vcpus): the boot variables are still the image's (this
    2026.08 IntelTdx image registers BootManagerMenuApp alone: its UiApp is in NCCFV, which the
    crosscheck boot of the image confirms), not pvmkit's release table (two entries from 2025.05)."""
    import struct

    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    argv = ["measure", "--vendor", "tdx", "--rtmr", "--firmware", firmware, "--memory", "2G"]
    assert main([*argv, "--kernel-authenticode", "22" * 48, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["boot_variables"], doc["fw_cfg"]) == ("generated", "default")
    boot = [e for e in doc["events"] if e["event_type"] == EV_EFI_VARIABLE_BOOT]
    assert [_variable(bytes.fromhex(e["event_data"])) for e in boot] == [
        ("BootOrder", struct.pack("<H", 0)),
        ("Boot0000", _boot_manager_menu_option()),
    ]


def test_disk_boot_beside_a_nic_without_option_rom_is_predicted(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With romfile= the NIC adds no option ROM; this image has no network driver, so the NIC adds
    no boot option either (ovmf_boot_options) and the boot variables equal the one-disk launch's."""
    nic = " -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=,addr=4"
    assert main([*_argv(log, tmp_path), *COMMON, "--qemu-args", DISK_LAUNCH]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main([*_argv(log, tmp_path), *COMMON, "--qemu-args", DISK_LAUNCH + nic]) == 0
    with_nic = json.loads(capsys.readouterr().out)
    assert with_nic["boot_variables"] == "generated"
    boot = [
        [e for e in doc["events"] if e["event_type"] == EV_EFI_VARIABLE_BOOT] for doc in (alone, with_nic)
    ]
    assert boot[0] == boot[1]  # the NIC's slot changes only the ACPI tables
    assert with_nic["shapes"][0]["rtmr0"] is not None
