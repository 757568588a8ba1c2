"""pvmkit's QEMU SMBIOS generator (pvmkit.vendors.tdx.smbios_qemu) against QEMU itself.

Oracle: Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) under qtest, its ``etc/smbios/smbios-anchor`` and
``etc/smbios/smbios-tables`` read from fw_cfg by ``QemuAcpiDumper``: byte-equal for every shape of
the grid (vCPUs 1, 2, 17, 256 x memory 1, 2, 16, 64, 100 GiB), for the ``pc-q35-8.2`` and
``pc-q35-9.2`` machine types of that binary (their entry point and DIMM size are compat settings),
and for a two-socket topology.
"""

from __future__ import annotations

import functools
import struct

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.qemu_acpi import SMBIOS_FILES, AcpiShape, QemuAcpiDumper
from pvmkit.vendors.tdx.smbios_qemu import (
    QEMU64_PROCESSOR_ID,
    SmbiosBlobs,
    entry_point_version,
    qemu_smbios_blobs,
    set_processor_id,
)
from support.fixtures import fixture_path
from support.qemu import qemu_binary

GIB = 1 << 30
GRID = [(v, g) for v in (1, 2, 17, 256) for g in (1, 2, 16, 64, 100)]
OLDER = [
    ((8, 2), 1, 2),
    ((8, 2), 2, 64),
    ((8, 2), 17, 100),
    ((9, 2), 2, 2),
    ((9, 2), 256, 64),
    ((9, 2), 1, 16),
]
# CPUID leaf 1 of an Intel Sapphire Rapids host as a `-cpu host` TD would carry it (EAX 0x000806F8,
# EDX 0xBFEBFBFF): an example value, only its bytes matter here.
HOST_PROCESSOR_ID = bytes.fromhex("f8060800fffbebbf")


@functools.lru_cache(maxsize=64)
def _qemu(vcpus: int, gib: int, extra: str = "") -> SmbiosBlobs:
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    dumper = QemuAcpiDumper(qemu_binary(), firmware, tuple(extra.split()))
    files = dumper.dump(AcpiShape(vcpus=vcpus, memory_size=gib * GIB, pic=False))
    return SmbiosBlobs(files[SMBIOS_FILES[0]], files[SMBIOS_FILES[1]])


def _with_htt(processor_id: bytes) -> bytes:
    eax, edx = struct.unpack("<II", processor_id)
    return struct.pack("<II", eax, edx | 1 << 28)


@pytest.mark.parametrize(("vcpus", "gib"), GRID)
def test_generator_equals_qemu_10_0(vcpus: int, gib: int) -> None:
    ours = qemu_smbios_blobs((10, 0), vcpus, gib * GIB)
    qemu = _qemu(vcpus, gib)
    assert ours.tables == qemu.tables
    assert ours.anchor == qemu.anchor


@pytest.mark.parametrize(("version", "vcpus", "gib"), OLDER)
def test_older_machine_types_of_qemu_10_0(version: tuple[int, int], vcpus: int, gib: int) -> None:
    """QEMU 10.0.2's ``pc-q35-8.2`` (SMBIOS 3.0, 16 GiB DIMMs) and ``pc-q35-9.2`` (auto, one DIMM).
    That binary sets CPUID_HT from 2 vCPUs whatever the machine type (a code change of 10.0, not a
    compat setting): the model of 8.2 and 9.2 leaves the Processor ID as given, so it is given with HTT."""
    pid = _with_htt(QEMU64_PROCESSOR_ID) if vcpus > 1 else QEMU64_PROCESSOR_ID
    ours = qemu_smbios_blobs(version, vcpus, gib * GIB, pid)
    qemu = _qemu(vcpus, gib, f"-machine pc-q35-{version[0]}.{version[1]}")
    assert ours.tables == qemu.tables
    assert ours.anchor == qemu.anchor
    assert ours.version == ((3, 0) if version == (8, 2) else (2, 8) if vcpus < 256 else (3, 0))


