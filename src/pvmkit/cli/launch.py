"""``pvmkit launch``: run a guest as a protected VM on KVM (``--vendor sw``: the software-protected VM
on the default VM type; docs/sw-vm.md) and fetch its attestation report.

The guest is pvmkit's bundled attestation guest unless ``--binary`` gives a flat binary. The guest's
serial output (port 0x3F8) is streamed to stdout as it arrives; the summary goes to stderr, or with
``--json`` a JSON document goes to stdout instead (the serial output is then inside it). Exit codes:
0 the guest halted and the measurement matched the prediction; 1 any error (including a guest that
did not halt); 2 usage; 3 the measured launch digest differs from the prediction.

``--vendor sev|sev-es|snp|tdx`` has its own options and runs in :mod:`pvmkit.cli.launch_hardware`:
a firmware image launched on the hardware up to FINALIZE, then closed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any

from pvmkit.cli._common import (
    MAX_IMAGE,
    SNP_POLICY_HELP,
    Parser,
    atomic_write,
    parse_features,
    parse_hex,
    parse_int,
    parse_seconds,
    parse_snp_policy,
    print_json,
    read_file,
)
from pvmkit.cli.launch_hardware import HARDWARE_VENDORS
from pvmkit.errors import InputError, VerificationError
from pvmkit.features import decode_sev_features
from pvmkit.plan import Vendor

__all__ = ["main", "report_summary"]

_LAUNCH_VENDORS = tuple(v.value for v in Vendor if v.spec.driver)


#: The most vCPUs a sw VM takes: each is a thread and a KVM vCPU on this host, and only vCPU 0 runs.
MAX_SW_VCPUS = 64


def vcpu_count(text: str) -> int:
    """``--vcpus`` of a sw launch: 1..MAX_SW_VCPUS (a usage error outside)."""
    return parse_int(text, "--vcpus", 1, MAX_SW_VCPUS)


def build_parser() -> Parser:
    p = Parser(
        "launch",
        "Launch a guest as a protected VM on KVM, stream its serial output and fetch its attestation "
        "report. Default: the bundled attestation guest as a software-protected (sw) VM.",
    )
    p.add_argument("--vendor", default="sw", choices=_LAUNCH_VENDORS, help="default: sw")
    g = p.add_argument_group("guest (default: the bundled attestation guest)")
    g.add_argument("--binary", metavar="FILE", help="a flat binary to load instead of the bundled guest")
    g.add_argument(
        "--igvm",
        metavar="FILE",
        help="an IGVM file to run instead (its SEV-SNP platform's directives; QEMU's loader rules)",
    )
    g.add_argument("--load-address", metavar="GPA", default="0x10000", help="4 KiB aligned (default 0x10000)")
    g.add_argument("--entry", metavar="GPA", help="entry point (default: the load address)")
    g.add_argument(
        "--mode", choices=("protected32", "real16"), default="protected32", help="initial CPU mode"
    )
    g.add_argument("--vcpus", type=vcpu_count, default=1, help="vCPUs, 1-64 (default 1; vCPU 0 runs)")
    i = p.add_argument_group("launch inputs")
    i.add_argument("--vmsa-features", metavar="BITS", default="0", help="e.g. 0x20 or DEBUG_SWAP")
    i.add_argument("--policy", metavar="INT", default="0x30000", help=SNP_POLICY_HELP)
    i.add_argument("--host-data", metavar="HEX", help="32 bytes of HOST_DATA for the report")
    i.add_argument("--nonce", metavar="HEX", help="32-byte nonce for the guest (default: random)")
    i.add_argument(
        "--id-block",
        metavar="BASE64",
        help="SNP ID block (96 bytes) for SNP_LAUNCH_FINISH, as pvmkit snp-create-id-block prints it",
    )
    i.add_argument("--id-auth", metavar="BASE64", help="the ID authentication structure (4096 bytes)")
    i.add_argument("--key", metavar="DIR", help="software attestation key directory (created if absent)")
    o = p.add_argument_group("output")
    o.add_argument("--report-out", metavar="FILE", help="write the signed report (1184 bytes) here")
    o.add_argument(
        "--certs-out",
        metavar="FILE",
        help="write the certificate table an extended report carries (software VCEK, ASK, ARK)",
    )
    o.add_argument(
        "--timeout",
        type=parse_seconds,
        default=5.0,
        help="run-time budget in seconds, up to 86400 (default 5)",
    )
    o.add_argument("--json", action="store_true", help="print a JSON summary on stdout (docs/cli.md)")
    return p


def _vendor_of(argv: list[str]) -> str | None:
    """The value of ``--vendor`` (or of an abbreviation argparse accepts, ``--ve`` … ``--vendo``)."""
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if len(name) >= 4 and "--vendor".startswith(name):
            if eq:
                return value
            return argv[i + 1] if i + 1 < len(argv) else None
    return None


def _hardware_main(argv: list[str]) -> int:
    from pvmkit.cli.launch_hardware import main as hardware_main

    return hardware_main(argv)


def _id_block_args(block: str | None, auth: str | None) -> tuple[bytes | None, bytes | None]:
    if (block is None) != (auth is None):
        raise InputError("--id-block and --id-auth go together")
    if block is None or auth is None:
        return None, None
    import base64
    import binascii

    try:
        return base64.b64decode(block, validate=True), base64.b64decode(auth, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("--id-block/--id-auth are not base64") from None


def _igvm_guest(data: bytes, host_data: bytes, id_block: bytes | None, id_auth: bytes | None) -> Any:
    """An IGVM file's SEV-SNP directives as a sw plan (QEMU's loader rules), with HOST_DATA and the ID
    block given on the command line or, as QEMU does, the file's SNP_ID_BLOCK."""
    from pvmkit.formats.igvm import parse_igvm
    from pvmkit.loaders.igvm import id_block_of, igvm_plan, snp_id_auth
    from pvmkit.plan import Finalize, LaunchPlan
    from pvmkit.vendors.amd.id_block import has_author_key
    from pvmkit.vendors.sw.builder import SwGuestPlan

    igvm = parse_igvm(data)
    plan = igvm_plan(igvm, Vendor.SW)
    file_block = id_block_of(igvm, Vendor.SW)
    if id_block is None and file_block is not None:
        id_block, id_auth = snp_id_auth(file_block, plan.init.policy)
    finalize = Finalize(
        id_block=id_block, id_auth=id_auth, host_data=host_data, auth_key_en=has_author_key(id_auth)
    )
    plan = LaunchPlan.of([*list(plan)[:-1], finalize])
    if not plan.vcpus:
        raise InputError("the IGVM file has no VP context (VMSA) for its SEV-SNP platform: nothing to run")
    rip = int.from_bytes(plan.vcpus[0].state[0x178:0x180], "little")  # VMSA RIP
    return SwGuestPlan(plan, load_address=0, entry=rip, code_size=0, stack_gpa=0, shared_gpa=0, mode="igvm")


