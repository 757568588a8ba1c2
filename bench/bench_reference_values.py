"""Benchmark: the SNP fleet matrix exported as a Trustee message, against sev-snp-measure 0.0.13 (issue 10).

Run by ``./dev bench`` (not part of the tests); ``python bench/bench_reference_values.py --quick`` for a
short run. Both sides run in this run, on this machine:

* pvmkit: one process, ``pvmkit reference-values --vendor snp`` over vCPUs 1-512 x every vCPU type
  pvmkit knows x {qemu, ec2, gce} x three VMSA feature sets (none, DebugSwap, DebugSwap+SecureTSC),
  written as a Trustee RVPS message; its wall time (target: under 10 s);
* the peer: its CLI called once per configuration, as a user without pvmkit would. The loop is timed on
  a random sample of configurations and extrapolated to the whole matrix, as bench_amd does; every
  sampled digest must be in the exported set (a mismatch aborts). Target ratio >= 1000.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_amd import fixtures_root, tool  # the same fixture locator and tool lookup

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = "firmware/OVMF.amdsev.fd"
MAX_VCPUS = 512
VMMS = ("qemu", "ec2", "gce")
#: VMSA features given to KVM_SEV_INIT2; the peer takes SEV_FEATURES, i.e. these | SNPActive (0x1).
FEATURE_SETS = (0x0, 0x20, 0x220)
#: sev-snp-measure's spelling of the VMM types (its VMMType enum: QEMU, ec2, gce)
PEER_VMM = {"qemu": "QEMU", "ec2": "ec2", "gce": "gce"}


def run(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(
            f"bench_reference_values: command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}"
        )
    return dt, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small peer sample (~10 s)")
    ap.add_argument("--sample", type=int, default=None, help="peer configurations to time (default 40)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from pvmkit.vendors.amd.cpu import CPU_TYPES

    fw = fixtures_root() / FIRMWARE
    if not fw.exists():
        sys.exit(f"bench_reference_values: {fw} not found (set PVMKIT_FIXTURES)")
    types = list(CPU_TYPES)
    configurations = MAX_VCPUS * len(types) * len(VMMS) * len(FEATURE_SETS)
    pvmkit, peer = tool("pvmkit"), tool("sev-snp-measure")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rv-message.json"
        argv = [
            pvmkit,
            "reference-values",
            "--vendor",
            "snp",
            "--firmware",
            str(fw),
            "--vcpus",
            f"1-{MAX_VCPUS}",
        ]
        argv += ["--vcpu-type", ",".join(types), "--vmm-type", ",".join(VMMS)]
        for features in FEATURE_SETS:
            argv += ["--vmsa-features", f"{features:#x}"]
        argv += ["--format", "trustee", "-o", str(out)]
        wall, _ = run(argv)
        message = json.loads(out.read_text())
        values = set(json.loads(base64.b64decode(message["payload"]))["snp_launch_measurement"])

    rng = random.Random(10)
    n = args.sample or (8 if args.quick else 40)
    sample = [
        (rng.randint(1, MAX_VCPUS), rng.choice(types), rng.choice(VMMS), rng.choice(FEATURE_SETS))
        for _ in range(n)
    ]
    peer_times = []
    for vcpus, vcpu_type, vmm, features in sample:
        dt, digest = run(
            [
                peer, "--mode", "snp", "--vcpus", str(vcpus), "--vcpu-type", vcpu_type,
                "--vmm-type", PEER_VMM[vmm], "--guest-features", hex(features | 1), "--ovmf", str(fw),
            ]
        )  # fmt: skip
        peer_times.append(dt)
        if digest.strip() not in values:
            what = f"{vcpus} {vcpu_type} {vmm} {features:#x}"
            sys.exit(f"bench_reference_values: the peer's digest for {what} is not in the export")
    per = statistics.median(peer_times)
    estimate = per * configurations
    ratio = estimate / wall
    shape = f"vCPUs 1-{MAX_VCPUS} x {len(types)} vCPU types x {'/'.join(VMMS)}"
    features_text = ", ".join(hex(f) for f in FEATURE_SETS)
    print(f"SNP fleet matrix: {configurations} configurations ({shape} x features {features_text})")
    print(f"  {len(values)} distinct values")
    print(f"pvmkit reference-values --format trustee, one process: {wall:.2f} s (target < 10 s)")
    print(f"sev-snp-measure per configuration: median {per * 1000:.0f} ms over {n} sampled configurations,")
    print(f"  extrapolated to the matrix: {estimate:.0f} s (sample digests all in the export)")
    print(f"ratio: {ratio:.0f}x (target >= 1000x)")
    return 0 if wall < 10 and ratio >= 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
