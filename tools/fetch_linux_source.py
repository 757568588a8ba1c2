"""Fetch the Linux source that matches the headers pvmkit's uAPI mirrors are checked against, for the
kernel-rule tests (``tests/unit/test_kernel_rules.py``), into ``.cache/linux-source``.

The version comes from ``src/pvmkit/uapi/layouts.json`` (``source.kernel_version``, the sid
``linux-libc-dev`` that ``tools/gen_uapi_layouts.py`` compiled against): for 7.2.13 the package is
Debian unstable's ``linux-source-7.2``. ``tools/debfetch.py`` downloads it without touching the
system's apt state; only the directories the rule table cites (KVM's x86 and generic code, the x86
asm headers, the SEV firmware driver) and the KVM selftests are kept (``.cache/linux-source/src/``,
about 10 MB, with a ``VERSION`` file naming the package version and the kept paths), the 160 MB
package is then deleted, and a later run with the tree present does not touch the network.

``tools/fetch_peers.py`` calls :func:`fetch` and prints ``PVMKIT_LINUX_SOURCE=PATH`` for ``./dev test``
to export. Best effort: an unreachable archive gives one line on stderr and no assignment, and the tests
that need the tree skip with the reason (outside CI; under ``CI=true`` they fail).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from debfetch import Unreachable, fetch_deb, first_line, locked, run

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "linux-source"
TREE = CACHE / "src"
SID = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n"
#: paths kept from the source tarball (files, or directories kept whole)
KEEP = (
    "arch/x86/kvm",
    "arch/x86/include/asm",
    "arch/x86/include/uapi/asm/kvm.h",
    "arch/x86/virt/vmx/tdx/tdx.c",
    "include/linux/kvm_host.h",
    "include/uapi/linux/kvm.h",
    "include/uapi/linux/psp-sev.h",
    "include/linux/psp-sev.h",
    "virt/kvm",
    "drivers/crypto/ccp/sev-dev.c",
    "tools/testing/selftests/kvm",
)
DOWNLOAD_TIMEOUT = 900  # seconds for each apt call (the package is about 160 MB)
UNPACK_TIMEOUT = 600
LOCK_TIMEOUT = 1200  # another checkout may be downloading


def wanted_version() -> str:
    """``MAJOR.MINOR`` of the kernel headers the committed layout table was generated from."""
    table = json.loads((ROOT / "src" / "pvmkit" / "uapi" / "layouts.json").read_text())
    major, minor = table["source"]["kernel_version"].split(".")[:2]
    return f"{major}.{minor}"


def _complete(series: str) -> bool:
    """An earlier run left the subset of this series with the same KEEP list (VERSION's lines 2-)."""
    lines = (TREE / "VERSION").read_text().splitlines() if (TREE / "VERSION").is_file() else []
    return bool(lines) and lines[0].startswith(series + ".") and lines[1:] == list(KEEP)


def fetch() -> Path:
    """The extracted subset of the source tree (fetched when absent)."""
    series = wanted_version()
    if _complete(series):
        return TREE
    package = f"linux-source-{series}"
    with locked(CACHE, LOCK_TIMEOUT):
        if _complete(series):
            return TREE
        marker = f"usr/src/{package}.tar.xz"
        root, version = fetch_deb(package, SID, CACHE, marker, timeout=DOWNLOAD_TIMEOUT)
        tmp = Path(tempfile.mkdtemp(prefix="extract-", dir=CACHE))
        try:
            members = [f"{package}/{p}" for p in KEEP]
            res = run(["tar", "-xJf", str(root / marker), "-C", str(tmp), *members], timeout=UNPACK_TIMEOUT)
            if res.returncode != 0:
                raise Unreachable(f"tar: {first_line(res.stderr)}")
            (tmp / package / "VERSION").write_text("\n".join((version, *KEEP)) + "\n")
            shutil.rmtree(TREE, ignore_errors=True)
            (tmp / package).rename(TREE)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)  # keep the subset, not the 160 MB package
        for deb in CACHE.glob("*.deb"):
            deb.unlink()
    return TREE
