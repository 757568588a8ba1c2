"""``pvmkit measure --vendor cca``: predict an Arm CCA realm's RIM from an explicit memory layout.

The realm's parameters are what the host's KVM passes to RMI_REALM_CREATE (IPA width, breakpoints,
watchpoints, SVE, PMU, LPA2, hash algorithm); memory is the images the VMM populates and at which
IPAs; vCPU 0's REC starts at ``--pc`` with ``--gpr`` values (spec cca_igvm.md §A1.6, docs/cca.md).
The VMM's own layout rules (where kvmtool or QEMU put the DTB, kernel and initrd, and the DTB itself)
are inputs: give the files the VMM loads and their addresses.
"""

from __future__ import annotations

import argparse
import base64
import hashlib

from pvmkit.cli._common import MAX_IMAGE, Parser, UsageError, parse_int, parse_size, print_json, read_file
from pvmkit.cli._options import add_rows, output_format, output_rows
from pvmkit.errors import FeatureError, InputError
from pvmkit.plan import AddMemory, AddVcpu, CcaParams, Finalize, Init, LaunchPlan, PageKind, Vendor

__all__ = ["build_parser", "build_plan", "main"]

_PAGE = 4096


def build_parser() -> Parser:
    p = Parser(
        "measure --vendor cca",
        "Predict the Realm Initial Measurement (RIM) of an Arm CCA realm from its parameters and the "
        "images the VMM populates.",
    )
    p.add_argument("--vendor", choices=["cca"], required=True, help="protected-VM technology")
    realm = p.add_argument_group("realm parameters (RMI_REALM_CREATE)")
    realm.add_argument("--ipa-bits", required=True, metavar="N", help="IPA width in bits (s2sz), 32-52")
    realm.add_argument("--num-bps", required=True, metavar="N", help="breakpoints (a count, 2-64)")
    realm.add_argument("--num-wps", required=True, metavar="N", help="watchpoints (a count, 2-64)")
    realm.add_argument("--sve-vl", metavar="BITS", help="SVE vector length in bits (default: no SVE)")
    realm.add_argument("--pmu-counters", metavar="N", help="PMU event counters (default: no PMU)")
    realm.add_argument("--lpa2", action="store_true", help="the host uses LPA2 (52-bit) stage 2 tables")
    realm.add_argument(
        "--hash", choices=["sha256", "sha512", "sha384"], default="sha256", help="default sha256"
    )
    realm.add_argument(
        "--rmm",
        choices=["1.0", "2.0"],
        default="1.0",
        help="RMM version: 1.0 measures RIPAS (KVM v12 and older), 2.0 does not (KVM v13+); default 1.0",
    )
    realm.add_argument(
        "--ripas",
        metavar="BASE:SIZE",
        action="append",
        default=[],
        help="RAM whose RIPAS the host sets to RAM (measured on RMM 1.0), e.g. 0x80000000:512M",
    )
    realm.add_argument(
        "--ripas-first",
        action="store_true",
        help="RMM 1.0: INIT_RIPAS right after REALM_CREATE (kvmtool, early KVM uAPI), not at activation",
    )
    mem = p.add_argument_group("memory and vCPUs")
    mem.add_argument(
        "--load",
        metavar="IPA:FILE",
        action="append",
        default=[],
        help="an image populated with its contents measured (zero-padded to 4 KiB); repeatable",
    )
    mem.add_argument(
        "--load-unmeasured",
        metavar="IPA:FILE",
        action="append",
        default=[],
        help="an image populated without measuring its contents (still extends the RIM)",
    )
    mem.add_argument("--pc", metavar="ADDR", default="0", help="vCPU 0's entry point (default 0)")
    mem.add_argument(
        "--gpr",
        metavar="N=VALUE",
        action="append",
        default=[],
        help="vCPU 0's xN (N = 0..7), e.g. 0=0x8fe00000",
    )
    mem.add_argument(
        "--vcpus", metavar="N", default="1", help="vCPUs, 1-512 (only vCPU 0 is runnable and measured)"
    )
    add_rows(p, output_rows(("hex", "base64", "json"), "hex"), {})
    return p


def _address(text: str, what: str) -> int:
    return parse_int(text, what, 0, (1 << 64) - 1)