@pytest.mark.parametrize("vcpus", [254, 255])
def test_core_count_threshold_of_smbios_2_8(vcpus: int) -> None:
    """255 cores need type 4's core count 2 (0xFF in core count means "see core count 2"): 3.0."""
    ours = qemu_smbios_blobs((10, 0), vcpus, 2 * GIB)
    assert ours == _qemu(vcpus, 2)
    assert ours.version == ((2, 8) if vcpus == 254 else (3, 0))


def test_two_sockets() -> None:
    ours = qemu_smbios_blobs((10, 0), 8, 2 * GIB, sockets=2)
    qemu = _qemu(8, 2, "-smp 8,sockets=2")
    assert ours == qemu
    assert ours.tables.count(b"CPU 1\0") == 1
    # two sockets of one vCPU each: no HTT, in QEMU's tables and with another ID put in
    qemu_two = _qemu(2, 2, "-smp 2,sockets=2")
    patched = set_processor_id(qemu_two.tables, HOST_PROCESSOR_ID, (10, 0), 2)
    two = qemu_smbios_blobs((10, 0), 2, 2 * GIB, HOST_PROCESSOR_ID, sockets=2)
    assert two == SmbiosBlobs(qemu_two.anchor, patched)
    assert HOST_PROCESSOR_ID not in two.tables


def test_processor_id_of_the_vcpu_model() -> None:
    """A TD's `-cpu host` Processor ID put into QEMU's TCG (qemu64) tables gives the generator's
    tables for that ID; from QEMU 10.0 bit 28 (HTT) follows the topology."""
    for vcpus in (1, 2):
        qemu = _qemu(vcpus, 2)
        patched = set_processor_id(qemu.tables, HOST_PROCESSOR_ID, (10, 0), vcpus)
        assert patched == qemu_smbios_blobs((10, 0), vcpus, 2 * GIB, HOST_PROCESSOR_ID).tables
        assert (HOST_PROCESSOR_ID in patched) == (vcpus > 1)  # the example has HTT set
    # before 10.0 the ID is QEMU's as given
    older = qemu_smbios_blobs((9, 2), 1, 2 * GIB, HOST_PROCESSOR_ID).tables
    assert HOST_PROCESSOR_ID in older


def test_qemu_10_1_and_10_2_follow_10_0() -> None:
    """Only the machine type string differs (the version rules of the module docstring)."""
    for version in ((10, 1), (10, 2)):
        name = f"pc-q35-{version[0]}.{version[1]}".encode()
        for vcpus in (2, 256):
            tables = qemu_smbios_blobs(version, vcpus, 16 * GIB).tables
            assert tables.replace(name, b"pc-q35-10.0") == qemu_smbios_blobs((10, 0), vcpus, 16 * GIB).tables


def test_entry_point_versions() -> None:
    assert entry_point_version((10, 0), 254) == (2, 8)
    assert entry_point_version((10, 0), 255) == (3, 0)
    assert entry_point_version((10, 2), 4096) == (3, 0)
    assert entry_point_version((8, 2), 1) == (3, 0)


@pytest.mark.parametrize(
    ("version", "vcpus", "memory", "sockets"),
    [((9, 0), 1, GIB, 1), ((10,), 1, GIB, 1), ((10, 0), 0, GIB, 1), ((10, 0), 4097, GIB, 1),
     ((10, 0), 1, GIB + 1, 1), ((10, 0), 3, GIB, 2)],
)  # fmt: skip
def test_refuses_what_it_does_not_model(
    version: tuple[int, ...], vcpus: int, memory: int, sockets: int
) -> None:
    with pytest.raises(InputError):
        qemu_smbios_blobs(version, vcpus, memory, sockets=sockets)


def test_set_processor_id_refuses_a_bad_id_or_table() -> None:
    tables = qemu_smbios_blobs((10, 0), 1, GIB).tables
    with pytest.raises(InputError):
        set_processor_id(tables, bytes(7), (10, 0), 1)
    with pytest.raises(InputError):
        set_processor_id(tables[:30], HOST_PROCESSOR_ID, (10, 0), 1)
