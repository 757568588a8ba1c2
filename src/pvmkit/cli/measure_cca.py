"""``pvmkit measure --vendor cca``: predict an Arm CCA realm's RIM.

The realm's parameters are what the host's KVM passes to RMI_REALM_CREATE (IPA width, breakpoints,
watchpoints, SVE, PMU, LPA2, hash algorithm). Memory is either

* an explicit layout: the images the VMM populates and at which IPAs (``--load``), vCPU 0's REC at
  ``--pc`` with ``--gpr`` values (spec cca_igvm.md §A1.6, docs/cca.md); or
* a VMM's own layout (``--vmm-type kvmtool|qemu``): the kernel, initrd, firmware and the DTB the VMM
  generates, placed where that VMM places them (:mod:`pvmkit.vendors.cca.kvmtool`,
  :mod:`pvmkit.vendors.cca.qemu`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib

from pvmkit.cli._common import (
    MAX_IMAGE,
    Parser,
    UsageError,
    atomic_write,
    parse_int,
    parse_size,
    print_json,
    read_file,
)
from pvmkit.cli._options import add_rows, output_format, output_rows
from pvmkit.errors import FeatureError, InputError
from pvmkit.plan import AddMemory, AddVcpu, CcaParams, Finalize, Init, LaunchPlan, PageKind, Vendor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pvmkit.vendors.cca.vmm_layout import VmmLayout

__all__ = ["build_parser", "build_plan", "main"]

_PAGE = 4096


def build_parser() -> Parser:
    p = Parser(
        "measure --vendor cca",
        "Predict the Realm Initial Measurement (RIM) of an Arm CCA realm from its parameters and the "
        "images the VMM populates.",
    )
    p.add_argument("--vendor", choices=["cca"], required=True, help="protected-VM technology")
    _add_realm_options(p.add_argument_group("realm parameters (RMI_REALM_CREATE)"))
    _add_memory_options(p.add_argument_group("memory and vCPUs"))
    _add_vmm_options(p.add_argument_group("a VMM's layout (instead of --load, --pc, --gpr, --ripas)"))
    add_rows(p, output_rows(("hex", "base64", "json"), "hex"), {})
    return p


def _add_realm_options(realm: Any) -> None:
    """What the host passes to RMI_REALM_CREATE, and the RIPAS ranges it sets."""
    realm.add_argument(
        "--ipa-bits",
        metavar="N",
        help="IPA width in bits (s2sz), 32-52; required without --vmm-type; with it, the VMM picks the "
        "width and this is the host's limit (default: no limit)",
    )
    realm.add_argument("--num-bps", required=True, metavar="N", help="breakpoints (a count, 2-64)")
    realm.add_argument("--num-wps", required=True, metavar="N", help="watchpoints (a count, 2-64)")
    realm.add_argument("--sve-vl", metavar="BITS", help="SVE vector length in bits (default: no SVE)")
    realm.add_argument("--pmu-counters", metavar="N", help="PMU event counters (default: no PMU)")
    realm.add_argument("--lpa2", action="store_true", help="the host uses LPA2 (52-bit) stage 2 tables")
    realm.add_argument(
        "--hash",
        choices=["sha256", "sha512", "sha384"],
        help="the realm's hash algorithm (default sha256; with --vmm-type qemu sha512, rme-guest's default)",
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


def _add_memory_options(mem: Any) -> None:
    """The images populated explicitly, and vCPU 0's registers."""
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


def _add_vmm_options(vmm: Any) -> None:
    """A VMM's layout of kernel, initrd, firmware and DTB, instead of explicit images."""
    vmm.add_argument(
        "--vmm-type", choices=["kvmtool", "qemu"], help="place everything as this VMM does (default: --load)"
    )
    vmm.add_argument("--kernel", metavar="FILE", help="the arm64 Linux Image, uncompressed (default: none)")
    vmm.add_argument("--initrd", metavar="FILE", help="the initrd (default: none)")
    vmm.add_argument(
        "--firmware",
        metavar="FILE",
        help="firmware (kvmtool -f, QEMU -bios) instead of a kernel (default: none)",
    )
    vmm.add_argument(
        "--firmware-address", metavar="ADDR", help="kvmtool: where the firmware goes (default: the RAM base)"
    )
    vmm.add_argument(
        "--memory",
        "--mem",
        metavar="SIZE",
        help="guest RAM, e.g. 512M (kvmtool/QEMU -m; required for kvmtool, QEMU's default 128M)",
    )
    vmm.add_argument(
        "--cmdline",
        "--append",
        metavar="ARGS",
        help="kernel arguments: kvmtool -p (after kvmtool's own), QEMU -append (default: none)",
    )
    vmm.add_argument(
        "--bootargs",
        metavar="STRING",
        help="the whole /chosen/bootargs string instead (default: as --cmdline)",
    )
    vmm.add_argument(
        "--irqchip",
        choices=["gicv3-its", "gicv3"],
        default="gicv3-its",
        help="GICv3 with or without ITS (kvmtool --irqchip, QEMU -M its=on|off; default gicv3-its)",
    )
    vmm.add_argument(
        "--dtb",
        metavar="FILE",
        help="measure this DTB (e.g. the VMM's own) instead of generating one (default: generate)",
    )
    vmm.add_argument(
        "--dump-dtb", metavar="FILE", help="write the measured DTB to FILE (default: not written)"
    )


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
        hash_algo=args.hash or "sha256",
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


