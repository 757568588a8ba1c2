"""Running the pvmkit CLI in-process from a test."""

from __future__ import annotations

import pytest

from pvmkit.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``pvmkit ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err
