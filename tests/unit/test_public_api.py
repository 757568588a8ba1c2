"""The public surface: ``pvmkit.__all__`` is exactly the intended list and every name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pvmkit

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_the_generated_names_are_the_modules_all() -> None:
    """pvmkit._PUBLIC is the one list; the "*" modules' names written into __init__ are regenerated
    from their __all__ (tools/gen_exports.py) and must not be stale."""
    sys.path.insert(0, str(TOOLS))
    try:
        import gen_exports
    finally:
        sys.path.remove(str(TOOLS))
    text = Path(pvmkit.__file__).read_text()
    assert gen_exports.current_block(text) == gen_exports.generated_block(), "run tools/gen_exports.py"


def test_all_is_exactly_the_public_list_and_each_name_is_in_its_modules_all() -> None:
    listed = [
        name
        for module, names in pvmkit._PUBLIC.items()
        for name in (importlib.import_module(module).__all__ if names == "*" else names)
    ]
    assert len(listed) == len(set(listed)), "a name is exported from two modules"
    assert sorted(pvmkit.__all__) == sorted([*listed, "__version__"])
    for module, names in pvmkit._PUBLIC.items():
        assert set(names if names != "*" else ()) <= set(importlib.import_module(module).__all__), module


def test_every_exported_name_resolves() -> None:
    for name in pvmkit.__all__:
        assert getattr(pvmkit, name) is not None, name


def test_errors_share_one_root() -> None:
    for name in pvmkit.__all__:
        obj = getattr(pvmkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, pvmkit.PvmkitError), name


def test_import_pvmkit_is_cheap() -> None:
    code = "import sys, pvmkit; print(sorted(m for m in sys.modules if m.startswith('pvmkit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pvmkit']"


def test_measure_dispatches_by_vendor() -> None:
    from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, LaunchPlan, PageKind, Vendor

    page = bytes(range(256)) * 16
    snp = LaunchPlan.of(
        [Init(Vendor.SNP), AddMemory(0x1000, 4096, PageKind.NORMAL, data=page), AddVcpu(0, bytes(4096)),
         Finalize()]
    )  # fmt: skip
    tdx = LaunchPlan.of([Init(Vendor.TDX), AddMemory(0x1000, 4096, PageKind.NORMAL, data=page), Finalize()])
    assert len(pvmkit.measure(snp)) == 48
    assert len(pvmkit.measure(tdx)) == 48
    assert pvmkit.measure(snp) != pvmkit.measure(tdx)
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.tdx.measure import measure_mrtd

    assert pvmkit.measure(snp) == measure_plan(snp)
    assert pvmkit.measure(tdx) == measure_mrtd(tdx)


def test_measure_stays_callable_after_its_module_is_imported() -> None:
    code = (
        "import pvmkit.prediction, pvmkit; from pvmkit.plan import *; "
        "p = LaunchPlan.of([Init(Vendor.TDX), AddMemory(0x1000, 4096, PageKind.NORMAL), Finalize()]); "
        "print(pvmkit.measure(p) == pvmkit.prediction.measure(p))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
