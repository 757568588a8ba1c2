"""``pvmkit sev-snp-measure ARGS...``: a drop-in for the ``sev-snp-measure`` 0.0.13 command line.

Same flags, same output (``--output-format hex|base64``, ``-v`` prefix, ``--dump-vmsa`` writing
``vmsa<N>.bin`` into the current directory, ``--version``), same modelling, including the peer's
documented quirks (spec amd.md §9), which ``pvmkit measure`` models correctly instead:

* ``--mode seves`` ignores ``--guest-features`` (SEV_FEATURES 0) and always writes the INIT2 FPU
  values (MXCSR 0x1F80, FCW 0x37F): right only for INIT2 SEV-ES without DebugSwap, not for QEMU ≥ 9.1's
  default legacy init (use ``pvmkit measure --vendor sev-es``).
* ``--guest-features`` is written verbatim into SNP VMSAs (even without SNPActive).
* ``--mode snp:svsm`` writes SEV_FEATURES 1 and x87 FCW 0 (the hardware-derived vectors need it).
* ``--vcpu-sig 0`` / ``--vcpu-family 0`` are ignored (zero is "not given"), as in 0.0.13.
* ``--snp-ovmf-hash`` output is always hex for ``--mode snp:ovmf-hash``.

Errors are one line on stderr with a non-zero exit code (the peer raises tracebacks for some).
"""

from __future__ import annotations

import os
import sys

from pvmkit.cli._common import MAX_IMAGE, UsageError, atomic_write, map_file
from pvmkit.cli._options import Opt, OptionTable
from pvmkit.errors import InputError
from pvmkit.vendors.amd.cpu import CPU_TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

__all__ = ["PEER_VERSION", "TABLE", "build_parser", "main"]

PEER_VERSION = "0.0.13"
_MODES = ("sev", "seves", "snp", "snp:ovmf-hash", "snp:svsm")
_MODE_NAMES = {"sev": "SEV", "seves": "SEV_ES", "snp": "SEV_SNP", "snp:svsm": "SEV_SNP_SVSM"}
_VMM_TYPES = ("QEMU", "ec2", "gce")
_CPU_TYPES = tuple(CPU_TYPES)


def _ranged(what: str, lo: int, hi: int, base: int = 10) -> Callable[[str], int]:
    """An option conversion: an integer (in ``base``; 0 = any Python notation) within lo..hi, else
    a usage error naming the option (ValueError for text that is not an integer)."""

    def convert(text: str) -> int:
        value = int(text, base)
        if not lo <= value <= hi:
            raise UsageError(f"{what} {text} is outside {lo}..{hi:#x}")
        return value

    convert.__name__ = "integer"  # argparse names the type in "invalid integer value: ..."
    return convert


