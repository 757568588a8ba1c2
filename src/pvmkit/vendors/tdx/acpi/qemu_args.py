"""The part of a QEMU command line that the ACPI generator models, read into machine options.

``pvmkit measure --vendor tdx --rtmr --qemu-args "..."`` describes the launch's devices as QEMU
options. They are read the way QEMU reads them (``system/vl.c``; options parsed by
``util/qemu-option.c``: ``name[,key=value...]``, ``,,`` for a literal comma), on top of a
``-nodefaults`` q35 machine, as :class:`~pvmkit.vendors.tdx.qemu_acpi.QemuAcpiDumper` runs QEMU:

* ``-device MODEL[,addr=S[.F]][,bus=pcie.0][,...]``: one PCI function on ``pcie.0``; without
  ``addr`` it takes the first slot whose function 0 is free, from slot 1, in option order (QEMU
  ``hw/pci/pci.c`` ``do_pci_register_device``). A virtio-blk or virtio-net function is also one of
  the launch's :class:`~pvmkit.vendors.tdx.boot_devices.BootDevice` (:attr:`QemuLaunch.boot_devices`)
  with its ``bootindex=`` and, for a NIC, its ``mac=`` or QEMU's default MAC (:func:`default_macs`);
* ``-device pcie-root-port,id=ID[,chassis=N]`` on ``pcie.0`` and one ``-device MODEL,bus=ID`` behind
  it (slot 0 of the port's bus);
* ``-virtfs ...``: a ``virtio-9p-pci`` device, queued in option order like ``-device``
  (``system/vl.c``, ``QEMU_OPTION_virtfs``);
* ``-drive`` with ``if=none`` (a backend for ``-device``) or ``if=ide`` (the default on q35: a disk
  on the built-in AHCI controller, no new PCI function), ``-cdrom``, ``-netdev``, ``-fsdev``: backends;
* ``-serial X``: COM1 (``-serial none``: no COM1); a second port is not modelled;
* ``-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=on|off``,
  ``-global q35-pcihost.pci-hole64-size=SIZE``;
* ``-nodefaults``, ``-nographic``, ``-display none``, ``-vga none``, ``-no-user-config``: accepted,
  they add nothing to the ``-nodefaults`` machine;
* ``-cpu MODEL``: accepted; the tables see the vCPUs only through their APIC IDs, which ``-smp``
  fixes (``hw/i386/acpi-common.c`` ``pc_madt_cpu_entry``, ``hw/acpi/cpu.c`` ``build_cpus_aml``);
* ``-smp [N,]sockets=,dies=,modules=,cores=,threads=,maxcpus=`` (:mod:`.topology`; several ``-smp``
  merge, later keys winning, as QEMU merges them): the topology of every shape. The vCPU count is
  ``--vcpus``'s: each shape is QEMU's ``-smp N,KEYS`` for its count N, so a count in ``-smp`` must
  equal every ``--vcpus`` count, and keys that fix the product without ``maxcpus`` fit one count only.
  ``-m`` is refused: the memory size comes from ``--memory``.

Anything else is refused (:class:`~pvmkit.errors.InputError`, one line naming it): an option or
device property the model does not cover could change the tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.machine import DSTACK_DEVICES, ROOT_PORT_MODEL, PciFunction, QemuTdxMachine
from pvmkit.vendors.tdx.acpi.topology import CpuTopology, SmpOptions
from pvmkit.vendors.tdx.boot_devices import BootDevice

__all__ = [
    "BOOTABLE_MODELS",
    "DSTACK_LAUNCH",
    "QemuLaunch",
    "boot_devices_of",
    "default_macs",
    "parse_qemu_args",
]

_MAX_SLOT = 31
_RESERVED_SLOTS = frozenset({0, 0x1F})  # the host bridge; the ICH9 LPC/SATA/SMBus (hw/i386/pc_q35.c)
# Device properties that place or name a device, or connect it to a backend, without changing what
# the ACPI tables say about it.
_DEVICE_KEYS = frozenset(
    {"id", "drive", "netdev", "romfile", "mac", "fsdev", "mount_tag", "guest-cid", "bootindex", "serial"}
)
_IGNORED_FLAGS = frozenset({"nodefaults", "nographic", "no-user-config"})
_BACKENDS = frozenset({"netdev", "fsdev", "cdrom", "cpu"})
_SHAPE_OPTIONS = {"m": "--memory"}
# Options without an argument (QEMU qemu-options.hx: DEF(name, 0, ...)) the model does not cover.
_QEMU_FLAGS = frozenset(
    {"usb", "enable-kvm", "S", "s", "snapshot", "no-reboot", "no-shutdown", "daemonize", "full-screen"}
    | {"mem-prealloc", "only-migratable", "preconfig", "no-fd-bootchk", "semihosting", "old-param"}
    | {"xen-attach", "xen-domid-restrict", "h", "help", "version"}
)
_MODELLED_WITH_VALUE = frozenset(
    {"device", "virtfs", "drive", "serial", "global", "smp", "display", "vga"}
    | _BACKENDS
    | set(_SHAPE_OPTIONS)
)
_HOTPLUG_GLOBAL = "ICH9-LPC.acpi-pci-hotplug-with-bridge-support"
_HOLE64_GLOBAL = "q35-pcihost.pci-hole64-size"
_SIZE_SUFFIXES = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
#: The modelled device models that have QEMU's ``bootindex`` property (hw/block/virtio-blk.c and
#: hw/net/virtio-net.c ``device_add_bootindex_property``) and that OVMF's drivers turn into boot
#: options (VirtioBlkDxe: BlockIo; VirtioNetDxe: a NIC). QEMU refuses ``bootindex`` on the others
#: ("Property 'virtio-rng-pci.bootindex' not found").
BOOTABLE_MODELS = frozenset({"virtio-blk-pci", "virtio-net-pci"})
_NIC_MODELS = frozenset({"virtio-net-pci"})
#: models whose PCI class sets a default option ROM (QEMU hw/virtio/virtio-net-pci.c ``romfile``)
_DEFAULT_ROM_MODELS = frozenset({"virtio-net-pci"})
# net/net.c qemu_macaddr_default_if_unset: a NIC without mac= gets 52:54:00:12:34:XX, XX the lowest
# of 0x56..0xfe not yet taken by a NIC realized before it (given MACs with this prefix count as taken).
_QEMU_MAC_PREFIX = bytes.fromhex("5254001234")
_QEMU_MAC_FIRST, _QEMU_MAC_END = 0x56, 0xFF


@dataclass(frozen=True)
class QemuLaunch:
    """What a launch's QEMU options fix of the machine, whatever the vCPU count and RAM size."""

    devices: tuple[PciFunction, ...]
    serial: bool
    pci_hotplug_bridge_support: bool = True
    pci_hole64_size: int = 1 << 35
    smp: SmpOptions = field(default_factory=SmpOptions)  #: the ``-smp`` keys given, if any
    #: the functions OVMF may make boot options of (virtio-blk, virtio-net), in option order
    boot_devices: tuple[BootDevice, ...] = ()

    def topology(self, qemu_version: tuple[int, int], vcpus: int) -> CpuTopology:
        """The vCPU topology of the shape with ``vcpus`` vCPUs: QEMU's ``-smp vcpus,KEYS``."""
        if self.smp.cpus is not None and self.smp.cpus != vcpus:
            raise InputError(
                f"--qemu-args: -smp {self.smp.text()} contradicts --vcpus {vcpus}: give the count with "
                "--vcpus and only the topology keys with -smp"
            )
        try:
            return replace(self.smp, cpus=vcpus).resolve(qemu_version)
        except InputError as e:
            raise InputError(f"--qemu-args with --vcpus {vcpus}: {e}") from None

    def machine(
        self, qemu_version: tuple[int, int], vcpus: int, memory_size: int, pic: bool
    ) -> QemuTdxMachine:
        """The modelled machine of this launch for one shape."""
        topology = self.topology(qemu_version, vcpus)
        return QemuTdxMachine(
            qemu_version=qemu_version,
            vcpus=vcpus,
            memory_size=memory_size,
            pic=pic,
            devices=self.devices,
            serial=self.serial,
            pci_hotplug_bridge_support=self.pci_hotplug_bridge_support,
            pci_hole64_size=self.pci_hole64_size,
            topology=None if topology.is_plain else topology,
        )


