"""The SMBIOS table OVMF builds from QEMU's and what ``SmbiosMeasurementDxe`` hashes into RTMR0
(docs/tdx-measure.md "SMBIOS").

Three edk2 drivers, as read in edk2's source (no real TD log of QEMU + OVMF >= stable202505 with this
event is available to confirm it; tests/vectors/README.md):

1. ``OvmfPkg/SmbiosPlatformDxe`` (``SmbiosPlatformDxe.c`` ``InstallAllStructures``) reads
   ``etc/smbios/smbios-tables`` and ``Add``s each structure up to the type 127 end marker, with
   QEMU's handle; when QEMU gave no type 0 it adds its own (``mOvmfDefaultType0``: length 0x1A,
   BIOS segment 0xE800, characteristics "not supported" (bit 3), extension byte 2 = 0x1C,
   embedded controller release 0xFF.0xFF) with three strings, the build's
   ``PcdFirmwareVendor``, ``PcdFirmwareVersionString`` and ``PcdFirmwareReleaseDateString``, each
   replaced by a fallback literal when shorter than 3 characters (the literal changed between
   releases: pvmkit refuses such strings rather than pick one).
2. ``MdeModulePkg/Universal/SmbiosDxe`` (``SmbiosDxe.c``) keeps the records in ``Add`` order; a
   record added with ``SMBIOS_HANDLE_PI_RESERVED`` gets the lowest unused handle
   (``GetAvailableSmbiosHandle``: 0 for OVMF's type 0, QEMU uses none below 0x100); the table it
   publishes is the records in that order followed by its own end structure (type 127, length 4,
   handle ``GetMaxSmbiosHandle`` = 0xFEFF, two NULs).
3. ``MdeModulePkg/Universal/SmbiosMeasurementDxe`` (``SmbiosMeasurementDxe.c``) at ReadyToBoot
   copies that table (the SMBIOS 3.0 one when the protocol's major version is >= 3: up to and
   including the end structure; else ``TableLength`` bytes of the 2.x one: the same bytes), blanks
   what ``mSmbiosFilterStandardTableBlackList`` lists (:data:`FILTER_2026_08`) and hashes the result
   into PCR 1 (RTMR0):
   string fields become spaces (``GetSmbiosStringById``, ``SetMem (' ')``) and every listed field,
   the string number included, is zeroed when the structure's length covers it; types 11, 15, 18,
   31, 33 and every OEM type (>= 128) keep only their 4-byte header. The event is
   ``EV_EFI_HANDOFF_TABLES2`` ("SmbiosTable", ``SMBIOS_HANDOFF_TABLE_POINTERS2``) when
   ``PcdTcgPfpMeasurementRevision`` >= 105, else ``EV_EFI_HANDOFF_TABLES``; its data holds the
   table's address, which pvmkit does not know (the digest does not depend on it).

:func:`measured_smbios` returns the hashed bytes; :func:`read_firmware` reads the three PCD strings
and the filter table from an OVMF image (its LZMA-compressed DXE volume), so pvmkit measures with the
build's own table: Debian's 2026.08 blanks type 4's CurrentSpeed too, which the edk2 source read
(``mSmbiosFilterType4BlackList``) does not list.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, InputError

__all__ = [
    "FILTER_2026_08",
    "FieldRule",
    "FirmwareSmbios",
    "FirmwareStrings",
    "filter_structure",
    "firmware_strings",
    "installed_structures",
    "measured_smbios",
    "ovmf_type0",
    "read_firmware",
    "read_volume",
]

#: OvmfPkg/SmbiosPlatformDxe/SmbiosPlatformDxe.c mOvmfDefaultType0 (SMBIOS_TABLE_TYPE0 of MdePkg's
#: SmBios.h, 0x1A bytes, handle 0 until SmbiosDxe assigns one).
_TYPE0_TEMPLATE = struct.pack("<BBHBBHBBQ", 0, 0x1A, 0, 1, 2, 0xE800, 3, 0, 1 << 3) + bytes(
    (0, 0x1C, 0, 0, 0xFF, 0xFF, 0, 0)
)
_END_HANDLE = 0xFEFF  # SmbiosDxe GetMaxSmbiosHandle for SMBIOS versions other than 2.0

#: One structure type's rule: ((offset, size, is_string), ...), or None for "everything after the
#: header" (a NULL filter in edk2).
FieldRule = tuple[tuple[int, int, bool], ...] | None

#: SmbiosMeasurementDxe.c ``mSmbiosFilterStandardTableBlackList`` as built into Debian's OVMF 2026.08
#: (read from the fixture image, ``tests/unit/test_tdx_smbios_ovmf.py``): the edk2 source lists the
#: same fields except type 4's CurrentSpeed, which this build blanks too. Offsets are those of MdePkg
#: SmBios.h's ``SMBIOS_TABLE_TYPEn`` (SMBIOS 3.x).
FILTER_2026_08: dict[int, FieldRule] = {
    1: ((0x07, 1, True), (0x08, 16, False), (0x18, 1, False)),  # SerialNumber, Uuid, WakeUpType
    2: ((0x07, 1, True), (0x0A, 1, True)),  # SerialNumber, LocationInChassis
    3: ((0x07, 1, True), (0x08, 1, True)),  # SerialNumber, AssetTag
    # SerialNumber, AssetTag, PartNumber, Core/EnabledCore/ThreadCount (1 and 2), Voltage, CurrentSpeed
    4: (
        (0x20, 1, True),
        (0x21, 1, True),
        (0x22, 1, True),
        (0x23, 1, False),
        (0x24, 1, False),
        (0x25, 1, False),
        (0x2A, 2, False),
        (0x2C, 2, False),
        (0x2E, 2, False),
        (0x11, 1, False),
        (0x16, 2, False),
    ),
    11: None,
    15: None,
    17: ((0x18, 1, True), (0x19, 1, True), (0x1A, 1, True)),  # SerialNumber, AssetTag, PartNumber
    18: None,
    22: ((0x07, 1, True), (0x10, 2, False), (0x12, 2, False)),  # SerialNumber, SBDS serial and date
    23: ((0x05, 2, False),),  # ResetCount
    27: ((0x0C, 2, False),),  # NominalSpeed
    31: None,
    33: None,
    39: ((0x08, 1, True), (0x09, 1, True), (0x0A, 1, True)),  # SerialNumber, AssetTagNumber, ModelPartNumber
}
_OEM_BEGIN = 128
_LZMA_SECTION_GUID = bytes.fromhex("98584eee143959429d6edc7bd79403cf")  # ee4e5898-3914-4259-9d6e-dc7bd79403cf
_UTF16_STRING = re.compile(rb"(?:[\x20-\x7e]\x00){3,}\x00\x00")
_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}")


@dataclass(frozen=True)
class FirmwareStrings:
    """The OVMF build's PCD strings that become its type 0 (BIOS information) strings."""

    vendor: str  #: PcdFirmwareVendor
    version: str  #: PcdFirmwareVersionString
    release_date: str  #: PcdFirmwareReleaseDateString

    def __post_init__(self) -> None:
        for what, text in (
            ("vendor", self.vendor),
            ("version", self.version),
            ("release date", self.release_date),
        ):
            if len(text) < 3:
                raise InputError(
                    f"firmware {what} {text!r}: OVMF replaces strings under 3 characters by a literal that "
                    "changed between releases; give the string the type 0 structure shows"
                )
            if not text.isascii() or not text.isprintable():
                raise InputError(f"firmware {what} {text!r} is not printable ASCII")

    def as_dict(self) -> dict[str, str]:
        return {"vendor": self.vendor, "version": self.version, "release_date": self.release_date}


