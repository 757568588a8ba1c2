#!/usr/bin/env python3
"""Prove pvmkit.uapi's ctypes mirrors against the real kernel headers.

Fetches Debian's ``linux-libc-dev`` from the *unstable* (sid) suite with ``apt-get download`` through
a private apt configuration (the system's apt sources, lists and locks are not touched), unpacks it
with ``dpkg -x`` into a cache directory, generates a C probe from the Python side
(:func:`pvmkit.uapi._layout_check.python_layouts`: every structure, every field, every upper-case
integer constant and IntEnum member of every ``pvmkit.uapi`` module), compiles it with gcc against
the unpacked ``usr/include`` and runs it. The probe prints ``sizeof`` / ``offsetof`` / member sizes,
bit-field masks and constant values; macros defined with ``_IO*`` are marked as ioctl numbers.

Modes:
  (default)   regenerate ``src/pvmkit/uapi/layouts.json`` (exit 1 if the Python side disagrees).
  --check     fetch + compile when the archive is reachable and compare the fresh values with the
              Python mirrors (and the committed table with the Python mirrors); otherwise compare the
              Python mirrors with the committed table. Prints one line saying which was done and
              exits non-zero listing every mismatch.
  --offline   with --check: do not try the network.

Only x86-64 hosts are supported (the table is the x86-64 ABI). Never hangs: apt has short network
timeouts and every subprocess a hard one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # debfetch, also when loaded by a test

from debfetch import Unreachable, fetch_deb, locked  # noqa: E402
from debfetch import first_line as _first_line  # noqa: E402
from debfetch import run as _run  # noqa: E402
from pvmkit.uapi._layout_check import (  # noqa: E402
    TABLE_NAME,
    PyLayouts,
    compare,
    python_layouts,
)

TABLE_PATH = ROOT / "src" / "pvmkit" / "uapi" / TABLE_NAME
DEFAULT_CACHE = ROOT / ".cache" / "linux-libc-dev"
SUITE = "sid"
SOURCE_LINE = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n"
)
PACKAGE = "linux-libc-dev"
MULTIARCH = "x86_64-linux-gnu"
HEADERS = ("linux/kvm.h", "asm/kvm.h", "linux/kvm_para.h", "linux/psp-sev.h", "linux/version.h")
APT_TIMEOUT = 15  # seconds, per apt-get call (network timeouts inside apt are shorter)
CC_TIMEOUT = 60
LOCK_TIMEOUT = 10


class ProbeError(Exception):
    """The probe did not compile or run: names pvmkit mirrors that the headers lack, and so on."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# ---------------------------------------------------------------------------------------------------
# fetching


def fetch(cache: Path) -> tuple[Path, str]:
    """Download (if needed) and unpack the current sid linux-libc-dev. Returns (root, version)."""
    return fetch_deb(PACKAGE, SOURCE_LINE, cache, "usr/include/linux/kvm.h", timeout=APT_TIMEOUT)


# ---------------------------------------------------------------------------------------------------
# the probe


def _cstr(s: str) -> str:
    return json.dumps(s)  # a valid C string literal for the identifiers and paths used here


def probe_source(py: PyLayouts) -> str:
    """C source printing one line per fact: S/F/X/B/C records (see :func:`parse_probe`)."""
    out = [
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <string.h>",
        *(f"#include <{h}>" for h in HEADERS),
        "",
        "static void dump(const char *s, const char *p, const void *v, size_t n) {",
        '    const unsigned char *b = v; printf("B %s %s ", s, p);',
        '    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);',
        '    printf("\\n");',
        "}",
        "",
        "int main(void) {",
        '    printf("K %d.%d.%d\\n", LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL, LINUX_VERSION_SUBLEVEL);',
        '    printf("P %zu\\n", sizeof(void *));',
    ]
    for name, s in sorted(py.structs.items()):
        t = s.c_type
        out.append(f'    printf("S %s %zu\\n", {_cstr(name)}, sizeof({t}));')
        for path, (_off, size) in s.fields.items():
            if size is None:
                out.append(
                    f'    printf("F %s %s %zu -\\n", {_cstr(name)}, {_cstr(path)}, offsetof({t}, {path}));'
                )
            else:
                out.append(
                    f'    printf("F %s %s %zu %zu\\n", {_cstr(name)}, {_cstr(path)}, offsetof({t}, {path}),'
                    f" sizeof((({t} *)0)->{path}));"
                )
        for path in s.flexible:
            out.append(
                f'    printf("X %s %s %zu %zu\\n", {_cstr(name)}, {_cstr(path)}, offsetof({t}, {path}),'
                f" sizeof((({t} *)0)->{path}[0]));"
            )
        for path in s.bitfields:
            out.append(
                f"    {{ {t} v; memset(&v, 0, sizeof v); v.{path} = -1;"
                f" dump({_cstr(name)}, {_cstr(path)}, &v, sizeof v); }}"
            )
    for name in sorted(py.constants):
        out.append(
            f'    {{ __typeof__({name}) v = ({name}); if (v < 0) printf("C %s %lld\\n", {_cstr(name)},'
            f' (long long)v); else printf("C %s %llu\\n", {_cstr(name)}, (unsigned long long)v); }}'
        )
    out += ["    return 0;", "}", ""]
    return "\n".join(out)


