"""ctypes mirrors of the generic KVM uAPI: ``include/uapi/linux/kvm.h`` plus the x86 parts of
``arch/x86/include/uapi/asm/kvm.h`` that every VM needs (registers, CPUID, VM types, system-fd
attribute groups). Checked against the linux-libc-dev 7.2.13 headers.

Names are the kernel's, verbatim (structs, fields, constants), so that everything greps against the
headers and ``tools/gen_uapi_layouts.py`` can compare every :class:`~pvmkit._cstruct.Struct` and every
upper-case integer here with a C probe. Non-kernel helpers are underscore-prefixed: the C structs
nested anonymously inside ``struct kvm_run`` are mirrored as ``_kvm_run_<member>`` classes and the
anonymous unions as ``_kvm_run_exit`` / ``_kvm_run_s`` (the ``kvm_run`` fields that hold them are
anonymous, so ``run.io.port`` works exactly as in C).

This module is hazmat: no logic, no validation beyond the Struct base. Use :mod:`pvmkit.kvm`.
"""

from __future__ import annotations

import ctypes

from pvmkit._cstruct import Struct
from pvmkit.uapi.ioctl import _IO, _IOR, _IOW, _IOWR, KVMIO

_u8 = ctypes.c_uint8
_u16 = ctypes.c_uint16
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_s32 = ctypes.c_int32

KVM_API_VERSION = 12

# ---------------------------------------------------------------------------------------------------
# VM types (asm/kvm.h, x86): KVM_CREATE_VM's argument; KVM_CAP_VM_TYPES bit n <=> type n supported.
KVM_X86_DEFAULT_VM = 0
KVM_X86_SW_PROTECTED_VM = 1
KVM_X86_SEV_VM = 2
KVM_X86_SEV_ES_VM = 3
KVM_X86_SNP_VM = 4
KVM_X86_TDX_VM = 5

# System-fd (/dev/kvm) device-attribute groups (asm/kvm.h, x86), for KVM_{HAS,GET}_DEVICE_ATTR.
KVM_X86_GRP_SYSTEM = 0
KVM_X86_XCOMP_GUEST_SUPP = 0
# The vendor groups (KVM_X86_GRP_SEV = 1, ...) live with their vendor: pvmkit.uapi.sev.

# ---------------------------------------------------------------------------------------------------
# Memory slots
KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1
KVM_MEM_GUEST_MEMFD = 1 << 2

KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3
KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3

GUEST_MEMFD_FLAG_MMAP = 1 << 0
GUEST_MEMFD_FLAG_INIT_SHARED = 1 << 1

# linux/kvm_para.h
KVM_HC_MAP_GPA_RANGE = 12

# ---------------------------------------------------------------------------------------------------
# Exit reasons (kvm_run.exit_reason)
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_SET_TPR = 11
KVM_EXIT_TPR_ACCESS = 12
KVM_EXIT_S390_SIEIC = 13
KVM_EXIT_S390_RESET = 14
KVM_EXIT_DCR = 15
KVM_EXIT_NMI = 16
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_OSI = 18
KVM_EXIT_PAPR_HCALL = 19
KVM_EXIT_S390_UCONTROL = 20
KVM_EXIT_WATCHDOG = 21
KVM_EXIT_S390_TSCH = 22
KVM_EXIT_EPR = 23
KVM_EXIT_SYSTEM_EVENT = 24
KVM_EXIT_S390_STSI = 25
KVM_EXIT_IOAPIC_EOI = 26
KVM_EXIT_HYPERV = 27
KVM_EXIT_ARM_NISV = 28
KVM_EXIT_X86_RDMSR = 29
KVM_EXIT_X86_WRMSR = 30
KVM_EXIT_DIRTY_RING_FULL = 31
KVM_EXIT_AP_RESET_HOLD = 32
KVM_EXIT_X86_BUS_LOCK = 33
KVM_EXIT_XEN = 34
KVM_EXIT_RISCV_SBI = 35
KVM_EXIT_RISCV_CSR = 36
KVM_EXIT_NOTIFY = 37
KVM_EXIT_LOONGARCH_IOCSR = 38
KVM_EXIT_MEMORY_FAULT = 39
KVM_EXIT_TDX = 40
KVM_EXIT_ARM_SEA = 41
KVM_EXIT_ARM_LDST64B = 42
KVM_EXIT_SNP_REQ_CERTS = 43

KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

KVM_INTERNAL_ERROR_EMULATION = 1
KVM_INTERNAL_ERROR_SIMUL_EX = 2
KVM_INTERNAL_ERROR_DELIVERY_EV = 3
KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4
KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1 << 0

KVM_SYSTEM_EVENT_SHUTDOWN = 1
KVM_SYSTEM_EVENT_RESET = 2
KVM_SYSTEM_EVENT_CRASH = 3
KVM_SYSTEM_EVENT_WAKEUP = 4
KVM_SYSTEM_EVENT_SUSPEND = 5
KVM_SYSTEM_EVENT_SEV_TERM = 6
KVM_SYSTEM_EVENT_TDX_FATAL = 7

