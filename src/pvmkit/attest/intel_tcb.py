"""Intel TCB evaluation: a DCAP quote's platform, TDX module and QE against verified TCB Info and QE Identity.

This is the decision Intel's Quote Verification Library makes after every signature has verified
(intel/SGX-TDX-DCAP-QuoteVerificationLibrary, ``Verifiers/QuoteVerifier.cpp`` steps 4.1.2.4.9 to
4.1.2.4.17, ``Checks/{TcbLevelCheck,TdxModuleCheck,TDRelaunchCheck}.cpp``, ``EnclaveReportVerifier.cpp``,
``TcbStatus.h``), reproduced rule for rule; the places where the ``dcap-qvl`` package decides otherwise
are listed in docs/attestation.md and follow Intel here. Inputs are parsed, already-verified data
(:class:`QuoteTcbFacts`, :class:`~pvmkit.formats.intel_collateral.TcbInfo`,
:class:`~pvmkit.formats.intel_collateral.EnclaveIdentity`); nothing here checks a signature or a date.

:func:`evaluate_tcb` records every step in a :class:`~pvmkit.attest.result.CheckList` (``tcb.info``,
``tcb.qe_identity``, ``tcb.tdx_module``, ``tcb.platform``) and returns a :class:`TcbEvaluation`, or
None when a step is terminal (Intel ``STATUS_TCB_INFO_MISMATCH``, ``STATUS_TDX_MODULE_MISMATCH``,
``STATUS_QE_IDENTITY_MISMATCH``, ``STATUS_TCB_NOT_SUPPORTED``): the failed check names the Intel status.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pvmkit.attest.result import Check, CheckList
from pvmkit.formats.intel_collateral import EnclaveIdentity, IdentityTcbLevel, PlatformTcbLevel, TcbInfo
from pvmkit.formats.sgx_pck_extension import PckExtension
from pvmkit.formats.tdx_quote import EnclaveReport

__all__ = [
    "ACCEPTABLE_STATUSES",
    "QuoteTcbFacts",
    "TcbEvaluation",
    "converge_with_module",
    "converge_with_qe",
    "evaluate_tcb",
    "match_platform_level",
    "qe_identity_status",
]

#: Final statuses a caller may accept beyond UpToDate (``--accept-status``); Revoked and the terminal
#: errors are never acceptable (Trustee and QvE treat them as failures too).
ACCEPTABLE_STATUSES = (
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
)

# QE identity statuses (QVL names without the STATUS_SGX_ENCLAVE_REPORT_ prefix)
QE_OK = "OK"
QE_OUT_OF_DATE = "ISVSVN_OUT_OF_DATE"
QE_REVOKED = "ISVSVN_REVOKED"
QE_NOT_SUPPORTED = "ISVSVN_NOT_SUPPORTED"

_CONFIG_NEEDED = frozenset(
    {"ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"}
)
#: SGX-level statuses under which TDRelaunchCheck may advise a relaunch.
_RELAUNCH_SGX = frozenset(
    {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)


@dataclass(frozen=True)
class QuoteTcbFacts:
    """What TCB evaluation reads from a verified quote and its PCK certificate.

    ``tee_tcb_svn`` (TEE_TCB_SVN, body offset 0), ``mr_signer_seam``, ``seam_attributes`` and (TD 1.5
    bodies) ``tee_tcb_svn2`` exist for TDX quotes only."""

    tee: str  # "SGX" or "TDX"
    quote_version: int
    pck: PckExtension
    qe_report: EnclaveReport
    tee_tcb_svn: bytes | None = None
    mr_signer_seam: bytes | None = None
    seam_attributes: int | None = None
    tee_tcb_svn2: bytes | None = None


@dataclass(frozen=True)
class ModuleMatch:
    """The TDX module identity used and the level its ISVSVN matched (None: nothing to merge)."""

    identity: str  # "TDX_01", … or "tdxModule"
    level: IdentityTcbLevel | None

    @property
    def status(self) -> str | None:
        return None if self.level is None else self.level.status


@dataclass(frozen=True)
class TcbEvaluation:
    """The outcome: ``status`` (Intel's name, e.g. ``UpToDate``, ``OutOfDate``, ``Revoked``,
    ``TDRelaunchAdvised``), ``advisory_ids`` (the matched platform level's, as QvE's supplemental
    ``sa_list``), the matched levels and the module's and QE's own advisories."""

    status: str
    advisory_ids: tuple[str, ...]
    tee: str
    platform_level: PlatformTcbLevel
    sgx_level: PlatformTcbLevel
    qe_level: IdentityTcbLevel
    qe_status: str
    module: ModuleMatch | None = None
    steps: tuple[str, ...] = field(default=())

    @property
    def module_advisory_ids(self) -> tuple[str, ...]:
        return () if self.module is None or self.module.level is None else self.module.level.advisory_ids

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tcb_status": self.status,
            "advisory_ids": list(self.advisory_ids),
            "platform_level": self.platform_level.to_dict(),
        }
        if self.tee == "TDX":
            out["sgx_level"] = self.sgx_level.to_dict()
        if self.module is not None:
            out["tdx_module"] = {
                "identity": self.module.identity,
                "level": None if self.module.level is None else self.module.level.to_dict(),
            }
        out["qe_identity"] = {"status": self.qe_status, "level": self.qe_level.to_dict()}
        out["module_advisory_ids"] = list(self.module_advisory_ids)
        out["qe_advisory_ids"] = list(self.qe_level.advisory_ids)
        out["steps"] = list(self.steps)
        return out


# --------------------------------------------------------------------------------------------------
# the rules


def _sort_key(level: PlatformTcbLevel) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    return (level.sgx_components, level.pcesvn, level.tdx_components or ())


@functools.lru_cache(maxsize=64)
def ordered_levels(tcb_info: TcbInfo) -> tuple[PlatformTcbLevel, ...]:
    """The platform levels highest first, equal keys collapsed to the first (QVL keeps them in a
    ``std::set`` ordered by SGX components, PCESVN, then TDX components; PCS serves them so)."""
    seen: set[tuple[tuple[int, ...], int, tuple[int, ...]]] = set()
    out = []
    for level in sorted(tcb_info.tcb_levels, key=_sort_key, reverse=True):
        if _sort_key(level) not in seen:
            seen.add(_sort_key(level))
            out.append(level)
    return tuple(out)


def _tdx_start(tee_tcb_svn: bytes) -> int:
    """TcbLevelCheck: with a TDX 1.5+ module (TEE_TCB_SVN[1], the module version, non-zero) bytes 0 and 1
    are judged by the module identity, not by the platform level."""
    return 2 if tee_tcb_svn[1] > 0 else 0


def match_platform_level(
    tcb_info: TcbInfo, pck: PckExtension, tee_tcb_svn: bytes | None
) -> tuple[PlatformTcbLevel | None, PlatformTcbLevel | None]:
    """(the first SGX match, the first level matching SGX and — for TDX — TEE_TCB_SVN)."""
    sgx_match = None
    for level in ordered_levels(tcb_info):
        if not (
            all(c >= s for c, s in zip(pck.tcb_components, level.sgx_components, strict=True))
            and pck.pcesvn >= level.pcesvn
        ):
            continue
        if sgx_match is None:
            sgx_match = level
        if tee_tcb_svn is None:
            return sgx_match, level
        tdx = level.tdx_components or (0,) * 16
        start = _tdx_start(tee_tcb_svn)
        if all(tee_tcb_svn[i] >= tdx[i] for i in range(start, 16)):
            return sgx_match, level
    return sgx_match, None


def qe_identity_status(
    identity: EnclaveIdentity, report: EnclaveReport
) -> tuple[list[str], IdentityTcbLevel | None, str]:
    """(mismatches, the matched level, the QE status) per EnclaveReportVerifier: MISCSELECT and
    ATTRIBUTES under their masks, MRSIGNER, ISVPRODID; then the first level (JSON order) whose ISVSVN is
    at most the QE's."""
    problems = []
    if report.misc_select & identity.miscselect_mask != identity.miscselect:
        problems.append(
            f"MISCSELECT {report.misc_select:#010x} & mask {identity.miscselect_mask:#010x} "
            f"!= {identity.miscselect:#010x}"
        )
    masked = bytes(a & m for a, m in zip(report.attributes, identity.attributes_mask, strict=True))
    if masked != identity.attributes:
        problems.append(f"ATTRIBUTES {report.attributes.hex()} under the mask != {identity.attributes.hex()}")
    if report.mr_signer != identity.mrsigner:
        problems.append(f"MRSIGNER {report.mr_signer.hex()} != {identity.mrsigner.hex()}")
    if report.isv_prod_id != identity.isvprodid:
        problems.append(f"ISVPRODID {report.isv_prod_id} != {identity.isvprodid}")
    for level in identity.tcb_levels:
        if level.isvsvn <= report.isv_svn:
            status = {"UpToDate": QE_OK, "Revoked": QE_REVOKED}.get(level.status, QE_OUT_OF_DATE)
            return problems, level, status
    return problems, None, QE_NOT_SUPPORTED


