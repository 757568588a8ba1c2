"""Benchmark: pvmkit's AMD launch-digest commands against sev-snp-measure 0.0.13 (the peer).

Run by ``./dev bench`` (not part of the tests); ``python bench/bench_amd.py --quick`` for a short run.
Everything is measured in this run, on this machine, against the peer installed in the same
environment (``.venv/bin/sev-snp-measure``):

* reference: ``python -c pass`` start-up;
* (a) one cold CLI SNP measurement: median wall time of N process launches of
  ``pvmkit sev-snp-measure --mode snp --vcpus 4 ...`` and ``pvmkit measure --vendor snp ...`` vs the
  peer's ``sev-snp-measure --mode snp ...`` (target ratio <= 0.5); for diagnosis also the same
  measurement in process (compute only) and each side's import cost (``-X importtime``);
* (b) the matrix vCPUs 1-512 x {sev, sev-es, snp} x two feature sets: pvmkit's matrix command (one
  process per mode x feature set) vs the peer's one-process-per-configuration loop. The peer loop is
  timed on a sample of vCPU counts and extrapolated to all 512 (the output says so); ``--full`` runs
  all of it (~2.5 minutes). Target ratio >= 200.

Results of both sides are compared wherever they must agree (every sampled configuration); a
mismatch aborts the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = "firmware/OVMF.amdsev.fd"
VCPU_TYPE = "EPYC-v4"
MAX_VCPUS = 512

#: The two feature sets of the matrix: (label, {pvmkit vendor: VMSA features}).
#: Set A is upstream KVM + QEMU (SNP 0x1; SEV-ES through INIT2 with no features: what the peer's seves
#: computes). Set B is DebugSwap (SNP 0x21; SEV-ES INIT2 with 0x20: the peer cannot compute that one,
#: its seves ignores --guest-features; its loop is still timed, with --guest-features 0x21).
FEATURE_SETS = (("A", {"sev": 0, "sev-es": 0x0, "snp": 0x1}), ("B", {"sev": 0, "sev-es": 0x20, "snp": 0x21}))
PEER_MODE = {"sev": "sev", "sev-es": "seves", "snp": "snp"}


def fixtures_root() -> Path:
    env = os.environ.get("PVMKIT_FIXTURES")
    return Path(env) if env else (REPO.parent / "shared" / "fixtures").resolve()


def tool(name: str) -> str:
    """An executable from this interpreter's environment (.venv/bin), else from PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        sys.exit(f"bench: {name!r} not found next to {sys.executable} nor on PATH (run ./dev setup)")
    return found


def run(argv: list[str]) -> tuple[float, str]:
    """One process launch: (wall seconds, stdout). Fails loudly on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench_amd: command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    return dt, proc.stdout


def launches(commands: dict[str, list[str]], n: int) -> dict[str, list[float]]:
    """N launches of each command, interleaved (so drift hits all equally), after one warm-up each."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    for argv in commands.values():
        run(argv)  # warm-up: page cache, .pyc files
    for _ in range(n):
        for k, argv in commands.items():
            times[k].append(run(argv)[0])
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]

    def fmt(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in pairs)

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])


# --------------------------------------------------------------------------------------------------


def bench_startup(n: int) -> float:
    t = launches({"python": [sys.executable, "-c", "pass"]}, n)["python"]
    return statistics.median(t)


def bench_cold(fw: str, n: int, pvmkit: str, peer: str) -> list[list[str]]:
    common = ["--vcpus", "4", "--vcpu-type", VCPU_TYPE, "--ovmf", fw]
    commands = {
        "sev-snp-measure (peer)": [peer, "--mode", "snp", *common],
        "pvmkit sev-snp-measure": [pvmkit, "sev-snp-measure", "--mode", "snp", *common],
        "pvmkit measure --vendor snp": [pvmkit, *native_snp_args(fw, "4")],
    }
    outs = {k: run(argv)[1] for k, argv in commands.items()}
    ref = outs["sev-snp-measure (peer)"].strip()
    for k, out in outs.items():
        if ref not in out:
            sys.exit(f"bench_amd: {k} printed {out.strip()!r}, the peer {ref!r}")
    times = launches(commands, n)
    peer_median = statistics.median(times["sev-snp-measure (peer)"])
    rows = []
    for k, t in times.items():
        med = statistics.median(t)
        rows.append([k, ms(med), ms(min(t)), f"{med / peer_median:6.2f}"])
    return rows