KVM_MP_STATE_RUNNABLE = 0
KVM_MP_STATE_UNINITIALIZED = 1
KVM_MP_STATE_INIT_RECEIVED = 2
KVM_MP_STATE_HALTED = 3
KVM_MP_STATE_SIPI_RECEIVED = 4
KVM_MP_STATE_STOPPED = 5
KVM_MP_STATE_CHECK_STOP = 6
KVM_MP_STATE_OPERATING = 7
KVM_MP_STATE_LOAD = 8
KVM_MP_STATE_AP_RESET_HOLD = 9
KVM_MP_STATE_SUSPENDED = 10

KVM_EXIT_HYPERCALL_LONG_MODE = 1 << 0

KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0  # sic: the kernel's spelling
KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1
KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2

KVM_NR_INTERRUPTS = 256
KVM_APIC_REG_SIZE = 0x400
KVM_MAX_XCRS = 16
KVM_SREGS2_FLAGS_PDPTRS_VALID = 1
SYNC_REGS_SIZE_BYTES = 2048

# ---------------------------------------------------------------------------------------------------
# Capabilities (KVM_CHECK_EXTENSION argument)
KVM_CAP_IRQCHIP = 0
KVM_CAP_HLT = 1
KVM_CAP_MMU_SHADOW_CACHE_CONTROL = 2
KVM_CAP_USER_MEMORY = 3
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_VAPIC = 6
KVM_CAP_EXT_CPUID = 7
KVM_CAP_CLOCKSOURCE = 8
KVM_CAP_NR_VCPUS = 9
KVM_CAP_NR_MEMSLOTS = 10
KVM_CAP_PIT = 11
KVM_CAP_NOP_IO_DELAY = 12
KVM_CAP_PV_MMU = 13
KVM_CAP_MP_STATE = 14
KVM_CAP_COALESCED_MMIO = 15
KVM_CAP_SYNC_MMU = 16
KVM_CAP_IOMMU = 18
KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21
KVM_CAP_USER_NMI = 22
KVM_CAP_SET_GUEST_DEBUG = 23
KVM_CAP_REINJECT_CONTROL = 24
KVM_CAP_IRQ_ROUTING = 25
KVM_CAP_IRQ_INJECT_STATUS = 26
KVM_CAP_ASSIGN_DEV_IRQ = 29
KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30
KVM_CAP_MCE = 31
KVM_CAP_IRQFD = 32
KVM_CAP_PIT2 = 33
KVM_CAP_SET_BOOT_CPU_ID = 34
KVM_CAP_PIT_STATE2 = 35
KVM_CAP_IOEVENTFD = 36
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
KVM_CAP_XEN_HVM = 38
KVM_CAP_ADJUST_CLOCK = 39
KVM_CAP_INTERNAL_ERROR_DATA = 40
KVM_CAP_VCPU_EVENTS = 41
KVM_CAP_S390_PSW = 42
KVM_CAP_PPC_SEGSTATE = 43
KVM_CAP_HYPERV = 44
KVM_CAP_HYPERV_VAPIC = 45
KVM_CAP_HYPERV_SPIN = 46
KVM_CAP_PCI_SEGMENT = 47
KVM_CAP_PPC_PAIRED_SINGLES = 48
KVM_CAP_INTR_SHADOW = 49
KVM_CAP_DEBUGREGS = 50
KVM_CAP_X86_ROBUST_SINGLESTEP = 51
KVM_CAP_PPC_OSI = 52
KVM_CAP_PPC_UNSET_IRQ = 53
KVM_CAP_ENABLE_CAP = 54
KVM_CAP_XSAVE = 55
KVM_CAP_XCRS = 56
KVM_CAP_PPC_GET_PVINFO = 57
KVM_CAP_PPC_IRQ_LEVEL = 58
KVM_CAP_ASYNC_PF = 59
KVM_CAP_TSC_CONTROL = 60
KVM_CAP_GET_TSC_KHZ = 61
KVM_CAP_PPC_BOOKE_SREGS = 62
KVM_CAP_SPAPR_TCE = 63
KVM_CAP_PPC_SMT = 64
KVM_CAP_PPC_RMA = 65
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_PPC_HIOR = 67
KVM_CAP_PPC_PAPR = 68
KVM_CAP_SW_TLB = 69
KVM_CAP_ONE_REG = 70
KVM_CAP_S390_GMAP = 71
KVM_CAP_TSC_DEADLINE_TIMER = 72
KVM_CAP_S390_UCONTROL = 73
KVM_CAP_SYNC_REGS = 74
KVM_CAP_PCI_2_3 = 75
KVM_CAP_KVMCLOCK_CTRL = 76
KVM_CAP_SIGNAL_MSI = 77
KVM_CAP_PPC_GET_SMMU_INFO = 78
KVM_CAP_S390_COW = 79
KVM_CAP_PPC_ALLOC_HTAB = 80
KVM_CAP_READONLY_MEM = 81
KVM_CAP_IRQFD_RESAMPLE = 82
KVM_CAP_PPC_BOOKE_WATCHDOG = 83
KVM_CAP_PPC_HTAB_FD = 84
KVM_CAP_S390_CSS_SUPPORT = 85
KVM_CAP_PPC_EPR = 86
KVM_CAP_ARM_PSCI = 87
KVM_CAP_ARM_SET_DEVICE_ADDR = 88
KVM_CAP_DEVICE_CTRL = 89
KVM_CAP_IRQ_MPIC = 90
KVM_CAP_PPC_RTAS = 91
KVM_CAP_IRQ_XICS = 92
KVM_CAP_ARM_EL1_32BIT = 93
KVM_CAP_SPAPR_MULTITCE = 94
KVM_CAP_EXT_EMUL_CPUID = 95
KVM_CAP_HYPERV_TIME = 96
KVM_CAP_IOAPIC_POLARITY_IGNORED = 97
KVM_CAP_ENABLE_CAP_VM = 98
KVM_CAP_S390_IRQCHIP = 99
KVM_CAP_IOEVENTFD_NO_LENGTH = 100
KVM_CAP_VM_ATTRIBUTES = 101
KVM_CAP_ARM_PSCI_0_2 = 102
KVM_CAP_PPC_FIXUP_HCALL = 103
KVM_CAP_PPC_ENABLE_HCALL = 104
KVM_CAP_CHECK_EXTENSION_VM = 105
KVM_CAP_S390_USER_SIGP = 106
KVM_CAP_S390_VECTOR_REGISTERS = 107
KVM_CAP_S390_MEM_OP = 108
KVM_CAP_S390_USER_STSI = 109
KVM_CAP_S390_SKEYS = 110
KVM_CAP_MIPS_FPU = 111
KVM_CAP_MIPS_MSA = 112
KVM_CAP_S390_INJECT_IRQ = 113
KVM_CAP_S390_IRQ_STATE = 114
KVM_CAP_PPC_HWRNG = 115
KVM_CAP_DISABLE_QUIRKS = 116
KVM_CAP_X86_SMM = 117
KVM_CAP_MULTI_ADDRESS_SPACE = 118
KVM_CAP_GUEST_DEBUG_HW_BPS = 119
KVM_CAP_GUEST_DEBUG_HW_WPS = 120
KVM_CAP_SPLIT_IRQCHIP = 121
KVM_CAP_IOEVENTFD_ANY_LENGTH = 122
KVM_CAP_HYPERV_SYNIC = 123
KVM_CAP_S390_RI = 124
KVM_CAP_SPAPR_TCE_64 = 125
KVM_CAP_ARM_PMU_V3 = 126
KVM_CAP_VCPU_ATTRIBUTES = 127
KVM_CAP_MAX_VCPU_ID = 128
KVM_CAP_X2APIC_API = 129
KVM_CAP_S390_USER_INSTR0 = 130
KVM_CAP_MSI_DEVID = 131
KVM_CAP_PPC_HTM = 132
KVM_CAP_SPAPR_RESIZE_HPT = 133
KVM_CAP_PPC_MMU_RADIX = 134
KVM_CAP_PPC_MMU_HASH_V3 = 135
KVM_CAP_IMMEDIATE_EXIT = 136
KVM_CAP_MIPS_VZ = 137
KVM_CAP_MIPS_TE = 138
KVM_CAP_MIPS_64BIT = 139
KVM_CAP_S390_GS = 140
KVM_CAP_S390_AIS = 141
KVM_CAP_SPAPR_TCE_VFIO = 142
KVM_CAP_X86_DISABLE_EXITS = 143
KVM_CAP_ARM_USER_IRQ = 144
KVM_CAP_S390_CMMA_MIGRATION = 145
KVM_CAP_PPC_FWNMI = 146
KVM_CAP_PPC_SMT_POSSIBLE = 147
KVM_CAP_HYPERV_SYNIC2 = 148
KVM_CAP_HYPERV_VP_INDEX = 149
KVM_CAP_S390_AIS_MIGRATION = 150
KVM_CAP_PPC_GET_CPU_CHAR = 151
KVM_CAP_S390_BPB = 152
KVM_CAP_GET_MSR_FEATURES = 153
KVM_CAP_HYPERV_EVENTFD = 154
KVM_CAP_HYPERV_TLBFLUSH = 155
KVM_CAP_S390_HPAGE_1M = 156
KVM_CAP_NESTED_STATE = 157
KVM_CAP_ARM_INJECT_SERROR_ESR = 158
KVM_CAP_MSR_PLATFORM_INFO = 159
KVM_CAP_PPC_NESTED_HV = 160
KVM_CAP_HYPERV_SEND_IPI = 161
KVM_CAP_COALESCED_PIO = 162
KVM_CAP_HYPERV_ENLIGHTENED_VMCS = 163
KVM_CAP_EXCEPTION_PAYLOAD = 164
KVM_CAP_ARM_VM_IPA_SIZE = 165
KVM_CAP_MANUAL_DIRTY_LOG_PROTECT = 166
KVM_CAP_HYPERV_CPUID = 167
KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168
KVM_CAP_PPC_IRQ_XIVE = 169
KVM_CAP_ARM_SVE = 170
KVM_CAP_ARM_PTRAUTH_ADDRESS = 171
KVM_CAP_ARM_PTRAUTH_GENERIC = 172
KVM_CAP_PMU_EVENT_FILTER = 173
KVM_CAP_ARM_IRQ_LINE_LAYOUT_2 = 174
KVM_CAP_HYPERV_DIRECT_TLBFLUSH = 175
KVM_CAP_PPC_GUEST_DEBUG_SSTEP = 176
KVM_CAP_ARM_NISV_TO_USER = 177
KVM_CAP_ARM_INJECT_EXT_DABT = 178
KVM_CAP_S390_VCPU_RESETS = 179
KVM_CAP_S390_PROTECTED = 180
KVM_CAP_PPC_SECURE_GUEST = 181
KVM_CAP_HALT_POLL = 182
KVM_CAP_ASYNC_PF_INT = 183
KVM_CAP_LAST_CPU = 184
KVM_CAP_SMALLER_MAXPHYADDR = 185
KVM_CAP_S390_DIAG318 = 186
KVM_CAP_STEAL_TIME = 187
KVM_CAP_X86_USER_SPACE_MSR = 188
KVM_CAP_X86_MSR_FILTER = 189
KVM_CAP_ENFORCE_PV_FEATURE_CPUID = 190
KVM_CAP_SYS_HYPERV_CPUID = 191
KVM_CAP_DIRTY_LOG_RING = 192
KVM_CAP_X86_BUS_LOCK_EXIT = 193
KVM_CAP_PPC_DAWR1 = 194
KVM_CAP_SET_GUEST_DEBUG2 = 195
KVM_CAP_SGX_ATTRIBUTE = 196
KVM_CAP_VM_COPY_ENC_CONTEXT_FROM = 197
KVM_CAP_PTP_KVM = 198
KVM_CAP_HYPERV_ENFORCE_CPUID = 199
KVM_CAP_SREGS2 = 200
KVM_CAP_EXIT_HYPERCALL = 201
KVM_CAP_PPC_RPT_INVALIDATE = 202
KVM_CAP_BINARY_STATS_FD = 203
KVM_CAP_EXIT_ON_EMULATION_FAILURE = 204
KVM_CAP_ARM_MTE = 205
KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM = 206
KVM_CAP_VM_GPA_BITS = 207
KVM_CAP_XSAVE2 = 208
KVM_CAP_SYS_ATTRIBUTES = 209
KVM_CAP_PPC_AIL_MODE_3 = 210
KVM_CAP_S390_MEM_OP_EXTENSION = 211
KVM_CAP_PMU_CAPABILITY = 212
KVM_CAP_DISABLE_QUIRKS2 = 213
KVM_CAP_VM_TSC_CONTROL = 214
KVM_CAP_SYSTEM_EVENT_DATA = 215
KVM_CAP_ARM_SYSTEM_SUSPEND = 216
KVM_CAP_S390_PROTECTED_DUMP = 217
KVM_CAP_X86_TRIPLE_FAULT_EVENT = 218
KVM_CAP_X86_NOTIFY_VMEXIT = 219
KVM_CAP_VM_DISABLE_NX_HUGE_PAGES = 220
KVM_CAP_S390_ZPCI_OP = 221
KVM_CAP_S390_CPU_TOPOLOGY = 222
KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223
KVM_CAP_S390_PROTECTED_ASYNC_DISABLE = 224
KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP = 225
KVM_CAP_PMU_EVENT_MASKED_EVENTS = 226
KVM_CAP_COUNTER_OFFSET = 227
KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE = 228
KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES = 229
KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES = 230
KVM_CAP_USER_MEMORY2 = 231
KVM_CAP_MEMORY_FAULT_INFO = 232
KVM_CAP_MEMORY_ATTRIBUTES = 233
KVM_CAP_GUEST_MEMFD = 234
KVM_CAP_VM_TYPES = 235
KVM_CAP_PRE_FAULT_MEMORY = 236
KVM_CAP_X86_APIC_BUS_CYCLES_NS = 237
KVM_CAP_X86_GUEST_MODE = 238
KVM_CAP_ARM_WRITABLE_IMP_ID_REGS = 239
KVM_CAP_ARM_EL2 = 240
KVM_CAP_ARM_EL2_E2H0 = 241
KVM_CAP_RISCV_MP_STATE_RESET = 242
KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED = 243
KVM_CAP_GUEST_MEMFD_FLAGS = 244
KVM_CAP_ARM_SEA_TO_USER = 245
KVM_CAP_S390_USER_OPEREXEC = 246
KVM_CAP_S390_KEYOP = 247
KVM_CAP_S390_VSIE_ESAMODE = 248
KVM_CAP_S390_HPAGE_2G = 249


