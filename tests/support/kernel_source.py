"""The Linux source tree that ``tools/fetch_linux_source.py`` extracts (``PVMKIT_LINUX_SOURCE``, else
``.cache/linux-source/src``), and a reader for C function bodies in it, so tests can check that the
kernel-rule table's citations (file, function, code) still hold.

Code is compared with all whitespace runs collapsed to one space and comments left in place, so a
citation survives re-indentation but not a changed condition."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from support.fixtures import missing

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / ".cache" / "linux-source" / "src"


def source_root() -> Path:
    """The extracted tree; skips (fails under CI) when it is absent."""
    where = os.environ.get("PVMKIT_LINUX_SOURCE")
    root = Path(where) if where else DEFAULT
    if not (root / "VERSION").is_file():
        missing(f"no Linux source at {root} (./dev test fetches it)", "required under CI")
    return root


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@cache
def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def function_body(root: Path, file: str, name: str) -> str | None:
    """The text of the definition of C function (or function-like macro) ``name`` in ``file``, from
    its first line to its closing brace; None when the file has no such definition."""
    path = root / file
    if not path.is_file():
        return None
    text = _read(path)
    macro = re.search(rf"^#define {re.escape(name)}\(.*?(?<!\\)$", text, re.M | re.S)
    if macro:
        return macro.group(0)
    # a definition starts at column 0 and its parameter list is followed by '{' (not ';')
    for m in re.finditer(rf"^[A-Za-z_][^\n;#]*?\b{re.escape(name)}\(", text, re.M):
        depth, i = 0, m.end() - 1
        while i < len(text):  # the parameter list
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        rest = text[i:]
        brace = re.match(r"\s*\{", rest)
        if not brace:
            continue
        start = i + brace.end() - 1
        depth = 0
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[m.start() : j + 1]
    return None
