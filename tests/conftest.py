"""Test-wide configuration: markers, /dev/kvm gating, fixture locator."""

from __future__ import annotations

import errno
import os

import pytest

from support.fixtures import fixture_path, read_fixture


def _kvm_absent_reason() -> str | None:
    """Why real-KVM tests cannot run here, or None. Only a missing /dev/kvm is a reason to skip;
    any other failure to open it is a test failure (reported by the tests themselves)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return "/dev/kvm is absent (is KVM loaded and enabled?)"
        return None
    os.close(fd)
    return None


# Test tiers (docs/development.md "Tests"): the directory a test lives in says what it needs.
# marker -> the tiers (directories under tests/) where a test may carry it
MARKER_TIERS = {"kvm": {"kvm", "cli"}, "crosscheck": {"crosscheck"}}
# tier -> the marker every test there must carry (so `./dev test --fast` leaves the tier out)
TIER_MARKER = {"kvm": "kvm", "crosscheck": "crosscheck"}


def tier_violations(items: list[pytest.Item]) -> list[str]:
    """One line per collected test whose markers do not fit the tier directory it lives in."""
    tests = os.path.dirname(os.path.abspath(__file__))
    found = []
    for item in items:
        rel = os.path.relpath(str(item.path), tests)
        tier = rel.split(os.sep)[0]
        markers = {m.name for m in item.iter_markers()}
        for marker, tiers in MARKER_TIERS.items():
            if marker in markers and tier not in tiers:
                found.append(f"{item.nodeid}: marked {marker!r}, belongs in tests/{'|'.join(sorted(tiers))}")
        want = TIER_MARKER.get(tier)
        if want is not None and want not in markers:
            found.append(f"{item.nodeid}: in tests/{tier} but not marked {want!r}")
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _kvm_absent_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "kvm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fixture_file():  # type: ignore[no-untyped-def]
    """``fixture_file("firmware/OVMF.amdsev.fd")`` → Path (skips, or fails under CI, when missing)."""
    return fixture_path


@pytest.fixture
def fixture_bytes():  # type: ignore[no-untyped-def]
    return read_fixture
