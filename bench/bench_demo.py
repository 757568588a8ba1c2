"""Benchmark: the demo's launch path against Python start-up, both measured in this run.

Run by ``./dev bench`` (not part of the tests); ``python bench/bench_demo.py --quick`` for a short run.

* reference: ``python -c pass`` start-up (median of N process launches);
* in-process: for the bundled attestation guest, the median of N runs of
  plan → predict (``measure_plan``) → INIT … FINALIZE on /dev/kvm (sw VM) → first VM exit, and the
  full run to HLT with the in-guest attestation (report signed by the software VCEK);
* cold CLI: median wall time of ``pvmkit demo --json`` processes (keys already created, in a
  temporary directory).

Every in-process launch checks that the measured digest equals the prediction; a mismatch aborts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _median_process(argv: list[str], n: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    n_proc, n_launch = (5, 50) if args.quick else (20, 300)

    from pvmkit.attest.software_ca import SoftwareAttestationKeys
    from pvmkit.launch import Launcher
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.sw.builder import bundled_guest_plan
    from pvmkit.vendors.sw.machine import SwMachine
    from pvmkit.vendors.sw.service import SoftwareReportService

    python_start = _median_process([sys.executable, "-c", "pass"], n_proc)

    with tempfile.TemporaryDirectory(prefix="pvmkit-bench-") as tmp:
        key_dir = os.path.join(tmp, "keys")
        keys = SoftwareAttestationKeys.create(key_dir)
        service = SoftwareReportService(keys)
        to_first_exit, to_halt = [], []
        for _ in range(n_launch):
            t0 = time.perf_counter()
            guest = bundled_guest_plan(nonce=os.urandom(32))
            predicted = measure_plan(guest.plan)
            with SwMachine(service=service) as machine:
                measured = Launcher(machine).run(guest.plan)
                t_final = time.perf_counter()
                result = machine.run(timeout=5)
            t1 = time.perf_counter()
            if measured != predicted or not result.halted or not result.reports:
                print(f"bench_demo: launch failed: {result!r}", file=sys.stderr)
                return 1
            assert result.first_exit_seconds is not None
            to_first_exit.append(t_final - t0 + result.first_exit_seconds)
            to_halt.append(t1 - t0)
        pvmkit = str(Path(sys.executable).with_name("pvmkit"))
        env = {**os.environ, "XDG_DATA_HOME": os.path.join(tmp, "xdg")}
        demo_cli = _median_process([pvmkit, "demo", "--key", key_dir, "--json"], n_proc, env)
        doc = json.loads(
            subprocess.run(
                [pvmkit, "demo", "--key", key_dir, "--json"],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
        )

    first = statistics.median(to_first_exit)
    halt = statistics.median(to_halt)
    print(
        f"python -c pass start-up                          {python_start * 1e3:8.2f} ms  (median of {n_proc})"
    )
    print(
        f"plan -> predict -> finalize -> first exit (sw)   {first * 1e3:8.2f} ms  "
        f"(median of {n_launch}; {first / python_start:.2f}x python start-up)"
    )
    print(f"  ... -> attested report -> HLT -> VM closed     {halt * 1e3:8.2f} ms")
    print(
        f"pvmkit demo --json (cold process, keys exist)    {demo_cli * 1e3:8.2f} ms  "
        f"(median of {n_proc}; {demo_cli / python_start:.1f}x python start-up; ok={doc['ok']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
