"""RTMR0–3 prediction for a TD booted by QEMU + OVMF (IntelTdx) with ``-kernel`` (spec tdx.md §2.2–2.5).

:func:`build_event_log_plan` turns :class:`RtmrInputs` into an
:class:`~pvmkit.vendors.tdx.eventlog_plan.EventLogPlan`; :func:`predict_rtmrs` replays it. Events, in
logged order per register:

RTMR0 (CC MR 1)
    1. TD HOB (``EV_EFI_HANDOFF_TABLES2`` "TdxTable"): the HOB QEMU builds for the RAM size
       (:mod:`pvmkit.vendors.tdx.td_hob`), hashed without its END HOB.
    2. CFV (``EV_EFI_PLATFORM_FIRMWARE_BLOB2``): SHA-384 of the varstore bytes of the image.
    3. fw_cfg items (``EV_PLATFORM_CONFIG_FLAGS`` "QEMU FW CFG"), OVMF ≥ stable202505: in the fixed
       order extra-pci-roots, BootMenu, boot-menu-wait, reserved-memory-end, X-PciMmio64Mb, bootorder;
       only those that exist with the expected size. Default (no ``fw_cfg`` given): BootMenu = 0 and,
       with a kernel, bootorder = ``/rom@genroms/linuxboot_dma.bin``.
    4. Secure Boot variables (``EV_EFI_VARIABLE_DRIVER_CONFIG``): SecureBoot, PK, KEK, db, dbx, dbt
       (only if present), read from the image's varstore; a missing variable is measured empty.
    5. Separator.
    6. ACPI (``EV_PLATFORM_CONFIG_FLAGS`` "ACPI DATA"): the table loader, then each blob in the
       loader's ALLOCATE order — captured from the VMM (they cannot be derived from the firmware).
    7. ``EV_EFI_VARIABLE_AUTHORITY`` events when Secure Boot verified the kernel (given by the caller).
    8. SMBIOS, OVMF ≥ stable202505: the filtered table SmbiosMeasurementDxe hashes
       (:mod:`pvmkit.vendors.tdx.smbios_ovmf`, from QEMU's tables or captured), or its digest.
    9. Boot variables (``EV_EFI_VARIABLE_BOOT``): BootOrder, then each Boot#### in that order.
       Not given: the image's fixed entries, as a ``-kernel`` boot measures them
       (:func:`pvmkit.vendors.tdx.ovmf_boot_options.boot_variables` with no device: before
       stable202505 Boot0000 UiApp; from it Boot0000 BootManagerMenuApp and, when the image's DXEFV
       holds UiApp, Boot0001 "EFI Firmware Setup"; the IntelTdx 2026.08 build has only the first), or
       a ``MISSING`` event where the image is outside that model. :func:`default_boot_variables` is
       the version table alone (both entries), for callers that know their image registers them.

RTMR1 (CC MR 2), direct boot
    kernel Authenticode (patched or original bytes, :mod:`pvmkit.vendors.tdx.linux_boot`), "Calling EFI
    Application from Boot Option", separator, "Exit Boot Services Invocation", "Exit Boot Services
    Returned with Success".

RTMR2 (CC MR 3), Linux ≥ 6.9 EFI stub
    LoadOptions (tag 0x8F3B22ED), initrd (tag 0x8F3B22EC) when there is one. Older kernels log nothing.

RTMR3 (CC MR 4)
    never extended by firmware: 48 zero bytes at boot.

An input the prediction needs but did not get (ACPI blobs, SMBIOS, a kernel for RTMR1/2, a Secure
Boot authority) becomes a ``MISSING`` event and its register is reported as unknown (None).
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.efi_varstore import (
    EFI_GLOBAL_VARIABLE_GUID,
    EFI_IMAGE_SECURITY_DATABASE_GUID,
    VariableStore,
    fv_name_guid,
    parse_signature_lists,
    parse_varstore,
    uefi_variable_data,
)
from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.tdvf import TdvfMetadata, parse_tdvf
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import (
    EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_HANDOFF_TABLES,
    EV_EFI_HANDOFF_TABLES2,
    EV_EFI_PLATFORM_FIRMWARE_BLOB2,
    EV_EFI_VARIABLE_AUTHORITY,
    EV_EFI_VARIABLE_BOOT,
    EV_EFI_VARIABLE_DRIVER_CONFIG,
    EV_EVENT_TAG,
    EV_PLATFORM_CONFIG_FLAGS,
    EV_SEPARATOR,
    SEPARATOR_DATA,
    DigestSource,
    EventLogPlan,
    PlannedEvent,
)
from pvmkit.vendors.tdx.linux_boot import kernel_is_patched, load_options, qemu_patch_setup_header
from pvmkit.vendors.tdx.td_hob import build_td_hob, q35_ram_ranges, td_hob_digest

__all__ = [
    "ACTION_CALLING_EFI_APP",
    "ACTION_EBS_INVOCATION",
    "ACTION_EBS_SUCCESS",
    "DEFAULT_VERSIONS",
    "DXEFV_GUID",
    "FW_CFG_MEASURED_SINCE",
    "NEW_BOOT_OPTIONS_SINCE",
    "SMBIOS_MEASURED_SINCE",
    "AcpiBlobs",
    "HostVersions",
    "RtmrInputs",
    "SecureBootMode",
    "boot_option",
    "build_event_log_plan",
    "cfv_event_data",
    "db_authority_event_data",
    "default_boot_variables",
    "fv_file_device_path",
    "fw_cfg_event_data",
    "parse_version",
    "predict_rtmrs",
    "secure_boot_enabled",
    "table_loader_allocations",
    "td_hob_event_data",
]

ACTION_CALLING_EFI_APP = b"Calling EFI Application from Boot Option"
ACTION_EBS_INVOCATION = b"Exit Boot Services Invocation"
ACTION_EBS_SUCCESS = b"Exit Boot Services Returned with Success"

#: OVMF stable tags (year, month) from which an event set changes.
# QemuFwCfgCacheInit (tianocore/edk2 pull request 6522, opened 2024-12-10, merged after the
# edk2-stable202502 tag): Debian's edk2 2025.02 builds lack its "QEMU FW CFG" event text, its 2026.08
# builds have it (tests/unit/test_tdx_ovmf_release.py); the next tag is stable202505.
FW_CFG_MEASURED_SINCE = (2025, 5)
#: BootManagerMenuApp + "EFI Firmware Setup": tianocore/edk2 PR #10668, merged after the
#: stable202502 tag (Debian's edk2 2025.02 boots with UiApp only: tests/crosscheck/
#: test_ovmf_boot_options.py), in stable202505 (dstack's "Stable202505" event layout).
NEW_BOOT_OPTIONS_SINCE = (2025, 5)
SMBIOS_MEASURED_SINCE = (2025, 5)  # SmbiosMeasurementDxe (2025-04-10)

_TDX_TABLE_GUID = "93bb96af-b9f2-4eb8-9462-e0ba74564236"  # gUefiOvmfPkgTokenSpaceGuid
_SMBIOS3_TABLE_GUID = "f2fd1544-9794-4a2c-992e-e5bbcf20e394"
DXEFV_GUID = "7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1"  # OvmfPkg's DXEFV FvNameGuid
_UIAPP_GUID = "462caa21-7614-4503-836e-8ab6f4662331"
_BOOT_MANAGER_MENU_GUID = "eec25bdc-67f2-4d95-b1d5-f81b2039d11d"
_TAG_LOAD_OPTIONS = 0x8F3B22ED
_TAG_INITRD = 0x8F3B22EC
_LINUXBOOT_BOOTORDER = b"/rom@genroms/linuxboot_dma.bin\0"
#: (fw_cfg name, required size or 0 for any) in OVMF's measuring order (QemuFwCfgCacheInit.c).
_FW_CFG_ORDER = (
    ("etc/extra-pci-roots", 8),
    ("BootMenu", 2),
    ("etc/boot-menu-wait", 2),
    ("etc/reserved-memory-end", 8),
    ("opt/ovmf/X-PciMmio64Mb", 0),
    ("bootorder", 0),
)


def parse_version(text: str, what: str) -> tuple[int, int]:
    """A version as (major, minor). OVMF accepts ``2026.08``, ``2025.02-8+deb13u1``, ``202508`` and
    ``edk2-stable202508`` (year, month); QEMU/Linux take ``10.2.0``, ``6.9``, ``6.12.5-amd64``."""
    t = text.strip().lower().removeprefix("edk2-stable")
    m = re.fullmatch(r"(\d{4})(\d{2})", t)
    if m is None:
        m = re.match(r"(\d+)\.(\d+)", t)
    if m is None:
        raise InputError(f"{what} version {text!r} is not MAJOR.MINOR (or YYYYMM for OVMF)")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class HostVersions:
    """The host stack versions that select rules. Defaults: the newest rules pvmkit knows."""

    ovmf: tuple[int, int] = (2026, 8)  #: edk2 stable tag (year, month) the OVMF build is based on
    qemu: tuple[int, int] = (10, 2)
    linux: tuple[int, int] = (6, 9)  #: the guest kernel (its EFI stub measures RTMR2 from 6.9)

    def as_dict(self) -> dict[str, str]:
        return {
            "ovmf": f"{self.ovmf[0]}.{self.ovmf[1]:02d}",
            "qemu": f"{self.qemu[0]}.{self.qemu[1]}",
            "linux": f"{self.linux[0]}.{self.linux[1]}",
        }


DEFAULT_VERSIONS = HostVersions()


class SecureBootMode:
    """Values of :attr:`RtmrInputs.secure_boot`."""

    AUTO = "auto"  #: authenticated varstore: 01 with a PK, 00 without; plain varstore: absent
    ON = "on"  #: SecureBoot = 01
    OFF = "off"  #: SecureBoot = 00
    ABSENT = "absent"  #: no SecureBoot variable (built without Secure Boot): measured empty
    ALL = (AUTO, ON, OFF, ABSENT)


@dataclass(frozen=True)
class AcpiBlobs:
    """QEMU's ACPI fw_cfg files exactly as the VMM serves them (capture them from the real VMM)."""

    loader: bytes  #: ``etc/table-loader`` (padded by pvmkit to a 4 KiB multiple, as QEMU does)
    rsdp: bytes  #: ``etc/acpi/rsdp``
    tables: bytes  #: ``etc/acpi/tables``
    extra: dict[str, bytes] = field(default_factory=dict)  #: other ALLOCATEd files, by fw_cfg name


