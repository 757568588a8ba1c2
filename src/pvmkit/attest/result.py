"""One verification result for every kind of evidence: each check passed, failed or not performed.

A verifier that prints ``OK`` without saying what it left out invites a false sense of safety. Every
verifier in :mod:`pvmkit.attest` (SEV-SNP reports, TDX/SGX quotes, CCA tokens) therefore records each
check it was asked or able to make as a :class:`Check`, and a check it could not make (no collateral,
no reference value, no CRL) as *not performed* with the reason. The CLI renders the same list as text
and as the ``checks`` array of the ``pvmkit.verify/2`` JSON documents (docs/cli.md).

Check names are stable identifiers that scripts may match on; they are dotted, most general first:
``signature``, ``chain``, ``crl.ark``, ``expected.measurement``, ``policy.debug``, ``tcb.status``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAILED", "NOT_PERFORMED", "PASSED", "STATUSES", "Check", "CheckList"]

PASSED = "passed"
FAILED = "failed"
NOT_PERFORMED = "not_performed"
#: Every status a check can have, in the order the text output sorts them within a name.
STATUSES = (PASSED, FAILED, NOT_PERFORMED)

#: JSON-ready values a check compares: bytes are given as lowercase hex by :meth:`CheckList.add`.
Value = str | int | bool | list[Any] | dict[str, Any] | None


def _jsonable(value: object) -> Value:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common cases first
        return value  # type: ignore[return-value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (frozenset, set)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)  # slots: a verifier makes ~30 per report; they build 40 % faster
class Check:
    """One check: its stable ``name``, its ``status`` (:data:`STATUSES`), a one-line ``detail`` for
    people, and for comparisons the ``expected`` and ``actual`` values (JSON-ready)."""

    name: str
    status: str
    detail: str = ""
    expected: Value = None
    actual: Value = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.name}: unknown status {self.status!r}")  # a pvmkit bug

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out

    def text(self) -> str:
        """One line: ``failed         expected.measurement: <detail> (expected …, got …)``."""
        label = self.status.replace("_", " ")
        line = f"{label:<14} {self.name}"
        if self.detail:
            line += f": {self.detail}"
        if self.status == FAILED and (self.expected is not None or self.actual is not None):
            line += f" (expected {_short(self.expected)}, got {_short(self.actual)})"
        return line


def _short(value: Value) -> str:
    if isinstance(value, list):
        return "one of " + ", ".join(_short(v) for v in value) if len(value) != 1 else _short(value[0])
    return "nothing" if value is None else str(value)


@dataclass
class CheckList:
    """The checks of one verification, in the order they were made."""

    checks: list[Check] = field(default_factory=list)

    def add(
        self,
        name: str,
        status: str,
        detail: str = "",
        *,
        expected: object = None,
        actual: object = None,
    ) -> Check:
        if expected is None and actual is None:  # most checks: nothing to convert
            check = Check(name, status, detail)
        else:
            check = Check(name, status, detail, _jsonable(expected), _jsonable(actual))
        self.checks.append(check)
        return check

    def passed(self, name: str, detail: str = "", *, expected: object = None, actual: object = None) -> Check:
        return self.add(name, PASSED, detail, expected=expected, actual=actual)

    def failed(self, name: str, detail: str = "", *, expected: object = None, actual: object = None) -> Check:
        return self.add(name, FAILED, detail, expected=expected, actual=actual)

    def verdict(
        self, name: str, ok: bool, detail: str = "", *, expected: object = None, actual: object = None
    ) -> Check:
        """Passed when ``ok``, else failed: a rule the caller evaluated itself (a minimum, a relation)."""
        return self.add(name, PASSED if ok else FAILED, detail, expected=expected, actual=actual)

    def not_performed(self, name: str, reason: str) -> Check:
        return self.add(name, NOT_PERFORMED, reason)

    def compare(self, name: str, expected: object, actual: object, detail: str = "") -> Check:
        """Passed when ``actual`` equals ``expected`` or, for a set/frozenset of acceptable values,
        is one of them; not performed when ``expected`` is None (nothing to compare against)."""
        if expected is None:
            return self.not_performed(name, detail or "no expected value given")
        if isinstance(expected, (set, frozenset)):
            ok = actual in expected
        else:
            ok = actual == expected
        return self.add(name, PASSED if ok else FAILED, detail, expected=expected, actual=actual)

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def ok(self) -> bool:
        """True when no check failed (checks not performed do not fail a verification; the caller
        decides which must be performed, e.g. ``--require-tcb``)."""
        return not self.failures

    def get(self, name: str) -> Check | None:
        for check in self.checks:
            if check.name == name:
                return check
        return None

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]

    def text_lines(self, indent: str = "  ") -> list[str]:
        return [indent + c.text() for c in self.checks]
