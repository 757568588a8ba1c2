"""TDX/SGX quote verification and Intel TCB appraisal throughput, cached and uncached, in one run.

A verification service sees the same PCK chain, QE report and collateral for every quote of a
platform; pvmkit caches what does not change by content (``pvmkit.attest.dcap_verify``). This bench
appraises the fixture quotes that have a TCB status (``dcap-appraisal-cases.json``: TDX v4/v5 and SGX
v3, each with its collateral at its evaluation time), repeated, in-process on one core:

* **uncached**: every cache cleared before each quote (``dcap_verify.clear_caches``), as a fresh
  process would verify it: ~16 ECDSA verifications (PCK chain, QE report, quote, collateral chains,
  TCB Info and QE Identity signatures, CRLs) plus certificate, CRL and JSON parsing;
* **cached**: the steady state, where only the quote's own signature, its parsing and the
  time-dependent checks remain;
* **floor**: one ECDSA P-256/SHA-256 verification of a quote's signature with ``cryptography``, the
  one cryptographic operation no cache can save.

Prints quotes/s/core for each, the speed-up and the cached rate as a share of the floor.

    python bench/bench_tdx_verify.py [--seconds S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pvmkit.attest.dcap_verify import appraise_quote, clear_caches  # noqa: E402
from pvmkit.formats.sgx_quote import parse_dcap_quote  # noqa: E402
from support import dcap_cases  # noqa: E402

#: The statuses of the fixture quotes, accepted so that every appraisal in the stream passes.
ACCEPT = ("SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate")


def _stream() -> list[tuple[bytes, object, object]]:
    out = []
    for c in dcap_cases.load_cases():
        if "tcb_status" in c["expected"]:
            out.append((dcap_cases.quote_bytes(c), dcap_cases.collateral(c), dcap_cases.at(c)))
    return out


def _rate(stream: list[tuple[bytes, object, object]], seconds: float, cold: bool) -> float:
    done, start = 0, time.perf_counter()
    while True:
        for raw, collateral, at in stream:
            if cold:
                clear_caches()
            result = appraise_quote(
                raw,
                collateral=collateral,
                at=at,
                allow_debug=True,
                accept_status=ACCEPT,  # type: ignore[arg-type]
            )
            assert result.ok, [c.text() for c in result.checks.failures]
            done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def _floor(raw: bytes, seconds: float) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    quote = parse_dcap_quote(raw)
    sig = quote.signature_data
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + sig.attestation_key)
    r, s = int.from_bytes(sig.signature[:32], "big"), int.from_bytes(sig.signature[32:], "big")
    der = encode_dss_signature(r, s)
    signed = raw[: quote.body_offset + quote.body_size]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        done += 100
    return done / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    args = ap.parse_args()
    stream = _stream()
    print(f"{len(stream)} quotes with collateral (fixture cases), repeated; one core")
    floor = _floor(stream[0][0], args.seconds)
    uncached = _rate(stream, args.seconds, cold=True)
    clear_caches()
    cached = _rate(stream, args.seconds, cold=False)
    print(f"ECDSA P-256 verify floor   {floor:9.0f} /s  (one quote signature)")
    print(f"uncached appraisal          {uncached:9.0f} quotes/s/core")
    print(f"cached appraisal            {cached:9.0f} quotes/s/core")
    print(f"speed-up                    {cached / uncached:9.1f} x  (target >= 2x)")
    share = 100 * cached / floor
    print(f"share of the ECDSA floor    {share:9.0f} %  (target >= 90 % where 2x is out of reach)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
