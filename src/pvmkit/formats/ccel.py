"""The CC event log: the CCEL ACPI table and the TCG crypto-agile event log it points to.

Bytes in, typed data out (spec tdx.md §2.1; TCG PC Client Platform Firmware Profile §10; UEFI 2.10
§38.4 for the CC mapping).

* :class:`CcelTable`: the 56-byte ACPI table ``CCEL`` (standard ACPI header, ``CcType`` 2 = TDX,
  ``CcSubType``, ``LAML`` log area minimum length, ``LASA`` log area start address).
* :class:`EventLog`: the log itself. The first record is a ``TCG_PCClientPCREvent`` in the legacy
  SHA-1 layout (:class:`HeaderEvent`) carrying the ``Spec ID Event03`` structure (:class:`SpecIdEvent`)
  with the algorithm list and digest sizes; then ``TCG_PCR_EVENT2`` crypto-agile records
  (:class:`CcEvent`): ``MrIndex u32 | EventType u32 | DigestCount u32 | {AlgId u16, digest}… |
  EventSize u32 | Event``. The log ends at the first header that is all 0xFF (OVMF's fill) or all
  zero, or at the end of the data.

Event numbering: the Spec ID header event is event 0, the first crypto-agile event is event 1 (the
numbering of ``tpm2_eventlog``). Every event keeps the byte offset it was read at.

The event data of the common event types can be decoded (:meth:`CcEvent.decode`) into the
structures below; unknown types stay as raw bytes and their type stays a number. Nothing here hashes
anything: digest rules and replay are in :mod:`pvmkit.vendors.tdx.replay`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.formats.guid import guid_bytes, guid_text

__all__ = [
    "CCEL_SIGNATURE",
    "CCEL_TABLE_SIZE",
    "SPEC_ID_SIGNATURE",
    "TCG_ALG_SHA1",
    "TCG_ALG_SHA256",
    "TCG_ALG_SHA384",
    "TCG_ALG_SHA512",
    "AcpiTableHeader",
    "CcEvent",
    "CcEventLog",
    "CcType",
    "CcelTable",
    "Digest",
    "EfiConfigurationTable",
    "EventLog",
    "EventType",
    "GptEvent",
    "GptPartition",
    "HandoffTablePointers",
    "HeaderEvent",
    "ImageLoadEvent",
    "PlatformFirmwareBlob",
    "SpecIdAlgorithm",
    "SpecIdEvent",
    "TaggedEvent",
    "UefiVariableData",
    "alg_name",
    "event_type_name",
]

CCEL_SIGNATURE = b"CCEL"
CCEL_TABLE_SIZE = 56
SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"

TCG_ALG_SHA1 = 0x0004
TCG_ALG_SHA256 = 0x000B
TCG_ALG_SHA384 = 0x000C
TCG_ALG_SHA512 = 0x000D
TCG_ALG_SM3_256 = 0x0012

_ALG_NAMES = {
    TCG_ALG_SHA1: "sha1",
    TCG_ALG_SHA256: "sha256",
    TCG_ALG_SHA384: "sha384",
    TCG_ALG_SHA512: "sha512",
    TCG_ALG_SM3_256: "sm3_256",
}


def alg_name(alg_id: int) -> str:
    """TCG algorithm name (``sha384``) or ``alg_0x....`` for an unknown id."""
    return _ALG_NAMES.get(alg_id, f"alg_{alg_id:#06x}")


class CcType(enum.IntEnum):
    """``CcType`` of the CCEL table (UEFI 2.10 EFI_CC_TYPE)."""

    NONE = 0
    SEV = 1
    TDX = 2


class EventType(enum.IntEnum):
    """TCG PC Client PFP event types (§10.4.1). Values not listed here are kept as plain ints."""

    EV_PREBOOT_CERT = 0x0
    EV_POST_CODE = 0x1
    EV_UNUSED = 0x2
    EV_NO_ACTION = 0x3
    EV_SEPARATOR = 0x4
    EV_ACTION = 0x5
    EV_EVENT_TAG = 0x6
    EV_S_CRTM_CONTENTS = 0x7
    EV_S_CRTM_VERSION = 0x8
    EV_CPU_MICROCODE = 0x9
    EV_PLATFORM_CONFIG_FLAGS = 0xA
    EV_TABLE_OF_DEVICES = 0xB
    EV_COMPACT_HASH = 0xC
    EV_IPL = 0xD
    EV_IPL_PARTITION_DATA = 0xE
    EV_NONHOST_CODE = 0xF
    EV_NONHOST_CONFIG = 0x10
    EV_NONHOST_INFO = 0x11
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x12
    EV_POST_CODE2 = 0x13
    EV_EFI_EVENT_BASE = 0x80000000
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
    EV_EFI_VARIABLE_BOOT = 0x80000002
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
    EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
    EV_EFI_GPT_EVENT = 0x80000006
    EV_EFI_ACTION = 0x80000007
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
    EV_EFI_HANDOFF_TABLES = 0x80000009
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
    EV_EFI_HANDOFF_TABLES2 = 0x8000000B
    EV_EFI_VARIABLE_BOOT2 = 0x8000000C
    EV_EFI_GPT_EVENT2 = 0x8000000D
    EV_EFI_HCRTM_EVENT = 0x80000010
    EV_EFI_VARIABLE_AUTHORITY = 0x800000E0
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x800000E1
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x800000E2
    EV_EFI_SPDM_DEVICE_POLICY = 0x800000E3
    EV_EFI_SPDM_DEVICE_AUTHORITY = 0x800000E4


def event_type_name(event_type: int) -> str:
    """``EV_SEPARATOR`` for a known type, ``0x........`` for any other."""
    try:
        return EventType(event_type).name
    except ValueError:
        return f"{event_type:#010x}"


# --------------------------------------------------------------------------------------------------
# small reader


class _Reader:
    """Bounds-checked little-endian reader; every short read is a TruncatedError naming ``what``."""

    def __init__(self, data: bytes, offset: int = 0, end: int | None = None, base: int = 0) -> None:
        self.data = data
        self.pos = offset
        self.end = len(data) if end is None else end
        self.base = base  # added to offsets in error messages

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise TruncatedError(
                f"{what} needs {n} bytes, {max(0, self.end - self.pos)} available",
                what=what,
                offset=self.base + self.pos,
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        value: int = struct.unpack("<H", self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = struct.unpack("<I", self.take(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = struct.unpack("<Q", self.take(8, what))[0]
        return value

    def rest(self) -> bytes:
        out = self.data[self.pos : self.end]
        self.pos = self.end
        return out


# --------------------------------------------------------------------------------------------------
# CCEL ACPI table


@dataclass(frozen=True)
class AcpiTableHeader:
    """The standard 36-byte ACPI System Description Table header."""

    signature: bytes
    length: int
    revision: int
    checksum: int
    oem_id: bytes
    oem_table_id: bytes
    oem_revision: int
    creator_id: bytes
    creator_revision: int

    SIZE = 36
    _FMT = "<4sIBB6s8sI4sI"

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> AcpiTableHeader:
        r = _Reader(bytes(data), offset)
        raw = r.take(cls.SIZE, "ACPI table header")
        return cls(*struct.unpack(cls._FMT, raw))

    def to_bytes(self) -> bytes:
        return struct.pack(
            self._FMT,
            self.signature,
            self.length,
            self.revision,
            self.checksum,
            self.oem_id,
            self.oem_table_id,
            self.oem_revision,
            self.creator_id,
            self.creator_revision,
        )


@dataclass(frozen=True)
class CcelTable:
    """The ACPI ``CCEL`` table (56 bytes): where the CC event log lives in guest memory."""

    header: AcpiTableHeader
    cc_type: int
    cc_subtype: int
    reserved: int
    laml: int  # log area minimum length
    lasa: int  # log area start address (guest physical)

    @classmethod
    def parse(cls, data: bytes) -> CcelTable:
        data = bytes(data)
        header = AcpiTableHeader.parse(data)
        if header.signature != CCEL_SIGNATURE:
            raise FormatError(
                f"not a CCEL table: signature {header.signature!r}", what="CCEL.Signature", offset=0
            )
        if header.length < CCEL_TABLE_SIZE:
            raise FormatError(
                f"CCEL table length {header.length} is below {CCEL_TABLE_SIZE}", what="CCEL.Length", offset=4
            )
        if len(data) < header.length:
            raise TruncatedError(
                f"CCEL table needs {header.length} bytes, {len(data)} available",
                what="CCEL",
                offset=len(data),
            )
        cc_type, cc_subtype, reserved, laml, lasa = struct.unpack_from("<BBHQQ", data, 36)
        return cls(header, cc_type, cc_subtype, reserved, laml, lasa)

    def to_bytes(self) -> bytes:
        return self.header.to_bytes() + struct.pack(
            "<BBHQQ", self.cc_type, self.cc_subtype, self.reserved, self.laml, self.lasa
        )

    @property
    def checksum_ok(self) -> bool:
        """The ACPI rule: all bytes of the table sum to 0 mod 256."""
        return sum(self.to_bytes()) % 256 == 0

    @property
    def cc_type_name(self) -> str:
        try:
            return CcType(self.cc_type).name
        except ValueError:
            return f"{self.cc_type:#x}"


# --------------------------------------------------------------------------------------------------
# event log header (Spec ID event)


@dataclass(frozen=True)
class SpecIdAlgorithm:
    alg_id: int
    digest_size: int

    @property
    def name(self) -> str:
        return alg_name(self.alg_id)


@dataclass(frozen=True)
class SpecIdEvent:
    """``TCG_EfiSpecIDEvent`` (``Spec ID Event03``): the log's algorithm list and digest sizes."""

    signature: bytes
    platform_class: int
    spec_version_minor: int
    spec_version_major: int
    spec_errata: int
    uintn_size: int
    algorithms: tuple[SpecIdAlgorithm, ...]
    vendor_info: bytes

    @classmethod
    def parse(cls, data: bytes, base: int = 0) -> SpecIdEvent:
        r = _Reader(bytes(data), base=base)
        signature = r.take(16, "SpecIdEvent.signature")
        if signature != SPEC_ID_SIGNATURE:
            raise FormatError(
                f"event log does not start with a Spec ID Event03 (signature {signature!r})",
                what="SpecIdEvent.signature",
                offset=base,
            )
        platform_class = r.u32("SpecIdEvent.platformClass")
        minor = r.u8("SpecIdEvent.specVersionMinor")
        major = r.u8("SpecIdEvent.specVersionMajor")
        errata = r.u8("SpecIdEvent.specErrata")
        uintn = r.u8("SpecIdEvent.uintnSize")
        count = r.u32("SpecIdEvent.numberOfAlgorithms")
        if count == 0 or count > 64:
            raise FormatError(
                f"Spec ID event lists {count} algorithms",
                what="SpecIdEvent.numberOfAlgorithms",
                offset=base + 24,
            )
        algs = tuple(
            SpecIdAlgorithm(r.u16("SpecIdEvent.algorithmId"), r.u16("SpecIdEvent.digestSize"))
            for _ in range(count)
        )
        vsize = r.u8("SpecIdEvent.vendorInfoSize")
        vendor = r.take(vsize, "SpecIdEvent.vendorInfo")
        return cls(signature, platform_class, minor, major, errata, uintn, algs, vendor)

    def to_bytes(self) -> bytes:
        out = bytearray(self.signature)
        out += struct.pack(
            "<IBBBBI",
            self.platform_class,
            self.spec_version_minor,
            self.spec_version_major,
            self.spec_errata,
            self.uintn_size,
            len(self.algorithms),
        )
        for alg in self.algorithms:
            out += struct.pack("<HH", alg.alg_id, alg.digest_size)
        out += bytes([len(self.vendor_info)]) + self.vendor_info
        return bytes(out)

    def digest_size(self, alg_id: int) -> int | None:
        for alg in self.algorithms:
            if alg.alg_id == alg_id:
                return alg.digest_size
        return None


