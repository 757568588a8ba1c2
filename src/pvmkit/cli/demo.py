"""``pvmkit demo``: the whole story on this host in well under a second.

1. probe the host (``pvmkit.kvm.probe``); 2. build the launch plan of the bundled attestation guest
with a fresh nonce; 3. predict its launch measurement from the plan alone (``measure_plan``);
4. launch it on /dev/kvm as a software-protected (sw) VM; the guest asks for an attestation report
and prints its MEASUREMENT; 5. verify the report: the software ARK → ASK → VCEK chain, the signature,
MEASUREMENT = the prediction, REPORT_DATA = nonce ‖ tag, HOST_DATA, POLICY, VMPL 0, and that the
guest saw the same measurement. Exit 0 only if all of that matched (3 on a mismatch, 1 on errors).

Without /dev/kvm the plan goes through the measurer only and the output says so (exit 0; with
``--require-kvm`` exit 1). The software attestation keys live in the user's data directory
(``$XDG_DATA_HOME/pvmkit/attestation``) unless ``--key DIR`` says otherwise, and are created on
first use (the output says so).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from pvmkit.cli._common import Parser, parse_features, parse_hex, parse_int, parse_seconds, print_json
from pvmkit.errors import KvmUnavailableError, VerificationError
from pvmkit.features import decode_sev_features

__all__ = ["main"]


def build_parser() -> Parser:
    p = Parser(
        "demo",
        "Launch a tiny software-protected VM on /dev/kvm, predict its measurement, fetch an attestation "
        "report from inside the guest and verify it against the prediction.",
    )
    p.add_argument("--key", metavar="DIR", help="software attestation key directory (created if absent)")
    p.add_argument("--nonce", metavar="HEX", help="32-byte nonce (default: random)")
    p.add_argument("--host-data", metavar="HEX", help="32 bytes of HOST_DATA (default: zeros)")
    p.add_argument("--vmsa-features", metavar="BITS", default="0", help="e.g. 0x20 or DEBUG_SWAP")
    p.add_argument("--policy", metavar="INT", default="0x30000", help="SNP guest policy, 0..2^64-1")
    p.add_argument("--kvm", metavar="PATH", default="/dev/kvm", help="KVM device (default /dev/kvm)")
    p.add_argument("--require-kvm", action="store_true", help="fail (exit 1) when KVM is unavailable")
    p.add_argument(
        "--timeout", type=parse_seconds, default=5.0, help="guest run-time budget in seconds, up to 86400"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary (docs/cli.md)")
    return p


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    t_start = time.perf_counter()
    nonce = parse_hex(args.nonce, 32, "--nonce") if args.nonce else os.urandom(32)
    host_data = parse_hex(args.host_data, 32, "--host-data") if args.host_data else bytes(32)
    vmsa_features = parse_features(args.vmsa_features)
    policy = parse_int(args.policy, "--policy", 0, (1 << 64) - 1)

    from pvmkit.guest import attest_guest, parse_guest_output, report_data_for
    from pvmkit.kvm import Kvm
    from pvmkit.kvm.probe import probe
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.sw.builder import bundled_guest_plan
    from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES

    lines: list[str] = []
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"schema": "pvmkit.demo/1", "vendor": "sw", "kvm": args.kvm}

    def say(label: str, text: str) -> None:
        lines.append(f"  {label:<10} {text}")
        if not args.json:
            sys.stdout.write(lines[-1] + "\n")
            sys.stdout.flush()

    if not args.json:
        sys.stdout.write(f"pvmkit demo: a software-protected VM (vendor sw) on {args.kvm}\n")

    # 1. host
    t = time.perf_counter()
    kvm_error: KvmUnavailableError | None = None
    try:
        host = probe(args.kvm)
        kvm_ok = True
        unavailable = ""
    except KvmUnavailableError as exc:
        kvm_ok, unavailable, kvm_error = False, str(exc), exc
    timings["probe"] = _ms(time.perf_counter() - t)
    if kvm_ok:
        hw = [k for k, v in host.vendors.items() if v.available]
        say(
            "host",
            f"kernel {host.kernel}, KVM API {host.api_version}, VM types {host.vm_types:#x} "
            f"({', '.join(host.vm_type_names)}); hardware: {', '.join(hw) or 'none'}; "
            f"sw: yes (features {SW_SUPPORTED_VMSA_FEATURES:#x})",
        )
        summary["host"] = {
            "kernel": host.kernel,
            "vm_types": f"{host.vm_types:#x}",
            "hardware_vendors": hw,
            "sw": True,
        }
    else:
        say("host", f"KVM unavailable ({unavailable}): measuring the plan only, no launch")
        summary["host"] = {"kvm_unavailable": unavailable, "sw": False}

    # 2. plan, 3. prediction
    t = time.perf_counter()
    guest = bundled_guest_plan(nonce=nonce, vmsa_features=vmsa_features, policy=policy, host_data=host_data)
    timings["plan"] = _ms(time.perf_counter() - t)
    t = time.perf_counter()
    predicted = measure_plan(guest.plan)
    timings["predict"] = _ms(time.perf_counter() - t)
    features = guest.plan.init.sev_features
    say(
        "plan",
        f"bundled guest ({len(attest_guest())} B) at {guest.load_address:#x}, 1 vCPU, VMSA features "
        f"{features:#x} ({', '.join(decode_sev_features(features))}), policy {policy:#x}",
    )
    say("predicted", predicted.hex())
    summary.update(
        nonce=nonce.hex(),
        host_data=host_data.hex(),
        policy=f"{policy:#x}",
        vmsa_features=f"{features:#x}",
        measurement={"predicted": predicted.hex()},
    )

    if not kvm_ok:
        timings["total"] = _ms(time.perf_counter() - t_start)
        summary.update(launched=False, verified=False, ok=not args.require_kvm, timings_ms=timings)
        if args.json:
            print_json(summary)
        else:
            sys.stdout.write("pvmkit demo: measure-only (no KVM): nothing was launched or attested\n")
        if args.require_kvm and kvm_error is not None:
            raise kvm_error  # its message already names the device and the errno
        return 0

    # keys
    from pvmkit.attest.software_ca import SoftwareAttestationKeys, default_directory
    from pvmkit.attest.verify import Expected, verify_report
    from pvmkit.vendors.sw.machine import launch_plan
    from pvmkit.vendors.sw.service import SoftwareReportService

    t = time.perf_counter()
    key_dir = os.path.abspath(args.key) if args.key else default_directory()
    keys = SoftwareAttestationKeys.load_or_create(key_dir)
    created = keys.created  # of concurrent first launches on one directory, exactly one
    timings["keys"] = _ms(time.perf_counter() - t)
    say(
        "keys",
        ("created software attestation keys in " if created else "software attestation keys in ") + key_dir,
    )
    summary["keys"] = {"directory": key_dir, "created": created}

    # 4. launch and run
    with Kvm.open(args.kvm) as kvm:
        run = launch_plan(guest.plan, kvm=kvm, service=SoftwareReportService(keys), timeout=args.timeout)
    result = run.result
    timings["launch"] = _ms(run.launch_seconds)
    timings["first_exit"] = _ms(result.first_exit_seconds or 0.0)
    timings["run"] = _ms(run.run_seconds)
    match = run.measurement == predicted
    say("launched", f"{run.measurement.hex()} ({'= prediction' if match else 'DIFFERS from the prediction'})")
    guest_text = result.serial.decode("utf-8", "replace").strip()
    say("guest", f"{guest_text or '(no output)'} [{result.reason}, {result.exits} exits]")
    summary["measurement"]["actual"] = run.measurement.hex()
    summary["measurement"]["match"] = match
    summary["run"] = {"reason": result.reason, "exits": result.exits, "serial": guest_text}
    summary["launched"] = True

    # 5. verify
    t = time.perf_counter()
    problems: list[str] = []
    verification: dict[str, Any] = {}
    report = run.report
    if not match:
        problems.append("the launch measurement differs from the prediction")
    if not result.halted:
        problems.append(f"the guest did not halt ({result.reason})")
    if report is None:
        problems.append("the guest obtained no report")
    else:
        try:
            seen = parse_guest_output(result.serial)
            if seen != predicted:
                problems.append("the guest printed a measurement that differs from the prediction")
            verdict = verify_report(
                report,
                keys.vcek_pem,
                keys.chain_pem,
                trusted_ark_sha256=keys.ark_sha256,  # the software CA the demo itself created
                expected=Expected(
                    measurement=predicted,
                    report_data=report_data_for(nonce),
                    host_data=host_data,
                    policy=policy,
                    vmpl=0,
                ),
            )
            verification = {"checks": verdict.checks.to_list(), "ark_sha256": verdict.ark_sha256}
        except VerificationError as exc:
            problems.append(str(exc))
    timings["verify"] = _ms(time.perf_counter() - t)
    if problems:
        say("verified", "FAILED: " + "; ".join(problems))
    else:
        say(
            "verified",
            "software ARK -> ASK -> VCEK, report signature, MEASUREMENT = prediction, "
            "REPORT_DATA = nonce || tag, HOST_DATA, POLICY, VMPL 0",
        )
    timings["total"] = _ms(time.perf_counter() - t_start)
    say(
        "timings",
        f"probe {timings['probe']:.1f} ms, plan {timings['plan']:.1f} ms, "
        f"predict {timings['predict']:.1f} ms, "
        f"keys {timings['keys']:.1f} ms, launch {timings['launch']:.1f} ms (first exit "
        f"{timings['first_exit']:.1f} ms), run {timings['run']:.1f} ms, verify {timings['verify']:.1f} ms; "
        f"total {timings['total']:.1f} ms",
    )
    summary.update(verified=not problems, problems=problems, verification=verification, timings_ms=timings)
    summary["ok"] = not problems
    if args.json:
        print_json(summary)
    else:
        sys.stdout.write("pvmkit demo: OK\n" if not problems else "pvmkit demo: FAILED\n")
    if problems:
        raise VerificationError("demo: " + "; ".join(problems), field="demo")
    return 0
