"""pvmkit's own QEMU ACPI generator (pvmkit.vendors.tdx.acpi) against QEMU itself and real TDs.

Oracles:
* Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) run under qtest with the chipset programmed as TDVF programs
  it (``QemuAcpiDumper``; tests/support/qemu_machine.py turns a machine into QEMU options): all three
  blobs must be byte-equal, for a grid of shapes and device sets, and for QEMU command lines read by
  ``parse_qemu_args`` and given to QEMU as they are;
* the three ACPI digests of real QEMU-launched dstack TDs (fixtures tdx-qemu-logs/; values and
  provenance in tests/vectors/README.md): QEMU 10.2.1, 8.2.2 (1 and 2 vCPUs) and the 8.2 CCEL sample.
"""

from __future__ import annotations

import hashlib
import shlex
import struct

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.build import ACPI_FILES, acpi_blobs, assemble_blobs
from pvmkit.vendors.tdx.acpi.machine import DSTACK_DEVICES, PciFunction, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.qemu_args import DSTACK_LAUNCH, parse_qemu_args
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES as DSTACK_QEMU_ARGS
from support.qemu import GPU_TD_DEVICES, qemu_binary
from support.qemu_machine import qemu_blobs

GIB = 1 << 30

# (vCPUs, GiB, pic): the vCPU counts around QEMU's thresholds (8: the FADT's cluster model; 255:
# x2APIC entries and the x2APIC NMI), the bench's memory sizes (2 GiB below the 4 GiB split, 16 and
# 64 above it), pic on and off; dstack's devices.
SHAPES = [
    (1, 2, False),
    (2, 2, True),
    (8, 16, False),
    (9, 16, True),
    (17, 64, False),
    (255, 2, True),
    (256, 16, False),
    (288, 64, True),
]

_BLK, _NET, _RNG = "virtio-blk-pci", "virtio-net-pci", "virtio-rng-pci"
# Device sets and options beyond dstack's: no serial, ACPI PCI hotplug off, a 64 GiB hole, a
# multi-function slot, a high slot, a single device.
VARIANTS = {
    "no-serial": {"serial": False},
    "hotplug-off": {"pci_hotplug_bridge_support": False},
    "hole64-64g": {"pci_hole64_size": 64 * GIB},
    "multifunction": {"devices": (PciFunction(1, 0, _BLK), PciFunction(3, 0, _NET), PciFunction(3, 1, _RNG))},
    "slot-0x1e": {"devices": (PciFunction(0x1E, 0, _NET), PciFunction(2, 0, _BLK))},
    "one-device": {"devices": (PciFunction(1, 0, _RNG),)},
}


def _machine(vcpus: int, gib: int, pic: bool, **kw: object) -> QemuTdxMachine:
    return QemuTdxMachine((10, 0), vcpus, gib * GIB, pic, **kw)  # type: ignore[arg-type]


def _assert_equal(ours: dict[str, bytes], qemu: dict[str, bytes]) -> None:
    assert list(ours) == list(ACPI_FILES)
    for name in ACPI_FILES:
        assert ours[name] == qemu[name], name


@pytest.mark.parametrize(("vcpus", "gib", "pic"), SHAPES)
def test_generator_equals_qemu(vcpus: int, gib: int, pic: bool) -> None:
    machine = _machine(vcpus, gib, pic)
    _assert_equal(acpi_blobs(machine), qemu_blobs(machine))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generator_equals_qemu_for_other_machines(variant: str) -> None:
    machine = _machine(3, 4, False, **VARIANTS[variant])
    _assert_equal(acpi_blobs(machine), qemu_blobs(machine))


def test_non_dsdt_parts_around_qemus_dsdt() -> None:
    """The tables, loader and RSDP alone: assembled around QEMU's own DSDT."""
    machine = _machine(256, 2, True)
    qemu = qemu_blobs(machine)
    tables = qemu["etc/acpi/tables"]
    assert tables[64:68] == b"DSDT"  # after the 64-byte FACS
    dsdt_body = tables[100 : 64 + struct.unpack_from("<I", tables, 68)[0]]
    _assert_equal(assemble_blobs(machine, dsdt_body), qemu)


