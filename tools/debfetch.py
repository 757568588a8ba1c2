"""Fetch one package from a Debian suite without touching the system's apt state.

``apt-get download`` runs with a private configuration (sources, lists, cache and status under the
cache directory), then ``dpkg -x`` unpacks the package there. Used by ``gen_uapi_layouts.py`` (sid's
linux-libc-dev) and ``fetch_peers.py`` (peer tools for cross-checks). Never hangs: apt has short
network timeouts and every subprocess a hard one.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Unreachable", "fetch_deb", "first_line", "locked", "run"]


class Unreachable(Exception):
    """The archive could not be reached (or apt failed); fall back to the committed table."""


def _apt_options(apt: Path) -> list[str]:
    return [
        f"-oDir::Etc::sourcelist={apt / 'etc' / 'sources.list'}",
        f"-oDir::Etc::sourceparts={apt / 'etc' / 'sources.list.d'}",
        f"-oDir::Etc::preferences={apt / 'etc' / 'preferences'}",
        f"-oDir::Etc::preferencesparts={apt / 'etc' / 'preferences.d'}",
        f"-oDir::State={apt / 'state'}",
        f"-oDir::State::status={apt / 'state' / 'status'}",
        f"-oDir::Cache={apt / 'cache'}",
        "-oDebug::NoLocking=1",
        "-oAcquire::Retries=0",
        "-oAcquire::http::Timeout=5",
        "-oAcquire::https::Timeout=5",
        "-oAcquire::Languages=none",
        "-oAPT::Get::List-Cleanup=0",
        f"-oAPT::Sandbox::User={getpass.getuser()}",
        "-qq",
    ]


def run(cmd: list[str], *, cwd: Path | None = None, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in its own process group; on timeout kill that group (apt's download methods
    included) and raise :class:`subprocess.TimeoutExpired`."""
    env = {**os.environ, "LC_ALL": "C"}  # plain quotes in gcc's and apt's messages
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@contextlib.contextmanager
def locked(cache: Path, timeout: float = 10) -> Iterator[None]:
    """Hold ``cache/.lock``: several checkouts' runs may share a cache, and apt runs here without its
    own locking (Unreachable when another run holds it longer than ``timeout`` seconds)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unreachable(f"{cache} is locked by another run") from None
                time.sleep(0.2)
        yield


#: how long a suite's package lists stay current before ``apt-get update`` runs again (a fresh machine,
#: as CI is, always updates; a developer's repeated ``./dev test`` does not re-read the archive's index)
LISTS_MAX_AGE = 6 * 3600.0
#: how long a fetch waits for another run (or process) that holds the suite's apt state
SUITE_LOCK_TIMEOUT = 600.0


_STARTED = time.time()


def _fresh(stamp: Path) -> bool:
    """Were the suite's lists read recently enough (with PVMKIT_PEERS_REFRESH: during this run)?"""
    try:
        updated = stamp.stat().st_mtime
    except OSError:
        return False
    if os.environ.get("PVMKIT_PEERS_REFRESH"):
        return updated >= _STARTED
    return time.time() - updated < LISTS_MAX_AGE


def fetch_deb(
    package: str, source_line: str, cache: Path, marker: str, *, timeout: float = 15
) -> tuple[Path, str]:
    """Download (if needed) and unpack ``package`` from the suite of ``source_line`` into ``cache``.
    Returns (unpacked root, version); ``marker`` is a path inside the package that shows an earlier
    unpack is complete. Unreachable when the archive cannot be reached or apt fails."""
    for tool in ("apt-get", "dpkg", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise Unreachable(f"{tool} not installed")
    # One apt state per suite, shared by the packages fetched from it: one `apt-get update` per suite
    # (a fresh machine fetches ~60 packages from five suites), held while apt reads or writes it.
    apt = cache.parent / ".apt" / hashlib.sha256(source_line.encode()).hexdigest()[:16]
    with locked(apt, SUITE_LOCK_TIMEOUT):
        return _fetch_deb(package, source_line, cache, marker, timeout, apt)


def _fetch_deb(
    package: str, source_line: str, cache: Path, marker: str, timeout: float, apt: Path
) -> tuple[Path, str]:
    cache.mkdir(parents=True, exist_ok=True)
    for d in ("etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "cache/archives/partial"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "etc" / "sources.list").write_text(source_line)
    (apt / "etc" / "preferences").touch()
    (apt / "state" / "status").touch()
    opts = _apt_options(apt)
    stamp, current = apt / "state" / "updated", cache / "current-version"
    if _fresh(stamp) and current.is_file():  # unpacked since the lists were last read
        version = current.read_text().strip()
        if (cache / f"root-{version}" / marker).is_file():
            return cache / f"root-{version}", version
    try:
        if not _fresh(stamp):
            upd = run(["apt-get", *opts, "update"], timeout=timeout)
            failed = upd.returncode != 0 or re.search(
                r"^(Err:|E:|W: Failed to fetch)", upd.stdout + upd.stderr, re.M
            )
            if failed:
                why = first_line(upd.stderr or upd.stdout) or f"apt-get update exit {upd.returncode}"
                raise Unreachable(why)
            stamp.touch()
        # In an empty directory: apt prints nothing for a file already in the current directory.
        empty = apt / "print-uris"
        empty.mkdir(exist_ok=True)
        uris = run(["apt-get", *opts, "download", "--print-uris", package], cwd=empty, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise Unreachable(f"{exc.cmd[0]} timed out after {exc.timeout:.0f} s") from None
    m = re.search(r"'(\S+)' (\S+\.deb) (\d+) (?:SHA256:)?([0-9a-f]{64})", uris.stdout)
    if uris.returncode != 0 or m is None:
        raise Unreachable(first_line(uris.stderr) or f"no {package} in {source_line.split()[-2]}")
    filename, size, sha256 = m.group(2), int(m.group(3)), m.group(4)
    deb = cache / filename
    if not (deb.is_file() and deb.stat().st_size == size and _sha256(deb) == sha256):
        try:
            got = run(["apt-get", *opts, "download", package], cwd=cache, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Unreachable("apt-get download timed out") from None
        if got.returncode != 0 or not deb.is_file() or _sha256(deb) != sha256:
            raise Unreachable(first_line(got.stderr) or "apt-get download failed")
    version = run(["dpkg-deb", "-f", str(deb), "Version"], timeout=30).stdout.strip()
    root = cache / f"root-{version}"
    if not (root / marker).is_file():
        tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache))
        res = run(["dpkg", "-x", str(deb), str(tmp)], timeout=60)
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Unreachable(f"dpkg -x {deb.name} failed: {first_line(res.stderr)}")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    for old in cache.iterdir():  # earlier versions
        if old.name.startswith("root-") and old != root:
            shutil.rmtree(old, ignore_errors=True)
        elif old.suffix == ".deb" and old != deb:
            old.unlink(missing_ok=True)
    current.write_text(version + "\n")
    return root, version


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^[EW]: ", "", line.strip())
        if line:
            return line if len(line) <= 160 else line[:157] + "..."
    return ""
