"""The one fixture locator: real inputs nobody here wrote, read in place, never copied into the repo.

Location: ``$PVMKIT_FIXTURES``, default ``<repo>/../shared/fixtures``. Where a fixture is absent, tests
that need it skip with the reason; under CI (``CI=true``) a missing fixture is a failure instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def fixtures_root() -> Path:
    env = os.environ.get("PVMKIT_FIXTURES")
    return Path(env) if env else (REPO.parent / "shared" / "fixtures").resolve()


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def fixture_path(relative: str) -> Path:
    """Path of a fixture file; skips (or fails under CI) when it is missing."""
    path = fixtures_root() / relative
    if not path.exists():
        message = f"fixture {relative} not found under {fixtures_root()} (set PVMKIT_FIXTURES)"
        if under_ci():
            pytest.fail(message + ": fixtures are required under CI")
        pytest.skip(message)
    return path


def read_fixture(relative: str) -> bytes:
    return fixture_path(relative).read_bytes()
