"""Which boot component a CC event measures, named for a user whose quote does not match.

Read from the event's type and data only (the measurement rules behind each name: docs/tdx-measure.md):

* ``EV_PLATFORM_CONFIG_FLAGS "ACPI DATA"``: OVMF's QEMU ACPI loader measures the table-loader commands,
  then each blob the loader ALLOCATEs in its order — for QEMU the RSDP, then the tables blob — all
  with the same text; the n-th such event is named by its position;
* ``EV_EFI_BOOT_SERVICES_APPLICATION``: the file path in the image's device path (``\\EFI\\BOOT\\
  BOOTX64.EFI`` …; under ``\\EFI\\Linux\\`` a UKI, where systemd-boot finds type #2 entries); an
  image without one was loaded from memory (QEMU's ``-kernel``), or, with systemd-stub's vendor
  device path, the kernel of a UKI;
* ``EV_IPL``: GRUB's ``grub_cmd:`` and ``kernel_cmdline:`` text, shim's MoK state variables, or the
  file GRUB read; a UTF-16 description is systemd-stub's: a UKI section (its name and its data
  events share the name) or, any other text, the command line systemd-boot or systemd-stub 257 logs
  (their load-options events carry the options themselves);
* ``EV_EVENT_TAG``: the Linux EFI stub's LoadOptions (the command line) and initrd;
* UEFI variables by name, the TD HOB, the CFV, the GPT, separators and EFI actions.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pvmkit.errors import FormatError
from pvmkit.formats.ccel import CcEvent, EventType, ImageLoadEvent, TaggedEvent, UefiVariableData
from pvmkit.formats.guid import guid_bytes
from pvmkit.vendors.tdx.uki import STUB_PAYLOAD_GUID, UKI_SECTION_NAMES

__all__ = ["component", "components"]

#: systemd-stub's vendor media device path node of the kernel it loads from memory (src/boot/efi/linux.c)
_STUB_PAYLOAD_NODE = bytes.fromhex("04031400") + guid_bytes(STUB_PAYLOAD_GUID)
_ACPI = ("ACPI table-loader (etc/table-loader)", "ACPI RSDP (etc/acpi/rsdp)", "ACPI tables (etc/acpi/tables)")
_SHIM_VARIABLES = frozenset({b"MokList", b"MokListX", b"MokListTrusted", b"MokSBState", b"MokDBState"})
_VARIABLES = frozenset(
    {
        EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
        EventType.EV_EFI_VARIABLE_BOOT,
        EventType.EV_EFI_VARIABLE_BOOT2,
        EventType.EV_EFI_VARIABLE_AUTHORITY,
    }
)


def _file_path(device_path: bytes) -> str | None:
    """The text of the media file-path nodes (type 4, subtype 4) of a device path."""
    parts: list[str] = []
    pos = 0
    while pos + 4 <= len(device_path):
        kind, sub, length = struct.unpack_from("<BBH", device_path, pos)
        if length < 4 or kind == 0x7F:
            break
        if (kind, sub) == (4, 4):
            text = device_path[pos + 4 : pos + length].decode("utf-16-le", errors="replace")
            parts.append(text.rstrip("\0"))
        pos += length
    return "".join(parts) or None


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("utf-8", errors="replace")


def _utf16(data: bytes) -> str | None:
    """``data`` as UTF-16LE text when it is (systemd-stub writes its descriptions so), else None."""
    if len(data) < 4 or len(data) % 2 or any(data[1::2]):
        return None
    return data.decode("utf-16-le").rstrip("\0")


def _ipl(data: bytes) -> str:
    wide = _utf16(data)
    if wide is not None:
        if wide in UKI_SECTION_NAMES:
            return f"UKI section {wide}"
        return f"command line logged by systemd-boot or systemd-stub '{_short(wide)}'"
    name = data.rstrip(b"\0")
    if name.startswith(b"grub_cmd: "):
        return f"grub.cfg command '{_short(_text(name[10:]))}'"
    if name.startswith(b"kernel_cmdline: "):
        return "kernel command line (GRUB)"
    if name in _SHIM_VARIABLES:
        return f"shim {name.decode()}"
    return f"file read by GRUB {_text(name)}"


def _short(text: str) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= 60 and "\n" not in text else line[:57] + "…"


def _variable(event: CcEvent) -> str:
    var = UefiVariableData.parse(event.event_data)
    if event.event_type == EventType.EV_EFI_VARIABLE_AUTHORITY:
        return f"Secure Boot authority {var.name}"
    return f"UEFI variable {var.name}"


def component(event: CcEvent, acpi_ordinal: int = 0) -> str:
    """A short name for what ``event`` measures; ``acpi_ordinal`` is the number of earlier
    "ACPI DATA" events in the same log (see :func:`components`)."""
    t, data = event.event_type, event.event_data
    try:
        if t in _VARIABLES:
            return _variable(event)
        if t == EventType.EV_PLATFORM_CONFIG_FLAGS:
            if data.rstrip(b"\0") == b"ACPI DATA":
                return _ACPI[acpi_ordinal] if acpi_ordinal < len(_ACPI) else "ACPI blob"
            return f"fw_cfg item {_text(data)}"
        if t == EventType.EV_EFI_BOOT_SERVICES_APPLICATION:
            device_path = ImageLoadEvent.parse(data).device_path
            if _STUB_PAYLOAD_NODE in device_path:
                return "kernel in a UKI (.linux, started from memory by systemd-stub) (Authenticode)"
            path = _file_path(device_path)
            if path is None:
                return "EFI application loaded from memory (the -kernel kernel) (Authenticode)"
            if path.upper().startswith("\\EFI\\LINUX\\"):  # systemd-boot's type #2 entries (UAPI.1)
                return f"UKI {path} (Authenticode)"
            return f"EFI application {path} (Authenticode)"
        if t == EventType.EV_IPL:
            return _ipl(data)
        if t == EventType.EV_EVENT_TAG:
            tag = TaggedEvent.parse(data).text
            return {
                "LOADED_IMAGE::LoadOptions": "kernel command line (LoadOptions)",
                "Linux initrd": "initrd",
            }.get(tag.rstrip("\0"), f"tagged event {tag}")
        if t == EventType.EV_EFI_HANDOFF_TABLES2:
            return "TD HOB" if data[1:9] == b"TdxTable" else "SMBIOS tables"
        if t == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2:
            return "firmware volume (CFV varstore)"
        if t in (EventType.EV_EFI_GPT_EVENT, EventType.EV_EFI_GPT_EVENT2):
            return "GPT of the boot disk"
        if t == EventType.EV_EFI_ACTION:
            return f"EFI action '{_text(data)}'"
        if t == EventType.EV_SEPARATOR:
            return "separator"
    except FormatError:
        return "event data that does not parse"
    return event.type_name


def components(events: Sequence[CcEvent]) -> list[str]:
    """:func:`component` of each event, with the ACPI events named by their position."""
    names: list[str] = []
    acpi = 0
    for e in events:
        names.append(component(e, acpi))
        if e.event_type == EventType.EV_PLATFORM_CONFIG_FLAGS and e.event_data.rstrip(b"\0") == b"ACPI DATA":
            acpi += 1
    return names
