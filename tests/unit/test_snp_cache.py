"""The SNP endorsement cache can never turn a failure into a pass.

The real go-sev-guest report, its VCEK and the Milan ASK+ARK (``../shared/fixtures/go-sev-guest``;
tests/vectors/README.md) are verified once, so :class:`~pvmkit.attest.verify.EndorsementCache` holds
them; then one bit is flipped in the signature of the VCEK, the ASK or the ARK, or in the report's
signature or body, and the verification must fail the check covering it, after which the unchanged
inputs must still pass.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pvmkit.attest.verify import EndorsementCache, SnpVerification, verify_snp
from support.bitflip import flip, flip_certificate
from support.fixtures import read_fixture

AT = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)

#: input -> (which of report/vcek/chain, how to change it, the check that must fail). Offsets: AMD
#: SEV-SNP ABI ATTESTATION_REPORT (MEASUREMENT at 0x90, the signature's R at 0x2A0).
TAMPER = {
    "vcek": ("vcek", lambda b: flip_certificate(b, 0), "chain"),
    "ask": ("chain", lambda b: flip_certificate(b, 0), "chain"),
    "ark": ("chain", lambda b: flip_certificate(b, 1), "chain"),
    "report_body": ("report", lambda b: flip(b, 0x90), "signature"),
    "report_signature": ("report", lambda b: flip(b, 0x2A0), "signature"),
}


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_warm_cache_refuses_a_flipped_bit(name: str) -> None:
    good = {
        "report": read_fixture("go-sev-guest/attestation.bin"),
        "vcek": read_fixture("go-sev-guest/vcek.testcer"),
        "chain": read_fixture("go-sev-guest/milan.testcer"),
    }
    cache = EndorsementCache(size=4)

    def verify(inputs: dict[str, bytes]) -> SnpVerification:
        return verify_snp(
            inputs["report"], inputs["vcek"], inputs["chain"], at=AT, expected=None, cache=cache
        )

    assert verify(good).ok
    which, change, check_name = TAMPER[name]
    bad = dict(good, **{which: change(good[which])})
    assert bad[which] != good[which]
    result = verify(bad)
    check = result.checks.get(check_name)
    assert check is not None and check.status == "failed", [c.text() for c in result.checks]
    assert verify(good).ok
