"""The UKI boot's RTMR1/RTMR2 events (``measure --vendor tdx --rtmr --disk-image``) against a real boot.

Oracle: a real boot of real parts, logged by the firmware, systemd and Linux themselves. Debian's
TPM-enabled OVMF 2026.08 (``OVMF_CODE_4M.fd``: Secure Boot off) boots under TCG in Debian's QEMU 10.0.2
with swtpm (tests/support/ovmf_boot.py) a GPT disk made by sfdisk whose FAT ESP (mkfs.fat, mcopy;
tests/support/disktools.py) holds Debian trixie's systemd-boot 257 as ``EFI/BOOT/BOOTX64.EFI`` and
either, in ``EFI/Linux/``, a UKI built from trixie's systemd-stub 257 (objcopy, tests/support/uki.py)
around Debian trixie's real kernel (``linux-image-amd64``: Linux 6.12, whose EFI stub logs its
LoadOptions and initrd) and a tiny initrd, or a type #1 loader entry naming that kernel and two
initrds; a third disk has the UKI itself as ``EFI/BOOT/BOOTX64.EFI``, started by a boot option with
options (virt-firmware writes it into the variable store). Three boots, 5–15 s each under TCG. Guest
RAM is saved until the kernel's ExitBootServices has returned; the TCG2 log in it is the evidence.

In a TPM boot the components measure into PCRs what they measure into RTMRs in a TD: edk2's
``TdTcg2Dxe`` ``MapPcrToMrIndex`` sends PCR 2–6 to RTMR1 and PCR 8–15 to RTMR2, and systemd 257's and
Linux's own events go through the TCG2 protocol here as through the CC protocol there. So every
RTMR1/RTMR2 event pvmkit plans from the GPT event to ExitBootServices must be the log's PCR 4/5/9/11
/12 event at the same place: event type, SHA-384 digest, and the event data where pvmkit builds it
(the load addresses and the firmware's device-path prefix of an image event are only approximated:
there the image length and the device path's end are compared). The events before the GPT event
(boot variables, separators) are the firmware's and differ between a TPM and a TD boot; they are not
compared here.

One difference is the environment's, not the model's: when the kernel's first ExitBootServices call
fails (its memory map key went stale; Linux's ``efi_exit_boot_services`` then fetches the map again and
retries once), edk2 logs "Exit Boot Services Invocation" and "Exit Boot Services Returned with
Failure" for it (``Tcg2Dxe.c`` / ``TdTcg2Dxe.c`` ``OnExitBootServicesFailed``). Under TCG this
happened in some boots, not in others; the real TD logs in the fixtures (Ubuntu, dstack) show one
successful call. Such a failed attempt is set aside before the comparison, and only in exactly that
form. Provenance: tests/vectors/README.md, "TDX UKI boot, a real boot".
"""

from __future__ import annotations

import gzip
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from support.disktools import fat_image, gpt_disk
from support.fixtures import import_peer
from support.ovmf_boot import (
    EBS_FAILED,
    EBS_INVOCATION,
    EV_EFI_ACTION,
    boot_and_save_ram,
    exit_boot_services_returned,
    generic_ovmf_code,
    peer_path,
    tcg2_event_log,
)
from support.uki import build_uki, measure_rtmr_argv, systemd_efi

pytestmark = [pytest.mark.crosscheck, pytest.mark.slow]

SHA384 = 0x000C  # TPM_ALG_SHA384
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003  # TCG PC Client PFP 1.05 §10.4.1
EV_EFI_GPT_EVENT = 0x80000006
CMDLINE = b"console=ttyS0 quiet\n"
OSREL = b'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\n'

Event = tuple[int, int, bytes, bytes]  # RTMR, event type, SHA-384 digest, event data


def _kernel() -> tuple[bytes, str]:
    """Debian's kernel image and its "major.minor" from the x86 setup header's ``kernel_version``
    string (Linux Documentation/arch/x86/boot.rst: offset 0x20E holds the string's offset - 0x200)."""
    image = peer_path("PVMKIT_LINUX_KERNEL").read_bytes()
    (pointer,) = struct.unpack_from("<H", image, 0x20E)
    m = re.match(rb"(\d+)\.(\d+)\.", image[0x200 + pointer : 0x200 + pointer + 64])
    assert m is not None, "no kernel_version string in the setup header"
    return image, f"{int(m.group(1))}.{int(m.group(2))}"


