"""Tiny real guests on /dev/kvm (default VM type): a real-mode guest and a 64-bit long-mode guest with
page tables built here in Python. Guest code is hand-encoded (each instruction commented with its
assembly; the encodings were checked with GNU as/objdump). Expected values follow from the x86
instruction semantics (Intel SDM vol. 2) of the few instructions each guest runs.

Only a missing /dev/kvm skips (conftest); every other failure fails."""

from __future__ import annotations

import struct

import pytest

from pvmkit.errors import InputError
from pvmkit.kvm import HltExit, IntrExit, IoExit, Kvm, MmioExit, ShutdownExit, Vcpu, VcpuExit, Vm

pytestmark = pytest.mark.kvm

MAX_EXITS = 64


def next_exit(vcpu: Vcpu) -> VcpuExit:
    """The next exit the guest causes. KVM_RUN also returns EINTR when an unmasked signal is pending
    (api.rst, KVM_RUN), which depends on the host, not on the guest: such returns (``IntrExit``) are
    run through, a bounded number of times."""
    for _ in range(1000):
        ex = vcpu.run()
        if not isinstance(ex, IntrExit):
            return ex
    raise AssertionError("KVM_RUN interrupted 1000 times in a row")


def run_until_hlt(vcpu: Vcpu, in_data: dict[int, bytes] | None = None) -> list[VcpuExit]:
    """Run to HLT; answer port INs from ``in_data``; return every exit the guest caused (HLT last)."""
    exits: list[VcpuExit] = []
    for _ in range(MAX_EXITS):
        ex = next_exit(vcpu)
        exits.append(ex)
        if isinstance(ex, HltExit):
            return exits
        assert isinstance(ex, IoExit), f"unexpected exit {ex!r} after {exits[:-1]!r}"
        if ex.direction == "in":
            assert in_data is not None and ex.port in in_data, f"unexpected IN {ex!r}"
            vcpu.complete_io_in(in_data[ex.port])
    raise AssertionError(f"no HLT after {MAX_EXITS} exits: {exits!r}")


# ---------------------------------------------------------------------------------------------------
# Real mode (16-bit), code at 0x1000, data at 0x100, CS base 0.
REAL_MODE_CODE = bytes(
    [
        0xB8, 0x34, 0x12,  # mov ax, 0x1234
        0xBA, 0x10, 0x00,  # mov dx, 0x10
        0xEF,  # out dx, ax            -> OUT port 0x10, 2 bytes 34 12
        0xBA, 0x11, 0x00,  # mov dx, 0x11
        0xED,  # in ax, dx             -> IN port 0x11, 2 bytes (host supplies)
        0x89, 0xC3,  # mov bx, ax
        0xBE, 0x00, 0x01,  # mov si, 0x100
        0xB9, 0x05, 0x00,  # mov cx, 5
        0xBA, 0x20, 0x00,  # mov dx, 0x20
        0xF3, 0x6E,  # rep outsb       -> OUT port 0x20, the 5 bytes at ds:0x100
        0xF4,  # hlt
    ]
)  # fmt: skip
REAL_MODE_DATA = b"pvmk!"


def setup_real_mode(vm: Vm, vcpu: Vcpu) -> None:
    mem = vm.add_memory(slot=0, gpa=0, size=0x10000)
    mem.write(0x1000, REAL_MODE_CODE)
    mem.write(0x100, REAL_MODE_DATA)
    sregs = vcpu.get_sregs()
    sregs.cs.base = 0
    sregs.cs.selector = 0
    vcpu.set_sregs(sregs)
    regs = vcpu.get_regs()
    regs.rip = 0x1000
    regs.rflags = 0x2  # bit 1 is reserved and always set
    vcpu.set_regs(regs)


