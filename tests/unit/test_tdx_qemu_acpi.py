"""RTMR0's ACPI blobs from QEMU itself (pvmkit.vendors.tdx.qemu_acpi) against the real event logs of
QEMU-launched dstack TDs (fixtures tdx-qemu-logs/, README there; values in tests/vectors/README.md)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper, qemu_version_of
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES, qemu_binary

GIB = 1 << 30
# dstack's QEMU 10.2.1 launch, 1 vCPU, 2 GiB (tdx-qemu-logs README, "normalized-qemu-10-2" capture)
LOADER_10_2_1 = (
    "d8c90b5d0f756dcd707c190313b44e3129abc6c20118efdd32b78f84fa64a6c51396fa43debc993dec00b85718bf7491"
)
RSDP_10_2_1 = (
    "ab0063753f886063d08d1e65031fdcd12e210764b476210edf90e006af701c20df1710ab3fcb7dee651727f4a369f29a"
)
TABLES_10_2_1 = (
    "8583382b5eb22b3b7b8194777aa82ae7060c6b5e8387ee59926a9dc429e1069a9215c24dd299cee42611fd1960711c50"
)


@pytest.fixture(scope="module")
def dumper() -> QemuAcpiDumper:
    import shlex

    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    return QemuAcpiDumper(qemu_binary(), firmware, tuple(shlex.split(DSTACK_DEVICES)))


def _sha384(data: bytes) -> str:
    return hashlib.sha384(data).hexdigest()


def test_dstack_qemu_10_2_all_three_digests(dumper: QemuAcpiDumper) -> None:
    """Debian's QEMU 10.0, programmed as TDVF programs the chipset, builds the same three blobs as the
    QEMU 10.2.1 that launched the dstack TD: the same tables (FACS, DSDT, FACP, APIC, MCFG, WAET,
    RSDT) at the same offsets, byte for byte."""
    files = dumper.dump(AcpiShape(vcpus=1, memory_size=2 * GIB, pic=False))
    assert _sha384(files["etc/table-loader"]) == LOADER_10_2_1
    assert _sha384(files["etc/acpi/rsdp"]) == RSDP_10_2_1
    assert _sha384(files["etc/acpi/tables"]) == TABLES_10_2_1
    tables = files["etc/acpi/tables"]
    assert len(tables) == 128 * 1024  # QEMU pads the blob to ACPI_BUILD_TABLE_SIZE
    rsdt = struct.unpack_from("<I", files["etc/acpi/rsdp"], 16)[0]
    assert tables[rsdt : rsdt + 4] == b"RSDT"


def test_mcfg_needs_the_firmware_pciexbar(dumper: QemuAcpiDumper) -> None:
    files = dumper.dump(AcpiShape(vcpus=2, memory_size=2 * GIB, pic=True))
    signatures = []
    off = 0
    tables = files["etc/acpi/tables"]
    while tables[off : off + 4] != bytes(4):
        signatures.append(tables[off : off + 4])
        off += struct.unpack_from("<I", tables, off + 4)[0]
    assert signatures == [b"FACS", b"DSDT", b"FACP", b"APIC", b"MCFG", b"WAET", b"RSDT"]


def test_vcpus_change_madt_and_dsdt(dumper: QemuAcpiDumper) -> None:
    """One more vCPU adds 0x5b bytes before the RSDT, as between dstack's QEMU 8.2.2 captures with 1
    and 2 vCPUs (RSDT at 0x2288 and 0x22e3, recovered from their RSDP digests)."""
    one = dumper.dump(AcpiShape(vcpus=1, memory_size=2 * GIB, pic=True))
    two = dumper.dump(AcpiShape(vcpus=2, memory_size=2 * GIB, pic=True))
    rsdt = [struct.unpack_from("<I", f["etc/acpi/rsdp"], 16)[0] for f in (one, two)]
    assert rsdt[1] - rsdt[0] == 0x22E3 - 0x2288
    for offset, digest in ((0x2288, "6385b89d"), (0x22E3, "8d9a4d47")):  # the captures' RSDP digests
        assert _sha384(b"RSD PTR \0BOCHS \0" + struct.pack("<I", offset)).startswith(digest)


def test_version_banner() -> None:
    assert qemu_version_of("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\n") == (10, 0, 2)
    with pytest.raises(InputError, match="QEMU emulator version"):
        qemu_version_of("not qemu")


def test_shape_limits() -> None:
    with pytest.raises(InputError, match="vCPUs"):
        AcpiShape(vcpus=0, memory_size=GIB, pic=False)
    with pytest.raises(InputError, match="MiB"):
        AcpiShape(vcpus=1, memory_size=GIB + 4096, pic=False)


def test_a_machine_qemu_refuses_is_one_error(tmp_path: object) -> None:
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    bad = QemuAcpiDumper(qemu_binary(), firmware, ("-device", "no-such-device"))
    with pytest.raises(InputError, match="QEMU refused the machine"):
        bad.dump(AcpiShape(vcpus=1, memory_size=GIB, pic=False))


def test_missing_binary_is_one_error() -> None:
    with pytest.raises(InputError, match="cannot run the QEMU binary"):
        _ = QemuAcpiDumper("/nonexistent/qemu", "/dev/null").version


def test_256_vcpus_get_an_x2apic_entry(dumper: QemuAcpiDumper) -> None:
    """APIC ID 255 needs x2APIC (QEMU apic_common_set_id): the MADT then carries one Processor Local
    x2APIC structure (ACPI 6.5 §5.2.12.12, type 9, 16 bytes) after 255 Local APIC ones (type 0)."""
    files = dumper.dump(AcpiShape(vcpus=256, memory_size=2 * GIB, pic=False))
    tables = files["etc/acpi/tables"]
    off = 0
    while tables[off : off + 4] != b"APIC":
        off += struct.unpack_from("<I", tables, off + 4)[0]
    length = struct.unpack_from("<I", tables, off + 4)[0]
    kinds: list[int] = []
    at = off + 44  # header (36) + Local APIC address (4) + flags (4)
    while at < off + length:
        kinds.append(tables[at])
        at += tables[at + 1]
    assert kinds.count(0) == 255 and kinds.count(9) == 1
