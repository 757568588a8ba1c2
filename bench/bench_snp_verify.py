"""SNP verification and appraisal throughput, in-process, against the P-384 ECDSA floor.

A verification service sees the same VCEK and chain many times. This streams the real go-sev-guest
report (from the fixtures, or ``--report/--vcek/--chain``) through ``pvmkit.attest.verify.verify_snp``
with appraisal on (a policy with a measurement set, TCB minimums, firmware minimums, PLATFORM_INFO)
and prints, in one run:

* **uncached**: every verification parses the three certificates and checks the chain's RSA
  signatures (``cache=None``);
* **cached**: the steady state of a service, the endorsement (parsed certificates, chain signatures,
  VCEK extensions) taken from ``EndorsementCache`` by content; validity, the report signature and the
  appraisal still run every time;
* **floor**: one ECDSA P-384/SHA-384 verification of the report's signature with ``cryptography``
  alone, the least any verifier of this report must do.

Figures are verifications per second on one core (this process is single-threaded), each measured
for about ``--seconds`` seconds.

    python bench/bench_snp_verify.py [--seconds S] [--report R --vcek V --chain C --at ISO-TIME]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from pvmkit.attest.snp_report import SIGNED_SIZE, SnpReport, amd_signature_to_der
from pvmkit.attest.snp_validate import SnpExpected
from pvmkit.attest.verify import EndorsementCache, load_certificates, verify_snp

REPO = Path(__file__).resolve().parents[1]


def _fixtures() -> Path:
    return Path(os.environ.get("PVMKIT_FIXTURES", REPO.parent / "shared" / "fixtures")) / "go-sev-guest"


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=1.5, help="time per measurement (default 1.5)")
    p.add_argument("--report", help="SNP report (default: the go-sev-guest fixture)")
    p.add_argument("--vcek", help="its VCEK (default: the fixture's)")
    p.add_argument("--chain", help="its ASK+ARK (default: the fixture's Milan chain)")
    p.add_argument("--at", default="2025-06-01T00:00:00+00:00", help="certificate time (ISO 8601)")
    args = p.parse_args(argv)
    g = _fixtures()
    try:
        report = Path(args.report or g / "attestation.bin").read_bytes()
        vcek = Path(args.vcek or g / "vcek.testcer").read_bytes()
        chain = Path(args.chain or g / "milan.testcer").read_bytes()
    except OSError as exc:
        print(
            f"bench_snp_verify: {exc} (set PVMKIT_FIXTURES or give --report/--vcek/--chain)", file=sys.stderr
        )
        return 1
    at = dt.datetime.fromisoformat(args.at)
    parsed = SnpReport.parse(report)
    expected = SnpExpected(
        guest_policy=parsed.policy | 0x30000,  # what this report's guest asks for (the fixture allows DEBUG)
        measurement=frozenset({parsed.measurement, bytes(48)}),
        min_reported_tcb=parsed.reported_tcb,
        min_launch_tcb=parsed.launch_tcb,
        min_build=parsed.current_build,
        min_version=(parsed.current_major, parsed.current_minor),
        platform_info=parsed.platform_info,
        report_data=parsed.report_data,
        vmpl=parsed.vmpl,
    )
    cache = EndorsementCache()

    def uncached() -> None:
        assert verify_snp(report, vcek, chain, at=at, expected=expected, cache=None).ok

    def cached() -> None:
        assert verify_snp(report, vcek, chain, at=at, expected=expected, cache=cache).ok

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = load_certificates(vcek)[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signature, body = amd_signature_to_der(parsed.signature), report[:SIGNED_SIZE]

    def floor() -> None:
        key.verify(signature, body, ec.ECDSA(hashes.SHA384()))

    rates = {name: _rate(fn, args.seconds) for name, fn in (("floor", floor), ("uncached", uncached),
                                                             ("cached", cached))}  # fmt: skip
    checks = len(verify_snp(report, vcek, chain, at=at, expected=expected, cache=cache).checks)
    print(f"SNP verify + appraise ({checks} checks per report), verifications/s on one core:")
    print(f"  uncached (parse certificates, verify chain every time): {rates['uncached']:8.0f}")
    print(f"  cached   (endorsement cache, steady state):             {rates['cached']:8.0f}")
    print(f"  floor    (one P-384 ECDSA verification alone):          {rates['floor']:8.0f}")
    print(
        f"  speed-up cached/uncached {rates['cached'] / rates['uncached']:.2f}x; "
        f"cached reaches {100 * rates['cached'] / rates['floor']:.0f}% of the ECDSA floor"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