_SVSM = "snp:svsm Mode"
TABLE = OptionTable(
    "sev-snp-measure",
    "Calculate AMD SEV/SEV-ES/SEV-SNP guest launch measurement",
    [
        Opt("-v", "--verbose", flag=True, help="Print the measurement with a descriptive prefix"),
        Opt("--mode", choices=_MODES, required=True, help="Guest mode"),
        Opt(
            "--vcpus", metavar="N", convert=_ranged("--vcpus", 1, 4096), help="Number of guest vcpus (1-4096)"
        ),
        Opt(
            "--vcpu-type",
            metavar="CPUTYPE",
            choices=_CPU_TYPES,
            help=f"Type of guest vcpu ({', '.join(_CPU_TYPES)})",
        ),
        Opt(
            "--vcpu-sig",
            metavar="VALUE",
            convert=_ranged("--vcpu-sig", 0, 0xFFFFFFFF, 0),
            help="Guest vcpu signature value",
        ),
        Opt(
            "--vcpu-family",
            metavar="FAMILY",
            convert=_ranged("--vcpu-family", 0, 0xF + 0xFF),
            help="Guest vcpu family",
        ),
        Opt(
            "--vcpu-model", metavar="MODEL", convert=_ranged("--vcpu-model", 0, 0xFF), help="Guest vcpu model"
        ),
        Opt(
            "--vcpu-stepping",
            metavar="STEPPING",
            convert=_ranged("--vcpu-stepping", 0, 0xF),
            help="Guest vcpu stepping",
        ),
        Opt(
            "--vmm-type",
            metavar="VMMTYPE",
            default="QEMU",
            help=f"Type of guest vmm ({', '.join(_VMM_TYPES)})",
        ),
        Opt("--ovmf", metavar="PATH", required=True, help="OVMF file to calculate hash from"),
        Opt("--kernel", metavar="PATH", help="Kernel file to calculate hash from"),
        Opt("--initrd", metavar="PATH", help="Initrd file to calculate hash from (use with --kernel)"),
        Opt(
            "--append",
            metavar="CMDLINE",
            help="Kernel command line to calculate hash from (use with --kernel)",
        ),
        Opt(
            "--guest-features",
            metavar="VALUE",
            convert=_ranged("--guest-features", 0, (1 << 64) - 1, 0),
            default=0x1,
            help="Hex representation of the guest kernel features expected to be included (defaults to 0x1)",
        ),
        Opt("--output-format", choices=("hex", "base64"), default="hex", help="Measurement output format"),
        Opt(
            "--json",
            flag=True,
            help="pvmkit's addition: print a JSON document (schema pvmkit.sev-snp-measure/1) instead",
        ),
        Opt("--snp-ovmf-hash", metavar="HASH", help="Precalculated hash of the OVMF binary (hex string)"),
        Opt(
            "--dump-vmsa",
            flag=True,
            help="Write measured VMSAs to vmsa<N>.bin (seves, snp, and snp:svsm modes only)",
        ),
        Opt("--svsm", metavar="PATH", group=_SVSM, help="SVSM binary"),
        Opt(
            "--vars-size",
            metavar="SIZE",
            convert=_ranged("--vars-size", 0, 0xFFFFFFFF),
            group=_SVSM,
            exclusive="vars",
            help="Size of the OVMF_VARS file in bytes",
        ),
        Opt("--vars-file", metavar="PATH", group=_SVSM, exclusive="vars", help="OVMF_VARS file"),
    ],
    {_SVSM: "AMD SEV-SNP with Coconut-SVSM: needs --svsm and --vars-file or --vars-size."},
)


def build_parser() -> argparse.ArgumentParser:
    p = TABLE.parser()
    p.add_argument("--version", action="version", version=f"sev-snp-measure {PEER_VERSION}")
    return p


def main(argv: list[str]) -> int:
    args, p = TABLE.parse(argv, build_parser)
    from pvmkit.formats.ovmf import parse_ovmf

    if args.mode == "snp:ovmf-hash":
        from pvmkit.vendors.amd.builder import snp_firmware_digest

        firmware = parse_ovmf(map_file(args.ovmf, "a firmware image", MAX_IMAGE))
        digest = snp_firmware_digest(firmware)
        sys.stdout.write((_json(args, digest) if args.json else digest.hex()) + "\n")
        return 0
    _check(args, p)
    from pvmkit.plan import Vmm

    vmm = Vmm(args.vmm_type.lower())
    sig = _signature(args, p, vmm)
    vars_size = _vars_size(args, p)
    _check_late(args, p)
    firmware = parse_ovmf(map_file(args.ovmf, "a firmware image", MAX_IMAGE))
    hashes = None
    if args.kernel and args.mode != "snp:svsm":
        from pvmkit.formats.sev_hashes import hash_kernel_inputs

        initrd = map_file(args.initrd, "an initrd") if args.initrd else None
        hashes = hash_kernel_inputs(map_file(args.kernel, "a kernel"), initrd, args.append or None)
    launch = _launch(args, firmware, hashes, sig, vmm, vars_size)

    from pvmkit.vendors.amd.measure import measure_plan

    plan = launch.plan()
    digest = measure_plan(plan)
    if args.dump_vmsa:
        for op in plan.vcpus:
            atomic_write(os.path.join(os.getcwd(), f"vmsa{op.index}.bin"), op.state)
    if args.json:
        sys.stdout.write(_json(args, digest) + "\n")
        return 0
    if args.output_format == "base64":
        import base64

        text = base64.b64encode(digest).decode()
    else:
        text = digest.hex()
    if args.verbose:
        text = f"Calculated {_MODE_NAMES[args.mode]} guest measurement: {text}"
    sys.stdout.write(text + "\n")
    return 0


