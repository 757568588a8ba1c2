"""Cross-check pvmkit's COSE_Sign1 verification and COSE_Key reading against pycose 1.1.0 (the COSE
library TF-M's iat-verifier uses), a test dependency used as an oracle.

pycose is driven through ``Sign1Message.from_cose_obj`` on the envelope cbor2 decoded (its own
``decode`` expects cbor2 5's mutable containers). For every envelope of every fixture token, and for
single-bit corruptions of the signature and payload, pvmkit and pycose must agree.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from pvmkit.attest.cose_verify import key_curve, load_public_key, raw_public_point, verify_sign1
from pvmkit.errors import SignatureError
from pvmkit.formats.cbor import decode
from pvmkit.formats.cose import parse_sign1
from support.cca_tokens import CPAK_PUB, G1_TOKEN, G2_TOKEN, G3_TOKEN, TRUSTEE_TOKEN
from support.fixtures import import_peer, read_fixture

pytestmark = pytest.mark.crosscheck
pycose_messages = import_peer("pycose.messages")
pycose_keys = import_peer("pycose.keys")


def _pycose_verify(envelope: bytes, key: Any) -> bool:
    value = cbor2.loads(envelope).value
    message = pycose_messages.Sign1Message.from_cose_obj([value[0], dict(value[1]), value[2], value[3]], True)
    message.key = key
    return bool(message.verify_signature())


def _pvmkit_verify(envelope: bytes, key: Any) -> bool:
    try:
        verify_sign1(parse_sign1(decode(envelope, what="t"), "t"), key, "t")
    except SignatureError:
        return False
    return True


def _pycose_key(pvmkit_key: Any) -> Any:
    point = raw_public_point(pvmkit_key)
    size = (len(point) - 1) // 2
    crv = {"P-256": "P_256", "P-384": "P_384", "P-521": "P_521"}[key_curve(pvmkit_key)]
    return pycose_keys.EC2Key(crv=crv, x=point[1 : 1 + size], y=point[1 + size :])


def _corrupt(envelope: bytes, index: int, bit: int) -> bytes:
    value = list(cbor2.loads(envelope).value)
    part = bytearray(value[index])
    part[len(part) // 2] ^= 1 << bit
    value[index] = bytes(part)
    return cbor2.dumps(cbor2.CBORTag(18, value))


@pytest.mark.parametrize("relative", [G1_TOKEN, TRUSTEE_TOKEN, G2_TOKEN, G3_TOKEN])
def test_envelopes_agree_with_pycose(relative: str) -> None:
    top = cbor2.loads(read_fixture(relative))
    entries = {k: (v if isinstance(v, bytes) else v[1]) for k, v in top.value.items()}
    cpak = load_public_key(read_fixture(CPAK_PUB), "cpak")
    realm_claims = cbor2.loads(cbor2.loads(entries[44241]).value[2])
    rak_bytes = realm_claims[44237]
    if len(rak_bytes) == 97:  # G1: raw point
        from pvmkit.attest.cose_verify import key_from_point

        rak = key_from_point(rak_bytes, "rak")
        rak_pycose = _pycose_key(rak)
    else:  # COSE_Key: pycose decodes it itself, pvmkit from the same bytes
        rak = load_public_key(rak_bytes, "rak")
        rak_pycose = pycose_keys.CoseKey.decode(rak_bytes)
        assert raw_public_point(rak)[1:49] == rak_pycose.x
    for envelope, key, key_pycose in (
        (entries[44234], cpak, _pycose_key(cpak)),
        (entries[44241], rak, rak_pycose),
    ):
        assert _pycose_verify(envelope, key_pycose) is True
        assert _pvmkit_verify(envelope, key) is True
        for index in (2, 3):  # payload, signature
            bad = _corrupt(envelope, index, 3)
            assert _pycose_verify(bad, key_pycose) is _pvmkit_verify(bad, key) is False


def test_cose_key_from_the_draft() -> None:
    """The CPAK as the draft's COSE_Key (cddl/misc/pak.diag, turned into CBOR by cbor-diag) is the
    same key as the PEM one; pycose reads the same coordinates."""
    cbor_diag = import_peer("cbor_diag")
    data = cbor_diag.diag2cbor(read_fixture("cca-token-draft/cddl/misc/pak.diag").decode())
    from_cose = load_public_key(data, "pak")
    from_pem = load_public_key(read_fixture(CPAK_PUB), "pem")
    assert raw_public_point(from_cose) == raw_public_point(from_pem)
    assert pycose_keys.CoseKey.decode(data).x == raw_public_point(from_pem)[1:49]
