"""The TDX KVM driver against the recording fake kernel (tests/support/fakekernel.py).

Expected sequence, rules and numbers come from the spec: tdx.md §3.1 (numbers), §3.2 (struct layouts),
§3.3 (required sequence and the rules KVM enforces), §3.4 (register ioctls refused), §7 fact 5; the
TDVF sections of the Debian image from §1.2; MRTD of the image (single-pass) from §1.5. The fake
decodes every structure with the header-derived table (src/pvmkit/uapi/layouts.json).
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno

import pytest

from pvmkit.errors import FeatureError, KvmError, LayoutError, ProtectedStateError, TdxModuleError
from pvmkit.kvm import Kvm
from pvmkit.launch import Launcher
from pvmkit.plan import Init, LaunchPlan, PageOrder, TdxParams, Vendor
from pvmkit.uapi import tdx as t
from pvmkit.uapi.kvm import kvm_regs
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from pvmkit.vendors.tdx.kvm import TdxKvmDriver, TdxLaunchResult
from support.fakekernel import FakeKernel, entry, get, installed
from support.fixtures import read_fixture

KVM_MEMORY_ENCRYPT_OP = 0xC008AEBA  # tdx.md §3.1
KVM_ENABLE_CAP = 0x4068AEA3
KVM_SET_CPUID2 = 0x4008AE90
KVM_CREATE_GUEST_MEMFD = 0xC040AED4
KVM_SET_USER_MEMORY_REGION2 = 0x40A0AE49
KVM_SET_MEMORY_ATTRIBUTES = 0x4020AED2
KVM_CAP_SPLIT_IRQCHIP = 121
TD_HOB_GPA = 0x809000  # tdx.md §1.2, section 4
# tdx.md §1.5: MRTD of Debian sid OVMF.inteltdx.ms.fd 2026.08, single-pass (upstream KVM)
MRTD = "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08"
# tdx.md §1.2: (GPA, pages, measured) in metadata order
SECTIONS = [
    (0xFFC84000, 0x37C, True),
    (0xFFC00000, 0x84, False),
    (0x810000, 0x10, False),
    (0x80B000, 0x2, False),
    (0x809000, 0x2, False),
    (0x800000, 0x6, False),
]


@pytest.fixture(scope="module")
def image() -> bytes:
    return read_fixture("firmware/OVMF.inteltdx.ms.fd")


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    k = FakeKernel()
    with installed(k):
        yield k
    assert k.violations == []
    assert k.open_fds() == {}


def run(plan: LaunchPlan, **kw: object) -> TdxLaunchResult:
    with TdxKvmDriver(**kw) as driver:  # type: ignore[arg-type]
        result: TdxLaunchResult = Launcher(driver).run(plan)
        return result


def flags_of(call) -> int:  # type: ignore[no-untyped-def]
    return get("kvm_tdx_cmd", call.data_in, "flags")


def test_sequence_and_mrtd(fake, image):  # type: ignore[no-untyped-def]
    plan = build_tdvf_plan(image, vcpus=2)
    run(plan)
    vcpu = ["KVM_CREATE_VCPU", "KVM_SET_CPUID2", "KVM_TDX_INIT_VCPU"]
    region = ["KVM_CREATE_GUEST_MEMFD", "KVM_SET_USER_MEMORY_REGION2", "KVM_SET_MEMORY_ATTRIBUTES"]
    assert fake.labels() == [
        "KVM_GET_API_VERSION",
        "KVM_CHECK_EXTENSION",  # KVM_CAP_VM_TYPES
        "KVM_GET_VCPU_MMAP_SIZE",
        "KVM_CREATE_VM",
        "KVM_ENABLE_CAP",  # split irqchip
        "KVM_CHECK_EXTENSION",  # KVM_CAP_X86_APIC_BUS_CYCLES_NS
        "KVM_ENABLE_CAP",  # APIC bus cycle 40 ns (QEMU tdx.c tdx_pre_create_vcpu: 25 MHz crystal)
        "KVM_ENABLE_CAP",  # exit hypercall
        "KVM_TDX_CAPABILITIES",
        "KVM_GET_SUPPORTED_CPUID",
        "KVM_TDX_INIT_VM",
        *vcpu,
        "KVM_TDX_GET_CPUID",  # vCPU 0 only
        *vcpu,
        *[x for _ in SECTIONS for x in (*region, "KVM_TDX_INIT_MEM_REGION")],
        "KVM_TDX_FINALIZE_VM",
    ]
    assert fake.named("KVM_CREATE_VM")[0].arg == 5
    cap = fake.named("KVM_ENABLE_CAP")[0]
    assert cap.number == KVM_ENABLE_CAP
    assert (cap.decoded()["cap"], cap.decoded()["args"][:8]) == (
        KVM_CAP_SPLIT_IRQCHIP,
        (24).to_bytes(8, "little"),
    )
    bus = fake.named("KVM_ENABLE_CAP")[1].decoded()  # KVM_CAP_X86_APIC_BUS_CYCLES_NS 237 (linux/kvm.h)
    assert (bus["cap"], bus["args"][:8]) == (237, (40).to_bytes(8, "little"))
    hc = fake.named("KVM_ENABLE_CAP")[2].decoded()  # KVM_CAP_EXIT_HYPERCALL 201, 1 << KVM_HC_MAP_GPA_RANGE
    assert (hc["cap"], hc["args"][:8]) == (201, (1 << 12).to_bytes(8, "little"))
    for c in fake.calls:
        if c.sub:
            assert c.number == KVM_MEMORY_ENCRYPT_OP
            assert get("kvm_tdx_cmd", c.data_in, "hw_error") == 0  # must be 0 on input (§3.2)
    assert {c.number for c in fake.named("KVM_SET_CPUID2")} == {KVM_SET_CPUID2}
    assert {c.number for c in fake.named("KVM_CREATE_GUEST_MEMFD")} == {KVM_CREATE_GUEST_MEMFD}
    assert {c.number for c in fake.named("KVM_SET_USER_MEMORY_REGION2")} == {KVM_SET_USER_MEMORY_REGION2}
    assert {c.number for c in fake.named("KVM_SET_MEMORY_ATTRIBUTES")} == {KVM_SET_MEMORY_ATTRIBUTES}
    # INIT_MEM_REGION: on a vCPU fd, one per section in metadata order, MEASURE only for BFV (§1.4)
    mem = fake.named("KVM_TDX_INIT_MEM_REGION")
    assert {(c.kind, c.vcpu_id) for c in mem} == {("vcpu", 0)}
    assert [(c.decoded()["gpa"], c.decoded()["nr_pages"], flags_of(c) == 1) for c in mem] == SECTIONS
    assert all(c.decoded(out=True)["nr_pages"] == 0 for c in mem)
    # the fake TDX module's MRTD over what the driver added equals the spec's vector
    assert fake.vms[0].tdx_init["mrtd"].hex() == MRTD


def test_vcpu_order_rules(fake, image):  # type: ignore[no-untyped-def]
    run(build_tdvf_plan(image, vcpus=3))
    calls = fake.calls
    labels = fake.labels()
    for i in range(3):
        mine = [
            c.label for c in calls if c.vcpu_id == i and c.label in ("KVM_SET_CPUID2", "KVM_TDX_INIT_VCPU")
        ]
        assert mine[:2] == ["KVM_SET_CPUID2", "KVM_TDX_INIT_VCPU"]  # CPUID (with x2APIC) first (§3.3)
    init_vcpu = [c for c in calls if c.label == "KVM_TDX_INIT_VCPU"]
    assert [c.vcpu_id for c in init_vcpu] == [0, 1, 2]
    assert {get("kvm_tdx_cmd", c.data_in, "data") for c in init_vcpu} == {TD_HOB_GPA}  # RCX = TD HOB GPA
    assert {flags_of(c) for c in init_vcpu} == {0}
    last_init_vcpu = max(i for i, x in enumerate(labels) if x == "KVM_TDX_INIT_VCPU")
    assert labels.index("KVM_TDX_INIT_MEM_REGION") > last_init_vcpu
    assert labels.index("KVM_TDX_INIT_VM") < labels.index("KVM_CREATE_VCPU")
    assert labels[-1] == "KVM_TDX_FINALIZE_VM"
    cpuid = fake.named("KVM_SET_CPUID2")[0]
    nent = get("kvm_cpuid2", cpuid.data_in, "nent")
    leaves = [cpuid.data_in[8 + 40 * i : 48 + 40 * i] for i in range(nent)]
    leaf1 = [x for x in leaves if get("kvm_cpuid_entry2", x, "function") == 1]
    assert get("kvm_cpuid_entry2", leaf1[0], "ecx") >> 21 & 1  # x2APIC


def test_init_vm_bytes(fake, image):  # type: ignore[no-untyped-def]
    params = TdxParams(
        xfam=0x600E7, mrconfigid=bytes(range(48)), mrowner=b"\x01" * 48, mrownerconfig=b"\x02" * 48
    )
    plan = build_tdvf_plan(image, tdx=params)
    plan = LaunchPlan.of([dataclasses.replace(plan.init, policy=1 << 28), *plan.ops[1:]])
    result = run(plan)
    call = fake.named("KVM_TDX_INIT_VM")[0]
    data = call.sub_in
    assert data[0:8] == (1 << 28).to_bytes(8, "little")  # attributes = SEPT_VE_DISABLE (§2.6)
    assert data[8:16] == (0x600E7).to_bytes(8, "little")  # GCE value (§2.6)
    assert data[16:64] == bytes(range(48)) and data[64:112] == b"\x01" * 48 and data[112:160] == b"\x02" * 48
    assert data[160:256] == bytes(96)  # reserved
    nent = get("kvm_tdx_init_vm", data, "cpuid.nent")
    entries = {
        (get("kvm_cpuid_entry2", e, "function"), get("kvm_cpuid_entry2", e, "index")): e
        for e in (data[264 + 40 * i : 304 + 40 * i] for i in range(nent))
    }
    assert set(entries) <= {(e["function"], e["index"]) for e in fake.tdx_cpuid}  # configurable leaves only
    gpaw = entries[(0x80000008, 0)]
    assert get("kvm_cpuid_entry2", gpaw, "eax") >> 16 & 0xFF == 48  # mandatory GPAW entry (§3.3)
    assert result.attributes == 1 << 28 and result.capabilities.supported_attrs == fake.tdx_supported_attrs


def test_capabilities_grow_on_e2big(image):  # type: ignore[no-untyped-def]
    cpuid = [entry(0x1, ecx=0xFFFFFFFF)] + [entry(0x7, i, flags=1) for i in range(18)] + [entry(0x80000008)]
    fake = FakeKernel(tdx_cpuid=cpuid)
    with installed(fake):
        run(build_tdvf_plan(image))
    caps = fake.named("KVM_TDX_CAPABILITIES")
    assert [get("kvm_tdx_capabilities", c.sub_in, "cpuid.nent") for c in caps] == [6, 12, 24]
    assert [c.errno for c in caps] == [errno.E2BIG, errno.E2BIG, 0]


def test_init_mem_region_resumes_after_eintr_and_eagain(fake, image):  # type: ignore[no-untyped-def]
    big = lambda d: d["nr_pages"] > 0x100  # noqa: E731 - BFV only
    fake.inject("KVM_TDX_INIT_MEM_REGION", errno.EINTR, times=2, progress=3, when=big)
    fake.inject("KVM_TDX_INIT_MEM_REGION", errno.EAGAIN, times=2, progress=0, when=big)
    run(build_tdvf_plan(image))
    bfv = [c for c in fake.named("KVM_TDX_INIT_MEM_REGION") if c.decoded()["gpa"] >= 0xFFC84000]
    assert [c.errno for c in bfv] == [errno.EINTR, errno.EINTR, errno.EAGAIN, errno.EAGAIN, 0]
    assert bfv[1].sub_in == bfv[0].sub_out  # re-issued with the structure the kernel updated in place
    assert bfv[1].decoded() == {"source_addr": bfv[0].decoded()["source_addr"] + 3 * 4096,
                                "gpa": 0xFFC84000 + 3 * 4096, "nr_pages": 0x37C - 3}  # fmt: skip
    assert fake.vms[0].tdx_init["mrtd"].hex() == MRTD  # no page lost or added twice


def test_finalize_retries_ebusy(fake, image):  # type: ignore[no-untyped-def]
    fake.inject("KVM_TDX_FINALIZE_VM", errno.EBUSY, times=2)
    run(build_tdvf_plan(image))
    assert [c.errno for c in fake.named("KVM_TDX_FINALIZE_VM")] == [errno.EBUSY, errno.EBUSY, 0]


def test_hw_error_is_decoded(fake, image):  # type: ignore[no-untyped-def]
    fake.inject("KVM_TDX_INIT_VM", errno.EINVAL, fw_error=0xC000010000000092)
    with pytest.raises(TdxModuleError) as exc:
        run(build_tdvf_plan(image))
    e = exc.value
    assert (e.op, e.errno, e.fw_code) == ("KVM_TDX_INIT_VM", errno.EINVAL, 0xC000010000000092)
    assert e.fw_name == "TDX_OPERAND_INVALID (detail 0x92)"


def test_two_pass_is_refused_at_init(fake, image):  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError, match="TWO_PASS"):
        run(build_tdvf_plan(image, order=PageOrder.TWO_PASS))
    assert "KVM_CREATE_VM" not in fake.labels()


def test_unsupported_attributes_refused_before_init_vm(fake, image):  # type: ignore[no-untyped-def]
    plan = build_tdvf_plan(image)
    plan = LaunchPlan.of([dataclasses.replace(plan.init, policy=1), *plan.ops[1:]])  # DEBUG: not supported
    with pytest.raises(FeatureError, match="supported_attrs"):
        run(plan)
    assert "KVM_TDX_CAPABILITIES" in fake.labels() and "KVM_TDX_INIT_VM" not in fake.labels()


def test_registers_refused_and_nothing_after_finalize(fake, image):  # type: ignore[no-untyped-def]
    with TdxKvmDriver() as driver:
        result = Launcher(driver).run(build_tdvf_plan(image))
        vcpu = result.vcpus[0]
        for op in (vcpu.get_regs, vcpu.get_sregs, vcpu.get_fpu, vcpu.get_xcrs, vcpu.get_debugregs):
            with pytest.raises(ProtectedStateError) as exc:
                op()
            assert exc.value.errno == errno.EINVAL
        with pytest.raises(ProtectedStateError):
            vcpu.set_regs(kvm_regs())
        region = t.kvm_tdx_init_mem_region(source_addr=0, gpa=0x800000, nr_pages=1)
        cmd = t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_MEM_REGION, data=ctypes.addressof(region))
        assert vcpu.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)  # after FINALIZE (§3.3 step 6)
    assert fake.fired[-1] == "tdx.vcpu.td-state"  # after FINALIZE (tests/support/kernel_rules.json)


def test_memory_before_vcpus_is_refused(fake, image):  # type: ignore[no-untyped-def]
    plan = build_tdvf_plan(image)
    ops = [plan.ops[0], *plan.memory, *plan.vcpus, plan.ops[-1]]
    with pytest.raises(LayoutError, match="vCPU"):
        run(LaunchPlan.of(ops))


def test_fake_kernel_tdx_rules(fake):  # type: ignore[no-untyped-def]
    with Kvm.open() as kvm:
        vm = kvm.create_vm(5)
        assert vm.ioctl_raw(0xAE41, 0) == (-1, errno.EIO)  # KVM_CREATE_VCPU before INIT_VM
        bad = t.kvm_tdx_cmd(id=t.KVM_TDX_CAPABILITIES, hw_error=1)
        assert vm.memory_encrypt_op_raw(bad)[:2] == (-1, errno.EINVAL)  # hw_error must be 0 on input
        vm.enable_cap(KVM_CAP_SPLIT_IRQCHIP, 24)
        init = t.kvm_tdx_init_vm_with(1)()
        init.cpuid.nent = 1
        init.entries[0].function, init.entries[0].eax = 0x80000008, 48 << 16
        vm.memory_encrypt_op(t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_VM, data=ctypes.addressof(init)))
        vcpu = vm.create_vcpu(0)
        again = t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_VM, data=ctypes.addressof(init))
        with pytest.raises(KvmError) as exc:
            vm.memory_encrypt_op(again)
        # a second INIT_VM: tdx_td_init checks the TD's state before setup_tdparams' created_vcpus (EBUSY)
        assert exc.value.errno == errno.EINVAL
        no_cpuid = t.kvm_tdx_cmd(id=t.KVM_TDX_INIT_VCPU, data=TD_HOB_GPA)
        assert vcpu.memory_encrypt_op_raw(no_cpuid)[:2] == (-1, errno.EINVAL)  # no x2APIC in CPUID yet
    assert fake.fired == [
        "tdx.vcpu-create.initialized",
        "tdx.hw-error-input",
        "tdx.init-vm.once",
        "tdx.init-vcpu.x2apic",
    ]


def test_driver_refuses_other_vendors(fake):  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError), TdxKvmDriver() as driver:
        Launcher(driver).init(Init(Vendor.SNP, policy=0x30000))


def test_td_cpuid_between_init_and_finalize(fake, image):  # type: ignore[no-untyped-def]
    """KVM_TDX_GET_CPUID after vCPU 0's INIT_VCPU lands in the result (the fake TDX module answers the
    leaves INIT_VM configured); after FINALIZE the kernel refuses it (tdx_vcpu_ioctl: EINVAL)."""
    with TdxKvmDriver() as driver:
        result = Launcher(driver).run(build_tdvf_plan(image, vcpus=2))
        key = lambda e: (e.function, e.index)  # noqa: E731
        assert sorted(result.td_cpuid, key=key) == sorted(result.cpuid, key=key) != []
        assert [c.vcpu_id for c in fake.named("KVM_TDX_GET_CPUID")] == [0]
        with pytest.raises(KvmError) as exc:
            driver.get_td_cpuid(result.vcpus[1])
        assert exc.value.errno == errno.EINVAL and fake.fired[-1] == "tdx.vcpu.td-state"


def test_xfam_from_the_cpu(image):  # type: ignore[no-untyped-def]
    """xfam_from_cpu: XFAM = the host CPUID's XSAVE components (0xD.0 EDX:EAX for XCR0, 0xD.1 EDX:ECX
    for IA32_XSS; Intel SDM vol. 1 §13.2) within supported_xfam, as QEMU's setup_td_xfam derives it
    from ``-cpu host``. The fake host enables x87, SSE, AVX, the three AVX-512 components and PKRU
    (0x2E7) in XCR0 and CET_U/CET_S (bits 11, 12) in XSS; its TDX module supports 0x602FF, without
    CET, so INIT_VM gets 0x2E7 whatever TdxParams says."""
    from pvmkit.vendors.tdx.kvm import cpu_xfam
    from support.fakekernel import default_supported_cpuid

    cpuid = [e for e in default_supported_cpuid() if e["function"] != 0xD]
    cpuid += [entry(0xD, 0, eax=0x2E7, flags=1), entry(0xD, 1, eax=0xF, ecx=0x1800, flags=1)]
    fake = FakeKernel(supported_cpuid=cpuid)
    plan = build_tdvf_plan(image, tdx=TdxParams(xfam=0x3))
    with installed(fake), TdxKvmDriver(xfam_from_cpu=True) as driver:
        result = Launcher(driver).run(plan)
    assert result.xfam == 0x2E7
    assert fake.named("KVM_TDX_INIT_VM")[0].decoded()["xfam"] == 0x2E7
    from pvmkit.vendors.tdx.kvm import CpuidEntry

    assert (
        cpu_xfam([CpuidEntry(0xD, 0, eax=3, edx=1 << 1), CpuidEntry(0xD, 1, ecx=1 << 8)]) == (1 << 33) | 0x103
    )
