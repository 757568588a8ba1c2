"""The CLI stays thin (issue 14, docs/development.md "Errors and the CLI"): no function in
``pvmkit/cli`` is longer than 60 lines, and no two CLI modules import each other, directly or through
others, lazily or not. Read from the source with :mod:`ast` (no command is run)."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "src" / "pvmkit" / "cli"
MAX_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(CLI.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(CLI.rglob("*.py"))}


def test_no_cli_function_is_longer_than_60_lines() -> None:
    long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert long == [], "split these into functions of at most 60 lines:\n" + "\n".join(long)


def _imports(tree: ast.Module) -> set[str]:
    """The pvmkit.cli modules a module imports anywhere (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # from pvmkit.cli import x
    return {name for name in found if name in MODULES}


def test_no_import_cycles_between_cli_modules() -> None:
    graph = {name: _imports(tree) - {name} for name, tree in MODULES.items()}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == [], "CLI modules that import each other:\n" + "\n".join(sorted(set(cycles)))


def test_the_checks_see_what_they_should() -> None:
    """The walk finds the modules and their imports (a broken walk would pass vacuously)."""
    assert {"pvmkit.cli.main", "pvmkit.cli.launch", "pvmkit.cli.compat.sev_snp_measure"} <= set(MODULES)
    assert "pvmkit.cli.launch_hardware" in _imports(MODULES["pvmkit.cli.launch"])
    assert "pvmkit.cli.inspectors.registry" in _imports(MODULES["pvmkit.cli.inspectors.tdx"])
