"""``pvmkit reference-values``: every acceptable launch value of a fleet, in a verifier's format.

Takes what ``pvmkit measure --vendor V`` takes (the options are ``measure``'s own, parsed by its
parser), with the shape options as sets: ``--vcpus``, ``--vcpu-type`` and ``--vmm-type`` take comma
lists, and every shape or input option may be repeated to add values (``--vmsa-features``,
``--ovmf``/``--firmware``, ``--kernel``, ``--initrd``, ``--append``/``--cmdline``). Every combination is
measured, and each distinct value is written once, traceable to the combinations that produce it
(``--format json``, ``--explain``). docs/reference-values.md walks through the flow; docs/cli.md lists
the options, formats and exit codes.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from typing import TYPE_CHECKING, Any

from pvmkit.cli._common import (
    MAX_IMAGE,
    MAX_PAYLOAD,
    Parser,
    UsageError,
    atomic_write,
    map_file,
    parse_features,
    parse_int,
    parse_vcpu_type,
)
from pvmkit.errors import InputError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from pvmkit.refvalues.model import RefValueSet, Value

__all__ = ["main"]

VENDORS = ("snp", "sev-es", "sev", "sw", "tdx", "cca")
FORMATS = ("trustee", "trustee-provenance", "corim", "corim-signed", "json")
#: Above this many combinations the command needs an explicit ``--max-combinations``.
DEFAULT_MAX_COMBINATIONS = 1_000_000

#: Options that take a set (option spellings → destination). Comma lists: ``_COMMA``.
_AMD_SETS = {
    "--ovmf-description": "ovmf_description",
    "--kernel-sha256": "kernel_sha256",
    "--initrd-sha256": "initrd_sha256",
    "--cmdline": "append",
    "--vcpus": "vcpus",
    "--vcpu-type": "vcpu_type",
    "--vmm-type": "vmm_type",
    "--vmsa-features": "vmsa_features",
    "--ovmf": "ovmf",
    "--firmware": "ovmf",
    "--kernel": "kernel",
    "--initrd": "initrd",
    "--append": "append",
}
_TDX_SETS = {
    "--firmware": "firmware",
    "--ovmf": "firmware",
    "--kernel": "kernel",
    "--initrd": "initrd",
    "--cmdline": "cmdline",
    "--append": "cmdline",
}
_COMMA = {"vcpus", "vcpu_type", "vmm_type", "igvm_loader"}


def _parser() -> Parser:
    p = Parser(
        "reference-values",
        "Compute every acceptable launch value of a set of configurations and write it in a "
        "verifier's format. Takes every option of 'pvmkit measure --vendor V' (see its --help); "
        "--vcpus, --vcpu-type and --vmm-type take comma lists (--vcpus 1-8,16 --vcpu-type "
        "EPYC-v4,EPYC-Milan --vmm-type qemu,gce), and the shape and input options may be repeated "
        "to add values (--vmsa-features 0x1 --vmsa-features 0x21, --ovmf A --ovmf B, --kernel, "
        "--initrd, --append).",
        allow_abbrev=False,
    )
    p.add_argument("--vendor", required=True, choices=VENDORS, help="protected-VM technology")
    p.add_argument("--format", choices=FORMATS, default=None, help="output format (default trustee)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("-o", "--output", metavar="FILE", help="write the output to FILE (atomically)")
    p.add_argument(
        "--value",
        metavar="NAME=HEX",
        action="append",
        default=[],
        help="add a literal value measured elsewhere (hex; true/false or a number for the SNP "
        "configuration and TCB names); repeatable",
    )
    p.add_argument(
        "--max-combinations",
        metavar="N",
        help=f"allow more than {DEFAULT_MAX_COMBINATIONS} combinations (up to N)",
    )
    corim = p.add_argument_group("CoRIM output (--format corim, corim-signed)")
    corim.add_argument(
        "--signing-key",
        metavar="PEM",
        help="corim-signed: the signer's EC private key, P-256 (ES256) or P-384 (ES384), unencrypted PEM",
    )
    corim.add_argument(
        "--signer", metavar="NAME", default="pvmkit", help="corim-signed: signer name (corim-meta)"
    )
    corim.add_argument(
        "--not-after",
        metavar="ISO-TIME",
        help="corim-signed: end of the signature validity (corim-meta; default: none stated)",
    )
    corim.add_argument("--corim-id", metavar="TEXT", help="the CoRIM id (default: one per profile)")
    corim.add_argument(
        "--cca-legacy",
        action="store_true",
        help="cca: the legacy realm CoRIM (profile http://arm.com/cca/realm/1, the cca-realm-measurements "
        "template) instead of the 2025 CCA realm profile",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="list every value with the combinations that produce it, on standard error",
    )
    return p


def _split_sets(argv: list[str], sets: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """Take the set-valued options out of ``argv``: (the rest, destination → values in order)."""
    rest: list[str] = []
    found: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, text = arg.partition("=")
        if name in sets and (eq or (i + 1 < len(argv) and not argv[i + 1].startswith("--"))):
            if not eq:
                text = argv[i + 1]
                i += 1
            dest = sets[name]
            items = text.split(",") if dest in _COMMA else [text]
            for item in items:
                if not item.strip():
                    raise UsageError(f"{name}: empty item in {text!r}")
                found.setdefault(dest, []).append(item.strip())
        else:
            rest.append(arg)
        i += 1
    return rest, found


def _sha256_file(path: str, what: str) -> str:
    """The SHA-256 of a firmware image, kernel or initrd, with its kind's input limit."""
    limit = MAX_IMAGE if what == "firmware" else MAX_PAYLOAD
    kind = {"firmware": "a firmware image", "kernel": "a kernel", "initrd": "an initrd"}.get(what, what)
    return hashlib.sha256(map_file(path, kind, limit)).hexdigest()