@dataclass(frozen=True)
class RtmrInputs:
    firmware: bytes
    memory_size: int
    kernel: ByteData | None = None  #: a mapped file will do: only the patched copy is allocated
    initrd: ByteData | None = None  #: a mapped file will do: it is only hashed
    cmdline: str = ""
    acpi: AcpiBlobs | None = None
    smbios: bytes | None = None  #: the SMBIOS table as SmbiosMeasurementDxe hashes it (filtered)
    smbios_digest: bytes | None = None  #: or just its SHA-384
    fw_cfg: tuple[tuple[str, bytes], ...] | None = None  #: None: QEMU defaults (see module doc)
    boot_variables: tuple[tuple[str, bytes], ...] | None = None  #: None: OVMF defaults, in measured order
    secure_boot: str = SecureBootMode.AUTO
    authority: tuple[bytes, ...] = ()  #: EV_EFI_VARIABLE_AUTHORITY event data (UEFI_VARIABLE_DATA)
    versions: HostVersions = DEFAULT_VERSIONS
    shim: bool = False  #: QEMU ≥ 10.0 ``-shim``: only the LoadOptions prefix is modelled
    # Digests-only forms, for pipelines that publish hashes instead of files (dstack's
    # ``kernel_authenticode``, ``cmdline_sha384``, ``initrd_sha384``); each replaces its file.
    kernel_authenticode: bytes | None = None  #: SHA-384 Authenticode of the kernel bytes OVMF loads
    load_options_sha384: bytes | None = None  #: SHA-384 of the LoadOptions the stub measures
    initrd_sha384: bytes | None = None  #: SHA-384 of the initrd
    acpi_note: str = "give the table-loader, rsdp and tables blobs"  #: why ACPI is missing, if it is
    smbios_note: str = "OVMF ≥ stable202505 measures SMBIOS: give it"  #: why SMBIOS is missing, if it is
    #: A disk boot instead of ``-kernel``: the events from the GPT event to ExitBootServices
    #: (:func:`pvmkit.vendors.tdx.shim_grub.shim_grub_events`).
    disk_boot: tuple[PlannedEvent, ...] | None = None
    #: why the boot variables are unknown, when they are: with ``boot_variables`` None, set for a
    #: direct boot it replaces OVMF's defaults by a missing event; for a disk boot it is the note of
    #: the missing boot options (default: ask for --boot-var and --fw-cfg)
    boot_variables_note: str | None = None

    @property
    def direct_boot(self) -> bool:
        """A ``-kernel`` boot, by file or by its Authenticode digest."""
        return self.kernel is not None or self.kernel_authenticode is not None

    @property
    def boots_image(self) -> bool:
        """The firmware starts an EFI image it may verify (``-kernel`` or a disk's boot loader)."""
        return self.direct_boot or self.disk_boot is not None


