"""``pvmkit measure --vendor tdx --rtmr --uki … [--boot-loader …] | --esp DIR``: the UKI boot and the
ESP reader on the command line.

The UKI is built from Debian's real systemd-stub 254 by objcopy, systemd-boot is Debian's real 254 binary
(tests/support/uki.py); the disk image is rebuilt from the real Ubuntu TD log's GPT event
(tests/support/gpt_disk.py), whose logged digest is the expected GPT event. The expected RTMR1/RTMR2 are
folded here from the rules (pvmkit.vendors.tdx.uki_boot's table, tested event by event in
tests/unit/test_tdx_uki_boot.py) over hashlib digests of the files this test writes, the Authenticode of
the real binaries, and the ready-to-boot event data of the UEFI/TCG specs. Provenance:
tests/vectors/README.md, "TDX UKI boot".
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.ccel import EventLog
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from support.fixtures import fixture_path
from support.gpt_disk import disk_from_gpt_event, logged_digest, ubuntu_log
from support.pe import make_pe
from support.uki import NEWEST, build_uki, measure_rtmr_argv, sdmagic, systemd_efi

CMDLINE = b"console=ttyS0 root=/dev/vda2\n"
INITRD = hashlib.sha512(b"initrd").digest() * 200


def _sha(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def _fold(digests: list[bytes]) -> str:
    value = bytes(48)
    for d in digests:
        value = hashlib.sha384(value + d).digest()
    return value.hex()


@pytest.fixture(scope="module")
def log() -> EventLog:
    return ubuntu_log()


@pytest.fixture
def files(tmp_path: Path, log: EventLog) -> dict[str, Path]:
    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()  # a PE with MajorImageVersion >= 1
    (tmp_path / "build").mkdir()
    uki = build_uki(
        254,
        {".osrel": b"ID=t\n", ".cmdline": CMDLINE, ".initrd": INITRD, ".linux": kernel},
        tmp_path / "build",
    )
    (tmp_path / "uki.efi").write_bytes(uki)
    (tmp_path / "kernel").write_bytes(kernel)
    disk_from_gpt_event(log.events[16].event_data, tmp_path / "disk.img")
    return {
        "uki": tmp_path / "uki.efi",
        "kernel": tmp_path / "kernel",
        "loader": systemd_efi(254, "systemd-bootx64.efi"),
        "disk": tmp_path / "disk.img",
    }


def _argv(*extra: str) -> list[str]:
    return measure_rtmr_argv(*extra)


def _expected(
    files: dict[str, Path], log: EventLog, *, loader: bool = True, secure_boot: bool = True
) -> tuple[str, str]:
    """The fixture firmware's varstore enrolls PK: Secure Boot is on unless --secure-boot off; then
    systemd-stub keeps its kernel from the firmware's measuring handler (install_security_override)."""
    ready = [_sha(b"Calling EFI Application from Boot Option"), _sha(bytes(4))]  # EV_EFI_ACTION, separator
    boot = [authenticode_digest(files["loader"].read_bytes())] if loader else []
    ebs = [_sha(b"Exit Boot Services Invocation"), _sha(b"Exit Boot Services Returned with Success")]
    rtmr1 = [
        *ready,
        logged_digest(log, 17),  # the GPT the real TD logged, which the disk image holds
        *boot,
        authenticode_digest(files["uki"].read_bytes()),
        *([] if secure_boot else [authenticode_digest(files["kernel"].read_bytes())]),
        *ebs,
    ]
    rtmr2 = [_sha("console=ttyS0 root=/dev/vda2\0".encode("utf-16-le")), _sha(INITRD)]
    return _fold(rtmr1), _fold(rtmr2)


