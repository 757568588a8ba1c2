"""QEMU's SMBIOS fw_cfg files for a q35 TDX guest: ``etc/smbios/smbios-anchor`` and
``etc/smbios/smbios-tables`` (docs/tdx-measure.md "SMBIOS").

QEMU builds them in ``hw/smbios/smbios.c`` (``smbios_get_tables``, the ``smbios_build_type_*_table``
functions) when the machine is done (``hw/i386/fw_cfg.c`` ``fw_cfg_build_smbios``), from the machine
type (``q35`` is ``pc-q35-X.Y`` of the binary: the version string of types 1, 3 and 4), the vCPU
topology (one type 4 per socket), the RAM size (types 16, 17, 19) and the vCPU model (type 4's
Processor ID: CPUID leaf 1 EAX and EDX). Without ``-smbios`` options a q35 machine gets, in order:

* type 1 (system, handle 0x100): "QEMU", "Standard PC (Q35 + ICH9, 2009)", the machine type, wake-up
  type 6 (power switch), a zero UUID (``-uuid`` not given);
* type 3 (chassis, 0x300): "QEMU", type 1 (other), the machine type, states 3, security status 2;
* type 4 (processor, 0x400 + socket) per socket: "CPU n", type 3 (central), family 0xFE (see
  family 2 = 1, other), "QEMU", the Processor ID, the machine type, 2000 MHz max and current speed
  (``DEFAULT_CPU_SPEED``), status 0x41, upgrade 1, no caches (0xFFFF), core/thread counts capped at
  255, characteristics 2; with the SMBIOS 3.0 entry point also core/thread count 2 (length 0x30
  instead of 0x2A);
* type 16 (memory array, 0x1000): system board, system memory, no ECC, maximum capacity in KiB (or
  0x80000000 and the extended capacity in bytes from 2 TiB), one device per DIMM;
* type 17 (memory device, 0x1100 + n) per DIMM of ``smbios_memory_device_size`` (16 GiB for
  ``pc-q35-9.0`` and older, 2047 TiB from 9.1: QEMU ``hw/i386/pc_q35.c`` machine options): "DIMM n",
  "QEMU", DIMM form factor, RAM, size in MiB (or 0x7FFF and the extended size from 32 GiB - 1 MiB);
* type 19 (memory array mapped address, 0x1300 + n) per RAM range (below 4 GiB, above 4 GiB);
* type 32 (system boot, 0x2000): no errors; type 127 (end, 0x7F00).

The entry point is SMBIOS 2.8 (32-bit, ``_SM_``) or 3.0 (64-bit, ``_SM3_``): ``pc-q35-8.1`` and
``8.2`` use 3.0; from 9.0 "auto" builds the 2.8 tables unless they cannot hold the machine (255 or more
cores or threads per socket, or a table over 64 KiB). QEMU leaves the checksums and the table
address zero (the firmware fills them in).

QEMU 10.0 sets CPUID_HT (EDX bit 28) in the vCPU's features when a socket has more than one thread
(upstream c6bd2dd63420 "i386/cpu: Set up CPUID_HT in x86_cpu_expand_features() instead of
cpu_x86_cpuid()", pulled 2025-01-10), so type 4's Processor ID carries it; before, only the guest's
CPUID did. Checked byte for byte against Debian's QEMU 10.0.2 under qtest
(``tests/unit/test_tdx_smbios_qemu.py``); the other versions' differences are QEMU's machine-type
compat settings, which QEMU 10.0.2's ``pc-q35-8.2``/``9.2`` machine types reproduce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.td_hob import q35_ram_ranges

__all__ = [
    "MODELLED_VERSIONS",
    "QEMU64_PROCESSOR_ID",
    "SmbiosBlobs",
    "entry_point_version",
    "machine_type",
    "qemu_smbios_blobs",
    "set_processor_id",
]

#: The QEMU versions whose q35 SMBIOS is modelled (those the ACPI generator models; 10.1 and 10.2
#: follow 10.0's rules: no SMBIOS or machine-type change of these three settings since; 11.1 too, its
#: tables equal to Debian's QEMU 11.1.3's in tests/unit/test_tdx_acpi_qemu11.py).
MODELLED_VERSIONS = ((8, 2), (9, 2), (10, 0), (10, 1), (10, 2), (11, 1))
#: CPUID leaf 1 EAX, EDX of QEMU's ``qemu64`` model (family 15, model 107, stepping 1) as QEMU
#: places them in type 4 for one vCPU (what a TCG dump has; a TD's model is usually ``-cpu host``).
QEMU64_PROCESSOR_ID = bytes.fromhex("b10f0600fdfb8b07")

_HTT = 1 << 28  # CPUID.01H:EDX.HTT
_CPUID_HT_IN_FEATURES_SINCE = (10, 0)
_AUTO_ENTRY_POINT_SINCE = (9, 0)  # pc_q35 8.2 compat: SMBIOS_ENTRY_POINT_TYPE_64
_SMALL_DIMMS_UNTIL = (9, 0)  # pc_q35_9_0_machine_options: smbios_memory_device_size = 16 GiB
_SMALL_DIMM = 16 << 30
_LARGE_DIMM = 2047 << 40
_CPU_SPEED_MHZ = 2000
_TABLE_MAX_32 = 0xFFFF
_KIB = 1024
_MIB = 1 << 20


@dataclass(frozen=True)
class SmbiosBlobs:
    """QEMU's two SMBIOS fw_cfg files."""

    anchor: bytes  #: ``etc/smbios/smbios-anchor``
    tables: bytes  #: ``etc/smbios/smbios-tables``

    @property
    def version(self) -> tuple[int, int]:
        """The SMBIOS version the anchor announces: (2, 8) or (3, 0)."""
        if self.anchor[:5] == b"_SM3_" and len(self.anchor) >= 9:
            return self.anchor[7], self.anchor[8]
        if self.anchor[:4] == b"_SM_" and len(self.anchor) >= 8:
            return self.anchor[6], self.anchor[7]
        raise InputError("the SMBIOS anchor is neither _SM_ nor _SM3_")