# -- RTMR0 pieces -------------------------------------------------------------------------------------


def fw_cfg_event_data(name: str) -> bytes:
    """``FW_CFG_EVENT``: ``"QEMU FW CFG\\0"`` then the item name, NUL-padded to 56 bytes."""
    encoded = name.encode()
    if len(encoded) >= 56:
        raise InputError(f"fw_cfg name {name!r} is longer than 55 bytes")
    return b"QEMU FW CFG\0" + encoded.ljust(56, b"\0")


def fv_file_device_path(file: str, fv: str = DXEFV_GUID) -> bytes:
    """``Fv(fv)/FvFile(file)``: an application built into OVMF's DXE volume (UEFI PI 1.8 vol. 3
    §3.3.2 firmware volume and file device-path nodes, media type 4, subtypes 7 and 6)."""
    return _device_path_fv_file(fv, file)


def _device_path_fv_file(fv: str, file: str) -> bytes:
    return (
        struct.pack("<BBH", 4, 7, 20)
        + guid_bytes(fv)
        + struct.pack("<BBH", 4, 6, 20)
        + guid_bytes(file)
        + bytes((0x7F, 0xFF, 4, 0))
    )


def boot_option(attributes: int, description: str, device_path: bytes, optional: bytes = b"") -> bytes:
    """``EFI_LOAD_OPTION``: Attributes | FilePathListLength | Description (UTF-16, NUL) | paths | data."""
    return (
        struct.pack("<IH", attributes, len(device_path))
        + (description + "\0").encode("utf-16-le")
        + device_path
        + optional
    )


