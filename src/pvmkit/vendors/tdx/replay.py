"""Replay a CC event log into RTMR0..3 and compare it with a quote (spec tdx.md §2.1, §7.2).

``RTMR = SHA-384(RTMR ‖ digest)``, starting from 48 zero bytes; CC MR index 1..4 is RTMR0..3 (MR
index 0 is MRTD, which no event extends). EV_NO_ACTION events are logged but never extended.

**Digest rules.** Where the log holds everything a digest covers, the replay recomputes the digest
from the event data and checks it against the logged one (:func:`digest_rule`):

==============================================  =====================================================
event type                                       digest = SHA-384 of …
==============================================  =====================================================
EV_EFI_VARIABLE_DRIVER_CONFIG, _AUTHORITY,       the whole UEFI_VARIABLE_DATA (the event data)
EV_EFI_VARIABLE_BOOT2
EV_EFI_VARIABLE_BOOT                             the VariableData part of the UEFI_VARIABLE_DATA
EV_SEPARATOR, EV_EFI_ACTION, EV_ACTION,          the event data
EV_EFI_GPT_EVENT, EV_S_CRTM_VERSION
EV_IPL ``grub_cmd: X`` / ``kernel_cmdline: X``   X (GRUB hashes the text after the prefix, no NUL)
anything else (TD HOB, CFV, fw_cfg, ACPI,        external data that is not in the log: the digest
SMBIOS, PE images, EV_EVENT_TAG, other EV_IPL)   is taken as logged
==============================================  =====================================================

The EV_IPL rule and the GPT rule were confirmed on the real GCE log (every digest matches); the
EV_EVENT_TAG rule (the Linux EFI stub hashes the LoadOptions / initrd buffer, the event data only
names it) is from spec §2.4.

**What "measured" means.** The bytes of an event that are *measured* are its digest and, for
recomputable rules, the part of the event data the digest covers (:func:`measured_span`). A changed
measured byte is always attributed to its event:

* a changed byte in covered event data, or in the digest of a recomputable event, makes the
  recomputed digest differ from the logged one: that event is named, whatever the quote says;
* a changed byte in the digest of an *external* event changes its register. With a reference log
  (a known-good log of the same boot, or a prediction) the first event whose MR index, type or digest
  differs is named. With only the quote, the register is known but not the event; pvmkit then tries
  every single-byte change of every external digest of that register (bounded by ``search_budget``
  hashes) and names the event whose one-byte repair reproduces the quote; otherwise it names the
  register and lists the candidate events.

Event data that no digest covers (the description of a blob, the name and GUID of a BOOT variable,
the text of an EV_IPL file event) is **not measured**: changing it changes no RTMR and is not a
mismatch. With a reference log such differences are reported as notes
(:attr:`Comparison.unmeasured_differences`), never as failures.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from pvmkit.errors import FormatError, InputError, VerificationError
from pvmkit.formats.ccel import TCG_ALG_SHA384, CcEvent, EventLog, EventType, UefiVariableData
from pvmkit.vendors.tdx.components import components
from pvmkit.vendors.tdx.eventlog_plan import extend  # one RTMR extend, shared with prediction

__all__ = [
    "RTMR_COUNT",
    "RTMR_SIZE",
    "Comparison",
    "Difference",
    "DigestRule",
    "EventResult",
    "EventStatus",
    "Replay",
    "compare",
    "describe_event",
    "digest_rule",
    "extend",
    "measured_span",
    "recompute_digest",
    "replay",
    "verify",
]

RTMR_COUNT = 4
RTMR_SIZE = 48
_ZERO = bytes(RTMR_SIZE)
_IPL_PREFIXES = (b"grub_cmd: ", b"kernel_cmdline: ")
#: SHA-384 computations the single-byte search of one register may spend. The search costs
#: 255 × 48 × (1 + later events) hashes per external event, quadratic in the register's events, and
#: runs whenever a register differs, so this bounds every mismatching comparison (issue 15 item 8).
#: A full sweep of the real GCE log's busiest register costs 930,240; the default covers it.
DEFAULT_SEARCH_BUDGET = 1_200_000


class DigestRule(str, enum.Enum):
    """What an event's digest is the SHA-384 of."""

    EVENT_DATA = "event-data"
    VARIABLE_DATA = "variable-data"
    IPL_TEXT = "ipl-text"
    EXTERNAL = "external"
    NOT_EXTENDED = "not-extended"