def converge_with_module(platform: str, module: str) -> str:
    """``convergeTcbStatusWithTdxModuleStatus``: the platform level's status with the module's."""
    if module == "OutOfDate":
        if platform in ("UpToDate", "SWHardeningNeeded"):
            return "OutOfDate"
        if platform in ("ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"):
            return "OutOfDateConfigurationNeeded"
    if module == "Revoked":
        return "Revoked"
    return platform


def converge_with_qe(platform: str, qe: str) -> str:
    """``convergeTcbStatusWithQeTcbStatus`` (the last step for SGX and TDX alike); a QE below every level
    is TCB_NOT_SUPPORTED, which :func:`evaluate_tcb` reports as a failure before getting here."""
    if qe == QE_OUT_OF_DATE:
        if platform in ("UpToDate", "SWHardeningNeeded"):
            return "OutOfDate"
        if platform in ("ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"):
            return "OutOfDateConfigurationNeeded"
    if qe == QE_REVOKED:
        return "Revoked"
    return platform


def _module_identity(tcb_info: TcbInfo, version: int) -> tuple[str, Any] | None:
    wanted = f"TDX_{version:02X}"
    for identity in tcb_info.tdx_module_identities:
        if identity.id.upper() == wanted:
            return wanted, identity
    return None


def _check_module(facts: QuoteTcbFacts, tcb_info: TcbInfo, checks: CheckList) -> ModuleMatch | None:
    """TdxModuleCheck (4.1.2.4.11) and the module's TCB level; None after recording a failure."""
    svn_bytes = facts.tee_tcb_svn
    assert svn_bytes is not None and tcb_info.tdx_module is not None
    svn, version = svn_bytes[0], svn_bytes[1]
    name, identity = "tdxModule", tcb_info.tdx_module
    if facts.quote_version > 3 and version > 0:
        found = _module_identity(tcb_info, version)
        if found is None:
            checks.failed(
                "tcb.tdx_module",
                f"the TCB Info has no TDX module identity TDX_{version:02X} for this module "
                "(Intel STATUS_TDX_MODULE_MISMATCH)",
                expected=[i.id for i in tcb_info.tdx_module_identities],
                actual=f"TDX_{version:02X}",
            )
            return None
        name, identity = found
    if facts.mr_signer_seam != identity.mrsigner:
        checks.failed(
            "tcb.tdx_module",
            f"MRSIGNERSEAM differs from {name}.mrsigner (Intel STATUS_TDX_MODULE_MISMATCH)",
            expected=identity.mrsigner,
            actual=facts.mr_signer_seam,
        )
        return None
    seam = (facts.seam_attributes or 0).to_bytes(8, "little")
    if any(seam) or seam != identity.attributes:
        checks.failed(
            "tcb.tdx_module",
            f"SEAMATTRIBUTES must be zero and equal {name}.attributes (Intel STATUS_TDX_MODULE_MISMATCH)",
            expected=identity.attributes,
            actual=seam,
        )
        return None
    if facts.quote_version > 3 and version == 0:
        checks.passed("tcb.tdx_module", "TDX 1.0 module: MRSIGNERSEAM and SEAMATTRIBUTES match tdxModule")
        return ModuleMatch(name, None)
    for level in identity.tcb_levels:
        if svn >= level.isvsvn:
            checks.passed(
                "tcb.tdx_module",
                f"{name}: module ISVSVN {svn} matches the level isvsvn {level.isvsvn} ({level.status})",
                expected=f">= {level.isvsvn}",
                actual=svn,
            )
            return ModuleMatch(name, level)
    checks.failed(
        "tcb.tdx_module",
        f"{name}: module ISVSVN {svn} is below every level (Intel STATUS_TCB_NOT_SUPPORTED)",
        expected=[lv.isvsvn for lv in identity.tcb_levels],
        actual=svn,
    )
    return None


