"""The import direction between pvmkit's layers (docs/architecture.md), enforced by walking every
import statement, including the lazy ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "pvmkit"

BASE = "base"  # errors, _cstruct, _coldstart, features: import nothing above them
UAPI = "uapi"
KVM = "kvm"
FORMATS = "formats"
PLAN = "plan"  # plan, launch, the vendor registry and each vendor's description
PURE = "pure"  # vendor measurers/builders and attestation code: never touch the kernel
DRIVER = "driver"  # vendor KVM drivers and the software-protected VM
APP = "app"  # cli
ROOT = "root"  # pvmkit/__init__.py, __main__.py

ALLOWED = {
    BASE: {BASE},
    UAPI: {BASE, UAPI},
    KVM: {BASE, UAPI, KVM},
    FORMATS: {BASE, FORMATS},
    PLAN: {BASE, PLAN},
    PURE: {BASE, FORMATS, PLAN, PURE},
    DRIVER: {BASE, UAPI, KVM, FORMATS, PLAN, PURE, DRIVER},
    APP: {BASE, UAPI, KVM, FORMATS, PLAN, PURE, DRIVER, APP, ROOT},
    ROOT: {BASE, UAPI, KVM, FORMATS, PLAN, PURE, DRIVER, APP, ROOT},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "pvmkit", module
    if len(parts) == 1 or parts[1] in ("__main__",):
        return ROOT
    top = parts[1]
    if top in ("errors", "_cstruct", "_coldstart", "features"):
        return BASE
    if top == "uapi":
        return UAPI
    if top == "kvm":
        return KVM
    if top == "formats":
        return FORMATS
    if top in ("plan", "launch", "vendor"):
        return PLAN
    if top == "cli":
        return APP
    if top == "vendors":
        leaf = parts[-1]
        if leaf == "vendor":  # a vendor's description, read by the plan (pvmkit.vendor.Vendor.spec)
            return PLAN
        # vendors/<vendor>/kvm*.py, machine*.py, driver.py (docs/development.md); deeper packages
        # (vendors/tdx/acpi/machine.py: a pure machine model) are pure
        in_vendor_dir = len(parts) <= 4
        if in_vendor_dir and (leaf.startswith("kvm") or leaf.startswith("machine") or leaf == "driver"):
            return DRIVER
        return PURE
    if top in ("attest", "prediction", "refvalues", "loaders"):
        return PURE
    if top == "guest":
        return PURE
    raise AssertionError(f"{module}: no layer assigned; add it to tests/unit/test_layering.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "pvmkit"]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; use absolute pvmkit.* imports"
            if node.module and node.module.split(".")[0] == "pvmkit":
                found.append(node.module)
    return found


def test_every_module_respects_the_layers() -> None:
    violations = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        mod = module_name(path)
        layer = layer_of(mod)
        for target in imports_of(path):
            if target == "pvmkit" and layer not in (ROOT, APP):
                violations.append(f"{mod} imports the package root; import the defining module")
                continue
            tl = layer_of(target)
            if tl not in ALLOWED[layer]:
                violations.append(f"{mod} ({layer}) imports {target} ({tl})")
    assert not violations, "\n".join(violations)


def test_the_layer_rules_reject_a_forbidden_import() -> None:
    # the checker itself must be able to fail
    assert layer_of("pvmkit.vendors.amd.measure") == PURE
    assert KVM not in ALLOWED[PURE]
    assert layer_of("pvmkit.vendors.amd.kvm") == DRIVER
    assert APP not in ALLOWED[DRIVER]
