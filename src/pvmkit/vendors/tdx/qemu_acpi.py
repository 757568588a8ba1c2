"""ACPI blobs for RTMR0 without captures: ask the QEMU that will launch the TD (docs/tdx-measure.md).

TDVF measures three fw_cfg files into RTMR0 (``etc/table-loader``, then the files the loader
ALLOCATEs: ``etc/acpi/rsdp``, ``etc/acpi/tables``). QEMU builds them from the machine's shape (QEMU
version, machine options, vCPUs, RAM, PCI devices). pvmkit does not re-implement QEMU's AML: it runs
the QEMU binary itself, never executing a guest instruction:

* ``-accel tcg -S -qtest stdio``: the machine is built and stays stopped; qtest's protocol (QEMU
  ``system/qtest.c``: ``outw``/``outl``/``write``/``read``) reaches its I/O ports and RAM;
* first it programs what TDVF programs before it downloads the tables, since QEMU rebuilds the tables
  when the firmware first reads them (``acpi_build_update``) from the chipset's state then:
  the ICH9 ``PMBASE`` (LPC config 0x40) at 0x600 with ``ACPI_CNTL`` (0x44) enabled (edk2
  ``OvmfPkg/Include/IndustryStandard/Q35MchIch9.h`` ``ICH9_PMBASE_VALUE``), which QEMU writes into the
  FADT's PM blocks; the Q35 ``PCIEXBAR`` (MCH config 0x60, QEMU ``hw/pci-host/q35.c``) at 0xE0000000,
  256 MiB, enabled (edk2 ``PcdPciExpressBaseAddress``), which becomes the MCFG and splits the DSDT's
  32-bit window; and the lowest 64-bit BAR at the base of TDVF's 64-bit PCI aperture,
  0x380000000000, which QEMU's ``q35_host_get_pci_hole64_start``/``_end`` turn into the DSDT's QWord
  window (``[base, base + pci-hole64-size)``). All three are confirmed by the tables digest of
  dstack's QEMU 10.2.1 TD (tests/vectors/README.md); the QEMU defaults (PCIEXBAR 0xB0000000, PMBASE
  unset, no BARs) give different tables;
* then it reads the fw_cfg file directory (selector 0x19) and each file with the fw_cfg DMA interface
  (QEMU ``docs/specs/fw_cfg.rst``: ``FWCfgDmaAccess`` big-endian, control = selector << 16 | SELECT |
  READ, address written to ports 0x514/0x518).

The TDX ``confidential-guest-support`` object needs KVM TDX, so the machine is built without it; the
machine options TDX forces are given explicitly (``kernel-irqchip=split``, ``smm=off``; QEMU
``target/i386/kvm/tdx.c``), with ``hpet=off`` and ``pic`` as the launcher sets them. What a guest's
firmware places beyond the lowest 64-bit BAR (the other BARs) does not reach the tables as long as the
BARs fit in the aperture's first ``pci-hole64-size`` bytes; docs/tdx-measure.md lists what is confirmed
against real TD event logs.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pvmkit.errors import InputError

__all__ = [
    "BOOT_FILES",
    "SMBIOS_FILES",
    "AcpiShape",
    "QemuAcpiDumper",
    "qemu_machine_options",
    "qemu_version_of",
]

_FW_CFG_FILE_DIR = 0x19
_DMA_SELECT, _DMA_READ, _DMA_ERROR = 0x08, 0x02, 0x01
_DESC_GPA, _BUF_GPA = 0x1000, 0x10000  # RAM below 1 MiB for the descriptor, 64 KiB up for data
_PCIEXBAR = 0xE0000000  # edk2 OvmfPkg PcdPciExpressBaseAddress, 256 MiB (MCH PCIEXBAR length 00)
_MCH_PCIEXBAR = 0x60
_LPC = 0x1F << 3  # ICH9 LPC bridge, 00:1f.0
_ICH9_PMBASE, _ICH9_ACPI_CNTL, _ICH9_ACPI_EN = 0x40, 0x44, 0x80
_PMBASE = 0x600  # edk2 OvmfPkg Q35MchIch9.h ICH9_PMBASE_VALUE
_TDVF_MMIO64_BASE = 0x380000000000  # TDVF's 64-bit PCI aperture (confirmed by a real TD's tables digest)
_PCI_COMMAND, _PCI_COMMAND_MEMORY = 0x04, 0x02
_ACPI_FILES = ("etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables")
#: QEMU's SMBIOS files (hw/i386/fw_cfg.c fw_cfg_build_smbios), returned too when QEMU serves them:
#: OVMF installs them and, from stable202505, measures the result into RTMR0 (vendors/tdx/smbios_ovmf.py).
SMBIOS_FILES = ("etc/smbios/smbios-anchor", "etc/smbios/smbios-tables")
#: QEMU's boot order (``bootorder``, hw/nvram/fw_cfg.c; empty without a bootindex) and the BootMenu
#: item (selector FW_CFG_BOOT_MENU, 0x0e, 2 bytes): OVMF measures both from stable202505
#: (rtmr.py FW_CFG_MEASURED_SINCE).
BOOT_FILES = ("bootorder", "BootMenu")
_FW_CFG_BOOT_MENU = 0x0E
_TIMEOUT = 60.0


@dataclass(frozen=True)
class AcpiShape:
    """One guest shape: what QEMU's ACPI tables depend on besides the QEMU build and its devices."""

    vcpus: int
    memory_size: int  #: bytes, as given to ``-m``
    pic: bool  #: ``-machine pic=on`` (legacy QEMU 8.x TDX stacks) or off (QEMU >= 9)

    def __post_init__(self) -> None:
        if not 1 <= self.vcpus <= 4096:
            raise InputError(f"{self.vcpus} vCPUs: QEMU's q35 machine takes 1..4096")
        if self.memory_size < 1 << 20 or self.memory_size % (1 << 20):
            raise InputError("the memory size must be a whole number of MiB, at least 1 MiB")


