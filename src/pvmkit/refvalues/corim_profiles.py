"""Reference values in CoRIM: the SNP, TDX and CCA profiles pvmkit writes and reads.

* **SNP** — ``tag:amd.com,2025:snp-corim-profile`` (draft-deeglaze-amd-sev-snp-corim-profile):
  environment class-id ``111(OID 1.3.6.1.4.1.3704.3.1)`` (VCEK-signed reports; content octets only,
  RFC 9090); MEASUREMENT is mkey 641 with ``2: [[7, 48 bytes]]`` (7 = sha-384 in the IANA Named
  Information registry); HOST_DATA mkey 642 with ``4: 560(bytes)``.
* **TDX** — Microsoft's launch-measurement profile ``tag:microsoft.com,2026:launch-measurement/v1``
  (microsoft/igvm ``igvm/src/corim/launch_measurement``): class ``{1: "Intel", 2: "TDX"}``, mkey
  ``"MRTD"`` with ``2: [[7, 48 bytes]]``, tag-id the UUIDv5 of ``"Intel/TDX"`` in that profile's
  namespace. No published profile carries RTMRs; **pvmkit's choice** (documented in
  docs/reference-values.md): an mkey ``"RTMR"`` measurement whose integrity registers (14) are
  ``{index: [[7, value]]}``, register ids being the RTMR index (uint).
* **CCA realm** — ``tag:arm.com,2025:cca_realm#1.0.0`` (draft-ydb-rats-cca-endorsements; Veraison
  ``profiles/cca``): class-id ``560(RIM)``; mkeys ``"cca.rim"`` (mandatory), ``"cca.rem0"``…``"cca.rem3"``
  with exactly one ``[alg, digest]``, ``"cca.rpv"`` with ``4: 560(bytes)``. The *legacy* encoding
  (profile ``http://arm.com/cca/realm/1``, the cca-realm-measurements / cocli template): instance
  ``560(RIM)``, one measurement with ``raw-value`` = RPV and integrity registers ``"rim"``,
  ``"rem0"``…``"rem3"``.

A set's values are alternatives, so each value gets its own reference triple (the measurements of
one triple must all match together).
"""

from __future__ import annotations

import uuid
from typing import Any

from pvmkit.errors import FormatError, InputError
from pvmkit.refvalues.corim import (
    TAG_OID,
    TAG_TAGGED_BYTES,
    TAG_URI,
    Comid,
    Corim,
    Environment,
    Measurement,
    ReferenceTriple,
    oid_bytes,
    oid_text,
)
from pvmkit.refvalues.model import RefValueSet
from pvmkit.refvalues.names import CCA_RIM, SNP_MEASUREMENT

__all__ = [
    "CCA_LEGACY",
    "CCA_REALM",
    "LAUNCH_MEASUREMENT",
    "SNP",
    "build_corim",
    "corim_values",
    "launch_tag_id",
]

SNP = "tag:amd.com,2025:snp-corim-profile"
LAUNCH_MEASUREMENT = "tag:microsoft.com,2026:launch-measurement/v1"
CCA_REALM = "tag:arm.com,2025:cca_realm#1.0.0"
CCA_LEGACY = "http://arm.com/cca/realm/1"
CCA_PLATFORM = "tag:arm.com,2025:cca_platform#1.0.0"
#: VCEK-signed SNP reports ("by chip"); .3.2 is VLEK-signed ("by CSP").
SNP_VCEK_OID = "1.3.6.1.4.1.3704.3.1"
SNP_VLEK_OID = "1.3.6.1.4.1.3704.3.2"
SNP_MKEY_MEASUREMENT, SNP_MKEY_HOST_DATA = 641, 642
#: microsoft/igvm launch-measurement profile: namespace of its tag-id UUIDv5s.
LAUNCH_NAMESPACE = uuid.UUID("85f3f1c2-22a8-441e-a1b9-bccfb63ed5f7")
#: IANA Named Information Hash Algorithm registry ids, by digest size.
_ALG_OF_SIZE = {32: 1, 48: 7, 64: 8}
_SIZE_OF_ALG: dict[int | str, int] = {1: 32, 7: 48, 8: 64, "sha-256": 32, "sha-384": 48, "sha-512": 64}
_CCA_REALM_PREFIX = "cca.realm.cca-realm-"
_CCA_REM = [f"{_CCA_REALM_PREFIX}extensible-measurements-{i}" for i in range(4)]
_CCA_RPV = f"{_CCA_REALM_PREFIX}personalization-value"


