"""``pvmkit measure --vendor sev|sev-es|snp|sw``: predict an AMD (or software-protected) launch digest.

One digest on stdout (hex by default). With a vCPU range (``--vcpus 1-64``) one JSON record per
configuration (JSON lines), with a progress bar on stderr when it is a terminal. Defaults follow
upstream Linux ≥ 6.11 with QEMU ≥ 9.1: SNP features 0x1 (INIT2); SEV-ES legacy ``KVM_SEV_ES_INIT``
unless VMSA features are requested (then INIT2). See docs/amd.md.

Imports stay cheap on this path (no cryptography, json only for JSON output; no argparse for the
plain option forms, see :func:`_scan`).
"""

from __future__ import annotations

import os
import sys

from pvmkit.cli._common import (
    MAX_IMAGE,
    UsageErrors,
    atomic_write,
    map_file,
    parse_hex,
    parse_int,
    read_file,
    scan_options,
)
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_launch_arguments", "launch_from_args", "main", "parse_vcpus"]

VENDORS = ("sev", "sev-es", "snp", "sw")
MAX_VCPUS = 4096


def parse_vcpus(text: str) -> range:
    """``N`` or ``A-B`` (inclusive) → a range of vCPU counts."""
    a, sep, b = text.partition("-")
    try:
        lo = int(a, 0)
        hi = int(b, 0) if sep else lo
    except ValueError:
        raise InputError(f"--vcpus must be N or A-B, got {text!r}") from None
    if lo < 1 or hi < lo or hi > MAX_VCPUS:
        raise InputError(f"--vcpus {text!r}: need 1 ≤ A ≤ B ≤ {MAX_VCPUS}")
    return range(lo, hi + 1)


def add_launch_arguments(
    p: argparse.ArgumentParser,
    *,
    vendors: tuple[str, ...] = VENDORS,
    vendor_required: bool = True,
    policy: bool = True,
) -> None:
    """The options that describe an AMD launch (shared with ``pvmkit sev-launch-measure``)."""
    p.add_argument(
        "--vendor",
        choices=vendors,
        required=vendor_required,
        default=None if vendor_required else vendors[0],
        help="protected-VM technology",
    )
    p.add_argument(
        "--ovmf", "--firmware", dest="ovmf", metavar="FILE", help="OVMF image (QEMU -bios / pflash unit 0)"
    )
    p.add_argument("--vcpus", metavar="N|A-B", default="1", help="vCPUs at launch, or an inclusive range")
    cpu = p.add_argument_group("guest vCPU model (sev-es/snp/sw with the qemu profile)")
    cpu.add_argument("--vcpu-type", metavar="T", help="QEMU -cpu model, e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa")
    cpu.add_argument("--vcpu-sig", metavar="X", help="CPUID.1:EAX signature, e.g. 0x800f12")
    cpu.add_argument("--vcpu-family", metavar="F", help="family (with --vcpu-model/--vcpu-stepping)")
    cpu.add_argument("--vcpu-model", metavar="M")
    cpu.add_argument("--vcpu-stepping", metavar="S")
    p.add_argument("--vmm-type", metavar="qemu|ec2|gce", default="qemu", help="VMM profile (default qemu)")
    p.add_argument(
        "--vmsa-features",
        metavar="HEX",
        help="VMSA features given to KVM_SEV_INIT2 (0x20 or DEBUG_SWAP); snp/sw imply SNPActive",
    )
    p.add_argument(
        "--init-path",
        choices=("legacy", "init2"),
        help="KVM init path (sev/sev-es; default: legacy unless VMSA features are given); snp/sw: init2",
    )
    k = p.add_argument_group("direct kernel boot (QEMU kernel-hashes=on)")
    k.add_argument("--kernel", metavar="FILE")
    k.add_argument("--initrd", metavar="FILE")
    k.add_argument("--append", metavar="CMDLINE")
    p.add_argument(
        "--ovmf-hash", metavar="HEX", help="snp/sw: precomputed 48-byte firmware digest to resume from"
    )
    s = p.add_argument_group("Coconut SVSM (snp)")
    s.add_argument("--svsm", metavar="FILE", help="SVSM image")
    vars_group = s.add_mutually_exclusive_group()
    vars_group.add_argument("--vars-size", metavar="N", help="size of OVMF_VARS in bytes")
    vars_group.add_argument("--vars-file", metavar="FILE", help="OVMF_VARS file (its size is used)")
    if policy:
        p.add_argument("--policy", metavar="N", help="guest policy (not in the digest; recorded in the plan)")


