"""The QEMU 8.2.2 and 9.2.1 differences of the TDX q35 ACPI tables, proven on real captures.

QEMU 10.0.2 (Debian's, ``PVMKIT_QEMU``) builds the blobs for each captured shape; the differences
documented in docs/tdx-measure.md "QEMU versions" (tests/support/qemu_acpi_versions.py, each citing
the QEMU change) turn them into the older version's, and all three ACPI digests of dstack's real TDs
must come out (fixtures tdx-qemu-logs/, values and provenance in tests/vectors/README.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex

import pytest

from pvmkit.vendors.tdx.acpi.versions import acpi_profile
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from support.fixtures import fixture_path
from support.qemu import DSTACK_CDROM_DEVICES, DSTACK_DEVICES, GPU_TD_DEVICES, qemu_binary
from support.qemu_acpi_versions import (
    cscn_method,
    find_method,
    pdsm_method,
    transform_blobs,
)

GIB = 1 << 30
FILES = ("etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables")

QEMU_8_2 = acpi_profile((8, 2, 2))  # the generator's profiles, proven here
QEMU_9_2 = acpi_profile((9, 2, 1))

# dstack's QEMU 8.2.2 TD, 1 vCPU, 2 GiB (values only: fixtures README, "tdx-lite-normalized-attestation")
DIGESTS_8_2_2_1CPU = (
    "39740da2ea1e7e6c69e5e6569755b2ad6d622a8a9983a2c5b32d5574659dbdc4ca8b95b1c766bd610bc5c26dcde842f8",
    "6385b89d2decb3de678d51faba0ff3506835915818fd3ee53a739aa678cd9c76bdd755adfa0aa714cf35a1abe062b253",
    "05705c3ca9d71e908d5ce70d4331b6aadce5331b9a6a546f222f017fb0e1797b951a3dac72f59cb197a0c897a201ca07",
)


def _dumper(devices: str) -> QemuAcpiDumper:
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    return QemuAcpiDumper(qemu_binary(), firmware, tuple(shlex.split(devices)))


def _digests(files: dict[str, bytes]) -> tuple[str, ...]:
    return tuple(hashlib.sha384(files[name]).hexdigest() for name in FILES)


def _acpi_event_digests(fixture: str) -> tuple[str, ...]:
    """The three "ACPI DATA" event digests (RTMR0, EV_PLATFORM_CONFIG_FLAGS) of a dstack capture."""
    document = json.loads(fixture_path(fixture).read_text())
    events = json.loads(document["event_log"])
    acpi = [e["digest"] for e in events if e["imr"] == 0 and e["event_type"] == 10]
    assert len(acpi) == 3
    return tuple(acpi)


@pytest.fixture(scope="module")
def qemu_10_0_dstack() -> dict[int, dict[str, bytes]]:
    """QEMU 10.0.2's blobs for dstack's QEMU 8.2.2 shapes: 1 and 2 vCPUs, 2 GiB (pic off, as TDX
    forces it upstream; QEMU 8.2's tables do not depend on it)."""
    dumper = _dumper(DSTACK_DEVICES)
    return {n: dumper.dump(AcpiShape(vcpus=n, memory_size=2 * GIB, pic=False)) for n in (1, 2)}


def test_the_encoder_writes_qemu_10_0_methods_byte_for_byte(
    qemu_10_0_dstack: dict[int, dict[str, bytes]],
) -> None:
    """The AML encoder of the differences is checked against QEMU itself before it writes old forms."""
    for vcpus, files in qemu_10_0_dstack.items():
        tables = files["etc/acpi/tables"]
        dsdt_len = int.from_bytes(tables[0x44:0x48], "little")
        dsdt = tables[0x40 : 0x40 + dsdt_len]
        start, end = find_method(dsdt, "CSCN")
        assert dsdt[start:end] == cscn_method(vcpus, queued_eject=True)
        start, end = find_method(dsdt, "PDSM")
        assert dsdt[start:end] == pdsm_method(empty_label_unless_indexed=True)


def test_qemu_8_2_2_one_vcpu_all_three_digests(qemu_10_0_dstack: dict[int, dict[str, bytes]]) -> None:
    old = transform_blobs(qemu_10_0_dstack[1], QEMU_8_2, cpu_count=1)
    assert _digests(old) == DIGESTS_8_2_2_1CPU
    rsdt = int.from_bytes(old["etc/acpi/rsdp"][16:20], "little")
    assert rsdt == 0x2288  # 25 bytes after QEMU 10.0's 0x226f: DSDT -0x55, MADT +0x6e


def test_qemu_8_2_2_two_vcpus_all_three_digests(qemu_10_0_dstack: dict[int, dict[str, bytes]]) -> None:
    expected = _acpi_event_digests("tdx-qemu-logs/dstack/dstack/verifier/fixtures/tdx-lite-getquote.json")
    assert _digests(transform_blobs(qemu_10_0_dstack[2], QEMU_8_2, cpu_count=2)) == expected


@pytest.mark.parametrize(
    "flag",
    [
        "queued_cpu_eject",
        "pci_dsm_label_only_with_index",
        "edge_triggered_interrupts",
        "madt_pcat_compat_always",
    ],
)
def test_every_qemu_8_2_difference_is_needed(
    qemu_10_0_dstack: dict[int, dict[str, bytes]], flag: str
) -> None:
    """Each flag of the 8.2 profile flipped alone loses the tables digest."""
    flipped = dataclasses.replace(QEMU_8_2, **{flag: not getattr(QEMU_8_2, flag)})
    assert _digests(transform_blobs(qemu_10_0_dstack[1], flipped, cpu_count=1))[2] != DIGESTS_8_2_2_1CPU[2]


def test_qemu_8_2_sets_pcat_compat_whatever_pic() -> None:
    """Before QEMU 9.1 the MADT's PCAT_COMPAT flag did not follow ``pic``: QEMU 10.0's blobs for
    pic=on give the 8.2.2 digests with the 8.2 profile as well as those for pic=off (the only
    difference pic makes in QEMU 10.0's tables is that flag)."""
    files = _dumper(DSTACK_DEVICES).dump(AcpiShape(vcpus=1, memory_size=2 * GIB, pic=True))
    assert _digests(transform_blobs(files, QEMU_8_2, cpu_count=1)) == DIGESTS_8_2_2_1CPU


def test_qemu_9_2_1_gpu_td_all_three_digests() -> None:
    """dstack's production GPU TD (QEMU 9.2.1, 16 vCPUs, 64 GiB, pic off, hotplug off, 16 TiB hole,
    one passthrough GPU): QEMU 10.0.2's blobs with the pre-10.0 CPU scan method are its blobs."""
    expected = _acpi_event_digests("tdx-qemu-logs/dstack/dstack/verifier/fixtures/quote-report.json")
    files = _dumper(GPU_TD_DEVICES).dump(AcpiShape(vcpus=16, memory_size=64 * GIB, pic=False))
    assert _digests(files) != expected  # QEMU 10.0 as it is: the CPU scan method differs
    assert _digests(transform_blobs(files, QEMU_9_2, cpu_count=16)) == expected


def test_dstack_late_2024_ccel_matches_the_8_2_profile() -> None:
    """dstack's raw CCEL sample of November 2024 (no stated QEMU version or shape): its three ACPI
    digests are QEMU 10.0.2's blobs with the 8.2 profile for 1 vCPU, 1 GiB and dstack's
    devices with the root image as a CD-ROM. The tables digest pins the RAM below 4 GiB (the DSDT's
    32-bit window starts there), the loader and RSDP digests the table sizes."""
    from pvmkit.formats.ccel import EventLog

    log = EventLog.parse(
        fixture_path("tdx-qemu-logs/dstack/dstack/cc-eventlog/samples/ccel.bin").read_bytes()
    )
    expected = tuple(
        next(d.digest.hex() for d in e.digests if len(d.digest) == 48)
        for e in log
        if e.mr_index == 1 and e.event_type == 10
    )
    assert len(expected) == 3
    files = _dumper(DSTACK_CDROM_DEVICES).dump(AcpiShape(vcpus=1, memory_size=1 * GIB, pic=False))
    assert _digests(transform_blobs(files, QEMU_8_2, cpu_count=1)) == expected


@pytest.mark.parametrize("machine_type", ["pc-q35-7.2", "pc-q35-8.2", "pc-q35-9.2"])
def test_older_machine_types_give_the_same_tables(
    qemu_10_0_dstack: dict[int, dict[str, bytes]], machine_type: str
) -> None:
    """The version differences are code changes, not compat properties: QEMU 10.0.2's older q35
    machine types (hw/i386/pc_q35.c, their compat property lists) build the same three blobs as
    plain ``q35`` for dstack's shape, so the machine type is no input of the generator."""
    files = _dumper(DSTACK_DEVICES + f" -machine type={machine_type}").dump(
        AcpiShape(vcpus=1, memory_size=2 * GIB, pic=False)
    )
    acpi = ("etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables")  # SMBIOS names the machine type
    assert {n: files[n] for n in acpi} == {n: qemu_10_0_dstack[1][n] for n in acpi}