# QEMU command lines as users give them to --qemu-args, run by QEMU as they are.
COMMAND_LINES = {
    "dstack": DSTACK_QEMU_ARGS,
    "dstack-cdrom": DSTACK_QEMU_ARGS.rsplit(" -drive ", 1)[0] + " -cdrom /bin/sh",
    "addr-and-globals": (
        "-nodefaults -serial none -device virtio-net-pci,netdev=n0,romfile=,addr=0x2 -netdev user,id=n0 "
        "-device virtio-rng-pci -device virtio-rng-pci,addr=4.0,multifunction=on "
        "-device driver=virtio-rng-pci,addr=04.1 -device virtio-rng-pci "
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -global q35-pcihost.pci-hole64-size=64G"
    ),
    # a disk boot's launch: the boot disk at a given slot with a bootindex, a NIC with its MAC (the
    # DSDT's slot AML does not name the device kind, nor does bootindex or mac reach the tables)
    "disk-boot": (
        "-drive file=/bin/sh,if=none,id=hd0,format=raw,readonly=on "
        "-device virtio-blk-pci,drive=hd0,addr=0x3,bootindex=1 -netdev user,id=n0 "
        "-device virtio-net-pci,netdev=n0,romfile=,mac=02:00:00:00:00:01,bootindex=2"
    ),
    "root-port": (
        "-device virtio-rng-pci -device pcie-root-port,id=rp0,chassis=1 "
        "-device virtio-net-pci,bus=rp0,romfile= -netdev user,id=n0 -device virtio-rng-pci"
    ),
}


@pytest.mark.parametrize("name", sorted(COMMAND_LINES))
def test_qemu_args_place_devices_as_qemu_does(name: str) -> None:
    words = shlex.split(COMMAND_LINES[name])
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    qemu = QemuAcpiDumper(qemu_binary(), firmware, tuple(words)).dump(AcpiShape(2, 2 * GIB, False))
    _assert_equal(acpi_blobs(parse_qemu_args(words).machine((10, 0), 2, 2 * GIB, False)), qemu)


def _digests(files: dict[str, bytes]) -> tuple[str, ...]:
    return tuple(hashlib.sha384(files[name]).hexdigest() for name in ACPI_FILES)


# The three ACPI event digests (table-loader, RSDP, tables) of real dstack TDs (tests/vectors/README.md).
DIGESTS_10_2_1_1CPU_2G = (  # QEMU 10.2.1, 1 vCPU, 2 GiB ("normalized-qemu-10-2" capture)
    "d8c90b5d0f756dcd707c190313b44e3129abc6c20118efdd32b78f84fa64a6c51396fa43debc993dec00b85718bf7491",
    "ab0063753f886063d08d1e65031fdcd12e210764b476210edf90e006af701c20df1710ab3fcb7dee651727f4a369f29a",
    "8583382b5eb22b3b7b8194777aa82ae7060c6b5e8387ee59926a9dc429e1069a9215c24dd299cee42611fd1960711c50",
)
DIGESTS_8_2_2_1CPU_2G = (  # QEMU 8.2.2, 1 vCPU, 2 GiB ("tdx-lite-normalized-attestation")
    "39740da2ea1e7e6c69e5e6569755b2ad6d622a8a9983a2c5b32d5574659dbdc4ca8b95b1c766bd610bc5c26dcde842f8",
    "6385b89d2decb3de678d51faba0ff3506835915818fd3ee53a739aa678cd9c76bdd755adfa0aa714cf35a1abe062b253",
    "05705c3ca9d71e908d5ce70d4331b6aadce5331b9a6a546f222f017fb0e1797b951a3dac72f59cb197a0c897a201ca07",
)
GPU_QUOTE_REPORT = "tdx-qemu-logs/dstack/dstack/verifier/fixtures/quote-report.json"  # 9.2.1 GPU TD
LITE_GETQUOTE = "tdx-qemu-logs/dstack/dstack/verifier/fixtures/tdx-lite-getquote.json"  # 8.2.2, 2 vCPUs
CCEL_SAMPLE = "tdx-qemu-logs/dstack/dstack/cc-eventlog/samples/ccel.bin"  # 8.2, 1 vCPU, 1 GiB, CD-ROM