def default_boot_variables(ovmf: tuple[int, int]) -> tuple[tuple[str, bytes], ...]:
    """The Boot variables OVMF creates on a machine with no bootable device (measured order)."""
    if ovmf >= NEW_BOOT_OPTIONS_SINCE:
        return (
            ("BootOrder", struct.pack("<HH", 0, 1)),
            (
                "Boot0000",
                boot_option(
                    0x109, "BootManagerMenuApp", _device_path_fv_file(DXEFV_GUID, _BOOT_MANAGER_MENU_GUID)
                ),
            ),
            (
                "Boot0001",
                boot_option(0x101, "EFI Firmware Setup", _device_path_fv_file(DXEFV_GUID, _UIAPP_GUID)),
            ),
        )
    return (
        ("BootOrder", struct.pack("<H", 0)),
        ("Boot0000", boot_option(0x109, "UiApp", _device_path_fv_file(DXEFV_GUID, _UIAPP_GUID))),
    )


def table_loader_allocations(loader: bytes) -> list[str]:
    """File names of the ALLOCATE commands of a QEMU ``etc/table-loader``, in command order."""
    if len(loader) % 128:
        raise FormatError(
            f"table loader of {len(loader)} bytes is not a sequence of 128-byte commands", what="table-loader"
        )
    names = []
    for off in range(0, len(loader), 128):
        command = struct.unpack_from("<I", loader, off)[0]
        if command == 1:
            raw = loader[off + 4 : off + 60]
            names.append(raw.split(b"\0", 1)[0].decode("ascii", "replace"))
    return names


def db_authority_event_data(store: VariableStore, certificate: bytes) -> bytes:
    """The ``EV_EFI_VARIABLE_AUTHORITY`` event data for the ``db`` entry holding ``certificate`` (DER)."""
    db = store.get(EFI_IMAGE_SECURITY_DATABASE_GUID, "db")
    if db is None:
        raise InputError("the firmware's varstore has no db")
    for siglist in parse_signature_lists(db.data):
        for sig in siglist.signatures:
            if sig.data == certificate:
                return uefi_variable_data(EFI_IMAGE_SECURITY_DATABASE_GUID, "db", sig.to_bytes())
    raise InputError("the certificate is not in the firmware's db")


