"""Real OVMF for the boot-option and SMBIOS cross-checks: Debian's TPM-enabled ``ovmf-generic``
(``PVMKIT_OVMF_TPM``, fetched by tools/fetch_peers.py) and the tools that boot it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def peer_path(name: str) -> Path:
    """The path an environment variable of tools/fetch_peers.py names; the test skips without it."""
    where = os.environ.get(name)
    if not where:
        pytest.skip(f"{name} not set (./dev test fetches it with tools/fetch_peers.py)")
    return Path(where)


def generic_ovmf_code() -> Path:
    """Debian sid's ``OVMF_CODE_4M.fd`` (edk2 2026.08, the TDX fixture's release): with the EFI Shell
    and the network stack, which the TDX build lacks."""
    return peer_path("PVMKIT_OVMF_TPM") / "OVMF_CODE_4M.fd"
