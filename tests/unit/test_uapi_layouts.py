"""pvmkit.uapi against the layout table compiled from the real kernel headers.

``src/pvmkit/uapi/layouts.json`` is produced by ``tools/gen_uapi_layouts.py``: gcc compiles a probe
against Debian sid's linux-libc-dev (see tests/vectors/README.md, "uapi layout table"). The list of
what is probed comes from the Python side, so everything pvmkit.uapi mirrors is here, and nothing in
pvmkit.uapi is left unchecked.
"""

from __future__ import annotations

import copy
import ctypes
import platform
from typing import Any

import pytest

from pvmkit._cstruct import Struct
from pvmkit.uapi import psp_sev, sev, tdx
from pvmkit.uapi._layout_check import compare, load_table, python_layouts, uapi_modules

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the layout table is the x86-64 ABI")

TABLE = load_table()
PY = python_layouts()


def test_table_provenance() -> None:
    src = TABLE["source"]
    assert src["package"] == "linux-libc-dev"
    assert src["suite"] == "Debian sid"
    assert src["kernel_version"].startswith("7.2."), src
    assert src["package_version"].startswith(src["kernel_version"])
    assert src["pointer_size"] == 8
    assert "asm/kvm.h" in " ".join(src["headers"])


def test_python_side_is_consistent() -> None:
    # The same name defined in two modules (e.g. KVM_X86_GRP_SEV) must have the same value/layout.
    assert PY.problems == []


def test_everything_matches_the_table() -> None:
    assert compare(TABLE, PY) == []


@pytest.mark.parametrize("name", sorted(PY.structs))
def test_struct_layout(name: str) -> None:
    py, t = PY.structs[name], TABLE["structs"][name]
    assert t["c_type"] == py.c_type
    assert t["size"] == py.size, f"sizeof({py.c_type})"
    assert set(t["fields"]) == set(py.fields)
    for path, (offset, size) in py.fields.items():
        assert t["fields"][path]["offset"] == offset, f"offsetof({py.c_type}, {path})"
        if size is not None:
            assert t["fields"][path]["size"] == size, f"sizeof({py.c_type}.{path})"
    assert t.get("bitfields", {}) == py.bitfields
    assert {p: (f["offset"], f["elem_size"]) for p, f in t.get("flexible", {}).items()} == py.flexible


def test_constants() -> None:
    wrong = {
        name: (TABLE["constants"].get(name, {}).get("value"), c.value)
        for name, c in PY.constants.items()
        if TABLE["constants"].get(name, {}).get("value") != c.value
    }
    assert wrong == {}


def test_table_covers_40_structs() -> None:
    assert len(TABLE["structs"]) >= 40
    assert len(TABLE["structs"]) == TABLE["counts"]["structs"]


_IOCTLS = sorted(n for n, c in TABLE["constants"].items() if c["ioctl"])


def test_table_covers_60_ioctl_numbers() -> None:
    assert len(_IOCTLS) == TABLE["counts"]["ioctls"]
    assert len(_IOCTLS) >= 60, f"only {len(_IOCTLS)} ioctl numbers mirrored: {_IOCTLS}"


def test_spec_values_in_table() -> None:
    # spec amd.md §5.4-§5.7 and tdx.md §3, as the compiled headers give them.
    c = TABLE["constants"]
    assert (c["KVM_MEMORY_ENCRYPT_OP"]["value"], c["KVM_MEMORY_ENCRYPT_OP"]["ioctl"]) == (0xC008AEBA, True)
    assert c["KVM_SEV_INIT2"]["ioctl"] is False
    assert c["KVM_GET_DEVICE_ATTR"]["value"] == 0x4018AEE2
    assert c["KVM_CREATE_GUEST_MEMFD"]["value"] == 0xC040AED4
    assert c["KVM_SET_USER_MEMORY_REGION2"]["value"] == 0x40A0AE49
    assert c["KVM_SEV_INIT2"]["value"] == 22 and c["KVM_SEV_SNP_LAUNCH_START"]["value"] == 100
    s = TABLE["structs"]
    assert s["kvm_sev_cmd"]["size"] == 24 and s["kvm_sev_cmd"]["fields"]["data"]["offset"] == 8
    assert s["kvm_sev_init"]["size"] == 48 and s["kvm_sev_init"]["fields"]["pad2"]["offset"] == 16
    assert s["kvm_tdx_init_vm"]["fields"]["cpuid"]["offset"] == 256
    assert s["kvm_tdx_capabilities"]["fields"]["cpuid"]["offset"] == 2048
    assert s["kvm_tdx_cmd"]["size"] == 24


