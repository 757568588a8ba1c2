"""The launch's boot devices and QEMU's ``bootorder`` fw_cfg file (pvmkit.vendors.tdx.qemu_bootorder,
acpi.qemu_args) against QEMU 10.0.2 itself: the file read from a stopped QEMU through fw_cfg
(QemuAcpiDumper), the NICs' MAC addresses from QEMU's monitor (``info network``) for the same command
lines. Expected values: QEMU's output, nothing of pvmkit's."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.qemu_args import DSTACK_LAUNCH, parse_qemu_args
from pvmkit.vendors.tdx.boot_devices import BootDevice
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from pvmkit.vendors.tdx.qemu_bootorder import bootorder_file, launch_fw_cfg, ofw_path, with_kernel_entry
from support.fixtures import fixture_path
from support.pe import make_pe
from support.qemu import DSTACK_DEVICES, qemu_binary

GIB = 1 << 30
_DISK = "-drive file=/bin/sh,if=none,id={0},format=raw,readonly=on -device virtio-blk-pci,drive={0}"
_NIC = "-netdev user,id={0} -device virtio-net-pci,netdev={0},romfile="

# Launches as a user gives them to --qemu-args (virtio-net with romfile=: Debian's qemu-system-data
# has no efi-virtio.rom; the option ROM is not in the boot order).
LAUNCHES = {
    "dstack": DSTACK_DEVICES,
    "disk-no-bootindex": _DISK.format("hd0") + ",addr=3",
    "disk-bootindex": _DISK.format("hd0") + ",addr=3,bootindex=1",
    "disk-and-nic": _DISK.format("hd0") + ",addr=3,bootindex=1 " + _NIC.format("n0") + ",bootindex=0",
    "function-and-high-slot": (
        _DISK.format("hd0") + ",addr=3.2,multifunction=on,bootindex=5 "
        + _DISK.format("hd1") + ",addr=0x1e,bootindex=2 "
        + _NIC.format("n0") + ",addr=4,bootindex=9"
    ),
    "root-port": (
        "-device pcie-root-port,id=rp,chassis=1 " + _DISK.format("hd0") + ",bus=rp,bootindex=3 "
        + _NIC.format("n0") + ",bootindex=7 -device virtio-rng-pci"
    ),
    "virtfs-first": "-virtfs local,path=/bin,mount_tag=x,security_model=none,id=v0 "
    + _DISK.format("hd0")
    + ",bootindex=0",
}  # fmt: skip


@pytest.fixture(scope="module")
def firmware() -> str:
    return str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))


def _qemu_files(firmware: str, words: list[str]) -> dict[str, bytes]:
    return QemuAcpiDumper(qemu_binary(), firmware, tuple(words)).dump(AcpiShape(1, 2 * GIB, False))


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_bootorder_equals_qemus(firmware: str, name: str) -> None:
    words = shlex.split(LAUNCHES[name])
    files = _qemu_files(firmware, words)
    launch = parse_qemu_args(words)
    assert bootorder_file(launch.boot_devices, direct_boot=False) == files["bootorder"]
    assert dict(launch_fw_cfg(launch.boot_devices, direct_boot=False)) == {
        "BootMenu": files["BootMenu"],
        "bootorder": files["bootorder"],
    }


def test_a_launch_without_bootindex_serves_an_empty_file(firmware: str) -> None:
    files = _qemu_files(firmware, shlex.split(LAUNCHES["disk-no-bootindex"]))
    assert files["bootorder"] == b""  # the file exists with size 0: OVMF then measures nothing


@pytest.mark.parametrize("name", ["disk-no-bootindex", "disk-bootindex", "function-and-high-slot"])
def test_kernel_entry_comes_first(firmware: str, name: str, tmp_path: object) -> None:
    """``-kernel`` adds linuxboot_dma.bin with boot index 0 (a bzImage-shaped file is enough for
    QEMU to load it under TCG)."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(make_pe(0x10000))
    words = shlex.split(LAUNCHES[name])
    files = _qemu_files(firmware, [*words, "-kernel", str(kernel)])
    assert bootorder_file(parse_qemu_args(words).boot_devices, direct_boot=True) == files["bootorder"]


def _qemu_macs(firmware: str, words: list[str]) -> list[bytes]:
    """The NICs' MACs in device order, from QEMU's monitor."""
    argv = [qemu_binary(), "-accel", "tcg", "-S", "-display", "none", "-nodefaults", "-machine", "q35"]
    argv += ["-bios", firmware, "-monitor", "stdio", *words]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write("info network\nquit\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    found = re.findall(r"^virtio-net-pci\.(\d+): .*macaddr=([0-9a-f:]{17})", out.replace("\r", ""), re.M)
    return [bytes.fromhex(mac.replace(":", "")) for _n, mac in sorted(found, key=lambda f: int(f[0]))]


MAC_LAUNCHES = {
    "defaults": " ".join(_NIC.format(f"n{i}") for i in range(3)),
    "given-then-default": _NIC.format("a") + " " + _NIC.format("b") + ",mac=52:54:00:12:34:56 "
    + _NIC.format("c"),
    "given-first": _NIC.format("a") + ",mac=52-54-00-12-34-56 " + _NIC.format("b") + " " + _NIC.format("c")
    + ",mac=02:00:00:00:00:01",
    "dstack": DSTACK_DEVICES,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MAC_LAUNCHES))