def _limit(args: argparse.Namespace, combinations: int) -> None:
    limit = DEFAULT_MAX_COMBINATIONS
    if args.max_combinations is not None:
        limit = parse_int(args.max_combinations, "--max-combinations", 1)
    if combinations > limit:
        hint = "raise --max-combinations" if args.max_combinations else "pass --max-combinations N"
        raise InputError(
            f"{combinations} combinations exceed the limit of {limit}; narrow the sets or {hint}"
        )


#: One input of a base combination: (measure option, its value), e.g. ("--kernel-sha256", "ab…").
Input = tuple[str, str]


def _inputs(
    argv: list[str],
    vendor: str,
    firmware: Input,
    kernel: Input | None,
    initrd: Input | None,
    cmdline_option: str,
    cmdline: str | None,
) -> tuple[list[str], dict[str, str | int]]:
    """One base combination's measure arguments and the description of its inputs (an origin):
    files by path and SHA-256, digests as given."""
    origin: dict[str, str | int] = {"vendor": vendor}
    for given in (firmware, kernel, initrd):
        if given is None:
            continue
        option, value = given
        argv += [option, value]
        name = option[2:].removesuffix("-sha256").replace("-", "_")
        if option.endswith("-sha256"):
            origin[f"{name}_sha256"] = value.lower()
        elif name == "ovmf_description":
            origin["firmware_description"] = value
        else:
            if name in ("ovmf", "firmware"):
                origin["firmware"] = value
                name = "firmware"
            origin[f"{name}_sha256"] = _sha256_file(value, name)
    if cmdline is not None:
        argv += [cmdline_option, cmdline]
        origin["cmdline"] = cmdline
    return argv, origin


def _given(sets: dict[str, list[str]], *options: tuple[str, str]) -> list[Input]:
    """The inputs of a set given by any of ``options`` ((option, set key) pairs), in order."""
    return [(option, value) for option, key in options for value in _unique(sets.get(key, []))]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _optional(items: list[str] | None) -> list[str | None]:
    """The distinct values of an optional input set; [None] (the input absent) when none is given."""
    return [*dict.fromkeys(items)] if items else [None]


# -- AMD (sev, sev-es, snp, sw) -----------------------------------------------------------------------