def _event_log_digests(fixture: str) -> tuple[str, ...]:
    import json

    events = json.loads(json.loads(fixture_path(fixture).read_text())["event_log"])
    acpi = tuple(e["digest"] for e in events if e["imr"] == 0 and e["event_type"] == 10)
    assert len(acpi) == 3
    return acpi


def _ccel_digests(fixture: str) -> tuple[str, ...]:
    from pvmkit.formats.ccel import EventLog

    log = EventLog.parse(fixture_path(fixture).read_bytes())
    acpi = tuple(
        next(d.digest.hex() for d in e.digests if len(d.digest) == 48)
        for e in log
        if e.mr_index == 1 and e.event_type == 10
    )
    assert len(acpi) == 3
    return acpi


def test_real_qemu_10_2_1_td() -> None:
    """dstack's launch (its real vhost-vsock device, which QEMU cannot run here) at 1 vCPU, 2 GiB."""
    assert _digests(acpi_blobs(DSTACK_LAUNCH.machine((10, 2), 1, 2 * GIB, False))) == DIGESTS_10_2_1_1CPU_2G


@pytest.mark.parametrize("version", [(10, 0), (10, 1)])
def test_profiles_equal_to_10_2_give_the_real_10_2_1_td(version: tuple[int, int]) -> None:
    """QEMU 10.0 and 10.1 build 10.2's tables (docs/tdx-measure.md "QEMU versions": no change reaches
    them in between): their profiles give the real 10.2.1 TD's three digests, and the same blobs as
    10.2 for a many-vCPU, hotplug-off machine behind a root port."""
    assert _digests(acpi_blobs(DSTACK_LAUNCH.machine(version, 1, 2 * GIB, False))) == DIGESTS_10_2_1_1CPU_2G
    words = shlex.split(
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -device pcie-root-port,id=rp,chassis=1 "
        "-device virtio-net-pci,bus=rp -device virtio-blk-pci,drive=d -drive if=none,id=d"
    )
    launch = parse_qemu_args(words)
    assert acpi_blobs(launch.machine(version, 300, 64 * GIB, False)) == acpi_blobs(
        launch.machine((10, 2), 300, 64 * GIB, False)
    )


@pytest.mark.parametrize("pic", [True, False])
@pytest.mark.parametrize("vcpus", [1, 2])
def test_real_qemu_8_2_2_tds(vcpus: int, pic: bool) -> None:
    """QEMU 8.2's MADT sets PCAT_COMPAT whatever ``pic`` says (versions.py), so both reproduce them."""
    expected = DIGESTS_8_2_2_1CPU_2G if vcpus == 1 else _event_log_digests(LITE_GETQUOTE)
    assert _digests(acpi_blobs(DSTACK_LAUNCH.machine((8, 2), vcpus, 2 * GIB, pic))) == expected


@pytest.mark.parametrize("stand_in", ["vhost-vsock", "qemu-runnable"])
def test_real_qemu_9_2_1_gpu_td(stand_in: str) -> None:
    """dstack's GPU TD (QEMU 9.2.1, 16 vCPUs, 64 GiB, pic off): ACPI PCI hotplug off, a 16 TiB hole,
    the passthrough GPU behind a pcie-root-port (the DSDT names it by its address only, so a
    virtio endpoint stands in for the VFIO device; tests/vectors/README.md). Also from the command
    line QEMU runs for it here (tests/support/qemu.py, with ``-cpu``)."""
    gpu = (
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"
        " -global q35-pcihost.pci-hole64-size=0x100000000000"
        " -device pcie-root-port,id=pci.0,bus=pcie.0,chassis=0 -device virtio-rng-pci,bus=pci.0"
    )
    dstack = "-serial null -device virtio-blk-pci -device virtio-net-pci -device vhost-vsock-pci "
    dstack += "-virtfs local,path=/x,mount_tag=host-shared -device virtio-blk-pci "
    launch = parse_qemu_args(shlex.split(dstack + gpu if stand_in == "vhost-vsock" else GPU_TD_DEVICES))
    expected = _event_log_digests(GPU_QUOTE_REPORT)
    assert _digests(acpi_blobs(launch.machine((9, 2), 16, 64 * GIB, False))) == expected


