"""Verify and appraise an Arm CCA attestation token; every step is a check in a :class:`CheckList`.

Procedure (draft-ffm-rats-cca-token §"Verification"; veraison/rust-ccatoken ``src/token/evidence.rs``;
TF-M ``iat-verifier`` ``cca_token_verifier.py``):

1. ``platform.trust-anchor``: the CPAK is the key given, or the trust-anchor store's entry whose
   instance id and implementation id are the token's (claims 256, 2396); none → "unrecognized
   instance".
2. ``platform.signature``: the platform COSE_Sign1 with the CPAK under its header algorithm (a key
   of the wrong curve fails).
3. ``realm.signature``: the realm COSE_Sign1 with the RAK the realm token carries (claim 44237: a raw
   SEC1 point in G1, a COSE_Key in G2/G3).
4. ``binding``: the platform challenge (claim 10) equals H(claim 44237 as carried), H named by claim
   44240 (RMM DEN0137 §A7.2.3.1 "the hash of the RAK").
5. ``realm.challenge``: the realm challenge equals the verifier's nonce, when one is given.
6. ``platform.lifecycle``: the security lifecycle is in the *secured* range (0x3000-0x30FF).
7. Appraisal against a rust-ccatoken reference-value store (``rv-store.*``; rust-ccatoken's order:
   implementation id known, then configuration and the whole software-component list equal to one
   entry, then the RIM, then REMs and RPV when that entry lists them) and against expected values
   (``expected.rim``, ``expected.rem0``-``3``, ``expected.rpv``, ``expected.hash-algo``), each an
   exact value or a set of acceptable values (:meth:`CheckList.compare`).

Malformed input raises a :class:`~pvmkit.errors.FormatError` before any check; a failed check never
raises.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pvmkit.attest.cca_store import ReferenceStore, TrustAnchor
from pvmkit.attest.cose_verify import key_from_cose, key_from_point, verify_sign1
from pvmkit.attest.result import CheckList
from pvmkit.errors import FormatError, SignatureError
from pvmkit.formats.cbor import decode
from pvmkit.formats.cca_token import CcaToken, SwComponent, lifecycle_name, parse_token
from pvmkit.formats.cose import Sign1, parse_cose_key

if TYPE_CHECKING:
    from pvmkit.attest.cose_verify import PublicKey

__all__ = ["CcaExpected", "CcaVerification", "Expected", "realm_public_key", "verify_token"]

#: An expected value: exact bytes, or a set of acceptable values (pvmkit.refvalues).
Expected = bytes | frozenset[bytes]

_HASHLIB = {"sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}


@dataclass(frozen=True)
class CcaExpected:
    """What the realm must show: ``rim``, ``rems`` (index → value), ``rpv``, the realm
    ``hash_algo`` (claim text, e.g. ``sha-256``) and the verifier's ``challenge`` (64 bytes)."""

    rim: Expected | None = None
    rems: dict[int, Expected] = field(default_factory=dict)
    rpv: Expected | None = None
    hash_algo: str | None = None
    challenge: bytes | None = None


@dataclass(frozen=True)
class CcaVerification:
    token: CcaToken
    checks: CheckList

    @property
    def ok(self) -> bool:
        return self.checks.ok


def realm_public_key(token: CcaToken) -> PublicKey:
    """The RAK of the realm token (FormatError when claim 44237 is not a public key of its form)."""
    realm = token.realm_claims
    what = "realm token public-key (44237)"
    if realm.rak_is_cose_key:
        return key_from_cose(parse_cose_key(decode(realm.rak, what=what), what), what)
    return key_from_point(realm.rak, what)


def _platform_key(
    token: CcaToken, cpak: PublicKey | None, anchors: Sequence[TrustAnchor], checks: CheckList
) -> PublicKey | None:
    claims = token.platform_claims
    if cpak is not None:
        checks.passed("platform.trust-anchor", "the CPAK given")
        return cpak
    for anchor in anchors:
        if anchor.instance_id == claims.instance_id and anchor.implementation_id == claims.implementation_id:
            checks.passed(
                "platform.trust-anchor", "instance found in the trust-anchor store", actual=claims.instance_id
            )
            return anchor.key
    if not anchors:
        checks.not_performed("platform.trust-anchor", "no CPAK or trust-anchor store given")
    else:
        checks.failed(
            "platform.trust-anchor",
            "unrecognized instance: no trust anchor has this instance and implementation id",
            expected=frozenset(a.instance_id for a in anchors),
            actual=claims.instance_id,
        )
    return None


def _signature(checks: CheckList, name: str, sign1: Sign1, key: PublicKey, what: str) -> None:
    try:
        verify_sign1(sign1, key, what)
    except SignatureError as exc:
        checks.failed(name, str(exc), expected=exc.expected, actual=exc.actual)
    else:
        checks.passed(name, f"{what} signature verifies")


