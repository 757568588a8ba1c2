"""The kernel-rule table (``tests/support/kernel_rules.json``) and the fake kernel that enforces it.

* The table and the fake are equal: every rule is referenced by the fake (``refuse("id")`` for a
  refusal, ``applies("id")`` for a limit without an errno) and every reference names a rule; every
  error the fake raises comes from a rule, from fault injection or from :meth:`FakeKernel.outside`.
* Order: within one function of the fake, rules that share an ioctl are checked in the table's order;
  within one kernel function, the cited code of rules that share an ioctl appears in the table's order.
* Citations: against the Linux source that ``tools/fetch_linux_source.py`` extracts (Debian unstable's
  ``linux-source-7.2``), every cited function exists in its file and contains its cited code, every
  constant's definition is in its header, and every not-modelled check is cited the same way.
"""

from __future__ import annotations

import ast
import errno
import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from support import fakekernel
from support.kernel_source import function_body, normalize, source_root

TABLE: dict[str, Any] = json.loads(fakekernel.RULES_PATH.read_text())
RULES: list[dict[str, Any]] = TABLE["rules"]
INDEX = {r["id"]: i for i, r in enumerate(RULES)}
FAKE_SOURCE = Path(fakekernel.__file__).read_text()


def _references() -> list[tuple[str, int, str, str]]:
    """(function, line, method, rule id) of every ``refuse("...")`` / ``applies("...")`` in the fake."""
    out = []
    for fn in ast.walk(ast.parse(FAKE_SOURCE)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("refuse", "applies")
            ):
                arg = node.args[0]
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), ast.unparse(node)
                out.append((fn.name, node.lineno, node.func.attr, arg.value))
    return out


def test_table_is_well_formed() -> None:
    assert len(INDEX) == len(RULES), "rule ids are unique"
    assert TABLE["kernel"]["package"] == "linux-source-7.2"
    for r in RULES:
        assert r["ops"] and r["check"] and r["where"], r["id"]
        assert r["errno"] is None or isinstance(getattr(errno, r["errno"]), int), r["id"]
        if "fw" in r:  # a firmware status: a SEV_RET_* name from the header table, behind EIO
            assert r["fw"] in fakekernel.CONST and r["errno"] == "EIO" and r["firmware"], r["id"]
        for w in r["where"]:
            assert set(w) == {"file", "function", "code"}, r["id"]
    for n in TABLE["not_modelled"]:
        assert n["check"] and n["reason"] and set(n["where"]) == {"file", "function", "code"}
        assert "id" not in n


def test_fake_enforces_exactly_the_table() -> None:
    refs = _references()
    referenced = {rule for _fn, _line, _how, rule in refs}
    assert sorted(referenced - set(INDEX)) == [], "the fake refers to rules the table lacks"
    assert sorted(set(INDEX) - referenced) == [], "rules in the table that the fake does not enforce"
    for _fn, line, how, rule in refs:  # refuse() for rules with an errno, applies() for the others
        assert (how == "applies") == (RULES[INDEX[rule]]["errno"] is None), (rule, line)


def test_every_refusal_of_the_fake_comes_from_the_table() -> None:
    allowed = {"refuse", "outside", "__init__"}
    for fn in ast.walk(ast.parse(FAKE_SOURCE)):
        if not isinstance(fn, ast.FunctionDef) or fn.name in allowed:
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KernelError":
                first = ast.unparse(node.args[0])
                assert first == "fault.errno", f"{fn.name} line {node.lineno}: KernelError({first}, ...)"


def test_the_fake_checks_in_the_table_order() -> None:
    by_function: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for fn, line, _how, rule in _references():
        by_function[fn].append((line, rule))
    for fn, refs in by_function.items():
        firsts: dict[str, int] = {}
        for line, rule in sorted(refs):
            firsts.setdefault(rule, line)
        for a, b in combinations(sorted(firsts, key=firsts.__getitem__), 2):
            if set(RULES[INDEX[a]]["ops"]) & set(RULES[INDEX[b]]["ops"]):
                assert INDEX[a] < INDEX[b], f"{fn}: {a} is checked before {b}, the table says otherwise"


# -- against the kernel source ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def linux() -> Path:
    return source_root()


def test_source_is_the_cited_version(linux: Path) -> None:
    version = (linux / "VERSION").read_text().splitlines()[0]
    assert version.split(".")[:2] == TABLE["kernel"]["version"].split(".")[:2], version


def test_every_citation_is_in_the_source(linux: Path) -> None:
    missing = []
    cited = [(r["id"], w) for r in RULES for w in r["where"]]
    cited += [(n["check"][:40], n["where"]) for n in TABLE["not_modelled"]]
    for rule, w in cited:
        body = function_body(linux, w["file"], w["function"])
        if body is None:
            missing.append(f"{rule}: no {w['function']} in {w['file']}")
        elif normalize(w["code"]) not in normalize(body):
            missing.append(f"{rule}: {w['function']} lacks {w['code']!r}")
    assert missing == []


def test_every_constant_is_defined_as_cited(linux: Path) -> None:
    for name, c in TABLE["constants"].items():
        text = normalize((linux / c["file"]).read_text())
        assert normalize(c["code"]) in text, name


def test_the_table_order_is_the_source_order(linux: Path) -> None:
    wrong = []
    for a, b in combinations(RULES, 2):
        if not set(a["ops"]) & set(b["ops"]):
            continue
        for wa in a["where"]:
            for wb in b["where"]:
                same = (wa["file"], wa["function"]) == (wb["file"], wb["function"])
                if not same or wa["code"] == wb["code"]:  # firmware rules share the kernel's EIO
                    continue
                body = normalize(function_body(linux, wa["file"], wa["function"]) or "")
                if body.find(normalize(wa["code"])) > body.find(normalize(wb["code"])):
                    wrong.append(f"{a['id']} after {b['id']} in {wa['function']}")
    assert wrong == []