def test_real_qemu_8_2_ccel_sample() -> None:
    """dstack's November 2024 CCEL sample: its root image as a CD-ROM instead of the second disk."""
    launch = parse_qemu_args(
        shlex.split(
            "-serial null -device virtio-blk-pci,drive=hd1 -drive file=a,if=none,id=hd1 "
            "-device virtio-net-pci,netdev=net0 -netdev user,id=net0 -device vhost-vsock-pci,guest-cid=3 "
            "-virtfs local,path=/x,mount_tag=host-shared,security_model=none -cdrom root.iso"
        )
    )
    assert _digests(acpi_blobs(launch.machine((8, 2), 1, 1 * GIB, True))) == _ccel_digests(CCEL_SAMPLE)


def test_default_launch_is_dstacks() -> None:
    assert DSTACK_LAUNCH.devices == DSTACK_DEVICES and DSTACK_LAUNCH.serial


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("-device e1000", "'e1000' is not modelled"),
        ("-device virtio-rng-pci,disable-modern=on", "property 'disable-modern' is not modelled"),
        ("-device virtio-rng-pci,bus=pci.1", "only pcie.0"),
        ("-device pcie-root-port,id=r,slot=2", "property 'slot' is not modelled"),
        ("-device pcie-root-port,id=r -device virtio-rng-pci,bus=r,addr=1", "only pcie.0"),
        ("-device virtio-rng-pci,addr=0x20", "not free"),
        ("-device virtio-rng-pci,addr=zz", "SLOT[.FUNCTION]"),
        ("-device virtio-rng-pci,addr=3 -device virtio-rng-pci,addr=3", "two PCI devices"),
        ("-device virtio-rng-pci,addr=3.1", "no function 0"),
        ("-drive file=x,if=virtio", "if=virtio is not modelled"),
        ("-serial null -serial null", "COM2"),
        ("-global ICH9-LPC.disable_s3=1", "is not modelled"),
        ("-global q35-pcihost.pci-hole64-size=big", "not a size"),
        ("-object memory-backend-ram,id=m", "-object memory-backend-ram,id=m is not modelled"),
        ("-device", "needs a value"),
        ("-usb", "--qemu-args: -usb is not modelled by the ACPI generator"),
        ("-usb -device virtio-rng-pci", "--qemu-args: -usb is not modelled by the ACPI generator"),
        ("-enable-kvm", "--qemu-args: -enable-kvm is not modelled by the ACPI generator"),
        ("-name td1", "--qemu-args: -name td1 is not modelled by the ACPI generator"),
        ("-bios x.fd -device virtio-rng-pci", "--qemu-args: -bios x.fd is not modelled"),
        ("-smp 4", "-smp cpus=4 contradicts --vcpus 1"),
        ("-m 2G", "give the shape with --memory"),
        ("virtio-rng-pci", "is not an option"),
        ("", "without PCI devices"),
    ],
)
def test_qemu_args_refused(args: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_qemu_args(shlex.split(args)).machine((10, 0), 1, GIB, False)


def test_loader_refuses_a_file_name_longer_than_its_field() -> None:
    """bios-linker-loader.c: file names live in 56-byte, NUL-terminated fields."""
    from pvmkit.vendors.tdx.acpi.loader import TableLoader

    with pytest.raises(InputError, match="56-byte"):
        TableLoader().allocate("x" * 56, 64, 1)
