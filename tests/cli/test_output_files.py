"""Output options never destroy what they point at (issue 15 items 5 and 7; docs/cli.md "Output
files"): regular files and new paths are replaced atomically (keeping an existing file's mode, through
symlinks), character devices and FIFOs are written through and stay what they were, other kinds are
refused, and a write error (a full disk) names the file. The device-node cases need ``mknod`` and so
root (CI runs as root); elsewhere they skip with that reason.

The commands used are ``pvmkit measure --vendor sw --dump-vmsa DIR`` (writes DIR/vmsa0.bin, no
fixture needed) and, on /dev/kvm, ``pvmkit launch --report-out``, the repro of the issue."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pvmkit.cli._common import atomic_write
from pvmkit.cli.main import main
from pvmkit.errors import InputError

VMSA = 4096  # one VMSA page

root_only = pytest.mark.skipif(
    os.geteuid() != 0, reason="mknod of a device node needs root (CI runs as root)"
)


def dump_vmsa(directory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["measure", "--vendor", "sw", "--dump-vmsa", str(directory)])
    return code, capsys.readouterr().err


def null_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers (devices.txt: 1,3)


def test_new_and_existing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    umask = os.umask(0o022)
    try:
        assert dump_vmsa(tmp_path, capsys) == (0, "")
        out = tmp_path / "vmsa0.bin"
        assert len(out.read_bytes()) == VMSA
        assert stat.S_IMODE(out.stat().st_mode) == 0o644  # 0666 less the umask, as a shell's `>`
        out.write_bytes(b"old")
        out.chmod(0o640)
        assert dump_vmsa(tmp_path, capsys) == (0, "")
        assert len(out.read_bytes()) == VMSA and stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vmsa0.bin"]  # no temporary file left


def test_a_symlink_is_followed_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    out = tmp_path / "out"
    out.mkdir()
    (out / "vmsa0.bin").symlink_to(real)
    assert dump_vmsa(out, capsys) == (0, "")
    assert (out / "vmsa0.bin").is_symlink() and len(real.read_bytes()) == VMSA


@root_only
def test_a_character_device_is_written_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = tmp_path / "vmsa0.bin"
    null_device(node)
    assert dump_vmsa(tmp_path, capsys) == (0, "")
    st = node.stat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vmsa0.bin"]


def test_a_fifo_is_written_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "vmsa0.bin"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    try:
        # the reader may not have opened the FIFO yet: retry until it has (refusals are immediate)
        for _ in range(200):
            code, err = dump_vmsa(tmp_path, capsys)
            if code == 0:
                break
            assert "a FIFO that nobody reads" in err
            threading.Event().wait(0.05)
    finally:
        if not got and reader.is_alive():
            with open(fifo, "wb"):  # release the reader if the command never wrote
                pass
        reader.join(timeout=60)
    assert code == 0 and len(got) == 1 and len(got[0]) == VMSA
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_fifo_nobody_reads_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "vmsa0.bin"
    os.mkfifo(fifo)
    code, err = dump_vmsa(tmp_path, capsys)
    assert code == 1 and err == f"pvmkit: error: {fifo}: a FIFO that nobody reads (start its reader first)\n"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_other_kinds_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vmsa0.bin").mkdir()
    code, err = dump_vmsa(tmp_path, capsys)
    assert code == 1 and err.count("\n") == 1 and "vmsa0.bin: a directory" in err
    with pytest.raises(InputError, match="a directory"):
        atomic_write(str(tmp_path / "vmsa0.bin"), b"x")
    assert (tmp_path / "vmsa0.bin").is_dir()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_device_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vmsa0.bin").symlink_to("/dev/full")  # always ENOSPC (Documentation/admin-guide/devices.txt)
    code, err = dump_vmsa(tmp_path, capsys)
    assert (code, err) == (1, f"pvmkit: error: {tmp_path / 'vmsa0.bin'}: No space left on device\n")


def test_a_write_error_on_a_regular_file_names_it_and_leaves_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the write fail (EFBIG) as a full disk would, without filling one."""

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    argv = [sys.executable, "-m", "pvmkit", "measure", "--vendor", "sw", "--dump-vmsa", str(tmp_path)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=small_files, env=env, timeout=120)
    out = tmp_path / "vmsa0.bin"
    assert (done.returncode, done.stderr) == (1, f"pvmkit: error: {out}: File too large\n")
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file


@root_only
@pytest.mark.kvm
def test_launch_report_out_leaves_a_device_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = tmp_path / "nulldev"
    null_device(node)
    code = main(["launch", "--key", str(tmp_path / "keys"), "--report-out", str(node), "--json"])
    assert code == 0, capsys.readouterr().err
    assert stat.S_ISCHR(node.stat().st_mode) and node.stat().st_rdev == os.makedev(1, 3)


def test_a_closed_stdout_exits_quietly() -> None:
    """Issue 15 item 7: stdout whose reader is gone (`pvmkit ... | head -0`) ends the command with no
    message and status 141 (128 + SIGPIPE, what a shell shows for a tool killed by SIGPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails with EPIPE
    try:
        argv = [sys.executable, "-m", "pvmkit", "measure", "--vendor", "sw"]
        done = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
