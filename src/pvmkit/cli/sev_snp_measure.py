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

from pvmkit.cli._common import MAX_IMAGE, UsageErrors, atomic_write, map_file, scan_options
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

__all__ = ["PEER_VERSION", "main"]

PEER_VERSION = "0.0.13"
_MODES = ("sev", "seves", "snp", "snp:ovmf-hash", "snp:svsm")
_MODE_NAMES = {"sev": "SEV", "seves": "SEV_ES", "snp": "SEV_SNP", "snp:svsm": "SEV_SNP_SVSM"}
_VMM_TYPES = ("QEMU", "ec2", "gce")


def _auto_int(text: str) -> int:
    return int(text, 0)


def _parser() -> argparse.ArgumentParser:
    from pvmkit.cli._common import Parser
    from pvmkit.vendors.amd.cpu import CPU_TYPES

    p = Parser("sev-snp-measure", "Calculate AMD SEV/SEV-ES/SEV-SNP guest launch measurement")
    p.add_argument("--version", action="version", version=f"sev-snp-measure {PEER_VERSION}")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--mode", choices=_MODES, required=True, help="Guest mode")
    p.add_argument("--vcpus", metavar="N", type=int, default=None, help="Number of guest vcpus")
    p.add_argument(
        "--vcpu-type",
        metavar="CPUTYPE",
        choices=list(CPU_TYPES),
        default=None,
        help=f"Type of guest vcpu ({', '.join(CPU_TYPES)})",
    )
    p.add_argument(
        "--vcpu-sig", metavar="VALUE", type=_auto_int, default=None, help="Guest vcpu signature value"
    )
    p.add_argument("--vcpu-family", metavar="FAMILY", type=int, default=None, help="Guest vcpu family")
    p.add_argument("--vcpu-model", metavar="MODEL", type=int, default=None, help="Guest vcpu model")
    p.add_argument("--vcpu-stepping", metavar="STEPPING", type=int, default=None, help="Guest vcpu stepping")
    p.add_argument(
        "--vmm-type",
        metavar="VMMTYPE",
        type=str,
        default="QEMU",
        help=f"Type of guest vmm ({', '.join(_VMM_TYPES)})",
    )
    p.add_argument("--ovmf", metavar="PATH", required=True, help="OVMF file to calculate hash from")
    p.add_argument("--kernel", metavar="PATH", help="Kernel file to calculate hash from")
    p.add_argument("--initrd", metavar="PATH", help="Initrd file to calculate hash from (use with --kernel)")
    p.add_argument(
        "--append", metavar="CMDLINE", help="Kernel command line to calculate hash from (use with --kernel)"
    )
    p.add_argument(
        "--guest-features",
        metavar="VALUE",
        type=_auto_int,
        default=0x1,
        help="Hex representation of the guest kernel features expected to be included (defaults to 0x1)",
    )
    p.add_argument(
        "--output-format", choices=["hex", "base64"], default="hex", help="Measurement output format"
    )
    p.add_argument(
        "--snp-ovmf-hash", metavar="HASH", help="Precalculated hash of the OVMF binary (hex string)"
    )
    p.add_argument(
        "--dump-vmsa",
        action="store_true",
        help="Write measured VMSAs to vmsa<N>.bin (seves, snp, and snp:svsm modes only)",
    )
    g = p.add_argument_group(
        "snp:svsm Mode", "AMD SEV-SNP with Coconut-SVSM: needs --svsm and --vars-file or --vars-size."
    )
    g.add_argument("--svsm", type=str, metavar="PATH", help="SVSM binary")
    vars_group = g.add_mutually_exclusive_group(required=False)
    vars_group.add_argument(
        "--vars-size", type=int, metavar="SIZE", help="Size of the OVMF_VARS file in bytes"
    )
    vars_group.add_argument("--vars-file", type=str, metavar="PATH", help="OVMF_VARS file")
    return p


