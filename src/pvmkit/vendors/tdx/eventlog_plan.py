"""The event-log plan: the CC events a TD will log and the RTMRs they produce (spec tdx.md §2, §5b).

An :class:`EventLogPlan` is an ordered tuple of :class:`PlannedEvent` — ``(mr_index, event_type,
event_data, digest, source)``. It is the RTMR counterpart of the launch plan: the prediction is the
replay of the plan, ``RTMR[i] = SHA-384(RTMR[i] ‖ digest)`` from 48 zero bytes, over the events whose
CC MR index is ``i + 1`` (MR index 1..4 = RTMR0..3, 0 = MRTD).

Where each digest comes from (:class:`DigestSource`):

==================  =====================================================================
source              digest
==================  =====================================================================
``EVENT_DATA``      SHA-384 of the event data (separators, EFI actions, DRIVER_CONFIG and
                    AUTHORITY variables: the whole UEFI_VARIABLE_DATA)
``VARIABLE_DATA``   SHA-384 of the variable's data only (EV_EFI_VARIABLE_BOOT)
``EXTERNAL``        SHA-384 of a buffer the event only describes (TD HOB, CFV, fw_cfg items,
                    ACPI blobs, kernel Authenticode, LoadOptions, initrd)
``GIVEN``           a digest supplied by the caller (captured from a real log or VMM)
``MISSING``         unknown: an input the prediction needs was not given; the register it
                    extends is then unknown (None), never guessed
==================  =====================================================================

Event data that no digest covers (blob descriptions, image-load addresses) does not change an RTMR;
the plan fills it as the firmware would where the inputs are known and says so in ``note`` where it
is only approximate. :meth:`EventLogPlan.to_log_bytes` writes the plan as a TCG crypto-agile CC event
log (the CCEL data format), so a real log can be diffed against the prediction event by event.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.plan import ByteData

__all__ = [
    "EV_EFI_ACTION",
    "EV_EFI_BOOT_SERVICES_APPLICATION",
    "EV_EFI_GPT_EVENT",
    "EV_EFI_HANDOFF_TABLES",
    "EV_EFI_HANDOFF_TABLES2",
    "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    "EV_EFI_VARIABLE_AUTHORITY",
    "EV_EFI_VARIABLE_BOOT",
    "EV_EFI_VARIABLE_DRIVER_CONFIG",
    "EV_EVENT_TAG",
    "EV_IPL",
    "EV_PLATFORM_CONFIG_FLAGS",
    "EV_SEPARATOR",
    "RTMR_COUNT",
    "SEPARATOR_DATA",
    "DigestSource",
    "EventLogPlan",
    "PlannedEvent",
    "extend",
]

EV_SEPARATOR = 0x4
EV_IPL = 0xD
EV_EVENT_TAG = 0x6
EV_PLATFORM_CONFIG_FLAGS = 0xA
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_GPT_EVENT = 0x80000006
EV_EFI_VARIABLE_BOOT = 0x80000002
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_ACTION = 0x80000007
EV_EFI_HANDOFF_TABLES = 0x80000009
EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
EV_EFI_HANDOFF_TABLES2 = 0x8000000B
EV_EFI_VARIABLE_AUTHORITY = 0x800000E0

RTMR_COUNT = 4
SEPARATOR_DATA = bytes(4)
_ZERO = bytes(48)
_SHA384 = 0x000C


def extend(rtmr: bytes, digest: bytes) -> bytes:
    """``SHA-384(rtmr ‖ digest)``: one TDG.MR.RTMR.EXTEND."""
    return hashlib.sha384(rtmr + digest).digest()


class DigestSource(str, enum.Enum):
    EVENT_DATA = "event-data"
    VARIABLE_DATA = "variable-data"
    EXTERNAL = "external"
    GIVEN = "given"
    MISSING = "missing"


@dataclass(frozen=True)
class PlannedEvent:
    """One predicted CC event. ``digest`` is None only for ``MISSING``."""

    mr_index: int
    event_type: int
    event_data: bytes
    digest: bytes | None
    source: DigestSource
    what: str  #: human description ("TD HOB", "kernel (Authenticode)", …)
    note: str = ""  #: provenance or caveat (e.g. "event data approximate: load address unknown")

    def __post_init__(self) -> None:
        if not 1 <= self.mr_index <= RTMR_COUNT:
            raise InputError(f"{self.what}: CC MR index {self.mr_index} is not an RTMR (1..4)")
        if (self.digest is None) != (self.source is DigestSource.MISSING):
            raise InputError(f"{self.what}: a digest is required unless the source is missing")
        if self.digest is not None and len(self.digest) != 48:
            raise InputError(f"{self.what}: SHA-384 digests are 48 bytes, got {len(self.digest)}")

    @property
    def rtmr(self) -> int:
        return self.mr_index - 1

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def of_event_data(
        cls, mr_index: int, event_type: int, data: bytes, what: str, note: str = ""
    ) -> PlannedEvent:
        return cls(
            mr_index, event_type, data, hashlib.sha384(data).digest(), DigestSource.EVENT_DATA, what, note
        )

    @classmethod
    def of_external(
        cls, mr_index: int, event_type: int, data: bytes, blob: ByteData, what: str, note: str = ""
    ) -> PlannedEvent:
        return cls(
            mr_index, event_type, data, hashlib.sha384(blob).digest(), DigestSource.EXTERNAL, what, note
        )

    @classmethod
    def of_digest(
        cls,
        mr_index: int,
        event_type: int,
        data: bytes,
        digest: bytes,
        what: str,
        note: str = "",
        source: DigestSource = DigestSource.GIVEN,
    ) -> PlannedEvent:
        return cls(mr_index, event_type, data, digest, source, what, note)

    @classmethod
    def missing(cls, mr_index: int, event_type: int, data: bytes, what: str, note: str) -> PlannedEvent:
        return cls(mr_index, event_type, data, None, DigestSource.MISSING, what, note)

    def as_dict(self) -> dict[str, object]:
        return {
            "rtmr": self.rtmr,
            "mr_index": self.mr_index,
            "event_type": self.event_type,
            "what": self.what,
            "source": self.source.value,
            "digest": None if self.digest is None else self.digest.hex(),
            "event_data": self.event_data.hex(),
            "note": self.note,
        }


@dataclass(frozen=True)
class EventLogPlan:
    events: tuple[PlannedEvent, ...]
    warnings: tuple[str, ...] = ()  #: conditions under which the predicted boot would not happen as planned

    @classmethod
    def of(cls, events: Iterable[PlannedEvent], warnings: Iterable[str] = ()) -> EventLogPlan:
        return cls(tuple(events), tuple(warnings))

    def for_rtmr(self, index: int) -> tuple[PlannedEvent, ...]:
        return tuple(e for e in self.events if e.rtmr == index)

    def missing(self) -> tuple[PlannedEvent, ...]:
        return tuple(e for e in self.events if e.digest is None)

    def rtmr(self, index: int) -> bytes | None:
        """The predicted RTMR ``index`` (0..3), or None if one of its events is missing."""
        value = _ZERO
        for event in self.for_rtmr(index):
            if event.digest is None:
                return None
            value = extend(value, event.digest)
        return value

    def rtmrs(self) -> tuple[bytes | None, ...]:
        return tuple(self.rtmr(i) for i in range(RTMR_COUNT))

    def to_log_bytes(self) -> bytes:
        """The plan as a CC event log (Spec ID header + crypto-agile SHA-384 events).

        Missing digests cannot be written: :class:`~pvmkit.errors.InputError`.
        """
        spec_id = (
            b"Spec ID Event03\0"
            + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1)
            + struct.pack("<HH", _SHA384, 48)
            + b"\0"
        )
        out = [struct.pack("<II", 1, 0x3) + bytes(20) + struct.pack("<I", len(spec_id)) + spec_id]
        for e in self.events:
            if e.digest is None:
                raise InputError(f"cannot write a log with a missing digest ({e.what}: {e.note})")
            out.append(
                struct.pack("<IIIH", e.mr_index, e.event_type, 1, _SHA384)
                + e.digest
                + struct.pack("<I", len(e.event_data))
                + e.event_data
            )
        return b"".join(out)
