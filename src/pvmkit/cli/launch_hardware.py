"""``pvmkit launch --vendor sev|sev-es|snp|tdx``: launch a firmware image on SEV/SEV-ES/SNP or TDX
hardware up to FINALIZE (the *launch* part of the lifecycle), then close the VM.

Steps: the option values are parsed (a bad one is a usage error, exit 2, on any host); the plan is
built by the builder ``pvmkit measure`` uses (:class:`~pvmkit.vendors.amd.builder.AmdLaunch` from the
same options, or :func:`~pvmkit.vendors.tdx.builder.build_tdvf_plan`); its measurement is predicted
with :func:`pvmkit.prediction.measure`; once the probe says the host runs the vendor's guests (else
the CapabilityError ``pvmkit launch`` always gave, exit 1), the plan runs through
``Launcher(AmdKvmDriver(...))`` / ``Launcher(TdxKvmDriver(...))`` up to and including FINALIZE; then
the summary is printed (stdout, or a JSON document with ``--json``). For SEV/SEV-ES the
LAUNCH_MEASURE blob is reported with the platform's API version and build (``SEV_PLATFORM_STATUS``),
and checked with ``--tik`` (VerificationError, exit 3, on a mismatch).

The guest never runs: booting OVMF needs a VMM (MapGPA / memory-fault conversions, fw_cfg, devices),
which pvmkit does not provide. The VM is launched and sealed, then closed.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import sys
import time
from typing import Any

from pvmkit.cli._common import (
    MAX_IMAGE,
    U64_MAX,
    Parser,
    parse_hex,
    parse_int,
    parse_size,
    parse_snp_policy,
    print_json,
    read_file,
)
from pvmkit.errors import CapabilityError, InputError
from pvmkit.plan import Vendor

__all__ = ["HARDWARE_VENDORS", "SCHEMA", "build_parser", "format_summary", "main", "require_hardware_vendor"]

#: Vendors launched on their own hardware (``VendorSpec.hardware``); the others with a KVM backend
#: (``VendorSpec.driver``: sw) run on plain KVM (``pvmkit.cli.launch``).
HARDWARE_VENDORS = tuple(v.value for v in Vendor if v.spec.driver and v.spec.hardware)


def require_hardware_vendor(vendor: str) -> None:
    """CapabilityError with KVM's own reasons (from the probe) unless this host can run the vendor's
    guests."""
    from pvmkit.kvm.probe import probe

    support = probe().vendors[vendor]
    if not support.available:
        raise CapabilityError(
            f"launch --vendor {vendor}",
            errno.EOPNOTSUPP,
            f"this host cannot run {vendor} guests: {'; '.join(support.reasons)} (try --vendor sw)",
        )


SCHEMA = "pvmkit.launch-hardware/1"
#: QEMU's default TD attributes (``sept-ve-disable=on``: bit 28, SEPT_VE_DISABLE).
DEFAULT_TD_ATTRIBUTES = 1 << 28
#: The XFAM bits the TDX module requires set (x87, SSE).
DEFAULT_XFAM = 0x3
NOT_RUN = (
    "launched and sealed (FINALIZE), then closed: the guest did not run "
    "(pvmkit launch does not boot firmware)"
)

USAGE = """
  pvmkit launch --vendor sev|sev-es|snp --firmware OVMF [--vcpus N]
                [--vcpu-type T | --vcpu-sig X | --vcpu-family F --vcpu-model M --vcpu-stepping S]
                [--vmm-type qemu|ec2|gce] [--vmsa-features BITS] [--init-path legacy|init2]
                [--kernel FILE [--initrd FILE] [--cmdline CMDLINE]] [--policy N]
                [--host-data HEX] [--tik HEX] [--memory SIZE] [--json]
  pvmkit launch --vendor tdx --firmware TDVF [--vcpus N] [--td-attributes HEX] [--xfam HEX]
                [--memory SIZE] [--json]"""

_SW_ONLY = ("binary", "load_address", "entry", "mode", "nonce", "key", "report_out", "timeout")
_AMD_ONLY = (
    "vcpu_type", "vcpu_sig", "vcpu_family", "vcpu_model", "vcpu_stepping", "vmsa_features", "init_path",
    "kernel", "initrd", "cmdline", "policy", "host_data", "tik",
)  # fmt: skip
_UNSUPPORTED = ("ovmf_hash", "svsm", "vars_size", "vars_file")


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_parser() -> Parser:
    from pvmkit.cli._options import AMD_GROUPS, add_rows, amd_launch_rows

    p = Parser(
        "launch",
        "Launch a firmware image as an SEV, SEV-ES, SEV-SNP or TDX guest on this host up to FINALIZE "
        "(launched and sealed, then closed; the guest does not run), and print the predicted "
        "measurement (and for SEV/SEV-ES the firmware's LAUNCH_MEASURE blob).",
    )
    p.usage = USAGE
    add_rows(p, amd_launch_rows(HARDWARE_VENDORS), AMD_GROUPS)
    helps = {
        "vcpus": "vCPUs at launch (default 1)",
        "policy": "guest policy (sev 0x1, sev-es 0x5, snp 0x30000 by default)",
        **dict.fromkeys(_UNSUPPORTED, argparse.SUPPRESS),  # measure-only: refused below
    }
    for action in p._actions:
        if action.dest in helps:
            action.help = helps[action.dest]
    h = p.add_argument_group("hardware launch")
    h.add_argument(
        "--memory",
        "--ram-size",
        dest="ram_size",
        metavar="SIZE",
        help="guest RAM at GPA 0, e.g. 512M, at most 4 PiB (default: only the launch pages)",
    )
    h.add_argument("--host-data", metavar="HEX", help="snp: 32 bytes of HOST_DATA for SNP_LAUNCH_FINISH")
    h.add_argument(
        "--tik", metavar="HEX", help="sev/sev-es: 16-byte TIK; check LAUNCH_MEASURE (exit 3 if not)"
    )
    h.add_argument(
        "--td-attributes", metavar="HEX", help=f"tdx: TD attributes (default {DEFAULT_TD_ATTRIBUTES:#x})"
    )
    h.add_argument("--xfam", metavar="HEX", help=f"tdx: XFAM (default {DEFAULT_XFAM:#x}: x87, SSE)")
    h.add_argument("--json", action="store_true", help="print a JSON document on stdout (docs/cli.md)")
    # `pvmkit launch --vendor sw` options: accepted here so that they are refused with a clear reason
    for dest in _SW_ONLY:
        h.add_argument(_option(dest), dest=dest, help=argparse.SUPPRESS)
    return p


def _check_options(args: argparse.Namespace, p: Parser) -> None:
    for dest in _SW_ONLY:
        if getattr(args, dest) is not None:
            p.error(f"{_option(dest)} applies to --vendor sw only (a hardware launch stops after FINALIZE)")
    for dest in _UNSUPPORTED:
        if getattr(args, dest) is not None:
            p.error(f"{_option(dest)} is a measure option: pvmkit launch loads the whole firmware, no SVSM")
    if args.vendor == "tdx":
        for dest in _AMD_ONLY:
            if getattr(args, dest) is not None:
                p.error(f"{_option(dest)} is for sev, sev-es and snp, not tdx")
        if args.vmm_type.lower() != "qemu":
            p.error("--vmm-type is for sev, sev-es and snp, not tdx")
    else:
        for dest in ("td_attributes", "xfam"):
            if getattr(args, dest) is not None:
                p.error(f"{_option(dest)} is for tdx")
        if args.host_data is not None and args.vendor != "snp":
            p.error("--host-data is for snp (SNP_LAUNCH_FINISH)")
        if args.tik is not None and args.vendor == "snp":
            p.error("--tik is for sev and sev-es (an SNP launch has no LAUNCH_MEASURE; use its report)")


def _check_ram(ram_size: int, firmware_gpa: int) -> None:
    if ram_size > firmware_gpa:
        raise InputError(
            f"--memory {ram_size:#x}: the RAM at GPA 0 must end below the firmware at {firmware_gpa:#x}"
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def main(argv: list[str]) -> int:
    t_start = time.perf_counter()
    p = build_parser()
    args = p.parse_args(argv)
    _check_options(args, p)
    ram_size = 0
    if args.ram_size is not None:
        ram_size = parse_size(args.ram_size, "--memory")
    if args.vendor == "tdx":
        summary, failure = _launch_tdx(args, p, ram_size)
    else:
        summary, failure = _launch_amd(args, p, ram_size)
    summary["timings_ms"]["total"] = _ms(time.perf_counter() - t_start)
    if args.json:
        print_json(summary)
    else:
        sys.stdout.write(format_summary(summary))
    if failure is not None:
        raise failure
    return 0


# -- AMD ----------------------------------------------------------------------------------------------
def _launch_amd(
    args: argparse.Namespace, p: Parser, ram_size: int
) -> tuple[dict[str, Any], Exception | None]:
    from pvmkit.cli.measure_amd import launch_from_args
    from pvmkit.launch import Launcher
    from pvmkit.plan import Finalize, LaunchPlan, Vendor
    from pvmkit.prediction import measure
    from pvmkit.vendors.amd.kvm import AmdKvmDriver, AmdLaunchResult, SevPlatformStatus

    tik = parse_hex(args.tik, 16, "--tik") if args.tik is not None else None
    host_data = parse_hex(args.host_data, 32, "--host-data") if args.host_data is not None else bytes(32)
    t0 = time.perf_counter()
    launch, counts = launch_from_args(args, p)
    if len(counts) != 1:
        p.error("--vcpus must be one count for a launch, not a range")
    if launch.vendor is Vendor.SNP and args.policy is not None:
        parse_snp_policy(args.policy)  # a policy no SNP firmware takes: exit 2, as verify's options
    _check_ram(ram_size, launch.firmware.gpa())
    plan = launch.plan()
    if launch.vendor is Vendor.SNP:
        plan = LaunchPlan.of([*plan.ops[:-1], Finalize(host_data=host_data)])
    t1 = time.perf_counter()
    predicted = measure(plan)
    t2 = time.perf_counter()
    require_hardware_vendor(args.vendor)  # after every option value parsed: a usage error is exit 2
    status: SevPlatformStatus | None = None
    with AmdKvmDriver(ram_size=ram_size) as driver:
        result: AmdLaunchResult = Launcher(driver).run(plan)
        if result.measurement is not None:
            status = driver.platform_status()
    t3 = time.perf_counter()
    blob, failure = (
        (None, None) if launch.vendor is Vendor.SNP else _launch_measure(result, status, tik, predicted)
    )
    summary = _amd_summary(args, launch, plan, predicted, host_data, ram_size)
    summary["launch_measure"] = blob
    summary["timings_ms"] = {"plan": _ms(t1 - t0), "predict": _ms(t2 - t1), "launch": _ms(t3 - t2)}
    return summary, failure


def _launch_measure(
    result: Any, status: Any, tik: bytes | None, predicted: bytes
) -> tuple[dict[str, Any], Exception | None]:
    """SEV/SEV-ES: the LAUNCH_MEASURE blob the firmware returned, checked with the TIK if given."""
    from pvmkit.errors import VerificationError
    from pvmkit.vendors.amd.launch_blob import check_launch_measure

    assert result.measurement is not None and status is not None
    match: bool | None = None
    failure: Exception | None = None
    if tik is not None:
        try:
            check_launch_measure(
                result.measurement, tik, predicted, policy=result.policy,
                api_major=status.api_major, api_minor=status.api_minor, build=status.build,
            )  # fmt: skip
            match = True
        except VerificationError as exc:
            match, failure = False, exc
    blob = {
        "blob": result.measurement.hex(),
        "measure": result.measurement[:32].hex(),
        "mnonce": result.measurement[32:].hex(),
        "api_major": status.api_major,
        "api_minor": status.api_minor,
        "build": status.build,
        "handle": result.handle,
        "tik_checked": tik is not None,
        "match": match,
    }
    return blob, failure


def _amd_summary(
    args: Any, launch: Any, plan: Any, predicted: bytes, host_data: bytes, ram_size: int
) -> dict[str, Any]:
    """The ``pvmkit.launch-hardware`` document of an AMD launch (docs/cli.md)."""
    from pvmkit.features import decode_sev_features
    from pvmkit.plan import InitPath, Vendor

    init, vendor = plan.init, launch.vendor
    init_cmd = {
        InitPath.LEGACY: "KVM_SEV_ES_INIT" if vendor is Vendor.SEV_ES else "KVM_SEV_INIT",
        InitPath.INIT2: "KVM_SEV_INIT2",
    }[init.init_path]
    return {
        "schema": SCHEMA,
        "vendor": vendor.value,
        **_vm_type(init.effective_vm_type),
        "init_path": init.init_path.value,
        "init_command": init_cmd,
        "firmware": args.firmware,
        "firmware_sha256": hashlib.sha256(launch.firmware.data).hexdigest(),
        "vcpus": launch.vcpus,
        "vcpu_sig": f"{launch.vcpu_sig:#x}" if vendor.has_vmsa else None,
        "vmm": launch.vmm.value,
        "features": {
            "vmsa_features": f"{init.vmsa_features:#x}",
            "vmsa_feature_names": decode_sev_features(init.vmsa_features),
            "sev_features": f"{init.sev_features:#x}" if vendor.has_vmsa else None,
            "sev_feature_names": decode_sev_features(init.sev_features) if vendor.has_vmsa else [],
        },
        "policy": f"{init.policy:#x}",
        "host_data": host_data.hex() if vendor is Vendor.SNP else None,
        "kernel_hashes": launch.kernel_hashes is not None,
        "ram_size": ram_size,
        "pages": sum(op.pages for op in plan.memory),
        "measurement": {
            "kind": "snp-launch-digest" if vendor is Vendor.SNP else "sev-launch-digest",
            "predicted": predicted.hex(),
        },
        "launch_measure": None,
        "state": "sealed-and-closed",
        "note": NOT_RUN,
    }


# -- TDX ----------------------------------------------------------------------------------------------
def _launch_tdx(
    args: argparse.Namespace, p: Parser, ram_size: int
) -> tuple[dict[str, Any], Exception | None]:
    from pvmkit.launch import Launcher
    from pvmkit.prediction import measure
    from pvmkit.vendors.tdx.kvm import TdxKvmDriver, TdxLaunchResult

    t0 = time.perf_counter()
    image, plan, vcpus = _tdx_plan(args, p, ram_size)
    t1 = time.perf_counter()
    predicted = measure(plan)
    t2 = time.perf_counter()
    require_hardware_vendor("tdx")  # after every option value parsed: a usage error is exit 2
    with TdxKvmDriver(ram_size=ram_size) as driver:
        result: TdxLaunchResult = Launcher(driver).run(plan)
    t3 = time.perf_counter()
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "vendor": "tdx",
        **_vm_type(plan.init.effective_vm_type),
        "init_path": "init2",
        "init_command": "KVM_TDX_INIT_VM",
        "firmware": args.firmware,
        "firmware_sha256": hashlib.sha256(image).hexdigest(),
        "vcpus": vcpus,
        "features": {
            "td_attributes": f"{result.attributes:#x}",
            "xfam": f"{result.xfam:#x}",
            "supported_attributes": f"{result.capabilities.supported_attrs:#x}",
            "supported_xfam": f"{result.capabilities.supported_xfam:#x}",
        },
        "page_order": "interleaved",
        "ram_size": ram_size,
        "pages": sum(op.pages for op in plan.memory),
        "measurement": {"kind": "mrtd", "predicted": predicted.hex()},
        "launch_measure": None,
        "state": "sealed-and-closed",
        "note": NOT_RUN,
        "timings_ms": {"plan": _ms(t1 - t0), "predict": _ms(t2 - t1), "launch": _ms(t3 - t2)},
    }
    return summary, None


def _tdx_plan(args: argparse.Namespace, p: Parser, ram_size: int) -> tuple[bytes, Any, int]:
    """(firmware image, plan, vCPU count) of a TDX launch: KVM's interleaved page order, the TD
    attributes and XFAM given (or pvmkit's defaults)."""
    from pvmkit.cli.measure_amd import parse_vcpus
    from pvmkit.formats.tdvf import parse_tdvf
    from pvmkit.plan import Init, LaunchPlan, PageOrder, TdxParams, Vendor
    from pvmkit.vendors.tdx.builder import build_tdvf_plan

    if args.firmware is None:
        p.error("--firmware FILE is required")
    counts = parse_vcpus(args.vcpus)
    if len(counts) != 1:
        p.error("--vcpus must be one count for a launch, not a range")
    attributes = DEFAULT_TD_ATTRIBUTES
    if args.td_attributes is not None:
        attributes = parse_int(args.td_attributes, "--td-attributes", 0, U64_MAX)
    xfam = parse_int(args.xfam, "--xfam", 0, U64_MAX) if args.xfam is not None else DEFAULT_XFAM
    image = read_file(args.firmware, "a firmware image", MAX_IMAGE)
    _check_ram(ram_size, (1 << 32) - len(image))
    meta = parse_tdvf(image)
    plan = build_tdvf_plan(
        image, order=PageOrder.INTERLEAVED, vcpus=counts[0], tdx=TdxParams(xfam=xfam), metadata=meta,
        memory_size=ram_size or None,
    )  # fmt: skip
    init = Init(Vendor.TDX, policy=attributes, tdx=plan.init.tdx)  # TD attributes are Init.policy
    return image, LaunchPlan.of([init, *plan.ops[1:]]), counts[0]


def _vm_type(vm_type: int) -> dict[str, Any]:
    from pvmkit.kvm.caps import vm_type_name

    return {"vm_type": vm_type, "vm_type_name": vm_type_name(vm_type)}


# -- text ---------------------------------------------------------------------------------------------
def format_summary(s: dict[str, Any]) -> str:
    """The text form of the summary document."""
    rows: list[tuple[str, str]] = [
        ("vendor", s["vendor"]),
        ("VM type", f"{s['vm_type_name']} ({s['vm_type']})"),
        ("init path", f"{s['init_path']} ({s['init_command']})"),
        ("firmware", f"{s['firmware']} (sha256 {s['firmware_sha256']})"),
    ]
    vcpus = str(s["vcpus"])
    if s.get("vcpu_sig"):
        vcpus += f" (signature {s['vcpu_sig']}, vmm {s['vmm']})"
    rows.append(("vCPUs", vcpus))
    f = s["features"]
    if s["vendor"] == "tdx":
        rows.append(("TD attributes", f["td_attributes"]))
        rows.append(("XFAM", f["xfam"]))
    else:
        rows.append(
            ("VMSA features", f"{f['vmsa_features']} ({', '.join(f['vmsa_feature_names']) or 'none'})")
        )
        if f["sev_features"] is not None:
            rows.append(
                ("SEV_FEATURES", f"{f['sev_features']} ({', '.join(f['sev_feature_names']) or 'none'})")
            )
        rows.append(("policy", s["policy"]))
        if s["host_data"] is not None:
            rows.append(("host data", s["host_data"]))
        if s["kernel_hashes"]:
            rows.append(("kernel hashes", "yes"))
    label = {
        "snp-launch-digest": "SNP launch digest",
        "sev-launch-digest": "SEV launch digest",
        "mrtd": "MRTD",
    }
    m = s["measurement"]
    rows.append(("predicted", f"{m['predicted']} ({label[m['kind']]})"))
    b = s["launch_measure"]
    if b is not None:
        rows.append(("LAUNCH_MEASURE", b["blob"]))
        rows.append(("platform", f"API {b['api_major']}.{b['api_minor']} build {b['build']}"))
        check = {None: "not checked (no --tik)", True: "matches the prediction", False: "MISMATCH"}[
            b["match"]
        ]
        rows.append(("TIK check", check))
    rows.append(("state", s["note"]))
    t = s["timings_ms"]
    rows.append(
        ("timings", f"plan {t['plan']:.1f} ms, predict {t['predict']:.1f} ms, launch {t['launch']:.1f} ms")
    )
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k:<{width}}  {v}\n" for k, v in rows)