#: The options of :func:`_parser` (option → (destination, type)), for :func:`_scan`; tests check
#: they agree with the parser.
_VALUE_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--mode": ("mode", str),
    "--vcpus": ("vcpus", int),
    "--vcpu-type": ("vcpu_type", str),
    "--vcpu-sig": ("vcpu_sig", _auto_int),
    "--vcpu-family": ("vcpu_family", int),
    "--vcpu-model": ("vcpu_model", int),
    "--vcpu-stepping": ("vcpu_stepping", int),
    "--vmm-type": ("vmm_type", str),
    "--ovmf": ("ovmf", str),
    "--kernel": ("kernel", str),
    "--initrd": ("initrd", str),
    "--append": ("append", str),
    "--guest-features": ("guest_features", _auto_int),
    "--output-format": ("output_format", str),
    "--snp-ovmf-hash": ("snp_ovmf_hash", str),
    "--svsm": ("svsm", str),
    "--vars-size": ("vars_size", int),
    "--vars-file": ("vars_file", str),
}
_FLAGS = {"-v": "verbose", "--verbose": "verbose", "--dump-vmsa": "dump_vmsa"}
_DEFAULTS: dict[str, object] = {
    **dict.fromkeys(dest for dest, _type in _VALUE_OPTIONS.values()),
    **dict.fromkeys(_FLAGS.values(), False),
    "vmm_type": "QEMU",
    "guest_features": 0x1,
    "output_format": "hex",
}