def _include_flags(root: Path) -> list[str]:
    inc = root / "usr" / "include"
    arch = inc / MULTIARCH
    if not (arch / "asm" / "kvm.h").exists():
        raise ProbeError([f"{arch}/asm/kvm.h missing: the package layout changed"])
    return [f"-I{inc}", f"-I{arch}"]


def run_probe(py: PyLayouts, root: Path, workdir: Path) -> tuple[str, dict[str, Any]]:
    """Compile and run the probe; returns (gcc version line, raw results)."""
    if shutil.which("gcc") is None:
        raise ProbeError(["gcc not installed"])
    src = workdir / "probe.c"
    exe = workdir / "probe"
    src.write_text(probe_source(py))
    flags = ["-std=gnu11", "-O0", *_include_flags(root)]
    cc = _run(["gcc", *flags, "-o", str(exe), str(src)], timeout=CC_TIMEOUT)
    if cc.returncode != 0:
        raise ProbeError(_compile_problems(cc.stderr, py))
    res = _run([str(exe)], timeout=CC_TIMEOUT)
    if res.returncode != 0:
        raise ProbeError([f"probe exited {res.returncode}: {_first_line(res.stderr)}"])
    macros = _run(["gcc", *flags, "-E", "-dM", str(src)], timeout=CC_TIMEOUT).stdout
    ioctl_names = set(re.findall(r"^#define (\w+) +_IO(?:R|W|WR)?\s*\(", macros, re.M))
    gcc_version = _first_line(_run(["gcc", "--version"], timeout=CC_TIMEOUT).stdout)
    return gcc_version, parse_probe(res.stdout, ioctl_names)


def _compile_problems(stderr: str, py: PyLayouts) -> list[str]:
    problems: list[str] = []
    for name in sorted(set(re.findall(r"'(\w+)' undeclared", stderr))):
        where = py.constants[name].module if name in py.constants else "?"
        problems.append(
            f"constant {name} ({where}) is not in the headers: fix the name or list it in _NOT_IN_HEADERS"
        )
    for kind in sorted(
        set(
            re.findall(
                r"(?:storage size of|invalid application of .sizeof. to incomplete"
                r" type) '([^']+)'",
                stderr,
            )
        )
    ):
        problems.append(f"{kind}: no such type in the headers")
    for ctype, member in sorted(set(re.findall(r"'([^']+)' has no member named '(\w+)'", stderr))):
        problems.append(f"{ctype}: no member {member} in the headers")
    if not problems:
        problems = ["probe did not compile:", *[ln for ln in stderr.splitlines() if "error" in ln][:40]]
    return problems


def parse_probe(text: str, ioctl_names: set[str]) -> dict[str, Any]:
    """Turn the probe's output into the table's ``kernel``/``structs``/``constants`` parts."""
    structs: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    kernel = ""
    pointer = 0
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        parts = rest.split(" ")
        if kind == "K":
            kernel = rest
        elif kind == "P":
            pointer = int(rest)
        elif kind == "S":
            structs[parts[0]] = {"size": int(parts[1]), "fields": {}}
        elif kind == "F":
            entry: dict[str, Any] = {"offset": int(parts[2])}
            if parts[3] != "-":
                entry["size"] = int(parts[3])
            structs[parts[0]]["fields"][parts[1]] = entry
        elif kind == "X":
            structs[parts[0]].setdefault("flexible", {})[parts[1]] = {
                "offset": int(parts[2]),
                "elem_size": int(parts[3]),
            }
        elif kind == "B":
            structs[parts[0]].setdefault("bitfields", {})[parts[1]] = parts[2]
        elif kind == "C":
            constants[parts[0]] = {"value": int(parts[1]), "ioctl": parts[0] in ioctl_names}
    return {"kernel": kernel, "pointer_size": pointer, "structs": structs, "constants": constants}


