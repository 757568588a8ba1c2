"""Inspectors for ``pvmkit inspect``, one module per family of structures; see :mod:`.registry`."""
