#!/usr/bin/env python3
"""Fetch peer tools that PyPI does not carry, for the cross-check tests, into ``.cache/peers``.

Today one: ``osslsigncode`` 2.9 from Debian bookworm-backports (bookworm's own 2.5 has no
``extract-data``), an independent Authenticode implementation that
``tests/unit/test_tdx_rtmr_predict.py::test_authenticode_against_osslsigncode`` compares pvmkit with.

Prints ``NAME=PATH`` lines for ``./dev test`` to export (``PVMKIT_OSSLSIGNCODE=...``). Best effort: an
unreachable archive or a host that cannot run the binary gives one line on stderr and no assignment,
and the tests that need the tool skip with their reason. Never touches the system's apt state.
"""

from __future__ import annotations

import fcntl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from debfetch import Unreachable, fetch_deb, run

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "peers"
BACKPORTS = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian bookworm-backports main\n"
)
LOCK_TIMEOUT = 10


def osslsigncode() -> Path:
    cache = CACHE / "osslsigncode"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unreachable(f"{cache} is locked by another run") from None
                time.sleep(0.2)
        root, _version = fetch_deb("osslsigncode", BACKPORTS, cache, "usr/bin/osslsigncode")
    tool = root / "usr" / "bin" / "osslsigncode"
    probe = run([str(tool), "--version"], timeout=10)
    if probe.returncode != 0:
        raise Unreachable(f"{tool} does not run here: {probe.stderr.strip()[:120]}")
    return tool


def main() -> int:
    try:
        print(f"PVMKIT_OSSLSIGNCODE={osslsigncode()}")
    except (Unreachable, OSError) as exc:
        print(f"fetch_peers: osslsigncode unavailable ({exc}); its cross-check will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