def _secure_boot_value(store: VariableStore, mode: str) -> bytes:
    if mode == SecureBootMode.ON:
        return b"\x01"
    if mode == SecureBootMode.OFF:
        return b"\x00"
    if mode == SecureBootMode.ABSENT:
        return b""
    if mode != SecureBootMode.AUTO:
        raise InputError(f"secure_boot must be one of {', '.join(SecureBootMode.ALL)}, not {mode!r}")
    if not store.authenticated:
        return b""
    return b"\x01" if store.get(EFI_GLOBAL_VARIABLE_GUID, "PK") is not None else b"\x00"


def cfv_event_data(cfv_bytes: bytes | memoryview, base: int, length: int) -> bytes:
    """``UEFI_PLATFORM_FIRMWARE_BLOB2`` for the varstore: ``u8 len | "Fv(NAME)\\0" | u64 base | u64 length``.

    NAME is the FV's FvName (upper case) or, without an extended header, OVMF's literal placeholder
    ``XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX``.
    """
    name = fv_name_guid(cfv_bytes)
    text = f"Fv({name.upper() if name else 'XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX'})\0".encode()
    return bytes([len(text)]) + text + struct.pack("<QQ", base, length)


def td_hob_event_data(hob_gpa: int) -> bytes:
    """``UEFI_HANDOFF_TABLE_POINTERS2`` "TdxTable" for the TD HOB at ``hob_gpa``."""
    return (
        bytes([9])
        + b"TdxTable\0"
        + struct.pack("<Q", 1)
        + guid_bytes(_TDX_TABLE_GUID)
        + struct.pack("<Q", hob_gpa)
    )