# ---------------------------------------------------------------------------------------------------
# Structures: memory
class kvm_userspace_memory_region(Struct):
    _fields_ = (
        ("slot", _u32),
        ("flags", _u32),
        ("guest_phys_addr", _u64),
        ("memory_size", _u64),
        ("userspace_addr", _u64),
    )


class kvm_userspace_memory_region2(Struct):
    _fields_ = (
        ("slot", _u32),
        ("flags", _u32),
        ("guest_phys_addr", _u64),
        ("memory_size", _u64),
        ("userspace_addr", _u64),
        ("guest_memfd_offset", _u64),
        ("guest_memfd", _u32),
        ("pad1", _u32),
        ("pad2", _u64 * 14),
    )


class kvm_memory_attributes(Struct):
    _fields_ = (
        ("address", _u64),
        ("size", _u64),
        ("attributes", _u64),
        ("flags", _u64),
    )


class kvm_create_guest_memfd(Struct):
    _fields_ = (
        ("size", _u64),
        ("flags", _u64),
        ("reserved", _u64 * 6),
    )


class kvm_pre_fault_memory(Struct):
    _fields_ = (
        ("gpa", _u64),
        ("size", _u64),
        ("flags", _u64),
        ("padding", _u64 * 5),
    )


# ---------------------------------------------------------------------------------------------------
# Structures: capabilities, attributes
class kvm_enable_cap(Struct):
    _fields_ = (
        ("cap", _u32),
        ("flags", _u32),
        ("args", _u64 * 4),
        ("pad", _u8 * 64),
    )


