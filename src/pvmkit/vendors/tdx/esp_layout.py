"""Which files a shim + GRUB boot loads from an EFI system partition, read from the ESP itself (any
:class:`pvmkit.formats.fsview.FileTree`: a FAT volume of a disk image, or an ESP directory).

The chain of a first boot of a disk with no boot entries (a fresh TD: OVMF boots the removable path):

1. the firmware starts ``\\EFI\\BOOT\\BOOTX64.EFI`` (UEFI 2.10 §3.5.1.1, removable media boot
   behaviour; x64's file name) — shim;
2. shim starts its fallback when it was started as ``\\EFI\\BOOT\\BOOT*.EFI`` and
   ``\\EFI\\BOOT\\fbx64.efi`` exists (shim ``shim.c`` ``should_use_fallback``, ``FALLBACK`` =
   ``\\fb`` + ``EFI_ARCH`` + ``.efi``);
3. the fallback (shim ``fallback.c``: ``find_boot_options`` walks the directories of ``\\EFI`` but
   ``BOOT`` in directory order, ``find_boot_csv`` reads each one's ``BOOTX64.CSV``, UCS-2 lines
   ``file,label,options,description``; ``try_start_first_option`` starts the first entry it
   created) starts ``\\EFI\\<dir>\\<file>``, shim again;
4. shim starts ``grubx64.efi`` from the directory it was started from (``DEFAULT_LOADER``
   ``\\grubx64.efi``, ``shim.c`` ``generate_path_from_image_path``);
5. GRUB reads ``$prefix/grub.cfg`` (``grub-core/normal/main.c``). ``prefix`` is the boot device and
   the path GRUB's image embeds (its ``mods`` section, ``OBJ_TYPE_PREFIX``; ``grub-mkimage -p``), or,
   without one, the directory GRUB was loaded from (``grub-core/kern/main.c``
   ``grub_set_prefix_and_root``, ``grub-core/kern/efi/init.c`` ``grub_machine_get_bootlocation``).
   A GRUB image that embeds a configuration (``OBJ_TYPE_CONFIG``, such as Debian's
   ``normal (memdisk)/grub.cfg``) runs that first: not modelled, refused.

GRUB's image: the ``mods`` section starts with ``struct grub_module_info64`` (magic ``mimg``
0x676d696d, padding, UINT64 offset and size of the modules), then ``struct grub_module_header``
records (UINT32 type, UINT32 size including the header) (``include/grub/kernel.h``). Shim's
``.sbatlevel`` section (shim ``sbat_var.S``): UINT32 version 0, UINT32 offsets (from byte 4) of the
"previous" and "latest" NUL-terminated SbatLevel texts; with no SbatLevel variable yet (a fresh TD)
shim applies "previous" (``SBAT_POLICY`` default, ``sbat.c`` ``set_sbat_uefi_variable``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pvmkit.errors import FormatError, InputError
from pvmkit.vendors.tdx.uki import pe_sections

if TYPE_CHECKING:
    from pvmkit.formats.fsview import ByteData, FileTree

__all__ = [
    "FALLBACK_PATH",
    "REMOVABLE_PATH",
    "EspBootChain",
    "GrubImageInfo",
    "esp_boot_chain",
    "grub_image_info",
    "grub_prefix",
    "shim_sbat_level",
]

REMOVABLE_PATH = "\\EFI\\BOOT\\BOOTX64.EFI"
FALLBACK_PATH = "\\EFI\\BOOT\\fbx64.efi"
_CSV_NAMES = ("BOOTX64.CSV", "BOOT.CSV")
_GRUB = "grubx64.efi"
_MIMG = 0x676D696D
_OBJ_ELF, _OBJ_MEMDISK, _OBJ_CONFIG, _OBJ_PREFIX = 0, 1, 2, 3


@dataclass(frozen=True)
class EspBootChain:
    shim: str  #: the shim the firmware starts (UEFI path)
    grub: str  #: the GRUB shim starts
    fallback: str | None = None  #: fbx64.efi when shim runs it
    vendor_shim: str | None = None  #: the shim the fallback starts


def _directory(path: str) -> str:
    return path.rsplit("\\", 1)[0]


def _csv_entry(esp: FileTree[Any], directory: str) -> str | None:
    for name in _CSV_NAMES:
        path = f"\\EFI\\{directory}\\{name}"
        if esp.is_file(path):
            raw = esp.read(path)
            text = raw.decode("utf-16", errors="replace") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
            for line in text.splitlines():
                first = line.split(",", 1)[0].strip()
                if first:
                    return f"\\EFI\\{directory}\\{first}"
    return None


def esp_boot_chain(esp: FileTree[Any]) -> EspBootChain:
    """The files of a first boot through shim on ``esp``; InputError when there is no boot path."""
    if not esp.is_file(REMOVABLE_PATH):
        raise InputError(f"{esp.label}: no {REMOVABLE_PATH} (the removable-media boot path) to start")
    if not esp.is_file(FALLBACK_PATH):
        return _with_grub(esp, EspBootChain(REMOVABLE_PATH, f"{_directory(REMOVABLE_PATH)}\\{_GRUB}"))
    for directory in esp.listdir("\\EFI"):
        if directory.upper() == "BOOT" or not esp.is_dir(f"\\EFI\\{directory}"):
            continue
        vendor = _csv_entry(esp, directory)
        if vendor is not None:
            if not esp.is_file(vendor):
                raise InputError(f"{esp.label}: the fallback would start {vendor}, which does not exist")
            grub = f"{_directory(vendor)}\\{_GRUB}"
            return _with_grub(esp, EspBootChain(REMOVABLE_PATH, grub, FALLBACK_PATH, vendor))
    raise InputError(f"{esp.label}: shim's fallback finds no \\EFI\\*\\BOOTX64.CSV naming a boot entry")


def _with_grub(esp: FileTree[Any], chain: EspBootChain) -> EspBootChain:
    if not esp.is_file(chain.grub):
        raise InputError(
            f"{esp.label}: shim would start {chain.grub}, which does not exist: "
            "no boot path pvmkit can follow"
        )
    return chain


@dataclass(frozen=True)
class GrubImageInfo:
    prefix: str | None  #: the embedded prefix (``/EFI/ubuntu``, ``(hd0,gpt2)/boot/grub``), if any
    config: bytes | None  #: the embedded configuration, if any
    memdisk: bytes | None = None  #: the embedded memdisk image (GRUB's ``(memdisk)`` device), if any
    #: the modules built in (each ELF module's ``.modname``); ``insmod`` of another reads a file
    modules: frozenset[str] = frozenset()

    def normal_config(self) -> str | None:
        """The file an embedded configuration of the one command ``normal FILE`` (Debian's signed
        GRUB: ``normal (memdisk)/grub.cfg``) makes normal mode read first; None without an embedded
        configuration; InputError for any other embedded configuration."""
        if self.config is None:
            return None
        text = self.config.decode("utf-8", "replace").strip()
        m = re.fullmatch(r"normal\s+(\S+)", text)
        if m is None:
            first = text.splitlines()[0] if text else ""
            raise InputError(f"GRUB's image embeds a configuration ({first!r}), which pvmkit does not follow")
        return m.group(1)


def _section(image: ByteData, name: str, what: str) -> bytes | None:
    for s in pe_sections(image, what):
        if s.name == name:
            raw = bytes(image[s.raw_pointer : s.raw_pointer + min(s.raw_size, s.virtual_size)])
            return raw
    return None


def grub_image_info(image: ByteData, what: str = "GRUB") -> GrubImageInfo:
    """The prefix and configuration a GRUB EFI image embeds (none for a PE image without GRUB's
    ``mods`` section; FormatError for a malformed module list)."""
    mods = _section(image, "mods", what)
    if mods is None:  # a PE image without GRUB's module list: nothing embedded
        return GrubImageInfo(None, None)
    if len(mods) < 24 or struct.unpack_from("<I", mods, 0)[0] != _MIMG:
        raise FormatError(f"{what}: its 'mods' section does not start with 'mimg'", what=what)
    offset, size = struct.unpack_from("<QQ", mods, 8)
    if size > len(mods):
        raise FormatError(f"{what}: its module list claims {size} bytes", what=what)
    prefix = config = memdisk = None
    modules: set[str] = set()
    while offset + 8 <= size:
        kind, length = struct.unpack_from("<II", mods, offset)
        if length < 8 or offset + length > size:
            raise FormatError(f"{what}: a module of {length} bytes does not fit", what=what, offset=offset)
        body = mods[offset + 8 : offset + length]
        if kind == _OBJ_PREFIX:
            prefix = body.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == _OBJ_CONFIG:
            config = body.split(b"\0", 1)[0]
        elif kind == _OBJ_MEMDISK:
            memdisk = bytes(body)
        elif kind == _OBJ_ELF:
            modules.add(_module_name(bytes(body), what, offset))
        offset += length
    return GrubImageInfo(prefix or None, config or None, memdisk or None, frozenset(modules))


def _module_name(elf: bytes, what: str, at: int) -> str:
    """An ELF64 module's name: its ``.modname`` section (``grub-core/kern/dl.c`` ``grub_dl_resolve_name``)."""
    try:
        if elf[:4] != b"\x7fELF" or elf[4] != 2:
            raise ValueError("not an ELF64 object")
        (shoff,) = struct.unpack_from("<Q", elf, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
        if shentsize < 64 or shstrndx >= shnum:
            raise ValueError("bad section headers")
        strtab = struct.unpack_from("<Q", elf, shoff + shstrndx * shentsize + 24)[0]
        for i in range(shnum):
            name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
            end = elf.index(b"\0", strtab + name)
            if elf[strtab + name : end] == b".modname":
                if off + size > len(elf):
                    raise ValueError(".modname outside the module")
                return elf[off : off + size].split(b"\0", 1)[0].decode("ascii")
        raise ValueError("no .modname section")
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise FormatError(f"{what}: a built-in module cannot be read ({exc})", what=what, offset=at) from None


def grub_prefix(info: GrubImageInfo | None, grub_path: str, boot_device: str) -> str:
    """GRUB's ``prefix`` (``(hd0,gpt15)/EFI/ubuntu``) for a GRUB started from ``grub_path`` on
    ``boot_device`` (``hd0,gpt15``); ``info`` None: the image is not at hand (given as a digest)."""
    prefix = info.prefix if info is not None else None
    if prefix and prefix.startswith("("):
        return prefix
    path = prefix or _directory(grub_path).replace("\\", "/")
    return f"({boot_device}){path}"


def shim_sbat_level(image: ByteData, what: str = "shim") -> bytes | None:
    """The SbatLevel a shim applies on a machine without one (its ``.sbatlevel`` "previous" text),
    or None for a shim without that section (before shim 15.7)."""
    for s in pe_sections(image, what):
        if s.name.startswith("/") or s.name == ".sbatlevel":
            data = bytes(image[s.raw_pointer : s.raw_pointer + min(s.raw_size, s.virtual_size)])
            if s.name == ".sbatlevel" or _long_name(image, s.name) == ".sbatlevel":
                if len(data) < 12:
                    raise FormatError(f"{what}: its .sbatlevel section is too short", what=what)
                (previous,) = struct.unpack_from("<I", data, 4)
                text = data[4 + previous :].split(b"\0", 1)[0]
                if 4 + previous >= len(data) or not text:
                    raise FormatError(f"{what}: its .sbatlevel 'previous' offset is outside it", what=what)
                return text
    return None


def _long_name(image: ByteData, name: str) -> str:
    """A section's long name ``/N``: offset N in the COFF string table after the symbol table."""
    try:
        index = int(name[1:])
    except ValueError:
        return name
    (pe,) = struct.unpack_from("<I", image, 0x3C)
    symbols, count = struct.unpack_from("<II", image, pe + 12)
    start = symbols + 18 * count + index
    if not symbols or start >= len(image):
        return name
    return bytes(image[start : start + 64]).split(b"\0", 1)[0].decode("ascii", "replace")