def _rtmr0(
    inputs: RtmrInputs, meta: TdvfMetadata, store: VariableStore | None, secure_boot: bool
) -> list[PlannedEvent]:
    v = inputs.versions
    events: list[PlannedEvent] = []
    hob_section = meta.td_hob
    if hob_section is None:
        raise InputError("the firmware has no TD_HOB section; RTMR0 prediction needs QEMU's TD HOB")
    hob = build_td_hob(meta, inputs.memory_size)
    hob_data = td_hob_event_data(hob_section.memory_address)
    events.append(
        PlannedEvent.of_digest(
            1, EV_EFI_HANDOFF_TABLES2, hob_data, td_hob_digest(hob), "TD HOB", source=DigestSource.EXTERNAL
        )
    )
    cfv = meta.cfv
    if cfv is None:
        raise InputError("the firmware has no CFV section; RTMR0 prediction needs the varstore")
    cfv_bytes = meta.raw_data(inputs.firmware, cfv)
    cfv_data = cfv_event_data(cfv_bytes, cfv.memory_address, cfv.raw_data_size)
    events.append(
        PlannedEvent.of_external(1, EV_EFI_PLATFORM_FIRMWARE_BLOB2, cfv_data, cfv_bytes, "CFV (varstore)")
    )

    if v.ovmf >= FW_CFG_MEASURED_SINCE:
        items = dict(inputs.fw_cfg) if inputs.fw_cfg is not None else {"BootMenu": bytes(2)}
        if inputs.fw_cfg is None and inputs.direct_boot:
            items["bootorder"] = _LINUXBOOT_BOOTORDER
        unknown = set(items) - {n for n, _ in _FW_CFG_ORDER}
        if unknown:
            raise InputError(f"OVMF does not measure fw_cfg item(s) {', '.join(sorted(unknown))}")
        for name, size in _FW_CFG_ORDER:
            blob = items.get(name)
            if not blob or (size and len(blob) != size):
                continue
            events.append(
                PlannedEvent.of_external(
                    1, EV_PLATFORM_CONFIG_FLAGS, fw_cfg_event_data(name), blob, f"fw_cfg {name}"
                )
            )

    sb_value = _secure_boot_value(store, inputs.secure_boot) if store is not None else b""
    sb_vars: list[tuple[str, str, bytes]] = [(EFI_GLOBAL_VARIABLE_GUID, "SecureBoot", sb_value)]
    for guid, name in (
        (EFI_GLOBAL_VARIABLE_GUID, "PK"),
        (EFI_GLOBAL_VARIABLE_GUID, "KEK"),
        (EFI_IMAGE_SECURITY_DATABASE_GUID, "db"),
        (EFI_IMAGE_SECURITY_DATABASE_GUID, "dbx"),
        (EFI_IMAGE_SECURITY_DATABASE_GUID, "dbt"),
    ):
        var = store.get(guid, name) if store is not None else None
        if name == "dbt" and var is None:
            continue
        sb_vars.append((guid, name, var.data if var is not None else b""))
    for guid, name, data in sb_vars:
        events.append(
            PlannedEvent.of_event_data(
                1, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_variable_data(guid, name, data), name
            )
        )
    events.append(PlannedEvent.of_event_data(1, EV_SEPARATOR, SEPARATOR_DATA, "separator"))

    if inputs.acpi is None:
        events.append(
            PlannedEvent.missing(
                1,
                EV_PLATFORM_CONFIG_FLAGS,
                b"ACPI DATA",
                "ACPI tables",
                inputs.acpi_note,
            )
        )
    else:
        acpi = inputs.acpi
        loader = acpi.loader + bytes(-len(acpi.loader) % 4096)
        events.append(
            PlannedEvent.of_external(
                1, EV_PLATFORM_CONFIG_FLAGS, b"ACPI DATA", loader, "ACPI etc/table-loader"
            )
        )
        blobs = {"etc/acpi/rsdp": acpi.rsdp, "etc/acpi/tables": acpi.tables, **acpi.extra}
        for name in table_loader_allocations(acpi.loader):
            blob = blobs.get(name)
            if blob is None:
                events.append(
                    PlannedEvent.missing(
                        1, EV_PLATFORM_CONFIG_FLAGS, b"ACPI DATA", f"ACPI {name}", "blob not given"
                    )
                )
            else:
                events.append(
                    PlannedEvent.of_external(1, EV_PLATFORM_CONFIG_FLAGS, b"ACPI DATA", blob, f"ACPI {name}")
                )

    for data in inputs.authority:
        events.append(PlannedEvent.of_event_data(1, EV_EFI_VARIABLE_AUTHORITY, data, "Secure Boot authority"))
    if secure_boot and inputs.boots_image and not inputs.authority:
        events.append(
            PlannedEvent.missing(
                1,
                EV_EFI_VARIABLE_AUTHORITY,
                b"",
                "Secure Boot authority",
                "Secure Boot is on: give the db certificate that verifies the kernel (shim in a disk boot)",
            )
        )

    if v.ovmf >= SMBIOS_MEASURED_SINCE:
        smbios_data = struct.pack("<Q", 1) + guid_bytes(_SMBIOS3_TABLE_GUID) + struct.pack("<Q", 0)
        note = "event data approximate (table address unknown)"
        if inputs.smbios is not None:
            events.append(
                PlannedEvent.of_external(1, EV_EFI_HANDOFF_TABLES, smbios_data, inputs.smbios, "SMBIOS", note)
            )
        elif inputs.smbios_digest is not None:
            events.append(
                PlannedEvent.of_digest(
                    1, EV_EFI_HANDOFF_TABLES, smbios_data, inputs.smbios_digest, "SMBIOS", note
                )
            )
        else:
            events.append(
                PlannedEvent.missing(
                    1,
                    EV_EFI_HANDOFF_TABLES,
                    smbios_data,
                    "SMBIOS",
                    inputs.smbios_note,
                )
            )

    if inputs.boot_variables is None and inputs.boot_variables_note is not None and inputs.disk_boot is None:
        # the caller knows the launch and that OVMF's defaults do not hold for it (a disk boot's
        # missing variables are reported by _disk_boot)
        events.append(
            PlannedEvent.missing(1, EV_EFI_VARIABLE_BOOT, b"", "boot variables", inputs.boot_variables_note)
        )
        return events
    boot = inputs.boot_variables
    if boot is None:
        boot, why = _image_fixed_entries(inputs)
        if boot is None:
            events.append(PlannedEvent.missing(1, EV_EFI_VARIABLE_BOOT, b"", "boot variables", why))
            return events
    for name, data in boot:
        events.append(
            PlannedEvent.of_digest(
                1,
                EV_EFI_VARIABLE_BOOT,
                uefi_variable_data(EFI_GLOBAL_VARIABLE_GUID, name, data),
                hashlib.sha384(data).digest(),
                name,
                source=DigestSource.VARIABLE_DATA,
            )
        )
    return events


