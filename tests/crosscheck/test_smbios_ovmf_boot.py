"""The SMBIOS event of a real OVMF boot against pvmkit's table (pvmkit.vendors.tdx.smbios_ovmf), and
the boot variables of a direct (``-kernel``) boot against pvmkit's (ovmf_boot_options).

Oracle: Debian's TPM-enabled OVMF (sid's ``ovmf-generic``, ``PVMKIT_OVMF_TPM``; the edk2 release of
the fixtures' ``ovmf-inteltdx``, with the same SmbiosPlatformDxe, SmbiosDxe and SmbiosMeasurementDxe)
booted under TCG by Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) with bookworm's swtpm (``PVMKIT_SWTPM``),
``-kernel`` a shim (tests/support/ovmf_boot.py). Guest RAM is saved through the monitor; the TCG2 log
in it has SmbiosMeasurementDxe's PCR 1 event, whose SHA-256 and SHA-384 digests must be those of the
table pvmkit computes for the same machine (QEMU's q35 SMBIOS for 1 vCPU of ``qemu64`` and 256 MiB,
OVMF's type 0 and filter as read from the image). The same boot has a virtio-blk disk with
``bootindex=1`` and a virtio-net NIC: a direct boot still measures only the fixed boot entries (OVMF
signals ReadyToBoot for the kernel before it connects devices or registers the Shell).
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.ovmf_boot_options import boot_variables
from pvmkit.vendors.tdx.smbios_ovmf import measured_smbios, read_firmware
from support.fixtures import read_fixture
from support.ovmf_boot import (
    EV_EFI_HANDOFF_TABLES,
    MEMORY,
    boot_and_save_ram,
    boot_variable_events,
    boot_variables_complete,
    generic_ovmf_code,
    pcr_events,
    peer_path,
)

pytestmark = [pytest.mark.crosscheck, pytest.mark.slow]

SMBIOS_GUID = bytes.fromhex("312d9deb882dd3119a160090273fc14d")  # eb9d2d31-2d88-11d3-9a16-0090273fc14d
MAC = bytes.fromhex("525400123456")


def _smbios_events(ram: bytes) -> list[tuple[dict[int, bytes], bytes]]:
    return [(d, data) for d, data in pcr_events(ram, 1, EV_EFI_HANDOFF_TABLES) if data[8:24] == SMBIOS_GUID]


def test_ovmf_measures_the_table_pvmkit_computes() -> None:
    from pvmkit.vendors.tdx.smbios_qemu import QEMU64_PROCESSOR_ID, qemu_smbios_blobs

    code = generic_ovmf_code()
    shim = peer_path("PVMKIT_PE_SAMPLES") / "shimx64.efi.signed"
    facts = read_firmware(code.read_bytes())
    tdx = read_firmware(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    assert facts.strings == tdx.strings and facts.filters == tdx.filters  # the TDX build's drivers
    assert facts.strings is not None and facts.filters is not None
    tables = qemu_smbios_blobs((10, 0), 1, MEMORY, QEMU64_PROCESSOR_ID).tables
    expected = measured_smbios(tables, facts.strings, facts.filters)

    devices = [
        "-drive", "if=none,id=d1,format=raw,file={d1}",
        "-device", "virtio-blk-pci,drive=d1,addr=0x3,bootindex=1",
        "-netdev", "user,id=n1",
        "-device", "virtio-net-pci,netdev=n1,romfile=,addr=0x4,mac=52:54:00:12:34:56",
    ]  # fmt: skip
    ram = boot_and_save_ram(
        code,
        code.parent / "OVMF_VARS_4M.fd",
        ["-kernel", str(shim), *devices],
        disks=[("d1", 1 << 20)],
        until=lambda ram: boot_variables_complete(ram) and bool(_smbios_events(ram)),
    )
    smbios = _smbios_events(ram)
    assert len(smbios) == 1, "one SMBIOS event in the TCG2 log"
    digests, data = smbios[0]
    assert struct.unpack_from("<Q", data)[0] == 1 and len(data) == 32  # EFI_HANDOFF_TABLE_POINTERS, 1 table
    assert digests[0x000B] == hashlib.sha256(expected).digest()
    assert digests[0x000C] == hashlib.sha384(expected).digest()

    launch = [BootDevice("virtio-blk-pci", 3, bootindex=1), BootDevice("virtio-net-pci", 4, mac=MAC)]
    generated = boot_variables((2026, 8), code.read_bytes(), launch, direct_boot=True)
    assert [(name, value) for _d, name, value in boot_variable_events(ram)] == list(generated)
