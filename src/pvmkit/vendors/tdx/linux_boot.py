"""Direct Linux boot under QEMU + OVMF: the kernel bytes and command line measured (spec tdx.md §2.3–2.4).

**Kernel bytes (RTMR1).** QEMU's ``x86_load_linux`` patches the bzImage setup header in the fw_cfg
copy it serves as "setup + kernel" (:func:`qemu_patch_setup_header`):

=========  ===========================================================================
offset     value
=========  ===========================================================================
0x210      type_of_loader = 0xB0
0x211      loadflags ``|= 0x80`` (CAN_USE_HEAP), protocol ≥ 0x201
0x224      heap_end_ptr (u16) = cmdline_addr − real_addr − 0x200 (0xFE00 for modern kernels)
0x228      cmd_line_ptr = cmdline_addr (0x20000), protocol ≥ 0x202
0x1FA      vid_mode, only when the command line has ``vga=`` (normal/ext/ask/number)
0x218      ramdisk_image = (initrd_max − initrd_size) & ~0xFFF, with an initrd
0x21C      ramdisk_size, with an initrd
=========  ===========================================================================

``initrd_max`` is 0xFFFFFFFF when protocol ≥ 0x20C and xloadflags has XLF_CAN_BE_LOADED_ABOVE_4G
(bit 1, value 0x2, as in QEMU and Linux ``bootparam.h``; the spec's "0x40" is XLF_5LEVEL_ENABLED and
is not what QEMU tests), else ``initrd_addr_max`` at 0x22C (protocol ≥ 0x203) or 0x37FFFFFF; it is
clamped to ``below_4g − acpi_data_size (0x28000) − 1``. The patched digest therefore depends on the
RAM size below 4 GiB and on the initrd size.

Whether OVMF measures the patched or the original file (:func:`kernel_is_patched`):

=================  ===============  ===========================================
QEMU               OVMF             measured kernel
=================  ===============  ===========================================
< 10.0             any              patched header
10.0, 10.1         < stable202502   patched
10.0, 10.1         ≥ stable202502   original (OVMF reads ``etc/boot/kernel``)
≥ 10.2             any              original (QEMU no longer patches CoCo guests)
=================  ===============  ===========================================

**Command line (RTMR2).** OVMF hands the kernel LoadOptions built from ``-append``
(:func:`load_options`): ``["kernel " with -shim] + ["initrd=initrd " with an initrd] + cmdline`` since
edk2 commit a2ac0fea49 (first in stable202508), ``cmdline + [" initrd=initrd"]`` before. The Linux EFI
stub (≥ 6.9) measures them as UTF-16LE **including** the terminating UTF-16 NUL.
"""

from __future__ import annotations

import struct

from pvmkit.errors import InputError, MeasurementError
from pvmkit.plan import ByteData

__all__ = [
    "ACPI_DATA_SIZE",
    "INITRD_PREFIX_SINCE",
    "NAMED_BLOBS_SINCE",
    "kernel_is_patched",
    "kernel_release",
    "load_options",
    "qemu_patch_setup_header",
]

ACPI_DATA_SIZE = 0x20000 + 0x8000  # QEMU pc/q35 acpi_data_size
#: OVMF (stable tag (year, month)) from which LoadOptions start with "initrd=initrd ".
INITRD_PREFIX_SINCE = (2025, 8)
#: OVMF from which QemuKernelLoaderFsDxe prefers the named fw_cfg blobs ``etc/boot/*``.
NAMED_BLOBS_SINCE = (2025, 2)

_XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1
_HDRS = 0x53726448  # "HdrS"


def kernel_is_patched(qemu: tuple[int, int], ovmf: tuple[int, int]) -> bool:
    """Whether OVMF measures QEMU's patched setup header (True) or the original file (False)."""
    if qemu >= (10, 2):
        return False
    if qemu >= (10, 0):
        return ovmf < NAMED_BLOBS_SINCE
    return True


def _vga_mode(cmdline: str) -> int | None:
    """QEMU's ``vga=`` handling: normal/ext/ask or a C integer (base 0); anything else QEMU refuses."""
    at = cmdline.find("vga=")
    if at < 0:
        return None
    value = cmdline[at + 4 :]
    for word, mode in (("normal", 0xFFFF), ("ext", 0xFFFE), ("ask", 0xFFFD)):
        if value.startswith(word):
            return mode
    token = value.split(" ", 1)[0]
    try:
        if token[:2].lower() == "0x":
            number = int(token[2:], 16)
        elif token.startswith("0") and len(token) > 1:
            number = int(token[1:], 8)
        else:
            number = int(token, 10)
    except ValueError:
        raise InputError(f"QEMU refuses the kernel parameter vga={token!r}") from None
    if not 0 <= number <= 0xFFFFFFFF:
        raise InputError(f"QEMU refuses the kernel parameter vga={token!r}")
    return number & 0xFFFF


