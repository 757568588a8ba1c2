"""A UKI boot predicted from digests only, for pipelines that publish hashes instead of files: the
events of :mod:`pvmkit.vendors.tdx.uki_boot` (its rules and their sources), each digest given.

Given: the systemd-stub version (252, 254 or 257), the UKI's Authenticode SHA-384, systemd-boot's
(when it starts the UKI), the Authenticode of the UKI's ``.linux`` (measured only without Secure Boot),
for 257 the SHA-384 of each UKI section's data (the name events are computed), and the SHA-384 of the
LoadOptions and of the initrd the kernel measures. A digest the boot needs but not given makes its
event missing and its register unknown; nothing is assumed absent. A command line passed to the UKI
(systemd-boot 257's and systemd-stub 257's own events) is not part of this form.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.eventlog_plan import (
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EVENT_TAG,
    EV_IPL,
    DigestSource,
    PlannedEvent,
)
from pvmkit.vendors.tdx.shim_grub import PeImage
from pvmkit.vendors.tdx.uki import SECTION_ORDER, section_digest_events, systemd_major
from pvmkit.vendors.tdx.uki_boot import (
    INITRD_EVENT_DATA,
    LOAD_OPTIONS_EVENT_DATA,
    exit_boot_services_events,
    gpt_event,
    kernel_event,
)

__all__ = ["UkiDigests", "uki_digest_events"]


@dataclass(frozen=True)
class UkiDigests:
    version: int  #: systemd-stub's systemd release
    uki_authenticode: bytes
    boot_loader_authenticode: bytes | None = None  #: systemd-boot; None: the firmware starts the UKI
    gpt_event_data: bytes | None = None
    secure_boot: bool = False
    linux_authenticode: bytes | None = None  #: the ``.linux`` PE's (needed without Secure Boot)
    sections: tuple[tuple[str, bytes], ...] | None = None  #: 257: (name, SHA-384 of its data)
    load_options_sha384: bytes | None = None
    initrd_sha384: bytes | None = None
    linux: tuple[int, int] = (6, 9)


def _given(mr: int, kind: int, data: bytes, digest: bytes | None, what: str, hint: str) -> PlannedEvent:
    if digest is None:
        return PlannedEvent.missing(mr, kind, data, what, hint)
    return PlannedEvent.of_digest(mr, kind, data, digest, what, "digest given")


def _section_events(version: int, sections: tuple[tuple[str, bytes], ...] | None) -> list[PlannedEvent]:
    """257's PCR 11 events (pvmkit.vendors.tdx.uki.uki_section_events) from the sections' digests."""
    if sections is None:
        hint = "give the SHA-384 of each UKI section (--uki-section-sha384 NAME=HEX)"
        return [PlannedEvent.missing(3, EV_IPL, b"", "UKI sections", hint)]
    order = SECTION_ORDER[version]
    given = dict(sections)
    unknown = [n for n in given if n not in order]
    if unknown:
        raise InputError(f"{unknown[0]} is not a section systemd-stub {version} measures")
    if ".linux" not in given:
        raise InputError("the UKI's sections must include .linux")
    return section_digest_events(given, version)


def uki_digest_events(d: UkiDigests) -> list[PlannedEvent]:
    """The events from the GPT event to ExitBootServices, in log order."""
    version = systemd_major(str(d.version), "systemd-stub")
    events = [gpt_event(d.gpt_event_data)]
    if d.boot_loader_authenticode is not None:
        events.append(
            PeImage(
                "systemd-boot", "\\EFI\\BOOT\\BOOTX64.EFI", authenticode=d.boot_loader_authenticode
            ).event()
        )
    uki_path = (
        "\\EFI\\Linux\\linux.efi" if d.boot_loader_authenticode is not None else "\\EFI\\BOOT\\BOOTX64.EFI"
    )
    events.append(PeImage("UKI", uki_path, authenticode=d.uki_authenticode).event())
    if version >= 257:
        events += _section_events(version, d.sections)
    # the .linux after the stub's own events (uki_boot); under Secure Boot the stub keeps it from the
    # firmware's measuring handler
    if not d.secure_boot:
        if d.linux_authenticode is None:
            hint = "give the Authenticode SHA-384 of the UKI's .linux (--uki-linux-authenticode)"
            events.append(
                PlannedEvent.missing(
                    2, EV_EFI_BOOT_SERVICES_APPLICATION, b"", "kernel in the UKI (.linux)", hint
                )
            )
        else:
            events.append(kernel_event(d.linux_authenticode, 0, DigestSource.GIVEN))
    if d.linux >= (6, 9):
        options = LOAD_OPTIONS_EVENT_DATA
        hint = "give the SHA-384 of the LoadOptions (--uki-load-options-sha384)"
        events.append(_given(3, EV_EVENT_TAG, options, d.load_options_sha384, "kernel LoadOptions", hint))
        initrd = INITRD_EVENT_DATA
        hint = "give the SHA-384 of the initrd the kernel receives (--uki-initrd-sha384)"
        events.append(_given(3, EV_EVENT_TAG, initrd, d.initrd_sha384, "initrd", hint))
    return events + exit_boot_services_events()