def _tag(tag: int, value: Any) -> Any:
    import cbor2

    return cbor2.CBORTag(tag, value)


def launch_tag_id(vendor: str, tee: str) -> str:
    """The launch-measurement profile's tag-id: lowercase UUIDv5 of ``"<vendor>/<tee>"``."""
    return str(uuid.uuid5(LAUNCH_NAMESPACE, f"{vendor}/{tee}"))


def _digest(value: bytes) -> list[list[Any]]:
    return [[_ALG_OF_SIZE[len(value)], value]]


def _triple(env: dict[Any, Any], measurements: list[dict[Any, Any]]) -> ReferenceTriple:
    return ReferenceTriple(
        Environment(klass=env.get(0), instance=env.get(1)),
        [Measurement(mkey=m.get(0), values=m[1]) for m in measurements],
    )


def build_corim(
    rvs: RefValueSet, vendor: str, *, cca_legacy: bool = False, corim_id: str | None = None
) -> Corim:
    """The unsigned CoRIM (tag 501) for ``rvs``. Names the profile cannot carry are refused."""
    names = set(rvs.values)
    triples: list[ReferenceTriple] = []
    if vendor in ("snp", "sw"):
        profile, default_id = SNP, "pvmkit SNP reference values"
        carried = {SNP_MEASUREMENT, "snp_host_data"}
        env = {0: {0: _tag(TAG_OID, oid_bytes(SNP_VCEK_OID))}}
        for value in rvs.distinct(SNP_MEASUREMENT):
            triples.append(_triple(env, [{0: SNP_MKEY_MEASUREMENT, 1: {2: _digest(_bytes(value))}}]))
        for value in rvs.distinct("snp_host_data"):
            triples.append(
                _triple(env, [{0: SNP_MKEY_HOST_DATA, 1: {4: _tag(TAG_TAGGED_BYTES, _bytes(value))}}])
            )
        tag_id: Any = str(uuid.uuid5(LAUNCH_NAMESPACE, "pvmkit/AMD/SEV-SNP"))
    elif vendor == "tdx":
        profile, default_id = LAUNCH_MEASUREMENT, "Intel/TDX/launch-measurement"
        carried = {"mr_td", *(f"rtmr_{i}" for i in range(4))}
        env = {0: {1: "Intel", 2: "TDX"}}
        for value in rvs.distinct("mr_td"):
            triples.append(_triple(env, [{0: "MRTD", 1: {2: _digest(_bytes(value))}}]))
        for i in range(4):
            for value in rvs.distinct(f"rtmr_{i}"):
                triples.append(_triple(env, [{0: "RTMR", 1: {14: {i: _digest(_bytes(value))}}}]))
        tag_id = launch_tag_id("Intel", "TDX")
    elif vendor == "cca":
        carried = {CCA_RIM, *_CCA_REM, _CCA_RPV}
        extra = _cca_single(rvs)
        if cca_legacy:
            profile, default_id = CCA_LEGACY, "pvmkit CCA realm reference values"
            for rim in rvs.distinct(CCA_RIM):
                registers: dict[Any, Any] = {"rim": _digest(_bytes(rim))}
                registers.update({f"rem{i}": _digest(v) for i, v in extra["rems"].items()})
                mval: dict[Any, Any] = {}
                if extra["rpv"] is not None:
                    mval[4] = _tag(TAG_TAGGED_BYTES, extra["rpv"])
                mval[14] = registers
                env = {0: {1: "pvmkit"}, 1: _tag(TAG_TAGGED_BYTES, _bytes(rim))}
                triples.append(_triple(env, [{1: mval}]))
        else:
            profile, default_id = CCA_REALM, "pvmkit CCA realm reference values"
            for rim in rvs.distinct(CCA_RIM):
                ms: list[dict[Any, Any]] = [{0: "cca.rim", 1: {2: _digest(_bytes(rim))}}]
                ms += [{0: f"cca.rem{i}", 1: {2: _digest(v)}} for i, v in extra["rems"].items()]
                if extra["rpv"] is not None:
                    ms.append({0: "cca.rpv", 1: {4: _tag(TAG_TAGGED_BYTES, extra["rpv"])}})
                triples.append(_triple({0: {0: _tag(TAG_TAGGED_BYTES, _bytes(rim))}}, ms))
        tag_id = str(uuid.uuid5(LAUNCH_NAMESPACE, "pvmkit/Arm/CCA-realm"))
    else:
        raise InputError(f"no CoRIM profile carries {vendor} reference values (snp, sw, tdx, cca have one)")
    left = sorted(names - carried)
    if left:
        raise InputError(f"the {profile} CoRIM cannot carry {', '.join(left)}; use --format trustee or json")
    if not triples:
        raise InputError("no reference value for the CoRIM")
    comid = Comid(tag_identity={0: tag_id}, reference_triples=triples)
    return Corim(id=corim_id or default_id, tags=[comid], profile=_tag(TAG_URI, profile))


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes)
    return value