def build_table(py: PyLayouts, root: Path, version: str, workdir: Path) -> dict[str, Any]:
    gcc_version, raw = run_probe(py, root, workdir)
    for name, s in raw["structs"].items():
        s["c_type"] = py.structs[name].c_type
        s["module"] = py.structs[name].module
    for name, c in raw["constants"].items():
        c["module"] = py.constants[name].module
    return {
        "comment": "Generated by tools/gen_uapi_layouts.py from the real headers; do not edit by hand.",
        "source": {
            "package": PACKAGE,
            "package_version": version,
            "suite": f"Debian {SUITE}",
            "kernel_version": raw["kernel"],
            "headers": [f"usr/include/{h}" for h in HEADERS if h != "asm/kvm.h"]
            + [f"usr/include/{MULTIARCH}/asm/kvm.h"],
            "arch": MULTIARCH,
            "pointer_size": raw["pointer_size"],
            "compiler": gcc_version,
        },
        "counts": {
            "structs": len(raw["structs"]),
            "constants": len(raw["constants"]),
            "ioctls": sum(1 for c in raw["constants"].values() if c["ioctl"]),
        },
        "structs": raw["structs"],
        "constants": raw["constants"],
    }


def fresh_table(py: PyLayouts, cache: Path) -> dict[str, Any]:
    with locked(cache, LOCK_TIMEOUT):
        root, version = fetch(cache)
        with tempfile.TemporaryDirectory(prefix="pvmkit-probe-") as tmp:
            return build_table(py, root, version, Path(tmp))


def _describe(table: dict[str, Any]) -> str:
    src = table.get("source", {})
    package = f"{src.get('package', PACKAGE)} {src.get('package_version', '?')}"
    return f"{package} (kernel {src.get('kernel_version', '?')})"


def _load_committed() -> dict[str, Any] | None:
    if not TABLE_PATH.is_file():
        return None
    table: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="compare instead of regenerating")
    ap.add_argument("--offline", action="store_true", help="with --check: only the committed table")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}")
    args = ap.parse_args(argv)
    if platform.machine() not in ("x86_64", "AMD64"):
        print(f"uapi layouts: skipped: the table is the x86-64 ABI, this host is {platform.machine()}")
        return 0 if args.check else 2
    start = time.monotonic()
    py = python_layouts()

    if not args.check:
        try:
            table = fresh_table(py, args.cache_dir)
        except (Unreachable, ProbeError) as exc:
            problems = exc.problems if isinstance(exc, ProbeError) else [f"archive unreachable: {exc}"]
            print("uapi layouts: cannot regenerate:", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            return 1
        tmp = TABLE_PATH.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(TABLE_PATH)
        counts = table["counts"]
        done = (
            f"uapi layouts: wrote {TABLE_PATH.relative_to(ROOT)} from {_describe(table)}"
            f" ({counts['ioctls']} ioctl numbers)"
        )
        mismatches = compare(table, py)
    else:
        committed = _load_committed()
        fresh = None
        reason = ""
        if not args.offline:
            try:
                fresh = fresh_table(py, args.cache_dir)
            except Unreachable as exc:
                reason = str(exc)
            except ProbeError as exc:
                print(f"uapi layouts: probe against freshly fetched {PACKAGE} failed")
                for p in exc.problems:
                    print(f"  {p}")
                return 1
        if fresh is not None:
            mismatches = compare(fresh, py)
            if committed is None:
                mismatches.append(f"{TABLE_PATH.relative_to(ROOT)} missing: run tools/gen_uapi_layouts.py")
            else:
                mismatches += [f"committed table: {m}" for m in compare(committed, py)]
            done = f"uapi layouts: checked against freshly fetched {_describe(fresh)}"
        elif committed is not None:
            mismatches = compare(committed, py)
            why = "archive not tried (--offline)" if args.offline else f"archive unreachable ({reason})"
            done = f"uapi layouts: {why}: checked against committed table from {_describe(committed)}"
        else:
            print(f"uapi layouts: archive unreachable ({reason or '--offline'}) and no committed table")
            return 1
    elapsed = time.monotonic() - start
    if mismatches:
        print(f"{done}: {len(mismatches)} mismatch(es) ({elapsed:.1f} s)")
        for m in mismatches:
            print(f"  MISMATCH {m}")
        if any("table" in m for m in mismatches):
            print("  (after changing pvmkit.uapi: python tools/gen_uapi_layouts.py; see docs/uapi.md)")
        return 1
    print(f"{done}: {len(py.structs)} structs, {len(py.constants)} constants agree ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
