"""CCEL ACPI table and CC event log parsing (pvmkit.formats.ccel) on the real GCE TDX log.

Vectors: tests/vectors/README.md, section "TDX evidence".
"""

from __future__ import annotations

import struct

import pytest

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.formats.ccel import (
    TCG_ALG_SHA384,
    CcelTable,
    CcEvent,
    Digest,
    EventLog,
    EventType,
    GptEvent,
    HandoffTablePointers,
    ImageLoadEvent,
    PlatformFirmwareBlob,
    TaggedEvent,
    UefiVariableData,
    event_type_name,
)
from support.fixtures import read_fixture

TABLE = "go-tdx-guest/ccel/ccel_table.dat"
DATA = "go-tdx-guest/ccel/ccel_data.dat"

SEPARATOR_DIGEST = (
    "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
)
UIAPP_BOOT0000 = (
    "23ada07f5261f12f34a0bd8e46760962d6b4d576a416f1fea1c64bc656b1d28eacf7047ae6e967c58fd2a98bfa74c298"
)


@pytest.fixture(scope="module")
def raw_log() -> bytes:
    return read_fixture(DATA)


@pytest.fixture(scope="module")
def log(raw_log: bytes) -> EventLog:
    return EventLog.parse(raw_log)


# ---- CCEL table ---------------------------------------------------------------------------------


def test_ccel_table_fields_and_round_trip() -> None:
    raw = read_fixture(TABLE)
    t = CcelTable.parse(raw)
    assert t.header.signature == b"CCEL" and t.header.length == 56 and t.header.revision == 1
    assert t.cc_type == 2 and t.cc_type_name == "TDX" and t.cc_subtype == 0  # spec §2.1
    assert t.laml == 0x40000  # spec §2.1: OVMF's log area minimum length
    assert t.lasa == 0xBEDBF000
    assert t.header.oem_id == b"INTEL " and t.header.oem_table_id == b"EDK2    "
    assert t.checksum_ok
    assert t.to_bytes() == raw


def test_ccel_table_rejects_other_tables_and_short_input() -> None:
    raw = read_fixture(TABLE)
    with pytest.raises(FormatError, match="not a CCEL table"):
        CcelTable.parse(b"FACP" + raw[4:])
    with pytest.raises(TruncatedError):
        CcelTable.parse(raw[:40])
    broken = bytearray(raw)
    broken[45] ^= 1
    assert not CcelTable.parse(bytes(broken)).checksum_ok


# ---- event log ----------------------------------------------------------------------------------


def test_spec_id_header(log: EventLog) -> None:
    h = log.header
    assert h.pcr_index == 1 and h.event_type == EventType.EV_NO_ACTION and h.digest == bytes(20)
    spec = log.spec_id
    assert spec.signature == b"Spec ID Event03\x00"
    assert (spec.spec_version_major, spec.spec_version_minor, spec.spec_errata) == (2, 0, 0)
    assert spec.uintn_size == 2
    assert [(a.alg_id, a.digest_size, a.name) for a in spec.algorithms] == [(0x000C, 48, "sha384")]
    assert spec.vendor_info == b""
    assert spec.to_bytes() == h.event_data


def test_events_stop_at_the_ff_fill_and_round_trip(log: EventLog, raw_log: bytes) -> None:
    assert len(log) == 43  # spec §2.1: "all 43 events"
    assert [e.index for e in log] == list(range(1, 44))
    assert log.end_offset == 18101
    assert set(log.trailing) == {0xFF} and len(log.trailing) == len(raw_log) - 18101
    assert log.to_bytes() == raw_log
    for e in log:
        assert len(e.digests) == 1 and e.digests[0].alg_id == TCG_ALG_SHA384 and len(e.digest()) == 48
        assert raw_log[e.offset : e.offset + len(e.to_bytes())] == e.to_bytes()


def test_zero_fill_and_no_fill_end_the_log_too(log: EventLog, raw_log: bytes) -> None:
    zero = EventLog.parse(raw_log[: log.end_offset] + bytes(4096))
    bare = EventLog.parse(raw_log[: log.end_offset])
    assert zero.events == log.events == bare.events
    assert bare.trailing == b""


def test_mr_index_and_types(log: EventLog) -> None:
    types = [e.type_name for e in log]
    assert types[:2] == ["EV_EFI_HANDOFF_TABLES2", "EV_EFI_PLATFORM_FIRMWARE_BLOB2"]
    assert types.count("EV_IPL") == 20
    assert {e.mr_index for e in log} == {1, 2, 3}
    assert log.event(15).rtmr == 1 and log.event(19).rtmr == 2 and log.event(1).rtmr == 0


def test_known_digests(log: EventLog) -> None:
    assert log.event(8).digest().hex() == SEPARATOR_DIGEST  # spec §2.2 item 5
    assert log.event(16).digest().hex() == SEPARATOR_DIGEST
    assert log.event(14).digest().hex() == UIAPP_BOOT0000  # spec §2.2 item 9 (pre-2025 UiApp)
    # spec §2.3: the three EV_EFI_ACTION digests of RTMR1
    assert log.event(15).digest().hex().startswith("77a0dab2312b4e1e")
    assert log.event(42).digest().hex().startswith("214b0bef13797560")
    assert log.event(43).digest().hex().startswith("0a2e01c85deae718")


