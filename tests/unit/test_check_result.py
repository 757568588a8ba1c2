"""pvmkit.attest.result: the check list every verifier reports."""

from __future__ import annotations

import pytest

from pvmkit.attest.result import FAILED, NOT_PERFORMED, PASSED, Check, CheckList


def test_compare_scalar_set_and_missing() -> None:
    checks = CheckList()
    assert checks.compare("expected.a", b"\x01", b"\x01").status == PASSED
    assert checks.compare("expected.b", frozenset({b"\x01", b"\x02"}), b"\x02").status == PASSED
    failed = checks.compare("expected.c", frozenset({b"\x01"}), b"\x03")
    assert failed.status == FAILED and failed.expected == ["01"] and failed.actual == "03"
    assert checks.compare("expected.d", None, b"\x03").status == NOT_PERFORMED
    assert not checks.ok and [c.name for c in checks.failures] == ["expected.c"]
    assert checks.get("expected.b") is not None and checks.get("nothing") is None
    assert len(checks) == 4 and next(c.name for c in checks) == "expected.a"


def test_not_performed_does_not_fail_and_dicts_are_json_ready() -> None:
    checks = CheckList()
    checks.passed("signature", "ECDSA P-384")
    checks.not_performed("tcb.status", "no collateral given")
    assert checks.ok
    assert checks.to_list() == [
        {"name": "signature", "status": "passed", "detail": "ECDSA P-384"},
        {"name": "tcb.status", "status": "not_performed", "detail": "no collateral given"},
    ]
    lines = checks.text_lines()
    assert lines[0].split() == ["passed", "signature:", "ECDSA", "P-384"]
    assert lines[1].startswith("  not performed  tcb.status: no collateral given")


def test_failed_text_names_both_values_and_bad_status_is_a_bug() -> None:
    check = CheckList().compare("expected.policy", 0x30000, 0xB0000)
    assert check.text().endswith("(expected 196608, got 720896)")
    with pytest.raises(ValueError):
        Check("x", "maybe")


def test_verdict_records_a_rule_the_caller_evaluated() -> None:
    checks = CheckList()
    assert checks.verdict("firmware.minimum_build", True, expected=">= 3", actual=5).status == PASSED
    failed = checks.verdict("guest_svn.minimum", False, "GUEST_SVN >= the minimum", expected=">= 2", actual=1)
    assert failed.status == FAILED and (failed.expected, failed.actual) == (">= 2", 1)
    assert [c.name for c in checks.failures] == ["guest_svn.minimum"]
