"""The Arm CCA attestation token: the CBOR collection, its two COSE_Sign1 tokens and their claims.

Bytes in, typed claims out; nothing here verifies a signature (:mod:`pvmkit.attest.cca_verify`).
Layout per draft-ffm-rats-cca-token (CDDL ``cddl/{top,platform,realm}/*.cddl``), the Arm RMM
specification (DEN0137 §A7.2, realm claims) and the Arm CCA Security Model (DEN0096, platform claims),
as TF-RMM, TF-M's ``iat-verifier``, veraison/ccatoken and veraison/rust-ccatoken implement them.

**Generations** (the only three accepted; anything else is refused as an unknown profile):

* ``G1`` (RMM 1.0, legacy): top tag 399, entries are bstr; platform profile
  ``http://arm.com/CCA-SSD/1.0.0``, no realm profile; the RAK (claim 44237) is a raw SEC1 point.
* ``G2`` (draft-ffm-rats-cca-token-00): tag 399, bstr entries; platform profile
  ``tag:arm.com,2023:cca_platform#1.0.0``, realm profile ``tag:arm.com,2023:realm#1.0.0``; the RAK
  is a COSE_Key (``bstr .cbor``).
* ``G3`` (CMW, RMM 2.0): tag 907, entries ``[263, bstr]``; profiles ``…cca_platform#1.0.0`` and
  ``tag:arm.com,2024:realm#2.0.0`` (COSE_Key RAK, realm claims 256 and 44243 mandatory), or the G1
  pair (raw RAK).

Tag 399 is RMM 1.0's collection, 907 the CMW collection of TF-RMM's RMM 2.0 code (263 = CoAP
content-format ``application/eat+cwt``). Collection keys: 44234 platform, 44241 realm; no others.

A structure that is not what it claims to be (not CBOR, wrong types, a mandatory claim missing, a
wrong length, an unknown profile, a COSE_Mac0) raises :class:`~pvmkit.errors.FormatError` (or its
:class:`~pvmkit.errors.UnsupportedVersionError` for unknown profiles and algorithms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pvmkit.errors import FormatError, UnsupportedVersionError
from pvmkit.formats.cbor import Tag, decode
from pvmkit.formats.cose import Sign1, parse_sign1

__all__ = [
    "HASH_SIZES",
    "KEY_PLATFORM",
    "KEY_REALM",
    "PROFILE_PLATFORM",
    "PROFILE_PLATFORM_LEGACY",
    "PROFILE_REALM_1",
    "PROFILE_REALM_2",
    "TAG_COLLECTION_CMW",
    "TAG_COLLECTION_LEGACY",
    "CcaToken",
    "PlatformClaims",
    "RealmClaims",
    "SwComponent",
    "lifecycle_name",
    "parse_platform_claims",
    "parse_platform_token",
    "parse_realm_claims",
    "parse_token",
]

TAG_COLLECTION_LEGACY = 399
TAG_COLLECTION_CMW = 907
CONTENT_FORMAT_EAT_CWT = 263
KEY_PLATFORM = 44234
KEY_REALM = 44241

PROFILE_PLATFORM_LEGACY = "http://arm.com/CCA-SSD/1.0.0"
PROFILE_PLATFORM = "tag:arm.com,2023:cca_platform#1.0.0"
PROFILE_REALM_1 = "tag:arm.com,2023:realm#1.0.0"
PROFILE_REALM_2 = "tag:arm.com,2024:realm#2.0.0"

#: (collection tag, platform profile, realm profile) → generation
_GENERATIONS = {
    (TAG_COLLECTION_LEGACY, PROFILE_PLATFORM_LEGACY, None): "G1",
    (TAG_COLLECTION_LEGACY, PROFILE_PLATFORM, PROFILE_REALM_1): "G2",
    (TAG_COLLECTION_CMW, PROFILE_PLATFORM, PROFILE_REALM_2): "G3",
    (TAG_COLLECTION_CMW, PROFILE_PLATFORM_LEGACY, None): "G3",
}

#: IANA "Hash Function Textual Names" the claims use → digest size
HASH_SIZES = {"sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64}
_MEASUREMENT_SIZES = (32, 48, 64)

# Platform claim keys (PSA / CCA platform token; draft-ffm-rats-cca-token cddl/platform)
P_PROFILE, P_CHALLENGE, P_IMPL_ID, P_INSTANCE_ID = 265, 10, 2396, 256
P_CONFIG, P_LIFECYCLE, P_SW_COMPONENTS, P_VSI, P_HASH_ALGO = 2401, 2395, 2399, 2400, 2402
# Realm claim keys (RMM DEN0137 §A7.2.3.1; TF-RMM attestation_defs_priv.h)
R_PROFILE, R_CHALLENGE, R_RPV, R_HASH_ALGO, R_RAK = 265, 10, 44235, 44236, 44237
R_RIM, R_REMS, R_RAK_HASH_ALGO, R_INSTANCE_ID, R_MEC_POLICY = 44238, 44239, 44240, 256, 44243

#: Security lifecycle ranges (PSA Security Model / CCA Security Model DEN0096): first value → name
_LIFECYCLES = {
    0x0000: "unknown",
    0x1000: "assembly-and-test",
    0x2000: "cca-platform-rot-provisioning",
    0x3000: "secured",
    0x4000: "non-cca-platform-debug",
    0x5000: "recoverable-cca-platform-debug",
    0x6000: "decommissioned",
}


def lifecycle_name(value: int) -> str | None:
    """The lifecycle state of a claim value (each state takes 0xN000..0xN0FF), or None if invalid."""
    return _LIFECYCLES.get(value & ~0xFF) if 0 <= value <= 0x60FF and value & 0xF00 == 0 else None


@dataclass(frozen=True)
class SwComponent:
    """One measured platform software component (claim 2399 entry)."""

    measurement: bytes
    signer_id: bytes
    component_type: str | None = None
    version: str | None = None
    hash_algo: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {}
        if self.component_type is not None:
            out["component-type"] = self.component_type
        out["measurement-value"] = self.measurement.hex()
        if self.version is not None:
            out["version"] = self.version
        out["signer-id"] = self.signer_id.hex()
        if self.hash_algo is not None:
            out["hash-algo-id"] = self.hash_algo
        return out


@dataclass(frozen=True)
class PlatformClaims:
    profile: str
    challenge: bytes
    implementation_id: bytes
    instance_id: bytes
    config: bytes
    lifecycle: int
    sw_components: tuple[SwComponent, ...]
    hash_algo: str
    verification_service: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The claims under veraison/ccatoken's and Trustee's JSON names, byte strings as hex."""
        out: dict[str, Any] = {
            "cca-platform-profile": self.profile,
            "cca-platform-challenge": self.challenge.hex(),
            "cca-platform-implementation-id": self.implementation_id.hex(),
            "cca-platform-instance-id": self.instance_id.hex(),
            "cca-platform-config": self.config.hex(),
            "cca-platform-lifecycle": self.lifecycle,
            "cca-platform-sw-components": [c.to_json() for c in self.sw_components],
            "cca-platform-hash-algo-id": self.hash_algo,
        }
        if self.verification_service is not None:
            out["cca-platform-service-indicator"] = self.verification_service
        return out


