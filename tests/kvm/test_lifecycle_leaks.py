"""1000 VM create → memory → vCPU → run → close cycles in one process leave the number of open fds
(/proc/self/fd) and the resident set size flat: every fd is closed and every mapping (guest memory,
kvm_run) is unmapped by the context managers."""

from __future__ import annotations

import gc
import os
import time

import pytest

from pvmkit.kvm import HltExit, IntrExit, IoExit, Kvm, Vcpu, VcpuExit
from pvmkit.uapi import kvm as u

pytestmark = pytest.mark.kvm  # ~1.5 s for the 1000 cycles here: not `slow`

CYCLES = 1000
WARMUP = 50
GUEST = bytes([0xE6, 0x10, 0xF4])  # out 0x10, al ; hlt   (real mode, at 0x1000)
FD_TOLERANCE = 2
RSS_TOLERANCE = 4 * 1024 * 1024  # bytes; a leaked 64 KiB region per cycle would add 60+ MiB
TIME_BUDGET = 120.0  # seconds for the measured cycles: a hang guard, ~50x what they take on a loaded host


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_cycle(kvm: Kvm) -> None:
    with kvm.create_vm() as vm:
        mem = vm.add_memory(slot=0, gpa=0, size=0x10000)
        mem.write(0x1000, GUEST)
        # touch every page so a leaked mapping would show in RSS
        for gpa in range(0, 0x10000, 0x1000):
            mem.write(gpa + 0x800, b"\xa5")
        with vm.create_vcpu(0) as vcpu:
            sregs = vcpu.get_sregs()
            sregs.cs.base, sregs.cs.selector = 0, 0
            vcpu.set_sregs(sregs)
            regs = vcpu.get_regs()
            regs.rip, regs.rflags = 0x1000, 2
            vcpu.set_regs(regs)
            assert isinstance(guest_exit(vcpu), IoExit)
            assert guest_exit(vcpu) == HltExit()


def guest_exit(vcpu: Vcpu) -> VcpuExit:
    """The next exit the guest causes, running through KVM_RUN's EINTR returns (a signal pending,
    api.rst KVM_RUN), which the host, not the guest, causes."""
    while isinstance(ex := vcpu.run(), IntrExit):
        pass
    return ex


def test_vm_lifecycle_does_not_leak_fds_or_memory() -> None:
    with Kvm.open() as kvm:
        for _ in range(WARMUP):
            one_cycle(kvm)
        gc.collect()
        fds0, rss0 = open_fds(), rss_bytes()
        start = time.monotonic()
        for _ in range(CYCLES):
            one_cycle(kvm)
        elapsed = time.monotonic() - start
        gc.collect()
        fds1, rss1 = open_fds(), rss_bytes()
    assert fds1 - fds0 <= FD_TOLERANCE, f"fds grew from {fds0} to {fds1} over {CYCLES} cycles"
    assert rss1 - rss0 <= RSS_TOLERANCE, f"RSS grew by {(rss1 - rss0) / 2**20:.1f} MiB over {CYCLES} cycles"
    assert elapsed < TIME_BUDGET, f"{CYCLES} cycles took {elapsed:.1f} s"


def test_kvm_close_closes_children() -> None:
    fds0 = open_fds()
    kvm = Kvm.open()
    vm = kvm.create_vm()
    vm.add_memory(slot=0, gpa=0, size=0x10000)
    vcpu = vm.create_vcpu(0)
    # guest_memfd for a default VM only where the VM says so (api.rst, KVM_CAP_GUEST_MEMFD)
    memfd = bool(vm.check_extension(u.KVM_CAP_GUEST_MEMFD))
    if memfd:
        vm.create_guest_memfd(0x10000)
    # /dev/kvm, VM, vCPU, guest_memfd (+ the duplicate of the vCPU fd Python's mmap keeps)
    assert open_fds() >= fds0 + 3 + memfd
    kvm.close()
    assert vm.closed and vcpu.closed and all(m.closed for m in vm.memory) is True
    assert open_fds() == fds0
    kvm.close()  # idempotent