def default_macs(devices: Sequence[tuple[str, bytes | None]]) -> tuple[bytes | None, ...]:
    """The MAC of each ``(model, given mac)`` in realize (option) order: the given one, QEMU's default
    for a NIC without one (QEMU net/net.c ``qemu_macaddr_default_if_unset``, ``qemu_macaddr_get_free``),
    None for a device that is no NIC."""
    taken: dict[int, int] = {}
    out: list[bytes | None] = []
    for model, mac in devices:
        if model not in _NIC_MODELS:
            out.append(mac)
            continue
        if mac is None:
            free = [n for n in range(_QEMU_MAC_FIRST, _QEMU_MAC_END) if not taken.get(n)]
            if not free:
                raise InputError("--qemu-args: QEMU has no default MAC address left for another NIC")
            mac = _QEMU_MAC_PREFIX + bytes([free[0]])
        if mac[:5] == _QEMU_MAC_PREFIX:
            taken[mac[5]] = taken.get(mac[5], 0) + 1
        out.append(mac)
    return tuple(out)


#: (function, bootindex, given mac, option ROM) of one bootable function of a launch
_Bootable = tuple[PciFunction, int | None, bytes | None, bool]


def _boot_devices(bootable: Sequence[_Bootable]) -> tuple[BootDevice, ...]:
    """The BootDevices of bootable functions in option order, each NIC with its MAC (given or QEMU's
    default, :func:`default_macs`)."""
    macs = default_macs([(f.model, mac) for f, _index, mac, _rom in bootable])
    return tuple(
        BootDevice(f.model, f.slot, f.function, bootindex, mac, f.root_port, rom)
        for (f, bootindex, _given, rom), mac in zip(bootable, macs, strict=True)
    )


