"""What OVMF measures of QEMU's SMBIOS tables (pvmkit.vendors.tdx.smbios_ovmf).

Expected bytes are written out by hand from edk2's source (docs/tdx-measure.md "SMBIOS" names the
files): SmbiosPlatformDxe's type 0, SmbiosDxe's handle choice and end structure, and the fields of
SmbiosMeasurementDxe's filter table at the offsets of the SMBIOS 3.x structure layouts (DMTF DSP0134).
The firmware's version string is the Debian package version of the fixture (fixtures README).
"""

from __future__ import annotations

import struct

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.vendors.tdx.smbios_ovmf import (
    FILTER_2026_08,
    FirmwareStrings,
    filter_structure,
    firmware_strings,
    installed_structures,
    measured_smbios,
    ovmf_type0,
    read_firmware,
)
from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs
from support.fixtures import read_fixture

GIB = 1 << 30
STRINGS = FirmwareStrings("EDK II", "edk2-stable202505", "05/09/2025")


def _structure(kind: int, handle: int, formatted: bytes, *strings: bytes) -> bytes:
    body = struct.pack("<BBH", kind, 4 + len(formatted), handle) + formatted
    return body + (b"".join(s + b"\0" for s in strings) + b"\0" if strings else b"\0\0")


def test_type1_serial_uuid_and_wake_up_type_are_blanked() -> None:
    uuid = bytes(range(16))
    t1 = _structure(1, 0x100, bytes((1, 2, 3, 4)) + uuid + bytes((6, 0, 0)), b"QEMU", b"PC", b"v1", b"SN123")
    want = _structure(
        1, 0x100, bytes((1, 2, 3, 0)) + bytes(16) + bytes((0, 0, 0)), b"QEMU", b"PC", b"v1", b"     "
    )
    assert filter_structure(t1) == want


def test_type4_counts_voltage_and_current_speed_are_zeroed_the_processor_id_kept() -> None:
    blobs = qemu_smbios_blobs((10, 0), 300, 2 * GIB)  # SMBIOS 3.0: type 4 has core/thread count 2
    t4 = next(s for s in installed_structures(blobs.tables, STRINGS) if s[0] == 4)
    out = filter_structure(t4)
    assert out[0x23:0x26] == bytes(3) and t4[0x23:0x26] == b"\xff\xff\xff"
    assert out[0x2A:0x30] == bytes(6) and t4[0x2A:0x30] == struct.pack("<HHH", 300, 300, 300)
    assert out[0x08:0x10] == t4[0x08:0x10]  # Processor ID
    assert out[0x14:0x18] == struct.pack("<HH", 2000, 0)  # max speed kept, current speed blanked
    assert out[0x26:0x2A] == t4[0x26:0x2A]  # characteristics, family 2
    changed = [i for i in range(len(t4)) if out[i] != t4[i]]
    assert changed == [0x16, 0x17, 0x23, 0x24, 0x25, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F]


def test_type4_of_smbios_2_8_has_no_count_2_to_zero() -> None:
    blobs = qemu_smbios_blobs((10, 0), 2, 2 * GIB)
    t4 = next(s for s in installed_structures(blobs.tables, STRINGS) if s[0] == 4)
    assert t4[1] == 0x2A
    out = filter_structure(t4)
    assert out[:0x16] == t4[:0x16] and out[0x16:0x18] == bytes(2) and out[0x18:0x23] == t4[0x18:0x23]
    assert out[0x23:0x26] == bytes(3) and out[0x26:] == t4[0x26:]


@pytest.mark.parametrize("kind", [11, 15, 18, 31, 33, 128, 200])
def test_listed_and_oem_types_keep_only_the_header(kind: int) -> None:
    s = _structure(kind, 0x900, b"\x01\x02\x03", b"secret")
    assert filter_structure(s) == s[:4] + bytes(len(s) - 4)


@pytest.mark.parametrize("kind", [16, 19, 32, 127])
def test_unlisted_types_are_measured_as_they_are(kind: int) -> None:
    s = _structure(kind, 0x1000, b"\x01\x02\x03\x04")
    assert filter_structure(s) == s


def test_type17_strings_beyond_the_structure_length_are_left() -> None:
    """A field the structure is too short for is not touched (the length check of FilterSmbiosEntry)."""
    short = _structure(17, 0x1100, bytes(0x15), b"DIMM 0")  # length 0x19: no PartNumber at 0x1A
    assert filter_structure(short) == short