def _amd(args: argparse.Namespace, rest: list[str], sets: dict[str, list[str]]) -> tuple[RefValueSet, int]:
    from pvmkit.cli.measure_amd import build_parser as measure_parser
    from pvmkit.cli.measure_amd import launch_from_args, parse_vcpus
    from pvmkit.plan import Vmm
    from pvmkit.refvalues.amd import AmdShape, amd_values

    mp = _as_ours(measure_parser())
    firmwares = _given(sets, ("--firmware", "ovmf"), ("--ovmf-description", "ovmf_description"))
    if not firmwares:
        mp.error(
            "--firmware FILE (or --ovmf-description FILE) is required (reference values of a sw guest "
            "without firmware: pvmkit measure --vendor sw --output-format json, then --expect)"
        )
    counts = sorted({n for item in sets.get("vcpus", ["1"]) for n in parse_vcpus(item)})
    types = [(name, parse_vcpu_type(name)) for name in _unique(sets.get("vcpu_type", []))]
    vmms = []
    for name in _unique(sets.get("vmm_type", ["qemu"])):
        try:
            vmms.append(Vmm(name.lower()))
        except ValueError:
            mp.error(f"unknown VMM type {name!r} (qemu, ec2, gce)")
    features = [
        _features(text) for text in _optional(sets.get("vmsa_features"))
    ]  # None: the vendor's default
    base_argv = ["--vendor", args.vendor, *rest]
    if types:  # the measure parser wants one vCPU model for the qemu profile; the matrix sets it
        base_argv += ["--vcpu-type", types[0][0]]
    bases = []
    mp.parse_args([*base_argv, *firmwares[0]])  # unknown or malformed options: before any file is read
    kernels: list[Input | None] = [
        *_given(sets, ("--kernel", "kernel"), ("--kernel-sha256", "kernel_sha256"))
    ]
    initrds: list[Input | None] = [
        *_given(sets, ("--initrd", "initrd"), ("--initrd-sha256", "initrd_sha256"))
    ]
    for firmware, kernel, initrd, append in itertools.product(
        firmwares, kernels or [None], initrds or [None], _optional(sets.get("append"))
    ):
        argv, origin = _inputs([*base_argv], args.vendor, firmware, kernel, initrd, "--cmdline", append)
        margs = mp.parse_args(argv)
        if types == [] and margs.vcpu_sig is None and margs.vcpu_family is None:
            types = [("", 0)]
        launch, _ = launch_from_args(margs, mp)
        if not types:
            types = [(f"sig {launch.vcpu_sig:#x}", launch.vcpu_sig)]
        if "firmware_description" in origin and launch.seed is not None:
            origin["snp_hash_seed"] = launch.seed.hex()
        bases.append((launch, origin))
    if types == [("", 0)] and any(v is Vmm.QEMU for v in vmms) and args.vendor != "sev":
        mp.error(
            "the qemu profile puts the vCPU signature in the VMSA: give --vcpu-type (a comma list), "
            "--vcpu-sig or --vcpu-family/--vcpu-model/--vcpu-stepping"
        )
    feature_sets = [bases[0][0].vmsa_features if f is None else f for f in features]
    shape = AmdShape(counts, types, vmms, feature_sets)
    combinations = len(bases) * shape.count()
    _limit(args, combinations)
    return amd_values(bases, shape), combinations


def _features(text: str | None) -> int | None:
    """One --vmsa-features set; a value that does not parse is a usage error, as for measure."""
    return None if text is None else parse_features(text)


# -- TDX ---------------------------------------------------------------------------------------------


def _tdx(args: argparse.Namespace, rest: list[str], sets: dict[str, list[str]]) -> tuple[RefValueSet, int]:
    from pvmkit.cli.measure_tdx import build_parser as measure_parser
    from pvmkit.cli.measure_tdx import mrtd_from_args
    from pvmkit.refvalues.model import RefValueSet

    mp = _as_ours(measure_parser())
    if "firmware" not in sets:
        mp.error("--firmware FILE is required")
    rvs = RefValueSet()
    events = RefValueSet()  # the direct-boot event digests Trustee's policy compares with ==, below
    combos = list(
        itertools.product(
            _unique(sets["firmware"]),
            _optional(sets.get("kernel")),
            _optional(sets.get("initrd")),
            _optional(sets.get("cmdline")),
        )
    )
    _limit(args, len(combos))
    mp.parse_args(["--vendor", "tdx", *rest, "--firmware", combos[0][0]])  # options, before reading files
    for firmware_path, kernel, initrd, cmdline in combos:
        firmware = bytes(map_file(firmware_path, "a firmware image", MAX_IMAGE))
        argv, origin = _inputs(
            ["--vendor", "tdx", *rest],
            "tdx",
            ("--firmware", firmware_path),
            ("--kernel", kernel) if kernel is not None else None,
            ("--initrd", initrd) if initrd is not None else None,
            "--cmdline",
            cmdline,
        )
        margs = mp.parse_args(argv)
        if margs.rtmr:
            _add_rtmrs(rvs, events, margs, firmware, origin)
            margs.order, margs.td_shim = None, False  # MRTD: the default page order for this stack
        elif kernel or initrd or cmdline:
            raise InputError("--kernel, --initrd and --cmdline are RTMR inputs: add --rtmr")
        mrtd, order, _meta = mrtd_from_args(margs, firmware)
        rvs.add("mr_td", mrtd, {**origin, "order": order.value})
    for name, values in events:
        if len(values) == 1:
            rvs.merge(RefValueSet({name: events.values[name]}))
        else:
            sys.stderr.write(
                f"pvmkit: note: {name} not exported: {len(values)} values, and Trustee's policy compares "
                "it with == (its RTMR-only rule still applies)\n"
            )
    return rvs, len(combos)