def _relaunch(
    facts: QuoteTcbFacts,
    tcb_info: TcbInfo,
    sgx_status: str,
    tdx_status: str,
    module: ModuleMatch | None,
    qe_status: str,
) -> str | None:
    """TDRelaunchCheck (TD 1.5 bodies): the TD relaunch status, or None when it does not apply."""
    t2 = facts.tee_tcb_svn2
    if (
        t2 is None
        or qe_status != QE_OK
        or sgx_status not in _RELAUNCH_SGX
        or tdx_status not in ("OutOfDate", "OutOfDateConfigurationNeeded")
        or module is None
        or module.status != "OutOfDate"
    ):
        return None
    top = ordered_levels(tcb_info)[0].tdx_components or (0,) * 16
    if t2[1] == 0:
        relaunch = t2[0] >= top[0] and t2[2] >= top[2]
    else:
        found = _module_identity(tcb_info, t2[1])
        if found is None:
            return "TDX_MODULE_MISMATCH"
        if not found[1].tcb_levels:
            return "TCB_NOT_SUPPORTED"
        relaunch = t2[0] >= found[1].tcb_levels[0].isvsvn and t2[2] >= top[2]
    if not relaunch:
        return None
    if sgx_status in _CONFIG_NEEDED or tdx_status in _CONFIG_NEEDED:
        return "TDRelaunchAdvisedConfigurationNeeded"
    return "TDRelaunchAdvised"