def test_ovmf_adds_its_type0_with_handle_0_and_the_end_structure() -> None:
    tables = qemu_smbios_blobs((10, 0), 1, GIB).tables
    installed = installed_structures(tables, STRINGS)
    kinds = [s[0] for s in installed]
    assert kinds == [1, 3, 4, 16, 17, 19, 32, 0, 127]
    type0 = installed[-2]
    assert type0 == (
        bytes.fromhex("001a0000" "01" "02" "00e8" "03" "00" "0800000000000000" "001c" "0000" "ffff" "0000")
        + b"EDK II\0edk2-stable202505\0" + b"05/09/2025\0\0"
    )  # fmt: skip
    assert installed[-1] == bytes.fromhex("7f04fffe0000")
    assert b"".join(installed[:-2]) == tables[: tables.index(b"\x7f\x04\x00\x7f")]
    assert ovmf_type0(STRINGS)[2:4] == b"\0\0"


def test_qemu_type0_stops_ovmfs() -> None:
    t0 = _structure(0, 0x000, bytes(14), b"SeaBIOS", b"1.0", b"01/01/2020")
    tables = qemu_smbios_blobs((10, 0), 1, GIB).tables
    installed = installed_structures(t0 + tables, STRINGS)
    assert [s[0] for s in installed] == [0, 1, 3, 4, 16, 17, 19, 32, 127]
    assert installed[0] == t0


def test_type0_takes_the_lowest_free_handle() -> None:
    t = _structure(1, 0x000, bytes(23)) + _structure(3, 0x001, bytes(18)) + _structure(127, 0x7F00, b"")
    type0 = installed_structures(t, STRINGS)[2]
    assert type0[0] == 0 and struct.unpack_from("<H", type0, 2)[0] == 2


def test_measured_table_is_the_filtered_installed_table() -> None:
    tables = qemu_smbios_blobs((10, 0), 17, 16 * GIB).tables
    measured = measured_smbios(tables, STRINGS)
    assert measured == b"".join(filter_structure(s) for s in installed_structures(tables, STRINGS))
    # QEMU's type 1 wake-up type (6, power switch) is the only field of types 1 and 3 it blanks
    assert measured[0x18] == 0 and tables[0x18] == 6
    assert measured.endswith(bytes.fromhex("7f04fffe0000"))


@pytest.mark.parametrize(
    "tables",
    [b"", b"\x01\x1b\x00\x01", qemu_smbios_blobs((10, 0), 1, GIB).tables[:-6], b"\x01\x02\x00\x01\x00\x00"],
)
def test_bad_tables_are_refused(tables: bytes) -> None:
    with pytest.raises(FormatError):
        measured_smbios(tables, STRINGS)


def test_reused_handle_is_refused() -> None:
    t = _structure(1, 0x100, bytes(23)) + _structure(3, 0x100, bytes(18)) + _structure(127, 0x7F00, b"")
    with pytest.raises(FormatError):
        installed_structures(t, STRINGS)


def test_string_number_past_the_strings_is_refused() -> None:
    with pytest.raises(FormatError):
        filter_structure(_structure(3, 0x300, bytes((1, 1, 2, 5)) + bytes(14), b"QEMU"))


BAD_STRINGS = [("ab", "1.0.0", "01/01/2025"), ("EDK II", "", "x/y/z"), ("EDK II", "1.0", "01/01/2025\u00e9")]


@pytest.mark.parametrize(("vendor", "version", "date"), BAD_STRINGS)
def test_short_or_non_ascii_strings_are_refused(vendor: str, version: str, date: str) -> None:
    with pytest.raises(InputError):
        FirmwareStrings(vendor, version, date)


def test_strings_of_the_debian_firmware() -> None:
    firmware = read_fixture("firmware/OVMF.inteltdx.ms.fd")
    strings = firmware_strings(firmware)
    assert strings is not None
    assert strings.version == "2026.08+ds-2"  # Debian's ovmf-inteltdx package version
    assert strings.vendor == "Debian distribution of EDK II"
    assert strings.release_date == "09/26/2026"


def test_strings_absent_from_an_image_without_the_driver() -> None:
    assert firmware_strings(bytes(4096)) is None


# edk2 SmbiosMeasurementDxe.c mSmbiosFilterStandardTableBlackList as the source reads (type 4 without
# CurrentSpeed), written out from the source.
SOURCE_FILTER = {**FILTER_2026_08, 4: tuple(r for r in FILTER_2026_08[4] or () if r[0] != 0x16)}


def test_filter_table_of_the_debian_firmware() -> None:
    """The filter table compiled into the fixture image's SmbiosMeasurementDxe (its data section:
    type, field offsets and sizes, string flags) is the edk2 source's with type 4's CurrentSpeed
    (offset 0x16, 2 bytes) added: pvmkit measures with the image's table."""
    facts = read_firmware(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    assert facts.filters == FILTER_2026_08
    diff = {k for k in FILTER_2026_08 if FILTER_2026_08[k] != SOURCE_FILTER[k]}
    assert diff == {4} and (0x16, 2, False) in (FILTER_2026_08[4] or ())


def test_the_amd_sev_build_has_no_smbios_measurement() -> None:
    facts = read_firmware(read_fixture("firmware/OVMF.amdsev.fd"))
    assert facts.filters is None and facts.strings is not None
