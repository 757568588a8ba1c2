"""Real systemd EFI binaries and UKIs built from them for the UKI tests.

``PVMKIT_SYSTEMD_BOOT_EFI``: a directory with one subdirectory per modelled systemd version (``252``,
``254``, ``257``) holding Debian's ``systemd-bootx64.efi`` and ``linuxx64.efi.stub``, and ``newest``
(Debian sid's, whatever release sid has: 262 when this was written); ``PVMKIT_SYSTEMD_MEASURE``: a
directory of ``systemd-measure-VERSION`` wrappers and ``systemd-measure-newest`` (both fetched by
``tools/fetch_peers.py``). A UKI is built as systemd's documentation builds one by hand: ``objcopy
--add-section`` of each payload file to the real stub, each at the next free page after the stub's last
section (ukify does the same).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from support.fixtures import fixture_path, missing

VERSIONS = (252, 254, 257)
#: the directory name of Debian sid's systemd binaries (tools/fetch_peers.py)
NEWEST = "newest"


def _directory(variable: str) -> Path:
    where = os.environ.get(variable)
    if not where or not Path(where).is_dir():
        missing(f"{variable} not set (./dev test fetches Debian's systemd)", "required under CI")
    return Path(where)


def systemd_measure(version: int | str) -> str:
    tool = _directory("PVMKIT_SYSTEMD_MEASURE") / f"systemd-measure-{version}"
    if not tool.is_file():
        missing(f"{tool} not found", "systemd peers are required under CI")
    return str(tool)


def systemd_efi(version: int | str, name: str) -> Path:
    """``systemd-bootx64.efi`` or ``linuxx64.efi.stub`` of a systemd version (or of sid's: ``NEWEST``)."""
    path = _directory("PVMKIT_SYSTEMD_BOOT_EFI") / str(version) / name
    if not path.is_file():
        missing(f"{path} not found", "systemd peers are required under CI")
    return path


def sdmagic(version: int | str, name: str, tmp: Path) -> tuple[str, str, int]:
    """(program, version, release) of a systemd EFI binary from its ``.sdmagic`` section as objcopy dumps
    it (the LoaderInfo string of systemd's boot.c / stub.c: ``#### LoaderInfo: systemd-boot 262.1-1
    ####``), independent of pvmkit's reader."""
    tool = _objcopy()
    out = tmp / f"{name}.sdmagic"
    argv = [tool, "--dump-section", f".sdmagic={out}", str(systemd_efi(version, name)), str(tmp / "scratch")]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    m = re.search(rb"#### LoaderInfo: (systemd-[a-z]+) ((\d+)\S*) ####", out.read_bytes())
    assert m is not None, out.read_bytes()
    return m.group(1).decode(), m.group(2).decode(), int(m.group(3))


def _objcopy() -> str:
    tool = shutil.which("objcopy")
    objdump = shutil.which("objdump")
    if tool is None or objdump is None:
        missing("binutils (objcopy, objdump) not installed", "binutils is required under CI")
    return tool


def _next_free(stub: Path) -> int:
    """The first page-aligned address after the stub's last section (from ``objdump -h``)."""
    out = subprocess.run(["objdump", "-h", str(stub)], check=True, capture_output=True, text=True).stdout
    end = 0
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 7 and fields[0].isdigit():
            end = max(end, int(fields[3], 16) + int(fields[2], 16))
    return (end + 0xFFF) & ~0xFFF


def build_uki(version: int | str, sections: dict[str, bytes], tmp: Path) -> bytes:
    """A UKI: systemd ``version``'s real stub with ``sections`` added by objcopy, in the given order."""
    tool = _objcopy()
    stub = systemd_efi(version, "linuxx64.efi.stub")
    argv = [tool]
    address = _next_free(stub)
    for name, data in sections.items():
        path = tmp / f"section{name}"
        path.write_bytes(data)
        argv += ["--add-section", f"{name}={path}", "--change-section-vma", f"{name}={address:#x}"]
        address = (address + len(data) + 0xFFF) & ~0xFFF
    out = tmp / "uki.efi"
    subprocess.run([*argv, str(stub), str(out)], check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def measure_rtmr_argv(*extra: str) -> list[str]:
    """``pvmkit measure --vendor tdx --rtmr`` with the Debian TDVF fixture, 2 GiB, ``extra``, ``--json``."""
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    return [
        "measure",
        "--vendor",
        "tdx",
        "--rtmr",
        "--firmware",
        firmware,
        "--memory",
        "2G",
        *extra,
        "--json",
    ]