def bench_in_process(fw: str, n: int) -> list[list[str]]:
    """The same SNP measurement in this process (imports already paid): compute cost only."""
    import contextlib
    import io

    from sevsnpmeasure import guest
    from sevsnpmeasure.sev_mode import SevMode
    from sevsnpmeasure.vcpu_types import CPU_SIGS

    from pvmkit.cli.main import main as pvmkit_main

    argv = ["sev-snp-measure", "--mode", "snp", "--vcpus", "4", "--vcpu-type", VCPU_TYPE, "--ovmf", fw]

    def ours() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            pvmkit_main(argv)

    def peer() -> None:
        guest.calc_launch_digest(SevMode.SEV_SNP, 4, CPU_SIGS[VCPU_TYPE], fw, None, None, None, 0x1)

    rows = []
    medians = {}
    for label, fn in (("peer calc_launch_digest()", peer), ("pvmkit main(['sev-snp-measure', ...])", ours)):
        fn()
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        medians[label] = statistics.median(t)
        rows.append([label, ms(medians[label]), ms(min(t)), ""])
    ref = medians["peer calc_launch_digest()"]
    for r in rows:
        r[3] = f"{medians[r[0]] / ref:6.2f}"
    return rows


def import_profile(code: str) -> tuple[float, list[tuple[str, float]]]:
    """``python -X importtime -c CODE``: (total self import time in s, top-level modules by cumulative)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    total, top = 0.0, []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        total += int(self_us) / 1e6
        if not name.startswith("  "):  # imported directly by the script, not by another module
            top.append((name.strip(), int(cumulative_us) / 1e6))
    return total, sorted(top, key=lambda x: -x[1])[:6]


def bench_imports(fw: str) -> list[tuple[str, str, str]]:
    args = ["--mode", "snp", "--vcpus", "4", "--vcpu-type", VCPU_TYPE, "--ovmf", fw]
    scripts = {
        "sev-snp-measure (peer)": f"import sys; sys.argv = {['sev-snp-measure', *args]!r}; "
        "from sevsnpmeasure.cli import main; main()",
        "pvmkit sev-snp-measure": f"import sys; sys.argv = {['pvmkit', 'sev-snp-measure', *args]!r}; "
        "from pvmkit.cli.main import entry; entry()",
    }
    rows = []
    for label, code in scripts.items():
        total, top = import_profile(code)
        rows.append((label, ms(total), ", ".join(f"{n} {t * 1e3:.1f}" for n, t in top)))
    return rows


def native_snp_args(fw: str, vcpus: str) -> list[str]:
    return ["measure", "--vendor", "snp", "--vcpus", vcpus, "--vcpu-type", VCPU_TYPE, "--ovmf", fw]


def native_matrix_args(fw: str, vendor: str, features: int) -> list[str]:
    """``pvmkit measure`` for vCPUs 1..512 in one process (SEV-ES through INIT2, like the peer)."""
    args = ["measure", "--vendor", vendor, "--ovmf", fw, "--vcpus", f"1-{MAX_VCPUS}"]
    if vendor != "sev":
        args += ["--vcpu-type", VCPU_TYPE, "--vmsa-features", hex(features)]
    if vendor == "sev-es":
        args += ["--init-path", "init2"]
    return args


def parse_matrix(out: str) -> dict[int, str]:
    """vCPU count → hex digest from ``pvmkit measure --vcpus A-B`` output (JSON lines)."""
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {int(r["vcpus"]): r["digest"] for r in records}


def bench_matrix(fw: str, stride: int, reps: int, pvmkit: str, peer: str) -> tuple[list[list[str]], str]:
    rows = []
    total_ours = total_peer_est = 0.0
    sampled = list(range(1, MAX_VCPUS + 1, stride))
    if sampled[-1] != MAX_VCPUS:
        sampled.append(MAX_VCPUS)
    for set_name, feats in FEATURE_SETS:
        for vendor in ("sev", "sev-es", "snp"):
            argv = [pvmkit, *native_matrix_args(fw, vendor, feats[vendor])]
            runs = [run(argv) for _ in range(reps)]
            t_ours, out = statistics.median(r[0] for r in runs), runs[0][1]
            ours = parse_matrix(out)
            if sorted(ours) != list(range(1, MAX_VCPUS + 1)):
                sys.exit(f"bench_amd: pvmkit matrix for {vendor} did not print 512 results:\n{out[:400]}")
            comparable = vendor != "sev-es" or feats[vendor] == 0
            peer_times = []
            for n in sampled:
                argv = [peer, "--mode", PEER_MODE[vendor], "--ovmf", fw]
                if vendor != "sev":
                    argv += ["--vcpus", str(n), "--vcpu-type", VCPU_TYPE]
                if vendor == "snp" or (vendor == "sev-es" and feats[vendor]):
                    argv += ["--guest-features", hex(feats[vendor] | (1 if vendor == "sev-es" else 0))]
                dt, pout = run(argv)
                peer_times.append(dt)
                if comparable and pout.strip() != ours[n]:
                    sys.exit(f"bench_amd: {vendor} n={n} set {set_name}: {ours[n]} != peer {pout.strip()}")
            per = statistics.median(peer_times)  # robust against other load on the machine
            est = sum(peer_times) if len(sampled) == MAX_VCPUS else per * MAX_VCPUS  # measured or estimated
            total_ours += t_ours
            total_peer_est += est
            rows.append(
                [
                    f"{vendor} set {set_name} ({hex(feats[vendor])})",
                    ms(t_ours),
                    f"{len(sampled)} runs, median {ms(per).strip()}",
                    f"{est:8.1f} s" + ("" if len(sampled) == MAX_VCPUS else " (est.)"),
                    f"{est / t_ours:7.0f}x",
                    "equal" if comparable else "n/a (peer lacks it)",
                ]
            )
    ratio = total_peer_est / total_ours
    rows.append(["total", ms(total_ours), "", f"{total_peer_est:8.1f} s", f"{ratio:7.0f}x", ""])
    note = (
        f"peer loop: sampled every {stride}th vCPU count ({len(sampled)} of {MAX_VCPUS} per row), "
        "median time per process x 512 = estimated full loop"
        if len(sampled) != MAX_VCPUS
        else "peer loop: all 512 configurations per row were run; the column is their summed wall time"
    )
    return rows, note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few launches, sparse peer sample (~10 s)")
    ap.add_argument("--full", action="store_true", help="run the whole peer loop (all 512 x 6, ~2.5 minutes)")
    ap.add_argument("-n", type=int, default=None, help="launches per command for (a) (default 21, quick 5)")
    args = ap.parse_args()
    n = args.n or (5 if args.quick else 21)
    stride = 1 if args.full else (64 if args.quick else 8)

    fw_path = fixtures_root() / FIRMWARE
    if not fw_path.exists():
        sys.exit(f"bench_amd: {fw_path} not found (set PVMKIT_FIXTURES)")
    fw = str(fw_path)
    pvmkit, peer = tool("pvmkit"), tool("sev-snp-measure")
    peer_version = run([peer, "--version"])[1].strip()

    print(
        f"pvmkit AMD benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, peer {peer_version}"
    )
    print(f"firmware: {fw} ({fw_path.stat().st_size // 1024} KiB), vCPU type {VCPU_TYPE}\n")

    startup = bench_startup(n)
    print(f"reference: `python -c pass` start-up, median of {n}: {ms(startup).strip()}\n")

    print(f"(a) one cold CLI SNP measurement (--vcpus 4), median of {n} process launches (after 1 warm-up)")
    print(table(["command", "median", "min", "vs peer"], bench_cold(fw, n, pvmkit, peer)))
    print("    target: pvmkit / peer <= 0.5\n")

    print(f"(a') the same measurement in process (imports already paid), median of {n} calls")
    print(table(["call", "median", "min", "vs peer"], bench_in_process(fw, n)))
    print()

    print("(a'') import cost of one cold run (python -X importtime: sum of self times; then the biggest")
    print("     top-level imports, cumulative ms)")
    for label, total, biggest in bench_imports(fw):
        print(f"{label:<24}{total}   {biggest}")
    print()

    print(f"(b) matrix vCPUs 1-{MAX_VCPUS} x {{sev, sev-es, snp}} x 2 feature sets")
    reps = 1 if args.quick else 3
    rows, note = bench_matrix(fw, stride, reps, pvmkit, peer)
    headers = ["row", f"pvmkit (1 process, median of {reps})", "peer sample", "peer loop", "ratio", "checked"]
    print(table(headers, rows))
    print(f"    {note}")
    print("    target: peer loop / pvmkit >= 200x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