def ovmf_type0(strings: FirmwareStrings) -> bytes:
    """OVMF's type 0 structure (handle 0, as SmbiosDxe assigns it when QEMU gives no type 0)."""
    text = b"".join(s.encode() + b"\0" for s in (strings.vendor, strings.version, strings.release_date))
    return _TYPE0_TEMPLATE + text + b"\0"


def _structures(tables: bytes) -> list[bytes]:
    """QEMU's structures up to (without) the type 127 end marker."""
    out: list[bytes] = []
    off = 0
    while True:
        if off + 4 > len(tables):
            raise FormatError(
                "SMBIOS tables end without a type 127 structure", what="smbios-tables", offset=off
            )
        kind, length = tables[off], tables[off + 1]
        if length < 4 or off + length + 2 > len(tables):
            raise FormatError(f"SMBIOS structure of length {length}", what="smbios-tables", offset=off)
        if kind == 127:
            return out
        end = tables.find(b"\0\0", off + length)
        if end < 0:
            raise FormatError("SMBIOS structure without a double NUL", what="smbios-tables", offset=off)
        out.append(tables[off : end + 2])
        off = end + 2


def installed_structures(tables: bytes, strings: FirmwareStrings) -> list[bytes]:
    """The records SmbiosDxe holds after SmbiosPlatformDxe ran, in table order (end structure
    included)."""
    structures = _structures(tables)
    handles = set()
    for s in structures:
        handle = struct.unpack_from("<H", s, 2)[0]
        if handle in handles or handle >= _END_HANDLE:
            raise FormatError(f"SMBIOS handle {handle:#x} reused or reserved", what="smbios-tables")
        handles.add(handle)
    if not any(s[0] == 0 for s in structures):
        free = next(h for h in range(_END_HANDLE) if h not in handles)
        type0 = bytearray(ovmf_type0(strings))
        struct.pack_into("<H", type0, 2, free)
        structures.append(bytes(type0))
    return [*structures, struct.pack("<BBH", 127, 4, _END_HANDLE) + b"\0\0"]