def _all_struct_subclasses() -> set[type]:
    """Every ctypes structure class defined in a pvmkit.uapi module (module attributes, plus any
    Struct subclass created anywhere under pvmkit.uapi)."""
    found: set[type] = set()
    for mod in uapi_modules():
        for obj in vars(mod).values():
            is_struct = isinstance(obj, type) and issubclass(obj, (ctypes.Structure, ctypes.Union))
            if is_struct and obj.__module__ == mod.__name__:
                found.add(obj)
    todo: list[type] = [Struct]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("pvmkit.uapi."):
                found.add(sub)
    return found


def _reachable_from(cls: type, seen: set[type]) -> None:
    for entry in cls.__dict__.get("_fields_", ()):
        ftype = entry[1]
        while hasattr(ftype, "_type_") and hasattr(ftype, "_length_"):  # arrays
            ftype = ftype._type_
        is_struct = isinstance(ftype, type) and issubclass(ftype, (ctypes.Structure, ctypes.Union))
        if is_struct and ftype not in seen:
            seen.add(ftype)
            _reachable_from(ftype, seen)


def test_no_struct_unchecked() -> None:
    # Make the run-time variants exist, so the walk below sees them too.
    tdx.kvm_tdx_capabilities_with(3)
    tdx.kvm_tdx_init_vm_with(1)
    checked = {cls for cls in _all_struct_subclasses() if cls.__name__ in TABLE["structs"]}
    covered: set[type] = set(checked)
    for cls in checked:
        _reachable_from(cls, covered)  # anonymous-member helpers are checked as fields of their parent
    unchecked = []
    for cls in _all_struct_subclasses() - covered:
        bases = [b for b in cls.__mro__[1:] if b in checked]
        if bases and "_flexible_" in bases[0].__dict__:
            # a fixed-capacity variant: its base and the start of the flexible array are checked
            assert cls.entries.offset == PY.structs[bases[0].__name__].flexible["cpuid.entries"][0]
            continue
        unchecked.append(f"{cls.__module__}.{cls.__qualname__}")
    assert unchecked == []
    for name in PY.structs:
        assert name in TABLE["structs"]


def test_struct_rejects_unknown_field_names() -> None:
    with pytest.raises(TypeError, match="vmsa_feature"):
        sev.kvm_sev_init(vmsa_feature=1)
    init = sev.kvm_sev_init(vmsa_features=1, ghcb_version=2)
    assert init.vmsa_features == 1
    with pytest.raises(TypeError):
        init.ghcb = 2
    with pytest.raises(TypeError):
        tdx.kvm_tdx_cmd(error=0)


def _mutated(table: dict[str, Any]) -> dict[str, Any]:
    bad = copy.deepcopy(table)
    bad["structs"]["kvm_sev_cmd"]["fields"]["data"]["offset"] = 4  # no pad after id
    bad["structs"]["kvm_sev_init"]["size"] = 44
    bad["constants"]["KVM_SEV_INIT2"]["value"] = 21
    bad["structs"]["sev_user_data_snp_status"]["bitfields"]["vlek_en"] = "00" * 32
    del bad["structs"]["kvm_tdx_cmd"]
    return bad


def test_check_can_fail() -> None:
    problems = compare(_mutated(TABLE), PY)
    text = "\n".join(problems)
    assert "kvm_sev_cmd: offsetof(data) is 4 in C, 8 in Python" in text
    assert "kvm_sev_init: sizeof is 44 in C, 48 in Python" in text
    assert "KVM_SEV_INIT2" in text
    assert "bit-field vlek_en" in text
    assert "struct kvm_tdx_cmd (pvmkit.uapi.tdx): not in the table" in text
    assert len(problems) == 5


