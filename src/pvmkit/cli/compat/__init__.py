"""Drop-in replacements for other projects' commands, with their flags, output and exit codes:
``pvmkit sev-snp-measure`` and ``pvmkit snp-create-id-block`` (sev-snp-measure 0.0.13). pvmkit's own
commands (``pvmkit measure``, …) follow pvmkit's conventions instead (docs/cli.md)."""