@dataclass(frozen=True)
class HeaderEvent:
    """The first record: ``TCG_PCClientPCREvent`` (SHA-1 layout) holding the Spec ID event."""

    pcr_index: int
    event_type: int
    digest: bytes  # 20 bytes, zero
    event_data: bytes
    spec_id: SpecIdEvent
    offset: int = 0
    index: int = 0

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> HeaderEvent:
        r = _Reader(data, offset)
        pcr = r.u32("event 0 (Spec ID header) PCRIndex")
        etype = r.u32("event 0 (Spec ID header) EventType")
        digest = r.take(20, "event 0 (Spec ID header) digest")
        size = r.u32("event 0 (Spec ID header) EventSize")
        if etype != EventType.EV_NO_ACTION:
            raise FormatError(
                f"event 0 must be EV_NO_ACTION (the Spec ID event), found {event_type_name(etype)}",
                what="event 0 EventType",
                offset=offset + 4,
            )
        body = r.take(size, "event 0 (Spec ID header) event data")
        spec_id = SpecIdEvent.parse(body, base=offset + 32)
        return cls(pcr, etype, digest, body, spec_id, offset, 0)

    def to_bytes(self) -> bytes:
        return (
            struct.pack("<II", self.pcr_index, self.event_type)
            + self.digest
            + struct.pack("<I", len(self.event_data))
            + self.event_data
        )

    @property
    def type_name(self) -> str:
        return event_type_name(self.event_type)


