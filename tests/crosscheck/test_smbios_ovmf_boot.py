"""The SMBIOS event of a real OVMF boot against pvmkit's table (pvmkit.vendors.tdx.smbios_ovmf).

Oracle: Debian's TPM-enabled OVMF (sid's ``ovmf-generic``, ``PVMKIT_OVMF_TPM``; the edk2 release of
the fixtures' ``ovmf-inteltdx``, with the same SmbiosPlatformDxe, SmbiosDxe and SmbiosMeasurementDxe)
booted under TCG by Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) with bookworm's swtpm (``PVMKIT_SWTPM``),
``-kernel`` a shim so that BDS boots something and signals ReadyToBoot. Guest RAM is saved through
the monitor; the TCG2 log in it has SmbiosMeasurementDxe's PCR 1 event, whose SHA-256 and SHA-384
digests must be those of the table pvmkit computes for the same machine (QEMU's q35 SMBIOS for 1
vCPU of ``qemu64`` and 256 MiB, OVMF's type 0 and filter as read from the image).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvmkit.vendors.tdx.smbios_ovmf import measured_smbios, read_firmware
from support.fixtures import read_fixture
from support.qemu import qemu_binary

pytestmark = [pytest.mark.crosscheck, pytest.mark.slow]

MEMORY = 256 << 20
EV_EFI_HANDOFF_TABLES = 0x80000009
SMBIOS_GUID = bytes.fromhex("312d9deb882dd3119a160090273fc14d")  # eb9d2d31-2d88-11d3-9a16-0090273fc14d
_DIGEST_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64}  # TPM_ALG_SHA1/256/384/512
BOOT_TIMEOUT = 600.0  # TCG on a loaded 2-core machine: ~40 s unloaded


def _env(name: str) -> Path:
    where = os.environ.get(name)
    if not where:
        pytest.skip(f"{name} not set (./dev test fetches it with tools/fetch_peers.py)")
    return Path(where)


def _events(ram: bytes) -> Iterator[tuple[int, dict[int, bytes], bytes]]:
    """(event type, digests by algorithm, event data) of every PCR 1 handoff-table event in ``ram``
    (TCG_PCR_EVENT2 headers found by their PCR index and type)."""
    header = struct.pack("<II", 1, EV_EFI_HANDOFF_TABLES)
    at = ram.find(header)
    while at >= 0:
        off = at + 8
        count = struct.unpack_from("<I", ram, off)[0]
        off += 4
        digests: dict[int, bytes] = {}
        for _ in range(count if count <= 8 else 0):
            alg = struct.unpack_from("<H", ram, off)[0]
            if alg not in _DIGEST_SIZES:
                break
            digests[alg] = ram[off + 2 : off + 2 + _DIGEST_SIZES[alg]]
            off += 2 + _DIGEST_SIZES[alg]
        else:
            size = struct.unpack_from("<I", ram, off)[0]
            if 0 < count <= 8 and size <= 4096:
                yield EV_EFI_HANDOFF_TABLES, digests, ram[off + 4 : off + 4 + size]
        at = ram.find(header, at + 1)


def _monitor(path: str, command: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(60)
        time.sleep(0.5)
        s.recv(65536)
        s.sendall(command.encode() + b"\n")
        data = b""
        while b"(qemu)" not in data.split(command.encode(), 1)[-1]:
            data += s.recv(65536)


def _boot_and_save_ram(work: Path, code: Path, vars_template: Path, kernel: Path) -> bytes:
    swtpm_bin, qemu = str(_env("PVMKIT_SWTPM")), qemu_binary()
    (work / "tpm").mkdir()
    shutil.copy(vars_template, work / "vars.fd")
    tpm_sock, mon_sock, serial = work / "tpm.sock", work / "mon.sock", work / "serial.log"
    swtpm = subprocess.Popen(
        [
            swtpm_bin,
            "socket",
            "--tpm2",
            "--tpmstate",
            f"dir={work / 'tpm'}",
            "--ctrl",
            f"type=unixio,path={tpm_sock}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    vm = None
    try:
        deadline = time.monotonic() + 60
        while not tpm_sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        vm = subprocess.Popen(
            [qemu, "-accel", "tcg", "-machine", "q35,smm=off", "-m", f"{MEMORY >> 20}M", "-smp", "1",
             "-cpu", "qemu64", "-nodefaults", "-display", "none",
             "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
             "-drive", f"if=pflash,format=raw,file={work / 'vars.fd'}",
             "-kernel", str(kernel),
             "-chardev", f"socket,id=chrtpm,path={tpm_sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
             "-device", "tpm-tis,tpmdev=tpm0", "-serial", f"file:{serial}",
             "-monitor", f"unix:{mon_sock},server,nowait"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + BOOT_TIMEOUT
        # shim started (ReadyToBoot was signalled before it) and gave up on grubx64.efi
        while b"start_image() returned" not in (serial.read_bytes() if serial.exists() else b""):
            if vm.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"OVMF did not reach the boot option: {vm.stderr.read() if vm.stderr else ''}")
            time.sleep(1)
        ram = work / "ram.bin"
        _monitor(str(mon_sock), f'pmemsave 0 {MEMORY:#x} "{ram}"')
        return ram.read_bytes()
    finally:
        for proc in (vm, swtpm):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=60)


def test_ovmf_measures_the_table_pvmkit_computes() -> None:
    from pvmkit.vendors.tdx.smbios_qemu import QEMU64_PROCESSOR_ID, qemu_smbios_blobs

    ovmf = _env("PVMKIT_OVMF_TPM")
    shim = _env("PVMKIT_PE_SAMPLES") / "shimx64.efi.signed"
    code = ovmf / "OVMF_CODE_4M.fd"
    facts = read_firmware(code.read_bytes())
    tdx = read_firmware(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    assert facts.strings == tdx.strings and facts.filters == tdx.filters  # the TDX build's drivers
    assert facts.strings is not None and facts.filters is not None
    tables = qemu_smbios_blobs((10, 0), 1, MEMORY, QEMU64_PROCESSOR_ID).tables
    expected = measured_smbios(tables, facts.strings, facts.filters)

    with tempfile.TemporaryDirectory(prefix="pvmkit-smbios-", dir="/tmp") as tmp:  # short socket paths
        ram = _boot_and_save_ram(Path(tmp), code, ovmf / "OVMF_VARS_4M.fd", shim)
    smbios = [(d, data) for _t, d, data in _events(ram) if data[8:24] == SMBIOS_GUID]
    assert len(smbios) == 1, "one SMBIOS event in the TCG2 log"
    digests, data = smbios[0]
    assert struct.unpack_from("<Q", data)[0] == 1 and len(data) == 32  # EFI_HANDOFF_TABLE_POINTERS, 1 table
    assert digests[0x000B] == hashlib.sha256(expected).digest()
    assert digests[0x000C] == hashlib.sha384(expected).digest()