def _image_fixed_entries(inputs: RtmrInputs) -> tuple[tuple[tuple[str, bytes], ...] | None, str]:
    """The boot variables when the caller gives none: those of a launch that connects no device before
    ReadyToBoot (a ``-kernel`` boot), i.e. the image's fixed entries
    (:func:`pvmkit.vendors.tdx.ovmf_boot_options.boot_variables`: which entries an image registers is
    read from it, e.g. the IntelTdx 2026.08 build has no "EFI Firmware Setup"); None and the reason
    where the image is outside that model."""
    from pvmkit.vendors.tdx.ovmf_boot_options import boot_variables

    try:
        return boot_variables(inputs.versions.ovmf, inputs.firmware, (), direct_boot=True), ""
    except InputError as e:
        return None, str(e)


# -- RTMR1/2 ----------------------------------------------------------------------------------------


def _below_4g(memory_size: int) -> int:
    return q35_ram_ranges(memory_size)[0][1]


def _kernel_bytes(inputs: RtmrInputs) -> tuple[ByteData, str]:
    assert inputs.kernel is not None
    if kernel_is_patched(inputs.versions.qemu, inputs.versions.ovmf):
        patched = qemu_patch_setup_header(
            inputs.kernel,
            below_4g=_below_4g(inputs.memory_size),
            cmdline=inputs.cmdline,
            initrd_size=len(inputs.initrd) if inputs.initrd is not None else None,
        )
        return patched, "QEMU-patched setup header"
    return inputs.kernel, "original file"


#: what a prediction without a boot path asks for (docs/cli.md lists the options of each path)
_NO_BOOT_PATH = (
    "none given: a kernel (--kernel, direct boot), a UKI (--uki, --esp), a disk image "
    "(--disk-image), or their digests"
)


def _rtmr1(inputs: RtmrInputs) -> list[PlannedEvent]:
    if not inputs.direct_boot:
        return [
            PlannedEvent.missing(
                2,
                EV_EFI_BOOT_SERVICES_APPLICATION,
                b"",
                "boot path",
                _NO_BOOT_PATH,
            )
        ]
    if inputs.kernel is None:
        assert inputs.kernel_authenticode is not None
        digest, which, size = inputs.kernel_authenticode, "Authenticode digest given", 0
        source = DigestSource.GIVEN
    else:
        kernel, which = _kernel_bytes(inputs)
        digest, size, source = authenticode_digest(kernel), len(kernel), DigestSource.EXTERNAL
    image_event = struct.pack("<QQQQ", 0, size, 0, 0)
    return [
        PlannedEvent.of_digest(
            2,
            EV_EFI_BOOT_SERVICES_APPLICATION,
            image_event,
            digest,
            "kernel (Authenticode)",
            f"{which}; event data approximate (load address and device path unknown)",
            source,
        ),
        PlannedEvent.of_event_data(2, EV_EFI_ACTION, ACTION_CALLING_EFI_APP, "EFI action"),
        PlannedEvent.of_event_data(2, EV_SEPARATOR, SEPARATOR_DATA, "separator"),
        PlannedEvent.of_event_data(2, EV_EFI_ACTION, ACTION_EBS_INVOCATION, "EFI action"),
        PlannedEvent.of_event_data(2, EV_EFI_ACTION, ACTION_EBS_SUCCESS, "EFI action"),
    ]


def _tagged(tag: int, description: bytes) -> bytes:
    return struct.pack("<II", tag, len(description)) + description