def machine_type(version: tuple[int, ...]) -> str:
    """``q35`` of QEMU ``version``: ``pc-q35-MAJOR.MINOR``."""
    return f"pc-q35-{version[0]}.{version[1]}"


def _check_version(version: tuple[int, ...]) -> tuple[int, int]:
    if len(version) < 2 or (version[0], version[1]) not in MODELLED_VERSIONS:
        modelled = ", ".join(f"{a}.{b}" for a, b in MODELLED_VERSIONS)
        raise InputError(
            f"QEMU {'.'.join(map(str, version))}'s SMBIOS is not modelled (modelled: {modelled})"
        )
    return version[0], version[1]


def entry_point_version(version: tuple[int, ...], vcpus: int, sockets: int = 1) -> tuple[int, int]:
    """The SMBIOS version of QEMU ``version``'s q35 tables for the topology: (2, 8) or (3, 0)."""
    return _build(_check_version(version), vcpus, 1 << 30, QEMU64_PROCESSOR_ID, sockets).version


def set_processor_id(tables: bytes, processor_id: bytes, version: tuple[int, ...], vcpus: int) -> bytes:
    """``tables`` (QEMU's, for ``vcpus`` vCPUs) with every type 4 Processor ID replaced by
    ``processor_id`` (CPUID leaf 1 EAX, EDX); from QEMU 10.0 EDX bit 28 (HTT) follows the threads per
    socket as QEMU sets it (the sockets: one type 4 each)."""
    out = bytearray(tables)
    found = []
    off = 0
    while off + 4 <= len(out):
        kind, length = out[off], out[off + 1]
        if kind == 4 and length >= 0x10:
            found.append(off)
        if kind == 127:
            break
        off = _structure_end(out, off)
    pid = _processor_id(processor_id, version, vcpus // max(1, len(found)))
    for at in found:
        out[at + 8 : at + 16] = pid
    return bytes(out)


def _processor_id(processor_id: bytes, version: tuple[int, ...], threads_per_socket: int) -> bytes:
    if len(processor_id) != 8:
        raise InputError(f"an SMBIOS Processor ID is 8 bytes (CPUID.1 EAX, EDX), not {len(processor_id)}")
    if (version[0], version[1]) < _CPUID_HT_IN_FEATURES_SINCE:
        return processor_id
    eax, edx = struct.unpack("<II", processor_id)
    edx = edx | _HTT if threads_per_socket > 1 else edx & ~_HTT
    return struct.pack("<II", eax, edx)


def _structure_end(data: bytes | bytearray, off: int) -> int:
    """The offset after the structure at ``off`` (formatted area, strings, double NUL)."""
    length = data[off + 1]
    if length < 4 or off + length > len(data):
        raise InputError(f"SMBIOS structure at offset {off} has a bad length {length}")
    end = data.find(b"\0\0", off + length)
    if end < 0:
        raise InputError(f"SMBIOS structure at offset {off} has no double-NUL terminator")
    return end + 2


def qemu_smbios_blobs(
    version: tuple[int, ...],
    vcpus: int,
    memory_size: int,
    processor_id: bytes = QEMU64_PROCESSOR_ID,
    sockets: int = 1,
) -> SmbiosBlobs:
    """What QEMU ``version`` serves for a q35 machine with ``-smp vcpus[,sockets=S]`` and ``-m``
    ``memory_size``, the vCPU model's ``processor_id`` (8 bytes, CPUID leaf 1 EAX then EDX, EDX bit 28
    as the model has it: QEMU >= 10.0 decides it from the topology)."""
    return _build(_check_version(version), vcpus, memory_size, processor_id, sockets)


def _build(
    version: tuple[int, int], vcpus: int, memory_size: int, processor_id: bytes, sockets: int
) -> SmbiosBlobs:
    if not 1 <= vcpus <= 4096:
        raise InputError(f"{vcpus} vCPUs: QEMU's q35 machine takes 1..4096")
    if sockets < 1 or vcpus % sockets:
        raise InputError(f"{vcpus} vCPUs do not split into {sockets} sockets")
    if memory_size < _MIB or memory_size % _MIB:
        raise InputError("the memory size must be a whole number of MiB, at least 1 MiB")
    if version >= _AUTO_ENTRY_POINT_SINCE:
        try:
            return _blobs(version, vcpus, memory_size, processor_id, sockets, legacy=True)
        except _TooLarge:
            pass
    return _blobs(version, vcpus, memory_size, processor_id, sockets, legacy=False)


class _TooLarge(Exception):
    """The machine does not fit SMBIOS 2.8 tables."""


def _structure(kind: int, handle: int, formatted: bytes, strings: tuple[str, ...] = ()) -> bytes:
    head = struct.pack("<BBH", kind, 4 + len(formatted), handle) + formatted
    if not strings:
        return head + b"\0\0"
    return head + b"".join(s.encode() + b"\0" for s in strings) + b"\0"


def _blobs(
    version: tuple[int, int],
    vcpus: int,
    memory_size: int,
    processor_id: bytes,
    sockets: int,
    legacy: bool,
) -> SmbiosBlobs:
    machine = machine_type(version)
    threads = vcpus // sockets  # -smp N: one thread per core, all cores in one socket
    if legacy and threads >= 0xFF:  # 0xFF means 'see core count 2', a 3.0 field
        raise _TooLarge
    structures = [
        _structure(1, 0x100, bytes((1, 2, 3, 0)) + bytes(16) + bytes((6, 0, 0)),
                   ("QEMU", "Standard PC (Q35 + ICH9, 2009)", machine)),
        _structure(3, 0x300, bytes((1, 1, 2, 0, 0, 3, 3, 3, 2)) + bytes(9), ("QEMU", machine)),
    ]  # fmt: skip
    pid = _processor_id(processor_id, version, threads)
    for socket in range(sockets):
        structures.append(_type4(socket, pid, threads, legacy, machine))
    structures += _memory_structures(version, memory_size)
    structures.append(_structure(32, 0x2000, bytes(7)))
    structures.append(_structure(127, 0x7F00, b""))
    tables = b"".join(structures)
    if legacy:
        if len(tables) > _TABLE_MAX_32:
            raise _TooLarge
        anchor = (
            b"_SM_" + struct.pack("<BBBBHB5x", 0, 0x1F, 2, 8, max(map(len, structures)), 0)
            + b"_DMI_" + struct.pack("<BHIHB", 0, len(tables), 0, len(structures), 0x28)
        )  # fmt: skip
    else:
        anchor = b"_SM3_" + struct.pack("<BBBBBBBIQ", 0, 0x18, 3, 0, 0, 1, 0, len(tables), 0)
    return SmbiosBlobs(anchor, tables)


def _type4(socket: int, pid: bytes, threads: int, legacy: bool, machine: str) -> bytes:
    capped = min(threads, 0xFF)
    formatted = (
        bytes((1, 3, 0xFE, 2)) + pid
        + struct.pack("<BBHHHBBHHHBBBBBBHH", 3, 0, 0, _CPU_SPEED_MHZ, _CPU_SPEED_MHZ, 0x41, 1,
                      0xFFFF, 0xFFFF, 0xFFFF, 0, 0, 0, capped, capped, capped, 2, 1)
    )  # fmt: skip
    if not legacy:
        formatted += struct.pack("<HHH", threads, threads, threads)
    return _structure(4, 0x400 + socket, formatted, (f"CPU {socket}", "QEMU", machine))


def _memory_structures(version: tuple[int, int], memory_size: int) -> list[bytes]:
    dimm = _SMALL_DIMM if version <= _SMALL_DIMMS_UNTIL else _LARGE_DIMM
    count = -(-memory_size // dimm)
    capacity_kib = memory_size // _KIB
    if capacity_kib < 0x80000000:
        capacity, extended = capacity_kib, 0
    else:
        capacity, extended = 0x80000000, memory_size
    out = [_structure(16, 0x1000, struct.pack("<BBBIHHQ", 1, 3, 6, capacity, 0xFFFE, count, extended))]
    for n in range(count):
        size = dimm if n < count - 1 else (memory_size - 1) % dimm + 1
        size_mib = size // _MIB
        if size_mib < 0x7FFF:
            small, large = size_mib, 0
        else:
            small, large = 0x7FFF, size_mib
        formatted = struct.pack(
            "<HHHHHBBBBBHHBBBBBIHHHH",
            0x1000, 0xFFFE, 0xFFFF, 0xFFFF, small, 9, 0, 1, 0, 7, 2, 0, 2, 0, 0, 0, 0, large, 0, 0, 0, 0,
        )  # fmt: skip
        out.append(_structure(17, 0x1100 + n, formatted, (f"DIMM {n}", "QEMU")))
    for n, (start, end) in enumerate(q35_ram_ranges(memory_size)):
        start_kib, end_kib = start // _KIB, (end - 1) // _KIB
        if end_kib < 0xFFFFFFFF:
            formatted = struct.pack("<IIHBQQ", start_kib, end_kib, 0x1000, 1, 0, 0)
        else:
            formatted = struct.pack("<IIHBQQ", 0xFFFFFFFF, 0xFFFFFFFF, 0x1000, 1, start, end - 1)
        out.append(_structure(19, 0x1300 + n, formatted))
    return out
