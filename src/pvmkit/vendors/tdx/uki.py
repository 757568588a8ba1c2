"""The PE sections of a unified kernel image (UKI) that systemd-stub measures into a TD's RTMR2.

systemd's docs/TPM2_PCR_MEASUREMENTS.md ("PCR 11, EV_IPL, PE section name / data") and
``src/fundamental/tpm-pcr.h`` (``UnifiedSection``, the canonical order): for each UKI section present,
in the canonical order, two ``EV_IPL`` events into PCR 11 — RTMR2 in a TD (edk2 ``MapPcrToMrIndex``):

1. the section name: digest SHA-384 of the ASCII name *with* its trailing NUL;
2. the section data: digest SHA-384 of the section contents as loaded (``VirtualSize`` bytes: the
   raw data, zero-filled past ``SizeOfRawData``).

The event data of both is the section name in UTF-16 (not measured; pvmkit writes it with a NUL).
``.pcrsig`` is never measured (it signs the result). The order modelled is systemd 252's
(``.linux .osrel .cmdline .initrd .splash .dtb .pcrsig .pcrpkey``), which ``systemd-measure
calculate`` of that version reproduces (tests/vectors/README.md). Later systemd versions define more
sections (``.ucode``, ``.uname``, ``.sbat``, ``.profile``, …) and place some between these: a UKI
carrying one is refused rather than measured in a guessed order.

Not modelled here (docs/roadmap.md): systemd-boot's own events, the command line systemd-stub
measures into PCR 12 when one is passed, the Linux EFI stub's LoadOptions/initrd events, and the
firmware's Authenticode events of systemd-boot and the UKI.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, InputError
from pvmkit.vendors.tdx.eventlog_plan import EV_IPL, DigestSource, PlannedEvent

__all__ = ["MEASURED_ORDER", "UkiSection", "uki_section_events", "uki_sections"]

#: systemd 252 ``UnifiedSection`` order, without ``.pcrsig`` (never measured)
MEASURED_ORDER = (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey")
_UNMEASURED = frozenset({".pcrsig"})
#: UKI sections of later systemd versions, whose place in the order pvmkit does not model
_LATER = frozenset({".ucode", ".uname", ".sbat", ".profile", ".dtbauto", ".hwids", ".efifw"})


@dataclass(frozen=True)
class UkiSection:
    name: str
    data: bytes  #: as loaded: VirtualSize bytes


def uki_sections(image: bytes) -> dict[str, UkiSection]:
    """The UKI sections of a PE image, by name. FormatError for a file that is not PE; InputError
    for a UKI without ``.linux`` or with a section pvmkit cannot place in the measured order."""
    if len(image) < 0x40 or image[:2] != b"MZ":
        raise FormatError("not a PE image (no MZ header)", what="UKI", offset=0)
    (pe,) = struct.unpack_from("<I", image, 0x3C)
    if pe + 24 > len(image) or image[pe : pe + 4] != b"PE\0\0":
        raise FormatError("not a PE image (no PE signature)", what="UKI", offset=0x3C)
    count, opt_size = struct.unpack_from("<H", image, pe + 6)[0], struct.unpack_from("<H", image, pe + 20)[0]
    table = pe + 24 + opt_size
    if table + 40 * count > len(image):
        raise FormatError("the PE section table runs past the end of the file", what="UKI", offset=table)
    sections: dict[str, UkiSection] = {}
    for i in range(count):
        entry = image[table + 40 * i : table + 40 * (i + 1)]
        name = entry[:8].rstrip(b"\0").decode("ascii", errors="replace")
        virtual_size, _va, raw_size, raw_ptr = struct.unpack_from("<IIII", entry, 8)
        if name in _LATER:
            raise InputError(
                f"UKI section {name} is measured by newer systemd-stub versions in an order pvmkit does not "
                "model (only systemd 252's sections are)"
            )
        if name not in MEASURED_ORDER and name not in _UNMEASURED:
            continue
        if name in sections:
            raise InputError(f"the UKI has two {name} sections")
        raw = image[raw_ptr : raw_ptr + min(raw_size, virtual_size)]
        if len(raw) != min(raw_size, virtual_size):
            raise FormatError(f"UKI section {name} runs past the end of the file", what="UKI", offset=raw_ptr)
        sections[name] = UkiSection(name, raw + bytes(virtual_size - len(raw)))
    if ".linux" not in sections:
        raise InputError("not a UKI: the PE image has no .linux section")
    return sections


def uki_section_events(sections: dict[str, UkiSection]) -> list[PlannedEvent]:
    """systemd-stub's PCR 11 events for these sections (CC MR 3 = RTMR2), in the measured order."""
    events: list[PlannedEvent] = []
    for name in MEASURED_ORDER:
        section = sections.get(name)
        if section is None:
            continue
        description = name.encode("utf-16-le") + b"\0\0"
        note = "event data: the section name in UTF-16 (not measured)"
        events.append(
            PlannedEvent.of_digest(
                3,
                EV_IPL,
                description,
                hashlib.sha384(name.encode() + b"\0").digest(),
                f"UKI section name {name}",
                note,
                DigestSource.EXTERNAL,
            )
        )
        events.append(
            PlannedEvent.of_external(3, EV_IPL, description, section.data, f"UKI section {name}", note)
        )
    return events
