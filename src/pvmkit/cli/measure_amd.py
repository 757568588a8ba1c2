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
    UsageError,
    atomic_write,
    map_file,
    parse_digest,
    parse_features,
    parse_int,
    parse_vcpu_type,
    read_file,
)
from pvmkit.cli._options import (
    AMD_GROUPS,
    AMD_VENDORS,
    Opt,
    OptionTable,
    amd_launch_rows,
    output_format,
    output_rows,
)
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["TABLE", "build_parser", "launch_from_args", "main", "parse_vcpus"]

VENDORS = AMD_VENDORS
#: KVM's default KVM_MAX_VCPUS on x86 (arch/x86/include/asm/kvm_host.h, CONFIG_KVM_MAX_NR_VCPUS).
MAX_VCPUS = 4096


def parse_vcpus(text: str) -> range:
    """``N`` or ``A-B`` (inclusive) → a range of vCPU counts; UsageError outside 1..MAX_VCPUS."""
    a, sep, b = text.partition("-")
    try:
        lo = int(a, 0)
        hi = int(b, 0) if sep else lo
    except ValueError:
        raise UsageError(f"--vcpus must be N or A-B, got {text!r}") from None
    if lo < 1 or hi < lo or hi > MAX_VCPUS:
        raise UsageError(f"--vcpus {text!r}: need 1 ≤ A ≤ B ≤ {MAX_VCPUS}")
    return range(lo, hi + 1)


SW_GROUP = "sw guest without firmware (what `pvmkit launch --vendor sw` runs; default: the bundled guest)"
TABLE = OptionTable(
    "measure",
    "Predict the launch digest of an AMD SEV/SEV-ES/SEV-SNP (or sw) guest.",
    [
        *amd_launch_rows(digests=True),
        *output_rows(("hex", "base64", "json"), "hex"),
        Opt(
            "--dump-vmsa", metavar="DIR", help="write the measured VMSAs as DIR/vmsa<N>.bin (DIR must exist)"
        ),
        Opt(
            "--binary",
            metavar="FILE",
            group=SW_GROUP,
            help="flat binary, as `pvmkit launch --binary` loads it",
        ),
        Opt("--load-address", metavar="GPA", default="0x10000", group=SW_GROUP, help="4 KiB aligned GPA"),
        Opt("--entry", metavar="GPA", group=SW_GROUP, help="entry point (default: the load address)"),
        Opt(
            "--mode",
            choices=("protected32", "real16"),
            default="protected32",
            group=SW_GROUP,
            help="CPU mode",
        ),
    ],
    {**AMD_GROUPS, SW_GROUP: ""},
)


def build_parser() -> argparse.ArgumentParser:
    return TABLE.parser()