class kvm_device_attr(Struct):
    _fields_ = (
        ("flags", _u32),
        ("group", _u32),
        ("attr", _u64),
        ("addr", _u64),
    )


# ---------------------------------------------------------------------------------------------------
# Structures: x86 registers and CPUID (asm/kvm.h)
class kvm_regs(Struct):
    _fields_ = tuple(
        (name, _u64)
        for name in (
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
            "rip", "rflags",
        )
    )  # fmt: skip


class kvm_segment(Struct):
    _fields_ = (
        ("base", _u64),
        ("limit", _u32),
        ("selector", _u16),
        ("type", _u8),
        ("present", _u8),
        ("dpl", _u8),
        ("db", _u8),
        ("s", _u8),
        ("l", _u8),
        ("g", _u8),
        ("avl", _u8),
        ("unusable", _u8),
        ("padding", _u8),
    )


class kvm_dtable(Struct):
    _fields_ = (
        ("base", _u64),
        ("limit", _u16),
        ("padding", _u16 * 3),
    )


class kvm_sregs(Struct):
    _fields_ = (
        *((name, kvm_segment) for name in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")),
        ("gdt", kvm_dtable),
        ("idt", kvm_dtable),
        *((name, _u64) for name in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")),
        ("interrupt_bitmap", _u64 * ((KVM_NR_INTERRUPTS + 63) // 64)),
    )


class kvm_cpuid_entry2(Struct):
    _fields_ = (
        ("function", _u32),
        ("index", _u32),
        ("flags", _u32),
        ("eax", _u32),
        ("ebx", _u32),
        ("ecx", _u32),
        ("edx", _u32),
        ("padding", _u32 * 3),
    )


class kvm_cpuid2(Struct):
    """The fixed header; ``entries[]`` (a flexible array of :class:`kvm_cpuid_entry2`) follows it."""

    _fields_ = (
        ("nent", _u32),
        ("padding", _u32),
    )


class kvm_debug_exit_arch(Struct):
    _fields_ = (
        ("exception", _u32),
        ("pad", _u32),
        ("pc", _u64),
        ("dr6", _u64),
        ("dr7", _u64),
    )


class kvm_sregs2(Struct):
    _fields_ = (
        *((name, kvm_segment) for name in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")),
        ("gdt", kvm_dtable),
        ("idt", kvm_dtable),
        *((name, _u64) for name in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base", "flags")),
        ("pdptrs", _u64 * 4),
    )


class kvm_msr_entry(Struct):
    _fields_ = (
        ("index", _u32),
        ("reserved", _u32),
        ("data", _u64),
    )


class kvm_msrs(Struct):
    """The fixed header; ``entries[]`` (:class:`kvm_msr_entry`) follows it."""

    _fields_ = (
        ("nmsrs", _u32),
        ("pad", _u32),
    )


class kvm_msr_list(Struct):
    """The fixed header; ``indices[]`` (u32) follows it."""

    _fields_ = (("nmsrs", _u32),)


class kvm_fpu(Struct):
    _fields_ = (
        ("fpr", (_u8 * 16) * 8),
        ("fcw", _u16),
        ("fsw", _u16),
        ("ftwx", _u8),
        ("pad1", _u8),
        ("last_opcode", _u16),
        ("last_ip", _u64),
        ("last_dp", _u64),
        ("xmm", (_u8 * 16) * 16),
        ("mxcsr", _u32),
        ("pad2", _u32),
    )


class kvm_lapic_state(Struct):
    _fields_ = (("regs", ctypes.c_char * KVM_APIC_REG_SIZE),)


class _kvm_vcpu_events_exception(Struct):
    _fields_ = (
        ("injected", _u8),
        ("nr", _u8),
        ("has_error_code", _u8),
        ("pending", _u8),
        ("error_code", _u32),
    )


class _kvm_vcpu_events_interrupt(Struct):
    _fields_ = (
        ("injected", _u8),
        ("nr", _u8),
        ("soft", _u8),
        ("shadow", _u8),
    )


class _kvm_vcpu_events_nmi(Struct):
    _fields_ = (
        ("injected", _u8),
        ("pending", _u8),
        ("masked", _u8),
        ("pad", _u8),
    )


class _kvm_vcpu_events_smi(Struct):
    _fields_ = (
        ("smm", _u8),
        ("pending", _u8),
        ("smm_inside_nmi", _u8),
        ("latched_init", _u8),
    )


class _kvm_vcpu_events_triple_fault(Struct):
    _fields_ = (("pending", _u8),)


class kvm_vcpu_events(Struct):
    _fields_ = (
        ("exception", _kvm_vcpu_events_exception),
        ("interrupt", _kvm_vcpu_events_interrupt),
        ("nmi", _kvm_vcpu_events_nmi),
        ("sipi_vector", _u32),
        ("flags", _u32),
        ("smi", _kvm_vcpu_events_smi),
        ("triple_fault", _kvm_vcpu_events_triple_fault),
        ("reserved", _u8 * 26),
        ("exception_has_payload", _u8),
        ("exception_payload", _u64),
    )


class kvm_debugregs(Struct):
    _fields_ = (
        ("db", _u64 * 4),
        ("dr6", _u64),
        ("dr7", _u64),
        ("flags", _u64),
        ("reserved", _u64 * 9),
    )


class kvm_xsave(Struct):
    """4096 bytes; KVM_GET_XSAVE2 may write more (``extra[]``, size from KVM_CAP_XSAVE2)."""

    _fields_ = (("region", _u32 * 1024),)


class kvm_xcr(Struct):
    _fields_ = (
        ("xcr", _u32),
        ("reserved", _u32),
        ("value", _u64),
    )


class kvm_xcrs(Struct):
    _fields_ = (
        ("nr_xcrs", _u32),
        ("flags", _u32),
        ("xcrs", kvm_xcr * KVM_MAX_XCRS),
        ("padding", _u64 * 16),
    )


class kvm_mp_state(Struct):
    _fields_ = (("mp_state", _u32),)


class kvm_translation(Struct):
    _fields_ = (
        ("linear_address", _u64),
        ("physical_address", _u64),
        ("valid", _u8),
        ("writeable", _u8),
        ("usermode", _u8),
        ("pad", _u8 * 5),
    )


class kvm_interrupt(Struct):
    _fields_ = (("irq", _u32),)


class kvm_one_reg(Struct):
    _fields_ = (
        ("id", _u64),
        ("addr", _u64),
    )


class kvm_enc_region(Struct):
    _fields_ = (
        ("addr", _u64),
        ("size", _u64),
    )


class kvm_create_device(Struct):
    _fields_ = (
        ("type", _u32),
        ("fd", _u32),
        ("flags", _u32),
    )


class _kvm_irq_level_u(ctypes.Union):
    _fields_ = (
        ("irq", _u32),
        ("status", _s32),
    )


class kvm_irq_level(Struct):
    _anonymous_ = ("_u",)
    _fields_ = (
        ("_u", _kvm_irq_level_u),
        ("level", _u32),
    )


class kvm_msi(Struct):
    _fields_ = (
        ("address_lo", _u32),
        ("address_hi", _u32),
        ("data", _u32),
        ("flags", _u32),
        ("devid", _u32),
        ("pad", _u8 * 12),
    )


class kvm_irqfd(Struct):
    _fields_ = (
        ("fd", _u32),
        ("gsi", _u32),
        ("flags", _u32),
        ("resamplefd", _u32),
        ("pad", _u8 * 16),
    )


class kvm_ioeventfd(Struct):
    _fields_ = (
        ("datamatch", _u64),
        ("addr", _u64),
        ("len", _u32),
        ("fd", _s32),
        ("flags", _u32),
        ("pad", _u8 * 36),
    )


class kvm_clock_data(Struct):
    _fields_ = (
        ("clock", _u64),
        ("flags", _u32),
        ("pad0", _u32),
        ("realtime", _u64),
        ("host_tsc", _u64),
        ("pad", _u32 * 4),
    )


# ---------------------------------------------------------------------------------------------------
# struct kvm_run (mmap of the vCPU fd, offset 0). The exit union holds the members pvmkit decodes
# (plus a few cheap ones); padding[256] fixes its size as in C.
class _kvm_run_hw(Struct):
    _fields_ = (("hardware_exit_reason", _u64),)


class _kvm_run_fail_entry(Struct):
    _fields_ = (
        ("hardware_entry_failure_reason", _u64),
        ("cpu", _u32),
    )


class _kvm_run_ex(Struct):
    _fields_ = (
        ("exception", _u32),
        ("error_code", _u32),
    )


class _kvm_run_io(Struct):
    _fields_ = (
        ("direction", _u8),
        ("size", _u8),
        ("port", _u16),
        ("count", _u32),
        ("data_offset", _u64),
    )


class _kvm_run_debug(Struct):
    _fields_ = (("arch", kvm_debug_exit_arch),)


class _kvm_run_mmio(Struct):
    _fields_ = (
        ("phys_addr", _u64),
        ("data", _u8 * 8),
        ("len", _u32),
        ("is_write", _u8),
    )


class _kvm_run_hypercall_u(ctypes.Union):
    _fields_ = (
        ("longmode", _u32),
        ("flags", _u64),
    )


class _kvm_run_hypercall(Struct):
    _anonymous_ = ("_u",)
    _fields_ = (
        ("nr", _u64),
        ("args", _u64 * 6),
        ("ret", _u64),
        ("_u", _kvm_run_hypercall_u),
    )


class _kvm_run_tpr_access(Struct):
    _fields_ = (
        ("rip", _u64),
        ("is_write", _u32),
        ("pad", _u32),
    )


class _kvm_run_internal(Struct):
    _fields_ = (
        ("suberror", _u32),
        ("ndata", _u32),
        ("data", _u64 * 16),
    )


class _kvm_run_emulation_failure(Struct):
    _fields_ = (
        ("suberror", _u32),
        ("ndata", _u32),
        ("flags", _u64),
        ("insn_size", _u8),
        ("insn_bytes", _u8 * 15),
    )


class _kvm_run_system_event_u(ctypes.Union):
    _fields_ = (
        ("flags", _u64),
        ("data", _u64 * 16),
    )


class _kvm_run_system_event(Struct):
    _anonymous_ = ("_u",)
    _fields_ = (
        ("type", _u32),
        ("ndata", _u32),
        ("_u", _kvm_run_system_event_u),
    )


class _kvm_run_msr(Struct):
    _fields_ = (
        ("error", _u8),
        ("pad", _u8 * 7),
        ("reason", _u32),
        ("index", _u32),
        ("data", _u64),
    )


class _kvm_run_notify(Struct):
    _fields_ = (("flags", _u32),)


class _kvm_run_memory_fault(Struct):
    _fields_ = (
        ("flags", _u64),
        ("gpa", _u64),
        ("size", _u64),
    )


class _kvm_run_tdx_unknown(Struct):
    _fields_ = (
        ("ret", _u64),
        ("data", _u64 * 5),
    )


class _kvm_run_tdx_get_quote(Struct):
    _fields_ = (
        ("ret", _u64),
        ("gpa", _u64),
        ("size", _u64),
    )


class _kvm_run_tdx_get_tdvmcall_info(Struct):
    _fields_ = (
        ("ret", _u64),
        ("leaf", _u64),
        ("r11", _u64),
        ("r12", _u64),
        ("r13", _u64),
        ("r14", _u64),
    )


class _kvm_run_tdx_setup_event_notify(Struct):
    _fields_ = (
        ("ret", _u64),
        ("vector", _u64),
    )


class _kvm_run_tdx_u(ctypes.Union):
    _fields_ = (
        ("unknown", _kvm_run_tdx_unknown),
        ("get_quote", _kvm_run_tdx_get_quote),
        ("get_tdvmcall_info", _kvm_run_tdx_get_tdvmcall_info),
        ("setup_event_notify", _kvm_run_tdx_setup_event_notify),
    )


class _kvm_run_tdx(Struct):
    _anonymous_ = ("_u",)
    _fields_ = (
        ("flags", _u64),
        ("nr", _u64),
        ("_u", _kvm_run_tdx_u),
    )


class _kvm_run_exit(ctypes.Union):
    _fields_ = (
        ("hw", _kvm_run_hw),
        ("fail_entry", _kvm_run_fail_entry),
        ("ex", _kvm_run_ex),
        ("io", _kvm_run_io),
        ("debug", _kvm_run_debug),
        ("mmio", _kvm_run_mmio),
        ("hypercall", _kvm_run_hypercall),
        ("tpr_access", _kvm_run_tpr_access),
        ("internal", _kvm_run_internal),
        ("emulation_failure", _kvm_run_emulation_failure),
        ("system_event", _kvm_run_system_event),
        ("msr", _kvm_run_msr),
        ("notify", _kvm_run_notify),
        ("memory_fault", _kvm_run_memory_fault),
        ("tdx", _kvm_run_tdx),
        ("padding", ctypes.c_char * 256),
    )


class _kvm_run_s(ctypes.Union):
    _fields_ = (("padding", ctypes.c_char * SYNC_REGS_SIZE_BYTES),)


class kvm_run(Struct):
    """``struct kvm_run`` on x86-64 (2352 bytes). ``s.regs`` (kvm_sync_regs) is left as padding."""

    _anonymous_ = ("_exit",)
    _fields_ = (
        ("request_interrupt_window", _u8),
        ("immediate_exit", _u8),
        ("padding1", _u8 * 6),
        ("exit_reason", _u32),
        ("ready_for_interrupt_injection", _u8),
        ("if_flag", _u8),
        ("flags", _u16),
        ("cr8", _u64),
        ("apic_base", _u64),
        ("_exit", _kvm_run_exit),
        ("kvm_valid_regs", _u64),
        ("kvm_dirty_regs", _u64),
        ("s", _kvm_run_s),
    )


# ---------------------------------------------------------------------------------------------------
# ioctl numbers
# system fd (/dev/kvm)
KVM_GET_API_VERSION = _IO(KVMIO, 0x00)
KVM_CREATE_VM = _IO(KVMIO, 0x01)
KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, kvm_msr_list)
KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03)
KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04)
KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, kvm_cpuid2)
KVM_GET_EMULATED_CPUID = _IOWR(KVMIO, 0x09, kvm_cpuid2)
KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0A, kvm_msr_list)

# VM fd
KVM_CREATE_VCPU = _IO(KVMIO, 0x41)
KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, kvm_userspace_memory_region)
KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47)
KVM_SET_IDENTITY_MAP_ADDR = _IOW(KVMIO, 0x48, _u64)
KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, kvm_userspace_memory_region2)
KVM_SET_NR_MMU_PAGES = _IO(KVMIO, 0x44)
KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60)
KVM_IRQ_LINE = _IOW(KVMIO, 0x61, kvm_irq_level)
KVM_IRQ_LINE_STATUS = _IOWR(KVMIO, 0x67, kvm_irq_level)
KVM_REINJECT_CONTROL = _IO(KVMIO, 0x71)
KVM_IRQFD = _IOW(KVMIO, 0x76, kvm_irqfd)
KVM_SET_BOOT_CPU_ID = _IO(KVMIO, 0x78)
KVM_IOEVENTFD = _IOW(KVMIO, 0x79, kvm_ioeventfd)
KVM_SET_CLOCK = _IOW(KVMIO, 0x7B, kvm_clock_data)
KVM_GET_CLOCK = _IOR(KVMIO, 0x7C, kvm_clock_data)
KVM_SIGNAL_MSI = _IOW(KVMIO, 0xA5, kvm_msi)
KVM_SET_TSC_KHZ = _IO(KVMIO, 0xA2)
KVM_GET_TSC_KHZ = _IO(KVMIO, 0xA3)
KVM_MEMORY_ENCRYPT_OP = _IOWR(KVMIO, 0xBA, ctypes.c_ulong)
KVM_MEMORY_ENCRYPT_REG_REGION = _IOR(KVMIO, 0xBB, kvm_enc_region)
KVM_MEMORY_ENCRYPT_UNREG_REGION = _IOR(KVMIO, 0xBC, kvm_enc_region)
KVM_GET_STATS_FD = _IO(KVMIO, 0xCE)
KVM_SET_MEMORY_ATTRIBUTES = _IOW(KVMIO, 0xD2, kvm_memory_attributes)
KVM_CREATE_GUEST_MEMFD = _IOWR(KVMIO, 0xD4, kvm_create_guest_memfd)
KVM_PRE_FAULT_MEMORY = _IOWR(KVMIO, 0xD5, kvm_pre_fault_memory)

