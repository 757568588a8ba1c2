"""RTMR0 over a grid of guest shapes (issue 13 Performance: vCPUs 1-256 x three memory sizes in
under 5 s), each shape's ACPI blobs from pvmkit's own generator (pvmkit.vendors.tdx.acpi), and QEMU
itself (``--qemu-binary``, pvmkit.vendors.tdx.qemu_acpi) for a few shapes as the peer ratio.

Prints the total and the time per shape (the generator's ACPI and SMBIOS blobs, the SMBIOS table
OVMF >= stable202505 measures, their digests and the whole RTMR0 event-log plan; the image's SMBIOS
facts are read once), then QEMU's time per shape for ``--qemu-shapes`` shapes of the grid, checking
that QEMU's blobs give the generator's RTMR0 for them.

    python bench/bench_tdx_rtmr0.py [--vcpus 1-256] [--memory 2G,16G,64G] [--qemu-version 10.0]
        [--qemu-binary QEMU] [--qemu-shapes 6] [--firmware FILE]

``PVMKIT_QEMU`` (``./dev test`` fetches Debian's QEMU 10.0.2 with tools/fetch_peers.py) is the default
binary; without one the QEMU comparison is skipped. The devices are dstack's (the CLI's default
launch; QEMU runs them with virtio-rng-pci in vhost-vsock-pci's slot, tests/support/qemu.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from pvmkit.cli._common import parse_size
from pvmkit.cli.measure_amd import parse_vcpus
from pvmkit.vendors.tdx.acpi.build import acpi_blobs
from pvmkit.vendors.tdx.acpi.qemu_args import DSTACK_LAUNCH
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from pvmkit.vendors.tdx.rtmr import AcpiBlobs, RtmrInputs, build_event_log_plan, parse_version
from pvmkit.vendors.tdx.smbios_ovmf import FirmwareSmbios, measured_smbios, read_firmware
from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs, set_processor_id

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.qemu import DSTACK_DEVICES as DSTACK_QEMU_ARGS  # noqa: E402  (dstack's devices as QEMU runs them)


def _default_firmware() -> Path:
    root = Path(os.environ.get("PVMKIT_FIXTURES", REPO.parent / "shared" / "fixtures"))
    return root / "firmware" / "OVMF.inteltdx.ms.fd"


# a `-cpu host` Processor ID (CPUID.1 EAX 0x000806F8, EDX 0xBFEBFBFF): any 8 bytes time the same
PROCESSOR_ID = bytes.fromhex("f8060800fffbebbf")


def _rtmr0(firmware: bytes, memory_size: int, files: dict[str, bytes], facts: FirmwareSmbios) -> bytes:
    blobs = AcpiBlobs(files["etc/table-loader"], files["etc/acpi/rsdp"], files["etc/acpi/tables"])
    assert facts.strings is not None and facts.filters is not None
    smbios = measured_smbios(files["etc/smbios/smbios-tables"], facts.strings, facts.filters)
    inputs = RtmrInputs(firmware=firmware, memory_size=memory_size, acpi=blobs, smbios=smbios)
    rtmr0 = build_event_log_plan(inputs).rtmr(0)
    assert rtmr0 is not None
    return rtmr0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vcpus", default="1-256")
    ap.add_argument("--memory", default="2G,16G,64G")
    ap.add_argument("--qemu-version", default="10.0", help="the generator's QEMU profile")
    ap.add_argument("--qemu-binary", default=os.environ.get("PVMKIT_QEMU"))
    ap.add_argument("--qemu-shapes", type=int, default=6, help="shapes QEMU itself runs (the peer ratio)")
    ap.add_argument("--firmware", default=str(_default_firmware()))
    args = ap.parse_args()
    firmware = Path(args.firmware).read_bytes()
    version = parse_version(args.qemu_version, "QEMU")
    pic = version < (9, 0)
    grid = [(n, parse_size(m)) for n in parse_vcpus(args.vcpus) for m in args.memory.split(",")]

    def generated(n: int, m: int) -> dict[str, bytes]:
        files = acpi_blobs(DSTACK_LAUNCH.machine(version, n, m, pic))
        return {**files, "etc/smbios/smbios-tables": qemu_smbios_blobs(version, n, m, PROCESSOR_ID).tables}

    start = time.perf_counter()
    facts = read_firmware(firmware)
    ours = {(n, m): _rtmr0(firmware, m, generated(n, m), facts) for n, m in grid}
    total = time.perf_counter() - start
    print(f"generator, QEMU {args.qemu_version} profile, {len(grid)} shapes (vCPUs {args.vcpus} x memory "
          f"{args.memory}): RTMR0 in {total:.2f} s, {total / len(grid) * 1000:.2f} ms per shape")  # fmt: skip
    print(f"  issue 13 target: < 5 s for the grid -> {'met' if total < 5 else 'NOT met'}")
    if not args.qemu_binary or args.qemu_shapes <= 0:
        print("  QEMU comparison skipped: give --qemu-binary or set PVMKIT_QEMU (tools/fetch_peers.py)")
        return 0
    dumper = QemuAcpiDumper(args.qemu_binary, args.firmware, tuple(shlex.split(DSTACK_QEMU_ARGS)))
    if dumper.version[:2] != version:
        print(f"  QEMU comparison skipped: the binary is QEMU {'.'.join(map(str, dumper.version))}")
        return 0
    step = max(1, len(grid) // args.qemu_shapes)
    sample = grid[::step][: args.qemu_shapes]
    start = time.perf_counter()
    for n, m in sample:
        files = dumper.dump(AcpiShape(vcpus=n, memory_size=m, pic=pic))
        tables = set_processor_id(files["etc/smbios/smbios-tables"], PROCESSOR_ID, version, n)
        assert _rtmr0(firmware, m, {**files, "etc/smbios/smbios-tables": tables}, facts) == ours[(n, m)], (
            f"QEMU and the generator differ at {n} vCPUs, {m} B"
        )
    qemu_total = time.perf_counter() - start
    per_qemu, per_ours = qemu_total / len(sample), total / len(grid)
    print(f"QEMU {'.'.join(map(str, dumper.version))} (qtest), {len(sample)} shapes: "
          f"{per_qemu * 1000:.0f} ms per shape, same RTMR0; the generator is {per_qemu / per_ours:.0f}x "
          "faster per shape")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
