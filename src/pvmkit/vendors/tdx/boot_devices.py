"""The devices of a QEMU launch that OVMF can make boot options of (``-device`` options).

One :class:`BootDevice` per PCI function that a firmware driver may turn into a bootable handle: its
QEMU model, where it sits, its ``bootindex`` and, for a NIC, its MAC address. The QEMU command-line
reader (:mod:`pvmkit.vendors.tdx.acpi.qemu_args`) produces them; the boot-option model
(:mod:`pvmkit.vendors.tdx.ovmf_boot_options`) and QEMU's ``bootorder`` fw_cfg file are computed from
them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError

__all__ = ["BootDevice"]


@dataclass(frozen=True)
class BootDevice:
    """One PCI function of the launch, as far as boot options depend on it."""

    model: str  #: QEMU ``-device`` model, e.g. ``"virtio-blk-pci"``, ``"virtio-net-pci"``
    slot: int  #: PCI device number on ``pcie.0`` (0 behind a root port)
    function: int = 0  #: PCI function 0..7
    bootindex: int | None = None  #: ``bootindex=`` (QEMU ``bootorder`` fw_cfg), None when not given
    mac: bytes | None = None  #: a NIC's MAC address (6 bytes, given or QEMU's default), else None
    root_port: int | None = None  #: ``pcie.0`` slot of the root port it sits behind, None: on pcie.0
    #: QEMU gives it a PCI option ROM: a non-empty ``romfile=``, or none given on a model with a
    #: default ROM (virtio-net-pci: efi-virtio.rom, QEMU hw/virtio/virtio-net-pci.c)
    option_rom: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.slot <= 31 or not 0 <= self.function <= 7:
            raise InputError(f"{self.model} at PCI {self.slot:#x}.{self.function} is outside 0x0-0x1f.0-7")
        if self.bootindex is not None and self.bootindex < 0:
            raise InputError(f"bootindex {self.bootindex} of {self.model} is negative")
        if self.mac is not None and len(self.mac) != 6:
            raise InputError(f"MAC address of {self.model} has {len(self.mac)} bytes, not 6")