def _vcpu_sig(args: argparse.Namespace, p: Any, needed: bool) -> int:
    fms = (args.vcpu_family, args.vcpu_model, args.vcpu_stepping)
    chosen = [args.vcpu_type is not None, args.vcpu_sig is not None, any(x is not None for x in fms)]
    if sum(chosen) > 1:
        p.error("give only one of --vcpu-type, --vcpu-sig, --vcpu-family/--vcpu-model/--vcpu-stepping")
    if args.vcpu_type is not None:
        return parse_vcpu_type(args.vcpu_type)
    if args.vcpu_sig is not None:
        return parse_int(args.vcpu_sig, "--vcpu-sig", 0, 0xFFFFFFFF)
    if any(x is not None for x in fms):
        if any(x is None for x in fms):
            p.error("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
        from pvmkit.vendors.amd.cpu import cpu_signature

        # ranges of the AMD CPUID specification 25481, Fn0000_0001_EAX
        family = parse_int(args.vcpu_family, "--vcpu-family", 0, 0xF + 0xFF)
        model = parse_int(args.vcpu_model, "--vcpu-model", 0, 0xFF)
        stepping = parse_int(args.vcpu_stepping, "--vcpu-stepping", 0, 0xF)
        return cpu_signature(family, model, stepping)
    if needed:
        p.error(
            "the qemu profile puts the vCPU signature in the VMSA: give --vcpu-type, --vcpu-sig or "
            "--vcpu-family/--vcpu-model/--vcpu-stepping"
        )
    return 0


def launch_from_args(args: argparse.Namespace, p: Any, *, policy_arg: bool = True) -> tuple[Any, range]:
    """(AmdLaunch, vCPU counts) from parsed options; usage errors via ``p.error``."""
    from pvmkit.plan import InitPath, Vendor, Vmm
    from pvmkit.vendors.amd.builder import AmdLaunch

    vendor = Vendor(args.vendor)
    _check_inputs(args, p)
    try:
        vmm = Vmm(args.vmm_type.lower())
    except ValueError:
        p.error(f"unknown VMM type {args.vmm_type!r} (qemu, ec2, gce)")
    counts = parse_vcpus(args.vcpus)
    sig = _vcpu_sig(args, p, needed=vendor.has_vmsa and vmm is Vmm.QEMU)
    features = 0
    if args.vmsa_features is not None:
        features = parse_features(args.vmsa_features)
    seed = parse_digest(args.ovmf_hash, 48, "--ovmf-hash") if args.ovmf_hash is not None else None
    policy = None
    if policy_arg and args.policy is not None:
        policy = parse_int(args.policy, "--policy", 0, (1 << (64 if vendor.snp_like else 32)) - 1)
    init_path = InitPath(args.init_path) if args.init_path is not None else None
    firmware, seed = _firmware(args, p, vendor, seed)
    kernel_sha256, initrd_sha256 = getattr(args, "kernel_sha256", None), getattr(args, "initrd_sha256", None)
    hashes = None
    if args.kernel is not None or kernel_sha256 is not None:
        hashes = _kernel_hashes(args, kernel_sha256, initrd_sha256)
    svsm, vars_size = _svsm(args, p)
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


def _check_inputs(args: argparse.Namespace, p: Any) -> None:
    """Each input given once, as a file or as its digest; direct-boot inputs only with a kernel."""
    description = getattr(args, "ovmf_description", None)
    if args.firmware is None and description is None:
        p.error("--firmware FILE is required")
    if args.firmware is not None and description is not None:
        p.error("give --firmware or --ovmf-description, not both")
    kernel_sha256, initrd_sha256 = getattr(args, "kernel_sha256", None), getattr(args, "initrd_sha256", None)
    if args.kernel is not None and kernel_sha256 is not None:
        p.error("give --kernel or --kernel-sha256, not both")
    if args.initrd is not None and initrd_sha256 is not None:
        p.error("give --initrd or --initrd-sha256, not both")
    has_kernel = args.kernel is not None or kernel_sha256 is not None
    if (args.initrd is not None or initrd_sha256 is not None or args.cmdline is not None) and not has_kernel:
        p.error("--initrd and --cmdline need --kernel")


def _firmware(args: argparse.Namespace, p: Any, vendor: Any, seed: bytes | None) -> tuple[Any, bytes | None]:
    """(parsed firmware, hash seed): from the image, or from an ``--ovmf-description`` (snp/sw)."""
    from pvmkit.formats.ovmf import parse_ovmf

    description = getattr(args, "ovmf_description", None)
    if description is None:
        return parse_ovmf(map_file(args.firmware, "a firmware image", MAX_IMAGE)), seed
    if not vendor.snp_like:
        raise InputError(
            f"--ovmf-description: a {vendor.value} launch digest hashes the whole firmware image; "
            "give --firmware FILE (only snp and sw resume from the description's hash seed)"
        )
    if seed is not None:
        p.error("--ovmf-description carries the firmware digest: leave out --ovmf-hash")
    import json

    from pvmkit.formats.ovmf_description import read_description

    try:
        doc = json.loads(read_file(description, "a firmware description"))
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise InputError(f"--ovmf-description {description}: not JSON") from None
    firmware, description_seed = read_description(doc, f"--ovmf-description {description}")
    return firmware, description_seed


def _svsm(args: argparse.Namespace, p: Any) -> tuple[Any, int]:
    """(SVSM image or None, OVMF_VARS size) for a Coconut SVSM launch."""
    from pvmkit.formats.ovmf import parse_ovmf

    if args.svsm is None:
        if args.vars_size is not None or args.vars_file is not None:
            p.error("--vars-size/--vars-file go with --svsm")
        return None, 0
    svsm = parse_ovmf(map_file(args.svsm, "a firmware image", MAX_IMAGE))
    if args.vars_file is not None:
        return svsm, os.stat(args.vars_file).st_size
    if args.vars_size is not None:
        return svsm, parse_int(args.vars_size, "--vars-size", 0, 0xFFFFFFFF)
    p.error("--svsm needs --vars-size or --vars-file")
    return None, 0  # pragma: no cover - p.error exits


def _kernel_hashes(args: argparse.Namespace, kernel_sha256: str | None, initrd_sha256: str | None) -> Any:
    """The kernel hashes table's three SHA-256s, from the files or given as digests."""
    from pvmkit.formats.sev_hashes import SevHashes, hash_kernel_inputs

    kernel = map_file(args.kernel, "a kernel") if args.kernel is not None else b""
    initrd = map_file(args.initrd, "an initrd") if args.initrd is not None else None
    hashes = hash_kernel_inputs(kernel, initrd, args.cmdline)
    return SevHashes(
        cmdline=hashes.cmdline,
        initrd=parse_digest(initrd_sha256, 32, "--initrd-sha256") if initrd_sha256 else hashes.initrd,
        kernel=parse_digest(kernel_sha256, 32, "--kernel-sha256") if kernel_sha256 else hashes.kernel,
    )


def _encode(digest: bytes, fmt: str) -> str:
    if fmt == "base64":
        import base64

        return base64.b64encode(digest).decode()
    return digest.hex()


def main(argv: list[str]) -> int:
    args, p = TABLE.parse(argv)
    args.output_format = output_format(args, "hex", p.error)
    if args.vendor == "sw" and args.firmware is None:
        return _measure_sw_guest(args)
    if args.binary is not None:
        p.error("--binary is for --vendor sw without --firmware")
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
    inputs = _inputs(args, launch)
    progress = Progress(len(counts), "measure")
    try:
        results = measure_vcpu_range(launch, counts, progress=lambda n: progress.step())
    finally:
        progress.close()
    # the VMSA files first: a write that fails must leave no records on stdout (exit 1, nothing half-done)
    if args.dump_vmsa is not None:
        _dump(args.dump_vmsa, launch.with_vcpus(counts[-1]).plan())
    fmt = "hex" if args.output_format == "json" else args.output_format
    head = {"schema": "pvmkit.measure-amd/1", "vendor": launch.vendor.value}
    sys.stdout.write(
        "".join(
            json.dumps({**head, "vcpus": n, "digest": _encode(digest, fmt), **inputs}) + "\n"
            for n, digest in results
        )
    )
    return 0


def _sha256(path: str | None) -> str | None:
    """SHA-256 of an input file, for the record (None when the input was not given)."""
    if path is None:
        return None
    import hashlib

    return hashlib.sha256(map_file(path)).hexdigest()


def _given_or_file(args: argparse.Namespace, name: str) -> str | None:
    """--NAME-sha256 as given (lowercase), else the SHA-256 of --NAME's file, else None."""
    given = getattr(args, f"{name}_sha256", None)
    return parse_digest(given, 32, f"--{name}-sha256").hex() if given else _sha256(getattr(args, name))


def _inputs(args: argparse.Namespace, launch: Any) -> dict[str, object]:
    """What the measurement was computed from (docs/cli.md, JSON record): enough to reproduce it."""
    import hashlib

    init = launch.init_op()
    cmdline = args.cmdline
    return {
        "vcpu_type": args.vcpu_type,
        "vcpu_sig": f"{launch.vcpu_sig:#x}",
        "vmm": launch.vmm.value,
        "init_path": init.init_path.value,
        "vmsa_features": f"{launch.vmsa_features:#x}",
        "sev_features": f"{init.sev_features:#x}" if launch.vendor.has_vmsa else None,
        "policy": f"{init.policy:#x}",
        "firmware_sha256": _sha256(args.firmware),
        "ovmf_hash": launch.seed.hex() if launch.seed is not None else None,
        "kernel_sha256": _given_or_file(args, "kernel"),
        "initrd_sha256": _given_or_file(args, "initrd"),
        "cmdline_sha256": None if cmdline is None else hashlib.sha256(cmdline.encode()).hexdigest(),
        "svsm_sha256": _sha256(args.svsm),
        "vars_size": launch.vars_size if args.svsm is not None else None,
    }


def _measure_sw_guest(args: argparse.Namespace) -> int:
    """Predict a sw VM running a flat binary (or the bundled guest): the same plan `pvmkit launch`
    builds, so the digest equals the MEASUREMENT in that VM's report. The nonce and host data are
    not measured (the shared page's address is, its contents are not)."""
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.sw.builder import bundled_guest_plan, flat_binary_plan

    counts = parse_vcpus(args.vcpus)
    if len(counts) != 1:
        raise UsageError("a sw guest is measured for one --vcpus count at a time")
    features = parse_features(args.vmsa_features) if args.vmsa_features else 0
    policy = parse_int(args.policy, "--policy", 0, (1 << 64) - 1) if args.policy is not None else None
    extra: dict[str, Any] = {} if policy is None else {"policy": policy}
    load = entry = None
    if args.binary is None:
        guest = bundled_guest_plan(vmsa_features=features, vcpus=counts[0], **extra)
    else:
        load = parse_int(args.load_address, "--load-address", 0, 0xFFFFFFFF)
        entry = parse_int(args.entry, "--entry", 0, 0xFFFFFFFF) if args.entry else None
        guest = flat_binary_plan(
            read_file(args.binary, "a guest binary", MAX_IMAGE),
            load_address=load,
            entry=entry,
            mode=args.mode,
            vcpus=counts[0],
            vmsa_features=features,
            **extra,
        )
    digest = measure_plan(guest.plan)
    _dump(args.dump_vmsa, guest.plan)
    if args.output_format == "json":
        import json

        init = guest.plan.init
        record = {
            "schema": "pvmkit.measure-sw/1",
            "vendor": "sw",
            "vcpus": counts[0],
            "digest": digest.hex(),
            "guest": args.binary or "bundled",
            "guest_sha256": _sha256(args.binary),
            "load_address": None if load is None else f"{load:#x}",
            "entry": None if args.binary is None else f"{load if entry is None else entry:#x}",
            "mode": None if args.binary is None else args.mode,
            "vmsa_features": f"{features:#x}",
            "sev_features": f"{init.sev_features:#x}",
            "policy": f"{init.policy:#x}",
        }
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
