"""A read-only view of a file tree, shared by the filesystem readers (:mod:`pvmkit.formats.fat`,
:mod:`pvmkit.formats.ext4`) and by anything else that holds boot files (an ESP given as a directory).

A reader implements five primitives on its own node type (the root, the entries of a directory, what
a node is, a file's bytes, a symlink's target); this base class walks paths over them once for all:
``read``, ``exists``, ``is_dir``, ``listdir``. Paths use ``/`` or ``\\`` (UEFI writes
``\\EFI\\BOOT\\BOOTX64.EFI``), are taken from the tree's root (a leading separator is optional), and
``.``/``..`` work as in POSIX path resolution. Symbolic links are followed, at most
:data:`MAX_SYMLINKS` of them per lookup (Linux ``MAXSYMLINKS``, ``include/linux/namei.h``: 40), and an
absolute target is resolved from the root of the same tree (as GRUB does inside one filesystem).

Every failure is a :class:`~pvmkit.errors.InputError` naming the path (a missing file) or a
:class:`~pvmkit.errors.FormatError` (a malformed filesystem, raised by the reader).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from pvmkit.errors import InputError

if TYPE_CHECKING:
    import mmap
    from pathlib import Path
    from typing import TypeAlias

    #: what the readers take: a partition's bytes, or a view of a mapped disk image (not copied)
    ByteData: TypeAlias = bytes | bytearray | memoryview | mmap.mmap

__all__ = ["MAX_PATH_PARTS", "MAX_SYMLINKS", "DirectoryTree", "FileTree", "NodeKind", "split_path"]

#: symbolic links followed in one lookup (Linux ``MAXSYMLINKS``)
MAX_SYMLINKS = 40
#: path components walked in one lookup, symlink targets included (Linux ``PATH_MAX`` / 2)
MAX_PATH_PARTS = 2048

N = TypeVar("N")


class NodeKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"  #: devices, FIFOs, sockets: never read


def split_path(path: str) -> list[str]:
    """The components of ``path`` (``/`` or ``\\`` separated; empty components dropped)."""
    return [p for p in path.replace("\\", "/").split("/") if p]


class FileTree(abc.ABC, Generic[N]):
    """Path lookups over a reader's nodes. ``case_insensitive`` trees (FAT, as UEFI's FAT driver
    compares names) match each component with :meth:`fold`."""

    #: what the tree is, for messages ("the ESP (FAT32)", "ext4 partition 1")
    label: str = "filesystem"
    case_insensitive: bool = False

    # -- the reader's primitives ------------------------------------------------------------------

    @abc.abstractmethod
    def _root(self) -> N: ...

    @abc.abstractmethod
    def _entries(self, node: N) -> Iterator[tuple[str, N]]:
        """The entries of directory ``node`` (without ``.`` and ``..``), in on-disk order."""

    @abc.abstractmethod
    def _kind(self, node: N) -> NodeKind: ...

    @abc.abstractmethod
    def _data(self, node: N) -> bytes:
        """The contents of regular file ``node``."""

    def _size(self, node: N) -> int:
        """The size of regular file ``node`` (readers override this to avoid reading it)."""
        return len(self._data(node))

    def _link_target(self, node: N) -> str:
        """The target of symbolic link ``node`` (only trees that have symlinks override this)."""
        raise InputError(f"{self.label}: symbolic links are not supported")

    # -- lookups ----------------------------------------------------------------------------------

    @staticmethod
    def fold(name: str) -> str:
        """The form two names are compared in, for a case-insensitive tree."""
        return name.upper()

    def _child(self, node: N, name: str) -> N | None:
        if self.case_insensitive:
            want = self.fold(name)
            for entry, child in self._entries(node):
                if self.fold(entry) == want:
                    return child
            return None
        for entry, child in self._entries(node):
            if entry == name:
                return child
        return None

    def _resolve(self, path: str, follow_last: bool = True) -> N | None:
        """The node ``path`` names, or None when a component does not exist."""
        stack = [self._root()]
        todo = list(reversed(split_path(path)))
        links = steps = 0
        while todo:
            name = todo.pop()
            steps += 1
            if steps > MAX_PATH_PARTS:
                raise InputError(f"{self.label}: the path {path!r} is too long to resolve")
            if name == ".":
                continue
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            here = stack[-1]
            if self._kind(here) is not NodeKind.DIRECTORY:
                return None
            child = self._child(here, name)
            if child is None:
                return None
            if self._kind(child) is NodeKind.SYMLINK and (todo or follow_last):
                links += 1
                if links > MAX_SYMLINKS:
                    raise InputError(f"{self.label}: too many levels of symbolic links in {path!r}")
                target = self._link_target(child)
                if target.startswith("/"):
                    del stack[1:]
                todo.extend(reversed(split_path(target)))
                continue
            stack.append(child)
        return stack[-1]

    def exists(self, path: str) -> bool:
        return self._resolve(path) is not None

    def is_dir(self, path: str) -> bool:
        node = self._resolve(path)
        return node is not None and self._kind(node) is NodeKind.DIRECTORY

    def is_file(self, path: str) -> bool:
        node = self._resolve(path)
        return node is not None and self._kind(node) is NodeKind.FILE

    def read(self, path: str) -> bytes:
        """The contents of the regular file at ``path`` (symlinks followed)."""
        node = self._resolve(path)
        if node is None:
            raise InputError(f"{self.label}: no file {path}")
        if self._kind(node) is not NodeKind.FILE:
            raise InputError(f"{self.label}: {path} is not a regular file")
        return self._data(node)

    def size(self, path: str) -> int:
        """The size of the regular file at ``path`` (symlinks followed), without reading it."""
        node = self._resolve(path)
        if node is None or self._kind(node) is not NodeKind.FILE:
            raise InputError(f"{self.label}: no file {path}")
        return self._size(node)

    def listdir(self, path: str = "/") -> list[str]:
        """The names in the directory at ``path``, in on-disk order."""
        node = self._resolve(path)
        if node is None or self._kind(node) is not NodeKind.DIRECTORY:
            raise InputError(f"{self.label}: no directory {path}")
        return [name for name, _child in self._entries(node)]

    def readlink(self, path: str) -> str:
        """The target of the symbolic link at ``path``."""
        node = self._resolve(path, follow_last=False)
        if node is None or self._kind(node) is not NodeKind.SYMLINK:
            raise InputError(f"{self.label}: {path} is not a symbolic link")
        return self._link_target(node)


#: the largest file :class:`DirectoryTree` reads (docs/cli.md "Input size limits": payload)
MAX_DIRECTORY_FILE = 2 << 30


class DirectoryTree(FileTree["Path"]):
    """A directory of the host as a tree: an ESP copied out of its FAT (``--esp DIR``). Names match
    without regard to case, as on FAT; entries come in name order; the host's symlinks are followed
    by the host."""

    case_insensitive = True

    def __init__(self, root: str | Path, label: str | None = None) -> None:
        from pathlib import Path

        self._top = Path(root)
        self.label = label or str(root)
        if not self._top.is_dir():
            raise InputError(f"{self.label}: not a directory")

    def _root(self) -> Path:
        return self._top

    def _entries(self, node: Path) -> Iterator[tuple[str, Path]]:
        try:
            children = sorted(node.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            raise InputError(f"{self.label}: cannot list {node}: {exc.strerror}") from None
        for child in children:
            yield child.name, child

    def _kind(self, node: Path) -> NodeKind:
        if node.is_dir():
            return NodeKind.DIRECTORY
        return NodeKind.FILE if node.is_file() else NodeKind.OTHER

    def _data(self, node: Path) -> bytes:
        try:
            with open(node, "rb") as f:
                data = f.read(MAX_DIRECTORY_FILE + 1)
        except OSError as exc:
            raise InputError(f"{self.label}: cannot read {node}: {exc.strerror}") from None
        if len(data) > MAX_DIRECTORY_FILE:
            raise InputError(f"{node}: more than {MAX_DIRECTORY_FILE} bytes")
        return data

    def _size(self, node: Path) -> int:
        return node.stat().st_size

    @staticmethod
    def fold(name: str) -> str:
        return name.upper()