def qemu_machine_options(shape: AcpiShape) -> str:
    """The ``-machine`` value of a TDX guest (without its ``confidential-guest-support``)."""
    return f"q35,kernel-irqchip=split,hpet=off,smm=off,pic={'on' if shape.pic else 'off'}"


def qemu_version_of(banner: str) -> tuple[int, int, int]:
    """(major, minor, micro) from ``qemu-system-x86_64 --version``'s first line."""
    m = re.search(r"QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?", banner)
    if m is None:
        raise InputError("the QEMU binary did not print 'QEMU emulator version X.Y.Z' for --version")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


class QemuAcpiDumper:
    """Runs one QEMU binary per shape and returns the three ACPI fw_cfg blobs as QEMU serves them."""

    def __init__(self, binary: str, firmware_path: str, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.firmware_path = firmware_path
        self.extra_args = extra_args
        self._version: tuple[int, int, int] | None = None

    @property
    def version(self) -> tuple[int, int, int]:
        if self._version is None:
            self._version = qemu_version_of(self._run_version())
        return self._version

    def _run_version(self) -> str:
        import subprocess

        try:
            done = subprocess.run(
                [self.binary, "--version"], capture_output=True, text=True, timeout=_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise InputError(f"cannot run the QEMU binary {self.binary}: {e}") from None
        if done.returncode != 0:
            raise InputError(f"{self.binary} --version failed: {_first_line(done.stderr)}")
        return done.stdout

    def argv(self, shape: AcpiShape) -> list[str]:
        machine = qemu_machine_options(shape)
        ram: list[str] = []
        if "-numa" not in self.extra_args:
            # Guest RAM without a host reservation (MAP_NORESERVE): the machine never runs, and a
            # 64 GiB guest must not need 64 GiB of commit here. The backend does not change ACPI.
            machine += ",memory-backend=pvmkit-ram"
            ram = ["-object", f"memory-backend-ram,id=pvmkit-ram,size={shape.memory_size >> 20}M,reserve=off"]
        return [
            self.binary,
            "-accel", "tcg", "-S", "-display", "none", "-nodefaults",
            "-qtest", "stdio", "-qtest-log", "/dev/null",
            "-bios", self.firmware_path,
            "-machine", machine,
            *ram,
            # APIC IDs above 254 need x2APIC in the CPU model (QEMU apic_common_set_id); TDX vCPUs
            # always have it. Below that the model stays dstack-mr's plain qemu64.
            "-cpu", "qemu64,+x2apic" if self._needs_x2apic(shape) else "qemu64",
            "-smp", str(shape.vcpus),
            "-m", f"{shape.memory_size >> 20}M",
            *self.extra_args,
        ]  # fmt: skip

    def _needs_x2apic(self, shape: AcpiShape) -> bool:
        """Whether a vCPU present at start has an APIC ID from 255: more than 255 vCPUs, or fewer
        spread by an ``-smp`` topology in the extra arguments (merged into ``-smp N`` by QEMU)."""
        if shape.vcpus > 255:
            return True
        if not any(word.lstrip("-") == "smp" for word in self.extra_args):
            return False
        import dataclasses

        from pvmkit.vendors.tdx.acpi.topology import smp_of_words

        smp = smp_of_words(self.extra_args, "-smp")
        try:
            topology = dataclasses.replace(smp, cpus=shape.vcpus).resolve()
        except InputError:
            return False  # QEMU refuses the machine and says why
        return max(topology.apic_ids[: shape.vcpus]) >= 255

    def dump(self, shape: AcpiShape) -> dict[str, bytes]:
        """``{name: bytes}`` for ``etc/table-loader``, ``etc/acpi/rsdp`` and ``etc/acpi/tables``, the
        two :data:`SMBIOS_FILES` where QEMU serves them, and the :data:`BOOT_FILES`."""
        import subprocess

        try:
            proc = subprocess.Popen(
                self.argv(shape),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as e:
            raise InputError(f"cannot run the QEMU binary {self.binary}: {e}") from None
        try:
            return _Qtest(proc).acpi_files()
        except _QemuExited:
            _out, err = proc.communicate(timeout=_TIMEOUT)
            raise InputError(f"QEMU refused the machine: {_first_line(err)}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=_TIMEOUT)


class _QemuExited(Exception):
    pass


class _Qtest:
    """The qtest line protocol on a running QEMU's stdin/stdout."""

    def __init__(self, proc: object) -> None:
        import subprocess

        assert isinstance(proc, subprocess.Popen)
        self.proc = proc

    def cmd(self, line: str) -> list[str]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(line + "\n")
            stdin.flush()
        except BrokenPipeError:
            raise _QemuExited from None
        while True:
            reply = stdout.readline()
            if not reply:
                raise _QemuExited
            if reply.startswith("OK"):
                words: list[str] = reply.split()
                return words
            if reply.startswith(("FAIL", "ERR")):
                raise InputError(f"QEMU qtest refused {line.split()[0]}: {reply.strip()}")

    def _config_address(self, bdf: int, offset: int) -> None:
        self.cmd(f"outl 0xcf8 {0x80000000 | bdf << 8 | offset:#x}")  # bus 0 (PCI config mechanism #1)

    def pci_read32(self, bdf: int, offset: int) -> int:
        self._config_address(bdf, offset)
        return int(self.cmd("inl 0xcfc")[1], 16)

    def pci_write32(self, bdf: int, offset: int, value: int) -> None:
        self._config_address(bdf, offset)
        self.cmd(f"outl 0xcfc {value:#x}")

    def program_like_tdvf(self) -> None:
        """The chipset state TDVF leaves before it reads the ACPI tables (module docstring)."""
        self.pci_write32(_LPC, _ICH9_PMBASE, _PMBASE | 1)
        self.pci_write32(_LPC, _ICH9_ACPI_CNTL, _ICH9_ACPI_EN)
        self.pci_write32(0, _MCH_PCIEXBAR + 4, 0)
        self.pci_write32(0, _MCH_PCIEXBAR, _PCIEXBAR | 1)
        bar = self._first_64bit_bar()
        if bar is not None:
            bdf, offset = bar
            self.pci_write32(bdf, offset, _TDVF_MMIO64_BASE & 0xFFFFFFFF)
            self.pci_write32(bdf, offset + 4, _TDVF_MMIO64_BASE >> 32)
            command = self.pci_read32(bdf, _PCI_COMMAND) & 0xFFFF
            self.pci_write32(bdf, _PCI_COMMAND, command | _PCI_COMMAND_MEMORY)

    def _first_64bit_bar(self) -> tuple[int, int] | None:
        """(devfn, config offset) of the first 64-bit memory BAR on bus 0, in slot order."""
        for bdf in range(1 << 3, 1 << 8):
            if self.pci_read32(bdf, 0) & 0xFFFF == 0xFFFF:
                continue
            offset = 0x10
            while offset < 0x28:
                bar = self.pci_read32(bdf, offset)
                is_64bit_memory = bar & 1 == 0 and (bar >> 1) & 3 == 2
                if is_64bit_memory:
                    return bdf, offset
                offset += 4
        return None

    def _dma_read(self, selector: int, size: int) -> bytes:
        control = (selector << 16) | _DMA_SELECT | _DMA_READ
        desc = struct.pack(">IIQ", control, size, _BUF_GPA)
        self.cmd(f"write {_DESC_GPA:#x} {len(desc)} 0x{desc.hex()}")
        # The DMA address register is big-endian; the low half written last starts the transfer.
        self.cmd(f"outl 0x514 {_bswap32(_DESC_GPA >> 32):#x}")
        self.cmd(f"outl 0x518 {_bswap32(_DESC_GPA & 0xFFFFFFFF):#x}")
        status = int(self.cmd(f"read {_DESC_GPA:#x} 4")[1], 16)
        if status & _DMA_ERROR:
            raise InputError(f"QEMU's fw_cfg DMA read of selector {selector:#x} failed")
        if size == 0:
            return b""
        data = bytes.fromhex(self.cmd(f"read {_BUF_GPA:#x} {size}")[1][2:])
        if len(data) != size:
            raise InputError(f"QEMU returned {len(data)} of {size} bytes for fw_cfg selector {selector:#x}")
        return data

    def acpi_files(self) -> dict[str, bytes]:
        self.program_like_tdvf()
        count = struct.unpack(">I", self._dma_read(_FW_CFG_FILE_DIR, 4))[0]
        directory = self._dma_read(_FW_CFG_FILE_DIR, 4 + 64 * count)[4:]
        files: dict[str, tuple[int, int]] = {}
        for off in range(0, len(directory), 64):
            size, select = struct.unpack_from(">IH", directory, off)
            name = directory[off + 8 : off + 64].split(b"\0", 1)[0].decode("ascii", "replace")
            files[name] = (select, size)
        out = {}
        for name in _ACPI_FILES:
            if name not in files:
                raise InputError(f"QEMU serves no fw_cfg file {name} for this machine")
            select, size = files[name]
            out[name] = self._dma_read(select, size)
        for name in (*SMBIOS_FILES, BOOT_FILES[0]):
            if name in files:
                select, size = files[name]
                out[name] = self._dma_read(select, size)
        out[BOOT_FILES[1]] = self._dma_read(_FW_CFG_BOOT_MENU, 2)
        return out


def _bswap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return "no message"
