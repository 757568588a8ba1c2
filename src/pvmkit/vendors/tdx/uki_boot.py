"""The CC events of a UKI boot (optionally through systemd-boot), after the firmware's ready-to-boot events.

Modelled for systemd 252, 254 and 257 (the version of each binary is read from its ``.sdmagic`` section,
:func:`pvmkit.vendors.tdx.uki.loader_info`). CC MR = RTMR + 1; PCR→MR mapping as in edk2 ``TdTcg2Dxe``
``MapPcrToMrIndex`` (PCR 2–6 → MR 2, PCR 8–15 → MR 3):

=================================  ==  ===========================================================
event                              MR  who, and the rule
=================================  ==  ===========================================================
EV_EFI_GPT_EVENT                   2   edk2, when it first loads an image from the disk (as for shim)
EV_EFI_BOOT_SERVICES_APPLICATION   2   systemd-boot, started by the firmware from the ESP: edk2
                                       ``DxeTpm2MeasureBootLib``, Authenticode SHA-384 of the file
EV_EFI_BOOT_SERVICES_APPLICATION   2   the UKI: systemd-boot starts it with ``LoadImage`` (boot.c
                                       ``image_start`` → ``shim_load_image``), which the firmware
                                       measures the same way (first event when there is no
                                       systemd-boot and the firmware starts the UKI itself)
EV_IPL (257 only)                  3   systemd-boot's and systemd-stub's own events (below)
EV_EFI_BOOT_SERVICES_APPLICATION   2   the ``.linux`` PE, after the stub's own events (a real
                                       boot's log order): systemd-stub starts the embedded kernel
                                       with ``LoadImage`` from memory (linux.c ``load_image``, a vendor
                                       media device path with ``STUB_PAYLOAD_GUID``) when its PE
                                       ``MajorImageVersion`` is at least 1 (pe.c ``pe_kernel_info``);
                                       an older kernel is started through the EFI handover protocol,
                                       unmeasured. Not under Secure Boot: the stub then overrides the
                                       security protocols' hooks for its payload
                                       (``install_security_override``), so the firmware's measuring
                                       handler is not called
EV_EVENT_TAG LoadOptions           3   the Linux EFI stub (≥ 6.9): the LoadOptions systemd-stub sets
                                       (the command line in UTF-16 with its NUL), when there are any
EV_EVENT_TAG "Linux initrd"        3   the Linux EFI stub (≥ 6.9): the initrd systemd-stub registers
                                       (``LINUX_INITRD_MEDIA_GUID``), below
EV_EFI_ACTION × 2                  2   edk2 at ExitBootServices
=================================  ==  ===========================================================

systemd-boot and systemd-stub 252/254 measure nothing themselves in a TD: ``src/boot/efi/measure.c``
of both versions logs through the TCG2 or TCG 1.2 protocol only, and does nothing without one; TDVF
installs only the CC measurement protocol. 257's ``src/boot/measure.c`` logs every ``EV_IPL`` event
through the CC protocol as well (``tpm_log_ipl_event``; systemd pull request #30996, in 256), its
``EV_EVENT_TAG`` events (loader.conf, profile, device-tree add-ons) through TCG2 only. So for 257 RTMR2
gets, before the ``.linux`` image event and the kernel's events, in this order:

* systemd-boot's load options, when it passes any (boot.c ``image_start``, ``tpm_log_load_options``,
  PCR 12): 257 passes none for a type #2 entry (its ``.cmdline`` is "implied"), only an edited or
  given command line;
* systemd-stub's section events (PCR 11, :func:`pvmkit.vendors.tdx.uki.uki_section_events`);
* systemd-stub's command line when it takes the passed options (``settle_command_line``, PCR 12).

Each load-options event is ``EV_IPL`` whose data is the options in UTF-16 with the NUL, digest
SHA-384 of that data.

The command line systemd-stub gives the kernel (252/254 ``stub.c`` ``use_load_options``; 257
``process_arguments`` and ``settle_command_line``): the options it was started with — systemd-boot
252/254 pass a type #2 entry's own ``.cmdline`` (boot.c ``config_entry_add_unified``) — unless Secure
Boot is on and the UKI has a ``.cmdline`` (254, 257: or the guest is a confidential VM,
``is_confidential_vm``, which a TD is), or they are empty or start with a control character; else the
``.cmdline`` section; each "mangled": control characters become spaces, trailing spaces are dropped
(``mangle_stub_cmdline``); 257 falls back to ``.cmdline`` also when the mangled options are empty. No
command line: no LoadOptions, and the kernel logs none (``efi_convert_cmdline`` measures only a
non-empty LoadOptions). 254 and 257 append no SMBIOS ``io.systemd.stub.kernel-cmdline-extra`` in a
confidential VM.

The initrd the kernel measures: 252/254 (``efi_main``, ``combine_initrd``): the ``.initrd`` section,
then cpio archives generated from ``.pcrsig`` and ``.pcrpkey``; 257 (``run``, ``extend_initrds``,
``combine_initrds``): ``.ucode``, ``.initrd``, then the archives of ``.pcrsig``, ``.pcrpkey`` and
``.osrel`` (``generate_embedded_initrds``); the archives are ``pack_cpio_literal``'s
(:mod:`pvmkit.vendors.tdx.sd_cpio`, the same code in all three versions); the non-empty parts are
concatenated, each zero-padded to a multiple of 4 when there are several.

Not modelled (refused by the ESP reader, assumed absent otherwise): PE add-ons, credentials and
system extensions the stub packs into extra initrds, systemd-boot's EFI drivers, UKI profiles
(``.profile``, a ``@N`` command line).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.formats.guid import guid_bytes
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import (
    EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_GPT_EVENT,
    EV_EVENT_TAG,
    EV_IPL,
    DigestSource,
    PlannedEvent,
)
from pvmkit.vendors.tdx.rtmr import ACTION_EBS_INVOCATION, ACTION_EBS_SUCCESS
from pvmkit.vendors.tdx.sd_cpio import cpio_literal
from pvmkit.vendors.tdx.shim_grub import PeImage
from pvmkit.vendors.tdx.uki import (
    STUB_PAYLOAD_GUID,
    UkiSection,
    loader_info,
    systemd_major,
    uki_section_events,
    uki_sections,
)

__all__ = [
    "INITRD_EVENT_DATA",
    "LOAD_OPTIONS_EVENT_DATA",
    "UkiBoot",
    "exit_boot_services_events",
    "gpt_event",
    "kernel_event",
    "stub_command_line",
    "uki_boot_events",
]

_TAG_LOAD_OPTIONS = 0x8F3B22ED  #: Linux drivers/firmware/efi/libstub/efistub.h
_TAG_INITRD = 0x8F3B22EC
#: the event data of the Linux EFI stub's tagged events (``efi_measure_tagged_event``: tag, size, text)
LOAD_OPTIONS_EVENT_DATA = struct.pack("<II", _TAG_LOAD_OPTIONS, 26) + b"LOADED_IMAGE::LoadOptions\0"
INITRD_EVENT_DATA = struct.pack("<II", _TAG_INITRD, 13) + b"Linux initrd\0"
_EBS = (ACTION_EBS_INVOCATION, ACTION_EBS_SUCCESS)
_AMD64 = 0x8664
#: the sections systemd-stub packs as cpio archives (252/254 ``efi_main``, 257 ``generate_embedded_initrds``),
#: in the order they follow the initrd (``combine_initrd`` / ``extend_initrds``); ``.osrel`` from 257
_GENERATED_INITRDS = (
    (".pcrsig", "tpm2-pcr-signature.json"),
    (".pcrpkey", "tpm2-pcr-public-key.pem"),
    (".osrel", "os-release"),
)


def _mangle(text: str) -> str:
    """util.c ``mangle_stub_cmdline``: control characters to spaces, trailing spaces dropped."""
    return "".join(" " if ord(c) <= 0x1F else c for c in text).rstrip(" ")


def _utf8_until_nul(data: bytes, what: str) -> str:
    """efi-string.c ``xstrn8_to_16``: UTF-8 up to the first NUL."""
    try:
        return data.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8") from None


def stub_command_line(
    sections: dict[str, UkiSection], version: int, options: str | None, *, secure_boot: bool
) -> tuple[str | None, bool]:
    """The command line systemd-stub ``version`` hands the kernel in a TD (None: none), and whether it
    is the passed ``options`` (which 257 measures) rather than ``.cmdline``."""
    has_cmdline = ".cmdline" in sections
    refused = secure_boot and (has_cmdline or version >= 254)  # 254: is_confidential_vm() in a TD
    if options and ord(options[0]) > 0x1F:
        if version >= 257 and options.startswith("@"):
            raise InputError("a command line starting with '@' selects a UKI profile, which is not modelled")
        mangled = _mangle(options)
        if not refused and (mangled or version < 257):  # 257: an empty one falls back to .cmdline
            return mangled, True
    if has_cmdline:
        return _mangle(_utf8_until_nul(sections[".cmdline"].data, "the UKI's .cmdline")), False
    return None, False


def _kernel_image_version(kernel: bytes) -> tuple[int, int]:
    """(Machine, MajorImageVersion) of the ``.linux`` PE (pe.c ``pe_kernel_info``)."""
    if len(kernel) < 0x40 or kernel[:2] != b"MZ":
        raise InputError("the UKI's .linux section is not a PE image (no MZ header)")
    (pe,) = struct.unpack_from("<I", kernel, 0x3C)
    if pe + 24 + 46 > len(kernel) or kernel[pe : pe + 4] != b"PE\0\0":
        raise InputError("the UKI's .linux section is not a PE image (no PE signature)")
    (machine,) = struct.unpack_from("<H", kernel, pe + 4)
    (major,) = struct.unpack_from("<H", kernel, pe + 24 + 44)
    return machine, major


@dataclass(frozen=True)
class UkiBoot:
    uki: ByteData
    uki_path: str = "\\EFI\\Linux\\linux.efi"  #: ESP path (event data only)
    boot_loader: ByteData | None = None  #: systemd-boot; None: the firmware starts the UKI itself
    boot_loader_path: str = "\\EFI\\BOOT\\BOOTX64.EFI"
    gpt_event_data: bytes | None = None  #: None: no disk image given, the GPT event is missing
    options: str | None = None  #: the options the UKI is started with (None: a type #2 entry's own)
    secure_boot: bool = False
    linux: tuple[int, int] = (6, 9)  #: the kernel version (its EFI stub logs LoadOptions/initrd from 6.9)


def _versions(boot: UkiBoot) -> tuple[int, int | None]:
    stub = loader_info(boot.uki, "UKI")
    if stub is None or stub[0] != "systemd-stub":
        raise InputError("not a UKI: the PE image has no systemd-stub .sdmagic (LoaderInfo) section")
    loader: int | None = None
    if boot.boot_loader is not None:
        info = loader_info(boot.boot_loader, "boot loader")
        if info is None or info[0] != "systemd-boot":
            raise InputError(
                "the boot loader is not systemd-boot (no systemd-boot .sdmagic LoaderInfo section)"
            )
        loader = systemd_major(info[1], info[0])
    return systemd_major(stub[1], stub[0]), loader


def _linux_event(kernel: bytes) -> PlannedEvent | None:
    machine, major = _kernel_image_version(kernel)
    if major < 1:
        return None  # EFI handover protocol: the firmware loads nothing
    if machine != _AMD64:
        raise InputError(f"the UKI's .linux is not an x86-64 PE image (Machine {machine:#x})")
    return kernel_event(authenticode_digest(kernel), len(kernel), DigestSource.EXTERNAL)


def kernel_event(digest: bytes, size: int, source: DigestSource) -> PlannedEvent:
    """The firmware's event for the ``.linux`` PE systemd-stub loads from memory."""
    node = struct.pack("<BBH", 4, 3, 20) + guid_bytes(STUB_PAYLOAD_GUID)
    path = node + b"\x7f\xff\x04\x00"
    data = struct.pack("<QQQQ", 0, size, 0, len(path)) + path
    note = "event data approximate (load address" + (")" if size else ", size)")
    return PlannedEvent.of_digest(
        2,
        EV_EFI_BOOT_SERVICES_APPLICATION,
        data,
        digest,
        "kernel in the UKI (.linux, Authenticode)",
        note,
        source,
    )


