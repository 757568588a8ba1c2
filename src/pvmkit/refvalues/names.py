"""The reference-value names pvmkit knows, what each holds and how each verifier wants it encoded.

Names are Trustee's where Trustee has one: the Rego built-in ``query_reference_value("<name>")`` in
Trustee's default CPU policy (``attestation-service/src/ear_token/ear_default_policy_cpu.rego``) and,
for CCA, the name its CCA test policy and ``endorse-rim.sh`` use
(``deps/verifier/test_data/cca/conf/default.rego``). The claims those names are compared with, and so
the value encodings, come from Trustee's verifiers (``deps/verifier/src/snp/mod.rs``: the measurement
claim is ``hex::encode``; ``deps/verifier/src/tdx/claims.rs``: registers and XFAM as hex of the quote
bytes; ``deps/verifier/src/cca/mod.rs``: realm claims base64). Names Trustee does not query (RTMR0/3,
the CCA REMs and RPV, HOST_DATA) follow the same pattern, so that one file carries a whole set.

How the policy compares decides the shape: ``claim in query_reference_value(n)`` needs a list,
``claim == query_reference_value(n)`` one bare value, so an ``==`` name refuses a set of more than one
distinct value (:class:`pvmkit.errors.InputError`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError

__all__ = [
    "CCA_RIM",
    "NAMES",
    "SNP_MEASUREMENT",
    "NameSpec",
    "spec_of",
]

#: Value kinds: ``bytes`` (a digest or register, fixed ``size``), ``int``, ``bool``.
BYTES, INT, BOOL = "bytes", "int", "bool"
#: Trustee encodings: a list of lowercase hex strings, one bare hex string, a list of integers, one
#: bare integer, one bare boolean, a list of base64 (standard, padded) strings.
HEX_LIST, HEX_BARE, INT_LIST, INT_BARE, BOOL_BARE, B64_LIST = (
    "hex-list",
    "hex-bare",
    "int-list",
    "int-bare",
    "bool-bare",
    "base64-list",
)


@dataclass(frozen=True)
class NameSpec:
    """One reference-value name: its ``kind`` (and ``size`` in bytes for ``bytes``), its Trustee
    ``encoding``, the evidence it checks (``snp``, ``tdx``, ``cca``), the evidence field it is compared
    with (``field``, as :mod:`pvmkit.attest` names it) and whether only explicit options may set it
    (``platform``: TCB versions, SMT, TSME are facts of the host, never of a launch prediction)."""

    name: str
    kind: str
    encoding: str
    evidence: str
    field: str
    size: int = 0
    platform: bool = False
    what: str = ""
    #: for values of any length up to this (the CCA RPV: 64 bytes in a token, shorter in test CoRIMs)
    max_size: int = 0

    @property
    def single(self) -> bool:
        """True when the policy compares with ``==``: one bare value, never a set."""
        return self.encoding in (HEX_BARE, INT_BARE, BOOL_BARE)


SNP_MEASUREMENT = "snp_launch_measurement"
CCA_RIM = "cca.realm.cca-realm-initial-measurement"
_CCA_REALM = "cca.realm.cca-realm-"

_SPECS = [
    NameSpec(SNP_MEASUREMENT, BYTES, HEX_LIST, "snp", "measurement", 48, what="SNP MEASUREMENT"),
    NameSpec("snp_host_data", BYTES, HEX_LIST, "snp", "host_data", 32, what="SNP HOST_DATA"),
    *(
        NameSpec(
            f"snp_{n}", INT, INT_LIST, "snp", f"reported_tcb.{f}", platform=True, what=f"REPORTED_TCB {f}"
        )
        for n, f in (
            ("bootloader", "bootloader"),
            ("microcode", "microcode"),
            ("snp_svn", "snp"),
            ("tee_svn", "tee"),
        )
    ),
    *(
        NameSpec(f"snp_{n}", BOOL, BOOL_BARE, "snp", f, platform=platform, what=f)
        for n, f, platform in (
            ("smt_enabled", "platform_smt_enabled", True),
            ("tsme_enabled", "platform_tsme_enabled", True),
            ("single_socket", "policy_single_socket", False),
            ("smt_allowed", "policy_smt_allowed", False),
        )
    ),
    NameSpec("snp_guest_abi_major", INT, INT_BARE, "snp", "policy_abi_major", what="policy ABI major"),
    NameSpec("snp_guest_abi_minor", INT, INT_BARE, "snp", "policy_abi_minor", what="policy ABI minor"),
    NameSpec(
        "sev_launch_digest", BYTES, HEX_LIST, "sev", "launch_digest", 32, what="SEV/SEV-ES launch digest"
    ),
    NameSpec("mr_td", BYTES, HEX_LIST, "tdx", "mr_td", 48, what="TDX MRTD"),
    *(NameSpec(f"rtmr_{i}", BYTES, HEX_LIST, "tdx", f"rtmr{i}", 48, what=f"TDX RTMR{i}") for i in range(4)),
    NameSpec("xfam", BYTES, HEX_LIST, "tdx", "xfam", 8, what="TDX XFAM (quote bytes, little-endian)"),
    NameSpec(
        "tdvfkernel", BYTES, HEX_BARE, "tdx", "event.kernel", 48, what="kernel boot application event digest"
    ),
    NameSpec(
        "tdvfkernelparams", BYTES, HEX_BARE, "tdx", "event.load_options", 48, what="LoadOptions event digest"
    ),
    NameSpec(CCA_RIM, BYTES, B64_LIST, "cca", "rim", what="CCA Realm Initial Measurement"),
    *(
        NameSpec(
            f"{_CCA_REALM}extensible-measurements-{i}", BYTES, B64_LIST, "cca", f"rem{i}", what=f"CCA REM{i}"
        )
        for i in range(4)
    ),
    NameSpec(
        f"{_CCA_REALM}personalization-value", BYTES, B64_LIST, "cca", "rpv", what="CCA RPV", max_size=64
    ),
]

#: name → its :class:`NameSpec`, in a stable order (SNP, TDX, CCA).
NAMES: dict[str, NameSpec] = {s.name: s for s in _SPECS}


def spec_of(name: str) -> NameSpec:
    """The :class:`NameSpec` of ``name``; :class:`InputError` naming the known ones otherwise."""
    spec = NAMES.get(name)
    if spec is None:
        raise InputError(f"unknown reference-value name {name!r} (known: {', '.join(NAMES)})")
    return spec
