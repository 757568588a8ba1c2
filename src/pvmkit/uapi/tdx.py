"""Intel TDX KVM uAPI (merged in Linux 6.16): ``arch/x86/include/uapi/asm/kvm.h``.

.. danger:: Hazmat. Raw kernel ABI, for experts (docs/uapi.md); use :mod:`pvmkit.vendors.tdx`.

Every sub-command goes through ``KVM_MEMORY_ENCRYPT_OP`` (:mod:`pvmkit.uapi.kvm`) on the VM fd or a
vCPU fd (spec tdx.md §3.1) with a :class:`kvm_tdx_cmd`; ``hw_error`` must be 0 on input and comes
back holding the TDX module's SEAMCALL status (:func:`tdx_status_name`).

``kvm_tdx_capabilities`` and ``kvm_tdx_init_vm`` end in a ``struct kvm_cpuid2`` whose ``entries[]`` is a
C flexible array. The classes here are the fixed part (what ``sizeof`` gives in C);
:func:`kvm_tdx_capabilities_with` / :func:`kvm_tdx_init_vm_with` return subclasses with room for
``nent`` entries, reachable as ``.entries`` (the kernel's ``cpuid.entries``); set ``cpuid.nent``
yourself. The `_flexible_` attribute names the C path so the layout probe checks where the entries
start.
"""

from __future__ import annotations

import ctypes
import enum
import functools
from typing import Final

from pvmkit._cstruct import Struct
from pvmkit.uapi.kvm import kvm_cpuid2, kvm_cpuid_entry2

__all__ = [
    "KVM_TDX_CAPABILITIES",
    "KVM_TDX_CMD_NR_MAX",
    "KVM_TDX_FINALIZE_VM",
    "KVM_TDX_GET_CPUID",
    "KVM_TDX_INIT_MEM_REGION",
    "KVM_TDX_INIT_VCPU",
    "KVM_TDX_INIT_VM",
    "KVM_TDX_MEASURE_MEMORY_REGION",
    "TDX_SEAMCALL_STATUS_MASK",
    "kvm_tdx_capabilities",
    "kvm_tdx_capabilities_with",
    "kvm_tdx_cmd",
    "kvm_tdx_cmd_id",
    "kvm_tdx_init_mem_region",
    "kvm_tdx_init_vm",
    "kvm_tdx_init_vm_with",
    "tdx_status",
    "tdx_status_name",
]

# Names defined here that are not in the uAPI headers, so the layout probe skips them.
_NOT_IN_HEADERS: Final = frozenset({"tdx_status", "TDX_SEAMCALL_STATUS_MASK"})

_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64


class kvm_tdx_cmd_id(enum.IntEnum):
    """``enum kvm_tdx_cmd_id``: the ``kvm_tdx_cmd.id`` sub-commands (fd in brackets)."""

    KVM_TDX_CAPABILITIES = 0  # VM
    KVM_TDX_INIT_VM = 1  # VM, before any vCPU
    KVM_TDX_INIT_VCPU = 2  # vCPU; data = initial RCX
    KVM_TDX_INIT_MEM_REGION = 3  # vCPU; flags may hold KVM_TDX_MEASURE_MEMORY_REGION
    KVM_TDX_FINALIZE_VM = 4  # VM
    KVM_TDX_GET_CPUID = 5  # vCPU
    KVM_TDX_CMD_NR_MAX = 6


KVM_TDX_CAPABILITIES: Final[int] = kvm_tdx_cmd_id.KVM_TDX_CAPABILITIES
KVM_TDX_INIT_VM: Final[int] = kvm_tdx_cmd_id.KVM_TDX_INIT_VM
KVM_TDX_INIT_VCPU: Final[int] = kvm_tdx_cmd_id.KVM_TDX_INIT_VCPU
KVM_TDX_INIT_MEM_REGION: Final[int] = kvm_tdx_cmd_id.KVM_TDX_INIT_MEM_REGION
KVM_TDX_FINALIZE_VM: Final[int] = kvm_tdx_cmd_id.KVM_TDX_FINALIZE_VM
KVM_TDX_GET_CPUID: Final[int] = kvm_tdx_cmd_id.KVM_TDX_GET_CPUID
KVM_TDX_CMD_NR_MAX: Final[int] = kvm_tdx_cmd_id.KVM_TDX_CMD_NR_MAX

#: ``kvm_tdx_cmd.flags`` bit for KVM_TDX_INIT_MEM_REGION: also TDH.MR.EXTEND the pages into MRTD.
KVM_TDX_MEASURE_MEMORY_REGION: Final = 1 << 0


class kvm_tdx_cmd(Struct):
    """Argument of ``KVM_MEMORY_ENCRYPT_OP`` for TDX VMs (24 bytes)."""

    _fields_ = (
        ("id", _u32),  # enum kvm_tdx_cmd_id
        ("flags", _u32),  # 0 unless the sub-command defines flags
        ("data", _u64),  # an immediate or the address of the sub-command's structure
        ("hw_error", _u64),  # must be 0 on input; out: TDX module (SEAMCALL) status
    )


