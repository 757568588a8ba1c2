"""MRTD throughput against the machine's raw SHA-384, measured in the same run.

1. The 4 MiB Debian TDVF image (``OVMF.inteltdx.ms.fd`` from the fixtures, or ``--firmware FILE``),
   in both page-add orders.
2. A 1 GiB synthetic measured region, streamed: the plan is generated lazily, 256 ``AddMemory`` ops
   of 4 MiB at consecutive GPAs that all view one reusable 4 MiB buffer, so 1 GiB is never allocated.

For each, the "raw" baseline is hashlib SHA-384 over the same number of *payload* bytes (the page
contents); MRTD also hashes 128-byte records (1 PAGE.ADD per page, 1 MR.EXTEND per 256 bytes), i.e.
6,272 stream bytes per 4,096 payload bytes, so a perfect implementation reaches about 65 % of raw.

    python bench/bench_tdx_mrtd.py [--firmware FILE] [--gib N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, Op, PageKind, PageOrder, TdxParams, Vendor
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from pvmkit.vendors.tdx.measure import MrtdMeasurer

REPO = Path(__file__).resolve().parents[1]
CHUNK = 4 << 20


def _default_firmware() -> Path:
    root = Path(os.environ.get("PVMKIT_FIXTURES", REPO.parent / "shared" / "fixtures"))
    return root / "firmware" / "OVMF.inteltdx.ms.fd"


def _raw(nbytes: int, buf: bytes) -> float:
    """Seconds for hashlib SHA-384 over ``nbytes`` bytes, fed ``buf``-sized pieces."""
    view = memoryview(buf)
    start = time.perf_counter()
    h = hashlib.sha384()
    done = 0
    while done < nbytes:
        n = min(len(view), nbytes - done)
        h.update(view[:n])
        done += n
    h.digest()
    return time.perf_counter() - start


def _synthetic_ops(total: int, order: PageOrder, buf: bytes) -> Iterator[Op]:
    yield Init(vendor=Vendor.TDX, tdx=TdxParams(order=order))
    yield AddVcpu(0)
    view = memoryview(buf)
    for i in range(total // CHUNK):
        yield AddMemory(0x100000000 + i * CHUNK, CHUNK, PageKind.NORMAL, view, label=f"chunk{i}")
    yield Finalize()


def _run(ops: Iterator[Op] | tuple[Op, ...]) -> tuple[bytes, float, MrtdMeasurer]:
    backend = MrtdMeasurer()
    launcher = Launcher(backend)
    start = time.perf_counter()
    result: bytes | None = None
    for op in ops:
        result = launcher.apply(op)
    elapsed = time.perf_counter() - start
    assert result is not None
    return result, elapsed, backend


def _report(label: str, payload: int, mrtd_s: float, raw_s: float) -> None:
    mb = payload / 1e6
    print(
        f"{label:<34} {mb / mrtd_s:8.0f} MB/s   raw SHA-384 {mb / raw_s:8.0f} MB/s"
        f"   ratio {raw_s / mrtd_s:5.2f}   ({mrtd_s * 1e3:8.1f} ms vs {raw_s * 1e3:7.1f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firmware", type=Path, default=None)
    parser.add_argument("--gib", type=float, default=1.0, help="size of the synthetic region (GiB)")
    args = parser.parse_args()
    firmware = args.firmware or _default_firmware()
    buf = os.urandom(CHUNK)
    print(f"python {sys.version.split()[0]}, hashlib {hashlib.sha384().name}, payload = measured page bytes")
    if firmware.exists():
        image = firmware.read_bytes()
        for order in PageOrder:
            plan = build_tdvf_plan(image, order=order)
            runs = [_run(plan.ops) for _ in range(5)]
            digest, best, backend = min(runs, key=lambda r: r[1])
            payload = backend.extends * 256
            raw = min(_raw(payload, buf) for _ in range(5))
            _report(f"{firmware.name} {order.value}", payload, best, raw)
            print(
                f"    MRTD {digest.hex()[:32]}…  ({backend.page_adds} PAGE.ADD, {backend.extends} MR.EXTEND)"
            )
    else:
        print(f"{firmware}: not found, skipping the image benchmark (set PVMKIT_FIXTURES or --firmware)")
    total = int(args.gib * (1 << 30)) // CHUNK * CHUNK
    for order in PageOrder:
        digest, elapsed, backend = _run(_synthetic_ops(total, order, buf))
        raw = _raw(total, buf)
        _report(f"synthetic {total >> 20} MiB {order.value}", total, elapsed, raw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
