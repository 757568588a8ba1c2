"""The kvm layer without /dev/kvm: exit decoding from crafted ``kvm_run`` buffers, name decoders that
never fail, ioctl numbers, error mapping, guest-memory bounds.

Expected numbers come from the specs: ioctl numbers from spec amd.md §5.4/§5.5/§5.7 and tdx.md §3.1
(each computed there from the kernel's _IO* macros and checked with gcc); kvm_run offsets from
linux/kvm.h 7.2.13 (io at 32, data_offset at 40; verified by tools/gen_uapi_layouts.py)."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from pathlib import Path

import pytest

from pvmkit.errors import InputError, KvmError, KvmUnavailableError, SevFirmwareError, TruncatedError
from pvmkit.kvm import (
    FailEntryExit,
    GuestMemory,
    HltExit,
    HypercallExit,
    InternalErrorExit,
    IoExit,
    Kvm,
    MemoryFaultExit,
    MmioExit,
    ShutdownExit,
    SystemEventExit,
    TdxExit,
    UnknownExit,
    caps,
    decode_exit,
)
from pvmkit.kvm.vm import memory_encrypt_op, memory_encrypt_op_raw
from pvmkit.uapi import kvm as u
from pvmkit.uapi.sev import kvm_sev_cmd

RUN_SIZE = ctypes.sizeof(u.kvm_run)
MAP_SIZE = 3 * 4096  # what KVM_GET_VCPU_MMAP_SIZE returns on x86


def crafted(reason: int, fill: dict[str, object] | None = None, size: int = MAP_SIZE) -> bytearray:
    """A kvm_run mapping with ``exit_reason`` and the given dotted fields set. Members of anonymous
    unions are written through their ``_u`` path (the strict Struct base accepts declared names only)."""
    run = u.kvm_run()
    run.exit_reason = reason
    for path, value in (fill or {}).items():
        obj: object = run
        *parents, leaf = path.split(".")
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, leaf, value)
    buf = bytearray(size)
    buf[:RUN_SIZE] = run.to_bytes()
    return buf


def test_kvm_run_layout_matches_the_header() -> None:
    assert RUN_SIZE == 2352
    assert u.kvm_run.exit_reason.offset == 8
    assert u.kvm_run.io.offset == 32  # the anonymous exit union


def test_io_out_exit_reads_data_at_data_offset() -> None:
    buf = crafted(
        u.KVM_EXIT_IO,
        {
            "io.direction": u.KVM_EXIT_IO_OUT,
            "io.size": 2,
            "io.port": 0x3F8,
            "io.count": 3,
            "io.data_offset": 4096,
        },
    )
    buf[4096 : 4096 + 6] = b"abcdef"
    ex = decode_exit(buf)
    assert ex == IoExit(port=0x3F8, size=2, direction="out", count=3, data=b"abcdef")
    assert ex.reason == u.KVM_EXIT_IO and ex.name == "KVM_EXIT_IO"
    assert isinstance(ex, IoExit) and ex.value == 0x6261


def test_io_in_exit() -> None:
    buf = crafted(
        u.KVM_EXIT_IO,
        {
            "io.direction": u.KVM_EXIT_IO_IN,
            "io.size": 4,
            "io.port": 0x71,
            "io.count": 1,
            "io.data_offset": 4096,
        },
    )
    ex = decode_exit(buf)
    assert isinstance(ex, IoExit) and ex.direction == "in" and ex.data == b"\0" * 4 and ex.data_offset == 4096


def test_io_exit_with_data_outside_the_mapping_is_a_format_error() -> None:
    buf = crafted(
        u.KVM_EXIT_IO,
        {"io.direction": 1, "io.size": 4, "io.port": 1, "io.count": 4, "io.data_offset": MAP_SIZE - 8},
    )
    with pytest.raises(TruncatedError):
        decode_exit(buf)


def test_short_buffer_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        decode_exit(bytes(RUN_SIZE - 1))


@pytest.mark.parametrize(
    ("reason", "fill", "expected"),
    [
        (u.KVM_EXIT_HLT, {}, HltExit()),
        (u.KVM_EXIT_SHUTDOWN, {}, ShutdownExit()),
        (
            u.KVM_EXIT_MMIO,
            {
                "mmio.phys_addr": 0xFEE00000,
                "mmio.len": 4,
                "mmio.is_write": 1,
                "mmio.data": (u._u8 * 8)(1, 2, 3, 4, 5),
            },
            MmioExit(addr=0xFEE00000, data=b"\1\2\3\4", is_write=True),
        ),
        (
            u.KVM_EXIT_FAIL_ENTRY,
            {"fail_entry.hardware_entry_failure_reason": 0x21, "fail_entry.cpu": 3},
            FailEntryExit(hardware_entry_failure_reason=0x21, cpu=3),
        ),
        (
            u.KVM_EXIT_INTERNAL_ERROR,
            {
                "internal.suberror": u.KVM_INTERNAL_ERROR_EMULATION,
                "internal.ndata": 2,
                "internal.data": (u._u64 * 16)(7, 8, 9),
            },
            InternalErrorExit(suberror=1, data=(7, 8)),
        ),
        (
            u.KVM_EXIT_SYSTEM_EVENT,
            {
                "system_event.type": u.KVM_SYSTEM_EVENT_SEV_TERM,
                "system_event.ndata": 1,
                "system_event._u.data": (u._u64 * 16)(0x100),
            },
            SystemEventExit(type=6, data=(0x100,)),
        ),
        (
            u.KVM_EXIT_SYSTEM_EVENT,
            {
                "system_event.type": u.KVM_SYSTEM_EVENT_SHUTDOWN,
                "system_event.ndata": 0,
                "system_event._u.flags": 5,
            },
            SystemEventExit(type=1, data=(5,)),
        ),
        (
            u.KVM_EXIT_MEMORY_FAULT,
            {
                "memory_fault.flags": u.KVM_MEMORY_EXIT_FLAG_PRIVATE,
                "memory_fault.gpa": 0x200000,
                "memory_fault.size": 0x1000,
            },
            MemoryFaultExit(flags=8, gpa=0x200000, size=0x1000),
        ),
        (
            u.KVM_EXIT_HYPERCALL,
            {
                "hypercall.nr": u.KVM_HC_MAP_GPA_RANGE,
                "hypercall.args": (u._u64 * 6)(0x1000, 1, 2),
                "hypercall._u.flags": 1,
            },
            HypercallExit(nr=12, args=(0x1000, 1, 2, 0, 0, 0), flags=1),
        ),
        (
            u.KVM_EXIT_TDX,
            {"tdx.nr": 0x10002, "tdx._u.get_quote.gpa": 0x5000, "tdx._u.get_quote.size": 0x2000},
            TdxExit(flags=0, nr=0x10002, data=(0, 0x5000, 0x2000, 0, 0, 0)),
        ),
        (u.KVM_EXIT_UNKNOWN, {"hw.hardware_exit_reason": 0x30}, UnknownExit(0, 0x30)),
    ],
)
def test_decoded_exits(reason: int, fill: dict[str, object], expected: object) -> None:
    assert decode_exit(crafted(reason, fill)) == expected


def test_memory_fault_private_flag() -> None:
    assert MemoryFaultExit(flags=u.KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa=0, size=4096).private


@pytest.mark.parametrize("reason", [u.KVM_EXIT_ARM_SEA, u.KVM_EXIT_SNP_REQ_CERTS, 44, 999, 0xFFFFFFFF])
def test_unknown_exit_reasons_never_crash(reason: int) -> None:
    ex = decode_exit(crafted(reason))
    assert ex == UnknownExit(reason)
    assert ex.reason == reason
    known = caps.EXIT_NAMES.get(reason)
    assert ex.name == (known or f"unknown ({reason})")


def test_name_decoders() -> None:
    assert caps.cap_name(235) == "KVM_CAP_VM_TYPES"
    assert caps.cap_name(209) == "KVM_CAP_SYS_ATTRIBUTES"
    assert caps.cap_name(99999) == "unknown (99999)"
    assert caps.exit_name(40) == "KVM_EXIT_TDX"
    assert caps.exit_name(1000) == "unknown (1000)"
    assert caps.vm_type_name(4) == "KVM_X86_SNP_VM"
    assert caps.vm_type_key(3) == "sev-es"
    assert caps.vm_type_name(17) == "unknown (17)"
    assert caps.vm_type_key(-1) == "unknown (-1)"
    assert caps.decode_vm_types(0x1) == ["KVM_X86_DEFAULT_VM"]
    assert caps.decode_vm_types(0b110101 | 1 << 9) == [
        "KVM_X86_DEFAULT_VM",
        "KVM_X86_SEV_VM",
        "KVM_X86_SNP_VM",
        "KVM_X86_TDX_VM",
        "unknown (9)",
    ]
    assert caps.decode_vm_types(0) == []
    assert caps.decode_memory_attributes(0) == []
    assert caps.decode_memory_attributes(1 << 3 | 1) == ["unknown (bit 0)", "KVM_MEMORY_ATTRIBUTE_PRIVATE"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KVM_MEMORY_ENCRYPT_OP", 0xC008AEBA),  # amd.md §5.4, tdx.md §3.1
        ("KVM_GET_DEVICE_ATTR", 0x4018AEE2),  # amd.md §5.5
        ("KVM_HAS_DEVICE_ATTR", 0x4018AEE3),  # amd.md §5.5
        ("KVM_SET_MEMORY_ATTRIBUTES", 0x4020AED2),  # amd.md §5.7
        ("KVM_CREATE_GUEST_MEMFD", 0xC040AED4),  # amd.md §5.7
        ("KVM_SET_USER_MEMORY_REGION2", 0x40A0AE49),  # amd.md §5.7
        ("KVM_CREATE_VM", 0xAE01),  # tdx.md §3.1
        ("KVM_CHECK_EXTENSION", 0xAE03),
        ("KVM_CREATE_VCPU", 0xAE41),
        ("KVM_RUN", 0xAE80),
        ("KVM_SET_CPUID2", 0x4008AE90),
        ("KVM_ENABLE_CAP", 0x4068AEA3),
        ("KVM_SET_TSC_KHZ", 0xAEA2),
        ("KVM_PRE_FAULT_MEMORY", 0xC040AED5),
    ],
)
def test_ioctl_numbers(name: str, value: int) -> None:
    assert getattr(u, name) == value


def test_uapi_structs_reject_unknown_fields() -> None:
    with pytest.raises(TypeError):
        u.kvm_regs(rpi=1)
    regs = u.kvm_regs(rip=0x1000)
    with pytest.raises(TypeError):
        regs.eip = 5  # type: ignore[attr-defined]


def test_missing_device_is_kvm_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "no-kvm")
    with pytest.raises(KvmUnavailableError) as info:
        Kvm.open(path)
    assert info.value.errno == errno.ENOENT
    assert path in str(info.value) and "\n" not in str(info.value)


def test_a_file_that_is_not_kvm_is_kvm_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"")
    with pytest.raises(KvmUnavailableError, match="not a KVM device"):
        Kvm.open(str(path))


def test_memory_encrypt_op_maps_the_firmware_status() -> None:
    # /dev/null refuses every ioctl with ENOTTY and leaves the command untouched, so the preset
    # firmware status (SEV_RET_INVALID_PARAM = 0x16, psp-sev.h) is what the error must report.
    fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    try:
        cmd = kvm_sev_cmd(id=2, error=0x16)
        assert memory_encrypt_op_raw(fd, cmd) == (-1, errno.ENOTTY, 0x16)
        with pytest.raises(SevFirmwareError) as info:
            memory_encrypt_op(fd, cmd, "KVM_SEV_LAUNCH_START")
        assert (info.value.op, info.value.errno, info.value.fw_code) == (
            "KVM_SEV_LAUNCH_START",
            errno.ENOTTY,
            0x16,
        )
        assert info.value.fw_name == "SEV_RET_INVALID_PARAM"
        with pytest.raises(KvmError) as plain:
            memory_encrypt_op(fd, kvm_sev_cmd(id=16))
        assert not isinstance(plain.value, SevFirmwareError)
        assert plain.value.op == "KVM_MEMORY_ENCRYPT_OP(id=16)"
        assert memory_encrypt_op_raw(fd, None) == (-1, errno.ENOTTY, 0)
    finally:
        os.close(fd)


def test_guest_memory_is_bounds_checked() -> None:
    mem = GuestMemory(slot=0, gpa=0x10000, size=0x2000)
    try:
        mem.write(0x11FFC, b"1234")
        assert mem.read(0x11FFC, 4) == b"1234"
        assert mem.read(0x10000, 2) == b"\0\0"
        with pytest.raises(InputError):
            mem.write(0x11FFD, b"1234")
        with pytest.raises(InputError):
            mem.read(0xFFFF, 1)
        with pytest.raises(InputError):
            mem.read(0x10000, -1)
    finally:
        mem.close()
    assert mem.closed
    with pytest.raises(InputError):
        mem.read(0x10000, 1)
    mem.close()  # idempotent


@pytest.mark.parametrize(("gpa", "size"), [(0x10, 0x1000), (0, 0x1001), (0, 0), (-0x1000, 0x1000)])
def test_guest_memory_must_be_page_aligned(gpa: int, size: int) -> None:
    with pytest.raises(InputError):
        GuestMemory(slot=0, gpa=gpa, size=size)


def test_kvm_run_struct_sizes_used_by_the_decoder() -> None:
    assert struct.calcsize("<BBHIQ") == ctypes.sizeof(u._kvm_run_io)


# -- the probe's decisions, against a fake system fd (no /dev/kvm needed) --------------------------------
class _FakeVm:
    def __init__(self, fill: dict[str, int], err: int = 0, hw: int = 0) -> None:
        self.fill, self.err, self.hw = fill, err, hw
        self.calls: list[int] = []

    def __enter__(self) -> _FakeVm:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def memory_encrypt_op_raw(self, cmd: ctypes.Structure) -> tuple[int, int, int]:
        from pvmkit.uapi import tdx

        assert isinstance(cmd, tdx.kvm_tdx_cmd) and cmd.id == tdx.KVM_TDX_CAPABILITIES
        caps_obj = tdx.kvm_tdx_capabilities.from_address(cmd.data)
        self.calls.append(int(caps_obj.cpuid.nent))
        if self.err:
            return -1, self.err, self.hw
        if caps_obj.cpuid.nent < self.fill["nent"]:
            return -1, errno.E2BIG, 0
        caps_obj.supported_attrs = self.fill["attrs"]
        caps_obj.supported_xfam = self.fill["xfam"]
        caps_obj.cpuid.nent = self.fill["nent"]
        return 0, 0, 0


class _FakeKvm:
    def __init__(self, vm: _FakeVm | None = None, attrs: dict[tuple[int, int], int] | None = None) -> None:
        self.vm, self.attrs = vm, attrs or {}

    def create_vm(self, vm_type: int) -> _FakeVm:
        assert vm_type == u.KVM_X86_TDX_VM and self.vm is not None
        return self.vm

    def has_device_attr(self, group: int, attr: int) -> bool:
        return (group, attr) in self.attrs

    def get_device_attr(self, group: int, attr: int) -> int:
        return self.attrs[(group, attr)]


def test_probe_reads_tdx_capabilities_growing_the_buffer() -> None:
    from pvmkit.kvm.probe import _tdx_capabilities

    vm = _FakeVm({"nent": 100, "attrs": 0x10000000, "xfam": 0x61AE7})
    report = _tdx_capabilities(_FakeKvm(vm), 1 | 1 << 5)  # type: ignore[arg-type]
    assert vm.calls == [64, 128]  # E2BIG at 64 entries, then doubled
    assert report.available and report.reason is None
    assert (report.supported_attrs, report.supported_xfam, report.cpuid_entries) == (0x10000000, 0x61AE7, 100)


def test_probe_tdx_capabilities_failure_names_the_module_status() -> None:
    from pvmkit.kvm.probe import _tdx_capabilities

    vm = _FakeVm({}, err=errno.EINVAL, hw=0xC000010000000000)
    report = _tdx_capabilities(_FakeKvm(vm), 1 << 5)  # type: ignore[arg-type]
    assert not report.available and report.reason is not None
    assert "EINVAL" in report.reason and "0xc000010000000000" in report.reason


def test_probe_tdx_capabilities_absent_without_the_vm_type() -> None:
    from pvmkit.kvm.probe import _tdx_capabilities

    report = _tdx_capabilities(_FakeKvm(), 0x1)  # type: ignore[arg-type]
    assert report.reason == "KVM_CAP_VM_TYPES=0x1 lacks KVM_X86_TDX_VM (bit 5)"


def test_probe_decodes_vmsa_features_and_explains_absence() -> None:
    from pvmkit.kvm.probe import _attribute
    from pvmkit.uapi import sev

    key = (sev.KVM_X86_GRP_SEV, sev.KVM_X86_SEV_VMSA_FEATURES)
    fake = _FakeKvm(attrs={key: 0x221})  # SNPActive | DebugSwap | SecureTSC (amd.md §5.1)
    a = _attribute(fake, True, *key, "KVM_X86_SEV_VMSA_FEATURES")  # type: ignore[arg-type]
    assert a.available and a.value == 0x221 and a.names == ["SNP_ACTIVE", "DEBUG_SWAP", "SECURE_TSC"]
    b = _attribute(_FakeKvm(), True, *key, "KVM_X86_SEV_VMSA_FEATURES")  # type: ignore[arg-type]
    assert not b.available and b.value is None and "ENXIO" in (b.reason or "")
    c = _attribute(_FakeKvm(attrs={key: 1}), False, *key, "KVM_X86_SEV_VMSA_FEATURES")  # type: ignore[arg-type]
    assert not c.available and "KVM_CAP_SYS_ATTRIBUTES=0" in (c.reason or "")


def test_release_all_runs_every_step_and_raises_the_first_failure() -> None:
    from pvmkit.kvm import release_all

    ran: list[str] = []

    def step(name: str, exc: BaseException | None = None):  # type: ignore[no-untyped-def]
        def run() -> None:
            ran.append(name)
            if exc is not None:
                raise exc

        return run

    with pytest.raises(KeyboardInterrupt):
        release_all([step("vcpu", KeyboardInterrupt()), step("vm", OSError(9, "EBADF")), step("memory")])
    assert ran == ["vcpu", "vm", "memory"]
    release_all([])
