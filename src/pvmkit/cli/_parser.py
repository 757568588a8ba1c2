"""pvmkit's argparse parser class, in its own module so that argparse (≈5 ms with re, gettext and
shutil) is imported only by commands that build a full parser; the measurement hot paths scan their
common option forms with :func:`pvmkit.cli._common.scan_options` and build a parser only for help,
errors and unusual forms."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """argparse with pvmkit's one-line usage errors (exit 2)."""

    def __init__(self, command: str, description: str, **kwargs: Any) -> None:
        super().__init__(prog=f"pvmkit {command}", description=description, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: usage error: {message}\n")
        raise SystemExit(2)
