"""The quick fuzz budget of ./dev test (issue 15, "Keep it so"): every target of
tests/support/fuzz_targets.py runs its seeds, then a fixed number of derandomized hypothesis
mutations of them (tests/support/fuzz_quick.py; the targets that drive a command run in
tests/cli/test_cli_fuzz_targets.py); every saved finding in tests/vectors/fuzz/ is replayed. Each must
end in a result or a pvmkit error, never another exception. ``./dev fuzz`` runs the same targets for
long."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import fuzz_quick, fuzz_regressions
from support.fuzz_targets import TARGETS

UNIT = sorted(name for name, target in TARGETS.items() if target.tier == "unit")


@pytest.mark.parametrize("name", UNIT)
def test_seeds_run(name: str) -> None:
    fuzz_quick.seeds_run(name)


@pytest.mark.parametrize("name", UNIT)
def test_mutated_seeds_raise_only_pvmkit_errors(name: str) -> None:
    fuzz_quick.mutations_run(name)


@pytest.mark.parametrize("path", fuzz_regressions.saved(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_saved_findings(path: Path) -> None:
    fuzz_quick.run(TARGETS[path.parent.name], fuzz_regressions.load(path))


def test_every_saved_finding_names_a_target() -> None:
    for path in fuzz_regressions.saved():
        assert path.parent.name in TARGETS, path


def test_edit_round_trip() -> None:
    seeds = [b"0123456789", b"abcdefghij"]
    edit = fuzz_regressions.as_edit(b"0123XY6789", seeds)
    assert edit == {"seed": 0, "at": 4, "remove": 2, "insert": b"XY".hex()}
    seed = seeds[int(str(edit["seed"]))]
    at, remove = int(str(edit["at"])), int(str(edit["remove"]))
    assert seed[:at] + bytes.fromhex(str(edit["insert"])) + seed[at + remove :] == b"0123XY6789"


def test_dev_fuzz_lists_every_target() -> None:
    """``./dev fuzz`` without a target lists them (tools/fuzz.py; atheris is needed only to fuzz)."""
    import subprocess
    import sys

    tool = Path(__file__).resolve().parents[2] / "tools" / "fuzz.py"

    def fuzz_tool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(tool), *args], capture_output=True, text=True, timeout=60, check=False
        )

    listed = fuzz_tool()
    assert listed.returncode == 0 and listed.stdout.split() == ["targets:", *sorted(TARGETS)]
    unknown = fuzz_tool("nope")
    assert unknown.returncode == 2 and "unknown target 'nope'" in unknown.stderr