def evaluate_tcb(
    facts: QuoteTcbFacts, tcb_info: TcbInfo, qe_identity: EnclaveIdentity, checks: CheckList
) -> TcbEvaluation | None:
    """Evaluate; every step becomes a check in ``checks``. None when a step failed terminally.
    Cached per (facts, TCB Info, QE Identity): a platform's quotes give the same facts."""
    steps, result = _evaluate(facts, tcb_info, qe_identity)
    checks.checks.extend(steps)
    return result


@functools.lru_cache(maxsize=256)
def _evaluate(
    facts: QuoteTcbFacts, tcb_info: TcbInfo, qe_identity: EnclaveIdentity
) -> tuple[tuple[Check, ...], TcbEvaluation | None]:
    checks = CheckList()
    result = _evaluate_into(facts, tcb_info, qe_identity, checks)
    return tuple(checks), result


def _evaluate_into(
    facts: QuoteTcbFacts, tcb_info: TcbInfo, qe_identity: EnclaveIdentity, checks: CheckList
) -> TcbEvaluation | None:
    ok = True
    tdx = facts.tee == "TDX"
    # 4.1.2.4.9/10: the TCB Info is for this TEE, FMSPC and PCE-ID
    problems = []
    if tcb_info.is_tdx != tdx:
        problems.append(f"TCB Info id {tcb_info.id} for a {facts.tee} quote")
    if tcb_info.fmspc != facts.pck.fmspc:
        problems.append(f"FMSPC {tcb_info.fmspc.hex().upper()} != PCK FMSPC {facts.pck.fmspc.hex().upper()}")
    if tcb_info.pce_id != facts.pck.pceid:
        problems.append(f"pceId {tcb_info.pce_id.hex()} != PCK PCE-ID {facts.pck.pceid.hex()}")
    if problems:
        checks.failed(
            "tcb.info",
            "; ".join(problems) + " (Intel STATUS_TCB_INFO_MISMATCH)",
            expected={
                "id": facts.tee,
                "fmspc": facts.pck.fmspc.hex().upper(),
                "pceId": facts.pck.pceid.hex(),
            },
            actual={"id": tcb_info.id, "fmspc": tcb_info.fmspc.hex().upper(), "pceId": tcb_info.pce_id.hex()},
        )
        return None
    checks.passed(
        "tcb.info",
        f"{tcb_info.id} TCB Info for FMSPC {tcb_info.fmspc.hex().upper()}, "
        f"tcbEvaluationDataNumber {tcb_info.tcb_evaluation_data_number}",
    )
    # QE identity (4.1.2.4.15)
    want_id = "TD_QE" if tdx else "QE"
    qe_problems, qe_level, qe_status = qe_identity_status(qe_identity, facts.qe_report)
    if qe_identity.id != want_id:
        qe_problems.insert(0, f"identity {qe_identity.id!r}, a {facts.tee} quote needs {want_id!r}")
    if qe_problems:
        checks.failed("tcb.qe_identity", "; ".join(qe_problems) + " (Intel STATUS_QE_IDENTITY_MISMATCH)")
        ok = False
    elif qe_level is None:
        checks.failed(
            "tcb.qe_identity",
            f"QE ISVSVN {facts.qe_report.isv_svn} is below every QE identity level "
            "(Intel ISVSVN_NOT_SUPPORTED, hence STATUS_TCB_NOT_SUPPORTED)",
            expected=[lv.isvsvn for lv in qe_identity.tcb_levels],
            actual=facts.qe_report.isv_svn,
        )
        ok = False
    else:
        checks.passed(
            "tcb.qe_identity",
            f"{qe_identity.id} matches; QE ISVSVN {facts.qe_report.isv_svn} is at level isvsvn "
            f"{qe_level.isvsvn} ({qe_level.status}: {qe_status})",
        )
    # TDX module (4.1.2.4.11)
    module = None
    if tdx:
        module = _check_module(facts, tcb_info, checks)
        ok = ok and module is not None
    # platform level (4.1.2.4.17, TcbLevelCheck)
    sgx_level, level = match_platform_level(tcb_info, facts.pck, facts.tee_tcb_svn)
    if level is None or sgx_level is None:
        what = "the PCK's SGX TCB components and PCESVN" if sgx_level is None else "TEE_TCB_SVN"
        checks.failed(
            "tcb.platform",
            f"no TCB level matches {what} (Intel STATUS_TCB_NOT_SUPPORTED)",
            actual={
                "sgxtcbcomponents": list(facts.pck.tcb_components),
                "pcesvn": facts.pck.pcesvn,
                **({} if facts.tee_tcb_svn is None else {"tee_tcb_svn": facts.tee_tcb_svn.hex()}),
            },
        )
        return None
    checks.passed(
        "tcb.platform",
        f"platform TCB level of {level.tcb_date}: {level.status}"
        + (f" ({', '.join(level.advisory_ids)})" if level.advisory_ids else ""),
    )
    if not ok or qe_level is None:
        return None
    steps = [f"platform level {level.status}"]
    status = level.status
    if module is not None and module.level is not None:
        status = converge_with_module(status, module.level.status)
        steps.append(f"with TDX module {module.identity} {module.level.status}: {status}")
    if status != "Revoked":
        relaunch = _relaunch(facts, tcb_info, sgx_level.status, status, module, qe_status)
        if relaunch in ("TDX_MODULE_MISMATCH", "TCB_NOT_SUPPORTED"):
            checks.failed(
                "tcb.td_relaunch",
                "TEE_TCB_SVN_2 names a TDX module identity the TCB Info lacks or gives no level "
                f"(Intel STATUS_{relaunch}, TDRelaunchCheck)",
            )
            return None
        if relaunch is not None:
            status = relaunch
            steps.append(f"TD relaunch check (TEE_TCB_SVN_2): {status}")
        status = converge_with_qe(status, qe_status)
        steps.append(f"with QE {qe_status}: {status}")
    return TcbEvaluation(
        status=status,
        advisory_ids=level.advisory_ids,
        tee=facts.tee,
        platform_level=level,
        sgx_level=sgx_level,
        qe_level=qe_level,
        qe_status=qe_status,
        module=module,
        steps=tuple(steps),
    )