_WHOLE_DATA = frozenset(
    {
        EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
        EventType.EV_EFI_VARIABLE_AUTHORITY,
        EventType.EV_EFI_VARIABLE_BOOT2,
        EventType.EV_SEPARATOR,
        EventType.EV_EFI_ACTION,
        EventType.EV_ACTION,
        EventType.EV_EFI_GPT_EVENT,
        EventType.EV_S_CRTM_VERSION,
    }
)


def _ipl_prefix(event: CcEvent) -> bytes | None:
    for prefix in _IPL_PREFIXES:
        if event.event_data.startswith(prefix):
            return prefix
    return None


def digest_rule(event: CcEvent) -> DigestRule:
    """The digest rule for ``event`` (see the module docstring)."""
    t = event.event_type
    if t == EventType.EV_NO_ACTION:
        return DigestRule.NOT_EXTENDED
    if t in _WHOLE_DATA:
        return DigestRule.EVENT_DATA
    if t == EventType.EV_EFI_VARIABLE_BOOT:
        return DigestRule.VARIABLE_DATA
    if t == EventType.EV_IPL and _ipl_prefix(event) is not None:
        return DigestRule.IPL_TEXT
    return DigestRule.EXTERNAL


def measured_span(event: CcEvent) -> tuple[int, int] | None:
    """The byte range ``[start, end)`` of ``event.event_data`` that its digest covers, or None when
    the digest covers external data (or nothing). Raises FormatError for an EV_EFI_VARIABLE_BOOT whose
    event data is not a UEFI_VARIABLE_DATA."""
    rule = digest_rule(event)
    if rule == DigestRule.EVENT_DATA:
        return (0, len(event.event_data))
    if rule == DigestRule.VARIABLE_DATA:
        var = UefiVariableData.parse(event.event_data, event.event_data_offset)
        return (var.data_offset, var.data_offset + len(var.data))
    if rule == DigestRule.IPL_TEXT:
        prefix = _ipl_prefix(event) or b""
        return (len(prefix), len(event.event_data.rstrip(b"\x00")))
    return None


def recompute_digest(event: CcEvent) -> bytes | None:
    """The SHA-384 digest ``event`` should carry, computed from its event data; None when the rule is
    external or the event is not extended. FormatError when the event data lacks the structure the
    rule needs."""
    span = measured_span(event)
    if span is None:
        return None
    return hashlib.sha384(event.event_data[span[0] : span[1]]).digest()


class EventStatus(str, enum.Enum):
    VERIFIED = "verified"  # the digest was recomputed from the event data and matches
    MISMATCH = "mismatch"  # the recomputed digest differs from the logged one
    MALFORMED = "malformed"  # the rule needs a structure the event data does not hold
    EXTERNAL = "external"  # the digest covers data that is not in the log: taken as logged
    NOT_EXTENDED = "not-extended"  # EV_NO_ACTION
    NOT_REPLAYED = "not-replayed"  # MR index 0 (MRTD) or > 4, or no SHA-384 digest


@dataclass(frozen=True)
class EventResult:
    event: CcEvent
    rule: DigestRule
    status: EventStatus
    logged: bytes | None
    recomputed: bytes | None
    rtmr_after: bytes | None
    detail: str = ""

    @property
    def index(self) -> int:
        return self.event.index

    @property
    def rtmr(self) -> int | None:
        return self.event.rtmr

    @property
    def extended(self) -> bool:
        return self.rtmr_after is not None

    def describe(self) -> str:
        """``event 12 (MR 1 = RTMR0, EV_EFI_VARIABLE_BOOT)``."""
        return describe_event(self.event)