def test_check_catches_a_wrong_python_mirror() -> None:
    # The other direction: a mirror with a forgotten pad (the kvm_sev_cmd pitfall) is reported.
    class kvm_sev_cmd(Struct):
        _fields_ = (("id", ctypes.c_uint32), ("data", ctypes.c_uint64), ("error", ctypes.c_uint32))

    py = copy.deepcopy(PY)
    from pvmkit.uapi._layout_check import _struct_info

    py.structs["kvm_sev_cmd"] = _struct_info(kvm_sev_cmd, "pvmkit.uapi.sev")
    problems = compare(TABLE, py)
    assert any("table has field pad0" in p for p in problems)
    assert any("sev_fd" in p for p in problems)


def test_stale_table_entries_are_reported() -> None:
    bad = copy.deepcopy(TABLE)
    bad["constants"]["KVM_SEV_NO_SUCH"] = {"value": 1, "ioctl": False}
    assert compare(bad, PY) == [
        "constant KVM_SEV_NO_SUCH: in the table but not in pvmkit.uapi (stale table?)"
    ]


def test_status_names() -> None:
    assert psp_sev.sev_ret_name(0x16) == "SEV_RET_INVALID_PARAM"
    assert psp_sev.sev_ret_name(3) == "SEV_RET_INVALID_CONFIG"
    assert psp_sev.sev_ret_name(-1) == "SEV_RET_NO_FW_CALL"
    assert psp_sev.sev_ret_name(0x34) == "unknown (52)"
    assert tdx.tdx_status_name(0) == "TDX_SUCCESS"
    assert tdx.tdx_status_name(0xC000010000000092) == "TDX_OPERAND_INVALID (detail 0x92)"
    assert tdx.tdx_status_name(0x8000020300000000) == "TDX_RND_NO_ENTROPY"
    assert tdx.tdx_status_name(0x1234_0000_0000) == "unknown (0x123400000000)"


def test_flexible_variants() -> None:
    caps_cls = tdx.kvm_tdx_capabilities_with(4)
    assert caps_cls is tdx.kvm_tdx_capabilities_with(4)
    caps = caps_cls()
    caps.cpuid.nent = 4
    caps.entries[3].function = 0x80000008
    raw = caps.to_bytes()
    assert len(raw) == 2056 + 4 * 40
    assert int.from_bytes(raw[2056 + 3 * 40 : 2056 + 3 * 40 + 4], "little") == 0x80000008
    assert tdx.kvm_tdx_init_vm_with(2).entries.offset == 264
    with pytest.raises(ValueError):
        tdx.kvm_tdx_init_vm_with(-1)


def _generator() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "gen_uapi_layouts.py"
    spec = importlib.util.spec_from_file_location("gen_uapi_layouts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_is_what_gcc_computes_from_cached_headers(tmp_path: Any) -> None:
    """Offline re-derivation: compile the probe against the headers the table names (if they are in
    the cache from an earlier run of the tool) and compare the whole result with the committed table."""
    import shutil

    gen = _generator()
    version = TABLE["source"]["package_version"]
    root = gen.DEFAULT_CACHE / f"root-{version}"
    if shutil.which("gcc") is None or not (root / "usr" / "include" / "linux" / "kvm.h").is_file():
        pytest.skip(f"no gcc or no cached linux-libc-dev {version} (run tools/gen_uapi_layouts.py)")
    fresh = gen.build_table(PY, root, version, tmp_path)
    assert fresh["source"]["kernel_version"] == TABLE["source"]["kernel_version"]

    def values(entries: dict[str, Any]) -> dict[str, Any]:  # which module defines a name is not ABI
        return {k: {f: v for f, v in e.items() if f != "module"} for k, e in entries.items()}

    assert values(fresh["structs"]) == values(TABLE["structs"])
    assert values(fresh["constants"]) == values(TABLE["constants"])


def test_probe_source_covers_every_mirror() -> None:
    src = _generator().probe_source(PY)
    for name, s in PY.structs.items():
        assert f"sizeof({s.c_type})" in src, name
        for path in s.fields:
            assert f"offsetof({s.c_type}, {path})" in src, (name, path)
    for name in PY.constants:
        assert f"__typeof__({name})" in src, name