def _string_span(structure: bytearray, number: int) -> tuple[int, int] | None:
    """(start, end) of string ``number`` (1-based) of a structure, or None if it has fewer."""
    off = structure[1]
    for _ in range(number - 1):
        nul = structure.find(0, off)
        if nul <= off:  # the double NUL (no more strings), or no NUL at all
            return None
        off = nul + 1
    end = structure.find(0, off)
    return (off, end) if end > off else None


def filter_structure(structure: bytes, filters: dict[int, FieldRule] = FILTER_2026_08) -> bytes:
    """One structure as SmbiosMeasurementDxe's ``FilterSmbiosEntry`` leaves it."""
    out = bytearray(structure)
    if len(out) < 6 or not 4 <= out[1] <= len(out) - 2 or out[-2:] != b"\0\0":
        raise FormatError("not an SMBIOS structure (header, formatted area, double NUL)", what="smbios")
    kind, length = out[0], out[1]
    rule = filters.get(kind, ()) if kind < _OEM_BEGIN else None
    if rule is None:
        out[4:] = bytes(len(out) - 4)
        return bytes(out)
    for offset, size, is_string in rule:
        if length < offset + size:
            continue
        if is_string and out[offset]:
            span = _string_span(out, out[offset])
            if span is None:
                raise FormatError(
                    f"SMBIOS type {kind} names string {out[offset]} it does not have", what="smbios"
                )
            out[span[0] : span[1]] = b" " * (span[1] - span[0])
        out[offset : offset + size] = bytes(size)
    return bytes(out)


def measured_smbios(
    tables: bytes, strings: FirmwareStrings, filters: dict[int, FieldRule] = FILTER_2026_08
) -> bytes:
    """The bytes SmbiosMeasurementDxe hashes for QEMU's ``etc/smbios/smbios-tables``."""
    return b"".join(filter_structure(s, filters) for s in installed_structures(tables, strings))


def _lzma_volumes(firmware: bytes) -> list[bytes]:
    """The payloads of the image's LZMA-compressed GUID-defined sections (edk2 LzmaCustomDecompress:
    LZMA "alone" streams, 5 property bytes and the 8-byte uncompressed size first;
    :func:`pvmkit.formats.efi_fv.decompress_lzma`, which keeps the last ones)."""
    from pvmkit.formats.efi_fv import decompress_lzma

    out: list[bytes] = []
    pos = firmware.find(_LZMA_SECTION_GUID)
    while pos >= 4:
        if firmware[pos - 1] == 0x02:  # EFI_SECTION_GUID_DEFINED, 3-byte size
            header = pos - 4
            data_offset = struct.unpack_from("<H", firmware, pos + 16)[0]
            start = header + data_offset
            size = int.from_bytes(firmware[header : header + 3], "little")
            # the section's own extent, the bytes efi_fv's walker passes too (so one decompression
            # serves both); the rest of the image where the size field does not fit it
            end = header + size if start + 13 <= header + size <= len(firmware) else len(firmware)
            if data_offset >= 24 and start + 13 <= len(firmware):
                out.append(decompress_lzma(firmware[start:end], start, "firmware"))
        pos = firmware.find(_LZMA_SECTION_GUID, pos + 16)
    return out


@dataclass(frozen=True)
class FirmwareSmbios:
    """What an OVMF image says about its SMBIOS handling (None where it cannot be read)."""

    strings: FirmwareStrings | None  #: the type 0 strings SmbiosPlatformDxe adds
    filters: dict[int, FieldRule] | None  #: SmbiosMeasurementDxe's filter table


def read_firmware(firmware: bytes) -> FirmwareSmbios:
    """The type 0 strings and the measurement filter of an OVMF image (its LZMA-compressed DXE
    volume): :func:`_type0_strings` and :func:`_filter_table`."""
    strings: FirmwareStrings | None = None
    filters: dict[int, FieldRule] | None = None
    for volume in _lzma_volumes(firmware):
        facts = read_volume(volume)
        strings = strings or facts.strings
        filters = filters or facts.filters
    return FirmwareSmbios(strings, filters)


def read_volume(volume: bytes) -> FirmwareSmbios:
    """:func:`read_firmware` for one decompressed firmware volume."""
    return FirmwareSmbios(_type0_strings(volume), _filter_table(volume))