class kvm_tdx_capabilities(Struct):
    """``KVM_TDX_CAPABILITIES`` data: fixed part (2056 bytes); ``cpuid.entries`` follow at 2056.
    Set ``cpuid.nent`` to the capacity; -E2BIG means too small."""

    _flexible_ = ("cpuid.entries", kvm_cpuid_entry2)
    _fields_ = (
        ("supported_attrs", _u64),
        ("supported_xfam", _u64),
        ("kernel_tdvmcallinfo_1_r11", _u64),
        ("user_tdvmcallinfo_1_r11", _u64),
        ("kernel_tdvmcallinfo_1_r12", _u64),
        ("user_tdvmcallinfo_1_r12", _u64),
        ("reserved", _u64 * 250),
        ("cpuid", kvm_cpuid2),  # configurable CPUID bits
    )


class kvm_tdx_init_vm(Struct):
    """``KVM_TDX_INIT_VM`` data: fixed part (TD_PARAMS part 256 bytes, then ``cpuid`` at 256)."""

    _flexible_ = ("cpuid.entries", kvm_cpuid_entry2)
    _fields_ = (
        ("attributes", _u64),
        ("xfam", _u64),
        ("mrconfigid", _u64 * 6),  # SHA-384 digest
        ("mrowner", _u64 * 6),  # SHA-384 digest
        ("mrownerconfig", _u64 * 6),  # SHA-384 digest
        ("reserved", _u64 * 12),  # must be 0
        ("cpuid", kvm_cpuid2),  # at most 256 entries
    )


class kvm_tdx_init_mem_region(Struct):
    """``KVM_TDX_INIT_MEM_REGION`` data (24 bytes), updated in place as pages complete."""

    _fields_ = (
        ("source_addr", _u64),
        ("gpa", _u64),
        ("nr_pages", _u64),
    )


@functools.cache
def kvm_tdx_capabilities_with(nent: int) -> type[kvm_tdx_capabilities]:
    """A :class:`kvm_tdx_capabilities` with room for ``nent`` CPUID entries in ``.entries``."""
    return _with_entries(kvm_tdx_capabilities, nent)


@functools.cache
def kvm_tdx_init_vm_with(nent: int) -> type[kvm_tdx_init_vm]:
    """A :class:`kvm_tdx_init_vm` with room for ``nent`` CPUID entries in ``.entries``."""
    return _with_entries(kvm_tdx_init_vm, nent)


def _with_entries(base: type[Struct], nent: int) -> type:
    if not 0 <= nent <= 0x10000:
        raise ValueError(f"nent {nent} out of range")
    return type(
        f"{base.__name__}_with_{nent}",
        (base,),
        {"_fields_": (("entries", kvm_cpuid_entry2 * nent),), "__module__": __name__},
    )


# ---------------------------------------------------------------------------------------------------
# TDX module status codes (kvm_tdx_cmd.hw_error). These are not in the uAPI headers: the values are
# the TDX module ABI's, as the kernel names them in arch/x86/include/asm/shared/tdx_errno.h (bits
# 63:32 are the status class, bits 31:0 operand details such as the operand id).

#: Bits that carry the status (the rest is detail).
TDX_SEAMCALL_STATUS_MASK: Final = 0xFFFFFFFF00000000


class tdx_status(enum.IntEnum):
    """The well-known TDX module status classes (``hw_error & TDX_SEAMCALL_STATUS_MASK``)."""

    TDX_SUCCESS = 0x0000000000000000
    TDX_NON_RECOVERABLE_VCPU = 0x4000000100000000
    TDX_INTERRUPTED_RESUMABLE = 0x8000000300000000
    TDX_OPERAND_INVALID = 0xC000010000000000
    TDX_OPERAND_BUSY = 0x8000020000000000
    TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000
    TDX_RND_NO_ENTROPY = 0x8000020300000000
    TDX_PAGE_METADATA_INCORRECT = 0xC000030000000000
    TDX_LIFECYCLE_STATE_INCORRECT = 0xC000060700000000
    TDX_VCPU_NOT_ASSOCIATED = 0x8000070200000000
    TDX_KEY_GENERATION_FAILED = 0x8000080000000000
    TDX_KEY_STATE_INCORRECT = 0xC000081100000000
    TDX_KEY_CONFIGURED = 0x0000081500000000
    TDX_NO_HKID_READY_TO_WBCACHE = 0x0000082100000000
    TDX_FLUSHVP_NOT_DONE = 0x8000082400000000
    TDX_EPT_WALK_FAILED = 0xC0000B0000000000
    TDX_EPT_ENTRY_STATE_INCORRECT = 0xC0000B0D00000000
    TDX_METADATA_FIELD_NOT_READABLE = 0xC0000C0200000000


def tdx_status_name(code: int) -> str:
    """Name of TDX module status ``code``: its status class (``"TDX_OPERAND_INVALID"``), followed by
    the operand details when bits 31:0 are non-zero (``"TDX_OPERAND_INVALID (detail 0x92)"``), or
    ``"unknown (N)"`` (N in hex) for a class this table does not know."""
    try:
        name = tdx_status(code & TDX_SEAMCALL_STATUS_MASK).name
    except ValueError:
        return f"unknown ({code:#x})"
    detail = code & ~TDX_SEAMCALL_STATUS_MASK & 0xFFFFFFFFFFFFFFFF
    return f"{name} (detail {detail:#x})" if detail else name
