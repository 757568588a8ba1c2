"""Real OVMF booted under TCG, the oracle of the boot-option and SMBIOS cross-checks.

Debian's TPM-enabled ``ovmf-generic`` (``PVMKIT_OVMF_TPM``, sid's 2026.08: the TDX fixture's edk2
release) runs in Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) with bookworm's swtpm (``PVMKIT_SWTPM``), all
fetched by tools/fetch_peers.py. :func:`boot_and_save_ram` boots it with the caller's extra QEMU
arguments, saves guest RAM through the monitor until a predicate holds (by default: the PCR 1
``EV_EFI_VARIABLE_BOOT`` events of ReadyToBoot are all there, :func:`boot_variables_complete`) and
returns it; :func:`pcr_events` reads TCG2 crypto-agile events (``TCG_PCR_EVENT2``, TCG PC Client PFP
1.05 §10.2.2) out of that RAM by their PCR index and type.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from support.qemu import qemu_binary

EV_EFI_VARIABLE_BOOT = 0x80000002  # TCG PC Client PFP 1.05 §10.4.1
EV_EFI_HANDOFF_TABLES = 0x80000009
EFI_GLOBAL_VARIABLE = bytes.fromhex("61dfe48bca93d211aa0d00e098032b8c")  # UEFI 2.10 §3.3, EFI_GUID order
_DIGEST_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64}  # TPM_ALG_SHA1/256/384/512
BOOT_TIMEOUT = 900.0  # TCG on a loaded 2-core machine: ~40 s unloaded
MEMORY = 256 << 20


def peer_path(name: str) -> Path:
    """The path an environment variable of tools/fetch_peers.py names; the test skips without it."""
    where = os.environ.get(name)
    if not where:
        pytest.skip(f"{name} not set (./dev test fetches it with tools/fetch_peers.py)")
    return Path(where)


def generic_ovmf_code() -> Path:
    """Debian sid's ``OVMF_CODE_4M.fd`` (edk2 2026.08, the TDX fixture's release): with the EFI Shell
    and the network stack, which the TDX build lacks."""
    return peer_path("PVMKIT_OVMF_TPM") / "OVMF_CODE_4M.fd"


def pcr_events(ram: bytes, pcr: int, event_type: int) -> list[tuple[dict[int, bytes], bytes]]:
    """(digests by algorithm, event data) of every ``TCG_PCR_EVENT2`` of ``pcr`` and ``event_type`` in
    ``ram``, in address order, each distinct event once (found by its header; implausible digest
    counts, algorithms or sizes are skipped)."""
    out: list[tuple[dict[int, bytes], bytes]] = []
    for digests, data in _scan(ram, struct.pack("<II", pcr, event_type)):
        if (digests, data) not in out:
            out.append((digests, data))
    return out


def _scan(ram: bytes, header: bytes) -> Iterator[tuple[dict[int, bytes], bytes]]:
    at = ram.find(header)
    while at >= 0:
        off = at + 8
        count = struct.unpack_from("<I", ram, off)[0]
        off += 4
        digests: dict[int, bytes] = {}
        for _ in range(count if 0 < count <= 8 else 0):
            alg = struct.unpack_from("<H", ram, off)[0]
            if alg not in _DIGEST_SIZES:
                break
            digests[alg] = ram[off + 2 : off + 2 + _DIGEST_SIZES[alg]]
            off += 2 + _DIGEST_SIZES[alg]
        else:
            size = struct.unpack_from("<I", ram, off)[0] if digests else 0
            if digests and 0 < size <= 4096:
                yield digests, ram[off + 4 : off + 4 + size]
        at = ram.find(header, at + 1)


def uefi_variable(event_data: bytes) -> tuple[bytes, str, bytes]:
    """``UEFI_VARIABLE_DATA`` (TCG PC Client PFP 1.05 §10.2.6): (VariableName GUID, UnicodeName,
    VariableData), the lengths checked against the event's size."""
    guid = event_data[:16]
    name_length, data_length = struct.unpack_from("<QQ", event_data, 16)
    name_end = 32 + 2 * name_length
    assert len(event_data) == name_end + data_length, "UEFI_VARIABLE_DATA lengths"
    return guid, event_data[32:name_end].decode("utf-16-le"), event_data[name_end:]