def describe_event(event: CcEvent) -> str:
    reg = f"RTMR{event.rtmr}" if event.rtmr is not None else ("MRTD" if event.mr_index == 0 else "no RTMR")
    return f"event {event.index} (MR {event.mr_index} = {reg}, {event.type_name})"


@dataclass(frozen=True)
class Replay:
    """The RTMRs a log replays to, and what was checked for every event."""

    rtmrs: tuple[bytes, bytes, bytes, bytes]
    events: tuple[EventResult, ...]

    def first_inconsistent(self) -> EventResult | None:
        """The first event whose recomputed digest differs from the logged one (or is malformed)."""
        for r in self.events:
            if r.status in (EventStatus.MISMATCH, EventStatus.MALFORMED):
                return r
        return None

    def events_of(self, rtmr: int) -> tuple[EventResult, ...]:
        return tuple(r for r in self.events if r.extended and r.rtmr == rtmr)


def replay(log: EventLog) -> Replay:
    """Recompute RTMR0..3 from ``log`` and check every recomputable digest."""
    regs = [_ZERO] * RTMR_COUNT
    results: list[EventResult] = []
    for event in log.events:
        rule = digest_rule(event)
        logged = event.digest(TCG_ALG_SHA384)
        if rule == DigestRule.NOT_EXTENDED:
            results.append(EventResult(event, rule, EventStatus.NOT_EXTENDED, logged, None, None))
            continue
        if event.rtmr is None or logged is None:
            why = "no SHA-384 digest" if logged is None else f"MR index {event.mr_index} is not an RTMR"
            results.append(EventResult(event, rule, EventStatus.NOT_REPLAYED, logged, None, None, why))
            continue
        recomputed: bytes | None = None
        detail = ""
        try:
            recomputed = recompute_digest(event)
        except FormatError as exc:
            status = EventStatus.MALFORMED
            detail = str(exc)
        else:
            if recomputed is None:
                status = EventStatus.EXTERNAL
            elif recomputed == logged:
                status = EventStatus.VERIFIED
            else:
                status = EventStatus.MISMATCH
        regs[event.rtmr] = extend(regs[event.rtmr], logged)
        results.append(EventResult(event, rule, status, logged, recomputed, regs[event.rtmr], detail))
    return Replay((regs[0], regs[1], regs[2], regs[3]), tuple(results))


# --------------------------------------------------------------------------------------------------
# comparison


@dataclass(frozen=True)
class Difference:
    """The first difference found. ``event`` is None when only a register can be named."""

    kind: str  # "digest" | "reference" | "rtmr"
    message: str
    event: CcEvent | None
    rtmr: int | None
    expected: bytes | None = None
    actual: bytes | None = None
    candidates: tuple[int, ...] = ()
    #: the boot component the event measures ("ACPI tables (etc/acpi/tables)", "grub.cfg command
    #: 'linux …'", "EFI application \\EFI\\BOOT\\BOOTX64.EFI (Authenticode)"; pvmkit.vendors.tdx.components)
    component: str = ""

    @property
    def field(self) -> str:
        if self.event is not None:
            return f"event {self.event.index}"
        return f"RTMR{self.rtmr}"


@dataclass(frozen=True)
class Comparison:
    replay: Replay
    expected_rtmrs: tuple[bytes, ...]
    first_difference: Difference | None
    unmeasured_differences: tuple[str, ...] = ()

    @property
    def rtmr_matches(self) -> tuple[bool, ...]:
        return tuple(a == b for a, b in zip(self.replay.rtmrs, self.expected_rtmrs, strict=True))

    @property
    def ok(self) -> bool:
        return self.first_difference is None


