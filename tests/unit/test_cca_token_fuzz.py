"""Fuzz the CCA token parser and verifier: mutated fixture tokens raise only pvmkit errors.

Property: for any mutation (bit flips, byte overwrites, insertions, deletions, truncation) of a real
token, of each of its inner COSE_Sign1 envelopes and of the claim payloads (re-signed, so the
mutation reaches the claim checks), ``parse_token`` + ``verify_token`` either succeed or raise a
:class:`~pvmkit.errors.PvmkitError`; nothing else escapes. Fixed seed and example budget (CI).
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pvmkit.attest.cca_verify import verify_token
from pvmkit.attest.cose_verify import load_public_key
from pvmkit.errors import PvmkitError
from pvmkit.formats.cca_token import parse_token
from support.cca_tokens import (
    CPAK_PEM,
    CPAK_PUB,
    G1_TOKEN,
    G2_TOKEN,
    G3_TOKEN,
    RAK_PEM,
    collection,
    private_key,
)
from support.fixtures import read_fixture

TOKENS = [G1_TOKEN, G2_TOKEN, G3_TOKEN]
#: CBOR heads that change an item's kind or length: 8-byte lengths, indefinite starts, tags, simple
INTERESTING = [
    0x00,
    0x18,
    0x19,
    0x1A,
    0x1B,
    0x40,
    0x5B,
    0x7B,
    0x9B,
    0xBB,
    0xBF,
    0xC0,
    0xC1,
    0xC2,
    0xD8,
    0xD9,
    0xF6,
    0xFF,
]


@st.composite
def mutations(draw: Any, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not out:
            break
        pos = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[pos] = draw(st.sampled_from(INTERESTING))
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=9))
        elif kind == "delete":
            del out[pos : pos + draw(st.integers(1, 8))]
        else:
            del out[pos:]
    return bytes(out)


def _check(data: bytes, cpak: Any) -> None:
    try:
        token = parse_token(data)
        verify_token(token, cpak=cpak)
    except PvmkitError:
        pass


@pytest.fixture(scope="module")
def cpak() -> Any:
    return load_public_key(read_fixture(CPAK_PUB), "cpak")


@pytest.mark.parametrize("relative", TOKENS)
@seed(20261205)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_tokens_raise_only_pvmkit_errors(relative: str, cpak: Any, data: Any) -> None:
    _check(data.draw(mutations(read_fixture(relative))), cpak)


@seed(20261206)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_claims_resigned_raise_only_pvmkit_errors(cpak: Any, data: Any) -> None:
    """Mutate a claims payload and sign it properly, so the mutation gets past the signature."""
    top = cbor2.loads(read_fixture(G3_TOKEN))
    which = data.draw(st.sampled_from([44234, 44241]))
    entries = {k: v[1] for k, v in top.value.items()}
    envelope = cbor2.loads(entries[which])
    payload = data.draw(mutations(envelope.value[2]))
    key = private_key(CPAK_PEM if which == 44234 else RAK_PEM)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    protected = envelope.value[0]
    r, s = decode_dss_signature(
        key.sign(cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA384()))
    )
    entries[which] = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, payload, r.to_bytes(48, "big") + s.to_bytes(48, "big")])
    )
    _check(collection(entries[44234], entries[44241], tag=907), cpak)
