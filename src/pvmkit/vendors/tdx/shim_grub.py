"""The CC events of a disk boot through shim and GRUB, after the firmware's ready-to-boot events.

Who logs what (CC MR = RTMR + 1; PCR→MR mapping: edk2 ``TdTcg2Dxe`` ``MapPcrToMrIndex``, PCR 1/7 →
MR 1, PCR 2–6 → MR 2, PCR 8–15 → MR 3):

==========================  ====  =====================================================================
event                       MR    source
==========================  ====  =====================================================================
EV_EFI_GPT_EVENT            2     edk2 ``Tcg2MeasureGptTable`` when it first loads an image from the
                                  disk (``pvmkit.formats.gpt``): digest of the event data
EV_EFI_BOOT_SERVICES_APP…   2     shim, fallback, GRUB: the firmware's (or shim's, through the CC
                                  protocol with the PE flag) edk2 Authenticode SHA-384 of the image
EV_IPL "MokList"            3     shim ``mok.c``: each MoK state variable it mirrors, in its table's
EV_IPL "MokListX"           3     order, digest of the variable data (shim README.tpm, PCR 14);
EV_EFI_VARIABLE_AUTHORITY   1     ``SbatLevel`` (SHIM_LOCK_GUID) as UEFI_VARIABLE_DATA, digest of the
 "SbatLevel"                      whole event data (PCR 7);
(EV_EFI_VARIABLE_AUTHORITY  1     some shim builds: ``MokListTrusted`` likewise — a flag, see MokState)
 "MokListTrusted")
EV_IPL "MokListTrusted"     3     the MokListTrusted state, one byte
EV_EFI_VARIABLE_AUTHORITY   1     the certificate that verified the next image ("db", "Shim", …;
                                  shim README.tpm, PCR 7) — only when shim verifies (Secure Boot in
                                  user mode); given by the caller
GRUB's events               3     :mod:`pvmkit.vendors.tdx.grub`
EV_EFI_ACTION × 2           2     edk2 at ExitBootServices
==========================  ====  =====================================================================

The first boot from the removable path (``\\EFI\\BOOT\\BOOTX64.EFI``) runs shim's fallback
(``fbx64.efi``), which creates the boot entry and starts ``\\EFI\\<vendor>\\shimx64.efi``: shim then
runs twice (:attr:`ShimGrubBoot.fallback`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.ccel import UefiVariableData
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import (
    EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_GPT_EVENT,
    EV_EFI_VARIABLE_AUTHORITY,
    EV_IPL,
    DigestSource,
    PlannedEvent,
)

__all__ = [
    "SHIM_LOCK_GUID",
    "MokState",
    "PeImage",
    "ShimGrubBoot",
    "shim_grub_events",
    "shim_variable_event_data",
]

SHIM_LOCK_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
_EBS = (b"Exit Boot Services Invocation", b"Exit Boot Services Returned with Success")


@dataclass(frozen=True)
class PeImage:
    """An EFI application that is loaded and measured: its bytes, or its Authenticode SHA-384."""

    what: str  #: "shim", "GRUB", "fallback" …
    path: str = ""  #: ESP path, e.g. ``\\EFI\\ubuntu\\grubx64.efi`` (event data only)
    image: ByteData | None = None
    authenticode: bytes | None = None

    def __post_init__(self) -> None:
        if (self.image is None) == (self.authenticode is None):
            raise InputError(f"{self.what}: give either the EFI binary or its Authenticode SHA-384")
        if self.authenticode is not None and len(self.authenticode) != 48:
            raise InputError(
                f"{self.what}: an Authenticode SHA-384 is 48 bytes, got {len(self.authenticode)}"
            )

    def event(self) -> PlannedEvent:
        size = 0 if self.image is None else len(self.image)
        path = self.path.encode("utf-16-le") + b"\0\0"
        # UEFI_IMAGE_LOAD_EVENT with a lone file-path node: not measured, approximate
        node = struct.pack("<BBH", 4, 4, 4 + len(path)) + path + b"\x7f\xff\x04\x00"
        data = struct.pack("<QQQQ", 0, size, 0, len(node)) + node
        label = f"{self.what} (Authenticode)"
        note = "event data approximate (load address and device path)"
        if self.image is not None:
            return PlannedEvent.of_digest(
                2,
                EV_EFI_BOOT_SERVICES_APPLICATION,
                data,
                authenticode_digest(self.image),
                label,
                note,
                DigestSource.EXTERNAL,
            )
        assert self.authenticode is not None
        return PlannedEvent.of_digest(
            2, EV_EFI_BOOT_SERVICES_APPLICATION, data, self.authenticode, label, f"digest given; {note}"
        )


def _mok_event(name: str, data: bytes | None, digest: bytes | None) -> PlannedEvent:
    desc = name.encode() + b"\0"
    if data is not None:
        return PlannedEvent.of_external(3, EV_IPL, desc, data, f"shim {name}")
    if digest is not None:
        return PlannedEvent.of_digest(3, EV_IPL, desc, digest, f"shim {name}", "digest given")
    return PlannedEvent.missing(
        3, EV_IPL, desc, f"shim {name}", f"give the {name} data shim mirrors or its SHA-384"
    )


def shim_variable_event_data(name: str, data: bytes) -> bytes:
    """The UEFI_VARIABLE_DATA shim logs for one of its variables (SHIM_LOCK_GUID)."""
    return UefiVariableData(SHIM_LOCK_GUID, name, data, 0).to_bytes()


@dataclass(frozen=True)
class MokState:
    """What shim measures of its MoK state each time it runs. MokList/MokListX are the runtime
    mirrors (the enrolled MoKs plus shim's built-in vendor certificate / vendor dbx), given as the
    variable data or its SHA-384; SbatLevel is the level shim applied (e.g. shim 15.7's
    ``sbat,1,2022052400\\ngrub,2\\n``)."""

    sbat_level: bytes
    mok_list: bytes | None = None
    mok_list_digest: bytes | None = None
    mok_list_x: bytes | None = None
    mok_list_x_digest: bytes | None = None
    mok_list_trusted: bytes = b"\x01"
    #: Some shim builds also log MokListTrusted as an EV_EFI_VARIABLE_AUTHORITY in RTMR0, between
    #: SbatLevel and its EV_IPL (the GCE log's shim does, Ubuntu's 15.7 in the evidence-api log does
    #: not); which builds do is not established, so it is set from a known log of that shim.
    mok_list_trusted_authority: bool = False

    def events(self) -> list[PlannedEvent]:
        events = [
            _mok_event("MokList", self.mok_list, self.mok_list_digest),
            _mok_event("MokListX", self.mok_list_x, self.mok_list_x_digest),
            PlannedEvent.of_event_data(
                1,
                EV_EFI_VARIABLE_AUTHORITY,
                shim_variable_event_data("SbatLevel", self.sbat_level),
                "shim SbatLevel",
            ),
        ]
        if self.mok_list_trusted_authority:
            data = shim_variable_event_data("MokListTrusted", self.mok_list_trusted)
            events.append(
                PlannedEvent.of_event_data(1, EV_EFI_VARIABLE_AUTHORITY, data, "shim MokListTrusted")
            )
        events.append(
            PlannedEvent.of_external(
                3, EV_IPL, b"MokListTrusted\0", self.mok_list_trusted, "shim MokListTrusted"
            )
        )
        return events


@dataclass(frozen=True)
class ShimGrubBoot:
    gpt_event_data: bytes  #: ``GptDisk.gpt_event_data()`` of the boot disk
    shim: PeImage
    grub: PeImage
    mok: MokState
    grub_events: Sequence[PlannedEvent]  #: from :func:`pvmkit.vendors.tdx.grub.follow_grub_cfg`
    fallback: PeImage | None = None  #: fbx64.efi on a first boot from the removable path
    vendor_shim_path: str = ""  #: the path fallback starts shim from (``\\EFI\\<vendor>\\shimx64.efi``)
    authority: Sequence[bytes] = ()  #: EV_EFI_VARIABLE_AUTHORITY data shim logs when it verifies GRUB


def _shim_run(boot: ShimGrubBoot, shim: PeImage) -> list[PlannedEvent]:
    return [shim.event(), *boot.mok.events()]


def shim_grub_events(boot: ShimGrubBoot) -> list[PlannedEvent]:
    """The events from the GPT event to ExitBootServices, in log order."""
    events = [
        PlannedEvent.of_event_data(2, EV_EFI_GPT_EVENT, boot.gpt_event_data, "GPT of the boot disk"),
        *_shim_run(boot, boot.shim),
    ]
    if boot.fallback is not None:
        again = PeImage(boot.shim.what, boot.vendor_shim_path, boot.shim.image, boot.shim.authenticode)
        events += [boot.fallback.event(), *_shim_run(boot, again)]
    events += [
        PlannedEvent.of_event_data(1, EV_EFI_VARIABLE_AUTHORITY, a, "Secure Boot authority (shim)")
        for a in boot.authority
    ]
    events.append(boot.grub.event())
    events += boot.grub_events
    events += [PlannedEvent.of_event_data(2, EV_EFI_ACTION, a, "EFI action") for a in _EBS]
    return events


def gpt_digest(event_data: bytes) -> bytes:
    return hashlib.sha384(event_data).digest()