def _empty_cpio() -> bytes:
    """A newc archive holding only its trailer (Linux Documentation/driver-api/early-userspace/
    buffer-format.rst: "070701", 13 eight-digit hex fields, the name, NUL-padded to 4 bytes)."""
    name = b"TRAILER!!!\0"
    fields = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(name), 0]  # ino … nlink=1 … namesize, check
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    return header + bytes(-len(header) % 4)


def _rtmr(pcr: int) -> int | None:
    """edk2 TdTcg2Dxe ``MapPcrToMrIndex``: PCR 2–6 → RTMR1 (CC MR 2), PCR 8–15 → RTMR2 (CC MR 3)."""
    return 1 if 2 <= pcr <= 6 else 2 if 8 <= pcr <= 15 else None


def _logged(ram: bytes) -> list[Event]:
    """The real log's RTMR1/RTMR2 events from the GPT event on, a failed ExitBootServices attempt set
    aside (the module's docstring)."""
    log = tcg2_event_log(ram)
    first = next(i for i, (_p, kind, _d, _e) in enumerate(log) if kind == EV_EFI_GPT_EVENT)
    out: list[Event] = []
    for pcr, kind, digests, data in log[first:]:
        rtmr = _rtmr(pcr)
        if rtmr is not None:
            out.append((rtmr, kind, digests[SHA384], data))
    actions = [data if kind == EV_EFI_ACTION else None for _r, kind, _d, data in out]
    failed = [i for i in range(len(out) - 1) if actions[i : i + 2] == [EBS_INVOCATION, EBS_FAILED]]
    assert len(failed) <= 1, "Linux retries ExitBootServices once"
    for i in failed:
        assert actions[i + 2] == EBS_INVOCATION, "a failed attempt is followed by the retry"
        del out[i : i + 2]
    return out