def boot_devices_of(devices: Sequence[PciFunction]) -> tuple[BootDevice, ...]:
    """The boot devices of PCI functions given without ``bootindex``, ``mac`` or ``romfile`` (QEMU's
    defaults)."""
    return _boot_devices(
        [(d, None, None, d.model in _DEFAULT_ROM_MODELS) for d in devices if d.model in BOOTABLE_MODELS]
    )


#: dstack's launch (serial and its five PCI devices): the default without ``--qemu-args``. dstack-vmm
#: gives no ``bootindex``, ``mac`` or ``romfile`` (Dstack-TEE/dstack vmm/src/app/qemu.rs): its NIC has
#: QEMU's first default MAC, 52:54:00:12:34:56, and QEMU's default option ROM.
DSTACK_LAUNCH = QemuLaunch(devices=DSTACK_DEVICES, serial=True, boot_devices=boot_devices_of(DSTACK_DEVICES))


def _split_opts(text: str) -> list[str]:
    """``a,b=c,,d`` -> ``["a", "b=c,d"]`` (QEMU's ``,,`` escape)."""
    parts, current, i = [], [], 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1 : i + 2] == ",":
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(text[i])
        i += 1
    parts.append("".join(current))
    return parts


def _opts(text: str, option: str, implied: str) -> tuple[str, dict[str, str]]:
    """(the implied first value, {key: value}) of a QEMU option value such as ``model,key=value``."""
    first, props = "", {}
    for n, part in enumerate(_split_opts(text)):
        key, eq, value = part.partition("=")
        if not eq and n == 0:
            first = key
        elif not eq:
            raise InputError(f"--qemu-args: {option} {text!r}: {part!r} is not key=value")
        elif key == implied and n == 0:
            first = value
        else:
            props[key] = value
    return first, props