# --------------------------------------------------------------------------------------------------
# decoded event data


@dataclass(frozen=True)
class UefiVariableData:
    """``UEFI_VARIABLE_DATA``: ``VariableName GUID | UnicodeNameLength u64 (chars) | VariableDataLength
    u64 | UnicodeName (UTF-16LE, no NUL) | VariableData``. ``data_offset`` is where ``data`` starts
    inside the event data (the part EV_EFI_VARIABLE_BOOT hashes)."""

    vendor_guid: str
    name: str
    data: bytes
    data_offset: int

    @classmethod
    def parse(cls, raw: bytes, base: int = 0) -> UefiVariableData:
        r = _Reader(raw, base=base)
        guid = guid_text(r.take(16, "UEFI_VARIABLE_DATA.VariableName"))
        nchars = r.u64("UEFI_VARIABLE_DATA.UnicodeNameLength")
        dlen = r.u64("UEFI_VARIABLE_DATA.VariableDataLength")
        name_raw = r.take(2 * nchars, "UEFI_VARIABLE_DATA.UnicodeName")
        data_offset = r.pos
        data = r.take(dlen, "UEFI_VARIABLE_DATA.VariableData")
        if r.pos != r.end:
            raise FormatError(
                f"UEFI_VARIABLE_DATA has {r.end - r.pos} bytes after VariableData",
                what="UEFI_VARIABLE_DATA",
                offset=base + r.pos,
            )
        name = name_raw.decode("utf-16-le", errors="replace")
        return cls(guid, name, data, data_offset)

    def to_bytes(self) -> bytes:
        name = self.name.encode("utf-16-le")
        return (
            guid_bytes(self.vendor_guid)
            + struct.pack("<QQ", len(name) // 2, len(self.data))
            + name
            + self.data
        )


@dataclass(frozen=True)
class TaggedEvent:
    """``TCG_PCClientTaggedEvent``: ``taggedEventID u32 | taggedEventDataSize u32 | data``."""

    tag_id: int
    data: bytes

    @classmethod
    def parse(cls, raw: bytes, base: int = 0) -> TaggedEvent:
        r = _Reader(raw, base=base)
        tag = r.u32("TaggedEvent.taggedEventID")
        size = r.u32("TaggedEvent.taggedEventDataSize")
        return cls(tag, r.take(size, "TaggedEvent.taggedEventData"))

    @property
    def text(self) -> str:
        return _text(self.data)


@dataclass(frozen=True)
class EfiConfigurationTable:
    vendor_guid: str
    vendor_table: int


@dataclass(frozen=True)
class HandoffTablePointers:
    """``UEFI_HANDOFF_TABLE_POINTERS(2)``: optional description (only in the ``2`` form) and a list of
    EFI_CONFIGURATION_TABLE entries (GUID + guest address)."""

    description: bytes | None
    tables: tuple[EfiConfigurationTable, ...]

    @classmethod
    def parse(cls, raw: bytes, with_description: bool, base: int = 0) -> HandoffTablePointers:
        r = _Reader(raw, base=base)
        desc: bytes | None = None
        if with_description:
            desc = r.take(r.u8("HandoffTablePointers2.TableDescriptionSize"), "TableDescription")
        n = r.u64("HandoffTablePointers.NumberOfTables")
        if n > (r.end - r.pos) // 24:
            raise TruncatedError(
                f"{n} configuration tables do not fit", what="HandoffTablePointers", offset=base + r.pos
            )
        tables = tuple(
            EfiConfigurationTable(guid_text(r.take(16, "VendorGuid")), r.u64("VendorTable")) for _ in range(n)
        )
        return cls(desc, tables)

    @property
    def description_text(self) -> str | None:
        return None if self.description is None else _text(self.description)


@dataclass(frozen=True)
class PlatformFirmwareBlob:
    """``UEFI_PLATFORM_FIRMWARE_BLOB(2)``: optional description (``2`` form), base and length."""

    description: bytes | None
    base: int
    length: int

    @classmethod
    def parse(cls, raw: bytes, with_description: bool, base: int = 0) -> PlatformFirmwareBlob:
        r = _Reader(raw, base=base)
        desc: bytes | None = None
        if with_description:
            desc = r.take(r.u8("PlatformFirmwareBlob2.BlobDescriptionSize"), "BlobDescription")
        return cls(desc, r.u64("PlatformFirmwareBlob.BlobBase"), r.u64("PlatformFirmwareBlob.BlobLength"))

    @property
    def description_text(self) -> str | None:
        return None if self.description is None else _text(self.description)


@dataclass(frozen=True)
class ImageLoadEvent:
    """``UEFI_IMAGE_LOAD_EVENT``: where a PE image was loaded, and its device path (raw)."""

    image_location: int
    image_length: int
    link_time_address: int
    device_path: bytes

    @classmethod
    def parse(cls, raw: bytes, base: int = 0) -> ImageLoadEvent:
        r = _Reader(raw, base=base)
        loc = r.u64("ImageLoadEvent.ImageLocationInMemory")
        length = r.u64("ImageLoadEvent.ImageLengthInMemory")
        link = r.u64("ImageLoadEvent.ImageLinkTimeAddress")
        dp_len = r.u64("ImageLoadEvent.LengthOfDevicePath")
        return cls(loc, length, link, r.take(dp_len, "ImageLoadEvent.DevicePath"))


@dataclass(frozen=True)
class GptPartition:
    type_guid: str
    unique_guid: str
    starting_lba: int
    ending_lba: int
    attributes: int
    name: str


@dataclass(frozen=True)
class GptEvent:
    """``UEFI_GPT_DATA``: the GPT header (kept raw, with its main fields decoded) and the partitions."""

    header: bytes
    disk_guid: str
    partition_entry_size: int
    partitions: tuple[GptPartition, ...]

    @classmethod
    def parse(cls, raw: bytes, base: int = 0) -> GptEvent:
        r = _Reader(raw, base=base)
        hdr = r.take(92, "UEFI_GPT_DATA.UEFIPartitionHeader")
        if hdr[:8] != b"EFI PART":
            raise FormatError("GPT event header is not 'EFI PART'", what="UEFI_GPT_DATA", offset=base)
        header_size = struct.unpack_from("<I", hdr, 12)[0]
        if header_size > 92:
            hdr += r.take(header_size - 92, "UEFI_GPT_DATA.UEFIPartitionHeader")
        disk_guid = guid_text(hdr[56:72])
        entry_size = struct.unpack_from("<I", hdr, 84)[0]
        n = r.u64("UEFI_GPT_DATA.NumberOfPartitions")
        if entry_size < 128 or n > (r.end - r.pos) // entry_size:
            raise TruncatedError(
                f"{n} GPT partitions of {entry_size} bytes do not fit",
                what="UEFI_GPT_DATA.Partitions",
                offset=base + r.pos,
            )
        parts = []
        for _ in range(n):
            e = r.take(entry_size, "UEFI_GPT_DATA.Partitions")
            first, last, attrs = struct.unpack_from("<QQQ", e, 32)
            name = e[56:128].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
            parts.append(GptPartition(guid_text(e[0:16]), guid_text(e[16:32]), first, last, attrs, name))
        return cls(hdr, disk_guid, entry_size, tuple(parts))


def _text(raw: bytes) -> str:
    """Event text without trailing NULs; non-ASCII bytes escaped."""
    return raw.rstrip(b"\x00").decode("ascii", errors="backslashreplace")


def _printable(raw: bytes) -> bool:
    body = raw.rstrip(b"\x00")
    return bool(body) and all(0x20 <= b < 0x7F or b in (0x09, 0x0A, 0x0D) for b in body)


Decoded = (
    UefiVariableData
    | TaggedEvent
    | HandoffTablePointers
    | PlatformFirmwareBlob
    | ImageLoadEvent
    | GptEvent
    | str
    | int
    | bytes
)


# --------------------------------------------------------------------------------------------------
# crypto-agile events


@dataclass(frozen=True)
class Digest:
    alg_id: int
    digest: bytes

    @property
    def alg(self) -> str:
        return alg_name(self.alg_id)


@dataclass(frozen=True)
class CcEvent:
    """One ``TCG_PCR_EVENT2`` / ``CC_EVENT`` record.

    ``mr_index`` is the CC measurement-register index (0 = MRTD, 1..4 = RTMR0..3); ``index`` is the
    event number in the log (1 = first event after the Spec ID header); ``offset`` its byte offset.
    """

    index: int
    offset: int
    mr_index: int
    event_type: int
    digests: tuple[Digest, ...]
    event_data: bytes

    @property
    def type_name(self) -> str:
        return event_type_name(self.event_type)

    @property
    def rtmr(self) -> int | None:
        """RTMR number (0..3) this event extends, or None for MR index 0 (MRTD) or > 4."""
        return self.mr_index - 1 if 1 <= self.mr_index <= 4 else None

    @property
    def event_data_offset(self) -> int:
        """Byte offset of the event data in the log."""
        return self.offset + 12 + sum(2 + len(d.digest) for d in self.digests) + 4

    def digest(self, alg_id: int = TCG_ALG_SHA384) -> bytes | None:
        for d in self.digests:
            if d.alg_id == alg_id:
                return d.digest
        return None

    def to_bytes(self) -> bytes:
        out = bytearray(struct.pack("<III", self.mr_index, self.event_type, len(self.digests)))
        for d in self.digests:
            out += struct.pack("<H", d.alg_id) + d.digest
        out += struct.pack("<I", len(self.event_data)) + self.event_data
        return bytes(out)

    def decode(self) -> Decoded:
        """The event data as a typed structure, per event type; raw bytes for the others.

        Raises FormatError (with the event's offsets) when the data does not hold the structure its
        type calls for.
        """
        raw = self.event_data
        base = self.event_data_offset
        t = self.event_type
        try:
            if t in _VARIABLE_TYPES:
                return UefiVariableData.parse(raw, base)
            if t in (EventType.EV_EFI_ACTION, EventType.EV_ACTION, EventType.EV_S_CRTM_VERSION):
                if t == EventType.EV_S_CRTM_VERSION and not _printable(raw):
                    return raw
                return _text(raw)
            if t == EventType.EV_SEPARATOR:
                if len(raw) == 4:
                    value: int = struct.unpack("<I", raw)[0]
                    return value
                return raw
            if t == EventType.EV_EVENT_TAG:
                return TaggedEvent.parse(raw, base)
            if t == EventType.EV_EFI_HANDOFF_TABLES:
                return HandoffTablePointers.parse(raw, False, base)
            if t == EventType.EV_EFI_HANDOFF_TABLES2:
                return HandoffTablePointers.parse(raw, True, base)
            if t == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB:
                return PlatformFirmwareBlob.parse(raw, False, base)
            if t == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2:
                return PlatformFirmwareBlob.parse(raw, True, base)
            if t in _IMAGE_TYPES:
                return ImageLoadEvent.parse(raw, base)
            if t in (EventType.EV_EFI_GPT_EVENT, EventType.EV_EFI_GPT_EVENT2):
                return GptEvent.parse(raw, base)
            if t in (EventType.EV_IPL, EventType.EV_PLATFORM_CONFIG_FLAGS, EventType.EV_NO_ACTION):
                return _text(raw) if _printable(raw) else raw
        except FormatError as exc:
            raise type(exc)(
                f"event {self.index} ({self.type_name}): {exc}", what=exc.what, offset=None
            ) from None
        return raw


_VARIABLE_TYPES = frozenset(
    {
        EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
        EventType.EV_EFI_VARIABLE_BOOT,
        EventType.EV_EFI_VARIABLE_BOOT2,
        EventType.EV_EFI_VARIABLE_AUTHORITY,
        EventType.EV_EFI_SPDM_DEVICE_POLICY,
        EventType.EV_EFI_SPDM_DEVICE_AUTHORITY,
    }
)
_IMAGE_TYPES = frozenset(
    {
        EventType.EV_EFI_BOOT_SERVICES_APPLICATION,
        EventType.EV_EFI_BOOT_SERVICES_DRIVER,
        EventType.EV_EFI_RUNTIME_SERVICES_DRIVER,
    }
)


# --------------------------------------------------------------------------------------------------
# the whole log


def _is_end_marker(data: bytes, pos: int) -> bool:
    """OVMF fills the unused log area with 0xFF; some dumps are zero-filled. An 8-byte MrIndex +
    EventType header that is all 0xFF or all zero (or fewer than 8 bytes left, all fill) ends the log."""
    head = data[pos : pos + 8]
    if not head:
        return True
    if len(head) < 8:
        return head in (b"\xff" * len(head), b"\x00" * len(head))
    return head in (b"\xff" * 8, b"\x00" * 8)


@dataclass(frozen=True)
class EventLog:
    """A parsed CC event log: the Spec ID header event, the crypto-agile events and whatever follows
    the last event (``trailing``: the unused log area, usually 0xFF fill), kept so that
    :meth:`to_bytes` reproduces the input exactly."""

    header: HeaderEvent
    events: tuple[CcEvent, ...]
    trailing: bytes = field(default=b"", repr=False)

    @property
    def spec_id(self) -> SpecIdEvent:
        return self.header.spec_id

    @property
    def end_offset(self) -> int:
        """Offset just after the last event (where the fill starts)."""
        if self.events:
            last = self.events[-1]
            return last.event_data_offset + len(last.event_data)
        return len(self.header.to_bytes())

    def __iter__(self) -> Iterator[CcEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def event(self, index: int) -> CcEvent:
        """Event number ``index`` (1-based, as in :attr:`CcEvent.index`)."""
        if not 1 <= index <= len(self.events):
            raise IndexError(f"event {index} is not in the log (1..{len(self.events)})")
        return self.events[index - 1]

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, max_events: int = 1_000_000) -> EventLog:
        data = bytes(data)
        header = HeaderEvent.parse(data, 0)
        sizes = {a.alg_id: a.digest_size for a in header.spec_id.algorithms}
        pos = len(header.to_bytes())
        events: list[CcEvent] = []
        while pos < len(data) and not _is_end_marker(data, pos):
            index = len(events) + 1
            if index > max_events:
                raise FormatError(f"more than {max_events} events", what="EventLog", offset=pos)
            events.append(cls._parse_event(data, pos, index, sizes))
            last = events[-1]
            pos = last.event_data_offset + len(last.event_data)
        return cls(header, tuple(events), data[pos:])

    @staticmethod
    def _parse_event(data: bytes, pos: int, index: int, sizes: dict[int, int]) -> CcEvent:
        where = f"event {index} (at offset {pos:#x})"
        r = _Reader(data, pos)
        mr_index = r.u32(f"{where} MrIndex")
        etype = r.u32(f"{where} EventType")
        count = r.u32(f"{where} DigestCount")
        if count == 0 or count > len(sizes):
            raise FormatError(
                f"{where}: DigestCount {count}, the Spec ID event lists {len(sizes)} algorithm(s)",
                what="DigestCount",
                offset=pos + 8,
            )
        digests = []
        for _ in range(count):
            alg_at = r.pos
            alg = r.u16(f"{where} AlgorithmId")
            size = sizes.get(alg)
            if size is None:
                raise FormatError(
                    f"{where}: digest algorithm {alg:#06x} is not in the Spec ID event",
                    what="AlgorithmId",
                    offset=alg_at,
                )
            digests.append(Digest(alg, r.take(size, f"{where} {alg_name(alg)} digest")))
        size = r.u32(f"{where} EventSize")
        event_data = r.take(size, f"{where} event data ({event_type_name(etype)}, {size} bytes)")
        return CcEvent(index, pos, mr_index, etype, tuple(digests), event_data)

    def to_bytes(self) -> bytes:
        return self.header.to_bytes() + b"".join(e.to_bytes() for e in self.events) + self.trailing

    def with_event(self, event: CcEvent) -> EventLog:
        """A copy with event ``event.index`` replaced (offsets of later events are recomputed)."""
        events = list(self.events)
        events[event.index - 1] = event
        return EventLog.parse(self.header.to_bytes() + b"".join(e.to_bytes() for e in events) + self.trailing)


#: The name :class:`EventLog` has in the flat ``pvmkit`` namespace.
CcEventLog = EventLog