def _shape(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    shape: dict[str, object] = json.loads(capsys.readouterr().out)["shapes"][0]
    return shape


@pytest.mark.parametrize("secure_boot", [True, False])
def test_uki_through_systemd_boot(
    files: dict[str, Path], log: EventLog, capsys: pytest.CaptureFixture[str], secure_boot: bool
) -> None:
    argv = _argv(*_uki_args(files), *([] if secure_boot else ["--secure-boot", "off"]))
    assert main(argv) == 0
    shape = _shape(capsys)
    assert (shape["rtmr1"], shape["rtmr2"]) == _expected(files, log, secure_boot=secure_boot)
    assert shape["rtmr0"] is None  # a disk boot's boot options are not guessed


def test_esp_with_systemd_boot_and_a_uki(
    files: dict[str, Path], log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "Linux").mkdir(parents=True)
    shutil.copy(files["loader"], esp / "EFI" / "BOOT" / "BOOTX64.EFI")
    shutil.copy(files["uki"], esp / "EFI" / "Linux" / "debian-6.12.efi")
    assert main(_argv("--esp", str(esp), "--disk-image", str(files["disk"]))) == 0
    shape = _shape(capsys)
    assert (shape["rtmr1"], shape["rtmr2"]) == _expected(files, log)


def test_esp_with_a_uki_as_the_removable_path(
    files: dict[str, Path], log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    esp = tmp_path / "esp"
    (esp / "efi" / "boot").mkdir(parents=True)  # FAT: names match without regard to case
    shutil.copy(files["uki"], esp / "efi" / "boot" / "bootx64.efi")
    assert main(_argv("--esp", str(esp), "--disk-image", str(files["disk"]))) == 0
    shape = _shape(capsys)
    assert (shape["rtmr1"], shape["rtmr2"]) == _expected(files, log, loader=False)


def test_without_a_disk_image_rtmr1_is_unknown(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv("--uki", str(files["uki"]))) == 0
    shape = _shape(capsys)
    assert shape["rtmr1"] is None
    assert shape["rtmr2"] is not None
    assert "GPT of the boot disk" in [m["what"] for m in shape["missing"]]  # type: ignore[attr-defined,index]


def test_esp_with_shim_and_grub_equals_the_explicit_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log: EventLog
) -> None:
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    shim, grub = make_pe(0x1800), make_pe(0x2000)
    # shim at the removable path without fbx64.efi starts grubx64.efi beside it, which (a PE without
    # an embedded prefix) reads grub.cfg from its own directory (pvmkit.vendors.tdx.esp_layout)
    (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(shim)
    (esp / "EFI" / "BOOT" / "grubx64.efi").write_bytes(grub)
    (esp / "EFI" / "BOOT" / "grub.cfg").write_text("linux /vmlinuz quiet\nboot\n")
    (esp / "vmlinuz").write_bytes(b"a kernel GRUB reads from the ESP ($root)")
    (tmp_path / "sbat").write_bytes(b"sbat,1,2022052400\ngrub,2\n")
    disk = disk_from_gpt_event(log.events[16].event_data, tmp_path / "disk.img")
    common = ["--disk-image", str(disk), "--sbat-level", str(tmp_path / "sbat")]
    assert main(_argv("--esp", str(esp), *common)) == 0
    common += ["--kernel", str(esp / "vmlinuz")]
    by_esp = _shape(capsys)
    explicit = [
        "--shim-efi",
        str(esp / "EFI/BOOT/BOOTX64.EFI"),
        "--boot-loader",
        str(esp / "EFI/BOOT/grubx64.efi"),
    ]
    assert main(_argv(*explicit, "--grub-cfg", str(esp / "EFI/BOOT/grub.cfg"), *common)) == 0
    assert by_esp == _shape(capsys)
    assert by_esp["rtmr1"] is not None


def _esp(tmp_path: Path, files: dict[str, Path], layout: str) -> Path:
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    if layout == "empty":
        return esp
    if layout == "unknown":
        (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(make_pe())
        return esp
    shutil.copy(files["loader"], esp / "EFI" / "BOOT" / "BOOTX64.EFI")
    (esp / "EFI" / "Linux").mkdir()
    shutil.copy(files["uki"], esp / "EFI" / "Linux" / "a.efi")
    if layout == "two":
        shutil.copy(files["uki"], esp / "EFI" / "Linux" / "b.efi")
    if layout == "entries":
        (esp / "loader" / "entries").mkdir(parents=True)
        (esp / "loader" / "entries" / "a.conf").write_text("title A\nlinux /vmlinuz\n")
    return esp


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (lambda f, p: ["--uki", str(f["kernel"])], 1, "no systemd-stub .sdmagic"),
        (lambda f, p: ["--uki", str(p / "junk")], 1, "junk: UKI is not a PE image"),
        (lambda f, p: ["--uki", str(p / "nolinux.efi")], 1, "nolinux.efi: not a UKI"),
        (
            lambda f, p: ["--uki", str(f["uki"]), "--boot-loader", str(p / "grub.efi")],
            1,
            "is not systemd-boot",
        ),
        (lambda f, p: ["--boot-loader", str(f["loader"])], 2, "give the UKI it starts with --uki"),
        (lambda f, p: ["--uki", str(f["uki"]), "--kernel", str(f["kernel"])], 2, "a UKI carries its kernel"),
        (lambda f, p: ["--uki", str(f["uki"]), "--grub-cfg", str(f["kernel"])], 2, "shim + GRUB boot"),
        (lambda f, p: ["--esp", str(_esp(p, f, "empty"))], 1, "no EFI/BOOT/BOOTX64.EFI"),
        (lambda f, p: ["--esp", str(_esp(p, f, "unknown"))], 1, "no boot path pvmkit can follow"),
        (
            lambda f, p: ["--esp", str(_esp(p, f, "two"))],
            1,
            "2 boot entries (EFI/Linux/*.efi, loader/entries/*.conf)",
        ),
        (lambda f, p: ["--esp", str(_esp(p, f, "entries"))], 1, "pvmkit follows one"),
        (lambda f, p: ["--esp", str(p / "nowhere")], 1, "not a directory"),
        (lambda f, p: ["--esp", str(_esp(p, f, "uki")), "--shim-efi", "x"], 2, "drop --shim-efi"),
    ],
)
def test_bad_uki_and_esp_input(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: object,
    code: int,
    message: str,
) -> None:
    (tmp_path / "junk").write_bytes(b"just some bytes, not a PE image" * 4)
    (tmp_path / "grub.efi").write_bytes(make_pe())
    (tmp_path / "b2").mkdir()
    (tmp_path / "nolinux.efi").write_bytes(build_uki(254, {".osrel": b"ID=t\n"}, tmp_path / "b2"))
    assert main(_argv(*args(files, tmp_path))) == code  # type: ignore[operator]
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def _uki_args(files: dict[str, Path]) -> list[str]:
    return [
        "--uki",
        str(files["uki"]),
        "--boot-loader",
        str(files["loader"]),
        "--disk-image",
        str(files["disk"]),
    ]


def test_reference_values_take_the_uki_path(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _uki_args(files)
    assert main(_argv(*argv)) == 0
    shape = _shape(capsys)
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    rv = ["reference-values", "--vendor", "tdx", "--firmware", firmware, "--rtmr", "--memory", "2G", *argv]
    assert main([*rv, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert str(shape["rtmr1"]) in out and str(shape["rtmr2"]) in out


def _digest_args(files: dict[str, Path]) -> list[str]:
    """The digests-only form of the same boot: each digest taken of the files (Authenticode of the real
    binaries; the LoadOptions by the stub's rule; the initrd the test wrote)."""
    options = "console=ttyS0 root=/dev/vda2\0".encode("utf-16-le")
    return [
        *("--uki-authenticode", authenticode_digest(files["uki"].read_bytes()).hex()),
        *("--systemd-version", "254"),
        *("--boot-loader-authenticode", authenticode_digest(files["loader"].read_bytes()).hex()),
        *("--uki-linux-authenticode", authenticode_digest(files["kernel"].read_bytes()).hex()),
        *("--uki-load-options-sha384", _sha(options).hex()),
        *("--uki-initrd-sha384", _sha(INITRD).hex()),
        *("--disk-image", str(files["disk"])),
    ]


@pytest.mark.parametrize("secure_boot", ["on", "off"])
def test_digests_only_form_equals_the_files(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], secure_boot: str
) -> None:
    assert main(_argv(*_uki_args(files), "--secure-boot", secure_boot)) == 0
    by_files = _shape(capsys)
    assert main(_argv(*_digest_args(files), "--secure-boot", secure_boot)) == 0
    by_digests = _shape(capsys)
    assert {k: by_digests[k] for k in ("rtmr1", "rtmr2")} == {k: by_files[k] for k in ("rtmr1", "rtmr2")}


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (lambda a: [x for x in a if x not in ("--systemd-version", "254")], 2, "needs --systemd-version"),
        (lambda a: [*a, "--cmdline", "quiet"], 2, "digests-only form: drop --cmdline"),
        (lambda a: ["--uki-initrd-sha384", "00" * 48], 2, "--uki-initrd-sha384 needs --uki-authenticode"),
        (lambda a: [*a, "--uki-section-sha384", "linux=00"], 2, "takes NAME=HEX"),
        (lambda a: [*a[:2], "--systemd-version", "255", *a[4:]], 1, "systemd-stub 255 is not modelled"),
        (lambda a: [*a[:2], "--systemd-version", "x", *a[4:]], 2, "--systemd-version"),
    ],
)
def test_bad_digest_forms(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], change: object, code: int, message: str
) -> None:
    assert main(_argv(*change(_digest_args(files)))) == code  # type: ignore[operator]
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize("version", [254, 257])
def test_esp_with_a_type1_loader_entry(
    files: dict[str, Path], log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int
) -> None:
    """systemd-boot with one type #1 entry (pvmkit.vendors.tdx.loader_entry): the firmware measures
    systemd-boot and the kernel file it LoadImage()s; 257 logs the options it passes (EV_IPL, RTMR2);
    the kernel logs its LoadOptions and the initrd."""
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "loader" / "entries").mkdir(parents=True)
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(loader)
    (esp / "vmlinuz").write_bytes(files["kernel"].read_bytes())
    (esp / "initrd.img").write_bytes(INITRD)
    (esp / "loader" / "entries" / "debian.conf").write_text(
        "title Debian\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=/dev/vda2 quiet\n"
    )
    assert main(_argv("--esp", str(esp), "--disk-image", str(files["disk"]))) == 0
    shape = _shape(capsys)
    ready = [_sha(b"Calling EFI Application from Boot Option"), _sha(bytes(4))]
    ebs = [_sha(b"Exit Boot Services Invocation"), _sha(b"Exit Boot Services Returned with Success")]
    applications = [authenticode_digest(loader), authenticode_digest(files["kernel"].read_bytes())]
    assert shape["rtmr1"] == _fold([*ready, logged_digest(log, 17), *applications, *ebs])
    options = _sha("initrd=\\initrd.img root=/dev/vda2 quiet\0".encode("utf-16-le"))
    assert shape["rtmr2"] == _fold([options] * (2 if version >= 257 else 1) + [_sha(INITRD)])


