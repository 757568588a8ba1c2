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

from pvmkit.cli._common import (
    SNP_POLICY_HELP,
    Parser,
    parse_features,
    parse_hex,
    parse_seconds,
    parse_snp_policy,
    print_json,
)
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
    p.add_argument("--policy", metavar="INT", default="0x30000", help=SNP_POLICY_HELP)
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
    demo = _Demo(args)
    host_ok = demo.host()
    guest, predicted = demo.plan()
    if not host_ok:
        return demo.measure_only()
    keys = demo.keys()
    run = demo.launch(guest, keys)
    problems = demo.verify(run, keys, predicted)
    return demo.finish(problems)


class _Demo:
    """The demo's stages, each adding one line to the story and its part of the JSON summary."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.t_start = time.perf_counter()
        self.nonce = parse_hex(args.nonce, 32, "--nonce") if args.nonce else os.urandom(32)
        self.host_data = parse_hex(args.host_data, 32, "--host-data") if args.host_data else bytes(32)
        self.vmsa_features = parse_features(args.vmsa_features)
        self.policy = parse_snp_policy(args.policy)
        self.lines: list[str] = []
        self.timings: dict[str, float] = {}
        self.summary: dict[str, Any] = {"schema": "pvmkit.demo/1", "vendor": "sw", "kvm": args.kvm}
        self.kvm_error: KvmUnavailableError | None = None
        if not args.json:
            sys.stdout.write(f"pvmkit demo: a software-protected VM (vendor sw) on {args.kvm}\n")

    def say(self, label: str, text: str) -> None:
        self.lines.append(f"  {label:<10} {text}")
        if not self.args.json:
            sys.stdout.write(self.lines[-1] + "\n")
            sys.stdout.flush()

    def _lap(self, name: str, since: float) -> None:
        self.timings[name] = _ms(time.perf_counter() - since)

    def host(self) -> bool:
        """1. What the host's KVM offers; False when there is no usable KVM."""
        from pvmkit.kvm.probe import probe
        from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES

        t = time.perf_counter()
        try:
            host = probe(self.args.kvm)
        except KvmUnavailableError as exc:
            self._lap("probe", t)
            self.kvm_error = exc
            self.say("host", f"KVM unavailable ({exc}): measuring the plan only, no launch")
            self.summary["host"] = {"kvm_unavailable": str(exc), "sw": False}
            return False
        self._lap("probe", t)
        hw = [k for k, v in host.vendors.items() if v.available]
        self.say(
            "host",
            f"kernel {host.kernel}, KVM API {host.api_version}, VM types {host.vm_types:#x} "
            f"({', '.join(host.vm_type_names)}); hardware: {', '.join(hw) or 'none'}; "
            f"sw: yes (features {SW_SUPPORTED_VMSA_FEATURES:#x})",
        )
        self.summary["host"] = {
            "kernel": host.kernel,
            "vm_types": f"{host.vm_types:#x}",
            "hardware_vendors": hw,
        }
        self.summary["host"]["sw"] = True
        return True

    def plan(self) -> tuple[Any, bytes]:
        """2. The bundled guest's plan, 3. its predicted measurement."""
        from pvmkit.guest import attest_guest
        from pvmkit.vendors.amd.measure import measure_plan
        from pvmkit.vendors.sw.builder import bundled_guest_plan

        t = time.perf_counter()
        guest = bundled_guest_plan(
            nonce=self.nonce, vmsa_features=self.vmsa_features, policy=self.policy, host_data=self.host_data
        )
        self._lap("plan", t)
        t = time.perf_counter()
        predicted = measure_plan(guest.plan)
        self._lap("predict", t)
        features = guest.plan.init.sev_features
        self.say(
            "plan",
            f"bundled guest ({len(attest_guest())} B) at {guest.load_address:#x}, 1 vCPU, VMSA features "
            f"{features:#x} ({', '.join(decode_sev_features(features))}), policy {self.policy:#x}",
        )
        self.say("predicted", predicted.hex())
        self.summary.update(
            nonce=self.nonce.hex(),
            host_data=self.host_data.hex(),
            policy=f"{self.policy:#x}",
            vmsa_features=f"{features:#x}",
            measurement={"predicted": predicted.hex()},
        )
        return guest, predicted

    def measure_only(self) -> int:
        """Without KVM: the prediction is all there is (exit 1 with --require-kvm)."""
        self._lap("total", self.t_start)
        require = self.args.require_kvm
        self.summary.update(launched=False, verified=False, ok=not require, timings_ms=self.timings)
        if self.args.json:
            print_json(self.summary)
        else:
            sys.stdout.write("pvmkit demo: measure-only (no KVM): nothing was launched or attested\n")
        if require and self.kvm_error is not None:
            raise self.kvm_error  # its message already names the device and the errno
        return 0

    def keys(self) -> Any:
        """The software attestation keys (created on first use, which is said)."""
        from pvmkit.attest.software_ca import SoftwareAttestationKeys, default_directory

        t = time.perf_counter()
        key_dir = os.path.abspath(self.args.key) if self.args.key else default_directory()
        keys = SoftwareAttestationKeys.load_or_create(key_dir)
        created = keys.created  # of concurrent first launches on one directory, exactly one
        self._lap("keys", t)
        self.say(
            "keys",
            ("created software attestation keys in " if created else "software attestation keys in ")
            + key_dir,
        )
        self.summary["keys"] = {"directory": key_dir, "created": created}
        return keys

    def launch(self, guest: Any, keys: Any) -> Any:
        """4. The plan launched on /dev/kvm as a sw VM, and run until it stops."""
        from pvmkit.kvm import Kvm
        from pvmkit.vendors.sw.machine import launch_plan
        from pvmkit.vendors.sw.service import SoftwareReportService

        with Kvm.open(self.args.kvm) as kvm:
            run = launch_plan(
                guest.plan, kvm=kvm, service=SoftwareReportService(keys), timeout=self.args.timeout
            )
        result = run.result
        self.timings["launch"] = _ms(run.launch_seconds)
        self.timings["first_exit"] = _ms(result.first_exit_seconds or 0.0)
        self.timings["run"] = _ms(run.run_seconds)
        predicted = bytes.fromhex(self.summary["measurement"]["predicted"])
        match = run.measurement == predicted
        self.say(
            "launched",
            f"{run.measurement.hex()} ({'= prediction' if match else 'DIFFERS from the prediction'})",
        )
        guest_text = result.serial.decode("utf-8", "replace").strip()
        self.say("guest", f"{guest_text or '(no output)'} [{result.reason}, {result.exits} exits]")
        self.summary["measurement"].update(actual=run.measurement.hex(), match=match)
        self.summary["run"] = {"reason": result.reason, "exits": result.exits, "serial": guest_text}
        self.summary["launched"] = True
        return run

    def verify(self, run: Any, keys: Any, predicted: bytes) -> list[str]:
        """5. The report verified against the prediction; the problems found (none: verified)."""
        t = time.perf_counter()
        problems: list[str] = []
        if run.measurement != predicted:
            problems.append("the launch measurement differs from the prediction")
        if not run.result.halted:
            problems.append(f"the guest did not halt ({run.result.reason})")
        self.summary["verification"] = {}
        if run.report is None:
            problems.append("the guest obtained no report")
        else:
            problems += self._verify_report(run, keys, predicted)
        self._lap("verify", t)
        if problems:
            self.say("verified", "FAILED: " + "; ".join(problems))
        else:
            self.say(
                "verified",
                "software ARK -> ASK -> VCEK, report signature, MEASUREMENT = prediction, "
                "REPORT_DATA = nonce || tag, HOST_DATA, POLICY, VMPL 0",
            )
        return problems

    def _verify_report(self, run: Any, keys: Any, predicted: bytes) -> list[str]:
        from pvmkit.attest.verify import Expected, verify_report
        from pvmkit.guest import parse_guest_output, report_data_for

        problems = []
        try:
            if parse_guest_output(run.result.serial) != predicted:
                problems.append("the guest printed a measurement that differs from the prediction")
            expected = Expected(
                measurement=predicted,
                report_data=report_data_for(self.nonce),
                host_data=self.host_data,
                policy=self.policy,
                vmpl=0,
            )
            # the software CA the demo itself created is the trusted ARK
            verdict = verify_report(
                run.report,
                keys.vcek_pem,
                keys.chain_pem,
                trusted_ark_sha256=keys.ark_sha256,
                expected=expected,
            )
            self.summary["verification"] = {
                "checks": verdict.checks.to_list(),
                "ark_sha256": verdict.ark_sha256,
            }
        except VerificationError as exc:
            problems.append(str(exc))
        return problems

    def finish(self, problems: list[str]) -> int:
        """The timings line, the summary (text or JSON) and the exit status (3 when a check failed)."""
        self._lap("total", self.t_start)
        t = self.timings
        self.say(
            "timings",
            f"probe {t['probe']:.1f} ms, plan {t['plan']:.1f} ms, predict {t['predict']:.1f} ms, "
            f"keys {t['keys']:.1f} ms, launch {t['launch']:.1f} ms (first exit "
            f"{t['first_exit']:.1f} ms), run {t['run']:.1f} ms, verify {t['verify']:.1f} ms; "
            f"total {t['total']:.1f} ms",
        )
        self.summary.update(verified=not problems, problems=problems, timings_ms=t, ok=not problems)
        if self.args.json:
            print_json(self.summary)
        else:
            sys.stdout.write("pvmkit demo: OK\n" if not problems else "pvmkit demo: FAILED\n")
        if problems:
            raise VerificationError("demo: " + "; ".join(problems), field="demo")
        return 0
