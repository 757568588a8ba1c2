"""systemd-boot's type #1 boot loader entries (``loader/entries/*.conf``: a kernel, initrds and options)
and the CC events of booting one in a TD (systemd 252, 254 and 257).

Parsing (boot.c ``line_get_key_value`` with separators space and tab, and the entry's keys): each
line is trimmed of spaces and tabs; empty lines and ``#`` comments are skipped; the key ends at the
first separator, the value starts after the separators that follow; a value whose line ends in ``"``
and that starts with ``"`` loses both quotes. ``linux``, ``initrd`` and ``devicetree`` are paths
(``xstr8_to_path``: ``/`` becomes ``\\``, doubled ``\\`` collapse); ``options`` lines are joined with a
space; ``initrd`` may repeat. An entry with ``efi`` (another EFI program) or ``devicetree`` is not
modelled.

Booting it (boot.c ``image_start`` and ``initrd_prepare``): systemd-boot loads the ``linux`` file with
``LoadImage`` — the firmware measures its Authenticode (RTMR1) — reads the initrds in order, skipping
empty files, and concatenates them (257 zero-pads each to 4 bytes but the last; 252/254 do not pad),
and registers the result for the kernel (``LINUX_INITRD_MEDIA_GUID``); the options it passes are
``initrd=PATH`` for each initrd, then the entry's options, separated by spaces. 257 logs those options
through the CC protocol (``tpm_log_load_options``, PCR 12 → RTMR2: ``EV_IPL``, the options in UTF-16 with
the NUL as data and digest); 252/254 log nothing in a TD. The Linux EFI stub (≥ 6.9) measures the
LoadOptions (when there are any) and the initrd (``EV_EVENT_TAG``, RTMR2).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.eventlog_plan import EV_EVENT_TAG, EV_IPL, PlannedEvent
from pvmkit.vendors.tdx.shim_grub import PeImage
from pvmkit.vendors.tdx.uki import loader_info, systemd_major
from pvmkit.vendors.tdx.uki_boot import (
    INITRD_EVENT_DATA,
    LOAD_OPTIONS_EVENT_DATA,
    exit_boot_services_events,
    gpt_event,
)

__all__ = [
    "LoaderEntry",
    "Type1Boot",
    "entry_initrd",
    "entry_options",
    "parse_loader_entry",
    "type1_boot_events",
]

_PATH_KEYS = frozenset({"linux", "initrd", "devicetree", "efi"})


@dataclass(frozen=True)
class LoaderEntry:
    linux: str | None = None  #: EFI path (``\\vmlinuz``)
    initrds: tuple[str, ...] = ()
    options: str | None = None
    efi: str | None = None
    devicetree: str | None = None


def _efi_path(value: str) -> str:
    out = ""
    for c in value.replace("/", "\\"):
        if not (c == "\\" and out.endswith("\\")):
            out += c
    return out


def _key_values(text: str) -> list[tuple[str, str]]:
    pairs = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        cut = next((i for i, c in enumerate(line) if c in " \t"), None)
        if cut is None:
            continue
        key, value = line[:cut], line[cut:].lstrip(" \t")
        if value.startswith('"') and line.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        pairs.append((key, value))
    return pairs


def parse_loader_entry(data: bytes, name: str) -> LoaderEntry:
    """A type #1 entry file. InputError for one that is not UTF-8 or that pvmkit does not model."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8") from None
    values: dict[str, str] = {}
    initrds: list[str] = []
    options: list[str] = []
    for key, value in _key_values(text):
        if key == "initrd":
            initrds.append(_efi_path(value))
        elif key == "options":
            options.append(value)
        elif key in _PATH_KEYS:
            values[key] = _efi_path(value)
    entry = LoaderEntry(
        values.get("linux"), tuple(initrds), " ".join(options) if options else None, values.get("efi"),
        values.get("devicetree"),
    )  # fmt: skip
    if entry.efi is not None or entry.devicetree is not None:
        key = "efi" if entry.efi is not None else "devicetree"
        raise InputError(f"{name}: an entry with '{key}' is not modelled (only linux, initrd and options)")
    if entry.linux is None:
        raise InputError(f"{name}: the entry has no 'linux' line")
    return entry


def entry_options(entry: LoaderEntry) -> str | None:
    """The options systemd-boot passes: ``initrd=PATH`` per initrd, then the entry's options."""
    words = [f"initrd={p}" for p in entry.initrds] + ([entry.options] if entry.options is not None else [])
    return " ".join(words) if words else None


def entry_initrd(contents: list[bytes], version: int) -> bytes:
    """The initrds concatenated as ``initrd_prepare`` of systemd ``version`` does."""
    out = b""
    for i, data in enumerate(contents):
        if not data:
            continue
        out += data
        if version >= 257 and i + 1 < len(contents):
            out += bytes(-len(data) % 4)
    return out


@dataclass(frozen=True)
class Type1Boot:
    boot_loader: ByteData  #: systemd-boot, at the removable path
    entry: LoaderEntry
    kernel: ByteData  #: the ``linux`` file
    initrds: tuple[bytes, ...]  #: the ``initrd`` files' contents, in the entry's order
    gpt_event_data: bytes | None = None
    linux: tuple[int, int] = (6, 9)


def type1_boot_events(boot: Type1Boot) -> list[PlannedEvent]:
    """The events from the GPT event to ExitBootServices, in log order."""
    info = loader_info(boot.boot_loader, "boot loader")
    if info is None or info[0] != "systemd-boot":
        raise InputError("the boot loader is not systemd-boot (no systemd-boot .sdmagic LoaderInfo)")
    version = systemd_major(info[1], info[0])
    assert boot.entry.linux is not None
    events = [
        gpt_event(boot.gpt_event_data),
        PeImage("systemd-boot", "\\EFI\\BOOT\\BOOTX64.EFI", boot.boot_loader).event(),
        PeImage("kernel", boot.entry.linux, boot.kernel).event(),
    ]
    options = entry_options(boot.entry)
    if options is not None and version >= 257:
        data = (options + "\0").encode("utf-16-le")
        events.append(PlannedEvent.of_event_data(3, EV_IPL, data, "command line passed by systemd-boot"))
    if boot.linux >= (6, 9):
        if options is not None:
            loaded = (options + "\0").encode("utf-16-le")
            events.append(
                PlannedEvent.of_external(
                    3, EV_EVENT_TAG, LOAD_OPTIONS_EVENT_DATA, loaded, "kernel LoadOptions"
                )
            )
        initrd = entry_initrd(list(boot.initrds), version)
        if initrd:
            events.append(PlannedEvent.of_external(3, EV_EVENT_TAG, INITRD_EVENT_DATA, initrd, "initrd"))
    return events + exit_boot_services_events()