# device attributes (system, VM, vCPU and device fds)
KVM_CREATE_DEVICE = _IOWR(KVMIO, 0xE0, kvm_create_device)
KVM_SET_DEVICE_ATTR = _IOW(KVMIO, 0xE1, kvm_device_attr)
KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xE2, kvm_device_attr)
KVM_HAS_DEVICE_ATTR = _IOW(KVMIO, 0xE3, kvm_device_attr)

# vCPU fd
KVM_RUN = _IO(KVMIO, 0x80)
KVM_GET_REGS = _IOR(KVMIO, 0x81, kvm_regs)
KVM_SET_REGS = _IOW(KVMIO, 0x82, kvm_regs)
KVM_GET_SREGS = _IOR(KVMIO, 0x83, kvm_sregs)
KVM_SET_SREGS = _IOW(KVMIO, 0x84, kvm_sregs)
KVM_TRANSLATE = _IOWR(KVMIO, 0x85, kvm_translation)
KVM_INTERRUPT = _IOW(KVMIO, 0x86, kvm_interrupt)
KVM_GET_MSRS = _IOWR(KVMIO, 0x88, kvm_msrs)
KVM_SET_MSRS = _IOW(KVMIO, 0x89, kvm_msrs)
KVM_GET_FPU = _IOR(KVMIO, 0x8C, kvm_fpu)
KVM_SET_FPU = _IOW(KVMIO, 0x8D, kvm_fpu)
KVM_GET_LAPIC = _IOR(KVMIO, 0x8E, kvm_lapic_state)
KVM_SET_LAPIC = _IOW(KVMIO, 0x8F, kvm_lapic_state)
KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, kvm_cpuid2)
KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, kvm_cpuid2)
KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, kvm_mp_state)
KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, kvm_mp_state)
KVM_NMI = _IO(KVMIO, 0x9A)
KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9F, kvm_vcpu_events)
KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xA0, kvm_vcpu_events)
KVM_GET_DEBUGREGS = _IOR(KVMIO, 0xA1, kvm_debugregs)
KVM_SET_DEBUGREGS = _IOW(KVMIO, 0xA2, kvm_debugregs)
KVM_ENABLE_CAP = _IOW(KVMIO, 0xA3, kvm_enable_cap)
KVM_GET_XSAVE = _IOR(KVMIO, 0xA4, kvm_xsave)
KVM_SET_XSAVE = _IOW(KVMIO, 0xA5, kvm_xsave)
KVM_GET_XCRS = _IOR(KVMIO, 0xA6, kvm_xcrs)
KVM_SET_XCRS = _IOW(KVMIO, 0xA7, kvm_xcrs)
KVM_GET_ONE_REG = _IOW(KVMIO, 0xAB, kvm_one_reg)
KVM_SET_ONE_REG = _IOW(KVMIO, 0xAC, kvm_one_reg)
KVM_KVMCLOCK_CTRL = _IO(KVMIO, 0xAD)
KVM_SMI = _IO(KVMIO, 0xB7)
KVM_GET_SREGS2 = _IOR(KVMIO, 0xCC, kvm_sregs2)
KVM_SET_SREGS2 = _IOW(KVMIO, 0xCD, kvm_sregs2)
KVM_GET_XSAVE2 = _IOR(KVMIO, 0xCF, kvm_xsave)