_EXPLICIT = ("load", "load_unmeasured", "gpr", "ripas")
_VMM_ONLY = (
    "kernel",
    "initrd",
    "firmware",
    "firmware_address",
    "memory",
    "cmdline",
    "bootargs",
    "dtb",
    "dump_dtb",
)


def _pmu_counters(args: argparse.Namespace) -> int | None:
    return parse_int(args.pmu_counters, "--pmu-counters", 0, 31) if args.pmu_counters is not None else None


def _vmm_layout(args: argparse.Namespace, parser: Parser, vcpus: int) -> VmmLayout:
    """The layout ``--vmm-type`` gives the inputs."""
    if args.cmdline is not None and args.bootargs is not None:
        parser.error("--cmdline and --bootargs cannot be used together")
    dtb = read_file(args.dtb, "DTB") if args.dtb else None
    images = {
        name: read_file(getattr(args, name), name, MAX_IMAGE) if getattr(args, name) else None
        for name in ("kernel", "initrd", "firmware")
    }
    its = args.irqchip == "gicv3-its"
    pmu = args.pmu_counters is not None
    if args.vmm_type == "qemu":
        from pvmkit.vendors.cca.qemu import DEFAULT_RAM, QemuConfig, qemu_layout

        if args.firmware_address is not None:
            parser.error("--firmware-address is kvmtool's; QEMU loads -bios firmware at 0")
        bootargs = args.bootargs if args.bootargs is not None else args.cmdline
        ram = parse_size(args.memory) if args.memory else DEFAULT_RAM
        return qemu_layout(QemuConfig(ram, vcpus, bootargs=bootargs, its=its, pmu=pmu, **images), dtb)
    from pvmkit.vendors.cca.kvmtool import KVMTOOL_DEFAULT_BOOTARGS, KvmtoolConfig, kvmtool_layout

    if args.memory is None:
        parser.error("--vmm-type kvmtool needs --memory SIZE (kvmtool's default depends on the host)")
    bootargs = args.bootargs
    if bootargs is None:
        bootargs = KVMTOOL_DEFAULT_BOOTARGS + (" " + args.cmdline if args.cmdline else "")
    address = _address(args.firmware_address, "--firmware-address") if args.firmware_address else None
    config = KvmtoolConfig(
        parse_size(args.memory),
        vcpus,
        firmware_address=address,
        bootargs=bootargs,
        its=its,
        pmu=pmu,
        **images,
    )
    return kvmtool_layout(config, dtb)


def _vmm_plan(args: argparse.Namespace, parser: Parser) -> tuple[LaunchPlan, VmmLayout]:
    """The plan of a realm as ``--vmm-type`` lays it out."""
    used = [f"--{d.replace('_', '-')}" for d in _EXPLICIT if getattr(args, d)]
    used += ["--pc"] * (args.pc != "0") + ["--ripas-first"] * args.ripas_first
    if used:
        parser.error(f"{', '.join(used)} cannot be used with --vmm-type (the VMM decides the layout)")
    vcpus = parse_int(args.vcpus, "--vcpus", 1, 512)
    layout = _vmm_layout(args, parser, vcpus)
    plan = _layout_plan(args, layout, vcpus)
    try:  # realm parameters out of their range (--sve-vl, --hash): usage errors, as without --vmm-type
        plan.init.validate()
    except FeatureError as exc:
        raise UsageError(str(exc)) from None
    return plan, layout