def test_real_mode_guest_port_io_and_hlt() -> None:
    with Kvm.open() as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(0)
        setup_real_mode(vm, vcpu)
        exits = run_until_hlt(vcpu, in_data={0x11: b"\xcd\xab"})

        first, second = exits[0], exits[1]
        assert first == IoExit(port=0x10, size=2, direction="out", count=1, data=b"\x34\x12")
        assert first.value == 0x1234
        assert isinstance(second, IoExit)
        assert (second.port, second.size, second.direction, second.count) == (0x11, 2, "in", 1)
        # rep outsb may be split over several exits; together they carry the 5 bytes in order.
        string_out = [e for e in exits[2:-1] if isinstance(e, IoExit)]
        assert all(e.port == 0x20 and e.size == 1 and e.direction == "out" for e in string_out)
        assert b"".join(e.data for e in string_out) == REAL_MODE_DATA
        assert isinstance(exits[-1], HltExit)

        regs = vcpu.get_regs()
        assert regs.rbx & 0xFFFF == 0xABCD  # what IN delivered, copied by mov bx, ax
        assert regs.rax & 0xFFFF == 0xABCD
        assert regs.rcx & 0xFFFF == 0  # rep consumed the count
        assert regs.rsi & 0xFFFF == 0x105  # and advanced SI over the 5 bytes
        assert regs.rip == 0x1000 + len(REAL_MODE_CODE)  # just past hlt


# ---------------------------------------------------------------------------------------------------
# 64-bit long mode. Identity-map the first 2 MiB with one 2 MiB page, and alias virtual 2-4 MiB to the
# same physical 2 MiB, so a store to virtual 0x208000 lands at physical 0x8000: proof that the guest
# translates through our page tables.
PML4, PDPT, PD = 0x2000, 0x3000, 0x4000
CODE64 = 0x10000
PTE_P, PTE_RW, PTE_PS = 1 << 0, 1 << 1, 1 << 7

LONG_MODE_CODE = bytes(
    [
        0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  # movabs rax, 0x1122334455667788
        0x48, 0x89, 0xC3,  # mov rbx, rax
        0x48, 0xC1, 0xEB, 0x20,  # shr rbx, 32
        0xE7, 0x10,  # out 0x10, eax         -> OUT port 0x10, 4 bytes 88 77 66 55
        0x89, 0xD8,  # mov eax, ebx
        0xE7, 0x11,  # out 0x11, eax         -> OUT port 0x11, 4 bytes 44 33 22 11
        0xE5, 0x12,  # in eax, 0x12          -> IN port 0x12, 4 bytes (zero-extends into rax)
        0x48, 0x89, 0xC1,  # mov rcx, rax
        0x48, 0xC1, 0xE1, 0x20,  # shl rcx, 32
        0x48, 0x09, 0xC8,  # or rax, rcx
        0x48, 0x89, 0x04, 0x25, 0x00, 0x80, 0x20, 0x00,  # mov [0x208000], rax
        0xF4,  # hlt
    ]
)  # fmt: skip


def build_page_tables(vm: Vm) -> None:
    vm.write_memory(PML4, struct.pack("<Q", PDPT | PTE_P | PTE_RW))
    vm.write_memory(PDPT, struct.pack("<Q", PD | PTE_P | PTE_RW))
    vm.write_memory(
        PD,
        struct.pack("<QQ", 0x000000 | PTE_P | PTE_RW | PTE_PS, 0x000000 | PTE_P | PTE_RW | PTE_PS),
    )


def setup_long_mode(vm: Vm, vcpu: Vcpu) -> None:
    vm.add_memory(slot=0, gpa=0, size=0x20000)
    build_page_tables(vm)
    vm.write_memory(CODE64, LONG_MODE_CODE)

    sregs = vcpu.get_sregs()
    sregs.cr3 = PML4
    sregs.cr4 = 1 << 5  # PAE
    sregs.cr0 = 0x80050033  # PG | WP | NE | ET | MP | PE
    sregs.efer = 0x500  # LMA | LME
    sregs.cs.base, sregs.cs.limit, sregs.cs.selector = 0, 0xFFFFFFFF, 0x8
    sregs.cs.type, sregs.cs.present, sregs.cs.dpl, sregs.cs.s = 0xB, 1, 0, 1  # code, execute/read
    sregs.cs.l, sregs.cs.db, sregs.cs.g = 1, 0, 1  # 64-bit code segment
    for seg in (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss):
        seg.base, seg.limit, seg.selector = 0, 0xFFFFFFFF, 0x10
        seg.type, seg.present, seg.dpl, seg.s, seg.db, seg.g, seg.l = 0x3, 1, 0, 1, 1, 1, 0
    vcpu.set_sregs(sregs)

    regs = vcpu.get_regs()
    regs.rip = CODE64
    regs.rsp = 0x9000
    regs.rflags = 0x2
    vcpu.set_regs(regs)