def _loads(items: list[str], kind: PageKind, option: str) -> list[AddMemory]:
    ops = []
    for item in items:
        ipa_text, sep, path = item.partition(":")
        if not sep or not path:
            raise UsageError(f"{option} takes IPA:FILE, got {item!r}")
        ipa = _address(ipa_text, option)
        if ipa % _PAGE:
            raise UsageError(f"{option} IPA {ipa:#x} is not 4 KiB aligned (RMI populates whole granules)")
        data = read_file(path, "a load image", MAX_IMAGE)
        if not data:
            raise InputError(f"{option} {path}: the file is empty")
        padded = data + bytes(-len(data) % _PAGE)
        ops.append(AddMemory(ipa, len(padded), kind, data=padded, label=path))
    return ops


def _gprs(items: list[str]) -> tuple[int, ...]:
    values = [0] * 8
    for item in items:
        index, sep, value = item.partition("=")
        if not sep or not index.strip().isdigit() or not 0 <= int(index) <= 7:
            raise UsageError(f"--gpr takes N=VALUE with N in 0..7, got {item!r}")
        values[int(index)] = _address(value, f"--gpr {index}")
    return tuple(values)


def build_plan(args: argparse.Namespace) -> LaunchPlan:
    """The plan the options describe (images in IPA order, as QEMU and kvmtool populate them)."""
    from pvmkit.vendors.cca.realm import rec_params_page

    ripas = []
    for item in args.ripas:
        base_text, sep, size_text = item.partition(":")
        if not sep:
            raise UsageError(f"--ripas takes BASE:SIZE, got {item!r}")
        base = _address(base_text, "--ripas base")
        ripas.append((base, base + parse_size(size_text)))
    params = CcaParams(
        parse_int(args.ipa_bits, "--ipa-bits", 32, 52),
        parse_int(args.num_bps, "--num-bps"),
        parse_int(args.num_wps, "--num-wps"),
        sve_vl=parse_int(args.sve_vl, "--sve-vl") if args.sve_vl is not None else None,
        pmu_num_ctrs=parse_int(args.pmu_counters, "--pmu-counters")
        if args.pmu_counters is not None
        else None,
        lpa2=args.lpa2,
        hash_algo=args.hash,
        rmm=args.rmm,
        ripas=tuple(ripas),
        ripas_first=args.ripas_first,
    )
    try:  # every parameter is an option value: out of its range (RMI_REALM_CREATE) is a usage error
        params.validate()
    except FeatureError as exc:
        raise UsageError(str(exc)) from None
    memory = _loads(args.load, PageKind.NORMAL, "--load")
    memory += _loads(args.load_unmeasured, PageKind.UNMEASURED, "--load-unmeasured")
    memory.sort(key=lambda op: op.gpa)
    vcpus = parse_int(args.vcpus, "--vcpus", 1, 512)
    recs = [AddVcpu(0, rec_params_page(pc=_address(args.pc, "--pc"), gprs=_gprs(args.gpr)))]
    recs += [AddVcpu(i, rec_params_page(pc=0, runnable=False)) for i in range(1, vcpus)]
    return LaunchPlan.of([Init(Vendor.CCA, cca=params), *memory, *recs, Finalize()])


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    fmt = output_format(args, "hex", p.error)
    plan = build_plan(args)
    from pvmkit.launch import Launcher
    from pvmkit.vendors.cca.measure import CcaMeasurer

    measurer = CcaMeasurer()
    rim = Launcher(measurer).run(plan)
    if fmt == "base64":
        print(base64.b64encode(rim).decode())
    elif fmt == "json":
        params = plan.init.cca
        assert params is not None
        print_json(
            {
                "schema": "pvmkit.measure-cca/1",
                "rim": rim.hex(),
                "rim_slot": rim.ljust(64, b"\0").hex(),
                "hash_algo": params.hash_algo,
                "rmm": params.rmm,
                "descriptors": measurer.descriptors,
                "realm_flags": params.flags,
                "ipa_bits": params.ipa_bits,
                "pages": sum(op.pages for op in plan.memory),
                "vcpus": len(plan.vcpus),
                "images": [
                    {
                        "ipa": f"{op.gpa:#x}",
                        "file": op.label,
                        "sha256": hashlib.sha256(read_file(op.label, "a load image", MAX_IMAGE)).hexdigest(),
                        "measured": op.kind is PageKind.NORMAL,
                    }
                    for op in plan.memory
                ],
                "pc": args.pc,
                "gprs": args.gpr,
            }
        )
    else:
        print(rim.hex())
    return 0