def qemu_patch_setup_header(
    kernel: ByteData, *, below_4g: int, cmdline: str = "", initrd_size: int | None = None
) -> bytes:
    """The bzImage as QEMU serves it over fw_cfg (setup + kernel) for ``-kernel``/``-append``/``-initrd``.

    ``below_4g`` is the guest RAM below 4 GiB (:func:`pvmkit.vendors.tdx.td_hob.q35_ram_ranges`);
    ``initrd_size`` None means no ``-initrd``.
    """
    if len(kernel) < 0x268 or struct.unpack_from("<I", kernel, 0x202)[0] != _HDRS:
        raise MeasurementError("kernel is not a bzImage (no HdrS setup header); QEMU would not patch it")
    header = bytearray(kernel)
    protocol = struct.unpack_from("<H", header, 0x206)[0]
    cmdline_size = (len(cmdline.encode()) + 16) & ~15
    if protocol < 0x202 or not header[0x211] & 0x01:  # low or ancient kernels
        real_addr, cmdline_addr = 0x90000, 0x9A000 - cmdline_size
    else:
        real_addr, cmdline_addr = 0x10000, 0x20000
    if protocol >= 0x20C and struct.unpack_from("<H", header, 0x236)[0] & _XLF_CAN_BE_LOADED_ABOVE_4G:
        initrd_max = 0xFFFFFFFF
    elif protocol >= 0x203:
        initrd_max = struct.unpack_from("<I", header, 0x22C)[0]
    else:
        initrd_max = 0x37FFFFFF
    if initrd_max >= below_4g - ACPI_DATA_SIZE:
        initrd_max = below_4g - ACPI_DATA_SIZE - 1
    if protocol >= 0x202:
        struct.pack_into("<I", header, 0x228, cmdline_addr)
    else:
        struct.pack_into("<HH", header, 0x20, 0xA33F, cmdline_addr - real_addr)
    vga = _vga_mode(cmdline)
    if vga is not None:
        struct.pack_into("<H", header, 0x1FA, vga)
    header[0x210] = 0xB0
    if protocol >= 0x201:
        header[0x211] |= 0x80
        struct.pack_into("<H", header, 0x224, (cmdline_addr - real_addr - 0x200) & 0xFFFF)
    if initrd_size is not None:
        if initrd_size >= initrd_max:
            raise InputError(f"initrd of {initrd_size} bytes is too large for QEMU (limit {initrd_max:#x})")
        struct.pack_into("<II", header, 0x218, (initrd_max - initrd_size) & ~0xFFF, initrd_size)
    return bytes(header)


def load_options(cmdline: str, *, initrd: bool, ovmf: tuple[int, int], shim: bool = False) -> bytes:
    """The LoadOptions OVMF passes to the kernel (UTF-16LE with the terminating NUL), as measured."""
    if ovmf >= INITRD_PREFIX_SINCE:
        text = ("kernel " if shim else "") + ("initrd=initrd " if initrd else "") + cmdline
    else:
        if shim:
            raise InputError("-shim needs OVMF ≥ stable202502; the prefix rule of older OVMF is not modelled")
        text = cmdline + (" initrd=initrd" if initrd else "")
    return (text + "\0").encode("utf-16-le")


def kernel_release(kernel: ByteData) -> tuple[int, int] | None:
    """(major, minor) of the Linux release a bzImage names, or None where it names none.

    Linux boot protocol (``Documentation/arch/x86/boot.rst``): ``kernel_version`` at 0x20E (2 bytes,
    protocol 2.00+, the "HdrS" header at 0x202) is, when nonzero, the offset less 0x200 of a
    NUL-terminated version string such as ``6.1.0-18-amd64 (debian-kernel@…) #1 SMP …``.
    """
    import re

    if len(kernel) < 0x210 or struct.unpack_from("<I", kernel, 0x202)[0] != _HDRS:
        return None
    pointer = struct.unpack_from("<H", kernel, 0x20E)[0]
    if pointer == 0:
        return None
    start = pointer + 0x200
    text = bytes(kernel[start : start + 64]).split(b"\0", 1)[0]
    match = re.match(rb"(\d{1,3})\.(\d{1,3})[.\-+ ]", text + b" ")
    return (int(match.group(1)), int(match.group(2))) if match else None
