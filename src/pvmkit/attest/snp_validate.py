"""SEV-SNP policy validation: a parsed report against what the verifier expects (the ``validate``
layer; :mod:`pvmkit.attest.snp_report` is the ABI layer, :mod:`pvmkit.attest.verify` the
cryptographic one).

The rules are go-sev-guest's ``validate.SnpAttestation`` (google/go-sev-guest ``validate/validate.go``
at commit 42a7117354c6ba0f7a5fa7725b69e746b8b9fc23: ``validatePolicy``, ``validateVerbatimFields``,
``validateTcb``, ``validateVersion``, ``validatePlatformInfo``, ``validateKeys``), with two
differences: every rule is reported as its own :class:`~pvmkit.attest.result.Check` (all mismatches,
not the first), and a value may be a set of acceptable values (``frozenset[bytes]``, any-of) where
go-sev-guest takes exactly one.

* **Guest policy** (:attr:`SnpExpected.guest_policy`, the *most permissive* acceptable policy, default
  :data:`DEFAULT_GUEST_POLICY` = 0x30000: SMT allowed as QEMU launches, DEBUG and MIGRATE_MA refused):
  the report's ABI version must be at least the option's; the *allowed* bits (SMT 16, MIGRATE_MA 18,
  DEBUG 19, CXL_ALLOW 21) may be set in the report only where set in the option; the *required*
  bits (SINGLE_SOCKET 20, MEM_AES_256_XTS 22, RAPL_DIS 23, CIPHERTEXT_HIDING_DRAM 24,
  PAGE_SWAP_DISABLE 25) set in the option must be set in the report. Bit 17 must be set and bits
  63:26 clear (``abi.ParseSnpPolicy``). Bit numbers: AMD SEV-SNP Firmware ABI Specification
  (publication 56860), "Guest Policy" table.
* **TCB** (``validateTcb``): COMMITTED_TCB equals CURRENT_TCB, or with provisional firmware permitted
  COMMITTED ≤ CURRENT; REPORTED ≤ CURRENT (go-sev-guest: the certificate's TCB, which the
  cryptographic layer checked equal to REPORTED); the minimums against REPORTED, CURRENT, COMMITTED
  and LAUNCH. "≤" is component-wise: over all 8 bytes for a u64 minimum (``kds.TCBPartsLE``), over the
  named SPLs (in the report's layout, Milan/Genoa or Turin) for a by-name minimum.
* **Firmware** (``validateVersion``): CURRENT_BUILD ≥ minimum build, CURRENT major.minor ≥ minimum
  version; COMMITTED build and version equal CURRENT's, or ≤ with provisional firmware permitted.
* **PLATFORM_INFO** (``validatePlatformInfo``, :attr:`SnpExpected.platform_info`, the most permissive
  acceptable value): SMT_EN (0) and TSME_EN (1) may be set only where the option allows them; ECC_EN
  (2), RAPL_DIS (3), CIPHERTEXT_HIDING_DRAM_EN (4), ALIAS_CHECK_COMPLETE (5) set in the option must be
  set in the report; reserved bit 6 and bits above 7 are refused. TIO_EN (7) is not appraised, as in
  go-sev-guest at that commit.
* **ID block keys** (``validateKeys``): with ``require_author_key`` AUTHOR_KEY_EN must be 1 and
  AUTHOR_KEY_DIGEST trusted; with it or ``require_id_block`` the report passes when the author key is
  enabled and trusted, or ID_KEY_DIGEST is trusted. No signatures: the firmware checked the ID block
  at launch.
* **Mitigation vectors** (report version 5, AMD SEV-SNP ABI LAUNCH_MIT_VECTOR / CURRENT_MIT_VECTOR;
  go-sev-guest's ``Minimum{Launch,Current}MitigationVector`` options): every bit of the minimum must be
  set; an older report, which has no vectors, fails a non-zero minimum.
* **Verbatim fields**: FAMILY_ID, IMAGE_ID, REPORT_DATA, MEASUREMENT, HOST_DATA, ID_KEY_DIGEST,
  AUTHOR_KEY_DIGEST, REPORT_ID, REPORT_ID_MA, CHIP_ID, VMPL, VERSION, GUEST_SVN and the exact POLICY
  equal the expected value or are one of the expected set; GUEST_SVN ≥ ``min_guest_svn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pvmkit.attest.result import CheckList
from pvmkit.attest.snp_report import PLATFORM_INFO_BITS, POLICY_BITS, SnpReport, TcbVersion
from pvmkit.errors import InputError

__all__ = [
    "DEFAULT_GUEST_POLICY",
    "POLICY_ALLOWED_BITS",
    "POLICY_REQUIRED_BITS",
    "VERBATIM_FIELDS",
    "Accepted",
    "SnpExpected",
    "TcbMinimum",
    "option_problem",
    "validate_report",
]

#: One expected value, or the set of acceptable values (any-of).
Accepted = bytes | frozenset[bytes]
#: A minimum TCB: a TCB_VERSION u64 (compared byte by byte) or SPLs by component name
#: (``bootloader``, ``tee``, ``snp``, ``microcode``, Turin ``fmc``) in the report's layout.
TcbMinimum = int | Mapping[str, int]

#: The secure default most-permissive guest policy: ABI 0.0, SMT allowed (QEMU launches guests so),
#: bit 17 (must be one); DEBUG, MIGRATE_MA and CXL refused.
DEFAULT_GUEST_POLICY = 0x30000
#: Policy bits a report may set only where the accepted policy sets them (go-sev-guest validatePolicy).
POLICY_ALLOWED_BITS = ("smt", "migrate_ma", "debug", "cxl_allow")
#: Policy bits the accepted policy may require the report to set.
POLICY_REQUIRED_BITS = (
    "single_socket",
    "mem_aes_256_xts",
    "rapl_dis",
    "ciphertext_hiding",
    "page_swap_disable",
)
_POLICY_DEFINED = (1 << 26) - 1
#: PLATFORM_INFO bits a report may set only where the accepted value sets them, and bits the accepted
#: value may require.
PLATFORM_ALLOWED_BITS = ("smt_en", "tsme_en")
PLATFORM_REQUIRED_BITS = ("ecc_en", "rapl_dis", "ciphertext_hiding_en", "alias_check_complete")
_PLATFORM_DEFINED = (1 << 6) - 1 | 1 << 7

#: The report's byte fields an expectation may pin (one value or a set), with their sizes.
VERBATIM_FIELDS = {
    "family_id": 16,
    "image_id": 16,
    "report_data": 64,
    "measurement": 48,
    "host_data": 32,
    "id_key_digest": 48,
    "author_key_digest": 48,
    "report_id": 32,
    "report_id_ma": 32,
    "chip_id": 64,
}


@dataclass(frozen=True)
class SnpExpected:
    """What an SNP report must show. ``None`` means "not checked" for values; the rules with secure
    defaults are ``guest_policy`` (:data:`DEFAULT_GUEST_POLICY`) and the provisional-firmware rule
    (``permit_provisional_firmware=False``). Bytes fields take one value or a ``frozenset`` of them."""

    version: int | None = None
    guest_svn: int | None = None
    min_guest_svn: int | None = None
    #: the whole POLICY u64, exactly
    policy: int | None = None
    #: the most permissive acceptable POLICY (go-sev-guest ``policy`` / ``-guest_policy``); None: unchecked
    guest_policy: int | None = DEFAULT_GUEST_POLICY
    policy_bits_set: int = 0
    policy_bits_clear: int = 0
    family_id: Accepted | None = None
    image_id: Accepted | None = None
    vmpl: int | None = None
    report_data: Accepted | None = None
    measurement: Accepted | None = None
    host_data: Accepted | None = None
    id_key_digest: Accepted | None = None
    author_key_digest: Accepted | None = None
    report_id: Accepted | None = None
    report_id_ma: Accepted | None = None
    chip_id: Accepted | None = None
    min_reported_tcb: TcbMinimum | None = None
    min_current_tcb: TcbMinimum | None = None
    min_committed_tcb: TcbMinimum | None = None
    min_launch_tcb: TcbMinimum | None = None
    permit_provisional_firmware: bool = False
    min_build: int | None = None
    #: (major, minor)
    min_version: tuple[int, int] | None = None
    #: the most permissive acceptable PLATFORM_INFO; None: unchecked
    platform_info: int | None = None
    #: mitigation-vector bits that must be set in LAUNCH_MIT_VECTOR / CURRENT_MIT_VECTOR (report
    #: version 5 and later; an older report carries no vectors and fails a non-zero minimum)
    min_launch_mit_vector: int | None = None
    min_current_mit_vector: int | None = None
    require_id_block: bool = False
    require_author_key: bool = False
    trusted_id_keys: frozenset[bytes] = field(default_factory=frozenset)
    trusted_author_keys: frozenset[bytes] = field(default_factory=frozenset)


def option_problem(name: str, value: int) -> str | None:
    """Why an accepted ``guest_policy`` or ``platform_info`` value is not one (go-sev-guest refuses
    such options: ``abi.ParseSnpPolicy`` wants bit 17 set and nothing above bit 25,
    ``abi.ParseSnpPlatformInfo`` no reserved bit), or None when it is well-formed."""
    if name == "guest_policy":
        if not value >> POLICY_BITS["reserved_1"] & 1:
            return f"{value:#x} has bit 17 clear (it must be one in every SNP guest policy)"
        if value & ~_POLICY_DEFINED:
            return f"{value:#x} sets undefined bits {value & ~_POLICY_DEFINED:#x} (26 and above)"
    elif value & ~_PLATFORM_DEFINED:
        return f"{value:#x} sets reserved bits {value & ~_PLATFORM_DEFINED:#x}"
    return None


def _check_guest_policy(report: SnpReport, accepted: int, checks: CheckList) -> None:
    policy = report.policy
    bad = []
    if not policy >> POLICY_BITS["reserved_1"] & 1:
        bad.append("bit 17 (must be one) is clear")
    if policy & ~_POLICY_DEFINED:
        bad.append(f"undefined bits {policy & ~_POLICY_DEFINED:#x} are set")
    if bad:
        checks.failed(
            "policy.reserved", "; ".join(bad), expected="bit 17 set, bits 63:26 clear", actual=f"{policy:#x}"
        )
    else:
        checks.passed("policy.reserved", "bit 17 set, bits 63:26 clear")
    want_abi = (accepted >> 8 & 0xFF, accepted & 0xFF)
    have_abi = (policy >> 8 & 0xFF, policy & 0xFF)
    checks.verdict(
        "policy.abi",
        have_abi >= want_abi,
        "the guest's minimum firmware ABI (major.minor) is at least the accepted one",
        expected=f">= {want_abi[0]}.{want_abi[1]}",
        actual=f"{have_abi[0]}.{have_abi[1]}",
    )
    allowed, required = POLICY_ALLOWED_BITS, POLICY_REQUIRED_BITS
    _check_bits("policy", "the guest's policy", policy, accepted, allowed, required, POLICY_BITS, checks)


def _check_bits(
    prefix: str,
    whose: str,
    value: int,
    accepted: int,
    allowed_bits: tuple[str, ...],
    required_bits: tuple[str, ...],
    positions: Mapping[str, int],
    checks: CheckList,
) -> None:
    """go-sev-guest's "most permissive acceptable value" rule: each of ``allowed_bits`` may be set in
    ``value`` only where set in ``accepted``; each of ``required_bits`` set in ``accepted`` must be
    set in ``value`` (one check per bit; required bits only when required)."""
    for name in allowed_bits:
        bit = positions[name]
        allowed, present = bool(accepted >> bit & 1), bool(value >> bit & 1)
        what = f"{name.upper()} (bit {bit}) {'allowed' if allowed else 'refused'}"
        if present and not allowed:
            checks.failed(f"{prefix}.{name}", f"{what}, but {whose} sets it", expected=False, actual=True)
        else:
            checks.passed(f"{prefix}.{name}", f"{what}; {whose} {'sets' if present else 'clears'} it")
    for name in required_bits:
        bit = positions[name]
        if accepted >> bit & 1:
            present = bool(value >> bit & 1)
            checks.verdict(
                f"{prefix}.{name}",
                present,
                f"{name.upper()} (bit {bit}) required",
                expected=True,
                actual=present,
            )


def _check_platform_info(report: SnpReport, accepted: int, checks: CheckList) -> None:
    value = report.platform_info
    if value & ~_PLATFORM_DEFINED:
        checks.failed(
            "platform_info.reserved",
            "reserved or undefined bits are set",
            expected=f"{_PLATFORM_DEFINED:#x} mask",
            actual=f"{value:#x}",
        )
    else:  # listed when passed too: every check made is reported
        checks.passed("platform_info.reserved", "no reserved or undefined bit is set")
    allowed, required = PLATFORM_ALLOWED_BITS, PLATFORM_REQUIRED_BITS
    _check_bits(
        "platform_info", "PLATFORM_INFO", value, accepted, allowed, required, PLATFORM_INFO_BITS, checks
    )


def _tcb_bytes(raw: int) -> bytes:
    return (raw & (2**64 - 1)).to_bytes(8, "little")


def _tcb_shortfall(minimum: TcbMinimum, raw: int, layout: str) -> tuple[list[str], object]:
    """(components below the minimum, the minimum as shown), component-wise."""
    if isinstance(minimum, int):
        low, high = _tcb_bytes(minimum), _tcb_bytes(raw)
        return [f"byte {i}" for i in range(8) if low[i] > high[i]], f"{minimum:#018x}"
    have = TcbVersion.decode(raw, layout).components()
    unknown = [name for name in minimum if name not in have]
    if unknown:
        raise InputError(f"no TCB component {unknown[0]!r} in a {layout} report (have {', '.join(have)})")
    return [name for name, spl in minimum.items() if have[name] < spl], dict(minimum)


def _compare_tcbs(name: str, detail: str, low: int, high: int, layout: str, checks: CheckList) -> None:
    below, _ = _tcb_shortfall(low, high, layout)
    checks.verdict(
        name,
        not below,
        detail + (f" (lower: {', '.join(below)})" if below else ""),
        expected=f"<= {high:#018x}",
        actual=f"{low:#018x}",
    )


def _check_tcbs(report: SnpReport, expected: SnpExpected, checks: CheckList) -> None:
    layout = report.tcb_layout
    if expected.permit_provisional_firmware:
        _compare_tcbs(
            "tcb.committed",
            "COMMITTED_TCB <= CURRENT_TCB (provisional firmware permitted)",
            report.committed_tcb,
            report.current_tcb,
            layout,
            checks,
        )
    else:
        checks.compare(
            "tcb.committed",
            f"{report.current_tcb:#018x}",
            f"{report.committed_tcb:#018x}",
            "COMMITTED_TCB = CURRENT_TCB (provisional firmware refused)",
        )
    _compare_tcbs(
        "tcb.reported", "REPORTED_TCB <= CURRENT_TCB", report.reported_tcb, report.current_tcb, layout, checks
    )
    for which in ("reported", "current", "committed", "launch"):
        minimum = getattr(expected, f"min_{which}_tcb")
        if minimum is None:
            continue
        raw = getattr(report, f"{which}_tcb")
        below, shown = _tcb_shortfall(minimum, raw, layout)
        actual: object = f"{raw:#018x}"
        if not isinstance(minimum, int):
            actual = {k: v for k, v in TcbVersion.decode(raw, layout).components().items() if k in minimum}
        checks.verdict(
            f"tcb.minimum.{which}",
            not below,
            f"{which.upper()}_TCB >= the minimum, component-wise"
            + (f" (below: {', '.join(below)})" if below else ""),
            expected=shown,
            actual=actual,
        )


def _check_firmware(report: SnpReport, expected: SnpExpected, checks: CheckList) -> None:
    current = (report.current_major, report.current_minor)
    committed = (report.committed_major, report.committed_minor)
    if expected.min_build is not None:
        ok = report.current_build >= expected.min_build
        checks.verdict(
            "firmware.minimum_build",
            ok,
            "CURRENT_BUILD >= the minimum",
            expected=f">= {expected.min_build}",
            actual=report.current_build,
        )
    if expected.min_version is not None:
        ok = current >= expected.min_version
        checks.verdict(
            "firmware.minimum_version",
            ok,
            "CURRENT_MAJOR.CURRENT_MINOR >= the minimum",
            expected=">= {}.{}".format(*expected.min_version),
            actual="{}.{}".format(*current),
        )
    if expected.permit_provisional_firmware:
        ok = report.committed_build <= report.current_build and committed <= current
        rule = "<= CURRENT (provisional firmware permitted)"
    else:
        ok = report.committed_build == report.current_build and committed == current
        rule = "= CURRENT (provisional firmware refused)"
    checks.verdict(
        "firmware.committed",
        ok,
        f"COMMITTED version and build {rule}",
        expected="{}.{}.{}".format(*current, report.current_build),
        actual="{}.{}.{}".format(*committed, report.committed_build),
    )


def _check_mitigations(report: SnpReport, expected: SnpExpected, checks: CheckList) -> None:
    for which in ("launch", "current"):
        minimum = getattr(expected, f"min_{which}_mit_vector")
        if minimum is None:
            continue
        name, field = f"mitigations.{which}", f"{which.upper()}_MIT_VECTOR"
        if not report.has_mitigation_vectors:
            detail = f"a version {report.version} report has no {field} (version 5 and later)"
            checks.verdict(name, minimum == 0, detail, expected=f"{minimum:#x} set", actual=None)
            continue
        vector = getattr(report, f"{which}_mit_vector")
        missing = minimum & ~vector
        checks.verdict(name, not missing, f"{field} has every required mitigation bit"
                   + (f" (missing {missing:#x})" if missing else ""), expected=f"{minimum:#x} set",
                   actual=f"{vector:#x}")  # fmt: skip


def _check_keys(report: SnpReport, expected: SnpExpected, checks: CheckList) -> None:
    if not (expected.require_id_block or expected.require_author_key):
        return
    author_trusted = report.author_key_en and report.author_key_digest in expected.trusted_author_keys
    if expected.require_author_key:
        checks.verdict(
            "id_block.author_key",
            author_trusted,
            "AUTHOR_KEY_EN = 1 and AUTHOR_KEY_DIGEST is a trusted author key"
            + ("" if report.author_key_en else " (AUTHOR_KEY_EN is 0)"),
            expected=expected.trusted_author_keys,
            actual=report.author_key_digest,
        )
    id_trusted = report.id_key_digest in expected.trusted_id_keys
    checks.verdict(
        "id_block.trusted",
        author_trusted or id_trusted,
        "the ID block's signer is trusted: a trusted author key, or a trusted ID key"
        + ("" if expected.trusted_id_keys or expected.trusted_author_keys else " (no trusted key given)"),
        expected=expected.trusted_id_keys | expected.trusted_author_keys,
        actual=report.author_key_digest if author_trusted else report.id_key_digest,
    )


def validate_report(report: SnpReport, expected: SnpExpected, checks: CheckList | None = None) -> CheckList:
    """Every rule of ``expected`` applied to a parsed ``report``, each added to ``checks`` (a new list
    when None) as passed or failed; returns the list. Raises InputError only for an expectation that
    cannot apply to this report (a TCB component the report's layout does not have)."""
    checks = CheckList() if checks is None else checks
    for name in ("version", "guest_svn"):
        want = getattr(expected, name)
        if want is not None:
            checks.compare(f"expected.{name}", want, getattr(report, name), name.upper())
    if expected.min_guest_svn is not None:
        ok = report.guest_svn >= expected.min_guest_svn
        checks.verdict(
            "guest_svn.minimum",
            ok,
            "GUEST_SVN >= the minimum",
            expected=f">= {expected.min_guest_svn}",
            actual=report.guest_svn,
        )
    if expected.policy is not None:
        checks.compare("expected.policy", f"{expected.policy:#x}", f"{report.policy:#x}", "the whole POLICY")
    if expected.guest_policy is not None:
        _check_guest_policy(report, expected.guest_policy, checks)
    if expected.policy_bits_set:
        missing = expected.policy_bits_set & ~report.policy
        checks.verdict(
            "policy.bits_set",
            not missing,
            "POLICY bits that must be set",
            expected=f"{expected.policy_bits_set:#x}",
            actual=f"{report.policy:#x}",
        )
    if expected.policy_bits_clear:
        present = expected.policy_bits_clear & report.policy
        checks.verdict(
            "policy.bits_clear",
            not present,
            "POLICY bits that must be clear",
            expected=f"{expected.policy_bits_clear:#x}",
            actual=f"{report.policy:#x}",
        )
    if expected.vmpl is not None:
        checks.compare("expected.vmpl", expected.vmpl, report.vmpl, "VMPL")
    for name in VERBATIM_FIELDS:
        want = getattr(expected, name)
        if want is not None:
            checks.compare(f"expected.{name}", want, getattr(report, name), name.upper())
        elif name == "measurement":  # the reference value that matters most: say it was not compared
            checks.not_performed("expected.measurement", "no reference MEASUREMENT given")
    _check_tcbs(report, expected, checks)
    _check_firmware(report, expected, checks)
    if expected.platform_info is not None:
        _check_platform_info(report, expected.platform_info, checks)
    _check_mitigations(report, expected, checks)
    _check_keys(report, expected, checks)
    return checks
