"""The committed bundled guest (src/pvmkit/guest/attest.bin) is exactly what attest.S assembles to."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pvmkit.guest import TAG, attest_guest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "build_guest.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_guest", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_guest", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("as", "ld", "objcopy")),
    reason="GNU binutils (as, ld, objcopy) are not installed: cannot rebuild the bundled guest",
)
def test_attest_bin_is_reproducible_from_source() -> None:
    tool = _tool()
    assert tool.missing_tools() == []
    rebuilt = tool.build()
    committed = tool.BINARY.read_bytes()
    assert rebuilt == committed, "attest.bin is stale: run python tools/build_guest.py"


def test_packaged_guest_is_the_committed_file() -> None:
    data = attest_guest()
    assert data == (TOOL.parents[1] / "src" / "pvmkit" / "guest" / "attest.bin").read_bytes()
    assert 0 < len(data) <= 4096
    assert TAG in data  # the tag the guest appends to the nonce is in its image