def _rtmr2(inputs: RtmrInputs) -> list[PlannedEvent]:
    if not inputs.direct_boot:
        return [PlannedEvent.missing(3, EV_EVENT_TAG, b"", "boot path", _NO_BOOT_PATH)]
    if inputs.versions.linux < (6, 9):
        return []
    has_initrd = inputs.initrd_sha384 is not None or (inputs.initrd is not None and len(inputs.initrd) > 0)
    options_data = _tagged(_TAG_LOAD_OPTIONS, b"LOADED_IMAGE::LoadOptions\0")
    if inputs.load_options_sha384 is not None:
        options_event = PlannedEvent.of_digest(
            3, EV_EVENT_TAG, options_data, inputs.load_options_sha384, "kernel LoadOptions", "digest given"
        )
    else:
        options = load_options(inputs.cmdline, initrd=has_initrd, ovmf=inputs.versions.ovmf, shim=inputs.shim)
        options_event = PlannedEvent.of_external(3, EV_EVENT_TAG, options_data, options, "kernel LoadOptions")
    events = [options_event]
    initrd_data = _tagged(_TAG_INITRD, b"Linux initrd\0")
    if inputs.initrd_sha384 is not None:
        events.append(
            PlannedEvent.of_digest(
                3, EV_EVENT_TAG, initrd_data, inputs.initrd_sha384, "initrd", "digest given"
            )
        )
    elif has_initrd:
        assert inputs.initrd is not None
        events.append(PlannedEvent.of_external(3, EV_EVENT_TAG, initrd_data, inputs.initrd, "initrd"))
    return events


def _varstore(firmware: bytes, meta: TdvfMetadata) -> VariableStore | None:
    cfv = meta.cfv
    return parse_varstore(meta.raw_data(firmware, cfv)) if cfv is not None else None


def secure_boot_enabled(firmware: bytes, mode: str = SecureBootMode.AUTO) -> bool:
    """Whether the TD boots with Secure Boot on (``SecureBoot`` = 1), for a ``--secure-boot`` mode."""
    store = _varstore(firmware, parse_tdvf(firmware))
    return store is not None and _secure_boot_value(store, mode) == b"\x01"


def build_event_log_plan(inputs: RtmrInputs) -> EventLogPlan:
    """The predicted CC event log (RTMR0..2 events in logged order per register)."""
    meta = parse_tdvf(inputs.firmware)
    store = _varstore(inputs.firmware, meta)
    secure_boot = store is not None and _secure_boot_value(store, inputs.secure_boot) == b"\x01"
    warnings: list[str] = []
    if secure_boot and inputs.direct_boot and inputs.versions.ovmf >= (2025, 9):
        warnings.append(
            "Secure Boot is on and this OVMF refuses the legacy kernel loader in confidential VMs: "
            "a plain -kernel boot fails unless QEMU uses -shim"
        )
    events = _rtmr0(inputs, meta, store, secure_boot)
    if inputs.disk_boot is not None:
        events += _disk_boot(inputs, inputs.disk_boot)
    else:
        events += _rtmr1(inputs) + _rtmr2(inputs)
    return EventLogPlan(tuple(events), tuple(warnings))


def _disk_boot(inputs: RtmrInputs, boot: tuple[PlannedEvent, ...]) -> list[PlannedEvent]:
    """Ready-to-boot (the action and the RTMR1 separator, as the GCE log of a current OVMF has them;
    a 2023 TDVF logs no RTMR1 separator) and the disk boot's events. A disk boot's boot variables and
    QEMU ``bootorder`` name the disk: without them (given, or made from the launch by the caller)
    RTMR0 is unknown."""
    events: list[PlannedEvent] = []
    if inputs.boot_variables is None or inputs.fw_cfg is None:
        note = inputs.boot_variables_note or (
            "a disk boot's Boot#### and fw_cfg bootorder name the disk: give --boot-var and --fw-cfg"
        )
        events.append(PlannedEvent.missing(1, EV_EFI_VARIABLE_BOOT, b"", "boot options of a disk boot", note))
    events.append(PlannedEvent.of_event_data(2, EV_EFI_ACTION, ACTION_CALLING_EFI_APP, "EFI action"))
    events.append(PlannedEvent.of_event_data(2, EV_SEPARATOR, SEPARATOR_DATA, "separator"))
    return events + list(boot)


def predict_rtmrs(inputs: RtmrInputs) -> tuple[bytes | None, ...]:
    """RTMR0..3 (None where an input is missing)."""
    return build_event_log_plan(inputs).rtmrs()
