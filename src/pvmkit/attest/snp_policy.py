"""An SEV-SNP appraisal policy as a JSON document (``pvmkit verify --report R --policy-file FILE``).

The keys are go-sev-guest's ``check.Policy`` field names (google/go-sev-guest ``proto/check.proto``,
read by ``validate.PolicyToOptions``) where pvmkit has the same rule, plus pvmkit's own where it
has more (``allow_debug``, ``allow_migrate_ma``, the exact policy and bit masks, the current and
committed TCB minimums, value sets). go-sev-guest's ``policy`` (the most permissive acceptable guest
policy) is ``guest_policy`` here; a key ``policy`` is refused as ambiguous, since ``pvmkit verify
--policy N`` means the exact POLICY. Schema ``pvmkit.snp-policy/1``, documented in
docs/attestation.md ("Appraisal policy file"):

=============================== ================================================= ==================
key                             value                                             SnpExpected field
=============================== ================================================= ==================
``guest_policy``                u64: the most permissive acceptable POLICY        ``guest_policy``
``allow_debug``                 bool: DEBUG (bit 19) accepted                     ``guest_policy``
``allow_migrate_ma``            bool: MIGRATE_MA (bit 18) accepted                ``guest_policy``
``exact_policy``                u64: the whole POLICY, exactly                    ``policy``
``policy_bits_set`` / ``_clear`` u64 masks                                        same
``minimum_guest_svn``           u32                                               ``min_guest_svn``
``minimum_launch_mitigation_vector`` u64: bits that must be set (report v5)       ``min_launch_mit_vector``
``minimum_current_mitigation_vector`` u64                                         ``min_current_mit_vector``
``minimum_tcb``                 TCB: minimum REPORTED_TCB                         ``min_reported_tcb``
``minimum_current_tcb``         TCB                                               ``min_current_tcb``
``minimum_committed_tcb``       TCB                                               ``min_committed_tcb``
``minimum_launch_tcb``          TCB                                               ``min_launch_tcb``
``permit_provisional_firmware`` bool                                              same
``minimum_build``               0..255                                            ``min_build``
``minimum_version``             ``"major.minor"``                                 ``min_version``
``platform_info``               u64: the most permissive acceptable PLATFORM_INFO same
``vmpl``                        0..3                                              same
``require_id_block``            bool                                              same
``require_author_key``          bool (implies ``require_id_block``)               same
``trusted_id_key_hashes``       list of 48-byte hex SHA-384 digests               ``trusted_id_keys``
``trusted_author_key_hashes``   list of 48-byte hex digests                       ``trusted_author_keys``
``trusted_id_keys``             list of PEM certificates or public keys (P-384)   ``trusted_id_keys``
``trusted_author_keys``         list of PEM certificates or public keys           ``trusted_author_keys``
``measurement`` and the other   hex, or a list of hex (any of them)               same
byte fields
=============================== ================================================= ==================

A u64 is a JSON integer or a string (``"0x30000"``); a TCB is a u64 (compared byte by byte) or an
object of SPLs by name (``{"bootloader": 3, "snp": 8}``). Unknown keys are refused, so that a typo
never silently weakens an appraisal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pvmkit.attest.snp_report import POLICY_BITS
from pvmkit.attest.snp_validate import DEFAULT_GUEST_POLICY, VERBATIM_FIELDS, option_problem
from pvmkit.errors import InputError

__all__ = [
    "BYTE_FIELDS",
    "SCHEMA",
    "PolicyFile",
    "effective_guest_policy",
    "parse_policy",
    "parse_version",
    "read_policy",
]

SCHEMA = "pvmkit.snp-policy/1"
#: The largest policy file read (the CLI's document limit, docs/cli.md "Input size limits").
_MAX_FILE_SIZE = 16 << 20

#: Byte fields of the report a policy may pin (one value or a list): name → size.
BYTE_FIELDS = VERBATIM_FIELDS
_U64 = ("guest_policy", "policy_bits_set", "policy_bits_clear", "platform_info")
_TCBS = {
    "minimum_tcb": "min_reported_tcb",
    "minimum_current_tcb": "min_current_tcb",
    "minimum_committed_tcb": "min_committed_tcb",
    "minimum_launch_tcb": "min_launch_tcb",
}
_BOOLS = (
    "allow_debug",
    "allow_migrate_ma",
    "permit_provisional_firmware",
    "require_id_block",
    "require_author_key",
)
_TCB_NAMES = ("bootloader", "tee", "snp", "microcode", "fmc")


@dataclass(frozen=True)
class PolicyFile:
    """A parsed policy: ``fields`` are :class:`~pvmkit.attest.snp_validate.SnpExpected` keyword
    arguments; ``allow_debug`` / ``allow_migrate_ma`` say what the file decides about those bits
    (None: it does not say), so that a caller can require its own settings to agree."""

    fields: dict[str, Any]
    allow_debug: bool | None
    allow_migrate_ma: bool | None


def _u64(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{where}: expected an integer or a numeric string, got {value!r}")
    try:
        n = value if isinstance(value, int) else int(value, 0)
    except ValueError:
        raise InputError(f"{where}: not an integer: {value!r}") from None
    if not 0 <= n < 2**64:
        raise InputError(f"{where}: {n} does not fit 64 bits")
    return n


def _hex(value: object, size: int, where: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a hex string, got {value!r}")
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{where}: not hex: {value!r}") from None
    if len(raw) != size:
        raise InputError(f"{where}: must be {size} bytes ({2 * size} hex digits), got {len(raw)}")
    return raw


def _tcb(value: object, where: str) -> int | dict[str, int]:
    if isinstance(value, dict):
        out = {}
        for name, spl in value.items():
            if name not in _TCB_NAMES:
                raise InputError(f"{where}: unknown TCB component {name!r} (have {', '.join(_TCB_NAMES)})")
            if isinstance(spl, bool) or not isinstance(spl, int) or not 0 <= spl <= 255:
                raise InputError(f"{where}.{name}: an SPL is an integer 0..255, got {spl!r}")
            out[name] = spl
        return out
    return _u64(value, where)


def _trusted_key_digests(value: object, where: str) -> frozenset[bytes]:
    """go-sev-guest's ``trusted_id_keys`` / ``trusted_author_keys`` (certificates of keys trusted to
    sign ID blocks): here a list of PEM texts, each a certificate or a public key (P-384), reduced
    to the SHA-384 digest of its SNP public-key structure, the form ID_KEY_DIGEST holds."""
    from pvmkit.attest._x509 import load_public_key
    from pvmkit.vendors.amd.id_block import key_digest

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of PEM certificates or public keys")
    digests = set()
    for i, text in enumerate(value):
        if "-----BEGIN" not in text:
            raise InputError(f"{where}[{i}]: not PEM (a certificate or a public key)")
        key = load_public_key(text.encode(), f"{where}[{i}]")
        try:
            digests.add(key_digest(key))
        except InputError as exc:  # not P-384
            raise InputError(f"{where}[{i}]: {exc}") from None
    return frozenset(digests)


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {value!r}")
    return value


def parse_policy(doc: object, where: str = "policy") -> PolicyFile:
    """A policy document (already decoded from JSON) → :class:`PolicyFile`; InputError naming the
    key for anything malformed or unknown."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: a policy is a JSON object")
    schema = doc.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise InputError(f"{where}: schema is {schema!r}, pvmkit reads {SCHEMA!r}")
    fields: dict[str, Any] = {}
    flags: dict[str, bool] = {}
    for key, value in doc.items():
        at = f"{where}: {key}"
        if key == "schema":
            continue
        if key in _U64:
            fields[key] = _u64(value, at)
            problem = option_problem(key, fields[key]) if key in ("guest_policy", "platform_info") else None
            if problem:
                raise InputError(f"{at}: {problem}")
        elif key in _TCBS:
            fields[_TCBS[key]] = _tcb(value, at)
        elif key in _BOOLS:
            flags[key] = _bool(value, at)
        elif key == "exact_policy":
            fields["policy"] = _u64(value, at)
        elif key == "policy":
            raise InputError(
                f"{at}: ambiguous; write guest_policy (the most permissive acceptable POLICY, "
                "go-sev-guest's policy) or exact_policy (the whole POLICY, as --policy)"
            )
        elif key in ("minimum_launch_mitigation_vector", "minimum_current_mitigation_vector"):
            fields[f"min_{key.split('_')[1]}_mit_vector"] = _u64(value, at)
        elif key == "minimum_guest_svn":
            svn = _u64(value, at)
            if svn > 0xFFFF_FFFF:  # GUEST_SVN is a u32 (SEV-SNP ABI, ATTESTATION_REPORT 0x04)
                raise InputError(f"{at}: {svn} does not fit GUEST_SVN's 32 bits")
            fields["min_guest_svn"] = svn
        elif key == "minimum_build":
            build = _u64(value, at)
            if build > 255:
                raise InputError(f"{at}: {build} is not 0..255")
            fields["min_build"] = build
        elif key == "minimum_version":
            fields["min_version"] = parse_version(value, at)
        elif key == "vmpl":
            vmpl = _u64(value, at)
            if vmpl > 3:
                raise InputError(f"{at}: {vmpl} is not 0..3")
            fields["vmpl"] = vmpl
        elif key in ("trusted_id_key_hashes", "trusted_author_key_hashes"):
            if not isinstance(value, list):
                raise InputError(f"{at}: expected a list of hex SHA-384 digests")
            name = "trusted_id_keys" if key.startswith("trusted_id") else "trusted_author_keys"
            digests = frozenset(_hex(v, 48, f"{at}[{i}]") for i, v in enumerate(value))
            fields[name] = fields.get(name, frozenset()) | digests
        elif key in ("trusted_id_keys", "trusted_author_keys"):
            fields[key] = fields.get(key, frozenset()) | _trusted_key_digests(value, at)
        elif key in BYTE_FIELDS:
            values = value if isinstance(value, list) else [value]
            if not values:
                raise InputError(f"{at}: an empty list accepts nothing; leave the key out instead")
            parsed = [_hex(v, BYTE_FIELDS[key], at) for v in values]
            fields[key] = parsed[0] if isinstance(value, str) else frozenset(parsed)
        else:
            raise InputError(f"{where}: unknown key {key!r} (docs/attestation.md lists the keys)")
    for key in ("permit_provisional_firmware", "require_id_block", "require_author_key"):
        if key in flags:
            fields[key] = flags[key]
    allow_debug = _agree(fields.get("guest_policy"), "debug", flags.get("allow_debug"), where)
    allow_migrate_ma = _agree(fields.get("guest_policy"), "migrate_ma", flags.get("allow_migrate_ma"), where)
    return PolicyFile(fields, allow_debug, allow_migrate_ma)


