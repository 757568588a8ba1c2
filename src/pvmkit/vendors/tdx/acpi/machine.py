"""The machine whose ACPI tables pvmkit generates: a QEMU q35 TDX guest as TDVF finds it.

Everything QEMU's ACPI blobs depend on is a field here (or a constant of the modelled profile), so
the generator is a function of this value alone. What it cannot model is refused when the value is
built (:class:`pvmkit.errors.InputError`, one line), never approximated.

Sources: QEMU ``hw/i386/pc_q35.c`` (``pc_q35_init``: the RAM split below/above 4 GiB,
``max_cpus``), ``hw/pci/pci.c`` (``do_pci_register_device``: the first free slot), edk2
``OvmfPkg/Include/IndustryStandard/Q35MchIch9.h`` and TDVF's PCI set-up for the chipset state
(the same constants :mod:`pvmkit.vendors.tdx.qemu_acpi` programs into QEMU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.topology import MAX_CPUS, MODULES_FROM, CpuTopology
from pvmkit.vendors.tdx.acpi.versions import PROFILES

__all__ = [
    "DSTACK_DEVICES",
    "MAX_VCPUS",
    "MODELLED_DEVICE_MODELS",
    "MODELLED_VERSIONS",
    "ROOT_PORT_MODEL",
    "TDVF_MCFG_BASE",
    "TDVF_MCFG_SIZE",
    "TDVF_MMIO64_BASE",
    "TDVF_PMBASE",
    "PciFunction",
    "QemuTdxMachine",
]

#: QEMU versions whose ACPI output the generator reproduces: those with a version profile
#: (:mod:`pvmkit.vendors.tdx.acpi.versions`; docs/tdx-measure.md "QEMU versions").
MODELLED_VERSIONS: frozenset[tuple[int, int]] = frozenset(PROFILES)

#: PCI device models whose DSDT/ACPI footprint has been compared with QEMU's output. They are
#: hot-pluggable PCI Express endpoints without ACPI objects of their own: QEMU's PCI hotplug AML
#: (``hw/acpi/pcihp.c``) describes their slots the same way whatever the model.
MODELLED_DEVICE_MODELS: frozenset[str] = frozenset(
    {
        "virtio-blk-pci",
        "virtio-net-pci",
        "virtio-rng-pci",
        "virtio-9p-pci",
        "vhost-vsock-pci",
    }
)

#: QEMU q35's ``max_cpus`` (``hw/i386/pc_q35.c``, ``pc_q35_machine_options``).
MAX_VCPUS = MAX_CPUS

#: A PCI Express root port on ``pcie.0`` (``hw/pci-bridge/gen_pcie_root_port.c``): a bridge whose
#: secondary bus has one slot (0), where one endpoint (a passthrough GPU, say) sits. The DSDT
#: describes the port and its slot (with ACPI PCI hotplug: BSEL, _SUN, _EJ0, PCNT; QEMU
#: ``hw/i386/acpi-build.c`` ``build_append_pci_bus_devices``).
ROOT_PORT_MODEL = "pcie-root-port"

#: ICH9 ACPI PM I/O base TDVF programs (edk2 ``Q35MchIch9.h`` ``ICH9_PMBASE_VALUE``); QEMU derives
#: the FADT's PM1a event/control and PM timer blocks and the GPE0 block from it.
TDVF_PMBASE = 0x600
#: MMCONFIG (PCIEXBAR) base and size TDVF programs (edk2 ``PcdPciExpressBaseAddress``, 256 MiB).
TDVF_MCFG_BASE = 0xE0000000
TDVF_MCFG_SIZE = 0x10000000
#: Base of TDVF's 64-bit PCI MMIO aperture: where the lowest 64-bit BAR lands, so QEMU's
#: ``q35_host_get_pci_hole64_start`` returns it (confirmed by a real TD's tables digest).
TDVF_MMIO64_BASE = 0x380000000000

_FOUR_GIB = 1 << 32
_LPC_SLOT = 0x1F  # ICH9 LPC/SATA/SMBus functions (hw/i386/pc_q35.c), never free for -device
_MAX_SLOT = 31


@dataclass(frozen=True)
class PciFunction:
    """One PCI function on ``pcie.0``, where QEMU places a ``-device`` option."""

    slot: int  #: device number; QEMU takes the first free one from 1 in option order without addr=
    function: int  #: 0..7
    model: str  #: QEMU device model name, e.g. ``"virtio-blk-pci"``, or :data:`ROOT_PORT_MODEL`
    #: the ``pcie.0`` slot of the root port whose secondary bus holds this function (then slot and
    #: function are 0); None: the function is on ``pcie.0``
    root_port: int | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELLED_DEVICE_MODELS and self.model != ROOT_PORT_MODEL:
            known = ", ".join(sorted(MODELLED_DEVICE_MODELS | {ROOT_PORT_MODEL}))
            raise InputError(f"PCI device model {self.model!r} is not modelled (modelled: {known})")
        if self.model == ROOT_PORT_MODEL and (self.function or self.root_port is not None):
            raise InputError("a pcie-root-port is modelled only as function 0 of a pcie.0 slot")
        if self.root_port is not None:
            if (self.slot, self.function) != (0, 0):
                raise InputError(f"behind a root port only slot 0, function 0 is modelled ({self.model})")
            return
        if not 1 <= self.slot <= _MAX_SLOT or self.slot == _LPC_SLOT:
            raise InputError(f"PCI slot {self.slot:#x} of {self.model} is not free on q35's pcie.0")
        if not 0 <= self.function <= 7:
            raise InputError(f"PCI function {self.function} of {self.model} is outside 0..7")


def _dstack_devices() -> tuple[PciFunction, ...]:
    # dstack-vmm's PCI devices in command-line order (Dstack-TEE/dstack, dstack-mr's ACPI replay):
    # a virtio-blk disk, virtio-net, vhost-vsock, the 9p share, a second virtio-blk; first free
    # slots from 1 as QEMU assigns them.
    models = ("virtio-blk-pci", "virtio-net-pci", "vhost-vsock-pci", "virtio-9p-pci", "virtio-blk-pci")
    return tuple(PciFunction(slot, 0, model) for slot, model in enumerate(models, start=1))


#: The PCI devices of dstack's TDs, the default device set.
DSTACK_DEVICES: tuple[PciFunction, ...] = _dstack_devices()


@dataclass(frozen=True)
class QemuTdxMachine:
    """A QEMU q35 TDX guest, as far as its ACPI blobs depend on it."""

    qemu_version: tuple[int, int]  #: (major, minor) of the modelled QEMU profile
    vcpus: int  #: ``-smp`` N: the vCPUs present at start
    memory_size: int  #: bytes (``-m``)
    pic: bool  #: ``-machine pic=on|off``
    devices: tuple[PciFunction, ...] = field(default=DSTACK_DEVICES)
    serial: bool = True  #: COM1 present (``-serial``)
    pci_hotplug_bridge_support: bool = True  #: ``ICH9-LPC.acpi-pci-hotplug-with-bridge-support``
    pci_hole64_size: int = 1 << 35  #: ``q35-pcihost.pci-hole64-size`` (QEMU default 32 GiB)
    #: ``-smp N,sockets=...,maxcpus=...`` resolved (:mod:`.topology`); None: plain ``-smp N``
    topology: CpuTopology | None = None

    def __post_init__(self) -> None:
        if self.qemu_version not in MODELLED_VERSIONS:
            modelled = ", ".join(f"{a}.{b}" for a, b in sorted(MODELLED_VERSIONS))
            major, minor = self.qemu_version
            raise InputError(
                f"QEMU {major}.{minor} is not modelled by the ACPI generator (modelled: {modelled})"
            )
        if not 1 <= self.vcpus <= MAX_VCPUS:
            raise InputError(f"{self.vcpus} vCPUs: QEMU's q35 machine takes 1..{MAX_VCPUS}")
        if self.topology is not None:
            if self.topology.cpus != self.vcpus:
                raise InputError(f"a topology of {self.topology.cpus} vCPUs given for {self.vcpus} vCPUs")
            if self.topology.modules > 1 and self.qemu_version < MODULES_FROM:
                major, minor = self.qemu_version
                raise InputError(
                    f"QEMU {major}.{minor} has no modules level in its CPU topology (QEMU 9.1 added it)"
                )
        if self.memory_size < 1 << 20 or self.memory_size % (1 << 20):
            raise InputError("the memory size must be a whole number of MiB, at least 1 MiB")
        if self.pci_hole64_size <= 0 or self.pci_hole64_size >= 1 << 46:
            raise InputError(f"pci-hole64-size {self.pci_hole64_size:#x} is outside the modelled range")
        if not any(dev.root_port is None and dev.model != ROOT_PORT_MODEL for dev in self.devices):
            # Without a 64-bit BAR on pcie.0 QEMU places the 64-bit window itself
            # (pc_pci_hole64_start); not modelled.
            raise InputError("a machine without PCI devices on pcie.0 is not modelled by the ACPI generator")
        seen: set[tuple[int, int]] = set()
        behind: set[int] = set()
        for dev in self.devices:
            if dev.root_port is not None:
                if dev.root_port in behind:
                    raise InputError(f"two PCI devices behind the root port in slot {dev.root_port:#x}")
                behind.add(dev.root_port)
                continue
            if (dev.slot, dev.function) in seen:
                raise InputError(f"two PCI devices at {dev.slot:02x}.{dev.function}")
            seen.add((dev.slot, dev.function))
        for slot, function in seen:
            if function and (slot, 0) not in seen:
                raise InputError(f"PCI slot {slot:#x} has function {function} but no function 0")
        ports = {dev.slot for dev in self.devices if dev.model == ROOT_PORT_MODEL}
        for port in behind - ports:
            raise InputError(f"no pcie-root-port in slot {port:#x} for the device behind it")

    @property
    def cpu_topology(self) -> CpuTopology:
        """The vCPU topology: :attr:`topology`, or plain ``-smp N``'s (one socket of N cores)."""
        return self.topology if self.topology is not None else CpuTopology.plain(self.vcpus)

    @property
    def below_4g_mem_size(self) -> int:
        """RAM below 4 GiB (``pc_q35_init``: 2 GiB once RAM reaches 2.75 GiB, else up to 2.75 GiB)."""
        lowmem = 0x80000000 if self.memory_size >= 0xB0000000 else 0xB0000000
        return min(self.memory_size, lowmem)

    @property
    def above_4g_mem_size(self) -> int:
        """RAM QEMU maps from 4 GiB up."""
        return self.memory_size - self.below_4g_mem_size

    @property
    def pci_hole64_start(self) -> int:
        """Start of the DSDT's 64-bit PCI window (TDVF's aperture base; see :data:`TDVF_MMIO64_BASE`)."""
        return TDVF_MMIO64_BASE

    @property
    def slots(self) -> tuple[int, ...]:
        """The occupied device slots on ``pcie.0`` (besides the host bridge and the LPC), sorted."""
        return tuple(sorted({dev.slot for dev in self.devices if dev.root_port is None}))