def _cca_single(rvs: RefValueSet) -> dict[str, Any]:
    """REMs and RPV go into every RIM's triple: one value each at most."""
    rems: dict[int, bytes] = {}
    for i, name in enumerate(_CCA_REM):
        values = rvs.distinct(name)
        if len(values) > 1:
            raise InputError(f"{name}: {len(values)} values; a CCA realm CoRIM carries one per RIM")
        if values:
            rems[i] = _bytes(values[0])
    rpv = rvs.distinct(_CCA_RPV)
    if len(rpv) > 1:
        raise InputError(f"{_CCA_RPV}: {len(rpv)} values; a CCA realm CoRIM carries one per RIM")
    return {"rems": rems, "rpv": _bytes(rpv[0]) if rpv else None}


# -- reading -----------------------------------------------------------------------------------------


def _one_digest(m: Measurement, what: str) -> bytes:
    digests = m.digests()
    if len(digests) != 1:
        raise FormatError(f"{what}: expected exactly one digest, got {len(digests)}", what=what)
    alg, value = digests[0]
    if _SIZE_OF_ALG.get(alg) != len(value):
        raise FormatError(f"{what}: a {len(value)}-byte digest with algorithm {alg!r}", what=what)
    return value


def corim_values(corim: Corim, source: str) -> RefValueSet:
    """The reference values a CoRIM of one of pvmkit's profiles holds (FormatError for an unknown
    or missing profile, and for triples the profile does not allow)."""
    profile = corim.profile_id
    rvs = RefValueSet()
    origin = {"source": source, "profile": profile or ""}
    if profile is None:
        raise FormatError(
            f"{source}: the CoRIM names no profile, so which evidence its measurements describe is unknown",
            what=source,
        )
    readers = {
        SNP: _read_snp,
        LAUNCH_MEASUREMENT: _read_launch,
        CCA_REALM: _read_cca,
        CCA_LEGACY: _read_cca_legacy,
    }
    reader = readers.get(profile)
    if reader is None:
        raise FormatError(
            f"{source}: unknown CoRIM profile {profile!r} (pvmkit reads {', '.join(readers)})", what=source
        )
    for comid in corim.comids():
        for triple in comid.reference_triples:
            reader(rvs, triple, origin, source)
    if not rvs.values:
        raise FormatError(f"{source}: the {profile} CoRIM holds no reference value", what=source)
    return rvs