def report_summary(report: bytes) -> dict[str, Any]:
    """The report fields a launch summary shows (hex for byte strings)."""
    from pvmkit.attest.snp_report import SnpReport

    r = SnpReport.parse(report)
    return {
        "version": r.version,
        "guest_svn": r.guest_svn,
        "policy": f"{r.policy:#x}",
        "vmpl": r.vmpl,
        "signing_key": r.signing_key_name,
        "report_data": r.report_data.hex(),
        "measurement": r.measurement.hex(),
        "host_data": r.host_data.hex(),
        "id_key_digest": r.id_key_digest.hex(),
        "author_key_digest": r.author_key_digest.hex(),
        "report_id": r.report_id.hex(),
        "reported_tcb": f"{r.reported_tcb:#018x}",
        "chip_id": r.chip_id.hex(),
    }


def main(argv: list[str]) -> int:
    if _vendor_of(argv) in HARDWARE_VENDORS:
        return _hardware_main(argv)
    args = build_parser().parse_args(argv)
    if args.vendor != Vendor.SW.value:
        return _hardware_main(argv)  # --vendor abbreviated (--vend snp): the hardware parser takes it
    launch = _SwLaunch(args)
    launch.build_guest()
    launch.predict()
    keys = launch.load_keys()
    run = launch.run(keys)
    launch.write_outputs(run, keys)
    summary = launch.summary(run)
    if args.json:
        print_json(summary)
    else:
        _print_summary(args, run, bytes.fromhex(summary["measurement"]["predicted"]))
    return _outcome(args, run, bytes.fromhex(summary["measurement"]["predicted"]))