def _qemu_size(text: str, what: str) -> int:
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)([bkmgtpBKMGTP]?)", text.strip())
    if m is None:
        raise InputError(f"--qemu-args: {what}={text!r} is not a size")
    number = int(m.group(1), 0)
    return number * _SIZE_SUFFIXES[m.group(2).lower()]


def _bootindex(text: str | None, model: str) -> int | None:
    """``bootindex=N``: N ≥ 0 puts the device in QEMU's ``bootorder``; -1 (QEMU's default) leaves it out."""
    if text is None:
        return None
    if re.fullmatch(r"-?\d+", text.strip()) is None:
        raise InputError(f"--qemu-args: {model} bootindex={text!r} is not a number")
    value = int(text)
    if value < -1:
        raise InputError(f"--qemu-args: {model} bootindex={value} is not modelled (-1 or from 0)")
    return None if value == -1 else value


def _mac(text: str, model: str) -> bytes:
    """``mac=52:54:00:12:34:56`` (QEMU hw/core/qdev-properties-system.c ``set_mac``: six hex pairs
    separated by ``:`` or ``-``)."""
    if re.fullmatch(r"[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5}", text) is None:
        raise InputError(f"--qemu-args: {model} mac={text!r} is not six hex bytes separated by ':'")
    return bytes(int(part, 16) for part in re.split(r"[:-]", text))


def _addr(text: str, model: str) -> tuple[int, int]:
    m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,2})(?:\.([0-7]))?", text)
    if m is None:
        raise InputError(f"--qemu-args: {model} addr={text!r} is not SLOT[.FUNCTION] (hex)")
    return int(m.group(1), 16), int(m.group(2) or "0")


class _Builder:
    def __init__(self) -> None:
        self.devices: list[PciFunction] = []
        self.root_ports: dict[str, int] = {}  # id -> pcie.0 slot
        self.serial = False
        self.hotplug = True
        self.hole64 = 1 << 35
        self.smp = SmpOptions()
        self.bootable: list[_Bootable] = []  #: the bootable functions, in option order
        self.bootindexes: set[int] = set()

    def add_device(self, model: str, props: dict[str, str]) -> None:
        allowed = {"id", "chassis"} if model == ROOT_PORT_MODEL else _DEVICE_KEYS
        unknown = sorted(set(props) - allowed - {"addr", "bus", "multifunction"})
        if unknown:
            raise InputError(f"--qemu-args: -device {model} property {unknown[0]!r} is not modelled")
        bus = props.get("bus", "pcie.0")
        if bus in self.root_ports and "addr" not in props:
            self.devices.append(PciFunction(0, 0, model, root_port=self.root_ports[bus]))
            self._add_bootable(self.devices[-1], props)
            return
        if bus != "pcie.0":
            raise InputError(
                f"--qemu-args: -device {model} on bus {bus!r}: only pcie.0 and the bus of an earlier "
                "pcie-root-port (without addr=) are modelled"
            )
        if "addr" in props:
            slot, function = _addr(props["addr"], model)
        else:
            taken = {d.slot for d in self.devices if d.function == 0} | _RESERVED_SLOTS
            free = [s for s in range(1, _MAX_SLOT + 1) if s not in taken]
            if not free:
                raise InputError(f"--qemu-args: no free PCI slot on pcie.0 for {model}")
            slot, function = free[0], 0
        self.devices.append(PciFunction(slot, function, model))
        self._add_bootable(self.devices[-1], props)
        if model == ROOT_PORT_MODEL and "id" in props:
            self.root_ports[props["id"]] = slot

    def _add_bootable(self, function: PciFunction, props: dict[str, str]) -> None:
        model = function.model
        if model not in BOOTABLE_MODELS:
            for key in ("bootindex", "mac"):
                if key in props:
                    raise InputError(
                        f"--qemu-args: -device {model} has no property {key!r} (QEMU refuses it)"
                    )
            return
        bootindex = _bootindex(props.get("bootindex"), model)
        if bootindex is not None:
            if bootindex in self.bootindexes:
                raise InputError(f"--qemu-args: bootindex {bootindex} is given twice (QEMU refuses it)")
            self.bootindexes.add(bootindex)
        mac = props.get("mac")
        if mac is not None and model not in _NIC_MODELS:
            raise InputError(f"--qemu-args: -device {model} has no property 'mac' (QEMU refuses it)")
        rom = props.get("romfile")
        option_rom = bool(rom) if rom is not None else model in _DEFAULT_ROM_MODELS
        self.bootable.append((function, bootindex, _mac(mac, model) if mac is not None else None, option_rom))

    def boot_devices(self) -> tuple[BootDevice, ...]:
        return _boot_devices(self.bootable)

    def add_global(self, text: str) -> None:
        name, eq, value = text.partition("=")
        if name == _HOTPLUG_GLOBAL and value in ("on", "off"):
            self.hotplug = value == "on"
        elif name == _HOLE64_GLOBAL and eq:
            self.hole64 = _qemu_size(value, _HOLE64_GLOBAL)
        else:
            raise InputError(
                f"--qemu-args: -global {text!r} is not modelled (modelled: {_HOTPLUG_GLOBAL}=on|off, "
                f"{_HOLE64_GLOBAL}=SIZE)"
            )

    def add_smp(self, text: str) -> None:
        # QEMU's -smp options list merges: a later -smp's keys replace an earlier one's
        self.smp = self.smp.merged(SmpOptions.parse(text, "--qemu-args: -smp"))

    def add_drive(self, text: str) -> None:
        _file, props = _opts(text, "-drive", "file")
        interface = props.get("if", "ide")
        if interface not in ("none", "ide"):
            raise InputError(f"--qemu-args: -drive if={interface} is not modelled (if=none or if=ide)")

    def add_serial(self, text: str) -> None:
        if text == "none":
            return
        if self.serial:
            raise InputError("--qemu-args: a second -serial port (COM2) is not modelled")
        self.serial = True