def _kernel_events(cmdline: str | None, initrd: bytes | None, linux: tuple[int, int]) -> list[PlannedEvent]:
    if linux < (6, 9):
        return []
    events = []
    if cmdline is not None:
        options = (cmdline + "\0").encode("utf-16-le")
        data = LOAD_OPTIONS_EVENT_DATA
        events.append(PlannedEvent.of_external(3, EV_EVENT_TAG, data, options, "kernel LoadOptions"))
    if initrd is not None:
        data = INITRD_EVENT_DATA
        events.append(PlannedEvent.of_external(3, EV_EVENT_TAG, data, initrd, "initrd"))
    return events


def _options_event(text: str, what: str) -> PlannedEvent:
    """systemd's ``tpm_log_load_options`` (257, through the CC protocol): PCR 12 → RTMR2."""
    return PlannedEvent.of_event_data(3, EV_IPL, (text + "\0").encode("utf-16-le"), what)


def _initrd(sections: dict[str, UkiSection], version: int) -> bytes | None:
    """The initrd systemd-stub registers for the kernel (None: none). 252/254 ``combine_initrd`` pads
    the ``.initrd`` section to 4 bytes and appends the archives (whose sizes are multiples of 4) only
    when there are any: the same bytes as 257's padding of every part."""
    parts = [sections[n].data for n in (".ucode", ".initrd") if n in sections]
    for name, filename in _GENERATED_INITRDS:
        if name == ".osrel" and version < 257:
            continue  # 257 added the os-release archive
        if name in sections and sections[name].data:
            parts.append(cpio_literal(sections[name].data, ".extra", filename, 0o555, 0o444))
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return b"".join(p + bytes(-len(p) % 4) for p in parts)