def _agree(guest_policy: int | None, bit: str, flag: bool | None, where: str) -> bool | None:
    """What the file says about one allowed policy bit: its ``allow_*`` key and its ``guest_policy``
    must not contradict each other."""
    from_policy = None if guest_policy is None else bool(guest_policy >> POLICY_BITS[bit] & 1)
    if from_policy is not None and flag is not None and from_policy != flag:
        raise InputError(
            f"{where}: allow_{bit} is {str(flag).lower()} but guest_policy {guest_policy:#x} "
            f"{'sets' if from_policy else 'clears'} the {bit.upper()} bit"
        )
    return flag if flag is not None else from_policy


def parse_version(value: object, where: str) -> tuple[int, int]:
    """``"major.minor"`` (each 0..255) → (major, minor), as go-sev-guest's ``parseVersion``."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise InputError(f"{where}: expected major.minor (each 0..255), got {value!r}")
    return int(parts[0]), int(parts[1])


def read_policy(path: str) -> PolicyFile:
    """Read and parse a policy file (JSON)."""
    import json

    with open(path, "rb") as f:
        text = f.read(_MAX_FILE_SIZE + 1)  # /dev/zero must not exhaust memory (issue 15)
    if len(text) > _MAX_FILE_SIZE:
        raise InputError(
            f"{path}: longer than 16 MiB; pvmkit reads at most 16 MiB for a policy file "
            "(docs/cli.md, input size limits)"
        )
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise InputError(f"{path}: not JSON: {exc}") from None
    return parse_policy(doc, path)


def effective_guest_policy(guest_policy: int | None, allow_debug: bool, allow_migrate_ma: bool) -> int:
    """The most permissive acceptable POLICY: the given one (default :data:`DEFAULT_GUEST_POLICY`)
    with DEBUG and MIGRATE_MA set exactly as allowed."""
    value = DEFAULT_GUEST_POLICY if guest_policy is None else guest_policy
    for bit, allowed in (("debug", allow_debug), ("migrate_ma", allow_migrate_ma)):
        mask = 1 << POLICY_BITS[bit]
        value = value | mask if allowed else value & ~mask
    return value
