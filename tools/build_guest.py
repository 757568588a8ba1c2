#!/usr/bin/env python3
"""Rebuild pvmkit's bundled guest (src/pvmkit/guest/attest.bin) from attest.S with GNU binutils.

    python tools/build_guest.py           # rebuild and write attest.bin
    python tools/build_guest.py --check   # rebuild and compare byte for byte (exit 1 if different)

Steps: ``as --32`` → ``ld -m elf_i386 -Ttext=0 -e _start`` → ``objcopy -O binary -j .text``. The guest
is position independent, so it is linked at 0 and the launch plan may load it anywhere.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parents[1] / "src" / "pvmkit" / "guest"
SOURCE = GUEST_DIR / "attest.S"
BINARY = GUEST_DIR / "attest.bin"
TOOLS = ("as", "ld", "objcopy")


def missing_tools() -> list[str]:
    """The binutils programs this build needs that are not on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def build(source: Path = SOURCE) -> bytes:
    """Assemble, link and flatten ``source``; returns the flat binary's bytes."""
    with tempfile.TemporaryDirectory(prefix="pvmkit-guest-") as tmp:
        obj, elf, out = (Path(tmp) / n for n in ("guest.o", "guest.elf", "guest.bin"))
        for cmd in (
            ["as", "--32", "-o", str(obj), str(source)],
            ["ld", "-m", "elf_i386", "-Ttext=0", "-e", "_start", "--build-id=none", "-o", str(elf), str(obj)],
            ["objcopy", "-O", "binary", "-j", ".text", str(elf), str(out)],
        ):
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed attest.bin")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"build_guest: missing {', '.join(missing)} (install binutils)", file=sys.stderr)
        return 1
    data = build()
    if args.check:
        if BINARY.read_bytes() != data:
            print(f"build_guest: {BINARY} differs from a rebuild of {SOURCE}", file=sys.stderr)
            return 1
        print(f"build_guest: {BINARY.name} matches ({len(data)} bytes)")
        return 0
    BINARY.write_bytes(data)
    print(f"build_guest: wrote {BINARY} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