def test_nic_macs_equal_qemus(firmware: str, name: str) -> None:
    words = shlex.split(MAC_LAUNCHES[name])
    nics = [d for d in parse_qemu_args(words).boot_devices if d.model == "virtio-net-pci"]
    assert [d.mac for d in nics] == _qemu_macs(firmware, words)


def test_dstack_default_launch_has_dstacks_boot_devices() -> None:
    """The default launch is dstack's command line (support.qemu.DSTACK_DEVICES, dstack-vmm's
    devices, virtio-rng standing in for vhost-vsock, neither bootable)."""
    import dataclasses

    # the test command line gives the NIC romfile= (Debian's QEMU data has no efi-virtio.rom);
    # dstack-vmm gives none, so its NIC has QEMU's default option ROM
    without_rom = [dataclasses.replace(d, option_rom=False) for d in DSTACK_LAUNCH.boot_devices]
    assert without_rom == list(parse_qemu_args(shlex.split(DSTACK_DEVICES)).boot_devices)
    assert [(d.model, d.slot, d.option_rom) for d in DSTACK_LAUNCH.boot_devices] == [
        ("virtio-blk-pci", 1, False),
        ("virtio-net-pci", 2, True),
        ("virtio-blk-pci", 5, False),
    ]


@pytest.mark.parametrize(
    ("device", "option_rom"),
    [
        ("virtio-net-pci", True),  # QEMU's default efi-virtio.rom (hw/virtio/virtio-net-pci.c)
        ("virtio-net-pci,romfile=", False),
        ("virtio-net-pci,romfile=ipxe.rom", True),
        ("virtio-blk-pci,drive=a", False),  # no default ROM
        ("virtio-blk-pci,drive=a,romfile=x.rom", True),
    ],
)
def test_option_rom_of_a_boot_device(device: str, option_rom: bool) -> None:
    [boot] = parse_qemu_args(["-device", device]).boot_devices
    assert boot.option_rom is option_rom


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("-device virtio-rng-pci,bootindex=1", "no property 'bootindex'"),
        ("-device vhost-vsock-pci,guest-cid=3,bootindex=1", "no property 'bootindex'"),
        ("-device virtio-blk-pci,drive=a,mac=52:54:00:12:34:56", "no property 'mac'"),
        ("-device virtio-blk-pci,drive=a,bootindex=1 -device virtio-net-pci,bootindex=1", "given twice"),
        ("-device virtio-blk-pci,drive=a,bootindex=x", "not a number"),
        ("-device virtio-blk-pci,drive=a,bootindex=-2", "not modelled"),
        ("-device virtio-net-pci,mac=52:54:00:12:34", "six hex bytes"),
    ],
)
def test_launches_qemu_refuses_are_refused(args: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_qemu_args(shlex.split(args))


def test_bootindex_minus_one_is_no_boot_entry() -> None:
    launch = parse_qemu_args(shlex.split("-device virtio-blk-pci,drive=a,bootindex=-1"))
    assert launch.boot_devices[0].bootindex is None
    assert bootorder_file(launch.boot_devices, direct_boot=False) == b""


def test_kernel_and_bootindex_zero_conflict(firmware: str, tmp_path: object) -> None:
    """QEMU refuses a device's bootindex 0 beside -kernel ("The bootindex 0 has already been used")."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(make_pe(0x10000))
    words = shlex.split(LAUNCHES["disk-and-nic"])  # the NIC has bootindex 0
    with pytest.raises(InputError, match="bootindex 0 has already been used"):
        _qemu_files(firmware, [*words, "-kernel", str(kernel)])
    with pytest.raises(InputError, match="taken by -kernel"):
        bootorder_file(parse_qemu_args(words).boot_devices, direct_boot=True)


def test_unmodelled_model_has_no_path() -> None:
    with pytest.raises(InputError, match="not modelled"):
        ofw_path(BootDevice("virtio-scsi-pci", 3, bootindex=1))


@pytest.mark.parametrize("name", ["disk-no-bootindex", "function-and-high-slot"])
def test_kernel_entry_added_to_a_file_qemu_served_without_kernel(
    firmware: str, name: str, tmp_path: object
) -> None:
    """What --qemu-binary does for a -kernel boot (its dumper runs without -kernel)."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(make_pe(0x10000))
    words = shlex.split(LAUNCHES[name])
    with_kernel = _qemu_files(firmware, [*words, "-kernel", str(kernel)])["bootorder"]
    assert with_kernel_entry(_qemu_files(firmware, words)["bootorder"]) == with_kernel