@dataclass(frozen=True)
class RealmClaims:
    profile: str | None
    challenge: bytes
    rpv: bytes
    rim: bytes
    rems: tuple[bytes, bytes, bytes, bytes]
    hash_algo: str
    rak: bytes  #: claim 44237 exactly as carried (the binding hashes these bytes)
    rak_hash_algo: str
    instance_id: bytes | None = None
    mec_policy: int | None = None

    @property
    def rak_is_cose_key(self) -> bool:
        """G2/G3 carry the RAK as a COSE_Key; G1 (no realm profile) as a raw point."""
        return self.profile is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.profile is not None:
            out["cca-realm-profile"] = self.profile
        out |= {
            "cca-realm-challenge": self.challenge.hex(),
            "cca-realm-personalization-value": self.rpv.hex(),
            "cca-realm-initial-measurement": self.rim.hex(),
            "cca-realm-extensible-measurements": [r.hex() for r in self.rems],
            "cca-realm-hash-algo-id": self.hash_algo,
            "cca-realm-public-key": self.rak.hex(),
            "cca-realm-public-key-hash-algo-id": self.rak_hash_algo,
        }
        if self.instance_id is not None:
            out["cca-realm-instance-id"] = self.instance_id.hex()
        if self.mec_policy is not None:
            out["cca-realm-mec-policy"] = self.mec_policy
        return out