class _SwLaunch:
    """One ``pvmkit launch --vendor sw``: the option values, the guest's plan and what each stage took."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.t_start = time.perf_counter()
        self.vmsa_features = parse_features(args.vmsa_features)
        self.policy = parse_snp_policy(args.policy)
        self.host_data = parse_hex(args.host_data, 32, "--host-data") if args.host_data else bytes(32)
        self.nonce = parse_hex(args.nonce, 32, "--nonce") if args.nonce else os.urandom(32)
        self.id_block, self.id_auth = _id_block_args(args.id_block, args.id_auth)
        self.load_address = parse_int(args.load_address, "--load-address", 0, 0xFFFFFFFF)
        self.entry = parse_int(args.entry, "--entry", 0, 0xFFFFFFFF) if args.entry else None
        self.marks: dict[str, float] = {}
        self.binary: bytes | None = None
        self.igvm_file: bytes | None = None
        self.guest: Any = None
        self.predicted = b""
        self.key_dir = ""
        self.keys_created = False

    def build_guest(self) -> None:
        """The guest's plan: an IGVM file's, a flat binary's or the bundled attestation guest's."""
        from pvmkit.vendors.amd.id_block import has_author_key
        from pvmkit.vendors.sw.builder import bundled_guest_plan, flat_binary_plan

        args = self.args
        self.marks["plan"] = time.perf_counter()
        common: dict[str, Any] = {"vmsa_features": self.vmsa_features, "policy": self.policy}
        common["host_data"] = self.host_data
        common.update(nonce=self.nonce, vcpus=args.vcpus, id_block=self.id_block, id_auth=self.id_auth)
        common["auth_key_en"] = has_author_key(self.id_auth)
        if args.igvm:
            _refuse_with_igvm(args)
            self.igvm_file = read_file(args.igvm, "an IGVM file", MAX_IMAGE)
            self.guest = _igvm_guest(self.igvm_file, self.host_data, self.id_block, self.id_auth)
        elif args.binary:
            self.binary = read_file(args.binary, "a guest binary", MAX_IMAGE)
            mode = {"load_address": self.load_address, "entry": self.entry, "mode": args.mode}
            self.guest = flat_binary_plan(self.binary, **mode, **common)
        else:
            if args.entry or args.mode != "protected32" or args.load_address != "0x10000":
                raise InputError("--load-address/--entry/--mode apply to --binary only")
            self.guest = bundled_guest_plan(**common)

    def predict(self) -> None:
        from pvmkit.vendors.amd.measure import measure_plan

        self.marks["predict"] = time.perf_counter()
        self.predicted = measure_plan(self.guest.plan)

    def load_keys(self) -> Any:
        from pvmkit.attest.software_ca import SoftwareAttestationKeys, default_directory

        self.marks["keys"] = time.perf_counter()
        self.key_dir = os.path.abspath(self.args.key) if self.args.key else default_directory()
        keys = SoftwareAttestationKeys.load_or_create(self.key_dir)
        self.marks["launch"] = time.perf_counter()
        if keys.created and not self.args.json:  # of concurrent first launches, exactly one
            sys.stderr.write(f"pvmkit launch: created software attestation keys in {self.key_dir}\n")
        return keys

    def run(self, keys: Any) -> Any:
        """Launch, seal and run the guest (its serial output streamed to stdout unless --json)."""
        from pvmkit.vendors.sw.machine import launch_plan
        from pvmkit.vendors.sw.service import SoftwareReportService

        run = launch_plan(
            self.guest.plan,
            service=SoftwareReportService(keys),
            serial=None if self.args.json else _stream,
            timeout=self.args.timeout,
        )
        self.marks["end"] = time.perf_counter()
        self.keys_created = bool(keys.created)
        return run

    def write_outputs(self, run: Any, keys: Any) -> None:
        """--report-out (the signed report) and --certs-out (the software chain as a cert table)."""
        if run.report is not None and self.args.report_out:
            atomic_write(self.args.report_out, run.report)
        if self.args.certs_out:
            from cryptography.hazmat.primitives.serialization import Encoding

            from pvmkit.attest.cert_table import build_cert_table

            certs = {"vcek": keys.vcek_cert, "ask": keys.ask_cert, "ark": keys.ark_cert}
            table = build_cert_table({k: c.public_bytes(Encoding.DER) for k, c in certs.items()})
            atomic_write(self.args.certs_out, table)

    def summary(self, run: Any) -> dict[str, Any]:
        """The ``pvmkit.launch/1`` document (docs/cli.md)."""
        from pvmkit.guest import attest_guest, report_data_for

        args, guest, result, report = self.args, self.guest, run.result, run.report
        image = self.igvm_file if self.igvm_file is not None else self.binary
        bundled = self.binary is None and self.igvm_file is None
        return {
            "schema": "pvmkit.launch/1",
            "vendor": "sw",
            "guest": args.igvm or args.binary or "bundled:attest",
            "guest_sha256": hashlib.sha256(image if image is not None else attest_guest()).hexdigest(),
            "load_address": None if self.igvm_file is not None else f"{guest.load_address:#x}",
            "entry": f"{guest.entry:#x}",
            "mode": guest.mode,
            "vcpus": len(guest.plan.vcpus),
            "vmsa_features": f"{run.record.vmsa_features:#x}",
            "vmsa_feature_names": decode_sev_features(run.record.vmsa_features),
            "policy": f"{guest.plan.init.policy:#x}",
            "host_data": self.host_data.hex(),
            "nonce": None if self.igvm_file is not None else self.nonce.hex(),
            "expected_report_data": report_data_for(self.nonce).hex() if bundled else None,
            "keys": {"directory": self.key_dir, "created": self.keys_created},
            "measurement": {
                "predicted": self.predicted.hex(),
                "actual": run.measurement.hex(),
                "match": self.predicted == run.measurement,
            },
            "run": {
                "reason": result.reason,
                "exits": result.exits,
                "attestation_requests": result.requests,
                "serial": result.serial.decode("utf-8", "replace"),
            },
            "report": report_summary(report) if report is not None else None,
            "report_out": args.report_out if report is not None and args.report_out else None,
            "timings_ms": self._timings(run),
        }

    def _timings(self, run: Any) -> dict[str, float]:
        m = self.marks
        return {
            "plan": round((m["predict"] - m["plan"]) * 1e3, 3),
            "predict": round((m["keys"] - m["predict"]) * 1e3, 3),
            "keys": round((m["launch"] - m["keys"]) * 1e3, 3),
            "launch": round(run.launch_seconds * 1e3, 3),
            "first_exit": round((run.result.first_exit_seconds or 0.0) * 1e3, 3),
            "run": round(run.run_seconds * 1e3, 3),
            "total": round((m["end"] - self.t_start) * 1e3, 3),
        }


def _refuse_with_igvm(args: Any) -> None:
    """--igvm takes memory, vCPUs, features and policy from the file: other guest options are refused."""
    given = [
        name
        for name, used in (
            ("--binary", args.binary), ("--entry", args.entry), ("--mode", args.mode != "protected32"),
            ("--load-address", args.load_address != "0x10000"), ("--vcpus", args.vcpus != 1),
            ("--vmsa-features", args.vmsa_features != "0"), ("--policy", args.policy != "0x30000"),
            ("--nonce", args.nonce),
        )
        if used
    ]  # fmt: skip
    if given:
        raise InputError(
            f"--igvm takes memory, vCPUs, features and policy from the file: not {', '.join(given)}"
        )


def _stream(data: bytes) -> None:
    """The guest's serial bytes to stdout as they arrive."""
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    else:  # a text-only stdout (embedding, some test harnesses)
        sys.stdout.write(data.decode("latin-1"))
        sys.stdout.flush()


