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