def test_long_mode_guest_with_own_page_tables() -> None:
    with Kvm.open() as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(0)
        setup_long_mode(vm, vcpu)
        exits = run_until_hlt(vcpu, in_data={0x12: b"\xef\xbe\xad\xde"})

        assert exits[:2] == [
            IoExit(port=0x10, size=4, direction="out", count=1, data=bytes.fromhex("88776655")),
            IoExit(port=0x11, size=4, direction="out", count=1, data=bytes.fromhex("44332211")),
        ]
        pend = exits[2]
        assert isinstance(pend, IoExit)
        assert (pend.port, pend.size, pend.direction, pend.count) == (0x12, 4, "in", 1)
        assert exits[3:] == [HltExit()]
        sregs = vcpu.get_sregs()
        assert sregs.efer & 0x400, "the vCPU is not in long mode (EFER.LMA clear)"
        regs = vcpu.get_regs()
        assert regs.rax == 0xDEADBEEF_DEADBEEF
        assert regs.rbx == 0x11223344
        assert regs.rcx == 0xDEADBEEF_00000000
        assert regs.rip == CODE64 + len(LONG_MODE_CODE)
        # the store to virtual 0x208000 went through the alias PDE to physical 0x8000
        assert vm.read_memory(0x8000, 8) == struct.pack("<Q", 0xDEADBEEF_DEADBEEF)


def test_in_must_be_answered_with_the_right_size() -> None:
    with Kvm.open() as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(0)
        setup_long_mode(vm, vcpu)
        with pytest.raises(InputError, match="not a port IN"):
            vcpu.complete_io_in(b"\x00")  # nothing pending yet
        while True:
            ex = next_exit(vcpu)
            assert isinstance(ex, IoExit)
            if ex.direction == "in":
                break
        with pytest.raises(InputError, match="wants 4 bytes"):
            vcpu.complete_io_in(b"\x01\x02")
        vcpu.complete_io_in(b"\x01\x00\x00\x00")
        assert next_exit(vcpu) == HltExit()
        assert vcpu.get_regs().rax == 0x00000001_00000001


# MMIO (a guest-physical address outside every memory slot, still mapped by the 2 MiB identity page)
# and a deliberate triple fault: with an empty IDT (limit 0), ud2's #UD escalates to #GP, #DF and
# shutdown (the KVM selftests use the same trick).
MMIO_SHUTDOWN_CODE = bytes(
    [
        0xC7, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00, 0x0D, 0xF0, 0xFE, 0xCA,  # mov dword [0x100000], 0xcafef00d
        0x8B, 0x04, 0x25, 0x04, 0x00, 0x10, 0x00,  # mov eax, [0x100004]   -> MMIO read, 4 bytes
        0xE7, 0x10,  # out 0x10, eax
        0x0F, 0x0B,  # ud2                     -> #UD, no IDT: triple fault
    ]
)  # fmt: skip


def test_mmio_read_write_and_shutdown() -> None:
    with Kvm.open() as kvm, kvm.create_vm() as vm:
        vcpu = vm.create_vcpu(0)
        setup_long_mode(vm, vcpu)
        vm.write_memory(CODE64, MMIO_SHUTDOWN_CODE)
        sregs = vcpu.get_sregs()
        sregs.idt.base, sregs.idt.limit = 0, 0
        vcpu.set_sregs(sregs)

        assert next_exit(vcpu) == MmioExit(addr=0x100000, data=bytes.fromhex("0df0feca"), is_write=True)
        read = next_exit(vcpu)
        assert read == MmioExit(addr=0x100004, data=read.data, is_write=False) and len(read.data) == 4
        with pytest.raises(InputError, match="wants 4 bytes"):
            vcpu.complete_mmio_read(b"\x01")
        vcpu.complete_mmio_read(bytes.fromhex("78563412"))
        assert next_exit(vcpu) == IoExit(
            port=0x10, size=4, direction="out", count=1, data=bytes.fromhex("78563412")
        )
        assert next_exit(vcpu) == ShutdownExit()