def _binding(token: CcaToken, checks: CheckList) -> None:
    realm, platform = token.realm_claims, token.platform_claims
    digest = hashlib.new(_HASHLIB[realm.rak_hash_algo], realm.rak).digest()
    checks.compare(
        "binding",
        digest,
        platform.challenge,
        f"platform challenge = {realm.rak_hash_algo}(realm public key)",
    )


def _components_match(reference: Sequence[SwComponent], token: Sequence[SwComponent]) -> bool:
    """The same components in the same order (rust-ccatoken compares the lists), each with equal
    measurement, signer id, type and version; the hash algorithm only where the reference gives one
    (rust-ccatoken's store has no such field, and Trustee's store omits it while tokens carry it)."""
    return len(reference) == len(token) and all(
        (r.measurement, r.signer_id, r.component_type, r.version)
        == (t.measurement, t.signer_id, t.component_type, t.version)
        and (r.hash_algo is None or r.hash_algo == t.hash_algo)
        for r, t in zip(reference, token, strict=True)
    )


def _appraise_store(token: CcaToken, store: ReferenceStore, checks: CheckList) -> None:
    platform, realm = token.platform_claims, token.realm_claims
    if store.platform:
        known = [p for p in store.platform if p.implementation_id == platform.implementation_id]
        checks.compare(
            "rv-store.platform.implementation-id",
            frozenset(p.implementation_id for p in store.platform),
            platform.implementation_id,
        )
        if known:
            components = platform.sw_components
            match = any(
                p.config == platform.config and _components_match(p.sw_components, components) for p in known
            )
            if match:
                checks.passed("rv-store.platform", "configuration and software components match an entry")
            else:
                checks.failed(
                    "rv-store.platform",
                    "no entry for this implementation has the token's configuration and software components",
                )
    else:
        checks.not_performed("rv-store.platform", "the store lists no platform")
    if not store.realm:
        checks.not_performed("rv-store.realm.rim", "the store lists no realm")
        return
    entries = [r for r in store.realm if r.rim == realm.rim]
    checks.compare("rv-store.realm.rim", frozenset(r.rim for r in store.realm), realm.rim)
    if not entries:
        return
    with_rems = [e.rems for e in entries if e.rems is not None]
    if with_rems:
        checks.compare("rv-store.realm.rems", frozenset(b"".join(r) for r in with_rems), b"".join(realm.rems),
                       "the four REMs, concatenated")  # fmt: skip
    with_rpv = [e.rpv for e in entries if e.rpv is not None]
    if with_rpv:
        checks.compare("rv-store.realm.rpv", frozenset(with_rpv), realm.rpv)


def _appraise_expected(token: CcaToken, expected: CcaExpected, checks: CheckList) -> None:
    realm = token.realm_claims
    checks.compare(
        "expected.rim", expected.rim, realm.rim, "" if expected.rim is not None else "no RIM given"
    )
    for index in sorted(expected.rems):
        checks.compare(f"expected.rem{index}", expected.rems[index], realm.rems[index])
    if expected.rpv is not None:
        checks.compare("expected.rpv", expected.rpv, realm.rpv)
    if expected.hash_algo is not None:
        checks.compare("expected.hash-algo", expected.hash_algo, realm.hash_algo)


def verify_token(
    token: CcaToken | bytes,
    *,
    cpak: PublicKey | None = None,
    trust_anchors: Sequence[TrustAnchor] = (),
    references: ReferenceStore | None = None,
    expected: CcaExpected | None = None,
) -> CcaVerification:
    """Every check of the module docstring, in order. FormatError for a malformed token."""
    if isinstance(token, (bytes, bytearray)):
        token = parse_token(bytes(token))
    expected = expected or CcaExpected()
    if expected.challenge is not None and len(expected.challenge) != 64:
        raise FormatError(f"the expected realm challenge is 64 bytes, got {len(expected.challenge)}")
    rak = realm_public_key(token)
    checks = CheckList()
    key = _platform_key(token, cpak, trust_anchors, checks)
    if key is None:
        checks.not_performed("platform.signature", "no CPAK for this platform")
    else:
        _signature(checks, "platform.signature", token.platform, key, "platform token")
    _signature(checks, "realm.signature", token.realm, rak, "realm token")
    _binding(token, checks)
    if expected.challenge is not None:
        checks.compare(
            "realm.challenge", expected.challenge, token.realm_claims.challenge, "the verifier's nonce"
        )
    else:
        checks.not_performed("realm.challenge", "no challenge given: freshness not checked")
    lifecycle = token.platform_claims.lifecycle
    state = lifecycle_name(lifecycle)
    if state == "secured":
        checks.passed("platform.lifecycle", f"{lifecycle:#06x} (secured)")
    else:
        checks.failed(
            "platform.lifecycle",
            f"{lifecycle:#06x} ({state}) is not secured",
            expected="secured",
            actual=state,
        )
    if references is not None:
        _appraise_store(token, references, checks)
    _appraise_expected(token, expected, checks)
    return CcaVerification(token, checks)