def _add_rtmrs(
    rvs: Any, events: Any, margs: argparse.Namespace, firmware: bytes, origin: dict[str, Any]
) -> None:
    """One combination's RTMRs (those whose inputs are all known) and its direct-boot event digests,
    for every shape (vCPU count x memory size) it names."""
    from pvmkit.cli.measure_tdx import rtmr_shapes_from_args
    from pvmkit.vendors.tdx.rtmr import build_event_log_plan

    shapes, _qemu = rtmr_shapes_from_args(margs, firmware)
    for vcpus, inputs in shapes:
        plan = build_event_log_plan(inputs)
        shape_origin = {**origin, "memory": inputs.memory_size}
        if vcpus is not None:
            shape_origin["vcpus"] = vcpus
        missing = plan.missing()
        for i, value in enumerate(plan.rtmrs()):
            if value is not None:
                rvs.add(f"rtmr_{i}", value, shape_origin)
            else:
                what = ", ".join(sorted({e.what for e in missing if e.rtmr == i}))
                sys.stderr.write(f"pvmkit: note: rtmr_{i} not exported (missing: {what})\n")
        for event in plan.events:
            name = _TRUSTEE_EVENTS.get(event.what)
            if name is not None and event.digest is not None:
                events.add(name, event.digest, shape_origin)


#: Predicted direct-boot events → the Trustee names of their digests (ear_default_policy_cpu.rego:
#: the kernel's EV_EFI_BOOT_SERVICES_APPLICATION, the LOADED_IMAGE::LoadOptions EV_EVENT_TAG).
_TRUSTEE_EVENTS = {"kernel (Authenticode)": "tdvfkernel", "kernel LoadOptions": "tdvfkernelparams"}


# -- IGVM files --------------------------------------------------------------------------------------

_IGVM_SETS = {"--igvm": "igvm", "--igvm-loader": "igvm_loader"}
_IGVM_NAMES = {"snp": "snp_launch_measurement", "sw": "snp_launch_measurement", "tdx": "mr_td"}


def _igvm(args: argparse.Namespace, rest: list[str], sets: dict[str, list[str]]) -> tuple[RefValueSet, int]:
    """Every IGVM file × loader (``--igvm`` repeated, ``--igvm-loader`` a comma list or repeated)."""
    from pvmkit.cli.measure_igvm import build_parser as measure_parser
    from pvmkit.cli.measure_igvm import predict
    from pvmkit.refvalues.model import RefValueSet

    mp = _as_ours(measure_parser())
    combos = list(itertools.product(_unique(sets["igvm"]), _optional(sets.get("igvm_loader"))))
    _limit(args, len(combos))
    rvs = RefValueSet()
    name = _IGVM_NAMES.get(args.vendor, "sev_launch_digest")
    for path, loader in combos:
        argv = ["--vendor", args.vendor, *rest, "--igvm", path]
        if loader is not None:
            argv += ["--igvm-loader", loader]
        digest, record = predict(mp.parse_args(argv))
        origin: dict[str, str | int] = {
            "vendor": args.vendor,
            "igvm": path,
            "igvm_sha256": record["igvm_sha256"],
            "loader": record["loader"],
            "vcpus": record["vcpus"],
        }
        rvs.add(name, digest, origin)
    return rvs, len(combos)


# -- CCA ---------------------------------------------------------------------------------------------