def test_decoding(log: EventLog) -> None:
    hob = log.event(1).decode()
    assert isinstance(hob, HandoffTablePointers)
    assert hob.description_text == "TdxTable"  # spec §2.2 item 1
    assert [(t.vendor_guid, t.vendor_table) for t in hob.tables] == [
        ("93bb96af-b9f2-4eb8-9462-e0ba74564236", 0x809000)
    ]
    cfv = log.event(2).decode()
    assert isinstance(cfv, PlatformFirmwareBlob)
    assert cfv.description_text == "Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)"
    assert (cfv.base, cfv.length) == (0xFFE00000, 0x20000)
    sb = log.event(3).decode()
    assert isinstance(sb, UefiVariableData)
    assert (sb.vendor_guid, sb.name, sb.data) == (
        "8be4df61-93ca-11d2-aa0d-00e098032b8c",
        "SecureBoot",
        b"\x00",
    )
    assert sb.to_bytes() == log.event(3).event_data
    names = [log.event(i).decode().name for i in range(3, 8)]  # type: ignore[union-attr]
    assert names == ["SecureBoot", "PK", "KEK", "db", "dbx"]  # spec §2.2 item 4 order
    assert log.event(6).decode().vendor_guid == "d719b2cb-3d3a-4596-a3bc-dad00e67656f"  # type: ignore[union-attr]
    assert log.event(8).decode() == 0
    assert log.event(9).decode() == "ACPI DATA"  # spec §2.2 item 6
    boot = log.event(12).decode()
    assert (
        isinstance(boot, UefiVariableData) and boot.name == "BootOrder" and boot.data == b"\x01\x00\x00\x00"
    )
    assert log.event(15).decode() == "Calling EFI Application from Boot Option"
    gpt = log.event(17).decode()
    assert isinstance(gpt, GptEvent) and len(gpt.partitions) == 12 and gpt.partition_entry_size == 128
    img = log.event(18).decode()
    assert isinstance(img, ImageLoadEvent) and img.image_length == 0xE1C10
    auth = log.event(21).decode()
    assert isinstance(auth, UefiVariableData) and auth.name == "SbatLevel"
    assert auth.data == b"sbat,1,2021030218\n"
    assert log.event(26).decode() == "grub_cmd: defaultA=2"
    assert log.event(43).decode() == "Exit Boot Services Returned with Success"


def test_tagged_event_and_unknown_types_are_kept() -> None:
    tagged = struct.pack("<II", 0x8F3B22ED, 6) + b"abcdef"
    e = CcEvent(1, 0, 3, EventType.EV_EVENT_TAG, (Digest(TCG_ALG_SHA384, bytes(48)),), tagged)
    d = e.decode()
    assert isinstance(d, TaggedEvent) and d.tag_id == 0x8F3B22ED and d.data == b"abcdef"
    u = CcEvent(1, 0, 3, 0x12345678, (Digest(TCG_ALG_SHA384, bytes(48)),), b"\x01\x02")
    assert u.type_name == "0x12345678" == event_type_name(0x12345678)
    assert u.decode() == b"\x01\x02"


def test_unknown_event_type_survives_a_round_trip(log: EventLog) -> None:
    e = log.event(9)
    odd = CcEvent(e.index, e.offset, e.mr_index, 0x12345678, e.digests, e.event_data)
    relog = log.with_event(odd)
    assert relog.event(9).event_type == 0x12345678 and relog.event(9).type_name == "0x12345678"
    assert EventLog.parse(relog.to_bytes()) == relog


def test_malformed_variable_event_names_the_event(log: EventLog) -> None:
    e = log.event(12)
    bad = CcEvent(e.index, e.offset, e.mr_index, e.event_type, e.digests, e.event_data[:-1])
    with pytest.raises(TruncatedError, match="event 12"):
        bad.decode()


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [1, 4, 9, 17, 33, 43])
def test_truncated_log_names_event_and_offset(log: EventLog, raw_log: bytes, index: int) -> None:
    e = log.event(index)
    cut = e.event_data_offset + len(e.event_data) // 2 if e.event_data else e.offset + 10
    with pytest.raises(TruncatedError) as info:
        EventLog.parse(raw_log[:cut])
    msg = str(info.value)
    assert f"event {index} (at offset {e.offset:#x})" in msg
    assert info.value.offset is not None and e.offset <= info.value.offset <= cut


def test_truncated_inside_digest_and_header(log: EventLog, raw_log: bytes) -> None:
    e = log.event(5)
    with pytest.raises(TruncatedError, match=r"event 5 .* sha384 digest"):
        EventLog.parse(raw_log[: e.offset + 20])
    with pytest.raises(TruncatedError, match="event 0"):
        EventLog.parse(raw_log[:40])


def test_not_an_event_log() -> None:
    with pytest.raises(FormatError):
        EventLog.parse(read_fixture(TABLE))
    with pytest.raises(FormatError, match="Spec ID"):
        EventLog.parse(struct.pack("<II", 1, 3) + bytes(20) + struct.pack("<I", 16) + b"Spec ID Event02\x00")


def test_digest_algorithm_not_in_spec_id_is_rejected(log: EventLog, raw_log: bytes) -> None:
    e = log.event(1)
    broken = bytearray(raw_log)
    broken[e.offset + 12 : e.offset + 14] = struct.pack("<H", 0x000B)
    with pytest.raises(FormatError, match=r"event 1 .*0x000b is not in the Spec ID event"):
        EventLog.parse(bytes(broken))