def _read_snp(rvs: RefValueSet, triple: ReferenceTriple, origin: dict[str, str], source: str) -> None:
    klass = triple.environment.klass or {}
    class_id: Any = klass.get(0)
    oid = oid_text(class_id.value) if getattr(class_id, "tag", None) == TAG_OID else None
    if oid not in (SNP_VCEK_OID, SNP_VLEK_OID):
        raise FormatError(
            f"{source}: SNP profile environment class-id {class_id!r} is not the VCEK/VLEK OID", what=source
        )
    for m in triple.measurements:
        if m.mkey == SNP_MKEY_MEASUREMENT:
            rvs.add(SNP_MEASUREMENT, _one_digest(m, f"{source} MEASUREMENT"), origin)
        elif m.mkey == SNP_MKEY_HOST_DATA and m.raw_value() is not None:
            rvs.add("snp_host_data", m.raw_value() or b"", origin)


def _read_launch(rvs: RefValueSet, triple: ReferenceTriple, origin: dict[str, str], source: str) -> None:
    klass = triple.environment.klass or {}
    tee = (klass.get(1), klass.get(2))
    for m in triple.measurements:
        if tee == ("Intel", "TDX") and m.mkey == "MRTD":
            rvs.add("mr_td", _one_digest(m, f"{source} MRTD"), origin)
        elif tee == ("Intel", "TDX") and m.mkey == "RTMR":
            for index, digests in m.registers().items():
                if index not in range(4) or len(digests) != 1:
                    raise FormatError(
                        f"{source}: RTMR register {index!r} is not 0-3 with one digest", what=source
                    )
                rvs.add(f"rtmr_{index}", digests[0][1], origin)
        elif tee == ("AMD", "SEV-SNP") and m.mkey == "MEASUREMENT":
            rvs.add(SNP_MEASUREMENT, _one_digest(m, f"{source} MEASUREMENT"), origin)


def _read_cca(rvs: RefValueSet, triple: ReferenceTriple, origin: dict[str, str], source: str) -> None:
    by_key = {m.mkey: m for m in triple.measurements}
    unknown = [k for k in by_key if k not in ("cca.rim", "cca.rpv", *(f"cca.rem{i}" for i in range(4)))]
    if unknown:
        raise FormatError(f"{source}: the CCA realm profile has no measurement {unknown[0]!r}", what=source)
    if "cca.rim" not in by_key:
        raise FormatError(
            f"{source}: a CCA realm reference triple needs the cca.rim measurement", what=source
        )
    class_id: Any = (triple.environment.klass or {}).get(0)
    rim = _one_digest(by_key["cca.rim"], f"{source} cca.rim")
    if getattr(class_id, "tag", None) != TAG_TAGGED_BYTES or class_id.value != rim:
        raise FormatError(f"{source}: the CCA realm class-id must be 560(the RIM)", what=source)
    rvs.add(CCA_RIM, rim, origin)
    for i in range(4):
        if f"cca.rem{i}" in by_key:
            rvs.add(_CCA_REM[i], _one_digest(by_key[f"cca.rem{i}"], f"{source} cca.rem{i}"), origin)
    if "cca.rpv" in by_key:
        rpv = by_key["cca.rpv"].raw_value()
        if rpv is None:
            raise FormatError(f"{source}: cca.rpv needs 4: 560(bytes)", what=source)
        rvs.add(_CCA_RPV, rpv, origin)


def _read_cca_legacy(rvs: RefValueSet, triple: ReferenceTriple, origin: dict[str, str], source: str) -> None:
    for m in triple.measurements:
        registers = m.registers()
        if "rim" not in registers:
            raise FormatError(
                f"{source}: a legacy CCA realm measurement needs the 'rim' register", what=source
            )
        for name, target in (("rim", CCA_RIM), *((f"rem{i}", _CCA_REM[i]) for i in range(4))):
            for _alg, value in registers.get(name, []):
                rvs.add(target, value, origin)
        rpv = m.raw_value()
        if rpv is not None:
            rvs.add(_CCA_RPV, rpv, origin)
