"""The cpio archives systemd-stub generates from UKI sections (``pack_cpio_literal``: the same code in
systemd 252's and 254's ``src/boot/efi/cpio.c`` and 257's ``src/boot/cpio.c``), which it appends to the
initrd the kernel receives and measures.

The "newc" format the kernel unpacks (Linux Documentation/driver-api/early-userspace/buffer-format.rst):
each entry is the magic ``070701``, thirteen 8-digit hexadecimal fields (inode, mode, uid, gid, nlink,
mtime, file size, dev major/minor, rdev major/minor, name size including its NUL, check), the name with
its NUL, padded to a multiple of 4 from the archive's start, then the data, padded likewise. systemd's
choices: inodes counted from 1, uid/gid/mtime/devices 0, nlink 1; one directory entry per leading path
component (mode 0555, the last one the given mode), then the file; and a fixed ``TRAILER!!!`` record
whose name-size field is written ``0000000B`` (upper case) and which ends in four NUL bytes.
"""

from __future__ import annotations

__all__ = ["cpio_literal"]

_S_IFDIR = 0o040000
_S_IFREG = 0o100000
#: pack_cpio_trailer's record, as written there (``sizeof`` of the string: a fourth NUL)
_TRAILER_RECORD = (
    b"070701"
    + b"00000000" * 4
    + b"00000001"
    + b"00000000" * 6
    + b"0000000B"
    + b"00000000"
    + b"TRAILER!!!\0\0\0\0"
)


def _entry(out: bytearray, inode: int, mode: int, name: bytes, data: bytes) -> None:
    fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    out += b"070701" + b"".join(b"%08x" % f for f in fields) + name + b"\0"
    out += bytes(-len(out) % 4)
    if data:
        out += data
        out += bytes(-len(out) % 4)


def cpio_literal(data: bytes, directory: str, filename: str, dir_mode: int, access_mode: int) -> bytes:
    """The archive ``pack_cpio_literal`` builds: ``directory`` (each leading component), then
    ``directory/filename`` holding ``data``, then the trailer."""
    out = bytearray()
    inode = 1
    parts = directory.split("/")
    for i in range(len(parts)):
        if not parts[i]:
            continue
        mode = dir_mode if i == len(parts) - 1 else 0o555
        _entry(out, inode, mode | _S_IFDIR, "/".join(parts[: i + 1]).encode(), b"")
        inode += 1
    _entry(out, inode, access_mode | _S_IFREG, f"{directory}/{filename}".encode(), data)
    return bytes(out + _TRAILER_RECORD)
