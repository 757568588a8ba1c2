"""The KVM selftests' expectations (Linux 7.2, ``tools/testing/selftests/kvm``), ported to run
``pvmkit.kvm`` and pvmkit's AMD driver against the kernel model (``tests/support/fakekernel.py``,
which enforces ``tests/support/kernel_rules.json``).

Each test names the selftest function it ports; the sequences and the errnos are the selftest's (its
``TEST_ASSERT``s), not pvmkit's. tests/vectors/README.md lists what is ported and what is not, with the
reason. The selftests' constants are the selftest headers' (``include/x86/sev.h``: SEV_POLICY_NO_DBG
bit 0, SEV_POLICY_ES bit 2, SNP_POLICY_SMT bit 16, SNP_POLICY_RSVD_MBO bit 17, SNP_POLICY_DBG bit 19;
``x86/sev_init2_tests.c``: SVM_SEV_FEAT_DEBUG_SWAP 0x20; ``set_memory_region_test.c``:
MEM_REGION_GPA 0xc0000000, MEM_REGION_SIZE 0x4000, MEM_REGION_SLOT 10).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pvmkit.errors import KvmError
from pvmkit.kvm import DeviceFd, Kvm, Vm
from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, LaunchPlan, PageKind, Vendor
from pvmkit.uapi import kvm as k
from pvmkit.uapi import sev as s
from pvmkit.vendors.amd.kvm import AmdKvmDriver
from pvmkit.vendors.amd.vmsa import reset_vmsa
from support.fakekernel import CONST, FakeKernel, installed

# include/x86/sev.h
SEV_POLICY_NO_DBG = 1 << 0
SEV_POLICY_ES = 1 << 2
SNP_POLICY_SMT = 1 << 16
SNP_POLICY_RSVD_MBO = 1 << 17
SNP_POLICY_DBG = 1 << 19
# x86/sev_init2_tests.c
SVM_SEV_FEAT_DEBUG_SWAP = 0x20
KNOWN_FEATURES = SVM_SEV_FEAT_DEBUG_SWAP
# set_memory_region_test.c
MEM_REGION_GPA = 0xC0000000
MEM_REGION_SIZE = 0x4000
MEM_REGION_SLOT = 10
PAGE = 4096
SEV, SEV_ES, SNP = CONST["KVM_X86_SEV_VM"], CONST["KVM_X86_SEV_ES_VM"], CONST["KVM_X86_SNP_VM"]
SW_PROTECTED, DEFAULT = CONST["KVM_X86_SW_PROTECTED_VM"], CONST["KVM_X86_DEFAULT_VM"]


@pytest.fixture
def fake() -> Iterator[FakeKernel]:
    """A host with every VM type (SW_PROTECTED included) and DEBUG_SWAP as its only VMSA feature."""
    kernel = FakeKernel(vm_types=0b111111, vmsa_features=SVM_SEV_FEAT_DEBUG_SWAP)
    with installed(kernel):
        yield kernel


def errno_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """0 when ``call(*args, **kwargs)`` succeeds, else the errno of the KvmError it raises."""
    try:
        call(*args, **kwargs)
    except KvmError as exc:
        return exc.errno
    return 0


class SevVm:
    """The selftests' ``vm_sev_ioctl``: KVM_MEMORY_ENCRYPT_OP with ``sev_fd`` an open /dev/sev and the
    ``TEST_ASSERT(ret < 0 || cmd.error == SEV_RET_SUCCESS)`` of ``__sev_ioctl``."""

    def __init__(self, vm: Vm, sev: DeviceFd) -> None:
        self.vm, self.sev = vm, sev

    def ioctl(self, cmd_id: int, data: ctypes.Structure | None = None) -> int:
        cmd = s.kvm_sev_cmd(id=cmd_id, data=ctypes.addressof(data) if data else 0, sev_fd=self.sev.fileno())
        rc, err, fw = self.vm.memory_encrypt_op_raw(cmd)
        assert rc < 0 or fw == 0
        return 0 if rc == 0 else err


# -- x86/sev_init2_tests.c ---------------------------------------------------------------------------
def _init2(kvm: Kvm, sev: DeviceFd, vm_type: int, init: Any) -> int:
    with kvm.create_vm(vm_type) as vm:  # vm_create_barebones_type
        return SevVm(vm, sev).ioctl(s.KVM_SEV_INIT2, init)


def test_sev_init2_vm_types(fake: FakeKernel) -> None:
    """``test_vm_types``: INIT2 succeeds on SEV, SEV-ES and SNP VMs, fails with EINVAL on the default
    and the SW_PROTECTED VM types."""
    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        for vm_type in (SEV, SEV_ES, SNP):
            assert _init2(kvm, sev, vm_type, s.kvm_sev_init()) == 0, vm_type
        for vm_type in (DEFAULT, SW_PROTECTED):
            assert _init2(kvm, sev, vm_type, s.kvm_sev_init()) == errno.EINVAL, vm_type


def test_sev_init2_flags(fake: FakeKernel) -> None:
    """``test_flags``: every one of the 32 flag bits is EINVAL, on each SEV VM type."""
    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        for vm_type in (SEV, SEV_ES, SNP):
            for bit in range(32):
                assert _init2(kvm, sev, vm_type, s.kvm_sev_init(flags=1 << bit)) == errno.EINVAL


def test_sev_init2_features(fake: FakeKernel) -> None:
    """``test_features``: a VMSA feature the host does not list is EINVAL (every bit for SEV, whose
    supported set is 0); a listed known one (DEBUG_SWAP) succeeds on SEV-ES and SNP."""
    supported = SVM_SEV_FEAT_DEBUG_SWAP  # KVM_X86_SEV_VMSA_FEATURES of the fake host
    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        assert kvm.get_device_attr(s.KVM_X86_GRP_SEV, s.KVM_X86_SEV_VMSA_FEATURES) == supported
        for vm_type, allowed in ((SEV, 0), (SEV_ES, supported), (SNP, supported)):
            for bit in range(64):
                got = _init2(kvm, sev, vm_type, s.kvm_sev_init(vmsa_features=1 << bit))
                if not allowed >> bit & 1:
                    assert got == errno.EINVAL, (vm_type, bit)
                elif KNOWN_FEATURES >> bit & 1:
                    assert got == 0, (vm_type, bit)


# -- lib/x86/sev.c launch helpers and x86/sev_smoke_test.c ---------------------------------------------
SMOKE = [  # main() and test_sev_smoke(): (type, policy) pairs the smoke test launches
    (SEV, SEV_POLICY_NO_DBG),
    (SEV, 0),
    (SEV_ES, SEV_POLICY_ES | SEV_POLICY_NO_DBG),
    (SEV_ES, SEV_POLICY_ES),
    (SNP, SNP_POLICY_RSVD_MBO | SNP_POLICY_DBG),
    (SNP, SNP_POLICY_RSVD_MBO),
    (SNP, SNP_POLICY_RSVD_MBO | SNP_POLICY_SMT | SNP_POLICY_DBG),  # snp_default_policy() with SMT on
    (SNP, SNP_POLICY_RSVD_MBO | SNP_POLICY_SMT),
]


def _selftest_launch(kvm: Kvm, sev: DeviceFd, vm_type: int, policy: int, *, legacy: bool = False) -> Vm:
    """``vm_sev_create_with_one_vcpu`` + ``vm_sev_launch``: init at creation (``sev_vm_init`` /
    ``sev_es_vm_init`` / ``snp_vm_init``), one memory region and one vCPU created before the launch,
    whose XSAVE state is set (``test_sync_vmsa``), then the launch proper."""
    vm = kvm.create_vm(DEFAULT if legacy else vm_type)
    op = SevVm(vm, sev)
    if legacy:
        assert op.ioctl(s.KVM_SEV_ES_INIT if policy & SEV_POLICY_ES else s.KVM_SEV_INIT) == 0
    else:
        assert op.ioctl(s.KVM_SEV_INIT2, s.kvm_sev_init()) == 0
    snp = vm_type == SNP
    if snp:
        gmem = vm.create_guest_memfd(0x10000)
        mem = vm.add_memory(0, 0, 0x10000, guest_memfd=gmem)
    else:
        mem = vm.add_memory(0, 0, 0x10000)
    mem.write(0, b"\xf4" * 0x10000)
    vcpu = vm.create_vcpu(0)
    vcpu.set_xsave(vcpu.get_xsave())
    if snp:
        vm.enable_cap(k.KVM_CAP_EXIT_HYPERCALL, 1 << k.KVM_HC_MAP_GPA_RANGE)
        assert op.ioctl(s.KVM_SEV_SNP_LAUNCH_START, s.kvm_sev_snp_launch_start(policy=policy)) == 0
        vm.set_memory_attributes(0, 0x10000, k.KVM_MEMORY_ATTRIBUTE_PRIVATE)  # vm_mem_set_private
        update = s.kvm_sev_snp_launch_update(gfn_start=0, uaddr=mem.host_addr, len=0x10000, type=1)
        assert op.ioctl(s.KVM_SEV_SNP_LAUNCH_UPDATE, update) == 0 and update.len == 0
        assert op.ioctl(s.KVM_SEV_SNP_LAUNCH_FINISH, s.kvm_sev_snp_launch_finish()) == 0
        return vm
    assert op.ioctl(s.KVM_SEV_LAUNCH_START, s.kvm_sev_launch_start(policy=policy)) == 0
    vm.memory_encrypt_reg_region(mem.host_addr, 0x10000)  # sev_register_encrypted_memory
    data = s.kvm_sev_launch_update_data(uaddr=mem.host_addr, len=0x10000)
    assert op.ioctl(s.KVM_SEV_LAUNCH_UPDATE_DATA, data) == 0
    if policy & SEV_POLICY_ES:
        assert op.ioctl(s.KVM_SEV_LAUNCH_UPDATE_VMSA) == 0
    blob = (ctypes.c_uint8 * 256)()  # sev_vm_launch_measure: len 256
    measure = s.kvm_sev_launch_measure(uaddr=ctypes.addressof(blob), len=256)
    assert op.ioctl(s.KVM_SEV_LAUNCH_MEASURE, measure) == 0
    assert op.ioctl(s.KVM_SEV_LAUNCH_FINISH) == 0
    return vm


@pytest.mark.parametrize(("vm_type", "policy"), SMOKE)
def test_sev_smoke_launch(fake: FakeKernel, vm_type: int, policy: int) -> None:
    """``test_sev`` / ``test_sync_vmsa`` up to KVM_RUN: the launch succeeds for every type and policy;
    on SEV-ES and SNP the vCPU's state is protected afterwards (the selftest hands it over through
    the VMSA: XSAVE set before the launch), on SEV it is not."""
    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        vm = _selftest_launch(kvm, sev, vm_type, policy)
        vcpu = vm.vcpus[0]
        sealed = errno.EINVAL if vm_type in (SEV_ES, SNP) else 0
        assert errno_of(vcpu.get_xsave) == sealed
        assert errno_of(vcpu.get_regs) == sealed
    launch_refusals = fake.fired[:-2] if sealed else fake.fired
    assert launch_refusals == [] and fake.unmodelled == []


@pytest.mark.parametrize("policy", [0, SEV_POLICY_NO_DBG, SEV_POLICY_ES, SEV_POLICY_ES | SEV_POLICY_NO_DBG])
def test_sev_legacy_init_launch(fake: FakeKernel, policy: int) -> None:
    """``sev_vm_init`` / ``sev_es_vm_init`` on KVM_X86_DEFAULT_VM (KVM_SEV_INIT / KVM_SEV_ES_INIT, as
    ``x86/sev_migrate_tests.c`` launches): the launch succeeds; the default VM type has no protected
    state, so register ioctls keep working even after LAUNCH_UPDATE_VMSA."""
    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        vm = _selftest_launch(kvm, sev, SEV_ES if policy & SEV_POLICY_ES else SEV, policy, legacy=True)
        assert errno_of(vm.vcpus[0].get_regs) == 0
    assert fake.fired == []


@pytest.mark.parametrize(("vm_type", "policy"), SMOKE)
def test_sev_smoke_policies_through_the_driver(fake: FakeKernel, vm_type: int, policy: int) -> None:
    """The same types and policies through pvmkit's AMD driver: the launch succeeds and issues the
    sub-commands in the order of ``vm_sev_launch`` (``sev_vm_launch``, ``sev_vm_launch_measure``,
    ``sev_vm_launch_finish``; ``snp_vm_launch_start/update/finish``)."""
    vendor = {SEV: Vendor.SEV, SEV_ES: Vendor.SEV_ES, SNP: Vendor.SNP}[vm_type]
    init = Init(vendor, policy=policy)
    vcpus = [AddVcpu(0, reset_vmsa(sev_features=init.sev_features))] if vendor.has_vmsa else []
    memory = AddMemory(0, 0x10000, PageKind.NORMAL, data=b"\xf4" * 0x10000)
    plan = LaunchPlan.of([init, memory, *vcpus, Finalize()])
    with AmdKvmDriver() as driver:
        Launcher(driver).run(plan)
    update_vmsa = ["KVM_SEV_LAUNCH_UPDATE_VMSA"] if vm_type == SEV_ES else []
    legacy = ["KVM_SEV_LAUNCH_START", "KVM_SEV_LAUNCH_UPDATE_DATA", *update_vmsa]
    legacy += ["KVM_SEV_LAUNCH_MEASURE", "KVM_SEV_LAUNCH_FINISH"]
    snp = ["KVM_SEV_SNP_LAUNCH_START", "KVM_SEV_SNP_LAUNCH_UPDATE", "KVM_SEV_SNP_LAUNCH_FINISH"]
    order = ["KVM_SEV_INIT2", *(snp if vm_type == SNP else legacy)]
    subs = [c.sub for c in fake.calls if c.sub and c.sub.startswith("KVM_SEV")]
    assert list(dict.fromkeys(subs)) == order  # LAUNCH_MEASURE twice: the length query, then the blob
    assert fake.unmodelled == []


# -- set_memory_region_test.c -------------------------------------------------------------------------
def test_add_private_memory_region(fake: FakeKernel) -> None:
    """``test_add_private_memory_region``: a guest_memfd slot refuses the KVM fd, the VM's fd and
    another VM's guest_memfd (EINVAL), and unaligned offsets (EINVAL); a proper one is accepted, with
    userspace_addr 0."""
    gmem_flag = CONST["KVM_MEM_GUEST_MEMFD"]
    with Kvm.open() as kvm:
        vm, vm2 = kvm.create_vm(SW_PROTECTED), kvm.create_vm(SW_PROTECTED)

        def add(fd: int, offset: int = 0, target: Vm = vm) -> int:
            return errno_of(
                lambda: target.set_user_memory_region2(
                    MEM_REGION_SLOT, MEM_REGION_GPA, MEM_REGION_SIZE, 0, gmem_flag, fd, offset
                )
            )

        assert add(kvm.fileno()) == errno.EINVAL  # "KVM fd should fail"
        assert add(vm.fileno()) == errno.EINVAL  # "VM's fd should fail"
        other = vm2.create_guest_memfd(MEM_REGION_SIZE)
        assert add(other.fileno()) == errno.EINVAL  # "Other VM's guest_memfd() should fail"
        assert add(other.fileno(), target=vm2) == 0
        memfd = vm.create_guest_memfd(MEM_REGION_SIZE)
        for offset in range(1, PAGE):
            assert add(memfd.fileno(), offset) == errno.EINVAL  # "Unaligned offset should fail"
        assert add(memfd.fileno()) == 0


def test_add_overlapping_private_memory_regions(fake: FakeKernel) -> None:
    """``test_add_overlapping_private_memory_regions``: overlap in the guest_memfd bindings, or in the
    GPA space, is EEXIST, whichever half overlaps."""
    size, gpa = MEM_REGION_SIZE, MEM_REGION_GPA
    with Kvm.open() as kvm:
        vm = kvm.create_vm(SW_PROTECTED)
        memfd = vm.create_guest_memfd(size * 5)
        vm.set_user_memory_region2(MEM_REGION_SLOT, gpa, size * 2, 0, guest_memfd=memfd)
        vm.set_user_memory_region2(
            MEM_REGION_SLOT + 1, gpa * 2, size * 2, 0, guest_memfd=memfd, guest_memfd_offset=size * 2
        )
        vm.set_user_memory_region2(MEM_REGION_SLOT, gpa, 0, 0, CONST["KVM_MEM_GUEST_MEMFD"], -1 & 0xFFFFFFFF)

        def add(at: int, offset: int) -> int:
            return errno_of(
                lambda: vm.set_user_memory_region2(
                    MEM_REGION_SLOT, at, size * 2, 0, guest_memfd=memfd, guest_memfd_offset=offset
                )
            )

        assert add(gpa, size) == errno.EEXIST
        assert add(gpa, size * 3) == errno.EEXIST
        assert add(gpa * 2 - size, 0) == errno.EEXIST
        assert add(gpa * 2 + size, 0) == errno.EEXIST


# -- guest_memfd_test.c ---------------------------------------------------------------------------------
@pytest.mark.parametrize("vm_type", [DEFAULT, SW_PROTECTED, SNP, CONST["KVM_X86_TDX_VM"]])
def test_guest_memfd(fake: FakeKernel, vm_type: int) -> None:
    """``test_guest_memfd`` for every VM type the host offers: ``test_guest_memfd_flags`` (each flag
    bit succeeds iff KVM_CAP_GUEST_MEMFD_FLAGS lists it, else EINVAL),
    ``test_create_guest_memfd_invalid_sizes`` (sizes 1..4095: EINVAL),
    ``test_create_guest_memfd_multiple`` (two distinct fds), and
    ``test_invalid_binding`` (an offset past the file: EINVAL). Per ``test_guest_memfd_guest``, the
    default VM type supports MMAP and INIT_SHARED."""
    with Kvm.open() as kvm:
        vm = kvm.create_vm(vm_type)
        valid = vm.check_extension(CONST["KVM_CAP_GUEST_MEMFD_FLAGS"])
        if vm_type == DEFAULT:
            assert valid & CONST["GUEST_MEMFD_FLAG_MMAP"] and valid & CONST["GUEST_MEMFD_FLAG_INIT_SHARED"]
        for bit in range(64):
            got = errno_of(vm.create_guest_memfd, PAGE, 1 << bit)
            assert got == (0 if valid >> bit & 1 else errno.EINVAL), bit
        for size in range(1, PAGE):
            assert errno_of(vm.create_guest_memfd, size) == errno.EINVAL, size
        fd1, fd2 = vm.create_guest_memfd(PAGE), vm.create_guest_memfd(PAGE * 2)
        assert fd1.fileno() != fd2.fileno()
        far = (2**63 - 1) // PAGE * PAGE  # ALIGN_DOWN(INT64_MAX, page_size)
        assert (
            errno_of(
                lambda: vm.set_user_memory_region2(0, 0, PAGE, 0, guest_memfd=fd1, guest_memfd_offset=far)
            )
            == errno.EINVAL
        )
