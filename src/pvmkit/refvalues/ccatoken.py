"""The rust-ccatoken reference-value store's ``realm`` entries (Trustee's local CCA verifier reads them).

Schema: veraison/rust-ccatoken ``src/store/data-model.cddl`` (``realm-rv``): ``"initial-measurement"``,
optional ``"extensible-measurements"`` (four), optional ``"personalization-value"`` (64 bytes) and
``"rak-hash-algorithm"`` (an IANA hash text name), byte values as lowercase hex, as in Trustee's
``deps/verifier/test_data/cca/conf/rvstore.json``. rust-ccatoken compares the REMs only when an
entry lists them. The RAK hash algorithm is the platform's (the attestation key's), not the
realm's: ``sha-256`` unless given.
"""

from __future__ import annotations

from typing import Any

from pvmkit.refvalues.model import RefValueSet
from pvmkit.refvalues.names import CCA_RIM

__all__ = ["realm_entries"]

_PREFIX = "cca.realm.cca-realm-"


def realm_entries(rvs: RefValueSet, rak_hash_algorithm: str = "sha-256") -> list[dict[str, Any]]:
    """One ``realm`` entry per RIM, each with the set's REMs and RPV when it holds exactly one of each."""
    rems = [rvs.distinct(f"{_PREFIX}extensible-measurements-{i}") for i in range(4)]
    rpv = rvs.distinct(f"{_PREFIX}personalization-value")
    out = []
    for rim in rvs.distinct(CCA_RIM):
        assert isinstance(rim, bytes)
        entry: dict[str, Any] = {"initial-measurement": rim.hex()}
        if all(len(r) == 1 for r in rems):
            entry["extensible-measurements"] = [r[0].hex() for r in rems if isinstance(r[0], bytes)]
        if len(rpv) == 1 and isinstance(rpv[0], bytes):
            entry["personalization-value"] = rpv[0].ljust(64, b"\0").hex()
        entry["rak-hash-algorithm"] = rak_hash_algorithm
        out.append(entry)
    return out