def _print_summary(args: Any, run: Any, predicted: bytes) -> None:
    result, err = run.result, sys.stderr
    err.write(f"pvmkit launch: measurement {run.measurement.hex()}\n")
    verdict = "match" if predicted == run.measurement else "MISMATCH"
    err.write(f"pvmkit launch: predicted   {predicted.hex()} ({verdict})\n")
    err.write(
        f"pvmkit launch: guest {result.reason} after {result.exits} exits, "
        f"{len(result.reports)} report(s); launch {run.launch_seconds * 1e3:.1f} ms, "
        f"run {run.run_seconds * 1e3:.1f} ms\n"
    )
    if args.report_out and run.report is not None:
        err.write(f"pvmkit launch: report written to {args.report_out}\n")


def _outcome(args: Any, run: Any, predicted: bytes) -> int:
    """Exit 0, or the error for a mismatch (exit 3), a guest that did not halt or no report (exit 1)."""
    if predicted != run.measurement:
        raise VerificationError(
            "the launch digest differs from the prediction", field="measurement",
            expected=predicted.hex(), actual=run.measurement.hex(),
        )  # fmt: skip
    if not run.result.halted:
        what = {"timeout": f"did not halt within {args.timeout:g} s", "shutdown": "triple-faulted (shutdown)"}
        raise InputError(f"the guest {what.get(run.result.reason, run.result.reason)}")
    if args.report_out and run.report is None:
        raise InputError("--report-out: the guest asked for no attestation report")
    return 0