def _cca(args: argparse.Namespace, rest: list[str], sets: dict[str, list[str]]) -> tuple[RefValueSet, int]:
    """The RIM of each vCPU count (``--vcpus`` a set: a VMM's DTB lists the CPUs, so with
    ``--vmm-type`` each count is its own value; without, the RECs are not measured and all counts
    give one value), as ``measure --vendor cca`` predicts it."""
    from pvmkit.cli.measure_amd import parse_vcpus
    from pvmkit.cli.measure_cca import build_parser as measure_parser
    from pvmkit.cli.measure_cca import plan_from_args
    from pvmkit.launch import Launcher
    from pvmkit.refvalues.model import RefValueSet
    from pvmkit.refvalues.names import CCA_RIM
    from pvmkit.vendors.cca.measure import CcaMeasurer

    parser = _as_ours(measure_parser())
    margs = parser.parse_args(["--vendor", "cca", *rest])
    counts = sorted({n for item in sets.get("vcpus", ["1"]) for n in parse_vcpus(item)})
    _limit(args, len(counts))
    rvs = RefValueSet()
    for n in counts:
        margs.vcpus = str(n)
        plan, _ = plan_from_args(margs, parser)
        rim = Launcher(CcaMeasurer()).run(plan)
        params = plan.init.cca
        assert params is not None
        origin: dict[str, str | int] = {
            "vendor": "cca",
            "vcpus": n,
            **({"vmm": margs.vmm_type} if margs.vmm_type else {}),
            "hash_algo": params.hash_algo,
            "rmm": params.rmm,
            "ipa_bits": params.ipa_bits,
            **{f"load_sha256:{op.label}": hashlib.sha256(op.data or b"").hexdigest() for op in plan.memory},
        }
        rvs.add(CCA_RIM, rim, origin)
    return rvs, len(counts)


# -- literal values, output --------------------------------------------------------------------------


def _literal(item: str) -> tuple[str, Value]:
    from pvmkit.refvalues.names import BOOL, BYTES, spec_of

    name, sep, text = item.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"--value takes NAME=HEX, got {item!r}")
    try:
        spec = spec_of(name.strip())
    except InputError as exc:  # a NAME outside the documented set: a usage error, as for any value
        raise UsageError(f"--value: {exc}") from None
    text = text.strip()
    if spec.kind == BYTES:
        from pvmkit.cli._common import parse_hex
        from pvmkit.refvalues.model import check_value

        value = parse_hex(text, what=f"--value {spec.name}")
        try:  # a value of the wrong length is out of the option's range: a usage error
            return spec.name, check_value(spec, value)
        except InputError as exc:
            raise UsageError(f"--value: {exc}") from None
    if spec.kind == BOOL:
        if text.lower() not in ("true", "false"):
            raise UsageError(f"--value {spec.name} takes true or false, got {text!r}")
        return spec.name, text.lower() == "true"
    return spec.name, parse_int(text, f"--value {spec.name}")


#: Origin keys --explain leaves out (the JSON output has them all).
_NOT_EXPLAINED = ("vcpus", "vendor")


def _explain(rvs: RefValueSet) -> str:
    """Each value with its combinations; vCPU counts that differ only in count are folded into ranges."""
    lines = []
    for name, values in rvs:
        lines.append(f"{name}: {len(values)} value{'s' if len(values) != 1 else ''}")
        for value in values:
            shown = value.hex() if isinstance(value, bytes) else str(value)
            lines.append(f"  {shown}")
            groups: dict[tuple[tuple[str, str | int], ...], list[int]] = {}
            for origin in rvs.origins(name, value):
                key = tuple(
                    (k, v) for k, v in origin.items() if k not in _NOT_EXPLAINED and not k.endswith("sha256")
                )
                vcpus = origin.get("vcpus")
                groups.setdefault(key, []).append(vcpus if isinstance(vcpus, int) else 0)
            for key, counts in groups.items():
                desc = " ".join(f"{k}={v}" for k, v in key if v != "")
                ranges = _ranges(sorted(set(counts)))
                lines.append(f"    {'vcpus=' + ranges + ' ' if ranges else ''}{desc}")
    return "\n".join(lines) + "\n"


def _ranges(counts: list[int]) -> str:
    if counts == [0]:
        return ""
    parts: list[str] = []
    start = prev = counts[0]
    for n in [*counts[1:], -1]:
        if n != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = n
        prev = n
    return ",".join(parts)


def _render(fmt: str, rvs: RefValueSet, args: argparse.Namespace, combinations: int) -> bytes:
    import json

    from pvmkit.refvalues import setjson, trustee

    if fmt == "trustee":
        return (json.dumps(trustee.message(rvs)) + "\n").encode()
    if fmt == "trustee-provenance":
        return (json.dumps(trustee.provenance(rvs), indent=2) + "\n").encode()
    if fmt == "json":
        doc = setjson.set_json(rvs, vendor=args.vendor, combinations=combinations)
        if args.vendor == "cca":
            from pvmkit.refvalues.ccatoken import realm_entries

            doc["rust_ccatoken"] = {"realm": realm_entries(rvs)}
        return (json.dumps(doc, indent=2) + "\n").encode()
    from pvmkit.refvalues.corim_profiles import build_corim

    corim = build_corim(rvs, args.vendor, cca_legacy=args.cca_legacy, corim_id=args.corim_id)
    if fmt == "corim":
        return corim.to_bytes()
    from pvmkit.cli._common import MAX_EVIDENCE, read_file
    from pvmkit.cli._verify_common import parse_time
    from pvmkit.refvalues.corim_sign import sign_corim

    assert args.signing_key is not None
    not_after = parse_time(args.not_after, "--not-after") if args.not_after else None
    key = read_file(args.signing_key, "a key", MAX_EVIDENCE)
    return sign_corim(corim, key, signer=args.signer, not_after=not_after).to_bytes()


