"""Filesystem images and GPT disks made by Debian's own tools, the oracles of the FAT and ext4 readers
and the source of the disk images of the shim + GRUB boot (tests/vectors/README.md, "Filesystem
readers"): ``mkfs.fat`` (dosfstools), ``mcopy``/``mmd`` (mtools), ``sfdisk`` (util-linux's fdisk) and
``mke2fs -d`` (e2fsprogs). ``tools/fetch_peers.py`` puts bookworm's builds in ``PVMKIT_DISK_TOOLS``
(``.cache/peers/disk-tools``, also looked at without the variable); else the host's tools on PATH;
without those, the test skips (fails under CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support.fixtures import missing

__all__ = ["disk_tool", "ext4_image", "fat_image", "gpt_disk", "run_tool"]


#: where tools/fetch_peers.py puts the wrapper scripts (used when PVMKIT_DISK_TOOLS is not set, e.g.
#: by ./dev fuzz, which does not run fetch_peers.py)
_CACHED = Path(__file__).resolve().parents[2] / ".cache" / "peers" / "disk-tools"


def disk_tool(name: str) -> str:
    for where in (os.environ.get("PVMKIT_DISK_TOOLS"), str(_CACHED)):
        if where and (Path(where) / name).exists():
            return str(Path(where) / name)
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        missing(f"{name} not found (./dev test fetches Debian's disk tools: PVMKIT_DISK_TOOLS)", "under CI")
    return found


def run_tool(*argv: str) -> str:
    proc = subprocess.run(
        [disk_tool(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"{argv}: {proc.stderr.strip()}"
    return proc.stdout


def fat_image(path: Path, tree: Path | None, size_kib: int, *mkfs_options: str) -> Path:
    """A FAT image of ``size_kib`` KiB made by ``mkfs.fat OPTIONS`` holding ``tree``'s files (mcopy)."""
    with open(path, "wb") as f:
        f.truncate(size_kib * 1024)
    run_tool("mkfs.fat", *mkfs_options, str(path))
    if tree is not None:
        for item in sorted(tree.iterdir()):
            run_tool("mcopy", "-s", "-i", str(path), str(item), "::/")
    return path


def ext4_image(path: Path, tree: Path, size_kib: int, *mke2fs_options: str) -> Path:
    """An ext2/3/4 image made by ``mke2fs -d TREE OPTIONS`` (``-F -q`` added)."""
    with open(path, "wb") as f:
        f.truncate(size_kib * 1024)
    run_tool("mke2fs", "-F", "-q", *mke2fs_options, "-d", str(tree), str(path))
    return path


def gpt_disk(path: Path, partitions: list[tuple[str, Path]], slots: list[int] | None = None) -> list[int]:
    """A GPT disk made by ``sfdisk`` with one partition per ``(type, image)`` (sfdisk type names such
    as ``U`` for the ESP and ``L`` for Linux) in the entry-array ``slots`` given (default 1, 2, …),
    each image copied into its partition; returns the partitions' first sectors."""
    sizes = [(kind, img, -(-img.stat().st_size // 512)) for kind, img in partitions]
    total = 2048 + sum(s for _k, _i, s in sizes) + 2048 * len(sizes) + 2048
    with open(path, "wb") as f:
        f.truncate(total * 512)
    slots = slots or list(range(1, len(sizes) + 1))
    lines = ["label: gpt"]
    lines += [
        f"{path}{slot} : size={s}, type={kind}" for slot, (kind, _img, s) in zip(slots, sizes, strict=True)
    ]
    proc = subprocess.run(
        [disk_tool("sfdisk"), "--no-reread", "--no-tell-kernel", str(path)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    dump = run_tool("sfdisk", "--dump", str(path))
    starts = {
        int(line.split(":")[0].strip()[len(str(path)) :]): int(line.split("start=")[1].split(",")[0])
        for line in dump.splitlines()
        if "start=" in line
    }
    with open(path, "r+b") as f:
        for slot, (_kind, img, _s) in zip(slots, sizes, strict=True):
            f.seek(starts[slot] * 512)
            with open(img, "rb") as src:
                shutil.copyfileobj(src, f)
    return [starts[slot] for slot in slots]