@dataclass(frozen=True)
class CcaToken:
    """A parsed CCA token: its ``generation`` (G1, G2, G3), collection ``tag``, both COSE_Sign1
    envelopes and both claim sets. ``warnings`` lists oddities that are not errors."""

    generation: str
    tag: int
    platform: Sign1
    realm: Sign1
    platform_claims: PlatformClaims
    realm_claims: RealmClaims
    warnings: tuple[str, ...] = field(default=())


# -- claim helpers ---------------------------------------------------------------------------------
def _claim(claims: dict[Any, Any], key: int, name: str, what: str, *, optional: bool = False) -> Any:
    if key not in claims:
        if optional:
            return None
        raise FormatError(f"{what}: mandatory claim {name} ({key}) is missing", what=f"{what}.{name}")
    return claims[key]


def _bstr(value: Any, name: str, what: str, sizes: tuple[int, ...] | range | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise FormatError(
            f"{what}: claim {name} must be a byte string, got {_type(value)}", what=f"{what}.{name}"
        )
    if sizes is not None and len(value) not in sizes:
        raise FormatError(
            f"{what}: claim {name} is {len(value)} bytes, must be {_sizes(sizes)}", what=f"{what}.{name}"
        )
    return value


def _tstr(value: Any, name: str, what: str) -> str:
    if not isinstance(value, str):
        raise FormatError(
            f"{what}: claim {name} must be a text string, got {_type(value)}", what=f"{what}.{name}"
        )
    return value


def _uint(value: Any, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(
            f"{what}: claim {name} must be an unsigned integer, got {_type(value)}", what=f"{what}.{name}"
        )
    return value


def _hash_name(value: Any, name: str, what: str) -> str:
    text = _tstr(value, name, what)
    if text not in HASH_SIZES:
        raise UnsupportedVersionError(
            f"{what}: claim {name} names hash {text!r}, not one of {', '.join(HASH_SIZES)}",
            what=f"{what}.{name}",
        )
    return text


def _type(value: Any) -> str:
    return {bytes: "a byte string", str: "a text string", int: "an integer", list: "an array", dict: "a map",
            bool: "a boolean", float: "a float", Tag: "a tag"}.get(type(value), "null")  # fmt: skip


def _sizes(sizes: tuple[int, ...] | range) -> str:
    if isinstance(sizes, range):
        return f"{sizes.start}..{sizes.stop - 1}"
    return " or ".join(str(s) for s in sizes)


def _claims_map(payload: bytes, what: str) -> dict[Any, Any]:
    claims = decode(payload, what=f"{what} claims")
    if not isinstance(claims, dict):
        raise FormatError(f"{what}: the claims are not a CBOR map", what=what)
    return claims


# -- platform ---------------------------------------------------------------------------------------
def _sw_component(item: Any, index: int, what: str) -> SwComponent:
    where = f"{what} software component {index}"
    if not isinstance(item, dict):
        raise FormatError(f"{where}: not a map", what=where)
    unknown = set(item) - {1, 2, 4, 5, 6}
    if unknown:  # rust-ccatoken refuses unknown component keys (src/token/platform.rs)
        raise FormatError(f"{where}: unknown key(s) {sorted(unknown, key=repr)}", what=where)
    measurement = _bstr(
        _claim(item, 2, "measurement-value", where), "measurement-value", where, _MEASUREMENT_SIZES
    )
    signer = _bstr(_claim(item, 5, "signer-id", where), "signer-id", where, _MEASUREMENT_SIZES)
    ctype = item.get(1)
    version = item.get(4)
    algo = item.get(6)
    return SwComponent(
        measurement,
        signer,
        None if ctype is None else _tstr(ctype, "component-type", where),
        None if version is None else _tstr(version, "version", where),
        None if algo is None else _tstr(algo, "hash-algo-id", where),
    )


def parse_platform_claims(claims: dict[Any, Any], what: str = "platform token") -> PlatformClaims:
    """Typed platform claims from a decoded claims map (unknown integer keys are ignored)."""
    profile = _tstr(_claim(claims, P_PROFILE, "profile", what), "profile", what)
    if profile not in (PROFILE_PLATFORM, PROFILE_PLATFORM_LEGACY):
        raise UnsupportedVersionError(f"{what}: unknown platform profile {profile!r}", what=f"{what}.profile")
    lifecycle = _uint(_claim(claims, P_LIFECYCLE, "security-lifecycle", what), "security-lifecycle", what)
    if lifecycle_name(lifecycle) is None:
        raise FormatError(f"{what}: security lifecycle {lifecycle:#x} is not a defined state", what=what)
    components = _claim(claims, P_SW_COMPONENTS, "sw-components", what)
    if not isinstance(components, list) or not components:
        raise FormatError(
            f"{what}: claim sw-components must be a non-empty array", what=f"{what}.sw-components"
        )
    vsi = _claim(claims, P_VSI, "verification-service", what, optional=True)
    if vsi is not None and not _tstr(vsi, "verification-service", what):
        raise FormatError(f"{what}: claim verification-service is empty", what=what)
    return PlatformClaims(
        profile=profile,
        challenge=_bstr(
            _claim(claims, P_CHALLENGE, "challenge", what), "challenge", what, _MEASUREMENT_SIZES
        ),
        implementation_id=_bstr(
            _claim(claims, P_IMPL_ID, "implementation-id", what), "implementation-id", what, (32,)
        ),
        instance_id=_bstr(
            _claim(claims, P_INSTANCE_ID, "instance-id", what), "instance-id", what, range(7, 34)
        ),
        config=_bstr(_claim(claims, P_CONFIG, "config", what), "config", what),
        lifecycle=lifecycle,
        sw_components=tuple(_sw_component(c, i, what) for i, c in enumerate(components)),
        hash_algo=_tstr(_claim(claims, P_HASH_ALGO, "hash-algo-id", what), "hash-algo-id", what),
        verification_service=vsi,
    )


# -- realm ------------------------------------------------------------------------------------------
def _four(rems: list[Any], what: str) -> tuple[bytes, bytes, bytes, bytes]:
    r0, r1, r2, r3 = (
        _bstr(r, f"extensible-measurements[{i}]", what, _MEASUREMENT_SIZES) for i, r in enumerate(rems)
    )
    return r0, r1, r2, r3


def parse_realm_claims(claims: dict[Any, Any], what: str = "realm token") -> RealmClaims:
    """Typed realm claims from a decoded claims map (unknown keys are ignored, as rust-ccatoken does)."""
    profile = _claim(claims, R_PROFILE, "profile", what, optional=True)
    if profile is not None:
        profile = _tstr(profile, "profile", what)
        if profile not in (PROFILE_REALM_1, PROFILE_REALM_2):
            raise UnsupportedVersionError(
                f"{what}: unknown realm profile {profile!r}", what=f"{what}.profile"
            )
    rems = _claim(claims, R_REMS, "extensible-measurements", what)
    if not isinstance(rems, list) or len(rems) != 4:
        raise FormatError(f"{what}: claim extensible-measurements must be an array of 4", what=what)
    rak = _bstr(_claim(claims, R_RAK, "public-key", what), "public-key", what)
    instance_id = _claim(claims, R_INSTANCE_ID, "instance-id", what, optional=profile != PROFILE_REALM_2)
    mec = _claim(claims, R_MEC_POLICY, "mec-policy", what, optional=profile != PROFILE_REALM_2)
    if mec is not None and _uint(mec, "mec-policy", what) > 1:
        raise FormatError(f"{what}: claim mec-policy is {mec}, must be 0 or 1", what=what)
    return RealmClaims(
        profile=profile,
        challenge=_bstr(_claim(claims, R_CHALLENGE, "challenge", what), "challenge", what, (64,)),
        rpv=_bstr(_claim(claims, R_RPV, "personalization-value", what), "personalization-value", what, (64,)),
        rim=_bstr(
            _claim(claims, R_RIM, "initial-measurement", what),
            "initial-measurement",
            what,
            _MEASUREMENT_SIZES,
        ),
        rems=_four(rems, what),
        hash_algo=_hash_name(_claim(claims, R_HASH_ALGO, "hash-algo-id", what), "hash-algo-id", what),
        rak=rak,
        rak_hash_algo=_hash_name(
            _claim(claims, R_RAK_HASH_ALGO, "public-key-hash-algo-id", what), "public-key-hash-algo-id", what
        ),
        instance_id=None if instance_id is None else _bstr(instance_id, "instance-id", what, range(7, 34)),
        mec_policy=mec,
    )


# -- tokens -----------------------------------------------------------------------------------------
def _entry(value: Any, tag: int, what: str) -> bytes:
    if tag == TAG_COLLECTION_LEGACY:
        if not isinstance(value, bytes):
            raise FormatError(f"{what}: a tag-399 collection entry must be a byte string", what=what)
        return value
    if not isinstance(value, list) or len(value) != 2:
        raise FormatError(f"{what}: a tag-907 collection entry must be [content-format, bstr]", what=what)
    if value[0] != CONTENT_FORMAT_EAT_CWT or isinstance(value[0], bool):
        raise FormatError(
            f"{what}: content-format {value[0]!r} is not {CONTENT_FORMAT_EAT_CWT} (application/eat+cwt)",
            what=what,
        )
    if not isinstance(value[1], bytes):
        raise FormatError(
            f"{what}: the CMW value must be a byte string (the COSE_Sign1 serialized)", what=what
        )
    return value[1]


def _sign1_of(data: bytes, what: str) -> Sign1:
    return parse_sign1(decode(data, what=what), what)


def parse_platform_token(data: bytes, what: str = "platform token") -> tuple[Sign1, PlatformClaims]:
    """A bare platform token (tagged COSE_Sign1), e.g. TF-M's ``CCA-plat-token``."""
    sign1 = _sign1_of(data, what)
    return sign1, parse_platform_claims(_claims_map(sign1.payload, what), what)


def parse_token(data: bytes) -> CcaToken:
    """A whole CCA attestation token (the tagged collection)."""
    top = decode(data, what="CCA token")
    if isinstance(top, Tag) and top.tag in (16, 17, 18, 96, 97, 98):
        parse_sign1(top, "CCA token")  # names COSE_Mac0 & co
        raise FormatError(
            "CCA token: a bare COSE_Sign1, not a CCA token collection (tag 399 or 907)", what="CCA token"
        )
    if not isinstance(top, Tag) or top.tag not in (TAG_COLLECTION_LEGACY, TAG_COLLECTION_CMW):
        got = f"tag {top.tag}" if isinstance(top, Tag) else _type(top)
        raise FormatError(
            f"CCA token: not a CCA token collection (tag 399 or 907), got {got}", what="CCA token"
        )
    body = top.value
    if not isinstance(body, dict):
        raise FormatError("CCA token: the collection is not a map", what="CCA token")
    extra = set(body) - {KEY_PLATFORM, KEY_REALM}
    if extra:
        raise FormatError(f"CCA token: unknown collection key(s) {sorted(extra, key=repr)}", what="CCA token")
    for key, name in ((KEY_PLATFORM, "platform"), (KEY_REALM, "realm")):
        if key not in body:
            raise FormatError(f"CCA token: the {name} token ({key}) is missing", what="CCA token")
    platform = _sign1_of(_entry(body[KEY_PLATFORM], top.tag, "platform token"), "platform token")
    realm = _sign1_of(_entry(body[KEY_REALM], top.tag, "realm token"), "realm token")
    platform_claims = parse_platform_claims(_claims_map(platform.payload, "platform token"))
    realm_claims = parse_realm_claims(_claims_map(realm.payload, "realm token"))
    generation = _GENERATIONS.get((top.tag, platform_claims.profile, realm_claims.profile))
    if generation is None:
        raise UnsupportedVersionError(
            f"CCA token: tag {top.tag} with platform profile {platform_claims.profile!r} and realm profile "
            f"{realm_claims.profile!r} is not a known token generation",
            what="CCA token",
        )
    return CcaToken(
        generation, top.tag, platform, realm, platform_claims, realm_claims, _warnings(realm_claims)
    )


def _warnings(realm: RealmClaims) -> tuple[str, ...]:
    size = HASH_SIZES[realm.hash_algo]
    if len(realm.rim) != size or any(len(r) != size for r in realm.rems):
        return (f"realm measurements are not {size} bytes, the size of {realm.hash_algo}",)
    return ()