def _as_ours(parser: Any) -> Any:
    """measure's parser, reporting its usage errors as this command's."""
    parser.prog = "pvmkit reference-values"
    return parser


_MEASURE_PARSERS = {
    "tdx": "pvmkit.cli.measure_tdx",
    "cca": "pvmkit.cli.measure_cca",
    **dict.fromkeys(("snp", "sev-es", "sev", "sw"), "pvmkit.cli.measure_amd"),
}


def _measure_help(argv: list[str]) -> None:
    """After this command's help: the options of ``pvmkit measure --vendor V`` (or ``--igvm``) it takes."""
    vendor = next((a.split("=", 1)[1] for a in argv if a.startswith("--vendor=")), None)
    if vendor is None and "--vendor" in argv and argv.index("--vendor") + 1 < len(argv):
        vendor = argv[argv.index("--vendor") + 1]
    module = "pvmkit.cli.measure_igvm" if "--igvm" in argv else _MEASURE_PARSERS.get(vendor or "")
    if module is None:
        print("\nWith --vendor V, --help also lists the options of 'pvmkit measure --vendor V'.")
        return
    __import__(module)
    print(f"\nThe options of 'pvmkit measure --vendor {vendor}{' --igvm' if 'igvm' in module else ''}':\n")
    sys.modules[module].build_parser().print_help()


def main(argv: list[str]) -> int:
    p = _parser()
    try:
        args, rest = p.parse_known_args(argv)
    except SystemExit as stop:
        if stop.code == 0:  # --help printed this command's options: add measure's
            _measure_help(argv)
        raise
    if args.json and args.format not in (None, "json"):
        p.error("--json is --format json; give one of them")
    fmt = "json" if args.json else (args.format or "trustee")
    if (fmt == "corim-signed") != (args.signing_key is not None):
        p.error("--format corim-signed and --signing-key go together")
    corim_only = [o for o, v in (("--not-after", args.not_after), ("--corim-id", args.corim_id)) if v]
    corim_only += ["--cca-legacy"] if args.cca_legacy else []
    if corim_only and not fmt.startswith("corim"):
        p.error(f"{corim_only[0]} is for --format corim or corim-signed")
    compute: Callable[[], tuple[RefValueSet, int]]
    if any(a == "--igvm" or a.startswith("--igvm=") for a in rest):
        if args.vendor == "cca":
            p.error("--igvm is for snp, sw, sev-es, sev and tdx")
        rest, sets = _split_sets(rest, {**_IGVM_SETS})
        compute = lambda: _igvm(args, rest, sets)  # noqa: E731
    elif args.vendor == "tdx":
        rest, sets = _split_sets(rest, _TDX_SETS)
        compute = lambda: _tdx(args, rest, sets)  # noqa: E731
    elif args.vendor == "cca":
        rest, sets = _split_sets(rest, {"--vcpus": "vcpus"})
        compute = lambda: _cca(args, rest, sets)  # noqa: E731
    else:
        rest, sets = _split_sets(rest, _AMD_SETS)
        compute = lambda: _amd(args, rest, sets)  # noqa: E731
    literals = [_literal(item) for item in args.value]
    rvs, combinations = compute()
    for name, value in literals:
        rvs.add(name, value, {"source": "literal"})
    if not rvs.values:
        raise InputError("no reference value to write")
    out = _render(fmt, rvs, args, combinations)
    if args.explain:
        sys.stderr.write(_explain(rvs))
    if args.output:
        atomic_write(args.output, out)
    else:
        if fmt.startswith("corim") and sys.stdout.isatty():
            raise InputError(f"--format {fmt} writes CBOR: give -o FILE or redirect standard output")
        sys.stdout.buffer.write(out) if hasattr(sys.stdout, "buffer") else sys.stdout.write(out.decode())
        sys.stdout.flush()
    return 0