def _named(word: str, rest: Sequence[str]) -> str:
    """An option the generator does not model, with its value when it has one: QEMU's flags (``-usb``,
    ``-enable-kvm``, ``-S``: options without an argument in ``qemu-options.hx``) are named alone, so
    a flag is never shown with the next option as its value."""
    if rest and not rest[0].startswith("-") and word.lstrip("-") not in _QEMU_FLAGS:
        return f"{word} {rest[0]}"
    return word


def parse_qemu_args(argv: Sequence[str]) -> QemuLaunch:
    """The :class:`QemuLaunch` of QEMU options (already split into words)."""
    b = _Builder()
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-"):
            raise InputError(f"--qemu-args: {word!r} is not an option (a value follows its option)")
        option = word.lstrip("-")
        if option in _IGNORED_FLAGS:
            i += 1
            continue
        if option not in _MODELLED_WITH_VALUE:
            raise InputError(
                f"--qemu-args: {_named(word, argv[i + 1 : i + 2])} is not modelled by the ACPI generator"
            )
        if i + 1 >= len(argv):
            raise InputError(f"--qemu-args: {word} needs a value")
        value = argv[i + 1]
        i += 2
        if option == "device":
            model, props = _opts(value, word, "driver")
            b.add_device(model, props)
        elif option == "virtfs":
            b.add_device("virtio-9p-pci", {})
        elif option == "drive":
            b.add_drive(value)
        elif option == "serial":
            b.add_serial(value)
        elif option == "global":
            b.add_global(value)
        elif option == "smp":
            b.add_smp(value)
        elif option in _BACKENDS or (option in ("display", "vga") and value == "none"):
            pass
        elif option in _SHAPE_OPTIONS:
            raise InputError(f"--qemu-args: {word} {value}: give the shape with {_SHAPE_OPTIONS[option]}")
        else:  # -display or -vga other than none
            raise InputError(f"--qemu-args: {word} {value} is not modelled by the ACPI generator")
    return QemuLaunch(tuple(b.devices), b.serial, b.hotplug, b.hole64, b.smp, b.boot_devices())
