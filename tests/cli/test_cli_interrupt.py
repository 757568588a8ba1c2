"""Ctrl-C during ``pvmkit launch`` (docs/cli.md: exit 130, one line, no traceback; issue 9 part 2).

A real SIGINT goes to a real ``pvmkit launch`` subprocess running a guest that loops forever
(``jmp $``: EB FE), once while the guest runs and once during set-up, held there by the test-only
hook ``PVMKIT_TEST_PAUSE=setup:READY_FILE`` (docs/development.md "Test hooks"), since set-up lasts
milliseconds and a racing signal would test nothing. tests/kvm/test_interrupts.py checks in-process
that an interrupt leaves no fd or mapping behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pvmkit.attest.software_ca import SoftwareAttestationKeys

pytestmark = pytest.mark.kvm

LOOP = b"\xeb\xfe"  # jmp $ (Intel SDM vol. 2A, JMP rel8 with displacement -2)
DEADLINE = 60.0  # generous: the machine is shared and loaded


def default_sigint() -> None:
    """The child gets SIGINT's default disposition, so Python installs its KeyboardInterrupt handler
    even when this test runs where SIGINT is ignored (a background job inherits SIG_IGN)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys made beforehand, so the only line on stderr is the interrupt's."""
    where = tmp_path_factory.mktemp("keys")
    SoftwareAttestationKeys.load_or_create(str(where))
    return where


def spawn(tmp_path: Path, keys: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    guest = tmp_path / "loop.bin"
    guest.write_bytes(LOOP)
    argv = [sys.executable, "-m", "pvmkit", "launch", "--binary", str(guest), "--timeout", "120",
            "--key", str(keys)]  # fmt: skip
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=default_sigint,
    )


def vcpu_fds(pid: int) -> list[str]:
    """The child's open vCPU fds (``anon_inode:kvm-vcpu:N`` links in /proc/PID/fd)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("anon_inode:kvm-vcpu"):
            found.append(target)
    return found


def wait_until(what: str, ready: object, proc: subprocess.Popen[str]) -> None:
    start = time.monotonic()
    while not ready():  # type: ignore[operator]
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"pvmkit launch exited {proc.returncode} before {what}: {err!r}")
        if time.monotonic() - start > DEADLINE:
            proc.kill()
            proc.communicate()
            pytest.fail(f"pvmkit launch did not reach {what} within {DEADLINE} s")
        time.sleep(0.05)


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("pvmkit launch did not stop after SIGINT")
    return proc.returncode, out, err


def test_sigint_while_the_guest_runs(tmp_path: Path, keys: Path) -> None:
    proc = spawn(tmp_path, keys)
    wait_until("a vCPU", lambda: bool(vcpu_fds(proc.pid)), proc)
    time.sleep(0.5)  # set-up takes milliseconds; the looping guest now runs until the signal
    code, out, err = interrupt(proc)
    assert (code, err) == (130, "pvmkit: error: interrupted\n"), err
    assert "did not halt" not in out


def test_sigint_during_set_up(tmp_path: Path, keys: Path) -> None:
    ready = tmp_path / "paused"
    proc = spawn(tmp_path, keys, {"PVMKIT_TEST_PAUSE": f"setup:{ready}"})
    wait_until("the set-up pause", ready.exists, proc)
    assert vcpu_fds(proc.pid), "the pause point lies after the vCPU is created"
    code, out, err = interrupt(proc)
    assert (code, err, out) == (130, "pvmkit: error: interrupted\n", ""), err
