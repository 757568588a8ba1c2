"""RTMR replay of the real GCE CC event log against its quote (pvmkit.vendors.tdx.replay).

Done-when (issue 5): the replay reproduces the quote's RTMRs exactly, and a single changed byte in
any measured event makes the replay name that event. Vectors: tests/vectors/README.md, "TDX evidence".
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from pvmkit.errors import InputError, VerificationError
from pvmkit.formats.ccel import TCG_ALG_SHA384, CcEvent, Digest, EventLog, EventType
from pvmkit.formats.tdx_quote import Quote, TdReport
from pvmkit.vendors.tdx.replay import (
    DigestRule,
    EventStatus,
    compare,
    digest_rule,
    extend,
    measured_span,
    recompute_digest,
    replay,
    verify,
)
from support.fixtures import read_fixture

DATA = "go-tdx-guest/ccel/ccel_data.dat"
QUOTE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"


@pytest.fixture(scope="module")
def log() -> EventLog:
    return EventLog.parse(read_fixture(DATA))


@pytest.fixture(scope="module")
def quote() -> Quote:
    return Quote.parse(read_fixture(QUOTE))


def _with_digest(e: CcEvent, digest: bytes) -> CcEvent:
    return dataclasses.replace(e, digests=(Digest(TCG_ALG_SHA384, digest),))


def _flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


# ---- the reference replay -----------------------------------------------------------------------


def test_replay_reproduces_the_gce_quote(log: EventLog, quote: Quote) -> None:
    rep = replay(log)
    assert rep.rtmrs == quote.rtmrs  # RTMR0..2 from hardware; RTMR3 zero (never extended)
    assert rep.rtmrs[0].hex().startswith("3fa2f61f395b7f5f")
    assert rep.rtmrs[3] == bytes(48)
    result = verify(log, quote.rtmrs)
    assert result.ok and result.rtmr_matches == (True, True, True, True)
    assert result.unmeasured_differences == ()


def test_every_recomputable_digest_verifies(log: EventLog) -> None:
    rep = replay(log)
    status = {r.index: r.status for r in rep.events}
    assert list(status.values()).count(EventStatus.VERIFIED) == 31
    external = sorted(i for i, s in status.items() if s == EventStatus.EXTERNAL)
    # TD HOB, CFV, 3x ACPI, 2x PE image, MokList/MokListX/MokListTrusted, grub.cfg, kernel file
    assert external == [1, 2, 9, 10, 11, 18, 19, 20, 23, 24, 25, 40]
    assert all(s in (EventStatus.VERIFIED, EventStatus.EXTERNAL) for s in status.values())


def test_digest_rules(log: EventLog) -> None:
    rules = {e.index: digest_rule(e) for e in log}
    assert rules[3] == DigestRule.EVENT_DATA  # DRIVER_CONFIG: whole UEFI_VARIABLE_DATA
    assert rules[21] == DigestRule.EVENT_DATA  # AUTHORITY: whole UEFI_VARIABLE_DATA
    assert rules[12] == DigestRule.VARIABLE_DATA  # BOOT: VariableData only
    assert rules[8] == rules[15] == rules[17] == DigestRule.EVENT_DATA  # separator, action, GPT
    assert rules[26] == rules[41] == DigestRule.IPL_TEXT  # grub_cmd:/kernel_cmdline:
    assert rules[1] == rules[9] == rules[18] == rules[25] == DigestRule.EXTERNAL
    boot = log.event(12)
    start, end = measured_span(boot)  # type: ignore[misc]
    assert boot.event_data[start:end] == b"\x01\x00\x00\x00"
    assert recompute_digest(boot) == hashlib.sha384(b"\x01\x00\x00\x00").digest() == boot.digest()
    grub = log.event(26)
    assert recompute_digest(grub) == hashlib.sha384(b"defaultA=2").digest()
    tag = CcEvent(1, 0, 3, EventType.EV_EVENT_TAG, (Digest(TCG_ALG_SHA384, bytes(48)),), b"\x00" * 8)
    assert digest_rule(tag) == DigestRule.EXTERNAL  # the Linux stub hashes the tagged buffer (§2.4)


def test_extend_is_sha384_of_concatenation() -> None:
    d = hashlib.sha384(b"x").digest()
    assert extend(bytes(48), d) == hashlib.sha384(bytes(48) + d).digest()


def test_rtmr_after_tracks_each_register(log: EventLog, quote: Quote) -> None:
    rep = replay(log)
    for k in range(3):
        last = rep.events_of(k)[-1]
        assert last.rtmr_after == quote.rtmrs[k]


# ---- Done-when: one changed byte in any measured event names that event ------------------------


@pytest.mark.parametrize("pos", [0, pytest.param(47, marks=pytest.mark.slow)])
def test_changed_digest_byte_names_the_event(log: EventLog, quote: Quote, pos: int) -> None:
    for e in log:
        mutated = log.with_event(_with_digest(e, _flip(e.digest() or b"", pos)))
        d = compare(mutated, quote.rtmrs).first_difference
        assert d is not None, e.index
        assert d.event is not None and d.event.index == e.index, (e.index, d.message)
        assert d.field == f"event {e.index}"
        if digest_rule(e) == DigestRule.EXTERNAL:
            assert d.kind == "rtmr" and d.rtmr == e.rtmr  # found through the quote
        else:
            assert d.kind == "digest"  # found from the event data alone


def test_changed_measured_data_byte_names_the_event(log: EventLog, quote: Quote) -> None:
    checked = 0
    for e in log:
        span = measured_span(e)
        if span is None or span[0] == span[1]:
            continue
        for pos in {span[0], (span[0] + span[1]) // 2, span[1] - 1}:
            mutated = log.with_event(dataclasses.replace(e, event_data=_flip(e.event_data, pos)))
            d = compare(mutated, quote.rtmrs).first_difference
            assert d is not None and d.kind == "digest" and d.event is not None, (e.index, pos)
            assert d.event.index == e.index
            with pytest.raises(VerificationError) as info:
                verify(mutated, quote.rtmrs)
            assert info.value.field == f"event {e.index}"
            assert e.type_name in str(info.value) and f"MR {e.mr_index}" in str(info.value)
        checked += 1
    assert checked == 31


def test_changed_unmeasured_data_is_not_a_mismatch(log: EventLog, quote: Quote) -> None:
    """Event data no digest covers (blob descriptions, file names, a BOOT variable's name) changes no
    RTMR: quote comparison passes; a reference log reports it as a note, never as a failure."""
    cases = [e for e in log if measured_span(e) is None and e.event_data]
    cases.append(log.event(12))  # EV_EFI_VARIABLE_BOOT: the name is not measured
    assert len(cases) == 13
    for e in cases:
        span = measured_span(e)
        pos = 34 if span is not None else len(e.event_data) // 2  # 34: inside the name "BootOrder"
        assert span is None or not span[0] <= pos < span[1]
        mutated = log.with_event(dataclasses.replace(e, event_data=_flip(e.event_data, pos)))
        assert replay(mutated).rtmrs == quote.rtmrs
        assert compare(mutated, quote.rtmrs).ok, e.index
        with_ref = compare(mutated, quote.rtmrs, reference=log)
        assert with_ref.ok
        assert len(with_ref.unmeasured_differences) == 1
        assert f"event {e.index} " in with_ref.unmeasured_differences[0]


def test_external_digest_replaced_needs_a_reference(log: EventLog, quote: Quote) -> None:
    """A wholly different external digest (another ACPI table, another kernel): the quote names the
    register and the candidates; a reference log names the event."""
    for e in log:
        if digest_rule(e) != DigestRule.EXTERNAL:
            continue
        other = hashlib.sha384(b"another blob").digest()
        mutated = log.with_event(_with_digest(e, other))
        d = compare(mutated, quote.rtmrs, search_budget=0).first_difference
        assert d is not None and d.event is None and d.rtmr == e.rtmr
        assert e.index in d.candidates and d.field == f"RTMR{e.rtmr}"
        d = compare(mutated, quote.rtmrs, reference=log).first_difference
        assert d is not None and d.kind == "reference" and d.event is not None and d.event.index == e.index


def test_reference_names_changed_type_and_mr_index(log: EventLog, quote: Quote) -> None:
    e = log.event(9)
    moved = log.with_event(dataclasses.replace(e, mr_index=3))
    d = compare(moved, quote.rtmrs, reference=log).first_difference
    assert d is not None and d.event is not None and d.event.index == 9 and "MR index 3" in d.message
    retyped = log.with_event(dataclasses.replace(e, event_type=EventType.EV_EFI_HANDOFF_TABLES))
    d = compare(retyped, quote.rtmrs, reference=log).first_difference
    assert d is not None and d.event is not None and d.event.index == 9


def test_missing_events(log: EventLog, quote: Quote) -> None:
    short = EventLog(log.header, log.events[:-1], log.trailing)  # drop "Exit Boot Services Returned"
    d = compare(short, quote.rtmrs).first_difference
    assert d is not None and d.event is None and d.rtmr == 1
    d = compare(short, quote.rtmrs, reference=log).first_difference
    assert d is not None and d.event is not None and d.event.index == 43
    longer = compare(log, quote.rtmrs, reference=short).first_difference
    assert longer is not None and longer.event is not None and longer.event.index == 43


def test_no_action_events_are_not_extended(log: EventLog, quote: Quote) -> None:
    e = log.event(43)
    noop = CcEvent(44, 0, 1, EventType.EV_NO_ACTION, (Digest(TCG_ALG_SHA384, bytes(48)),), b"x")
    extended = EventLog.parse(log.to_bytes()[: log.end_offset] + noop.to_bytes())
    rep = replay(extended)
    assert rep.rtmrs == quote.rtmrs and rep.events[-1].status == EventStatus.NOT_EXTENDED
    assert e.index == 43


def test_mrtd_index_events_are_not_replayed(log: EventLog, quote: Quote) -> None:
    odd = CcEvent(44, 0, 0, EventType.EV_EFI_ACTION, (Digest(TCG_ALG_SHA384, bytes(48)),), b"x")
    rep = replay(EventLog.parse(log.to_bytes()[: log.end_offset] + odd.to_bytes()))
    assert rep.events[-1].status == EventStatus.NOT_REPLAYED and rep.rtmrs == quote.rtmrs


def test_compare_with_v5_quote_and_tdreport(log: EventLog, quote: Quote) -> None:
    """RTMRs are read from a v5 body (offset 54) and from a TDREPORT's TDINFO the same way."""
    v5 = Quote.parse(read_fixture("go-tdx-guest/quote_v5_sample.dat"))
    r = quote.rtmrs
    body = dataclasses.replace(v5.body, rtmr0=r[0], rtmr1=r[1], rtmr2=r[2], rtmr3=r[3])
    rebuilt = Quote.parse(dataclasses.replace(v5, body=body).to_bytes())
    assert verify(log, rebuilt.rtmrs).ok
    assert not compare(log, v5.rtmrs).ok  # the sample's own RTMRs are another TD's
    report = TdReport.parse(read_fixture("go-tdx-guest/report.dat"))
    info = dataclasses.replace(report.td_info, rtmr0=r[0], rtmr1=r[1], rtmr2=r[2], rtmr3=r[3])
    assert verify(log, TdReport.parse(dataclasses.replace(report, td_info=info).to_bytes()).rtmrs).ok


def test_bad_rtmr_input(log: EventLog) -> None:
    with pytest.raises(InputError):
        compare(log, [b"\x00" * 47])
    with pytest.raises(InputError):
        compare(log, [])


def test_search_budget_zero_falls_back_to_candidates(log: EventLog, quote: Quote) -> None:
    e = log.event(9)
    mutated = log.with_event(_with_digest(e, _flip(e.digest() or b"", 3)))
    d = compare(mutated, quote.rtmrs, search_budget=0).first_difference
    assert d is not None and d.event is None and 9 in d.candidates


def test_a_predicted_log_serves_as_reference(log: EventLog, quote: Quote) -> None:
    """The prediction side writes its event-log plan in the CCEL format (EventLogPlan.to_log_bytes);
    that file parses here and names the event that differs from the prediction."""
    from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan, PlannedEvent

    plan = EventLogPlan.of(
        PlannedEvent.of_digest(e.mr_index, e.event_type, e.event_data, e.digest() or b"", f"event {e.index}")
        for e in log
    )
    predicted = EventLog.parse(plan.to_log_bytes())
    assert [(e.mr_index, e.event_type, e.digests, e.event_data) for e in predicted] == [
        (e.mr_index, e.event_type, e.digests, e.event_data) for e in log
    ]
    assert replay(predicted).rtmrs == quote.rtmrs
    assert compare(log, quote.rtmrs, reference=predicted).ok
    e = log.event(2)  # the CFV: another varstore
    other = log.with_event(_with_digest(e, hashlib.sha384(b"other varstore").digest()))
    d = compare(other, quote.rtmrs, reference=predicted).first_difference
    assert d is not None and d.event is not None and d.event.index == 2
