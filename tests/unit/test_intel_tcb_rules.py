"""Intel's TCB rules where the dcap-qvl package decides otherwise, on synthetic evidence.

No real quote reaches these branches, so each test builds a TDX quote and TCB Info / QE Identity
signed by a test CA (``support.dcap_synth``) that the test pins as root, and checks pvmkit's evaluator
alone. Expected values are Intel's rules: QVL ``TcbLevelCheck.cpp`` (TEE_TCB_SVN bytes 0-1),
``QuoteVerifier.cpp`` ``convergeTcbStatusWithTdxModuleStatus`` (status merging), QvE's supplemental
``sa_list`` (advisories of the matched platform level only) and ``TDRelaunchCheck.cpp`` (TD relaunch);
what dcap-qvl 0.7.0 would answer is noted beside each (docs/attestation.md lists the differences).
"""

from __future__ import annotations

import pytest

from pvmkit.attest.dcap_verify import appraise_quote
from pvmkit.attest.intel_tcb import converge_with_module, converge_with_qe
from pvmkit.attest.result import FAILED, PASSED
from support import dcap_synth as synth

SGX = [3, 3, 2, 2, 4, 1, 0, 5] + [0] * 8
PCESVN = 13


@pytest.fixture(scope="module")
def pki() -> synth.Pki:
    return synth.Pki()


def tdx(*first: int) -> list[int]:
    return [*first] + [0] * (16 - len(first))


def appraise(pki: synth.Pki, raw: bytes, levels: list, modules: list, **kw: object):  # type: ignore[no-untyped-def]
    collateral = pki.collateral(synth.tcb_info(levels, modules), synth.qe_identity())
    return appraise_quote(raw, collateral=collateral, at=synth.NOW, trusted_root_sha256=pki.root_sha256, **kw)  # type: ignore[arg-type]


def test_synthetic_evidence_verifies(pki: synth.Pki) -> None:
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(5, 1, 3)))
    result = appraise(
        pki, raw, [synth.level(SGX, PCESVN, tdx(5, 0, 3), "UpToDate")], [synth.module_level(5, "UpToDate")]
    )
    assert result.ok, [c.text() for c in result.checks.failures]
    assert result.tcb_status == "UpToDate"
    # the Intel root is not the test root: the same evidence fails the default pin
    default = appraise_quote(raw, at=synth.NOW)
    assert default.checks.get("chain.pck").status == FAILED  # type: ignore[union-attr]


def test_status_merging_configuration_needed_with_module_out_of_date(pki: synth.Pki) -> None:
    """Platform ConfigurationNeeded + module OutOfDate: Intel OutOfDateConfigurationNeeded (dcap-qvl:
    the severity maximum, OutOfDate)."""
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)))
    result = appraise(
        pki,
        raw,
        [synth.level(SGX, PCESVN, tdx(0, 0, 3), "ConfigurationNeeded")],
        [synth.module_level(5, "UpToDate"), synth.module_level(2, "OutOfDate")],
    )
    assert result.tcb is not None and result.tcb.module is not None
    assert result.tcb.platform_level.status == "ConfigurationNeeded"
    assert result.tcb.module.level is not None and result.tcb.module.level.status == "OutOfDate"
    assert result.tcb_status == "OutOfDateConfigurationNeeded"


@pytest.mark.parametrize(
    ("platform", "module", "intel"),
    [
        ("UpToDate", "OutOfDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate", "OutOfDate"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("OutOfDate", "UpToDate", "OutOfDate"),
        ("ConfigurationNeeded", "Revoked", "Revoked"),
        ("ConfigurationNeeded", "UpToDate", "ConfigurationNeeded"),
    ],
)
def test_module_convergence_table(platform: str, module: str, intel: str) -> None:
    assert converge_with_module(platform, module) == intel


@pytest.mark.parametrize(
    ("platform", "qe", "intel"),
    [
        ("UpToDate", "ISVSVN_OUT_OF_DATE", "OutOfDate"),
        ("ConfigurationNeeded", "ISVSVN_OUT_OF_DATE", "OutOfDateConfigurationNeeded"),
        ("SWHardeningNeeded", "ISVSVN_REVOKED", "Revoked"),
        ("SWHardeningNeeded", "OK", "SWHardeningNeeded"),
    ],
)
def test_qe_convergence_table(platform: str, qe: str, intel: str) -> None:
    assert converge_with_qe(platform, qe) == intel


def test_tee_tcb_svn_bytes_0_1_are_the_module_identitys(pki: synth.Pki) -> None:
    """A TDX 1.5 module (TEE_TCB_SVN[1] = 1): bytes 0-1 are judged by TDX_01, not by the platform
    level, so the top level (needing byte 0 >= 5) matches a module of SVN 3 (dcap-qvl compares all 16
    bytes and falls to the OutOfDate level)."""
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)))
    result = appraise(
        pki,
        raw,
        [
            synth.level(SGX, PCESVN, tdx(5, 0, 3), "UpToDate", date="2025-06-01T00:00:00Z"),
            synth.level(SGX, PCESVN, tdx(0, 0, 0), "OutOfDate", ["INTEL-SA-1"], date="2024-01-01T00:00:00Z"),
        ],
        [synth.module_level(3, "UpToDate")],
    )
    assert result.tcb is not None
    assert result.tcb.platform_level.tcb_date == "2025-06-01T00:00:00Z"
    assert result.tcb_status == "UpToDate" and result.ok


