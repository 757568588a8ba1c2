"""pvmkit.formats.ext4 against ext2/ext3/ext4 images made by Debian's ``mke2fs -d`` (and ``e2fsck -fD``,
which builds hashed directory indexes): every file reads back as the bytes of the directory mke2fs
copied, symlinks resolve as on the host (tests/vectors/README.md, "Filesystem readers")."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ext4 import open_ext4
from support.disktools import disk_tool, ext4_image

pytestmark = pytest.mark.crosscheck

KERNEL = "vmlinuz-6.1.0-13-amd64"
LONG_TARGET = "grub/" + "a-very-long-directory-name-for-a-slow-symlink/" * 2 + "target.cfg"


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        f"boot/{KERNEL}": os.urandom(300_000),
        "boot/initrd.img-6.1.0-13-amd64": os.urandom(70_000),
        "boot/grub/grub.cfg": b"set default=0\n",
        f"boot/{LONG_TARGET}": b"slow",
        "etc/fstab": b"",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    # a sparse file: one data run every 64 KiB is one extent each, more than the inode's four
    sparse = bytearray(1 << 20)
    with open(root / "boot" / "sparse", "wb") as f:
        for i in range(16):
            chunk = os.urandom(4096)
            f.seek(i * 65536)
            f.write(chunk)
            sparse[i * 65536 : i * 65536 + 4096] = chunk
        f.truncate(1 << 20)
    files["boot/sparse"] = bytes(sparse)
    (root / "boot" / "vmlinuz").symlink_to(KERNEL)  # fast symlink, relative
    (root / "vmlinuz").symlink_to(f"boot/{KERNEL}")  # Debian's root-level link
    (root / "boot" / "slow").symlink_to(LONG_TARGET)  # 100 bytes: a slow symlink
    (root / "boot" / "absolute").symlink_to("/boot/grub/grub.cfg")
    (root / "boot" / "grub2").symlink_to("grub")  # a link to a directory
    (root / "boot" / "loop").symlink_to("loop")
    for i in range(400):  # a directory of several blocks (hashed after e2fsck -D)
        (root / "many").mkdir(exist_ok=True)
        (root / "many" / f"entry-{i:04d}-with-a-longer-name").write_bytes(b"%d" % i)
        files[f"many/entry-{i:04d}-with-a-longer-name"] = b"%d" % i
    return files


def _e2fsck_optimize(image: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [disk_tool("e2fsck"), "-fyD", str(image)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: "file system was modified" (the indexes)


@pytest.mark.parametrize(
    "options",
    [
        ("-t", "ext4"),
        ("-t", "ext4", "-O", "^64bit,^metadata_csum", "-b", "1024"),
        ("-t", "ext3", "-b", "2048"),
        ("-t", "ext2", "-b", "1024"),
    ],
)
def test_files_and_symlinks_read_back(tmp_path: Path, options: tuple[str, ...]) -> None:
    files = _tree(tmp_path / "tree")
    image = ext4_image(
        tmp_path / "root.img",
        tmp_path / "tree",
        16384,
        "-U",
        "960cb05a-e11f-4dd7-a4f1-bb5727d07e1a",
        *options,
    )
    _e2fsck_optimize(image)
    fs = open_ext4(image.read_bytes())
    assert fs.uuid == "960cb05a-e11f-4dd7-a4f1-bb5727d07e1a"
    for name, data in files.items():
        assert fs.read(name) == data, name
        assert fs.size(name) == len(data), name
    kernel = files[f"boot/{KERNEL}"]
    assert fs.read("/boot/vmlinuz") == kernel and fs.read("/vmlinuz") == kernel
    assert fs.readlink("/boot/vmlinuz") == KERNEL and fs.readlink("boot/slow") == LONG_TARGET
    assert fs.read("/boot/slow") == b"slow"
    assert fs.read("/boot/absolute") == fs.read("/boot/grub2/grub.cfg") == b"set default=0\n"
    assert fs.read("/boot/grub/../grub2/./grub.cfg") == b"set default=0\n"
    assert sorted(fs.listdir("/boot")) == sorted(p.name for p in (tmp_path / "tree" / "boot").iterdir())
    assert len(fs.listdir("/many")) == 400
    assert not fs.exists("/boot/GRUB/grub.cfg")  # case-sensitive
    with pytest.raises(InputError, match="too many levels of symbolic links"):
        fs.read("/boot/loop")
    with pytest.raises(InputError, match="no file"):
        fs.read("/boot/missing")
    many = dict(fs._entries(fs._root()))["many"]
    if "ext2" not in options:
        assert many.flags & 0x1000  # EXT4_INDEX_FL: e2fsck -D made it a hashed directory
    sparse = dict(fs._entries(dict(fs._entries(fs._root()))["boot"]))["sparse"]
    if "ext4" in options:  # the extent tree of the sparse file is at least one level deep
        assert sparse.flags & 0x80000 and struct.unpack_from("<H", sparse.block, 6)[0] >= 1
    else:  # block maps: the 300 KB kernel needs the double indirect block at 1 KiB blocks
        kernel_inode = dict(fs._entries(dict(fs._entries(fs._root()))["boot"]))[KERNEL]
        assert not kernel_inode.flags & 0x80000


def test_malformed_filesystems_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "file").write_bytes(os.urandom(50_000))
    image = bytearray(ext4_image(tmp_path / "root.img", tmp_path / "tree", 4096, "-t", "ext4").read_bytes())
    fs = open_ext4(bytes(image))
    node = dict(fs._entries(fs._root()))["file"]
    with pytest.raises(FormatError, match="the partition holds"):
        open_ext4(bytes(image[: len(image) // 2]))
    with pytest.raises(FormatError, match="magic 0xEF53"):
        open_ext4(bytes(4096))
    # corrupt the file's extent header magic in its inode (i_block at 0x28)
    group_desc = (struct.unpack_from("<I", image, 1024 + 20)[0] + 1) * fs.block_size
    table = struct.unpack_from("<I", image, group_desc + 8)[0]
    inode_size = struct.unpack_from("<H", image, 1024 + 88)[0]
    off = table * fs.block_size + (node.number - 1) * inode_size + 0x28
    image[off : off + 2] = b"\0\0"
    with pytest.raises(FormatError, match="extent header magic"):
        open_ext4(bytes(image)).read("file")
