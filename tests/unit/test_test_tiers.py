"""Every test lives in the directory of its tier (docs/development.md "Tests"): real-/dev/kvm tests
(marker ``kvm``) in tests/kvm or, when they drive a command, tests/cli; peer cross-checks (marker
``crosscheck``) in tests/crosscheck; nothing in tests/unit drives the CLI. ``./dev test --fast``
relies on this to leave out the kvm, crosscheck and slow tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import tier_violations

UNIT = Path(__file__).resolve().parent


def test_collected_tests_carry_their_tiers_markers(request: pytest.FixtureRequest) -> None:
    violations = tier_violations(request.session.items)  # whatever this run collected
    assert violations == [], "tests outside their tier's directory:\n" + "\n".join(violations)


def test_unit_tests_do_not_drive_the_cli() -> None:
    drivers = []
    for path in sorted(UNIT.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            drivers += [f"{path.name}: imports {n}" for n in names if n.startswith("pvmkit.cli")]
    assert drivers == [], "CLI-driving tests belong in tests/cli:\n" + "\n".join(drivers)
