"""Throughput per core on a shared machine: calls per CPU second, interleaved rounds, best round.

The verification benches (``bench_tdx_verify.py``, ``bench_snp_verify.py``) compare paths measured in
the same run. On a machine shared by other jobs the wall clock mostly measures the load, so a path is
timed by this process's CPU time (``time.process_time``: the benches are single-threaded, so this is
the time one core spent on it), and the paths are measured in turn, round after round, keeping each
path's best round: a load burst then slows one round of one path, not one path against another.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def cpu_rate(fn: Callable[[], object], seconds: float, per_call: int = 1) -> float:
    """Units per CPU second of ``fn`` (each call handles ``per_call`` units), over about ``seconds``
    of CPU time, after one warm-up call."""
    fn()
    calls, start = 0, time.process_time()
    while True:
        fn()
        calls += 1
        used = time.process_time() - start
        if used >= seconds:
            return calls * per_call / used


def best_rates(
    paths: dict[str, tuple[Callable[[], object], int]], seconds: float, rounds: int
) -> dict[str, float]:
    """For each named ``(fn, units per call)``, the best of ``rounds`` interleaved :func:`cpu_rate`
    measurements of ``seconds`` each."""
    best = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for name, (fn, per_call) in paths.items():
            best[name] = max(best[name], cpu_rate(fn, seconds, per_call))
    return best


#: Issue 11's figures for this machine, measured before appraisal and caching existed: verifications
#: per second per core, and the cost of one P-384 ECDSA verification at the same time (3,100/s).
ISSUE_BASELINE = {"snp": 1050.0, "tdx": 1400.0}
ISSUE_P384_RATE = 3100.0


def p384_verify() -> Callable[[], object]:
    """One ECDSA P-384/SHA-384 verification of a fresh signature: the yardstick that scales the
    issue's baseline to this run's machine speed (:func:`scaled_baseline`)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    algorithm = ec.ECDSA(hashes.SHA384())
    data = bytes(672)  # the size of the signed part of an SNP report
    signature = key.sign(data, algorithm)
    public = key.public_key()
    return lambda: public.verify(signature, data, algorithm)


def scaled_baseline(vendor: str, p384_rate: float) -> float:
    """Issue 11's baseline rate for ``vendor`` scaled by this run's P-384 rate against the issue's:
    the machine (and its load) the issue measured on, translated to this run."""
    return ISSUE_BASELINE[vendor] * p384_rate / ISSUE_P384_RATE