def _planned(
    disk: Path, linux: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> list[dict[str, object]]:
    argv = measure_rtmr_argv(
        "--disk-image", str(disk), "--secure-boot", "off", "--linux-version", linux, *extra
    )
    assert main(argv) == 0, capsys.readouterr().err
    events = [e for e in json.loads(capsys.readouterr().out)["events"] if e["rtmr"] in (1, 2)]
    first = next(i for i, e in enumerate(events) if e["event_type"] == EV_EFI_GPT_EVENT)
    return events[first:]


def _image_load_event(real: bytes, planned: bytes) -> None:
    """``UEFI_IMAGE_LOAD_EVENT`` (TCG PC Client PFP 1.05 §10.2.3: location, length, link-time address,
    device-path length, device path): the same image length, and the real device path ends with the
    one pvmkit writes (the file path node, or the stub's vendor media node, and the end node)."""
    real_length, real_path_size = struct.unpack_from("<Q8xQ", real, 8)
    planned_length, planned_path_size = struct.unpack_from("<Q8xQ", planned, 8)
    assert real_length == planned_length
    real_path, planned_path = real[32 : 32 + real_path_size], planned[32 : 32 + planned_path_size]
    assert real_path.endswith(planned_path), (real_path.hex(), planned_path.hex())


def _compare(logged: list[Event], planned: list[dict[str, object]]) -> None:
    got = [(r, kind, digest.hex()) for r, kind, digest, _data in logged]
    want = [(e["rtmr"], e["event_type"], e["digest"]) for e in planned]
    assert got == want
    for (_r, kind, _digest, data), event in zip(logged, planned, strict=True):
        planned_data = bytes.fromhex(str(event["event_data"]))
        if kind == EV_EFI_BOOT_SERVICES_APPLICATION:
            _image_load_event(data, planned_data)
        else:
            assert data == planned_data, event["what"]


def _boot(disk: Path, variables: Path | None = None) -> bytes:
    """Boot ``disk`` with OVMF's variable store template, or ``variables`` instead."""
    variables = variables or peer_path("PVMKIT_OVMF_TPM") / "OVMF_VARS_4M.fd"
    drive = [
        "-drive",
        f"if=none,id=esp,format=raw,snapshot=on,file={disk}",
        "-device",
        "virtio-blk-pci,drive=esp",
    ]
    return boot_and_save_ram(generic_ovmf_code(), variables, drive, until=exit_boot_services_returned)


def _disk(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A GPT disk (sfdisk) whose one partition is a FAT16 ESP (mkfs.fat, mcopy) holding systemd-boot
    257 as EFI/BOOT/BOOTX64.EFI (unless ``files`` has another) and ``files`` (ESP path: contents)."""
    esp = tmp_path / "esp"
    files = {"EFI/BOOT/BOOTX64.EFI": systemd_efi(257, "systemd-bootx64.efi").read_bytes(), **files}
    for name, data in files.items():
        (esp / name).parent.mkdir(parents=True, exist_ok=True)
        (esp / name).write_bytes(data)
    fat = fat_image(tmp_path / "esp.img", esp, 32768, "-F", "16", "-s", "1")
    gpt_disk(tmp_path / "disk.img", [("U", fat)])
    return tmp_path / "disk.img"


def _boot_and_compare(
    disk: Path, linux: str, images: int, capsys: pytest.CaptureFixture[str], *, options: str | None = None
) -> None:
    """Boot ``disk`` (started with ``options``: a boot option of the removable path carrying them) and
    compare its log with the plan of ``--disk-image`` (and ``--cmdline options``)."""
    variables = None
    if options is not None:
        variables = disk.parent / "vars.fd"
        _vars_with_boot_option(variables, "\\EFI\\BOOT\\BOOTX64.EFI", options)
    logged = _logged(_boot(disk, variables))
    kinds = [kind for _r, kind, _d, _e in logged]
    assert kinds.count(EV_EFI_BOOT_SERVICES_APPLICATION) == images
    extra = ["--cmdline", options] if options is not None else []
    _compare(logged, _planned(disk, linux, capsys, *extra))


def _vars_with_boot_option(out: Path, path: str, options: str) -> None:
    """OVMF's variable store template with a first boot option for the file ``path`` whose optional data
    (the LoadOptions BDS passes) is ``options`` in UCS-2: written by virt-firmware's ``virt-fw-vars
    --append-boot-filepath`` (PyPI peer; a file-path-only device path, which edk2's boot manager
    expands by searching the file systems)."""
    import_peer("virt.firmware.vars")
    template = peer_path("PVMKIT_OVMF_TPM") / "OVMF_VARS_4M.fd"
    argv = [sys.executable, "-m", "virt.firmware.vars", "--input", str(template), "--output", str(out)]
    argv += ["--append-boot-filepath", f"{path} {options}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_systemd_boot_257_and_a_uki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A type #2 entry: systemd-boot passes no options (its .cmdline is implied), the stub measures its
    sections and loads its .linux, the kernel measures the .cmdline and the initrd with 257's generated
    os-release archive. Images: systemd-boot, the UKI, its .linux."""
    kernel, linux = _kernel()
    assert tuple(map(int, linux.split("."))) >= (6, 9), "a kernel whose EFI stub measures LoadOptions"
    (tmp_path / "build").mkdir()
    sections = {".osrel": OSREL, ".cmdline": CMDLINE, ".initrd": _empty_cpio(), ".linux": kernel}
    uki = build_uki(257, sections, tmp_path / "build")
    _boot_and_compare(_disk(tmp_path, {"EFI/Linux/debian.efi": uki}), linux, 3, capsys)


def test_systemd_boot_257_and_a_type1_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A type #1 loader entry with two initrds (the first of a length that is no multiple of 4: a
    gzip-compressed archive): systemd-boot loads the kernel (the firmware's image event), passes
    ``initrd=`` paths and the options, logs them (257's EV_IPL, PCR 12) and serves the initrds
    concatenated; the kernel measures both. Images: systemd-boot, the kernel."""
    kernel, linux = _kernel()
    early = gzip.compress(_empty_cpio(), mtime=0)
    if len(early) % 4 == 0:
        early += b"\0"  # trailing garbage the kernel's unpacker skips; the padding rule needs it
    entry = (
        "title Debian\nlinux /vmlinuz\ninitrd /early.img\ninitrd /initrd.img\noptions console=ttyS0 quiet\n"
    )
    files = {
        "vmlinuz": kernel,
        "early.img": early,
        "initrd.img": _empty_cpio(),
        "loader/entries/debian.conf": entry.encode(),
    }
    _boot_and_compare(_disk(tmp_path, files), linux, 2, capsys)


def test_uki_started_by_the_firmware_with_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The UKI itself as EFI/BOOT/BOOTX64.EFI, started by a boot option whose optional data are options:
    systemd-stub 257 takes them over its .cmdline (Secure Boot off), logs them (EV_IPL, PCR 12) after its
    sections, and hands them to the kernel. Images: the UKI, its .linux."""
    kernel, linux = _kernel()
    (tmp_path / "build").mkdir()
    sections = {".osrel": OSREL, ".cmdline": CMDLINE, ".initrd": _empty_cpio(), ".linux": kernel}
    uki = build_uki(257, sections, tmp_path / "build")
    disk = _disk(tmp_path, {"EFI/BOOT/BOOTX64.EFI": uki})
    _boot_and_compare(disk, linux, 2, capsys, options="console=ttyS0 debug")