def _check(args: Any, p: Any) -> None:
    """The peer's first option checks, with its messages (usage errors, exit 2)."""
    if args.initrd and args.kernel is None:
        p.error("--kernel required when using --initrd")
    if args.append and args.kernel is None:
        p.error("--kernel required when using --append")
    if args.mode != "sev" and args.vcpus is None:
        p.error(f"missing --vcpus N in guest mode '{args.mode}'")
    if args.vmm_type not in _VMM_TYPES:
        p.error(f"unknown VMM type '{args.vmm_type}'")


def _check_late(args: Any, p: Any) -> None:
    """The peer's checks after the vCPU signature and OVMF_VARS size, in its order."""
    if args.dump_vmsa and args.mode == "sev":
        p.error("--dump-vmsa is not availibe in the selected mode")
    if args.snp_ovmf_hash and args.mode != "snp":
        raise InputError("SNP OVMF hash only works with SNP")


def _signature(args: Any, p: Any, vmm: Any) -> int:
    """The vCPU signature, with the peer's truthiness tests: a zero family or signature counts as
    "not given"."""
    from pvmkit.plan import Vmm
    from pvmkit.vendors.amd.cpu import cpu_signature, vcpu_signature

    if args.mode == "sev":
        return 0
    if args.vcpu_family:
        return cpu_signature(args.vcpu_family, args.vcpu_model or 0, args.vcpu_stepping or 0)
    if args.vcpu_sig:
        return int(args.vcpu_sig)
    if args.vcpu_type:
        return vcpu_signature(args.vcpu_type)
    if vmm is Vmm.QEMU:
        p.error(f"missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{args.mode}'")
    return 0


def _vars_size(args: Any, p: Any) -> int:
    if args.mode != "snp:svsm":
        return 0
    if args.vars_file:
        return os.stat(args.vars_file).st_size
    if args.vars_size:
        return int(args.vars_size)
    p.error("snp:svsm mode requires --vars-size or --vars-file")
    return 0  # pragma: no cover - p.error exits


def _launch(args: Any, firmware: Any, hashes: Any, sig: int, vmm: Any, vars_size: int) -> Any:
    """The AmdLaunch of the peer's mode, with its modelling choices (module docstring)."""
    from pvmkit.features import KNOWN_SEV_FEATURES
    from pvmkit.plan import InitPath, Vendor, Vmm
    from pvmkit.vendors.amd.builder import AmdLaunch

    if args.mode == "sev":
        return AmdLaunch(Vendor.SEV, firmware, kernel_hashes=hashes, strict=False)
    shape = {"vcpus": args.vcpus, "vcpu_sig": sig, "strict": False}
    if args.mode == "seves":
        return AmdLaunch(
            Vendor.SEV_ES, firmware, vmm=vmm, init_path=InitPath.INIT2, kernel_hashes=hashes, **shape
        )
    if args.mode == "snp":
        seed = None
        if args.snp_ovmf_hash:
            from pvmkit.cli._common import parse_hex

            # exit 1 as the peer does here (a drop-in keeps its peer's exit codes; docs/cli.md)
            seed = parse_hex(args.snp_ovmf_hash, 48, "--snp-ovmf-hash", option=False)
        gf = args.guest_features
        features = {"vmsa_features": gf & KNOWN_SEV_FEATURES, "vmsa_sev_features": gf}
        return AmdLaunch(Vendor.SNP, firmware, vmm=vmm, seed=seed, kernel_hashes=hashes, **features, **shape)
    # snp:svsm
    if vmm is not Vmm.QEMU:
        raise InputError("SVSM mode is only implemented for QEMU")
    if not args.svsm:
        raise InputError("snp:svsm mode requires --svsm")
    from pvmkit.formats.ovmf import parse_ovmf

    svsm = parse_ovmf(map_file(args.svsm, "a firmware image", MAX_IMAGE))
    return AmdLaunch(
        Vendor.SNP, firmware, svsm=svsm, vars_size=vars_size, vmsa_sev_features=0x1, svsm_x87_fcw=0, **shape
    )


def _json(args: Any, digest: bytes) -> str:
    """The ``--json`` document (pvmkit's addition to the peer's interface; docs/cli.md)."""
    import json

    return json.dumps({"schema": "pvmkit.sev-snp-measure/1", "mode": args.mode, "digest": digest.hex()})
