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

__all__ = ["HelpFormatter", "Parser"]


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help states its default: ``(default: X)`` is appended when its text does not
    already mention one (``none`` for an option that is unset unless given), ``(required)`` for a
    required option; flags are off unless given."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.help is argparse.SUPPRESS or not action.option_strings:
            return action.help
        if action.required:
            return f"{text} (required)".lstrip()
        default = action.default
        if "default" in text or action.nargs == 0 or default == argparse.SUPPRESS:  # flags: off unless given
            return text
        if default is None or default == []:
            return f"{text} (default: none)".lstrip()
        return f"{text} (default: %(default)s)".lstrip()


class Parser(argparse.ArgumentParser):
    """argparse with pvmkit's one-line usage errors (exit 2) and help that states every default."""

    def __init__(self, command: str, description: str, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=f"pvmkit {command}", description=description, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: usage error: {message}\n")
        raise SystemExit(2)
