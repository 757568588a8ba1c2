"""Synthetic PE32+ images for the Authenticode and Linux-boot tests (layout per the PE/COFF
specification and the x86 boot protocol, Documentation/arch/x86/boot.rst)."""

from __future__ import annotations

import os
import struct


def make_pe(total: int = 0x1000, *, bzimage: bool = True, cert: bytes = b"", sections: int = 2) -> bytes:
    """A small PE32+ image: MZ, PE header at 0x40, 16 data directories, ``sections`` sections of 0x200
    bytes from 0x200, an x86 setup header (HdrS, protocol 2.15) at 0x1F1, optional trailing cert."""
    img = bytearray(os.urandom(total))
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3C, 0x40)
    img[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", img, 0x44, 0x8664, sections, 0, 0, 0, 240, 0x206)
    opt = 0x58
    img[opt : opt + 240] = bytes(240)
    struct.pack_into("<H", img, opt, 0x20B)
    struct.pack_into("<I", img, opt + 60, 0x200)  # SizeOfHeaders
    struct.pack_into("<I", img, opt + 64, 0x12345678)  # CheckSum (excluded)
    struct.pack_into("<I", img, opt + 108, 16)
    if cert:
        struct.pack_into("<II", img, opt + 112 + 32, total, len(cert))
    table = opt + 240
    for i in range(sections):
        entry = bytearray(40)
        entry[:8] = f".s{i}".encode().ljust(8, b"\0")
        struct.pack_into("<IIII", entry, 8, 0x200, 0x1000 * (i + 1), 0x200, 0x200 * (i + 1))
        img[table + 40 * i : table + 40 * (i + 1)] = entry
    if bzimage:
        img[0x1F1] = 1  # setup_sects
        struct.pack_into("<I", img, 0x202, 0x53726448)
        struct.pack_into("<H", img, 0x206, 0x20F)
        img[0x210] = 0
        img[0x211] = 0x01  # LOADED_HIGH
        struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
        struct.pack_into("<H", img, 0x236, 0x0B)  # xloadflags: KERNEL_64 | ABOVE_4G | EFI_HANDOVER_64
    return bytes(img) + cert


def make_uki(sections: dict[str, bytes], *, file_alignment: int = 0x200) -> bytes:
    """A PE32+ image holding the named sections (a UKI's layout as ukify writes it: each section's
    VirtualSize is its data size, SizeOfRawData the size rounded up to the file alignment)."""
    count = len(sections)
    headers = 0x40 + 24 + 240 + 40 * count
    first = (headers + file_alignment - 1) // file_alignment * file_alignment
    img = bytearray(first)
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3C, 0x40)
    img[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", img, 0x44, 0x8664, count, 0, 0, 0, 240, 0x206)
    opt = 0x58
    struct.pack_into("<H", img, opt, 0x20B)
    struct.pack_into("<II", img, opt + 32, 0x1000, file_alignment)
    struct.pack_into("<I", img, opt + 60, first)
    struct.pack_into("<I", img, opt + 108, 16)
    table = opt + 240
    body = bytearray()
    for i, (name, data) in enumerate(sections.items()):
        raw_size = (len(data) + file_alignment - 1) // file_alignment * file_alignment
        entry = bytearray(40)
        entry[:8] = name.encode().ljust(8, b"\0")
        struct.pack_into("<IIII", entry, 8, len(data), 0x1000 * (i + 1), raw_size, first + len(body))
        img[table + 40 * i : table + 40 * (i + 1)] = entry
        body += data + bytes(raw_size - len(data))
    return bytes(img + body)
