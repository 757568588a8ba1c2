"""``pvmkit measure --vendor sev|sev-es|snp|sw``, ``pvmkit sev-snp-measure`` and
``pvmkit sev-launch-measure`` through ``pvmkit.cli.main.main(argv)``: outputs, and every bad input as
one stderr line, a non-zero exit code, no traceback and no file left behind."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.ovmf import METADATA_GUID, RESET_BLOCK_GUID
from support.cli import run

DEBIAN = "firmware/OVMF.amdsev.fd"
AMDSEV_TAIL = "sev-snp-measure-tests/ovmf_AmdSev_suffix.bin"
OVMFX64_TAIL = "sev-snp-measure-tests/ovmf_OvmfX64_suffix.bin"
SNP4 = "13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f"
SNP1 = "d74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58"
SNP2 = "a3c946257b3cef8f1e25dd03cb84f9f01313ae9135c32acc7e01f4204aa447aaa196530d5999be0f114462d2546cd02d"
OVMF_HASH = "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806"


def snp(fw: Path, *extra: str) -> list[str]:
    return ["measure", "--vendor", "snp", "--ovmf", str(fw), "--vcpu-type", "EPYC-v4", *extra]


# -- outputs -----------------------------------------------------------------------------------
def test_hex_base64_and_json(fixture_file, capsys) -> None:
    fw = fixture_file(DEBIAN)
    assert run(snp(fw, "--vcpus", "4"), capsys) == (0, SNP4 + "\n", "")
    code, out, _ = run(snp(fw, "--vcpus", "4", "--output-format", "base64"), capsys)
    assert code == 0 and base64.b64decode(out.strip()).hex() == SNP4
    code, out, _ = run(snp(fw, "--vcpus", "4", "--output-format", "json"), capsys)
    record = json.loads(out)
    assert record["digest"] == SNP4 and record["vcpus"] == 4 and record["sev_features"] == "0x1"


def test_vcpu_range_prints_json_lines(fixture_file, capsys) -> None:
    code, out, err = run(snp(fixture_file(DEBIAN), "--vcpus", "1-4"), capsys)
    assert code == 0 and err == ""  # no progress bar when stderr is not a terminal
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["vcpus"] for r in records] == [1, 2, 3, 4]
    assert [records[0]["digest"], records[1]["digest"], records[3]["digest"]] == [SNP1, SNP2, SNP4]


def test_signature_spellings_agree(fixture_file, capsys) -> None:
    fw = str(fixture_file(DEBIAN))
    base = ["measure", "--vendor", "snp", "--ovmf", fw, "--vcpus", "4"]
    for extra in (
        ["--vcpu-sig", "0x800f12"],
        ["--vcpu-family", "23", "--vcpu-model", "1", "--vcpu-stepping", "2"],
        ["--vcpu-type", "EPYC-v9"],
    ):
        assert run(base + extra, capsys)[1].strip() == SNP4


def test_seed_and_sw(fixture_file, capsys) -> None:
    fw = fixture_file(DEBIAN)
    assert run(snp(fw, "--vcpus", "4", "--ovmf-hash", OVMF_HASH), capsys)[1].strip() == SNP4
    sw = ["measure", "--vendor", "sw", "--ovmf", str(fw), "--vcpus", "4", "--vcpu-type", "EPYC-v4"]
    assert run(sw, capsys)[1].strip() == SNP4


def test_dump_vmsa_writes_into_the_named_directory(fixture_file, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "vmsas"
    out_dir.mkdir()
    assert run(snp(fixture_file(DEBIAN), "--vcpus", "2", "--dump-vmsa", str(out_dir)), capsys)[0] == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["vmsa0.bin", "vmsa1.bin"]
    assert (out_dir / "vmsa0.bin").stat().st_size == 4096
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vmsas"]  # nothing in the working directory


@pytest.mark.parametrize("fmt", [[], ["--output-format", "json"]], ids=["range", "range-json"])
def test_a_failed_vmsa_write_prints_no_records(fixture_file, capsys, tmp_path: Path, fmt: list[str]) -> None:
    """The VMSA files are written before the records: a write that fails leaves stdout empty."""
    (tmp_path / "vmsa0.bin").mkdir()  # the first VMSA file cannot be written
    argv = snp(fixture_file(DEBIAN), "--vcpus", "1-4", *fmt, "--dump-vmsa", str(tmp_path))
    code, out, err = run(argv, capsys)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "vmsa0.bin: a directory" in err


def test_sev_launch_measure_compute_and_check(fixture_file, capsys) -> None:
    common = ["--tik", "000102030405060708090a0b0c0d0e0f", "--api-major", "1", "--api-minor", "55",
              "--build", "21"]  # fmt: skip
    ld = "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f"
    mnonce = "101112131415161718191a1b1c1d1e1f"
    code, out, _ = run(["sev-launch-measure", *common, "--policy", "1", "--mnonce", mnonce,
                        "--launch-digest", ld, "--output-format", "hex"], capsys)  # fmt: skip
    assert code == 0
    assert out.strip() == "fccb20824e3797fd6d4d7d46a62b87384800343e8869e414eef9d2abf6a5a781" + mnonce
    # the same LD measured from the firmware; the blob in base64 (QEMU's form) is checked
    blob = base64.b64encode(bytes.fromhex(out.strip())).decode()
    fw = str(fixture_file(DEBIAN))
    code, out, _ = run(
        ["sev-launch-measure", *common, "--policy", "1", "--ovmf", fw, "--check", blob], capsys
    )
    assert code == 0 and ld in out
    code, out, err = run(
        ["sev-launch-measure", *common, "--policy", "3", "--ovmf", fw, "--check", blob], capsys
    )
    assert code == 3 and out == "" and len(err.splitlines()) == 1 and "does not match" in err


# -- sev-snp-measure compatibility ---------------------------------------------------------------
def test_compat_output_forms(fixture_file, capsys, tmp_path: Path, monkeypatch) -> None:
    fw = str(fixture_file(DEBIAN))
    base = ["sev-snp-measure", "--mode", "snp", "--ovmf", fw, "--vcpus", "4", "--vcpu-type", "EPYC-v4"]
    assert run(base, capsys)[1] == SNP4 + "\n"
    assert run([*base, "-v"], capsys)[1] == f"Calculated SEV_SNP guest measurement: {SNP4}\n"
    b64 = run([*base, "--output-format", "base64"], capsys)[1].strip()
    assert base64.b64decode(b64).hex() == SNP4
    assert run(["sev-snp-measure", "--mode", "snp:ovmf-hash", "--ovmf", fw], capsys)[1] == OVMF_HASH + "\n"
    assert run(["sev-snp-measure", "--version"], capsys) == (0, "sev-snp-measure 0.0.13\n", "")
    monkeypatch.chdir(tmp_path)
    assert run([*base, "--dump-vmsa"], capsys)[0] == 0  # the peer writes vmsa<N>.bin into the cwd
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"vmsa{i}.bin" for i in range(4)]


def test_compat_seves_keeps_the_peer_model_and_notes_it(fixture_file, capsys) -> None:
    fw = str(fixture_file(DEBIAN))
    peer = run(["sev-snp-measure", "--mode", "seves", "--ovmf", fw, "--vcpus", "1", "--vcpu-type", "EPYC-v4",
                "--guest-features", "0x21"], capsys)[1].strip()  # fmt: skip
    assert peer == "62f563dcde1a3fcde3e5ffd1a3ee7ff7e9bae00f74bada763587a311e2df5d7e"  # features ignored
    ours = run(["measure", "--vendor", "sev-es", "--ovmf", fw, "--vcpu-type", "EPYC-v4"], capsys)[1].strip()
    assert ours == "9ce7535be9fd1f8075d237b16d3a1ec50665c53d3a4ff11c0cd3ba6303e7707e"  # legacy init


# -- bad input ---------------------------------------------------------------------------------
def _patched(data: bytes, guid: str) -> bytes:
    """The image with one footer-table GUID defaced (the entry becomes an unknown one)."""
    raw = guid_bytes(guid)
    i = data.rindex(raw)
    return data[:i] + bytes(16) + data[i + 16 :]


@pytest.fixture
def bad_inputs(tmp_path: Path, fixture_bytes) -> dict[str, str]:
    debian = fixture_bytes(DEBIAN)
    tail = fixture_bytes(AMDSEV_TAIL)
    files = {
        "truncated": debian[: 2 * 1024 * 1024],
        "tiny": debian[-40:],
        "not-ovmf": bytes(range(256)) * 64,
        "no-metadata": _patched(tail, METADATA_GUID),
        "no-reset-block": _patched(tail, RESET_BLOCK_GUID),
        "kernel": b"kernel",
        "empty": b"",
    }
    paths = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    paths["x64"] = str(fixture_file_path(OVMFX64_TAIL))
    paths["debian"] = str(fixture_file_path(DEBIAN))
    return paths


def fixture_file_path(relative: str) -> Path:
    from support.fixtures import fixture_path

    return fixture_path(relative)


BAD = [
    ("truncated firmware", ["--vendor", "snp", "--ovmf", "{truncated}"], 1, "footer"),
    ("tiny firmware", ["--vendor", "snp", "--ovmf", "{tiny}"], 1, "too short"),
    ("empty firmware", ["--vendor", "snp", "--ovmf", "{empty}"], 1, "too short"),
    ("directory as firmware", ["--vendor", "snp", "--ovmf", "/"], 1, "Is a directory"),
    ("non-OVMF firmware", ["--vendor", "sev", "--ovmf", "{not-ovmf}"], 1, "not an SEV-capable OVMF"),
    ("no SEV metadata", ["--vendor", "snp", "--ovmf", "{no-metadata}"], 1, "no SEV metadata"),
    ("APs without reset block", ["--vendor", "snp", "--ovmf", "{no-reset-block}", "--vcpus", "2"], 1,
     "reset block"),
    ("APs without reset block, range", ["--vendor", "sev-es", "--ovmf", "{no-reset-block}", "--vcpus", "1-3"],
     1, "reset block"),
    ("unknown vCPU type", ["--vendor", "snp", "--ovmf", "{debian}", "--vcpu-type", "Skylake"], 2,
     "unknown vCPU type"),
    ("SNP-only feature for sev-es", ["--vendor", "sev-es", "--ovmf", "{debian}", "--vmsa-features", "0x1"], 1,
     "SNP_ACTIVE) are not available to sev-es"),
    ("reserved feature bit", ["--vendor", "snp", "--ovmf", "{debian}", "--vmsa-features", "0x800"], 1,
     "undefined bit"),
    ("features on legacy init", ["--vendor", "sev-es", "--ovmf", "{debian}", "--vmsa-features", "0x40",
                                 "--init-path", "legacy"], 1, "legacy"),
    ("initrd without kernel", ["--vendor", "snp", "--ovmf", "{debian}", "--initrd", "{kernel}"], 2,
     "--kernel"),
    ("append without kernel", ["--vendor", "snp", "--ovmf", "{debian}", "--append", "x"], 2, "--kernel"),
    ("ovmf-hash too short", ["--vendor", "snp", "--ovmf", "{debian}", "--ovmf-hash", "abcd"], 2, "48 bytes"),
    ("kernel without hashes support", ["--vendor", "snp", "--ovmf", "{x64}", "--kernel", "{kernel}"], 1,
     "SNP_KERNEL_HASHES"),
    ("kernel without hashes table (sev)", ["--vendor", "sev", "--ovmf", "{x64}", "--kernel", "{kernel}"], 1,
     "kernel/initrd/cmdline"),
    ("bad vCPU range", ["--vendor", "snp", "--ovmf", "{debian}", "--vcpus", "4-2"], 2, "--vcpus"),
    ("missing firmware", ["--vendor", "snp", "--ovmf", "/nonexistent/OVMF.fd"], 1, "No such file"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_leaves_nothing(
    case: str, args: list[str], code: int, message: str, bad_inputs, capsys, tmp_path: Path
) -> None:
    out_dir = tmp_path / "dump"
    out_dir.mkdir()
    argv = ["measure", *[a.format(**bad_inputs) for a in args], "--vcpu-type", "EPYC-v4"]
    if "--vcpu-type" in args:
        argv = argv[:-2]
    argv += ["--dump-vmsa", str(out_dir)]
    got, out, err = run(argv, capsys)
    assert got == code, err
    assert out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err
    assert list(out_dir.iterdir()) == []


S1 = ["--mode", "snp", "--ovmf", "{debian}", "--vcpus", "1", "--vcpu-type", "EPYC"]
COMPAT_BAD = [
    ([*S1, "--initrd", "{kernel}"], 2),
    (["--mode", "snp", "--ovmf", "{debian}", "--vcpu-type", "EPYC-v4"], 2),  # no --vcpus
    (["--mode", "snp", "--ovmf", "{debian}", "--vcpus", "1"], 2),  # no vCPU type with QEMU
    (["--mode", "snp", "--ovmf", "{debian}", "--vcpus", "1", "--vcpu-type", "Nope"], 2),  # closed list
    ([*S1, "--vmm-type", "xen"], 2),
    (["--mode", "snp", "--ovmf", "{no-reset-block}", "--vcpus", "2", "--vcpu-type", "EPYC"], 1),
    (["--mode", "seves", "--ovmf", "{x64}", "--vcpus", "1", "--vcpu-type", "EPYC", "--kernel", "{kernel}"],
     1),
    ([*S1, "--snp-ovmf-hash", "00"], 1),  # the peer exits 1 here too
    (["--mode", "seves", "--ovmf", "{debian}", "--vcpus", "1", "--vcpu-type", "EPYC", "--snp-ovmf-hash",
      "00"], 1),
    (["--mode", "snp:svsm", "--ovmf", "{debian}", "--vcpus", "1", "--vcpu-type", "EPYC"], 2),
    (["--mode", "sev", "--ovmf", "{debian}", "--dump-vmsa"], 2),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code"), COMPAT_BAD)
def test_compat_bad_input(
    args: list[str], code: int, bad_inputs, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    argv = [a.format(**bad_inputs) for a in args]
    if "sev" not in argv:
        argv.append("--dump-vmsa")
    got, out, err = run(["sev-snp-measure", *argv], capsys)
    assert got == code and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert set(tmp_path.iterdir()) == before


# -- cost of a cold call ---------------------------------------------------------------------------
def test_measure_hot_path_imports_neither_ctypes_nor_cryptography(fixture_file) -> None:
    """A cold ``pvmkit measure`` must stay cheap to start: no ctypes, cryptography or hmac
    work of its own."""
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from pvmkit.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    assert main(['measure', '--vendor', 'snp', '--ovmf', {str(fixture_file(DEBIAN))!r},"
        " '--vcpus', '4', '--vcpu-type', 'EPYC-v4']) == 0\n"
        f"assert out.getvalue().strip() == {SNP4!r}\n"
        "heavy = sorted(m for m in ('ctypes', 'cryptography', 'hmac') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


#: Modules a cold SNP measurement must not import (bench/bench_amd.py section (a), spec amd.md §8):
#: argparse (+ re, gettext, shutil) is built only for help/errors/unusual spellings; dataclasses (+
#: inspect, ast, dis, tokenize, copy), typing and collections.abc are replaced (pvmkit._coldstart) or
#: under TYPE_CHECKING. enum (+ functools, collections) is allowed: pip's `pvmkit` launcher imports re,
#: and so enum, before pvmkit starts (docs/development.md "Start-up"). hashlib loads libcrypto
#: (_hashlib): SHA-384 comes from pvmkit._coldstart.sha instead.
HOT_PATH_FORBIDDEN = (
    "argparse", "re", "gettext", "shutil", "locale", "dataclasses", "inspect", "ast", "dis", "tokenize",
    "copy", "typing", "collections.abc", "importlib", "warnings", "contextlib", "json", "tempfile",
    "pathlib", "uuid", "ctypes", "cryptography", "hmac", "base64", "struct", "hashlib", "_hashlib",
)  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ["measure", "--vendor", "snp", "--ovmf", "{fw}", "--vcpus", "4", "--vcpu-type", "EPYC-v4"],
        ["sev-snp-measure", "--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", "{fw}"],
    ],
    ids=["measure", "sev-snp-measure"],
)
def test_cold_snp_measurement_imports_only_what_it_needs(fixture_file, command: list[str]) -> None:
    """The two commands the start-up benchmark times, in a fresh interpreter: the right digest, and
    none of the modules that used to make a cold run slower than the peer."""
    import subprocess
    import sys

    argv = [a.replace("{fw}", str(fixture_file(DEBIAN))) for a in command]
    code = (
        "import sys\n"
        "from pvmkit.cli.main import main\n"
        f"code = main({argv!r})\n"
        f"heavy = sorted(m for m in {HOT_PATH_FORBIDDEN!r} if m in sys.modules)\n"
        "print(code, ','.join(heavy) or '-')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == [SNP4, "0 -"], proc.stdout


@pytest.mark.parametrize("command", ["measure", "sev-snp-measure"])
def test_firmware_kernel_and_initrd_through_pipes(fixture_file, tmp_path: Path, command: str) -> None:
    """Inputs are mapped, not read, when they are regular files; a pipe (a shell's ``<(...)``) cannot
    be mapped and is read instead: the digest is the same either way."""
    import os
    import subprocess
    import sys
    import threading

    fw = fixture_file(DEBIAN)
    (tmp_path / "kernel").write_bytes(b"kernel " * 1000)
    (tmp_path / "initrd").write_bytes(b"initrd " * 1000)
    if command == "measure":
        head = ["measure", "--vendor", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-v4"]
    else:
        head = ["sev-snp-measure", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-v4"]

    def argv(fw: str, kernel: str, initrd: str) -> list[str]:
        return [*head, "--ovmf", fw, "--kernel", kernel, "--initrd", initrd, "--append", "console=ttyS0"]

    files = argv(str(fw), str(tmp_path / "kernel"), str(tmp_path / "initrd"))
    expected = subprocess.run([sys.executable, "-m", "pvmkit", *files], capture_output=True, text=True)
    assert expected.returncode == 0 and len(expected.stdout.strip()) == 96, expected.stderr

    sources = {"fw": fw, "kernel": tmp_path / "kernel", "initrd": tmp_path / "initrd"}
    fifos = {name: tmp_path / f"{name}.fifo" for name in sources}
    for fifo in fifos.values():
        os.mkfifo(fifo)

    def feed(fifo: Path, source: Path) -> None:
        with open(fifo, "wb") as w:
            w.write(source.read_bytes())

    feeders = [threading.Thread(target=feed, args=(fifos[n], sources[n]), daemon=True) for n in sources]
    for t in feeders:
        t.start()
    piped = argv(str(fifos["fw"]), str(fifos["kernel"]), str(fifos["initrd"]))
    got = subprocess.run([sys.executable, "-m", "pvmkit", *piped], capture_output=True, text=True, timeout=60)
    for t in feeders:
        t.join(timeout=10)
    assert (got.returncode, got.stdout, got.stderr) == (0, expected.stdout, "")


def test_progress_bar_only_on_a_terminal(fixture_file, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    code, out, err = run(snp(fixture_file(DEBIAN), "--vcpus", "1-3"), capsys)
    assert code == 0 and len(out.splitlines()) == 3
    assert "3/3" in err  # drawn on stderr, never mixed into the JSON lines


# -- the console script's exit without finalization (cli.main.FAST_EXIT_COMMANDS) --------------------
def _run_entry(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``pvmkit ARGV`` through the console-script entry point in a fresh interpreter; an atexit handler
    registered before it writes ``atexit-ran`` to stderr, and os._exit is wrapped to say it was used."""
    code = (
        "import atexit, os, sys\n"
        "atexit.register(lambda: sys.stderr.write('atexit-ran\\n'))\n"
        "_exit = os._exit\n"
        "def loud_exit(code):\n"
        "    sys.stderr.write(f'os-exit {code}\\n'); sys.stderr.flush(); _exit(code)\n"
        "os._exit = loud_exit\n"
        f"sys.argv = ['pvmkit', *{argv!r}]\n"
        "from pvmkit.cli.main import entry\n"
        "entry()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_measure_exits_without_finalization_and_loses_nothing(fixture_file) -> None:
    """The digest on stdout, exit 0, atexit handlers run, and the process ended through os._exit."""
    fw = str(fixture_file(DEBIAN))
    for argv in (
        ["measure", "--vendor", "snp", "--ovmf", fw, "--vcpus", "4", "--vcpu-type", "EPYC-v4"],
        ["sev-snp-measure", "--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", fw],
    ):
        proc = _run_entry(argv)
        assert (proc.returncode, proc.stdout) == (0, SNP4 + "\n"), proc.stderr
        assert proc.stderr.splitlines() == ["atexit-ran", "os-exit 0"]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (
            [
                "measure",
                "--vendor",
                "snp",
                "--ovmf",
                "/nonexistent/OVMF.fd",
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC-v4",
            ],
            1,
        ),
        (["measure", "--vendor", "snp", "--vcpus", "0", "--ovmf", "{fw}"], 2),
    ],
    ids=["missing-file", "usage"],
)
def test_measure_fast_exit_keeps_exit_codes_and_messages(fixture_file, argv: list[str], code: int) -> None:
    argv = [a.replace("{fw}", str(fixture_file(DEBIAN))) for a in argv]
    proc = _run_entry(argv)
    lines = proc.stderr.splitlines()
    assert proc.returncode == code and proc.stdout == ""
    assert lines[-2:] == ["atexit-ran", f"os-exit {code}"] and len(lines) == 3, lines
    assert lines[0].startswith("pvmkit")


def test_other_commands_and_traced_runs_exit_normally(fixture_file) -> None:
    """Only the listed commands skip finalization, and not under a tracer (coverage) or profiler."""
    assert "os-exit" not in _run_entry(["--version"]).stderr
    fw = str(fixture_file(DEBIAN))
    argv = ["measure", "--vendor", "snp", "--ovmf", fw, "--vcpus", "4", "--vcpu-type", "EPYC-v4"]
    code = (
        "import sys\n"
        "sys.settrace(lambda *a: None)\n"
        f"sys.argv = ['pvmkit', *{argv!r}]\n"
        "import os\n"
        "os._exit = lambda code: sys.stderr.write('os-exit')\n"
        "from pvmkit.cli.main import entry\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, SNP4 + "\n", "")
