"""pvmkit.formats.fat against FAT12/16/32 images made by Debian's mkfs.fat and mcopy: every file reads
back as the bytes mcopy was given (tests/vectors/README.md, "Filesystem readers")."""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.fat import open_fat
from support.disktools import fat_image, run_tool

pytestmark = pytest.mark.crosscheck


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "EFI/BOOT/BOOTX64.EFI": os.urandom(70_000),
        "EFI/BOOT/grubx64.efi": os.urandom(3000),
        "EFI/BOOT/fbx64.efi": b"",
        "EFI/debian/grub.cfg": b"search.fs_uuid 0000 root\n",
        "EFI/debian/BOOTX64.CSV": "shimx64.efi,debian,,This is the boot entry for debian\n".encode("utf-16"),
        "EFI/Linux/a long name with spaces and more than 13 characters.efi": os.urandom(1500),
        "EFI/Linux/Grüße-ünïcode.txt": b"latin and more",
        "deep/a/b/c/d/e/f/g/h/file": b"deep",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    for i in range(300):  # a directory spanning several clusters
        (root / "many" / f"file-{i:04d}.dat").parent.mkdir(exist_ok=True)
        (root / "many" / f"file-{i:04d}.dat").write_bytes(b"%d" % i)
        files[f"many/file-{i:04d}.dat"] = b"%d" % i
    return files


@pytest.mark.parametrize(
    ("bits", "size_kib", "options"),
    [
        (12, 2048, ("-F", "12")),
        (16, 16384, ("-F", "16", "-n", "ESP")),
        (32, 40960, ("-F", "32", "-s", "1")),
        (12, 8192, ("-F", "12", "-S", "4096", "-s", "1")),
        (32, 40960, ("-F", "32", "-s", "1", "-f", "1")),
    ],
)
def test_files_read_back_as_written(
    tmp_path: Path, bits: int, size_kib: int, options: tuple[str, ...]
) -> None:
    files = _tree(tmp_path / "tree")
    image = fat_image(tmp_path / "esp.img", tmp_path / "tree", size_kib, *options)
    volume = open_fat(image.read_bytes())
    assert volume.fat_bits == bits
    for name, data in files.items():
        assert volume.read(name) == data, name
        assert volume.size(name) == len(data), name
    assert sorted(volume.listdir("/")) == ["EFI", "deep", "many"]
    assert sorted(volume.listdir("EFI/Linux")) == sorted(
        p.name for p in (tmp_path / "tree/EFI/Linux").iterdir()
    )
    assert len(volume.listdir("/many")) == 300
    # case-insensitive as UEFI compares, '\\' separators, '.' and '..'
    assert volume.read("\\efi\\boot\\bootx64.efi") == files["EFI/BOOT/BOOTX64.EFI"]
    assert volume.read("/EFI/LINUX/GRÜSSE-ÜNÏCODE.TXT".replace("SS", "ß")) == b"latin and more"
    assert volume.read("EFI/BOOT/../debian/./GRUB.CFG") == files["EFI/debian/grub.cfg"]
    assert volume.exists("EFI/BOOT") and volume.is_dir("EFI/BOOT") and not volume.is_dir("EFI/BOOT/fbx64.efi")
    assert not volume.exists("EFI/ubuntu/grub.cfg")
    with pytest.raises(InputError, match="no file"):
        volume.read("EFI/ubuntu/shimx64.efi")
    with pytest.raises(InputError, match="not a regular file"):
        volume.read("EFI")


def test_fragmented_file_follows_its_chain(tmp_path: Path) -> None:
    """Files deleted between others leave holes; a large file written afterwards is fragmented."""
    image = fat_image(tmp_path / "esp.img", None, 2048, "-F", "12")
    for i in range(8):
        (tmp_path / f"f{i}").write_bytes(os.urandom(9000))
        run_tool("mcopy", "-i", str(image), str(tmp_path / f"f{i}"), "::/")
    for i in range(0, 8, 2):
        run_tool("mdel", "-i", str(image), f"::/f{i}")
    big = os.urandom(60_000)
    (tmp_path / "big").write_bytes(big)
    run_tool("mcopy", "-i", str(image), str(tmp_path / "big"), "::/")
    volume = open_fat(image.read_bytes())
    node = dict(volume._entries(volume._root()))["big"]
    chain = list(volume._chain(node.cluster, 1000, "big"))
    assert any(b != a + 1 for a, b in itertools.pairwise(chain))  # really fragmented
    assert volume.read("BIG") == big
    assert volume.read("f3") == (tmp_path / "f3").read_bytes()


def _fat_offsets(data: bytes) -> tuple[int, int, int]:
    sec, spc, rsvd = struct.unpack_from("<HBH", data, 11)
    return sec, spc, rsvd


def test_cyclic_chain_and_truncation_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "LOOP.BIN").write_bytes(os.urandom(20_000))
    image = bytearray(fat_image(tmp_path / "esp.img", tmp_path / "tree", 16384, "-F", "16").read_bytes())
    volume = open_fat(bytes(image))
    node = dict(volume._entries(volume._root()))["LOOP.BIN"]
    sec, _spc, rsvd = _fat_offsets(image)
    # point the file's second cluster back at its first: a cycle in every FAT copy
    for fat in range(image[16]):
        base = (rsvd + fat * struct.unpack_from("<H", image, 22)[0]) * sec
        struct.pack_into("<H", image, base + 2 * (node.cluster + 1), node.cluster)
    with pytest.raises(FormatError, match="comes back to cluster"):
        open_fat(bytes(image)).read("loop.bin")
    with pytest.raises(FormatError, match="the volume claims"):
        open_fat(bytes(image[: len(image) // 2]))
    with pytest.raises(FormatError, match="signature"):
        open_fat(bytes(512))
