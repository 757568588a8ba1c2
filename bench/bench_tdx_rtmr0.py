"""RTMR0 over a grid of guest shapes (issue 13 Performance: vCPUs 1-256 x three memory sizes), with
each shape's ACPI blobs from QEMU itself (``--qemu-binary``, pvmkit.vendors.tdx.qemu_acpi).

Prints the total, the time per shape and how it splits between QEMU (start, qtest, fw_cfg DMA) and
pvmkit's event-log plan. The issue's target is under 5 s for the whole grid; with one QEMU run per
shape this approach cannot reach it (docs/roadmap.md, issue 13: a generator of pvmkit's own).

    python bench/bench_tdx_rtmr0.py --qemu-binary QEMU [--vcpus 1-256] [--memory 2G,16G,64G]
        [--jobs 2] [--firmware FILE] [--qemu-args ARGS]

``PVMKIT_QEMU`` (``./dev test`` fetches Debian's QEMU with tools/fetch_peers.py) is the default binary.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pvmkit.cli._common import parse_size
from pvmkit.cli.measure_amd import parse_vcpus
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from pvmkit.vendors.tdx.rtmr import AcpiBlobs, RtmrInputs, build_event_log_plan

REPO = Path(__file__).resolve().parents[1]


def _default_firmware() -> Path:
    root = Path(os.environ.get("PVMKIT_FIXTURES", REPO.parent / "shared" / "fixtures"))
    return root / "firmware" / "OVMF.inteltdx.ms.fd"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu-binary", default=os.environ.get("PVMKIT_QEMU"))
    ap.add_argument("--firmware", default=str(_default_firmware()))
    ap.add_argument("--vcpus", default="1-256")
    ap.add_argument("--memory", default="2G,16G,64G")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="QEMU runs in parallel")
    ap.add_argument("--qemu-args", default="", help="the launch's devices (one shell-quoted string)")
    args = ap.parse_args()
    if not args.qemu_binary:
        print("bench_tdx_rtmr0: skipped: give --qemu-binary or set PVMKIT_QEMU (tools/fetch_peers.py)")
        return 0
    firmware = Path(args.firmware).read_bytes()
    dumper = QemuAcpiDumper(args.qemu_binary, args.firmware, tuple(shlex.split(args.qemu_args)))
    pic = dumper.version < (9, 0, 0)
    shapes = [
        AcpiShape(vcpus=n, memory_size=parse_size(m), pic=pic)
        for n in parse_vcpus(args.vcpus)
        for m in args.memory.split(",")
    ]
    qemu_seconds = 0.0
    plan_seconds = 0.0

    def one(shape: AcpiShape) -> tuple[AcpiShape, bytes | None, float, float]:
        t0 = time.perf_counter()
        files = dumper.dump(shape)
        t1 = time.perf_counter()
        blobs = AcpiBlobs(files["etc/table-loader"], files["etc/acpi/rsdp"], files["etc/acpi/tables"])
        inputs = RtmrInputs(
            firmware=firmware, memory_size=shape.memory_size, acpi=blobs, smbios_digest=bytes(48)
        )
        rtmr0 = build_event_log_plan(inputs).rtmr(0)
        return shape, rtmr0, t1 - t0, time.perf_counter() - t1

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, shapes))
    total = time.perf_counter() - start
    for _shape, rtmr0, q, p in results:
        assert rtmr0 is not None
        qemu_seconds += q
        plan_seconds += p
    print(f"QEMU {'.'.join(map(str, dumper.version))}, {len(shapes)} shapes "
          f"(vCPUs {args.vcpus} x memory {args.memory}), {args.jobs} parallel QEMU runs")  # fmt: skip
    print(f"total {total:.1f} s wall, {total / len(shapes) * 1000:.1f} ms per shape")
    print(f"  per shape (CPU-serial sums / shapes): QEMU {qemu_seconds / len(shapes) * 1000:.1f} ms, "
          f"event-log plan {plan_seconds / len(shapes) * 1000:.1f} ms")  # fmt: skip
    print(f"  issue 13 target: < 5 s for the grid -> {'met' if total < 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