def boot_variable_events(ram: bytes) -> list[tuple[dict[int, bytes], str, bytes]]:
    """(digests, name, data) of the PCR 1 ``EV_EFI_VARIABLE_BOOT`` events in ``ram``."""
    out = []
    for digests, data in pcr_events(ram, 1, EV_EFI_VARIABLE_BOOT):
        guid, name, value = uefi_variable(data)
        assert guid == EFI_GLOBAL_VARIABLE, name
        out.append((digests, name, value))
    return out


def boot_variables_complete(ram: bytes) -> bool:
    """Whether BootOrder and one Boot#### event per BootOrder entry are in ``ram``."""
    events = boot_variable_events(ram)
    orders = [value for _d, name, value in events if name == "BootOrder"]
    return bool(orders) and len(events) >= 1 + len(orders[0]) // 2


_BOOT_NAME = re.compile(rb"B\0o\0o\0t\0(?:O\0r\0d\0e\0r\0|[0-9A-F]\0[0-9A-F]\0[0-9A-F]\0[0-9A-F]\0)\0\0")


def stored_boot_variables(ram: bytes) -> dict[str, bytes]:
    """BootOrder and Boot#### as the variable store in ``ram`` holds them: every added (State 0x3F)
    ``AUTHENTICATED_VARIABLE_HEADER`` record of EFI_GLOBAL_VARIABLE with such a name (edk2
    MdeModulePkg/Include/Guid/VariableFormat.h: StartId 0x55AA, State, Attributes, MonotonicCount,
    TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid, then name and data); copies must agree."""
    out: dict[str, bytes] = {}
    for match in _BOOT_NAME.finditer(ram):
        at, header = match.start(), match.start() - 60
        if header < 0 or ram[header : header + 2] != b"\xaa\x55" or ram[header + 2] != 0x3F:
            continue
        name_size, data_size = struct.unpack_from("<II", ram, header + 36)
        if ram[header + 44 : header + 60] == EFI_GLOBAL_VARIABLE and name_size == len(match.group()):
            name = match.group()[:-2].decode("utf-16-le")
            data = ram[at + name_size : at + name_size + data_size]
            assert out.setdefault(name, data) == data, f"two live copies of {name} differ"
    return out


