"""``python -m pvmkit`` → the pvmkit command line."""

from pvmkit.cli.main import entry

entry()