def firmware_strings(firmware: bytes) -> FirmwareStrings | None:
    """The type 0 strings of an OVMF image (:func:`read_firmware`)."""
    return read_firmware(firmware).strings


def _type0_strings(volume: bytes) -> FirmwareStrings | None:
    """The three UTF-16 PCD strings that follow SmbiosPlatformDxe's type 0 template in its data: the
    release date by its MM/DD/YYYY form, the version as the one of the other two with a digit; None
    when they cannot be told apart."""
    at = volume.find(_TYPE0_TEMPLATE)
    if at < 0:
        return None
    window = volume[at + len(_TYPE0_TEMPLATE) : at + len(_TYPE0_TEMPLATE) + 512]
    found = [m.group()[:-2].decode("utf-16-le") for m in _UTF16_STRING.finditer(window)][:3]
    dates = [s for s in found if _DATE.fullmatch(s)]
    others = [s for s in found if not _DATE.fullmatch(s)]
    with_digit = [s for s in others if any(c.isdigit() for c in s)]
    if len(found) != 3 or len(dates) != 1 or len(with_digit) != 1:
        return None
    version = with_digit[0]
    vendor = next(s for s in others if s != version)
    return FirmwareStrings(vendor=vendor, version=version, release_date=dates[0])


def _pe_image(volume: bytes, ui_name: str) -> tuple[int, list[tuple[int, int, int]]] | None:
    """(offset of the PE image, [(rva, size, offset)] of its sections) of the FFS file whose UI
    section names ``ui_name`` (the PE32 section precedes the UI section in OVMF's volumes)."""
    ui = volume.find(ui_name.encode("utf-16-le") + b"\0\0")
    if ui < 0:
        return None
    mz = volume.rfind(b"MZ", max(0, ui - (1 << 20)), ui)
    if mz < 0 or mz + 0x40 > len(volume):
        return None
    pe = mz + struct.unpack_from("<I", volume, mz + 0x3C)[0]
    if pe + 24 > len(volume) or volume[pe : pe + 4] != b"PE\0\0":
        return None
    count, optional = (
        struct.unpack_from("<H", volume, pe + 6)[0],
        struct.unpack_from("<H", volume, pe + 20)[0],
    )
    table = pe + 24 + optional
    sections = []
    for n in range(count):
        at = table + 40 * n
        if at + 40 > len(volume):
            return None
        _vsize, rva, raw_size, raw = struct.unpack_from("<IIII", volume, at + 8)
        if mz + raw + raw_size > len(volume):
            return None
        sections.append((rva, raw_size, mz + raw))
    return mz, sections


def _filter_table(volume: bytes) -> dict[int, FieldRule] | None:
    """SmbiosMeasurementDxe's ``mSmbiosFilterStandardTableBlackList`` from its PE image: a run of
    ``{UINT8 Type; SMBIOS_FILTER_TABLE *Filter; UINTN FilterCount}`` (24 bytes, types increasing)
    whose filters are arrays of ``{UINT8 Type; UINTN Offset; UINTN Size; UINT32 Flags}`` (32 bytes)
    of the same type."""
    image = _pe_image(volume, "SmbiosMeasurementDxe")
    if image is None:
        return None
    _mz, sections = image

    def at_rva(rva: int, size: int) -> int | None:
        for va, raw_size, raw in sections:
            if va <= rva and rva + size <= va + raw_size:
                return raw + rva - va
        return None

    def entries(kind: int, rva: int, count: int) -> FieldRule | bool:
        if rva == 0 or count == 0:
            return None
        start = at_rva(rva, 32 * count)
        if start is None:
            return False
        rules = []
        for n in range(count):
            etype, offset, size, flags = struct.unpack_from("<B7xQQI4x", volume, start + 32 * n)
            if etype != kind or flags > 1 or not 0 < size <= 64 or offset + size > 0xFF:
                return False
            rules.append((offset, size, bool(flags)))
        return tuple(rules)

    for _va, raw_size, raw in sections:
        for off in range(raw, raw + raw_size - 24, 8):
            table: dict[int, FieldRule] = {}
            at, last = off, 0
            while at + 24 <= raw + raw_size and volume[at + 1 : at + 8] == bytes(7):
                kind, rva, count = volume[at], *struct.unpack_from("<QQ", volume, at + 8)
                if not last < kind < _OEM_BEGIN or count > 64:
                    break
                rule = entries(kind, rva, count)
                if rule is False:
                    break
                table[kind] = rule  # type: ignore[assignment]
                at, last = at + 24, kind
            if len(table) >= 8:
                return table
    return None
