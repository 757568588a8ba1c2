"""Authenticode digests (pvmkit.vendors.tdx.authenticode) against independent implementations
(tests/vectors/README.md, "TDX MRTD/RTMR"; moved here from tests/unit/test_tdx_rtmr_predict.py):

* osslsigncode 2.9 (tools/fetch_peers.py) on synthetic PEs — it implements the Authenticode spec's
  8-byte padding, edk2 does not, so the two agree exactly on 8-aligned files and, on unaligned ones,
  osslsigncode equals pvmkit over the zero-padded file;
* the signatures inside signed PE files (PVMKIT_PE_SAMPLES, e.g. Debian's Microsoft-signed shim).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pvmkit.vendors.tdx.authenticode import authenticode_digest
from support.pe import make_pe


@pytest.mark.crosscheck
@pytest.mark.parametrize("size", [0x1000, 0x1003])
def test_authenticode_against_osslsigncode(tmp_path: Path, size: int) -> None:
    tool = os.environ.get("PVMKIT_OSSLSIGNCODE") or shutil.which("osslsigncode")  # tools/fetch_peers.py
    if tool is None:
        pytest.skip("osslsigncode not installed (./dev test fetches 2.9 from bookworm-backports)")
    help_text = subprocess.run([tool, "--help"], capture_output=True, text=True).stdout
    if "extract-data" not in help_text:
        pytest.skip(f"{tool} has no extract-data (osslsigncode < 2.9)")
    img = make_pe(size, bzimage=False)
    src, out = tmp_path / "a.efi", tmp_path / "a.p7"
    src.write_bytes(img)
    subprocess.run([tool, "extract-data", "-h", "sha384", "-in", str(src), "-out", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    blob = out.read_bytes()
    padded = img + bytes(-len(img) % 8)  # the Authenticode spec pads, edk2 does not
    assert authenticode_digest(padded) in blob
    assert (authenticode_digest(img) in blob) == (len(img) % 8 == 0)


@pytest.mark.crosscheck
def test_authenticode_of_signed_samples() -> None:
    """PVMKIT_PE_SAMPLES: a directory of signed PE files (e.g. Debian shim-signed's shimx64.efi.signed):
    the SHA-256 Authenticode digest pvmkit computes must be the one inside the file's own signature."""
    where = os.environ.get("PVMKIT_PE_SAMPLES")
    if not where:
        pytest.skip("PVMKIT_PE_SAMPLES not set")
    files = [p for p in Path(where).rglob("*.signed")]
    if not files:
        pytest.skip(f"no *.signed files under {where}")
    for path in files:
        data = path.read_bytes()
        assert authenticode_digest(data, "sha256") in data, path