def _layout_plan(args: argparse.Namespace, layout: VmmLayout, vcpus: int) -> LaunchPlan:
    from pvmkit.vendors.cca.vmm_layout import plan_of

    return plan_of(
        layout,
        num_bps=parse_int(args.num_bps, "--num-bps", 2, 64),
        num_wps=parse_int(args.num_wps, "--num-wps", 2, 64),
        vcpus=vcpus,
        sve_vl=parse_int(args.sve_vl, "--sve-vl") if args.sve_vl is not None else None,
        pmu_num_ctrs=_pmu_counters(args),
        lpa2=args.lpa2,
        hash_algo=args.hash or ("sha512" if args.vmm_type == "qemu" else "sha256"),
        rmm=args.rmm,
        host_ipa_bits=parse_int(args.ipa_bits, "--ipa-bits", 32, 52) if args.ipa_bits is not None else None,
    )


def plan_from_args(args: argparse.Namespace, p: Parser) -> tuple[LaunchPlan, VmmLayout | None]:
    """The realm's plan: as ``--vmm-type`` lays it out (with the layout), else from the explicit
    options (``reference-values --vendor cca`` builds its plans here too); usage errors via ``p``."""
    if args.vmm_type:
        return _vmm_plan(args, p)
    used = [f"--{d.replace('_', '-')}" for d in _VMM_ONLY if getattr(args, d)]
    if used:
        p.error(f"{', '.join(used)} need --vmm-type")
    if args.ipa_bits is None:
        p.error("--ipa-bits is required without --vmm-type")
    return build_plan(args), None


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    fmt = output_format(args, "hex", p.error)
    plan, layout = plan_from_args(args, p)
    from pvmkit.launch import Launcher
    from pvmkit.vendors.cca.measure import CcaMeasurer

    measurer = CcaMeasurer()
    rim = Launcher(measurer).run(plan)
    if layout is not None and args.dump_dtb:
        atomic_write(args.dump_dtb, layout.dtb)
    if fmt == "base64":
        print(base64.b64encode(rim).decode())
    elif fmt == "json":
        print_json(_document(args, plan, layout, rim, measurer.descriptors))
    else:
        print(rim.hex())
    return 0


def _document(
    args: argparse.Namespace, plan: LaunchPlan, layout: Any, rim: bytes, descriptors: int
) -> dict[str, Any]:
    """The ``pvmkit.measure-cca/1`` document (docs/cli.md): the RIM and the inputs it came from."""
    params = plan.init.cca
    assert params is not None
    doc: dict[str, Any] = {
        "schema": "pvmkit.measure-cca/1",
        "rim": rim.hex(),
        "rim_slot": rim.ljust(64, b"\0").hex(),
        "hash_algo": params.hash_algo,
        "rmm": params.rmm,
        "descriptors": descriptors,
        "realm_flags": params.flags,
        "ipa_bits": params.ipa_bits,
        "pages": sum(op.pages for op in plan.memory),
        "vcpus": len(plan.vcpus),
    }
    return doc | (_explicit_inputs(args, plan) if layout is None else _layout_inputs(args, layout))


def _explicit_inputs(args: argparse.Namespace, plan: LaunchPlan) -> dict[str, Any]:
    """--load/--load-unmeasured images (each file's SHA-256 as given), --pc and --gpr."""
    images = [
        {
            "ipa": f"{op.gpa:#x}",
            "file": op.label,
            "sha256": hashlib.sha256(read_file(op.label, "a load image", MAX_IMAGE)).hexdigest(),
            "measured": op.kind is PageKind.NORMAL,
        }
        for op in plan.memory
    ]
    return {"images": images, "pc": args.pc, "gprs": args.gpr}


def _layout_inputs(args: argparse.Namespace, layout: Any) -> dict[str, Any]:
    """The blobs a VMM layout placed (given files or generated, e.g. the DTB), its pc and gprs."""
    files = {"kernel": args.kernel, "initrd": args.initrd, "firmware": args.firmware, "dtb": args.dtb}
    images = [
        {
            "ipa": f"{blob.gpa:#x}",
            "file": files.get(blob.label) or f"({blob.label}, generated)",
            "sha256": hashlib.sha256(blob.data).hexdigest(),
            "measured": True,
            "label": blob.label,
            "size": len(blob.data),
        }
        for blob in sorted(layout.blobs, key=lambda b: b.gpa)
    ]
    return {
        "images": images,
        "pc": f"{layout.pc:#x}",
        "gprs": [f"{i}={v:#x}" for i, v in enumerate(layout.gprs) if v],
        "vmm": layout.vmm,
        "dtb_gpa": f"{layout.dtb_gpa:#x}",
        "dtb_sha256": hashlib.sha256(layout.dtb).hexdigest(),
    }
