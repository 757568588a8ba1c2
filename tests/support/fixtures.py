"""The one fixture locator: real inputs nobody here wrote, read in place, never copied into the repo.

Location: ``$PVMKIT_FIXTURES``, default ``<repo>/../shared/fixtures``. Where a fixture is absent, tests
that need it skip with the reason; under CI (``CI=true``) a missing fixture is a failure instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]


def fixtures_root() -> Path:
    env = os.environ.get("PVMKIT_FIXTURES")
    return Path(env) if env else (REPO.parent / "shared" / "fixtures").resolve()


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(message: str, required: str) -> NoReturn:
    """Skip the test for a missing input, or fail it under CI (``message: required``)."""
    if under_ci():
        pytest.fail(f"{message}: {required}")
    pytest.skip(message, allow_module_level=True)  # also from module level (a peer imported there)


def import_peer(module: str) -> Any:
    """A peer package used as an oracle (pyproject's ``test`` extra): imported, or the test skips with
    the reason, and fails under CI, where the extra is installed and a skip would hide the check."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(
            f"peer {module} is not installed ({exc}; pip install -e '.[test]')", "peers are required under CI"
        )


def fixture_path(relative: str) -> Path:
    """Path of a fixture file; skips (or fails under CI) when it is missing."""
    path = fixtures_root() / relative
    if not path.exists():
        missing(
            f"fixture {relative} not found under {fixtures_root()} (set PVMKIT_FIXTURES)",
            "fixtures are required under CI",
        )
    return path


def read_fixture(relative: str) -> bytes:
    return fixture_path(relative).read_bytes()