def _vcpu_sig(args: argparse.Namespace, p: argparse.ArgumentParser, needed: bool) -> int:
    fms = (args.vcpu_family, args.vcpu_model, args.vcpu_stepping)
    chosen = [args.vcpu_type is not None, args.vcpu_sig is not None, any(x is not None for x in fms)]
    if sum(chosen) > 1:
        p.error("give only one of --vcpu-type, --vcpu-sig, --vcpu-family/--vcpu-model/--vcpu-stepping")
    if args.vcpu_type is not None:
        from pvmkit.vendors.amd.cpu import vcpu_signature

        return vcpu_signature(args.vcpu_type)
    if args.vcpu_sig is not None:
        sig = parse_int(args.vcpu_sig, "--vcpu-sig")
        if not 0 <= sig < 1 << 32:
            raise InputError(f"--vcpu-sig {args.vcpu_sig} does not fit in 32 bits")
        return sig
    if any(x is not None for x in fms):
        if any(x is None for x in fms):
            p.error("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
        from pvmkit.vendors.amd.cpu import cpu_signature

        family, model, stepping = (
            parse_int(x, n) for x, n in zip(fms, ("family", "model", "stepping"), strict=True)
        )
        return cpu_signature(family, model, stepping)
    if needed:
        p.error(
            "the qemu profile puts the vCPU signature in the VMSA: give --vcpu-type, --vcpu-sig or "
            "--vcpu-family/--vcpu-model/--vcpu-stepping"
        )
    return 0


def launch_from_args(
    args: argparse.Namespace, p: argparse.ArgumentParser, *, policy_arg: bool = True
) -> tuple[Any, range]:
    """(AmdLaunch, vCPU counts) from parsed options; usage errors via ``p.error``."""
    from pvmkit.formats.ovmf import parse_ovmf
    from pvmkit.plan import InitPath, Vendor, Vmm
    from pvmkit.vendors.amd.builder import AmdLaunch

    vendor = Vendor(args.vendor)
    if args.ovmf is None:
        p.error("--ovmf FILE is required")
    try:
        vmm = Vmm(args.vmm_type.lower())
    except ValueError:
        p.error(f"unknown VMM type {args.vmm_type!r} (qemu, ec2, gce)")
    if (args.initrd is not None or args.append is not None) and args.kernel is None:
        p.error("--initrd and --append need --kernel")
    counts = parse_vcpus(args.vcpus)
    sig = _vcpu_sig(args, p, needed=vendor.has_vmsa and vmm is Vmm.QEMU)
    features = 0
    if args.vmsa_features is not None:
        from pvmkit.features import parse_sev_features

        features = parse_sev_features(args.vmsa_features)
    seed = parse_hex(args.ovmf_hash, 48, "--ovmf-hash") if args.ovmf_hash is not None else None
    policy = None
    if policy_arg:
        policy = parse_int(args.policy, "--policy") if args.policy is not None else None
    init_path = InitPath(args.init_path) if args.init_path is not None else None
    firmware = parse_ovmf(map_file(args.ovmf, "a firmware image", MAX_IMAGE))
    hashes = None
    if args.kernel is not None:
        from pvmkit.formats.sev_hashes import hash_kernel_inputs

        kernel = map_file(args.kernel, "a kernel")
        initrd = map_file(args.initrd, "an initrd") if args.initrd is not None else None
        hashes = hash_kernel_inputs(kernel, initrd, args.append)
    svsm = None
    vars_size = 0
    if args.svsm is not None:
        svsm = parse_ovmf(map_file(args.svsm, "a firmware image", MAX_IMAGE))
        if args.vars_file is not None:
            vars_size = os.stat(args.vars_file).st_size
        elif args.vars_size is not None:
            vars_size = parse_int(args.vars_size, "--vars-size")
        else:
            p.error("--svsm needs --vars-size or --vars-file")
    elif args.vars_size is not None or args.vars_file is not None:
        p.error("--vars-size/--vars-file go with --svsm")
    launch = AmdLaunch(
        vendor,
        firmware,
        vcpus=counts[-1],
        vcpu_sig=sig,
        vmm=vmm,
        vmsa_features=features,
        init_path=init_path,
        policy=policy,
        seed=seed,
        kernel_hashes=hashes,
        svsm=svsm,
        vars_size=vars_size,
    )
    return launch, counts


def _encode(digest: bytes, fmt: str) -> str:
    if fmt == "base64":
        import base64

        return base64.b64encode(digest).decode()
    return digest.hex()


def _parser() -> argparse.ArgumentParser:
    from pvmkit.cli._common import Parser

    p = Parser("measure", "Predict the launch digest of an AMD SEV/SEV-ES/SEV-SNP (or sw) guest.")
    add_launch_arguments(p)
    p.add_argument("--output-format", choices=("hex", "base64", "json"), default="hex")
    p.add_argument("--dump-vmsa", metavar="DIR", help="write the measured VMSAs as DIR/vmsa<N>.bin")
    g = p.add_argument_group(
        "sw guest without firmware (what `pvmkit launch --vendor sw` runs; default: the bundled guest)"
    )
    g.add_argument("--binary", metavar="FILE", help="flat binary, as given to `pvmkit launch --binary`")
    g.add_argument("--load-address", metavar="GPA", default="0x10000", help="default 0x10000")
    g.add_argument("--entry", metavar="GPA", help="entry point (default: the load address)")
    g.add_argument("--mode", choices=("protected32", "real16"), default="protected32")
    return p


#: The options of :func:`_parser` (option → destination), for :func:`_scan`; tests check they agree.
_VALUE_OPTIONS = {
    **{
        f"--{name}": name.replace("-", "_")
        for name in (
            "vendor", "ovmf", "vcpus", "vcpu-type", "vcpu-sig", "vcpu-family", "vcpu-model",
            "vcpu-stepping", "vmm-type", "vmsa-features", "init-path", "kernel", "initrd", "append",
            "ovmf-hash", "svsm", "vars-size", "vars-file", "policy", "output-format", "dump-vmsa",
            "binary", "load-address", "entry", "mode",
        )
    },
    "--firmware": "ovmf",
}  # fmt: skip
_DEFAULTS: dict[str, object] = {
    **dict.fromkeys(_VALUE_OPTIONS.values()),
    "vcpus": "1",
    "vmm_type": "qemu",
    "output_format": "hex",
    "load_address": "0x10000",
    "mode": "protected32",
}
_CHOICES = {
    "vendor": VENDORS,
    "init_path": ("legacy", "init2"),
    "output_format": ("hex", "base64", "json"),
    "mode": ("protected32", "real16"),
}


class _Args:
    """What ``parse_args`` returns, for command lines :func:`_scan` read."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


def _scan(argv: list[str]) -> Any:
    """The parsed options of a plain command line (every option spelt out, valid choices, the
    vendor given), else None: then the full parser runs and handles help, errors and the rest."""
    found = scan_options(argv, _VALUE_OPTIONS, {})
    if found is None or "vendor" not in found or ("vars_size" in found and "vars_file" in found):
        return None
    for dest, choices in _CHOICES.items():
        if dest in found and found[dest] not in choices:
            return None
    return _Args({**_DEFAULTS, **found})


def main(argv: list[str]) -> int:
    args = _scan(argv)
    p: Any
    if args is None:
        p = _parser()
        args = p.parse_args(argv)
    else:
        p = UsageErrors("measure")
    if args.vendor == "sw" and args.ovmf is None:
        return _measure_sw_guest(args)
    if args.binary is not None:
        p.error("--binary is for --vendor sw without --ovmf")
    launch, counts = launch_from_args(args, p)

    if len(counts) == 1 and args.output_format != "json":
        from pvmkit.vendors.amd.measure import measure_plan

        plan = launch.plan()
        digest = measure_plan(plan)
        _dump(args.dump_vmsa, plan)
        sys.stdout.write(_encode(digest, args.output_format) + "\n")
        return 0

    import json

    from pvmkit.cli._common import Progress
    from pvmkit.vendors.amd.builder import measure_vcpu_range

    launch.check()
    init = launch.init_op()
    extra = {
        "vcpu_sig": f"{launch.vcpu_sig:#x}",
        "vmm": launch.vmm.value,
        "init_path": init.init_path.value,
        "vmsa_features": f"{launch.vmsa_features:#x}",
        "sev_features": f"{init.sev_features:#x}" if launch.vendor.has_vmsa else None,
    }
    progress = Progress(len(counts), "measure")
    try:
        results = measure_vcpu_range(launch, counts, progress=lambda n: progress.step())
    finally:
        progress.close()
    fmt = "hex" if args.output_format == "json" else args.output_format
    vendor = launch.vendor.value
    sys.stdout.write(
        "".join(
            json.dumps({"vendor": vendor, "vcpus": n, "digest": _encode(digest, fmt), **extra}) + "\n"
            for n, digest in results
        )
    )
    if args.dump_vmsa is not None:
        _dump(args.dump_vmsa, launch.with_vcpus(counts[-1]).plan())
    return 0


def _measure_sw_guest(args: argparse.Namespace) -> int:
    """Predict a sw VM running a flat binary (or the bundled guest): the same plan `pvmkit launch`
    builds, so the digest equals the MEASUREMENT in that VM's report. The nonce and host data are
    not measured (the shared page's address is, its contents are not)."""
    from pvmkit.features import parse_sev_features
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.sw.builder import bundled_guest_plan, flat_binary_plan

    counts = parse_vcpus(args.vcpus)
    if len(counts) != 1:
        raise InputError("a sw guest is measured for one --vcpus count at a time")
    features = parse_sev_features(args.vmsa_features) if args.vmsa_features else 0
    policy = parse_int(args.policy, "--policy") if args.policy is not None else None
    extra: dict[str, Any] = {} if policy is None else {"policy": policy}
    if args.binary is None:
        guest = bundled_guest_plan(vmsa_features=features, vcpus=counts[0], **extra)
    else:
        load = parse_int(args.load_address, "--load-address")
        guest = flat_binary_plan(
            read_file(args.binary, "a guest binary", MAX_IMAGE),
            load_address=load,
            entry=parse_int(args.entry, "--entry") if args.entry else None,
            mode=args.mode,
            vcpus=counts[0],
            vmsa_features=features,
            **extra,
        )
    digest = measure_plan(guest.plan)
    _dump(args.dump_vmsa, guest.plan)
    if args.output_format == "json":
        import json

        guest_name = args.binary or "bundled"
        record = {"vendor": "sw", "vcpus": counts[0], "digest": digest.hex(), "guest": guest_name}
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        sys.stdout.write(_encode(digest, args.output_format) + "\n")
    return 0


def _dump(directory: str | None, plan: Any) -> None:
    if directory is None:
        return
    if not os.path.isdir(directory):
        raise InputError(f"--dump-vmsa: {directory!r} is not a directory")
    for op in plan.vcpus:
        if op.state:
            atomic_write(os.path.join(directory, f"vmsa{op.index}.bin"), op.state)
