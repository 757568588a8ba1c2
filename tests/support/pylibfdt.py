"""libfdt's own Python binding as a test oracle (``PVMKIT_PYLIBFDT``, fetched by tools/fetch_peers.py
from Debian bookworm's python3-libfdt; its ``_libfdt`` extension links ``libfdt.so.1`` from the
libfdt1 package next to it in ``.cache/peers``, preloaded here)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load() -> ModuleType:
    where = os.environ.get("PVMKIT_PYLIBFDT")
    if not where:
        pytest.skip("PVMKIT_PYLIBFDT not set (./dev test fetches python3-libfdt)")
    root = Path(where)
    for so in root.parents[4].parent.glob("libfdt1/*/usr/lib/*/libfdt.so.1"):
        ctypes.CDLL(str(so), mode=ctypes.RTLD_GLOBAL)
        break
    else:
        pytest.skip(f"no libfdt.so.1 beside {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import libfdt

    return libfdt