def gpt_event(data: bytes | None) -> PlannedEvent:
    """The GPT event of the boot disk (missing without the disk)."""
    if data is None:
        return PlannedEvent.missing(
            2, EV_EFI_GPT_EVENT, b"", "GPT of the boot disk", "give the disk image (--disk-image)"
        )
    return PlannedEvent.of_event_data(2, EV_EFI_GPT_EVENT, data, "GPT of the boot disk")


def exit_boot_services_events() -> list[PlannedEvent]:
    return [PlannedEvent.of_event_data(2, EV_EFI_ACTION, a, "EFI action") for a in _EBS]


def _firmware_events(boot: UkiBoot) -> list[PlannedEvent]:
    """RTMR1 up to the UKI: GPT, systemd-boot, the UKI."""
    events = [gpt_event(boot.gpt_event_data)]
    if boot.boot_loader is not None:
        events.append(PeImage("systemd-boot", boot.boot_loader_path, boot.boot_loader).event())
    uki_path = boot.uki_path if boot.boot_loader is not None else boot.boot_loader_path
    events.append(PeImage("UKI", uki_path, boot.uki).event())
    return events


def _payload_events(boot: UkiBoot, sections: dict[str, UkiSection]) -> list[PlannedEvent]:
    """The ``.linux`` the stub loads, after its own events: ``linux_exec`` is the last step of 257's
    stub.c ``run`` (252/254 ``efi_main``), after the section and command-line measurements; a real
    boot logs it there (tests/crosscheck/test_uki_ovmf_boot.py)."""
    linux = _linux_event(sections[".linux"].data)
    # Under Secure Boot systemd-stub replaces the security arch protocols' hooks for its own payload
    # (secure-boot.c install_security_override; linux.c validate_payload): the firmware's handlers,
    # the measuring one (DxeTpm2MeasureBootHandler) among them, never see the kernel.
    return [] if linux is None or boot.secure_boot else [linux]


def uki_boot_events(boot: UkiBoot) -> list[PlannedEvent]:
    """The events from the GPT event to ExitBootServices, in log order. InputError for a UKI or boot
    loader of a version pvmkit does not model, or a UKI whose boot it cannot predict."""
    stub, loader = _versions(boot)
    sections = uki_sections(boot.uki, stub)
    events = _firmware_events(boot)
    options = boot.options
    if options is None and loader is not None and loader < 257 and ".cmdline" in sections:
        options = _mangle(_utf8_until_nul(sections[".cmdline"].data, "the UKI's .cmdline"))
    if loader is not None and loader >= 257 and options:
        events.append(_options_event(options, "command line passed by systemd-boot"))
    if stub >= 257:
        events += uki_section_events(sections, stub)
    cmdline, passed = stub_command_line(sections, stub, options, secure_boot=boot.secure_boot)
    if stub >= 257 and passed and cmdline is not None:
        events.append(_options_event(cmdline, "command line taken by systemd-stub"))
    events += _payload_events(boot, sections)
    events += _kernel_events(cmdline, _initrd(sections, stub), boot.linux)
    return events + exit_boot_services_events()