def boot_and_save_ram(
    code: Path,
    vars_template: Path | None,
    extra_args: Sequence[str],
    *,
    disks: Sequence[tuple[str, int]] = (),
    cpu: str = "qemu64",
    until: Callable[[bytes], bool] = boot_variables_complete,
) -> bytes:
    """Boot ``code`` (a fresh copy of ``vars_template`` as its variable store, or none: a whole image
    such as the IntelTdx build, read-only, which keeps its variables in RAM; q35, 1 vCPU of ``cpu``,
    :data:`MEMORY`, swtpm as a TIS TPM) with ``extra_args`` under TCG; save guest RAM every few
    seconds until ``until(ram)`` holds and return that RAM. ``disks``: (name, size) of empty raw
    images made in the work directory; ``{name}`` in ``extra_args`` becomes the image's path."""
    swtpm_bin, qemu = str(peer_path("PVMKIT_SWTPM")), qemu_binary()
    with tempfile.TemporaryDirectory(prefix="pvmkit-ovmf-", dir="/tmp") as tmp:  # short socket paths
        work = Path(tmp)
        (work / "tpm").mkdir()
        flash = ["-drive", f"if=pflash,format=raw,readonly=on,file={code}"]
        if vars_template is not None:
            shutil.copy(vars_template, work / "vars.fd")
            flash += ["-drive", f"if=pflash,format=raw,file={work / 'vars.fd'}"]
        paths = {}
        for name, size in disks:
            paths[name] = str(work / f"{name}.img")
            with open(paths[name], "wb") as f:
                f.truncate(size)
        args = [a.format(**paths) for a in extra_args]
        tpm_sock, mon_sock, ram_file = work / "tpm.sock", work / "mon.sock", work / "ram.bin"
        swtpm = subprocess.Popen(
            [swtpm_bin, "socket", "--tpm2", "--tpmstate", f"dir={work / 'tpm'}",
             "--ctrl", f"type=unixio,path={tpm_sock}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        vm = None
        try:
            deadline = time.monotonic() + 60
            while not tpm_sock.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            vm = subprocess.Popen(
                [qemu, "-accel", "tcg", "-machine", "q35,smm=off", "-m", f"{MEMORY >> 20}M", "-smp", "1",
                 "-cpu", cpu, "-nodefaults", "-display", "none",
                 *flash,
                 "-chardev", f"socket,id=chrtpm,path={tpm_sock}",
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                 "-device", "tpm-tis,tpmdev=tpm0", "-serial", "null",
                 "-monitor", f"unix:{mon_sock},server,nowait", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            deadline = time.monotonic() + BOOT_TIMEOUT
            while True:
                time.sleep(5)
                if vm.poll() is not None or time.monotonic() > deadline:
                    err = vm.stderr.read() if vm.stderr and vm.poll() is not None else b""
                    pytest.fail(f"OVMF did not reach ReadyToBoot in time: {err!r}")
                _monitor(str(mon_sock), f'pmemsave 0 {MEMORY:#x} "{ram_file}"')
                ram = ram_file.read_bytes()
                if until(ram):
                    return ram
        finally:
            for proc in (vm, swtpm):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.communicate(timeout=60)


def _monitor(path: str, command: str) -> None:
    """Run one HMP command and wait for its prompt (pmemsave has then written the file)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(120)
        data = b""
        while b"(qemu)" not in data:
            data += s.recv(65536)
        s.sendall(command.encode() + b"\n")
        data = b""
        while b"(qemu)" not in data.split(command.encode(), 1)[-1]:
            data += s.recv(65536)


#: edk2's EV_EFI_ACTION strings of ExitBootServices (TCG PC Client PFP 1.05 §10.4.4; Tcg2Dxe.c)
EBS_INVOCATION = b"Exit Boot Services Invocation"
EBS_FAILED = b"Exit Boot Services Returned with Failure"
EBS_SUCCEEDED = b"Exit Boot Services Returned with Success"
EV_EFI_ACTION = 0x80000007


def exit_boot_services_returned(ram: bytes) -> bool:
    """Whether the OS loader's ExitBootServices has succeeded: edk2's PCR 5 success event, its log's
    last, is in ``ram`` (the invocation event alone may be a failed first attempt whose retry is not
    logged yet)."""
    return any(data == EBS_SUCCEEDED for _d, data in pcr_events(ram, 5, EV_EFI_ACTION))


def tcg2_event_log(ram: bytes) -> list[tuple[int, int, dict[int, bytes], bytes]]:
    """(PCR, event type, digests, event data) of every event of the longest crypto-agile log in ``ram``:
    each copy starts with the SHA-1 format ``TCG_PCR_EVENT`` holding "Spec ID Event03" (TCG PC Client
    PFP 1.05 §10.2.1: PCR, type, SHA-1 digest, size, then the data), followed by ``TCG_PCR_EVENT2``
    records (§10.2.2) up to the first that does not parse."""
    best: list[tuple[int, int, dict[int, bytes], bytes]] = []
    at = ram.find(b"Spec ID Event03")
    while at >= 0:
        start = at - 32
        if start >= 0 and ram[start : start + 8] == struct.pack("<II", 0, 3):  # PCR 0, EV_NO_ACTION
            (size,) = struct.unpack_from("<I", ram, start + 28)
            log = list(_walk(ram, start + 32 + size))
            best = log if len(log) > len(best) else best
        at = ram.find(b"Spec ID Event03", at + 1)
    return best


def _walk(ram: bytes, off: int) -> Iterator[tuple[int, int, dict[int, bytes], bytes]]:
    while off + 12 <= len(ram):
        pcr, event_type, count = struct.unpack_from("<III", ram, off)
        if pcr > 23 or not 0 < count <= 8:
            return
        off += 12
        digests: dict[int, bytes] = {}
        for _ in range(count):
            (alg,) = struct.unpack_from("<H", ram, off)
            if alg not in _DIGEST_SIZES:
                return
            digests[alg] = ram[off + 2 : off + 2 + _DIGEST_SIZES[alg]]
            off += 2 + _DIGEST_SIZES[alg]
        (size,) = struct.unpack_from("<I", ram, off)
        if size > 1 << 20:
            return
        yield pcr, event_type, digests, ram[off + 4 : off + 4 + size]
        off += 4 + size