class _Args:
    """What ``parse_args`` returns, for command lines :func:`_scan` read."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


def _scan(argv: list[str]) -> Any:
    """The parsed options of a plain command line (every option spelt out, valid values, --mode
    and --ovmf given), else None: then the full parser runs and handles help, --version, errors
    and the rest."""
    found = scan_options(argv, {opt: dest for opt, (dest, _type) in _VALUE_OPTIONS.items()}, _FLAGS)
    if found is None or "mode" not in found or "ovmf" not in found:
        return None
    if "vars_size" in found and "vars_file" in found:
        return None
    if found["mode"] not in _MODES or found.get("output_format", "hex") not in ("hex", "base64"):
        return None
    if "vcpu_type" in found:
        from pvmkit.vendors.amd.cpu import CPU_TYPES

        if found["vcpu_type"] not in CPU_TYPES:
            return None
    for dest, convert in _VALUE_OPTIONS.values():
        if convert is not str and dest in found:
            try:
                found[dest] = convert(str(found[dest]))
            except ValueError:
                return None
    return _Args({**_DEFAULTS, **found})


def main(argv: list[str]) -> int:
    args = _scan(argv)
    p: Any
    if args is None:
        p = _parser()
        args = p.parse_args(argv)
    else:
        p = UsageErrors("sev-snp-measure")

    from pvmkit.formats.ovmf import parse_ovmf

    if args.mode == "snp:ovmf-hash":
        from pvmkit.vendors.amd.builder import snp_firmware_digest

        firmware = parse_ovmf(map_file(args.ovmf, "a firmware image", MAX_IMAGE))
        sys.stdout.write(snp_firmware_digest(firmware).hex() + "\n")
        return 0

    if args.initrd and args.kernel is None:
        p.error("--kernel required when using --initrd")
    if args.append and args.kernel is None:
        p.error("--kernel required when using --append")
    if args.mode != "sev" and args.vcpus is None:
        p.error(f"missing --vcpus N in guest mode '{args.mode}'")
    if args.vmm_type not in _VMM_TYPES:
        p.error(f"unknown VMM type '{args.vmm_type}'")

    from pvmkit.features import KNOWN_SEV_FEATURES
    from pvmkit.plan import InitPath, Vendor, Vmm
    from pvmkit.vendors.amd.builder import AmdLaunch
    from pvmkit.vendors.amd.cpu import cpu_signature, vcpu_signature

    vmm = Vmm(args.vmm_type.lower())
    # the peer's truthiness tests: a zero family or signature counts as "not given"
    sig = 0
    if args.mode != "sev":
        if args.vcpu_family:
            sig = cpu_signature(args.vcpu_family, args.vcpu_model or 0, args.vcpu_stepping or 0)
        elif args.vcpu_sig:
            sig = args.vcpu_sig
        elif args.vcpu_type:
            sig = vcpu_signature(args.vcpu_type)
        elif vmm is Vmm.QEMU:
            p.error(f"missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{args.mode}'")

    vars_size = 0
    if args.mode == "snp:svsm":
        if args.vars_file:
            vars_size = os.stat(args.vars_file).st_size
        elif args.vars_size:
            vars_size = args.vars_size
        else:
            p.error("snp:svsm mode requires --vars-size or --vars-file")
    if args.dump_vmsa and args.mode == "sev":
        p.error("--dump-vmsa is not availibe in the selected mode")
    if args.snp_ovmf_hash and args.mode != "snp":
        raise InputError("SNP OVMF hash only works with SNP")

    firmware = parse_ovmf(map_file(args.ovmf, "a firmware image", MAX_IMAGE))
    hashes = None
    if args.kernel and args.mode != "snp:svsm":
        from pvmkit.formats.sev_hashes import hash_kernel_inputs

        initrd = map_file(args.initrd, "an initrd") if args.initrd else None
        hashes = hash_kernel_inputs(map_file(args.kernel, "a kernel"), initrd, args.append or None)

    vcpus = args.vcpus if args.mode != "sev" else 1
    if args.mode == "sev":
        launch = AmdLaunch(Vendor.SEV, firmware, kernel_hashes=hashes, strict=False)
    elif args.mode == "seves":
        launch = AmdLaunch(
            Vendor.SEV_ES,
            firmware,
            vcpus=vcpus,
            vcpu_sig=sig,
            vmm=vmm,
            init_path=InitPath.INIT2,
            kernel_hashes=hashes,
            strict=False,
        )
    elif args.mode == "snp":
        seed = None
        if args.snp_ovmf_hash:
            from pvmkit.cli._common import parse_hex

            seed = parse_hex(args.snp_ovmf_hash, 48, "--snp-ovmf-hash")
        gf = args.guest_features
        if not 0 <= gf < 1 << 64:
            raise InputError(f"--guest-features {gf:#x} does not fit in 64 bits")
        launch = AmdLaunch(
            Vendor.SNP,
            firmware,
            vcpus=vcpus,
            vcpu_sig=sig,
            vmm=vmm,
            vmsa_features=gf & KNOWN_SEV_FEATURES,
            seed=seed,
            kernel_hashes=hashes,
            vmsa_sev_features=gf,
            strict=False,
        )
    else:  # snp:svsm
        if vmm is not Vmm.QEMU:
            raise InputError("SVSM mode is only implemented for QEMU")
        if not args.svsm:
            raise InputError("snp:svsm mode requires --svsm")
        svsm = parse_ovmf(map_file(args.svsm, "a firmware image", MAX_IMAGE))
        launch = AmdLaunch(
            Vendor.SNP,
            firmware,
            vcpus=vcpus,
            vcpu_sig=sig,
            svsm=svsm,
            vars_size=vars_size,
            vmsa_sev_features=0x1,
            svsm_x87_fcw=0,
            strict=False,
        )

    from pvmkit.vendors.amd.measure import measure_plan

    plan = launch.plan()
    digest = measure_plan(plan)
    if args.dump_vmsa:
        for op in plan.vcpus:
            atomic_write(os.path.join(os.getcwd(), f"vmsa{op.index}.bin"), op.state)
    if args.output_format == "base64":
        import base64

        text = base64.b64encode(digest).decode()
    else:
        text = digest.hex()
    if args.verbose:
        text = f"Calculated {_MODE_NAMES[args.mode]} guest measurement: {text}"
    sys.stdout.write(text + "\n")
    return 0