def _digest_difference(r: EventResult) -> Difference:
    what = {
        DigestRule.EVENT_DATA: "its event data",
        DigestRule.VARIABLE_DATA: "its UEFI variable data",
        DigestRule.IPL_TEXT: "its EV_IPL command text",
    }.get(r.rule, "its event data")
    if r.status == EventStatus.MALFORMED:
        msg = f"{r.describe()}: cannot recompute the digest: {r.detail}"
        return Difference("digest", msg, r.event, r.rtmr, None, r.logged)
    assert r.recomputed is not None and r.logged is not None
    msg = (
        f"{r.describe()}: logged digest {r.logged.hex()[:16]}… differs from the SHA-384 of "
        f"{what} {r.recomputed.hex()[:16]}…"
    )
    return Difference("digest", msg, r.event, r.rtmr, r.recomputed, r.logged)


def _reference_differences(log: EventLog, reference: EventLog) -> tuple[Difference | None, list[str]]:
    notes: list[str] = []
    for mine, ref in zip(log.events, reference.events, strict=False):
        where = describe_event(mine)
        if mine.mr_index != ref.mr_index:
            msg = f"{where}: MR index {mine.mr_index}, the reference has {ref.mr_index}"
            return Difference("reference", msg, mine, mine.rtmr), notes
        if mine.event_type != ref.event_type:
            msg = f"{where}: type {mine.type_name}, the reference has {ref.type_name}"
            return Difference("reference", msg, mine, mine.rtmr), notes
        a, b = mine.digest(TCG_ALG_SHA384), ref.digest(TCG_ALG_SHA384)
        if a != b:
            msg = (
                f"{where}: digest {(a or b'').hex()[:16]}… differs from the reference "
                f"{(b or b'').hex()[:16]}…"
            )
            return Difference("reference", msg, mine, mine.rtmr, b, a), notes
        if mine.event_data != ref.event_data:
            notes.append(f"{where}: event data differs from the reference outside the measured bytes")
    if len(log.events) != len(reference.events):
        n = min(len(log.events), len(reference.events))
        if len(log.events) > n:
            extra = log.events[n]
            msg = f"{describe_event(extra)}: not in the reference ({len(reference.events)} events)"
            return Difference("reference", msg, extra, extra.rtmr), notes
        missing = reference.events[n]
        msg = f"the log ends after {n} events; the reference continues with {describe_event(missing)}"
        return Difference("reference", msg, missing, missing.rtmr), notes
    return None, notes


def _single_byte_search(
    results: Sequence[EventResult], target: bytes, budget: int
) -> tuple[EventResult, int, int, int] | None:
    """Find (event, byte position, logged value, value) such that changing one byte of one external
    digest of this register reproduces ``target``. None if nothing fits within ``budget`` hashes."""
    digests = [r.logged or b"" for r in results]
    states = [_ZERO]
    for d in digests:
        states.append(extend(states[-1], d))
    spent = 0
    sha384 = hashlib.sha384
    for j, r in enumerate(results):
        if r.status != EventStatus.EXTERNAL:
            continue
        suffix = digests[j + 1 :]
        cost = 255 * len(digests[j]) * (1 + len(suffix))
        if spent + cost > budget:
            return None
        spent += cost
        before = states[j]
        buf = bytearray(digests[j])
        for pos in range(len(buf)):
            old = buf[pos]
            for value in range(256):
                if value == old:
                    continue
                buf[pos] = value
                state = sha384(before + buf).digest()
                for d in suffix:
                    state = sha384(state + d).digest()
                if state == target:
                    return r, pos, old, value
            buf[pos] = old
    return None


