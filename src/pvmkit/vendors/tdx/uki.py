"""The PE sections of a unified kernel image (UKI) and systemd-stub's PCR 11 measurements of them.

A UKI is systemd-stub (``linuxx64.efi.stub``) with the payload added as PE sections; the stub's own
``.sdmagic`` section (``#### LoaderInfo: systemd-stub VERSION ####``, ``src/boot/efi/stub.c``) names
its version. Which sections the stub looks at, and in which order it measures them, is the
``unified_sections`` table of ``src/fundamental/tpm-pcr.c`` (``UnifiedSection`` in ``tpm-pcr.h``)
of that version; pvmkit models these versions (:data:`SECTION_ORDER`) and refuses any other:

* systemd 252: ``.linux .osrel .cmdline .initrd .splash .dtb .pcrsig .pcrpkey``;
* systemd 254: ``.linux .osrel .cmdline .initrd .splash .dtb .uname .sbat .pcrsig .pcrpkey``;
* systemd 257 (``src/fundamental/uki.c``): ``.linux .osrel .cmdline .initrd .ucode .splash .dtb .uname
  .sbat .pcrsig .pcrpkey .profile .dtbauto .hwids``. A UKI with ``.profile`` (multi-profile UKIs: which
  sections a profile measures is chosen at boot), ``.dtbauto`` or ``.hwids`` (device-tree selection) is
  refused.

A section the version does not list is not looked at (``pe_memory_locate_sections`` only searches
the names of the table). ``.pcrsig`` is never measured (``unified_section_measure``).

systemd-stub's PCR 11 events (``stub.c``, ``efi_main``; systemd docs/TPM2_PCR_MEASUREMENTS.md, "PCR 11"),
for each section present, in the table's order: two ``EV_IPL`` events,

1. the section name: digest of the ASCII name *with* its trailing NUL;
2. the section data: digest of the section contents as loaded (``VirtualSize`` bytes: the raw data,
   zero-filled past ``SizeOfRawData``),

both with the section name in UTF-16 as event data (``tpm_log_event_ascii``). ``systemd-measure
calculate`` of the same version reproduces them (tests/vectors/README.md, "TDX UKI sections").

**In a TD, 252 and 254 do not log these events**: their ``measure.c`` measures through the TCG2 (or
TCG 1.2) protocol only, which TDVF does not install, and logs nothing without it. 257 logs them through
the CC measurement protocol too (``tpm_log_ipl_event``; systemd pull request #30996, in 256), into
RTMR2. The whole UKI boot of a TD is in :mod:`pvmkit.vendors.tdx.uki_boot`.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, InputError
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.eventlog_plan import EV_IPL, DigestSource, PlannedEvent

__all__ = [
    "MODELLED_VERSIONS",
    "SECTION_ORDER",
    "STUB_PAYLOAD_GUID",
    "UKI_SECTION_NAMES",
    "PeSection",
    "UkiSection",
    "loader_info",
    "pe_sections",
    "section_digest_events",
    "systemd_major",
    "uki_section_events",
    "uki_sections",
]

#: ``unified_sections`` of ``src/fundamental/tpm-pcr.c`` per modelled systemd version, in measured
#: order, without ``.pcrsig`` (never measured)
SECTION_ORDER: dict[int, tuple[str, ...]] = {
    252: (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"),
    254: (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey"),
    257: (
        ".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey",
        ".profile", ".dtbauto", ".hwids",
    ),
}  # fmt: skip
#: sections of a version's table whose effect pvmkit does not model (a UKI with one is refused)
_REFUSED = frozenset({".profile", ".dtbauto", ".hwids"})
MODELLED_VERSIONS = tuple(SECTION_ORDER)
_UNMEASURED = ".pcrsig"
#: every UKI section name systemd defines (UAPI.5 "Unified Kernel Images"), for naming events
UKI_SECTION_NAMES = frozenset({*SECTION_ORDER[257], _UNMEASURED, ".efifw"})
#: the GUID of the vendor media device path node of the kernel systemd-stub loads from memory
#: (``src/boot/efi/linux.c``, 252 and 254)
STUB_PAYLOAD_GUID = "55c5d1f8-04cd-46b5-8a20-e56cbb3052d0"
_LOADER_INFO = re.compile(rb"#### LoaderInfo: (systemd-[a-z]+) ([^ #]+) ####")


@dataclass(frozen=True)
class PeSection:
    name: str
    virtual_size: int
    raw_pointer: int
    raw_size: int


@dataclass(frozen=True)
class UkiSection:
    name: str
    data: bytes  #: as loaded: VirtualSize bytes


def pe_sections(image: ByteData, what: str) -> list[PeSection]:
    """The section table of a PE image. FormatError, naming ``what``, for a file that is not PE."""
    if len(image) < 0x40 or bytes(image[:2]) != b"MZ":
        raise FormatError(f"{what} is not a PE image (no MZ header)", what=what, offset=0)
    (pe,) = struct.unpack_from("<I", image, 0x3C)
    if pe + 24 > len(image) or bytes(image[pe : pe + 4]) != b"PE\0\0":
        raise FormatError(f"{what} is not a PE image (no PE signature)", what=what, offset=0x3C)
    (count,) = struct.unpack_from("<H", image, pe + 6)
    (opt_size,) = struct.unpack_from("<H", image, pe + 20)
    table = pe + 24 + opt_size
    if table + 40 * count > len(image):
        message = f"the section table of {what} runs past the end of the file"
        raise FormatError(message, what=what, offset=table)
    out = []
    for i in range(count):
        entry = bytes(image[table + 40 * i : table + 40 * (i + 1)])
        virtual_size, _va, raw_size, raw_ptr = struct.unpack_from("<IIII", entry, 8)
        name = entry[:8].rstrip(b"\0").decode("ascii", errors="replace")
        out.append(PeSection(name, virtual_size, raw_ptr, raw_size))
    return out


def _section_data(image: ByteData, section: PeSection, what: str) -> bytes:
    size = min(section.raw_size, section.virtual_size)
    raw = bytes(image[section.raw_pointer : section.raw_pointer + size])
    if len(raw) != size:
        message = f"{what} section {section.name} runs past the end of the file"
        raise FormatError(message, what=what, offset=section.raw_pointer)
    return raw + bytes(section.virtual_size - size)


def loader_info(image: ByteData, what: str) -> tuple[str, str] | None:
    """``(program, version)`` from a systemd EFI binary's ``.sdmagic`` section (``("systemd-stub",
    "254.26-1~bpo12+1")``, ``("systemd-boot", ...)``), or None for a PE image without one."""
    for section in pe_sections(image, what):
        if section.name == ".sdmagic":
            m = _LOADER_INFO.search(_section_data(image, section, what))
            if m is not None:
                return m.group(1).decode(), m.group(2).decode("ascii", errors="replace")
    return None


def systemd_major(version: str, program: str) -> int:
    """The systemd release of a LoaderInfo version (``254.26-1~bpo12+1`` → 254); InputError for one
    pvmkit does not model."""
    m = re.match(r"(\d+)", version)
    major = int(m.group(1)) if m else -1
    if major not in SECTION_ORDER:
        *others, last = map(str, MODELLED_VERSIONS)
        modelled = f"{', '.join(others)} and {last}"
        raise InputError(
            f"{program} {version} is not modelled (pvmkit models systemd {modelled}; why not others: "
            'docs/tdx-measure.md, "systemd versions not modelled")'
        )
    return major


def linux_section(image: ByteData) -> bytes | None:
    """The bytes of a UKI's ``.linux`` section (the kernel systemd-stub starts), or None where the
    file is not a PE image with one; no other check (:func:`uki_sections` makes those)."""
    try:
        table = pe_sections(image, "UKI")
        linux = next((s for s in table if s.name == ".linux"), None)
        return None if linux is None else _section_data(image, linux, "UKI")
    except (FormatError, InputError):
        return None


def uki_sections(image: ByteData, version: int | None = None) -> dict[str, UkiSection]:
    """The sections systemd-stub ``version`` looks at, by name (``.pcrsig`` included, unmeasured).
    ``version`` None: the stub's own, from the UKI's ``.sdmagic``. FormatError for a file that is not
    PE; InputError for a UKI without ``.linux``, of an unmodelled version, or with a section twice."""
    table = pe_sections(image, "UKI")
    if version is None:
        info = loader_info(image, "UKI")
        if info is None or info[0] != "systemd-stub":
            raise InputError("not a UKI: the PE image has no systemd-stub .sdmagic (LoaderInfo) section")
        version = systemd_major(info[1], info[0])
    elif version not in SECTION_ORDER:
        systemd_major(str(version), "systemd-stub")
    wanted = {*SECTION_ORDER[version], _UNMEASURED}
    sections: dict[str, UkiSection] = {}
    for section in table:
        if section.name not in wanted:
            continue
        if section.name in _REFUSED:
            raise InputError(
                f"the UKI has a {section.name} section: multi-profile UKIs and device-tree selection "
                f"(systemd-stub {version}) are not modelled"
            )
        if section.name in sections:
            raise InputError(f"the UKI has two {section.name} sections")
        sections[section.name] = UkiSection(section.name, _section_data(image, section, "UKI"))
    if ".linux" not in sections:
        raise InputError("not a UKI: the PE image has no .linux section")
    return sections


def uki_section_events(sections: dict[str, UkiSection], version: int) -> list[PlannedEvent]:
    """systemd-stub ``version``'s PCR 11 events for these sections (CC MR 3 = RTMR2 where a stub logs
    them through the CC protocol), in the measured order."""
    digests = {name: hashlib.sha384(s.data).digest() for name, s in sections.items()}
    return section_digest_events(digests, version, DigestSource.EXTERNAL)


def section_digest_events(
    digests: dict[str, bytes], version: int, source: DigestSource = DigestSource.GIVEN
) -> list[PlannedEvent]:
    """The same events from the SHA-384 of each section's data (a digests-only pipeline's)."""
    events: list[PlannedEvent] = []
    note = "event data: the section name in UTF-16 (not measured)"
    for name in SECTION_ORDER[version]:
        digest = digests.get(name)
        if digest is None:
            continue
        description = name.encode("utf-16-le") + b"\0\0"
        name_digest = hashlib.sha384(name.encode() + b"\0").digest()
        what = f"UKI section name {name}"
        events.append(
            PlannedEvent.of_digest(3, EV_IPL, description, name_digest, what, note, DigestSource.EXTERNAL)
        )
        events.append(
            PlannedEvent.of_digest(3, EV_IPL, description, digest, f"UKI section {name}", note, source)
        )
    return events