def test_tdx_10_module_compares_all_bytes(pki: synth.Pki) -> None:
    """TEE_TCB_SVN[1] = 0 (a TDX 1.0 module): every byte counts, the top level does not match."""
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 0, 3)))
    result = appraise(
        pki,
        raw,
        [
            synth.level(SGX, PCESVN, tdx(5, 0, 3), "UpToDate"),
            synth.level(SGX, PCESVN, tdx(0, 0, 0), "OutOfDate", ["INTEL-SA-1"]),
        ],
        [synth.module_level(3, "UpToDate")],
    )
    assert result.tcb_status == "OutOfDate"
    assert result.tcb is not None and result.tcb.module is not None and result.tcb.module.level is None


def test_advisories_are_the_platform_levels(pki: synth.Pki) -> None:
    """Intel reports the matched platform level's advisory IDs; the module's are listed apart
    (dcap-qvl returns the union)."""
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)))
    result = appraise(
        pki,
        raw,
        [synth.level(SGX, PCESVN, tdx(0, 0, 3), "SWHardeningNeeded", ["INTEL-SA-00615"])],
        [synth.module_level(5, "UpToDate"), synth.module_level(2, "OutOfDate", ["INTEL-SA-01036"])],
    )
    assert result.tcb is not None
    assert result.tcb_status == "OutOfDate"
    assert list(result.tcb.advisory_ids) == ["INTEL-SA-00615"]
    assert list(result.tcb.module_advisory_ids) == ["INTEL-SA-01036"]
    assert result.to_dict()["advisory_ids"] == ["INTEL-SA-00615"]


def test_td_relaunch_advised(pki: synth.Pki) -> None:
    """A TD 1.5 body whose TEE_TCB_SVN_2 (the module it would get on relaunch) meets the newest
    levels while its running module is OutOfDate: Intel TDRelaunchAdvised (dcap-qvl: OutOfDate)."""
    levels = [synth.level(SGX, PCESVN, tdx(0, 0, 3), "UpToDate")]
    modules = [synth.module_level(5, "UpToDate"), synth.module_level(2, "OutOfDate")]
    stale = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)),
                        tee_tcb_svn2=bytes(tdx(5, 1, 3)))  # fmt: skip
    result = appraise(pki, stale, levels, modules)
    assert result.tcb_status == "TDRelaunchAdvised"
    assert not result.ok  # not UpToDate: the caller must accept it
    assert appraise(pki, stale, levels, modules, accept_status=["TDRelaunchAdvised"]).ok
    # the module on relaunch would still be old: no advice, plain OutOfDate
    no = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)),
                     tee_tcb_svn2=bytes(tdx(4, 1, 3)))  # fmt: skip
    assert appraise(pki, no, levels, modules).tcb_status == "OutOfDate"
    # a configuration-needed platform gives the configuration-needed advice
    config = [synth.level(SGX, PCESVN, tdx(0, 0, 3), "ConfigurationNeeded")]
    assert appraise(pki, stale, config, modules).tcb_status == "TDRelaunchAdvisedConfigurationNeeded"


def test_debug_td_keeps_its_tcb_status(pki: synth.Pki) -> None:
    """A debug TD fails the DEBUG policy (unless allowed) while its TCB status is still evaluated
    (dcap-qvl refuses the quote outright)."""
    raw = synth.quote(
        pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(5, 1, 3)), td_attributes=1
    )
    levels = [synth.level(SGX, PCESVN, tdx(0, 0, 3), "UpToDate")]
    modules = [synth.module_level(5, "UpToDate")]
    result = appraise(pki, raw, levels, modules)
    assert result.tcb_status == "UpToDate"
    assert [c.name for c in result.checks.failures] == ["policy.debug"]
    allowed = appraise(pki, raw, levels, modules, allow_debug=True)
    assert allowed.ok and allowed.checks.get("policy.debug").status == PASSED  # type: ignore[union-attr]


def test_qe_below_every_level_is_not_supported(pki: synth.Pki) -> None:
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(5, 1, 3)), qe_isvsvn=3)
    result = appraise(
        pki, raw, [synth.level(SGX, PCESVN, tdx(0, 0, 3), "UpToDate")], [synth.module_level(5, "UpToDate")]
    )
    check = result.checks.get("tcb.qe_identity")
    assert check is not None and check.status == FAILED and "ISVSVN_NOT_SUPPORTED" in check.detail
    assert result.tcb_status is None


def test_module_identity_missing_is_a_mismatch(pki: synth.Pki) -> None:
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(5, 3, 3)))  # TDX_03
    result = appraise(
        pki, raw, [synth.level(SGX, PCESVN, tdx(0, 0, 3), "UpToDate")], [synth.module_level(5, "UpToDate")]
    )
    check = result.checks.get("tcb.tdx_module")
    assert check is not None and check.status == FAILED and "STATUS_TDX_MODULE_MISMATCH" in check.detail


def test_td_relaunch_to_an_unknown_module_is_a_mismatch(pki: synth.Pki) -> None:
    """TDRelaunchCheck: TEE_TCB_SVN_2 naming a module identity (TDX_03) the TCB Info lacks is
    STATUS_TDX_MODULE_MISMATCH, not a status."""
    levels = [synth.level(SGX, PCESVN, tdx(0, 0, 3), "UpToDate")]
    modules = [synth.module_level(5, "UpToDate"), synth.module_level(2, "OutOfDate")]
    raw = synth.quote(pki, pck_components=SGX, pcesvn=PCESVN, tee_tcb_svn=bytes(tdx(3, 1, 3)),
                      tee_tcb_svn2=bytes(tdx(5, 3, 3)))  # fmt: skip
    result = appraise(pki, raw, levels, modules)
    check = result.checks.get("tcb.td_relaunch")
    assert check is not None and check.status == FAILED and "STATUS_TDX_MODULE_MISMATCH" in check.detail
    assert result.tcb_status is None