def _named(diff: Difference, log: EventLog, reference: EventLog | None) -> Difference:
    """``diff`` with the component its event measures, named from the log (or from the reference
    when the event is one the log lacks)."""
    if diff.event is None:
        return diff
    for source in (log, reference):
        if source is not None and diff.event in source.events:
            name = components(source.events)[source.events.index(diff.event)]
            return dataclasses.replace(diff, message=f"{diff.message} (component: {name})", component=name)
    return diff


def compare(
    log: EventLog,
    rtmrs: Sequence[bytes],
    *,
    reference: EventLog | None = None,
    search_budget: int = DEFAULT_SEARCH_BUDGET,
) -> Comparison:
    """Replay ``log`` and compare it with the RTMRs of a quote or TDREPORT (``rtmrs``: RTMR0..3, or
    fewer to compare only the first registers), and with a ``reference`` log when given.

    ``first_difference`` is the earliest event (in log order) whose recomputed digest differs or that
    differs from the reference in a measured field; failing that, a register that differs from
    ``rtmrs`` (named down to the event when a single-byte change of one external digest explains it).
    """
    if not 1 <= len(rtmrs) <= RTMR_COUNT or any(len(r) != RTMR_SIZE for r in rtmrs):
        raise InputError(f"expected 1..{RTMR_COUNT} RTMR values of {RTMR_SIZE} bytes")
    rep = replay(log)
    expected = tuple(bytes(r) for r in rtmrs)
    candidates: list[Difference] = []
    bad = rep.first_inconsistent()
    if bad is not None:
        candidates.append(_digest_difference(bad))
    notes: list[str] = []
    if reference is not None:
        ref_diff, notes = _reference_differences(log, reference)
        if ref_diff is not None:
            candidates.append(ref_diff)
    if candidates:
        first = min(candidates, key=lambda d: d.event.index if d.event is not None else 1 << 62)
        return Comparison(rep, expected, _named(first, log, reference), tuple(notes))
    for k, want in enumerate(expected):
        got = rep.rtmrs[k]
        if got == want:
            continue
        evs = rep.events_of(k)
        external = tuple(r.index for r in evs if r.status == EventStatus.EXTERNAL)
        found = _single_byte_search(evs, want, search_budget) if external else None
        if found is not None:
            r, pos, old, value = found
            msg = (
                f"{r.describe()}: RTMR{k} differs from the quote; changing byte {pos} of this event's "
                f"digest from {old:#04x} to {value:#04x} reproduces it (the digest covers external "
                "data, so only the quote can tell)"
            )
            diff = _named(Difference("rtmr", msg, r.event, k, want, got, (r.index,)), log, None)
        else:
            if external:
                where = (
                    "every digest that can be recomputed from the log matches, so the difference is "
                    f"in a digest of external data (events {', '.join(map(str, external))}), in events "
                    "missing from the log, or the quote is from another TD; pass a reference log "
                    "to name the event"
                )
            else:
                where = (
                    "every digest of this register was recomputed and matches: events are missing "
                    "from the log, or the quote is from another TD"
                )
            msg = f"RTMR{k} replays to {got.hex()[:16]}… but the quote has {want.hex()[:16]}…: {where}"
            diff = Difference("rtmr", msg, None, k, want, got, external)
        return Comparison(rep, expected, diff, tuple(notes))
    return Comparison(rep, expected, None, tuple(notes))


def verify(
    log: EventLog,
    rtmrs: Sequence[bytes],
    *,
    reference: EventLog | None = None,
    search_budget: int = DEFAULT_SEARCH_BUDGET,
) -> Comparison:
    """:func:`compare`, raising :class:`~pvmkit.errors.VerificationError` (``field`` = ``"event N"``
    or ``"RTMRk"``) at the first difference."""
    result = compare(log, rtmrs, reference=reference, search_budget=search_budget)
    d = result.first_difference
    if d is not None:
        raise VerificationError(
            d.message,
            field=d.field,
            expected=None if d.expected is None else d.expected.hex(),
            actual=None if d.actual is None else d.actual.hex(),
        )
    return result