def test_debians_newest_systemd_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A UKI built from sid's real systemd-stub (262.1 when this was written), given by --uki, and sid's
    real systemd-boot at an ESP's removable path starting a 257 UKI: exit 1 with one line naming the
    release as the binary's .sdmagic states it (dumped by objcopy), unless pvmkit models that release
    (then exit 0)."""
    from pvmkit.vendors.tdx.uki import MODELLED_VERSIONS

    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()  # a PE with MajorImageVersion >= 1
    newest = build_uki(NEWEST, {".osrel": b"ID=t\n", ".linux": kernel}, tmp_path)
    (tmp_path / "newest.efi").write_bytes(newest)
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "Linux").mkdir()
    shutil.copy(systemd_efi(NEWEST, "systemd-bootx64.efi"), esp / "EFI" / "BOOT" / "BOOTX64.EFI")
    (tmp_path / "b257").mkdir()
    uki257 = build_uki(257, {".osrel": b"ID=t\n", ".linux": kernel}, tmp_path / "b257")
    (esp / "EFI" / "Linux" / "a.efi").write_bytes(uki257)
    for args, binary in (
        (["--uki", str(tmp_path / "newest.efi")], "linuxx64.efi.stub"),
        (["--esp", str(esp)], "systemd-bootx64.efi"),
    ):
        program, version, major = sdmagic(NEWEST, binary, tmp_path)
        modelled = major in MODELLED_VERSIONS
        assert main(_argv(*args)) == (0 if modelled else 1)
        captured = capsys.readouterr()
        if not modelled:
            assert captured.out == ""
            lines = captured.err.strip().splitlines()
            assert lines == [lines[0]] and f"{program} {version} is not modelled" in lines[0], lines


def test_linux_release_from_the_ukis_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --linux-version a --uki's (or an ESP's UKI's) rules follow the release its .linux
    names: Debian trixie's kernel (tools/fetch_peers.py), whose package file name carries it
    (``vmlinuz-6.12.117+deb13-amd64``), inside systemd-stub 257; --linux-version still wins."""
    import re

    from support.ovmf_boot import peer_path

    kernel = peer_path("PVMKIT_LINUX_KERNEL")
    named = re.match(r"vmlinuz-(\d+)\.(\d+)\.", kernel.name)
    assert named is not None
    uki = tmp_path / "uki.efi"
    uki.write_bytes(build_uki(257, {".osrel": b"ID=t\n", ".linux": kernel.read_bytes()}, tmp_path))
    argv = measure_rtmr_argv("--uki", str(uki), "--secure-boot", "off")
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["versions"]["linux"] == f"{named.group(1)}.{named.group(2)}"
    assert doc["linux_version_source"] == "uki"
    assert main([*argv, "--linux-version", "6.9"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["versions"]["linux"], doc["linux_version_source"]) == ("6.9", "given")
    # the same UKI found by systemd-boot 257 on an ESP
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "Linux").mkdir()
    shutil.copy(systemd_efi(257, "systemd-bootx64.efi"), esp / "EFI" / "BOOT" / "BOOTX64.EFI")
    shutil.copy(uki, esp / "EFI" / "Linux" / "a.efi")
    assert main(measure_rtmr_argv("--esp", str(esp), "--secure-boot", "off")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["versions"]["linux"] == f"{named.group(1)}.{named.group(2)}"
    assert doc["linux_version_source"] == "esp"
