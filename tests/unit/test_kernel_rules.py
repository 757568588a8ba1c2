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


# -- scenarios: the rules where the source corrected the earlier model --------------------------------
def _sev(vm: Any, sev: Any, cmd_id: int, data: Any = None, sev_fd: int | None = None) -> tuple[int, int]:
    import ctypes

    from pvmkit.uapi import sev as s

    fd = sev.fileno() if sev_fd is None else sev_fd
    cmd = s.kvm_sev_cmd(id=cmd_id, data=ctypes.addressof(data) if data is not None else 0, sev_fd=fd)
    rc, err, fw = vm.memory_encrypt_op_raw(cmd)
    return err if rc else 0, fw


def test_scenarios_sev_and_snp() -> None:
    from pvmkit.kvm import DeviceFd, Kvm
    from pvmkit.uapi import kvm as k
    from pvmkit.uapi import sev as s

    fake = fakekernel.FakeKernel()
    with fakekernel.installed(fake), Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        plain = kvm.create_vm(2)
        assert _sev(plain, sev, s.KVM_SEV_INIT2, s.kvm_sev_init()) == (0, 0)
        assert _sev(plain, sev, s.KVM_SEV_LAUNCH_UPDATE_VMSA) == (errno.ENOTTY, 0)  # not SEV-ES
        secure_tsc = s.kvm_sev_init(vmsa_features=fakekernel.SVM_SEV_FEAT_SECURE_TSC)
        es = kvm.create_vm(3)
        fake.vmsa_features = 0x20 | fakekernel.SVM_SEV_FEAT_SECURE_TSC
        assert _sev(es, sev, s.KVM_SEV_INIT2, secure_tsc) == (errno.EINVAL, 0)  # SecureTSC: SNP only
        snp = kvm.create_vm(4)
        assert _sev(snp, sev, s.KVM_SEV_INIT2, s.kvm_sev_init(ghcb_version=1)) == (errno.EINVAL, 0)
        assert _sev(snp, sev, s.KVM_SEV_INIT2, secure_tsc) == (0, 0)
        start = s.kvm_sev_snp_launch_start(policy=0x30000)
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_START, start, sev_fd=9999) == (errno.ENOTTY, 0)
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_START, start) == (0, 0)
        gmem = snp.create_guest_memfd(0x3000)
        mem = snp.add_memory(0, 0, 0x3000, guest_memfd=gmem)
        snp.memory_encrypt_reg_region(mem.host_addr, 0x3000)  # accepted on SNP guests too
        snp.set_memory_attributes(0, 0x1000, k.KVM_MEMORY_ATTRIBUTE_PRIVATE)  # page 0 only
        upd = s.kvm_sev_snp_launch_update(gfn_start=1, uaddr=mem.host_addr + 0x1000, len=0x1000, type=1)
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_UPDATE, upd) == (errno.EIO, 0)  # first page shared
        upd = s.kvm_sev_snp_launch_update(gfn_start=0, uaddr=mem.host_addr, len=0x3000, type=1)
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_UPDATE, upd) == (0, 0)  # stops after page 0
        assert (upd.gfn_start, upd.len) == (1, 0x2000)
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_FINISH, s.kvm_sev_snp_launch_finish()) == (0, 0)
        snp.set_memory_attributes(0x1000, 0x1000, k.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        upd = s.kvm_sev_snp_launch_update(gfn_start=1, uaddr=mem.host_addr + 0x1000, len=0x1000, type=1)
        fw = fakekernel.CONST["SEV_RET_INVALID_GUEST_STATE"]
        assert _sev(snp, sev, s.KVM_SEV_SNP_LAUNCH_UPDATE, upd) == (errno.EIO, fw)  # after FINISH
        default = kvm.create_vm(0)
        default.create_guest_memfd(0x1000)  # any VM type may have a guest_memfd
        private = k.KVM_MEMORY_ATTRIBUTE_PRIVATE
        attrs = k.kvm_memory_attributes(size=4096, attributes=private)
        assert default.ioctl_raw(k.KVM_SET_MEMORY_ATTRIBUTES, attrs) == (-1, errno.EINVAL)
        vm = kvm.create_vm(0)
        vm.create_vcpu(0)
        split = k.kvm_enable_cap(cap=k.KVM_CAP_SPLIT_IRQCHIP)
        assert vm.ioctl_raw(k.KVM_ENABLE_CAP, split) == (-1, errno.EEXIST)  # after a vCPU
    assert fake.fired == [
        "sev.launch.es-guest",
        "sev.init.vmsa-features",
        "sev.init.snp-ghcb",
        "snp.start.sev-fd",
        "gmem.populate-private",
        "snp.update.populate-eio",
        "gmem.populate-private",
        "snp.fw.launch-state",
        "snp.update.populate-eio",
        "attr.supported",
        "irqchip.split-vcpus",
    ]


def test_scenarios_tdx() -> None:
    import ctypes

    from pvmkit.kvm import Kvm
    from pvmkit.uapi import kvm as k
    from pvmkit.uapi import tdx as t

    fake = fakekernel.FakeKernel()
    with fakekernel.installed(fake), Kvm.open() as kvm:
        vm = kvm.create_vm(5)
        vm.enable_cap(k.KVM_CAP_SPLIT_IRQCHIP, 24)
        caps = t.kvm_tdx_capabilities_with(8)()
        caps.cpuid.nent = 8
        vm.memory_encrypt_op(t.kvm_tdx_cmd(id=t.KVM_TDX_CAPABILITIES, data=ctypes.addressof(caps)))
        leaf7 = next(caps.entries[i] for i in range(caps.cpuid.nent) if caps.entries[i].function == 7)
        assert not leaf7.ebx & fakekernel.TDX_FEATURE_TSX and not leaf7.ecx & fakekernel.WAITPKG
        init = t.kvm_tdx_init_vm_with(2)()
        init.cpuid.nent = 2
        init.entries[0].function, init.entries[0].eax = 0x80000008, 48 << 16
        init.entries[1].function, init.entries[1].ecx = 7, fakekernel.WAITPKG
        cmd = t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_VM, data=ctypes.addressof(init))
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)  # WAITPKG is not configurable
        init.entries[1].ecx = 0
        vm.memory_encrypt_op(t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_VM, data=ctypes.addressof(init)))
        vcpu = vm.create_vcpu(0)
        assert vcpu.ioctl_raw(k.KVM_SET_TSC_KHZ, 1000000) == (-1, errno.EINVAL)  # TDX TSC is protected
        finalize = t.kvm_tdx_cmd(id=t.KVM_TDX_FINALIZE_VM, flags=7, data=1)  # flags/data: not checked
        assert vm.memory_encrypt_op_raw(finalize)[:2] == (0, 0)
        assert vm.memory_encrypt_op_raw(t.kvm_tdx_cmd(id=t.KVM_TDX_FINALIZE_VM))[:2] == (-1, errno.EINVAL)
        get = t.kvm_tdx_cmd(id=t.KVM_TDX_GET_CPUID)
        assert vcpu.memory_encrypt_op_raw(get)[:2] == (-1, errno.EINVAL)  # refused after FINALIZE
        assert vm.ioctl_raw(k.KVM_CREATE_VCPU, 1) == (-1, errno.EIO)  # vCPUs only before FINALIZE
    assert fake.fired == [
        "tdx.init-vm.cpuid-unsupported",
        "vcpu.tsc-protected",
        "tdx.finalize.state",
        "tdx.vcpu.td-state",
        "tdx.vcpu-create.initialized",
    ]
