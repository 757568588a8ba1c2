"""``measure --vendor tdx --rtmr``: the SMBIOS table OVMF >= stable202505 measures into RTMR0, from
QEMU's SMBIOS (pvmkit's generator or the ``--qemu-binary``) instead of a capture (docs/tdx-measure.md
"SMBIOS").

Inputs beyond the shape: the vCPU model's Processor ID (``--smbios-processor-id``; type 4 carries it
and the filter keeps it) and the firmware's type 0 strings (read from the image, or given).
``--smbios`` / ``--smbios-digest`` override all of it. A missing input or an OVMF release whose SMBIOS
handling is not modelled leaves RTMR0 unknown with the reason.
"""

from __future__ import annotations

import argparse
import hashlib

from pvmkit.cli._common import UsageError, parse_hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SMBIOS_MODELLED_OVMF",
    "SmbiosSource",
    "add_smbios_options",
    "check_smbios_options",
    "table_sha384",
]

#: OVMF releases whose SMBIOS measurement is modelled: from SmbiosMeasurementDxe's arrival in the
#: build (stable202505) to the newest release read (Debian's 2026.08, the fixture firmware).
SMBIOS_MODELLED_OVMF = ((2025, 5), (2026, 8))
_STRING_OPTIONS = ("firmware_vendor", "firmware_version_string", "firmware_release_date")


def add_smbios_options(g: Any) -> None:
    g.add_argument(
        "--smbios-processor-id",
        metavar="HEX",
        help="Processor ID of the TD's vCPU model in SMBIOS type 4: 8 bytes, CPUID leaf 1 EAX then EDX "
        "(dmidecode -t 4 'ID' of a guest on that host and QEMU); with --vcpus or --qemu-binary pvmkit "
        "builds QEMU's SMBIOS and the table OVMF measures",
    )
    g.add_argument(
        "--firmware-vendor",
        metavar="S",
        help="OVMF's PcdFirmwareVendor (SMBIOS type 0; default: from the image)",
    )
    g.add_argument(
        "--firmware-version-string",
        metavar="S",
        help="OVMF's PcdFirmwareVersionString (SMBIOS type 0; default: from the image)",
    )
    g.add_argument(
        "--firmware-release-date",
        metavar="S",
        help="OVMF's PcdFirmwareReleaseDateString (SMBIOS type 0; default: from the image)",
    )


def check_smbios_options(args: argparse.Namespace) -> bytes | None:
    """The Processor ID option as bytes (a usage error before any file is read)."""
    given = [getattr(args, n) is not None for n in _STRING_OPTIONS]
    if any(given) and not all(given):
        raise UsageError(
            "give all three of --firmware-vendor, --firmware-version-string, --firmware-release-date"
        )
    if args.smbios_processor_id is None:
        return None
    text = args.smbios_processor_id.replace(" ", "").replace(":", "")
    return parse_hex(text, 8, "--smbios-processor-id")


class SmbiosSource:
    """Makes the measured SMBIOS table of each shape, or says why it cannot."""

    def __init__(self, args: argparse.Namespace, firmware: bytes, ovmf: tuple[int, int], origin: str) -> None:
        self.processor_id = check_smbios_options(args)
        self.origin = origin  #: "generator" or "qemu"
        self.captured = bool(args.smbios or args.smbios_digest)
        self.measured = ovmf >= SMBIOS_MODELLED_OVMF[0] and not self.captured
        self.strings: Any = None
        self.filters: Any = None
        self.note = ""
        if not self.measured:
            return
        if ovmf > SMBIOS_MODELLED_OVMF[1]:
            last = SMBIOS_MODELLED_OVMF[1]
            self.note = (
                f"OVMF {ovmf[0]}.{ovmf[1]:02d}'s SMBIOS measurement is not modelled (modelled: 2025.05 to "
                f"{last[0]}.{last[1]:02d}): give --smbios or --smbios-digest"
            )
        elif self.processor_id is None:
            self.note = (
                "OVMF ≥ stable202505 measures SMBIOS: give --smbios-processor-id (the vCPU model's CPUID "
                "leaf 1 EAX, EDX), or --smbios / --smbios-digest"
            )
        else:
            self.note = self._read_firmware(args, firmware)

    def _read_firmware(self, args: argparse.Namespace, firmware: bytes) -> str:
        """Takes the type 0 strings and the measurement filter from the image; the reason if not."""
        from pvmkit.vendors.tdx.smbios_ovmf import FirmwareStrings, read_firmware

        facts = read_firmware(firmware)
        self.filters = facts.filters
        if args.firmware_vendor is not None:
            vendor, version, date = (getattr(args, n) for n in _STRING_OPTIONS)
            self.strings = FirmwareStrings(vendor, version, date)
        else:
            self.strings = facts.strings
        if self.filters is None:
            return (
                "the image has no SmbiosMeasurementDxe filter table pvmkit can read: give --smbios or "
                "--smbios-digest"
            )
        if self.strings is None:
            return (
                "the firmware's SMBIOS type 0 strings are not found in the image: give "
                "--firmware-vendor, --firmware-version-string and --firmware-release-date"
            )
        return ""

    def table(
        self,
        qemu: tuple[int, ...],
        vcpus: int | None,
        memory_size: int,
        qemu_tables: bytes | None = None,
        sockets: int = 1,
    ) -> tuple[bytes | None, str]:
        """(the table OVMF measures for one shape or None, why not). With ``qemu_tables`` (a QEMU
        binary's ``etc/smbios/smbios-tables``) only the Processor ID is replaced. With an ``-smp``
        topology, ``vcpus`` is its ``maxcpus`` and ``sockets`` its sockets: QEMU's type 4 structures
        follow the sockets and the threads per socket (hw/smbios/smbios.c, ``ms->smp``; QEMU's own
        tables carry one type 4 per socket, which ``set_processor_id`` counts)."""
        if not self.measured or self.note:
            return None, self.note
        if vcpus is None:
            return None, "SMBIOS from QEMU's tables needs --vcpus (type 4 depends on the vCPU count)"
        from pvmkit.vendors.tdx.smbios_ovmf import measured_smbios
        from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs, set_processor_id

        assert self.processor_id is not None
        if qemu_tables is None:
            tables = qemu_smbios_blobs(qemu, vcpus, memory_size, self.processor_id, sockets).tables
        else:
            tables = set_processor_id(qemu_tables, self.processor_id, qemu, vcpus)
        return measured_smbios(tables, self.strings, self.filters), ""

    def describe(self) -> dict[str, object]:
        """The SMBIOS inputs for the JSON document (docs/cli.md)."""
        if self.captured:
            source = "captured"
        elif not self.measured:
            source = None
        else:
            source = None if self.note else self.origin
        return {
            "source": source,
            "processor_id": None if self.processor_id is None else self.processor_id.hex(),
            "firmware_strings": None if self.strings is None else self.strings.as_dict(),
            "note": self.note or None,
        }


def table_sha384(table: bytes | None) -> str | None:
    return None if table is None else hashlib.sha384(table).hexdigest()
