"""The quick fuzz budget for the targets that drive a command (``pvmkit inspect``): as
tests/unit/test_fuzz_targets.py does for the library's entry points (tests/support/fuzz_quick.py)."""

from __future__ import annotations

import pytest

from support import fuzz_quick
from support.fuzz_targets import TARGETS

CLI = sorted(name for name, target in TARGETS.items() if target.tier == "cli")


def test_there_are_command_targets() -> None:
    assert "inspect" in CLI


@pytest.mark.parametrize("name", CLI)
def test_seeds_run(name: str) -> None:
    fuzz_quick.seeds_run(name)


@pytest.mark.parametrize("name", CLI)
def test_mutated_seeds_raise_only_pvmkit_errors(name: str) -> None:
    fuzz_quick.mutations_run(name)
