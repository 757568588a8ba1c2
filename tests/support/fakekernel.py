"""A recording fake of the Linux kernel at the ioctl boundary, for testing the SEV/SNP/TDX KVM drivers
on hosts without the hardware.

It is installed with :func:`pvmkit.kvm.set_os_boundary`, so the real ``pvmkit.kvm`` code (``Kvm``,
``Vm``, ``Vcpu``, ``memory_encrypt_op``'s firmware-status mapping) runs unchanged on top of it. It
implements ``open``/``close``/``ioctl`` and the ``mmap`` of ``kvm_run`` for the fds the drivers use:
``/dev/kvm``, ``/dev/sev``, VM, vCPU and guest_memfd fds.

Independence from pvmkit's own constants: every ioctl number is looked up in
``src/pvmkit/uapi/layouts.json`` (the table gcc computed from the pinned kernel headers), and every
structure is decoded with that table's offsets and sizes; ``pvmkit.uapi`` is never imported here. A
request number the table does not know is answered with ENOTTY and recorded in :attr:`violations`.

What it records: one :class:`Call` per ioctl (fd kind, ioctl name, number, argument bytes before and
after, and for ``KVM_MEMORY_ENCRYPT_OP`` the sub-command name and the bytes of its data structure
before and after).

Kernel rules it enforces: exactly those of ``tests/support/kernel_rules.json`` (docs/kvm.md "The
kernel's rules"), the checks Linux 7.2 makes on the launch ioctls, each cited to its file, function and
code, in the kernel's order. Every refusal goes through :meth:`FakeKernel.refuse` with a rule id, which
takes the errno (and firmware status) from the table and records the id in :attr:`fired` and the
reason in :attr:`refusals`; ``tests/unit/test_kernel_rules.py`` keeps the table and this file equal and
checks the citations against the fetched source. An ioctl or sub-command outside the model answers
ENOTTY and is listed in :attr:`unmodelled`.

Fault injection (:meth:`FakeKernel.inject`): any ioctl or sub-command can be made to fail with an errno
and a firmware status (``kvm_sev_cmd.error`` / ``kvm_tdx_cmd.hw_error``), a number of times, after
letting some calls through, only when a predicate on the decoded data structure holds, and (for
SNP_LAUNCH_UPDATE and INIT_MEM_REGION) after completing some pages, as the kernel does on -EAGAIN /
-EINTR.

Firmware models, enough to check that the driver passed the right bytes: a SEV launch digest
(SHA-256 over the LAUNCH_UPDATE_DATA bytes) with a LAUNCH_MEASURE blob keyed by :attr:`tik`, the
SNP PAGE_INFO chain over the SNP_LAUNCH_UPDATE pages (VMSAs are not modelled: KVM builds them from
register state), and MRTD over the INIT_MEM_REGION pages in upstream KVM's interleaved order; on the
``/dev/sev`` fd, ``SEV_ISSUE_CMD(SEV_PLATFORM_STATUS)`` answers :attr:`FakeKernel.api`. ``exists``
(the probe's ``/dev/sev`` check) sees ``/dev/kvm`` and, unless ``has_sev_device=False``, ``/dev/sev``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import hashlib
import hmac
import json
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvmkit.kvm import OsBoundary, set_os_boundary

TABLE_PATH = Path(__file__).resolve().parents[2] / "src" / "pvmkit" / "uapi" / "layouts.json"
_TABLE = json.loads(TABLE_PATH.read_text())
CONST: dict[str, int] = {k: v["value"] for k, v in _TABLE["constants"].items()}
IOCTL_NAMES: dict[int, str] = {v["value"]: k for k, v in _TABLE["constants"].items() if v["ioctl"]}
STRUCTS: dict[str, Any] = _TABLE["structs"]

PAGE = 4096
FD_BASE = 1 << 20  # fake fds never collide with real ones (a stray os.close on them fails with EBADF)
VCPU_MMAP_SIZE = 3 * PAGE
_SEV_CMDS = (
    "KVM_SEV_INIT", "KVM_SEV_ES_INIT", "KVM_SEV_LAUNCH_START", "KVM_SEV_LAUNCH_UPDATE_DATA",
    "KVM_SEV_LAUNCH_UPDATE_VMSA", "KVM_SEV_LAUNCH_SECRET", "KVM_SEV_LAUNCH_MEASURE", "KVM_SEV_LAUNCH_FINISH",
    "KVM_SEV_SEND_START", "KVM_SEV_SEND_UPDATE_DATA", "KVM_SEV_SEND_UPDATE_VMSA", "KVM_SEV_SEND_FINISH",
    "KVM_SEV_RECEIVE_START", "KVM_SEV_RECEIVE_UPDATE_DATA", "KVM_SEV_RECEIVE_UPDATE_VMSA",
    "KVM_SEV_RECEIVE_FINISH", "KVM_SEV_GUEST_STATUS", "KVM_SEV_DBG_DECRYPT", "KVM_SEV_DBG_ENCRYPT",
    "KVM_SEV_CERT_EXPORT", "KVM_SEV_GET_ATTESTATION_REPORT", "KVM_SEV_SEND_CANCEL", "KVM_SEV_INIT2",
    "KVM_SEV_SNP_LAUNCH_START", "KVM_SEV_SNP_LAUNCH_UPDATE", "KVM_SEV_SNP_LAUNCH_FINISH",
    "KVM_SEV_SNP_ENABLE_REQ_CERTS",
)  # fmt: skip
_TDX_CMDS = (
    "KVM_TDX_CAPABILITIES", "KVM_TDX_INIT_VM", "KVM_TDX_INIT_VCPU", "KVM_TDX_INIT_MEM_REGION",
    "KVM_TDX_FINALIZE_VM", "KVM_TDX_GET_CPUID",
)  # fmt: skip
#: sub-command id → name (``enum sev_cmd_id`` / ``enum kvm_tdx_cmd_id`` values from the table)
SUB_NAMES = {"sev": {CONST[k]: k for k in _SEV_CMDS}, "tdx": {CONST[k]: k for k in _TDX_CMDS}}

# Which structure each ioctl takes (for the size check against the table and for decoding).
IOCTL_STRUCTS = {
    "KVM_SET_USER_MEMORY_REGION": "kvm_userspace_memory_region",
    "KVM_SET_USER_MEMORY_REGION2": "kvm_userspace_memory_region2",
    "KVM_CREATE_GUEST_MEMFD": "kvm_create_guest_memfd",
    "KVM_SET_MEMORY_ATTRIBUTES": "kvm_memory_attributes",
    "KVM_ENABLE_CAP": "kvm_enable_cap",
    "KVM_HAS_DEVICE_ATTR": "kvm_device_attr",
    "KVM_GET_DEVICE_ATTR": "kvm_device_attr",
    "KVM_MEMORY_ENCRYPT_REG_REGION": "kvm_enc_region",
    "KVM_MEMORY_ENCRYPT_UNREG_REGION": "kvm_enc_region",
    "KVM_GET_REGS": "kvm_regs",
    "KVM_SET_REGS": "kvm_regs",
    "KVM_GET_SREGS": "kvm_sregs",
    "KVM_SET_SREGS": "kvm_sregs",
    "KVM_GET_SREGS2": "kvm_sregs2",
    "KVM_SET_SREGS2": "kvm_sregs2",
    "KVM_GET_FPU": "kvm_fpu",
    "KVM_SET_FPU": "kvm_fpu",
    "KVM_GET_XSAVE": "kvm_xsave",
    "KVM_SET_XSAVE": "kvm_xsave",
    "KVM_GET_XCRS": "kvm_xcrs",
    "KVM_SET_XCRS": "kvm_xcrs",
    "KVM_GET_DEBUGREGS": "kvm_debugregs",
    "KVM_SET_DEBUGREGS": "kvm_debugregs",
    "KVM_SET_CPUID2": "kvm_cpuid2",
    "KVM_GET_CPUID2": "kvm_cpuid2",
    "KVM_GET_SUPPORTED_CPUID": "kvm_cpuid2",
    "SEV_ISSUE_CMD": "sev_issue_cmd",
}
PROTECTED_STATE_IOCTLS = {
    "KVM_GET_REGS", "KVM_SET_REGS", "KVM_GET_SREGS", "KVM_SET_SREGS", "KVM_GET_SREGS2", "KVM_SET_SREGS2",
    "KVM_GET_FPU", "KVM_SET_FPU", "KVM_GET_XSAVE", "KVM_SET_XSAVE", "KVM_GET_XCRS", "KVM_SET_XCRS",
    "KVM_GET_DEBUGREGS", "KVM_SET_DEBUGREGS",
}  # fmt: skip
SEV_CMD_DATA = {
    "KVM_SEV_INIT2": "kvm_sev_init",
    "KVM_SEV_LAUNCH_START": "kvm_sev_launch_start",
    "KVM_SEV_LAUNCH_UPDATE_DATA": "kvm_sev_launch_update_data",
    "KVM_SEV_LAUNCH_MEASURE": "kvm_sev_launch_measure",
    "KVM_SEV_LAUNCH_SECRET": "kvm_sev_launch_secret",
    "KVM_SEV_SNP_LAUNCH_START": "kvm_sev_snp_launch_start",
    "KVM_SEV_SNP_LAUNCH_UPDATE": "kvm_sev_snp_launch_update",
    "KVM_SEV_SNP_LAUNCH_FINISH": "kvm_sev_snp_launch_finish",
}
TDX_CMD_DATA = {
    "KVM_TDX_INIT_VM": "kvm_tdx_init_vm",
    "KVM_TDX_CAPABILITIES": "kvm_tdx_capabilities",
    "KVM_TDX_INIT_MEM_REGION": "kvm_tdx_init_mem_region",
    "KVM_TDX_GET_CPUID": "kvm_cpuid2",
}
SNP_PAGE_TYPES = {
    CONST[f"KVM_SEV_SNP_PAGE_TYPE_{t}"] for t in ("NORMAL", "ZERO", "UNMEASURED", "SECRETS", "CPUID")
}
X2APIC = 1 << 21  # CPUID.1:ECX
CONFIDENTIAL_FPU_IOCTLS = {"KVM_GET_FPU", "KVM_SET_FPU", "KVM_GET_XSAVE", "KVM_SET_XSAVE"}
_LEGACY_LAUNCH = (
    "KVM_SEV_LAUNCH_START", "KVM_SEV_LAUNCH_UPDATE_DATA", "KVM_SEV_LAUNCH_UPDATE_VMSA",
    "KVM_SEV_LAUNCH_MEASURE", "KVM_SEV_LAUNCH_SECRET", "KVM_SEV_LAUNCH_FINISH",
)  # fmt: skip
_SEV_TYPES = {
    CONST["KVM_X86_SEV_VM"]: "sev",
    CONST["KVM_X86_SEV_ES_VM"]: "sev-es",
    CONST["KVM_X86_SNP_VM"]: "snp",
}

# -- the kernel's rules (tests/support/kernel_rules.json; docs/kvm.md "The kernel's rules") -------------
RULES_PATH = Path(__file__).resolve().parent / "kernel_rules.json"
_RULE_TABLE = json.loads(RULES_PATH.read_text())
RULES: dict[str, dict[str, Any]] = {r["id"]: r for r in _RULE_TABLE["rules"]}
ERRNO: dict[str, int] = {k: getattr(E, r["errno"]) for k, r in RULES.items() if r["errno"] is not None}
#: kernel constants the rules use, with their values from the table (each cited to its header)
KCONST: dict[str, int] = {k: v["value"] for k, v in _RULE_TABLE["constants"].items()}
SVM_SEV_FEAT_SNP_ACTIVE = KCONST["SVM_SEV_FEAT_SNP_ACTIVE"]
SVM_SEV_FEAT_SECURE_TSC = KCONST["SVM_SEV_FEAT_SECURE_TSC"]
GHCB_VERSION_MAX = KCONST["GHCB_VERSION_MAX"]
SEV_FW_BLOB_MAX_SIZE = KCONST["SEV_FW_BLOB_MAX_SIZE"]
KVM_MAX_IRQ_ROUTES = KCONST["KVM_MAX_IRQ_ROUTES"]
KVM_MAX_CPUID_ENTRIES = KCONST["KVM_MAX_CPUID_ENTRIES"]
TDX_TD_ATTR_DEBUG = KCONST["TDX_TD_ATTR_DEBUG"]
TDX_FEATURE_TSX = KCONST["TDX_FEATURE_TSX"]
WAITPKG = KCONST["X86_FEATURE_WAITPKG"]


# -- structure access through the header-derived table ----------------------------------------------
def sizeof(struct: str) -> int:
    return int(STRUCTS[struct]["size"])


def _field(struct: str, name: str) -> tuple[int, int]:
    f = STRUCTS[struct]["fields"][name]
    return int(f["offset"]), int(f["size"])


def get(struct: str, buf: bytes | bytearray, name: str) -> int:
    off, size = _field(struct, name)
    return int.from_bytes(buf[off : off + size], "little")


def get_bytes(struct: str, buf: bytes | bytearray, name: str) -> bytes:
    off, size = _field(struct, name)
    return bytes(buf[off : off + size])


def put(struct: str, buf: bytearray, name: str, value: int | bytes) -> None:
    off, size = _field(struct, name)
    data = value if isinstance(value, bytes) else int(value).to_bytes(size, "little")
    assert len(data) == size, (struct, name)
    buf[off : off + size] = data


def decode(struct: str, buf: bytes | bytearray) -> dict[str, int | bytes]:
    """Every top-level field: integers for ≤ 8 bytes, bytes otherwise."""
    out: dict[str, int | bytes] = {}
    for name, f in STRUCTS[struct]["fields"].items():
        if "." in name:
            continue
        out[name] = get(struct, buf, name) if f["size"] <= 8 else get_bytes(struct, buf, name)
    return out


def read(addr: int, n: int) -> bytes:
    return ctypes.string_at(addr, n) if n else b""


def write(addr: int, data: bytes) -> None:
    ctypes.memmove(addr, data, len(data))


def flexible(struct: str) -> tuple[int, int]:
    """(offset, element size) of a structure's flexible CPUID array."""
    f = STRUCTS[struct]["flexible"]["cpuid.entries"]
    return int(f["offset"]), int(f["elem_size"])


# -- records ----------------------------------------------------------------------------------------
@dataclass
class Call:
    """One ioctl as the fake kernel saw it."""

    kind: str  #: "kvm", "sev", "vm", "vcpu", "gmem"
    fd: int
    name: str  #: the ioctl's kernel name (from the table)
    number: int
    arg: int | None  #: the raw argument (address or value)
    data_in: bytes = b""  #: the argument structure before the call
    data_out: bytes = b""  #: ... and after
    sub: str | None = None  #: KVM_MEMORY_ENCRYPT_OP sub-command name
    sub_in: bytes = b""  #: the sub-command's data structure before the call
    sub_out: bytes = b""
    vcpu_id: int | None = None
    rc: int = 0
    errno: int = 0

    @property
    def label(self) -> str:
        return self.sub or self.name

    def decoded(self, struct: str | None = None, *, out: bool = False) -> dict[str, int | bytes]:
        """The sub-command's data structure (or ``struct``'s view of the argument), decoded."""
        if struct is None:
            struct = (
                SEV_CMD_DATA.get(self.sub or "")
                or TDX_CMD_DATA.get(self.sub or "")
                or IOCTL_STRUCTS[self.name]
            )
            buf = (
                (self.sub_out if out else self.sub_in)
                if self.sub
                else (self.data_out if out else self.data_in)
            )
        else:
            buf = self.data_out if out else self.data_in
        return decode(struct, buf)


@dataclass
class Fault:
    label: str
    errno: int
    fw_error: int = 0
    times: int = 1
    skip: int = 0
    when: Callable[[dict[str, int | bytes]], bool] | None = None
    progress: int = 0  #: pages to complete before failing (SNP_LAUNCH_UPDATE, INIT_MEM_REGION)
    fired: int = 0


class KernelError(Exception):
    def __init__(self, errno: int, reason: str = "", fw_error: int = 0) -> None:
        self.errno = errno
        self.reason = reason
        self.fw_error = fw_error
        super().__init__(reason)


# -- objects ----------------------------------------------------------------------------------------
@dataclass
class Slot:
    slot: int
    gpa: int
    size: int
    uaddr: int
    flags: int
    gmem: int | None
    gmem_offset: int

    def contains(self, gpa: int, n: int) -> bool:
        return self.gpa <= gpa and gpa + n <= self.gpa + self.size


@dataclass
class Gmem:
    """A guest_memfd: its VM, size and the (start, end) page ranges bound to memslots."""

    vm: VmState
    size: int
    bindings: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class VcpuState:
    fd: int
    vm: VmState
    id: int
    run: mmap.mmap
    regs: dict[str, bytes] = field(default_factory=dict)
    cpuid: list[dict[str, int]] = field(default_factory=list)
    tdx_initialized: bool = False
    rcx: int | None = None
    sealed: bool = False  #: SEV-ES/SNP: the VMSA is encrypted (guest_state_protected, FPU confidential)
    tsc_khz: int = 0

    @property
    def protected(self) -> bool:
        """``guest_state_protected`` on a VM type with protected state (rule vcpu.protected-state)."""
        if self.vm.type == CONST["KVM_X86_TDX_VM"]:
            return not (self.vm.tdx_init or {}).get("attributes", 0) & TDX_TD_ATTR_DEBUG
        return self.sealed and self.vm.has_protected_state

    @property
    def fpu_confidential(self) -> bool:
        """``fpstate_is_confidential``: TDX from creation, SEV-ES/SNP once the VMSA is encrypted."""
        return self.vm.type == CONST["KVM_X86_TDX_VM"] or self.sealed


@dataclass
class VmState:
    fd: int
    type: int
    vcpus: list[VcpuState] = field(default_factory=list)
    slots: dict[int, Slot] = field(default_factory=dict)
    private: set[int] = field(default_factory=set)  # gfns
    enc_regions: list[tuple[int, int]] = field(default_factory=list)
    caps: dict[int, tuple[int, ...]] = field(default_factory=dict)
    irqchip: str | None = None  # "kernel" (KVM_CREATE_IRQCHIP) or "split"
    apic_bus_cycle_ns: int = 1  # APIC_BUS_CYCLE_NS_DEFAULT
    default_tsc_khz: int = 0  # the host's at creation; KVM_SET_TSC_KHZ on the VM fd
    desired_tsc_khz: int = 0  # what SNP_LAUNCH_START gave the firmware (SecureTSC)
    created_vcpus: int = 0
    # SEV
    sev: str | None = None  # "sev", "sev-es", "snp" once initialised
    init_path: str | None = None
    vmsa_features: int = 0
    ghcb_version: int = 0
    handle: int = 0
    policy: int = 0
    #: the firmware's guest state: new → started (LUPDATE) → measured (LSECRET) → finished (RUNNING)
    #: for SEV/SEV-ES; new → started (GSTATE_LAUNCH) → finished (GSTATE_RUNNING) for SNP
    state: str = "new"
    snp_context: bool = False
    ld: Any = field(default_factory=hashlib.sha256)
    snp_ld: bytes = bytes(48)
    populated: set[int] = field(default_factory=set)
    finish: dict[str, Any] = field(default_factory=dict)
    measure_blob: bytes = b""
    secrets: list[tuple[bytes, bytes, int]] = field(default_factory=list)  # LAUNCH_SECRET (hdr, data, uaddr)
    # TDX
    tdx_init: dict[str, Any] | None = None
    tdx_finalized: bool = False
    mrtd: Any = field(default_factory=hashlib.sha384)

    @property
    def split_irqchip(self) -> bool:
        return self.irqchip == "split"

    @property
    def has_protected_state(self) -> bool:
        return self.type in (CONST["KVM_X86_SEV_ES_VM"], CONST["KVM_X86_SNP_VM"], CONST["KVM_X86_TDX_VM"])

    @property
    def has_private_mem(self) -> bool:
        return self.type in (
            CONST["KVM_X86_SNP_VM"],
            CONST["KVM_X86_TDX_VM"],
            CONST["KVM_X86_SW_PROTECTED_VM"],
        )

    @property
    def tdx_shared_bit(self) -> int:
        """GPA bit that marks shared memory: 47 for GPAW 48, 51 for GPAW 52 (rule tdx.mem.range)."""
        return 51 if (self.tdx_init or {}).get("gpaw") == 52 else 47


class FakeKernel(OsBoundary):
    """The fake kernel (module docstring). Attributes set the host it pretends to be."""

    def __init__(
        self,
        *,
        vm_types: int = 0b111101,  # default, SEV, SEV-ES, SNP, TDX
        vmsa_features: int | None = 0x20,  # KVM_X86_SEV_VMSA_FEATURES (None: ENXIO, pre-6.10)
        snp_policy_bits: int | None = 0x1BFFFF,  # KVM_X86_SNP_POLICY_BITS (7:0,15:8,16,17,19,20)
        has_sev_device: bool = True,
        tdx_supported_attrs: int = 1 << 28,  # SEPT_VE_DISABLE (tdx.md §2.6)
        tdx_supported_xfam: int = 0x000602FF,
        tdx_cpuid: list[dict[str, int]] | None = None,
        supported_cpuid: list[dict[str, int]] | None = None,
        tdx_ept_5level: bool = True,
        tsc_khz: int = 2_400_000,  #: the host's TSC frequency (a new VM's default_tsc_khz)
        max_guest_tsc_khz: int | None = 0xFFFFFFFF,  #: with TSC scaling (None: no scaling)
    ) -> None:
        self.tsc_khz = tsc_khz
        self.max_guest_tsc_khz = max_guest_tsc_khz
        self.vm_types = vm_types
        self.vmsa_features = vmsa_features
        self.snp_policy_bits = snp_policy_bits
        self.has_sev_device = has_sev_device
        self.tdx_supported_attrs = tdx_supported_attrs
        self.tdx_supported_xfam = tdx_supported_xfam
        self.tdx_cpuid = tdx_cpuid if tdx_cpuid is not None else default_tdx_cpuid()
        self.supported_cpuid = supported_cpuid if supported_cpuid is not None else default_supported_cpuid()
        self.tdx_ept_5level = tdx_ept_5level
        self.snp_pages_per_call: int | None = None  #: partial SNP_LAUNCH_UPDATE completion
        self.tik = bytes(range(16))  #: the SEV transport integrity key of the fake firmware
        self.mnonce = bytes(range(0x10, 0x20))
        self.api = (1, 55, 21)  #: API major, minor, build
        self.calls: list[Call] = []
        #: (label, errno, reason) of every rule refusal; the reason starts with the rule's id
        self.refusals: list[tuple[str, int, str]] = []
        self.fired: list[str] = []  #: ids of the kernel rules that refused a call, in order
        self.violations: list[str] = []  #: numbers or structures the header table does not know
        self.unmodelled: list[str] = []  #: ioctls and sub-commands outside the model (answered ENOTTY)
        self.faults: list[Fault] = []
        self._next = FD_BASE
        self.fds: dict[int, Any] = {}
        self.kinds: dict[int, str] = {}
        self.vms: list[VmState] = []

    # -- scripting --------------------------------------------------------------------------------
    def inject(
        self,
        label: str,
        errno: int,
        *,
        fw_error: int = 0,
        times: int = 1,
        skip: int = 0,
        when: Callable[[dict[str, int | bytes]], bool] | None = None,
        progress: int = 0,
    ) -> Fault:
        """Make the next matching ``label`` (ioctl or sub-command name) fail with ``-errno`` and the
        firmware status ``fw_error``, ``times`` times, after ``skip`` matching calls went through."""
        fault = Fault(label, errno, fw_error, times, skip, when, progress)
        self.faults.append(fault)
        return fault

    # -- the rule table ---------------------------------------------------------------------------
    def refuse(self, rule_id: str, detail: str = "", *, fw: int | None = None) -> KernelError:
        """The refusal of table rule ``rule_id``: its errno and firmware status (``fw`` overrides the
        table's for a status the firmware reports, e.g. the one behind SNP's EIO)."""
        rule = RULES[rule_id]
        self.fired.append(rule_id)
        status = fw if fw is not None else CONST[rule["fw"]] if "fw" in rule else 0
        reason = f"{rule_id}: {rule['check']}" + (f" ({detail})" if detail else "")
        return KernelError(ERRNO[rule_id], reason, status)

    @staticmethod
    def applies(rule_id: str) -> str:
        """Marks where a rule without an errno (a limit on progress) is modelled."""
        assert RULES[rule_id]["errno"] is None, rule_id
        return rule_id

    def outside(self, what: str) -> KernelError:
        """An ioctl or sub-command the model does not cover: ENOTTY, listed in :attr:`unmodelled`."""
        self.unmodelled.append(what)
        return KernelError(E.ENOTTY, f"outside the model: {what}")

    # -- views ------------------------------------------------------------------------------------
    def labels(self, kinds: tuple[str, ...] = ("kvm", "sev", "vm", "vcpu", "gmem")) -> list[str]:
        return [c.label for c in self.calls if c.kind in kinds]

    def named(self, label: str) -> list[Call]:
        return [c for c in self.calls if c.label == label]

    def open_fds(self) -> dict[int, str]:
        return dict(self.kinds)

    # -- OsBoundary -------------------------------------------------------------------------------
    def _new_fd(self, kind: str, obj: Any) -> int:
        fd = self._next
        self._next += 1
        self.fds[fd] = obj
        self.kinds[fd] = kind
        return fd

    def open(self, path: str, flags: int) -> int:
        if path == "/dev/kvm":
            return self._new_fd("kvm", None)
        if path == "/dev/sev" and self.has_sev_device:
            return self._new_fd("sev", None)
        raise FileNotFoundError(E.ENOENT, "No such file or directory", path)

    def exists(self, path: str) -> bool:
        return path == "/dev/kvm" or (path == "/dev/sev" and self.has_sev_device)

    def close(self, fd: int) -> None:
        if fd not in self.fds:
            raise OSError(E.EBADF, "Bad file descriptor")
        obj = self.fds.pop(fd)
        self.kinds.pop(fd)
        if isinstance(obj, VcpuState):
            obj.vm.vcpus.remove(obj) if obj in obj.vm.vcpus else None

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        obj = self.fds.get(fd)
        if not isinstance(obj, VcpuState) or size != VCPU_MMAP_SIZE:
            raise OSError(E.EINVAL, "mmap: not a vCPU fd or wrong size")
        return obj.run

    def ioctl(self, fd: int, request: int, arg: int | None) -> tuple[int, int]:
        kind = self.kinds.get(fd)
        name = IOCTL_NAMES.get(request)
        call = Call(kind or "?", fd, name or f"unknown({request:#x})", request, arg)
        self.calls.append(call)
        if kind is None:
            call.rc, call.errno = -1, E.EBADF
            return -1, E.EBADF
        if name is None:
            self.violations.append(f"ioctl number {request:#x} is not in layouts.json")
            call.rc, call.errno = -1, E.ENOTTY
            return -1, E.ENOTTY
        size = self._arg_size(name, request, arg)
        if size and arg:
            call.data_in = read(arg, size)
        obj = self.fds[fd]
        if isinstance(obj, VcpuState):
            call.vcpu_id = obj.id
        try:
            rc = self._dispatch(call, kind, obj, name, arg)
        except KernelError as exc:
            rc = -1
            call.errno = exc.errno
            if exc.reason:
                self.refusals.append((call.label, exc.errno, exc.reason))
        if size and arg:
            call.data_out = read(arg, size)
        call.rc = rc if rc >= 0 else -1
        return (call.rc, call.errno)

    def _arg_size(self, name: str, request: int, arg: int | None) -> int:
        ioc_dir, ioc_size = request >> 30, (request >> 16) & 0x3FFF
        if ioc_dir == 0:
            return 0
        struct = IOCTL_STRUCTS.get(name)
        if struct is not None and sizeof(struct) != ioc_size:
            self.violations.append(f"{name}: _IOC_SIZE {ioc_size} != sizeof({struct}) {sizeof(struct)}")
        if struct == "kvm_cpuid2" and arg:
            nent = int.from_bytes(read(arg, 4), "little")
            return sizeof("kvm_cpuid2") + nent * sizeof("kvm_cpuid_entry2")
        if name == "KVM_MEMORY_ENCRYPT_OP":
            return sizeof("kvm_sev_cmd")  # == sizeof(kvm_tdx_cmd) == 24; the number says 8 (unsigned long)
        return ioc_size

    def _fault(self, label: str, data: dict[str, int | bytes]) -> Fault | None:
        for f in self.faults:
            if f.label != label or f.fired >= f.times or (f.when is not None and not f.when(data)):
                continue
            if f.skip:
                f.skip -= 1
                continue
            f.fired += 1
            return f
        return None

    # -- dispatch ---------------------------------------------------------------------------------
    def _dispatch(self, call: Call, kind: str, obj: Any, name: str, arg: int | None) -> int:
        if name != "KVM_MEMORY_ENCRYPT_OP":
            fault = self._fault(name, {})
            if fault is not None:
                raise KernelError(fault.errno)
        if kind == "kvm":
            return self._system(name, arg)
        if kind == "vm":
            return self._vm(call, obj, name, arg)
        if kind == "vcpu":
            return self._vcpu(call, obj, name, arg)
        if kind == "sev" and name == "SEV_ISSUE_CMD":
            return self._sev_issue(call, arg)
        raise self.outside(f"{name} on a {kind} fd")

    def _check_extension(self, cap: int, vm: VmState | None) -> int:
        c = CONST
        if cap == c["KVM_CAP_VM_TYPES"]:
            return self.vm_types
        if cap in (c["KVM_CAP_SYS_ATTRIBUTES"], c["KVM_CAP_GUEST_MEMFD"], c["KVM_CAP_USER_MEMORY2"]):
            return 1
        if cap == c["KVM_CAP_SPLIT_IRQCHIP"]:
            return 1
        if cap == c["KVM_CAP_MEMORY_ATTRIBUTES"]:
            return c["KVM_MEMORY_ATTRIBUTE_PRIVATE"] if vm is None or vm.has_private_mem else 0
        if cap == c["KVM_CAP_GUEST_MEMFD_FLAGS"]:
            return self._gmem_flags(vm)
        if cap == c["KVM_CAP_X86_APIC_BUS_CYCLES_NS"]:  # the VM's value, APIC_BUS_CYCLE_NS_DEFAULT (1)
            return vm.apic_bus_cycle_ns if vm is not None else 1
        return 0

    @staticmethod
    def _gmem_flags(vm: VmState | None) -> int:
        """``kvm_gmem_get_supported_flags``: MMAP, and INIT_SHARED without private memory."""
        shared = vm is None or not vm.has_private_mem
        return CONST["GUEST_MEMFD_FLAG_MMAP"] | (CONST["GUEST_MEMFD_FLAG_INIT_SHARED"] if shared else 0)

    def _device_attr(self, name: str, arg: int | None) -> int:
        assert arg
        buf = read(arg, sizeof("kvm_device_attr"))
        group, attr = get("kvm_device_attr", buf, "group"), get("kvm_device_attr", buf, "attr")
        value: int | None = None
        if group == CONST["KVM_X86_GRP_SEV"] and attr == CONST["KVM_X86_SEV_VMSA_FEATURES"]:
            value = self.vmsa_features
        elif group == CONST["KVM_X86_GRP_SEV"] and attr == CONST["KVM_X86_SNP_POLICY_BITS"]:
            value = self.snp_policy_bits
        if value is None:
            raise self.refuse("sys.device-attr", f"group {group}, attribute {attr}")
        if name == "KVM_GET_DEVICE_ATTR":
            write(get("kvm_device_attr", buf, "addr"), value.to_bytes(8, "little"))
        return 0

    def _system(self, name: str, arg: int | None) -> int:
        if name == "KVM_GET_API_VERSION":
            return 12
        if name == "KVM_CHECK_EXTENSION":
            return self._check_extension(arg or 0, None)
        if name == "KVM_GET_VCPU_MMAP_SIZE":
            return VCPU_MMAP_SIZE
        if name == "KVM_CREATE_VM":
            vm_type = arg or 0
            if not self.vm_types >> vm_type & 1:
                raise self.refuse("vm.type-supported", f"type {vm_type}")
            vm = VmState(fd=-1, type=vm_type, default_tsc_khz=self.tsc_khz)
            vm.fd = self._new_fd("vm", vm)
            self.vms.append(vm)
            return vm.fd
        if name in ("KVM_HAS_DEVICE_ATTR", "KVM_GET_DEVICE_ATTR"):
            return self._device_attr(name, arg)
        if name == "KVM_GET_SUPPORTED_CPUID":
            assert arg
            nent = int.from_bytes(read(arg, 4), "little")
            if nent < len(self.supported_cpuid):
                raise self.refuse("sys.supported-cpuid-nent", f"{nent} < {len(self.supported_cpuid)}")
            _write_cpuid(arg, self.supported_cpuid)
            return 0
        raise self.outside(f"{name} on /dev/kvm")

    # -- VM fd ------------------------------------------------------------------------------------
    def _vm(self, call: Call, vm: VmState, name: str, arg: int | None) -> int:
        c = CONST
        if name == "KVM_CHECK_EXTENSION":
            return self._check_extension(arg or 0, vm)
        if name == "KVM_ENABLE_CAP":
            return self._enable_cap(vm, arg)
        if name == "KVM_CREATE_IRQCHIP":
            if vm.irqchip is not None:
                raise self.refuse("irqchip.create-exists")
            if vm.type == c["KVM_X86_TDX_VM"]:
                raise self.refuse("irqchip.protected-eoi")
            if vm.created_vcpus:
                raise self.refuse("irqchip.create-vcpus")
            vm.irqchip = "kernel"
            return 0
        if name in ("KVM_SET_USER_MEMORY_REGION", "KVM_SET_USER_MEMORY_REGION2"):
            return self._set_memory_region(vm, name, arg)
        if name == "KVM_CREATE_GUEST_MEMFD":
            assert arg
            buf = read(arg, sizeof("kvm_create_guest_memfd"))
            size = get("kvm_create_guest_memfd", buf, "size")
            flags = get("kvm_create_guest_memfd", buf, "flags")
            if flags & ~self._gmem_flags(vm):
                raise self.refuse("gmem.create-flags", f"{flags:#x}")
            if size == 0 or size >= 1 << 63 or size % PAGE:
                raise self.refuse("gmem.create-size", f"{size:#x}")
            return self._new_fd("gmem", Gmem(vm, size))
        if name == "KVM_SET_MEMORY_ATTRIBUTES":
            return self._set_memory_attributes(vm, arg)
        if name in ("KVM_MEMORY_ENCRYPT_REG_REGION", "KVM_MEMORY_ENCRYPT_UNREG_REGION"):
            assert arg
            buf = read(arg, sizeof("kvm_enc_region"))
            if vm.sev is None:
                raise self.refuse("sev.region.sev-guest")
            region = (get("kvm_enc_region", buf, "addr"), get("kvm_enc_region", buf, "size"))
            if name.endswith("_REG_REGION"):
                vm.enc_regions.append(region)
            return 0
        if name == "KVM_CREATE_VCPU":
            return self._create_vcpu(vm, arg or 0)
        if name == "KVM_SET_TSC_KHZ":
            khz = (arg or 0) & 0xFFFFFFFF
            if self.max_guest_tsc_khz is not None and khz >= self.max_guest_tsc_khz:
                raise self.refuse("vm-tsc.max", f"{khz}")
            if vm.created_vcpus:
                raise self.refuse("vm-tsc.vcpus")
            vm.default_tsc_khz = khz or self.tsc_khz
            return 0
        if name == "KVM_GET_TSC_KHZ":
            return vm.default_tsc_khz
        if name in ("KVM_HAS_DEVICE_ATTR", "KVM_GET_DEVICE_ATTR"):
            raise self.refuse("sys.device-attr", "no VM-scoped attributes in the model")
        if name == "KVM_MEMORY_ENCRYPT_OP":
            if vm.type == c["KVM_X86_TDX_VM"]:
                return self._tdx_op(call, vm, None, arg)
            return self._sev_op(call, vm, arg)
        raise self.outside(f"{name} on a VM fd")

    def _enable_cap(self, vm: VmState, arg: int | None) -> int:
        assert arg
        buf = read(arg, sizeof("kvm_enable_cap"))
        cap = get("kvm_enable_cap", buf, "cap")
        args = [int.from_bytes(buf[8 + 8 * i : 16 + 8 * i], "little") for i in range(4)]
        if cap == CONST["KVM_CAP_SPLIT_IRQCHIP"]:
            if args[0] > KVM_MAX_IRQ_ROUTES:
                raise self.refuse("irqchip.split-routes", f"{args[0]} pins")
            if vm.irqchip is not None:
                raise self.refuse("irqchip.split-in-kernel")
            if vm.created_vcpus:
                raise self.refuse("irqchip.split-vcpus")
            vm.irqchip = "split"
        if cap == CONST["KVM_CAP_X86_APIC_BUS_CYCLES_NS"]:
            if not args[0] or args[0] * 0xFFFFFFFF * 128 >= 1 << 64:
                raise self.refuse("apic-bus.range", f"{args[0]}")
            if vm.irqchip is None:
                raise self.refuse("apic-bus.irqchip")
            if vm.created_vcpus:
                raise self.refuse("apic-bus.vcpus")
            vm.apic_bus_cycle_ns = args[0]
        vm.caps[cap] = tuple(args)
        return 0

    def _set_memory_region(self, vm: VmState, name: str, arg: int | None) -> int:
        c = CONST
        assert arg
        s = IOCTL_STRUCTS[name]
        buf = read(arg, sizeof(s))
        flags, size = get(s, buf, "flags"), get(s, buf, "memory_size")
        gpa, uaddr, slot_id = (
            get(s, buf, "guest_phys_addr"),
            get(s, buf, "userspace_addr"),
            get(s, buf, "slot"),
        )
        v2 = name.endswith("2")
        gmem_fd = get(s, buf, "guest_memfd") if v2 else None
        offset = get(s, buf, "guest_memfd_offset") if v2 else 0
        with_gmem = bool(flags & c["KVM_MEM_GUEST_MEMFD"])
        if not v2 and flags & ~(c["KVM_MEM_LOG_DIRTY_PAGES"] | c["KVM_MEM_READONLY"]):
            raise self.refuse("mem.region-v1-flags", f"{flags:#x}")
        valid = c["KVM_MEM_GUEST_MEMFD"] | (0 if with_gmem else c["KVM_MEM_LOG_DIRTY_PAGES"])
        if not vm.has_protected_state and not with_gmem:
            valid |= c["KVM_MEM_READONLY"]
        if flags & ~valid:
            raise self.refuse("mem.region-flags", f"{flags:#x}")
        if size % PAGE or gpa % PAGE or uaddr % PAGE:
            raise self.refuse("mem.region-align")
        if with_gmem and (offset % PAGE or offset + size >= 1 << 64):
            raise self.refuse("mem.region-gmem-offset")
        old = vm.slots.get(slot_id)
        if size == 0:
            if old is None:
                raise self.refuse("mem.region-delete-missing", f"slot {slot_id}")
            del vm.slots[slot_id]
            if old.gmem is not None and isinstance(self.fds.get(old.gmem), Gmem):
                first = old.gmem_offset // PAGE
                self.fds[old.gmem].bindings.remove((first, first + old.size // PAGE))
            return 0
        if old is not None:
            changed = (old.flags ^ flags) & (c["KVM_MEM_READONLY"] | c["KVM_MEM_GUEST_MEMFD"])
            if with_gmem or uaddr != old.uaddr or size != old.size or changed:
                raise self.refuse("mem.region-gmem-immutable", f"slot {slot_id}")
        if old is None or gpa != old.gpa:
            for other in vm.slots.values():
                if other.slot != slot_id and gpa < other.gpa + other.size and other.gpa < gpa + size:
                    raise self.refuse("mem.region-overlap", f"slot {other.slot}")
        if with_gmem:
            assert gmem_fd is not None
            if gmem_fd not in self.kinds:
                raise self.refuse("gmem.bind-badf", f"fd {gmem_fd}")
            g = self.fds[gmem_fd]
            if not isinstance(g, Gmem) or g.vm is not vm:
                raise self.refuse("gmem.bind-foreign")
            if offset % PAGE or offset + size > g.size:
                raise self.refuse("gmem.bind-range")
            first, end = offset // PAGE, (offset + size) // PAGE
            if any(a < end and first < b for a, b in g.bindings):
                raise self.refuse("gmem.bind-overlap")
            g.bindings.append((first, end))
        vm.slots[slot_id] = Slot(slot_id, gpa, size, uaddr, flags, gmem_fd if with_gmem else None, offset)
        return 0

    def _set_memory_attributes(self, vm: VmState, arg: int | None) -> int:
        assert arg
        d = decode("kvm_memory_attributes", read(arg, sizeof("kvm_memory_attributes")))
        address, size, attributes = int(d["address"]), int(d["size"]), int(d["attributes"])
        if d["flags"]:
            raise self.refuse("attr.flags")
        supported = CONST["KVM_MEMORY_ATTRIBUTE_PRIVATE"] if vm.has_private_mem else 0
        if attributes & ~supported:
            raise self.refuse("attr.supported", f"{attributes:#x} on VM type {vm.type}")
        if size == 0 or address + size >= 1 << 64:
            raise self.refuse("attr.range")
        if address % PAGE or size % PAGE:
            raise self.refuse("attr.align")
        gfns = range(address // PAGE, (address + size) // PAGE)
        if attributes:
            vm.private.update(gfns)
        else:
            vm.private.difference_update(gfns)
        return 0

    def _create_vcpu(self, vm: VmState, vcpu_id: int) -> int:
        if vm.type == CONST["KVM_X86_TDX_VM"]:
            if vm.tdx_init is None or vm.tdx_finalized:
                raise self.refuse("tdx.vcpu-create.initialized")
            if not vm.split_irqchip:
                raise self.refuse("tdx.vcpu-create.split-irqchip")
        if any(v.id == vcpu_id for v in vm.vcpus):
            raise self.refuse("vcpu.create-exists", f"id {vcpu_id}")
        v = VcpuState(-1, vm, vcpu_id, mmap.mmap(-1, VCPU_MMAP_SIZE))
        v.fd = self._new_fd("vcpu", v)
        vm.vcpus.append(v)
        vm.created_vcpus += 1
        return v.fd

    # -- SEV / SNP ---------------------------------------------------------------------------------
    def _sev_op(self, call: Call, vm: VmState, arg: int | None) -> int:
        if not arg:
            return 0  # NULL: "is SEV supported"
        cmd = bytearray(read(arg, sizeof("kvm_sev_cmd")))
        cmd_id = get("kvm_sev_cmd", cmd, "id")
        sub = SUB_NAMES["sev"].get(cmd_id)
        call.sub = sub or f"KVM_SEV(id={cmd_id})"
        data_addr = get("kvm_sev_cmd", cmd, "data")
        struct = SEV_CMD_DATA.get(sub or "")
        if struct and data_addr:
            call.sub_in = read(data_addr, sizeof(struct))
        try:
            rc = self._sev_cmd(vm, sub, cmd_id, cmd, data_addr, struct)
            fw = 0
        except KernelError as exc:
            fw = exc.fw_error
            write(arg + _field("kvm_sev_cmd", "error")[0], fw.to_bytes(4, "little"))
            if struct and data_addr:
                call.sub_out = read(data_addr, sizeof(struct))
            raise
        write(arg + _field("kvm_sev_cmd", "error")[0], fw.to_bytes(4, "little"))
        if struct and data_addr:
            call.sub_out = read(data_addr, sizeof(struct))
        return rc

    def _sev_cmd(
        self, vm: VmState, sub: str | None, cmd_id: int, cmd: bytearray, addr: int, struct: str | None
    ) -> int:
        data = read(addr, sizeof(struct)) if struct and addr else b""
        decoded = decode(struct, data) if struct and addr else {}
        fault = self._fault(sub, decoded) if sub else None
        if fault is not None and not fault.progress:
            raise KernelError(fault.errno, "", fault.fw_error)
        if vm.sev == "snp" and cmd_id < CONST["KVM_SEV_SNP_LAUNCH_START"]:
            raise self.refuse("sev.snp-only-snp-commands", f"id {cmd_id}")
        if sub is None:
            raise self.refuse("sev.unknown-command", f"id {cmd_id}")
        if sub in ("KVM_SEV_INIT", "KVM_SEV_ES_INIT", "KVM_SEV_INIT2"):
            return self._sev_init(vm, sub, decoded)
        if sub in _LEGACY_LAUNCH:
            return self._sev_launch(vm, sub, cmd, addr, data, decoded)
        if sub == "KVM_SEV_SNP_LAUNCH_START":
            return self._snp_start(vm, cmd, decoded)
        if sub == "KVM_SEV_SNP_LAUNCH_UPDATE":
            return self._snp_update(vm, addr, bytearray(data), fault)
        if sub == "KVM_SEV_SNP_LAUNCH_FINISH":
            return self._snp_finish(vm, decoded)
        raise self.outside(sub)

    def _sev_init(self, vm: VmState, sub: str, d: dict[str, int | bytes]) -> int:
        c = CONST
        if sub == "KVM_SEV_INIT2":
            if vm.type not in _SEV_TYPES or vm.sev is not None:
                raise self.refuse("sev.init2.need-init", f"VM type {vm.type}")
            if vm.type not in _SEV_TYPES:
                raise self.refuse("sev.init2.vm-type")  # unreachable: need_init is set for these types only
            kind = _SEV_TYPES[vm.type]
        else:
            if vm.type != c["KVM_X86_DEFAULT_VM"]:
                raise self.refuse("sev.init.default-vm", f"VM type {vm.type}")
            kind = "sev" if sub == "KVM_SEV_INIT" else "sev-es"
            d = {"flags": 0, "vmsa_features": 0, "ghcb_version": 0 if kind == "sev" else 1}
        es, snp = kind != "sev", kind == "snp"
        if vm.created_vcpus:
            raise self.refuse("sev.init.no-vcpus")
        if d["flags"]:
            raise self.refuse("sev.init.flags")
        valid = (self.vmsa_features or 0) if es else 0
        if not snp:
            valid &= ~SVM_SEV_FEAT_SECURE_TSC
        features = int(d["vmsa_features"])
        if features & ~valid:
            raise self.refuse("sev.init.vmsa-features", f"{features:#x} not in {valid:#x}")
        ghcb = int(d["ghcb_version"])
        if ghcb > GHCB_VERSION_MAX or (not es and ghcb):
            raise self.refuse("sev.init.ghcb-version", f"{ghcb}")
        if es and not ghcb:
            ghcb = 2
        if snp and ghcb < 2:
            raise self.refuse("sev.init.snp-ghcb", f"{ghcb}")
        if vm.sev is not None:
            raise self.refuse("sev.init.active")
        vm.sev, vm.init_path = kind, ("init2" if sub == "KVM_SEV_INIT2" else "legacy")
        vm.vmsa_features = features | (SVM_SEV_FEAT_SNP_ACTIVE if snp else 0)
        vm.ghcb_version = ghcb
        return 0

    def _sev_launch(
        self, vm: VmState, sub: str, cmd: bytearray, addr: int, data: bytes, d: dict[str, int | bytes]
    ) -> int:
        if sub == "KVM_SEV_LAUNCH_UPDATE_VMSA":
            return self._sev_update_vmsa(vm)
        if vm.sev is None:
            raise self.refuse("sev.launch.sev-guest")
        if sub == "KVM_SEV_LAUNCH_START":
            return self._sev_launch_start(vm, cmd, addr, data, d)
        if sub == "KVM_SEV_LAUNCH_UPDATE_DATA":
            return self._sev_update_data(vm, d)
        if sub == "KVM_SEV_LAUNCH_MEASURE":
            return self._sev_measure(vm, addr, data, d)
        if sub == "KVM_SEV_LAUNCH_SECRET":
            return self._sev_secret(vm, d)
        assert sub == "KVM_SEV_LAUNCH_FINISH"
        if vm.state != "measured":
            raise self.refuse("sev.fw.lsecret", f"state {vm.state}")
        vm.state = "finished"
        return 0

    def _sev_launch_start(
        self, vm: VmState, cmd: bytearray, addr: int, data: bytes, d: dict[str, int | bytes]
    ) -> int:
        fd = get("kvm_sev_cmd", cmd, "sev_fd")
        if self.kinds.get(fd) != "sev":
            raise self.refuse("sev.launch-start.sev-fd", f"fd {fd}")
        vm.policy = int(d["policy"])
        vm.handle = 0x1234 + len(self.vms)
        vm.state = "started"
        vm.ld = hashlib.sha256()
        buf = bytearray(data)
        put("kvm_sev_launch_start", buf, "handle", vm.handle)
        write(addr, bytes(buf))
        return 0

    def _sev_update_data(self, vm: VmState, d: dict[str, int | bytes]) -> int:
        uaddr, n = int(d["uaddr"]), int(d["len"])
        if n == 0 or uaddr + n >= 1 << 64:
            raise self.refuse("sev.update-data.range")
        if vm.state != "started":
            raise self.refuse("sev.fw.lupdate", f"state {vm.state}")
        vm.ld.update(read(uaddr, n))
        return 0

    def _sev_measure(self, vm: VmState, addr: int, data: bytes, d: dict[str, int | bytes]) -> int:
        n, uaddr = int(d["len"]), int(d["uaddr"])
        if n and uaddr and n > SEV_FW_BLOB_MAX_SIZE:
            raise self.refuse("sev.measure.blob-size", f"{n}")
        if vm.state != "started":
            raise self.refuse("sev.fw.lupdate", f"state {vm.state}")
        buf = bytearray(data)
        put("kvm_sev_launch_measure", buf, "len", 48)
        write(addr, bytes(buf))
        if n < 48:  # len 0 asks for the length: the firmware says INVALID_LEN
            raise self.refuse("sev.fw.measure-len", f"{n}")
        major, minor, build = self.api
        msg = bytes((4, major, minor, build)) + vm.policy.to_bytes(4, "little") + vm.ld.digest()
        vm.measure_blob = hmac.new(self.tik, msg + self.mnonce, hashlib.sha256).digest() + self.mnonce
        write(uaddr, vm.measure_blob)
        vm.state = "measured"
        return 0

    def _sev_secret(self, vm: VmState, d: dict[str, int | bytes]) -> int:
        """LAUNCH_SECRET: the kernel's checks, the firmware's state; the transport bytes are copied into
        guest memory as they are (the packet's MAC and TEK decryption are not modelled)."""
        guest, glen = int(d["guest_uaddr"]), int(d["guest_len"])
        if glen == 0 or guest + glen >= 1 << 64:
            raise self.refuse("sev.secret.guest-range")
        for what in ("trans", "hdr"):
            uaddr, n = int(d[f"{what}_uaddr"]), int(d[f"{what}_len"])
            if not uaddr or not n or n > SEV_FW_BLOB_MAX_SIZE:
                raise self.refuse("sev.secret.blobs", f"{what} {uaddr:#x}+{n}")
        if vm.state != "measured":
            raise self.refuse("sev.fw.lsecret", f"state {vm.state}")
        header = read(int(d["hdr_uaddr"]), int(d["hdr_len"]))
        data = read(int(d["trans_uaddr"]), int(d["trans_len"]))
        write(guest, data[:glen])
        vm.secrets.append((header, data, guest))
        return 0

    def _sev_update_vmsa(self, vm: VmState) -> int:
        if vm.sev != "sev-es":
            raise self.refuse("sev.launch.es-guest")
        for v in vm.vcpus:  # per vCPU: the kernel's checks, then the firmware's
            if v.sealed:
                raise self.refuse("sev.update-vmsa.protected", f"vCPU {v.id}")
            if vm.state != "started":
                raise self.refuse("sev.fw.lupdate", f"state {vm.state}")
            v.sealed = True
        return 0

    def _snp_start(self, vm: VmState, cmd: bytearray, d: dict[str, int | bytes]) -> int:
        if vm.sev != "snp":
            raise self.refuse("snp.snp-guest")
        if vm.snp_context:
            raise self.refuse("snp.start.once")
        policy = int(d["policy"])
        if d["flags"]:
            raise self.refuse("snp.start.flags")
        bits = self.snp_policy_bits if self.snp_policy_bits is not None else 0x1BFFFF
        if policy & ~bits:
            raise self.refuse("snp.start.policy-bits", f"{policy:#x} outside {bits:#x}")
        if not policy >> 17 & 1:
            raise self.refuse("snp.start.policy-mbo", f"{policy:#x}")
        if vm.vmsa_features & SVM_SEV_FEAT_SECURE_TSC:
            vm.desired_tsc_khz = vm.default_tsc_khz
            self.applies("snp.start.secure-tsc")
        fd = get("kvm_sev_cmd", cmd, "sev_fd")
        if self.kinds.get(fd) != "sev":
            raise self.refuse("snp.start.sev-fd", f"fd {fd}")
        vm.snp_context = True
        vm.policy, vm.state = policy, "started"
        return 0

    def _snp_update(self, vm: VmState, addr: int, buf: bytearray, fault: Fault | None) -> int:
        s = "kvm_sev_snp_launch_update"
        if vm.sev != "snp" or not vm.snp_context:
            raise self.refuse("snp.update.started")
        d = decode(s, buf)
        n, ptype, uaddr = int(d["len"]), int(d["type"]), int(d["uaddr"])
        if d["flags"] or n == 0 or n % PAGE or ptype not in SNP_PAGE_TYPES:
            raise self.refuse("snp.update.params")
        zero = ptype == CONST["KVM_SEV_SNP_PAGE_TYPE_ZERO"]
        if not zero and uaddr % PAGE:
            raise self.refuse("snp.update.uaddr")
        gfn = int(d["gfn_start"])
        slot = next((sl for sl in vm.slots.values() if sl.contains(gfn * PAGE, PAGE)), None)
        if slot is None or slot.gmem is None:
            raise self.refuse("snp.update.gmem-slot", f"gfn {gfn:#x}")
        self.applies("gmem.populate-slot-end")
        pages = min(n // PAGE, (slot.gpa + slot.size) // PAGE - gfn)
        if fault is not None:
            pages = min(pages, fault.progress)
        elif self.snp_pages_per_call is not None:
            pages = min(pages, self.snp_pages_per_call)
        done, error = 0, None
        for i in range(pages):
            g = gfn + i
            if g not in vm.private:
                error = self.refuse("gmem.populate-private", f"gfn {g:#x}")
            elif g in vm.populated:
                error = self.refuse("snp.update.assigned", f"gfn {g:#x}")
            elif vm.state != "started":
                error = self.refuse("snp.fw.launch-state", f"state {vm.state}")
            if error is not None:
                break
            if ptype == CONST["KVM_SEV_SNP_PAGE_TYPE_NORMAL"]:
                contents = hashlib.sha384(read(uaddr + i * PAGE, PAGE)).digest()
            else:
                contents = bytes(48)
            info = vm.snp_ld + contents + (0x70).to_bytes(2, "little") + bytes((ptype, 0, 0, 0, 0, 0))
            info += (g * PAGE).to_bytes(8, "little")
            vm.snp_ld = hashlib.sha384(info).digest()
            vm.populated.add(g)
            done += 1
        self.applies("gmem.populate-partial")
        if error is not None and done == 0:  # a failure at the first page is the call's
            raise self.refuse("snp.update.populate-eio", error.reason, fw=error.fw_error)
        put(s, buf, "gfn_start", gfn + done)
        put(s, buf, "uaddr", uaddr + (0 if zero else done * PAGE))
        put(s, buf, "len", n - done * PAGE)
        write(addr, bytes(buf))
        if fault is not None:
            if (
                fault.fw_error == CONST["SEV_RET_INVALID_PARAM"]
                and ptype == CONST["KVM_SEV_SNP_PAGE_TYPE_CPUID"]
            ):
                write(uaddr + done * PAGE, b"\xc0\x01" * (PAGE // 2))  # the firmware's corrected page
            raise KernelError(fault.errno, "", fault.fw_error)
        return 0

    def _snp_finish(self, vm: VmState, d: dict[str, int | bytes]) -> int:
        if vm.sev != "snp":
            raise self.refuse("snp.snp-guest")
        if not vm.snp_context:
            raise self.refuse("snp.finish.started")
        if d["flags"]:
            raise self.refuse("snp.finish.flags")
        for v in vm.vcpus:  # SNP_LAUNCH_UPDATE of every VMSA first
            if v.sealed:
                raise self.refuse("snp.finish.vmsa-protected", f"vCPU {v.id}")
            if vm.state != "started":
                raise self.refuse("snp.fw.launch-state", f"state {vm.state}")
            v.sealed = True
        if vm.state != "started":
            raise self.refuse("snp.fw.launch-state", f"state {vm.state}")
        fin: dict[str, Any] = dict(d)
        if d["id_block_en"]:
            fin["id_block"] = read(int(d["id_block_uaddr"]), 96)
            fin["id_auth"] = read(int(d["id_auth_uaddr"]), 4096)
        vm.finish = fin
        vm.state = "finished"
        return 0

    # -- TDX ---------------------------------------------------------------------------------------
    def _tdx_op(self, call: Call, vm: VmState, vcpu: VcpuState | None, arg: int | None) -> int:
        if not arg:
            raise self.outside("KVM_MEMORY_ENCRYPT_OP(NULL) on a TD")
        s = "kvm_tdx_cmd"
        cmd = bytearray(read(arg, sizeof(s)))
        cmd_id = get(s, cmd, "id")
        sub = SUB_NAMES["tdx"].get(cmd_id)
        call.sub = sub or f"KVM_TDX(id={cmd_id})"
        data_addr = get(s, cmd, "data")
        struct = TDX_CMD_DATA.get(sub or "")
        size = 0
        if struct and data_addr:
            size = sizeof(struct)
            if struct == "kvm_cpuid2":
                off, elem = size, sizeof("kvm_cpuid_entry2")
                nent = get(struct, read(data_addr, size), "nent")
                size = off + min(nent, KVM_MAX_CPUID_ENTRIES) * elem
            elif struct in ("kvm_tdx_init_vm", "kvm_tdx_capabilities"):
                off, elem = flexible(struct)
                nent = get(struct, read(data_addr, size), "cpuid.nent")
                size = off + min(nent, KVM_MAX_CPUID_ENTRIES + 1) * elem
            call.sub_in = read(data_addr, size)
        hw = 0
        try:
            if get(s, cmd, "hw_error"):
                raise self.refuse("tdx.hw-error-input")
            rc = self._tdx_cmd(vm, vcpu, sub, cmd, data_addr, struct)
        except KernelError as exc:
            hw = exc.fw_error
            raise
        finally:
            write(arg + _field(s, "hw_error")[0], hw.to_bytes(8, "little"))
            if size:
                call.sub_out = read(data_addr, size)
        return rc

    def _tdx_cmd(
        self,
        vm: VmState,
        vcpu: VcpuState | None,
        sub: str | None,
        cmd: bytearray,
        addr: int,
        struct: str | None,
    ) -> int:
        s = "kvm_tdx_cmd"
        flags = get(s, cmd, "flags")
        fixed = struct if struct != "kvm_cpuid2" else None
        decoded = decode(fixed, read(addr, sizeof(fixed))) if fixed and addr else {}
        fault = self._fault(sub, decoded) if sub else None
        if fault is not None and not fault.progress:
            raise KernelError(fault.errno, "", fault.fw_error)
        if vcpu is not None:  # tdx_vcpu_unlocked_ioctl, then tdx_vcpu_ioctl
            if vm.tdx_init is None or vm.tdx_finalized:
                raise self.refuse("tdx.vcpu.td-state")
            if sub == "KVM_TDX_INIT_VCPU":
                return self._tdx_init_vcpu(vcpu, flags, get(s, cmd, "data"))
            if sub == "KVM_TDX_INIT_MEM_REGION":
                return self._tdx_mem(vm, vcpu, flags, addr, fault)
            if sub == "KVM_TDX_GET_CPUID":
                return self._tdx_get_cpuid(vm, addr)
            raise self.refuse("tdx.vcpu.command", f"{sub or get(s, cmd, 'id')}")
        if sub == "KVM_TDX_CAPABILITIES":
            cs = "kvm_tdx_capabilities"
            if flags:
                raise self.refuse("tdx.caps.flags")
            caps = bytearray(read(addr, sizeof(cs)))
            if get(cs, caps, "cpuid.nent") < len(self.tdx_cpuid):
                raise self.refuse("tdx.caps.nent")
            put(cs, caps, "supported_attrs", self.tdx_supported_attrs)
            put(cs, caps, "supported_xfam", self.tdx_supported_xfam)
            put(cs, caps, "cpuid.nent", len(self.tdx_cpuid))
            write(addr, bytes(caps))
            off, _ = flexible(cs)
            _write_entries(addr + off, [_td_config_entry(e) for e in self.tdx_cpuid])
            self.applies("tdx.caps.unsupported-cleared")
            return 0
        if sub == "KVM_TDX_INIT_VM":
            return self._tdx_init_vm(vm, addr, flags)
        if sub == "KVM_TDX_FINALIZE_VM":
            if vm.tdx_init is None or vm.tdx_finalized:
                raise self.refuse("tdx.finalize.state")
            vm.tdx_finalized = True
            vm.tdx_init["mrtd"] = vm.mrtd.digest()
            return 0
        raise self.refuse("tdx.vm.command", f"{sub or get(s, cmd, 'id')}")

    def _tdx_init_vm(self, vm: VmState, addr: int, flags: int) -> int:
        st = "kvm_tdx_init_vm"
        if vm.tdx_init is not None:
            raise self.refuse("tdx.init-vm.once")
        if flags:
            raise self.refuse("tdx.init-vm.flags")
        fixed = read(addr, sizeof(st))
        d = decode(st, fixed)
        nent = get(st, fixed, "cpuid.nent")
        if nent > KVM_MAX_CPUID_ENTRIES:
            raise self.refuse("tdx.init-vm.nent", f"{nent}")
        if any(get_bytes(st, fixed, "reserved")):
            raise self.refuse("tdx.init-vm.reserved")
        if get(st, fixed, "cpuid.padding"):
            raise self.refuse("tdx.init-vm.padding")
        if vm.created_vcpus:
            raise self.refuse("tdx.init-vm.vcpus")  # unreachable: vCPUs need INIT_VM first
        if int(d["attributes"]) & ~self.tdx_supported_attrs:
            raise self.refuse("tdx.init-vm.attributes", f"{int(d['attributes']):#x}")
        if int(d["xfam"]) & ~self.tdx_supported_xfam:
            raise self.refuse("tdx.init-vm.xfam", f"{int(d['xfam']):#x}")
        off, _ = flexible(st)
        entries = _read_entries(addr + off, nent)
        gpaw_leaf = [e for e in entries if (e["function"], e["index"]) == (0x80000008, 0)]
        if not gpaw_leaf:
            raise self.refuse("tdx.init-vm.gpaw-leaf")
        gpaw = (gpaw_leaf[0]["eax"] >> 16) & 0xFF
        if gpaw not in (48, 52):
            raise self.refuse("tdx.init-vm.gpaw", f"{gpaw}")
        if gpaw == 52 and not self.tdx_ept_5level:
            raise self.refuse("tdx.init-vm.gpaw-52")
        configurable = {(e["function"], e["index"]) for e in self.tdx_cpuid}
        found = 0
        for e in entries:
            if (e["function"], e["index"]) not in configurable:
                continue
            if (e["function"], e["index"]) == (7, 0) and (e["ebx"] & TDX_FEATURE_TSX or e["ecx"] & WAITPKG):
                raise self.refuse("tdx.init-vm.cpuid-unsupported")
            found += 1
        if found != nent:
            raise self.refuse("tdx.init-vm.cpuid-configurable")
        vm.tdx_init = {**d, "cpuid": entries, "gpaw": gpaw}
        return 0

    def _tdx_init_vcpu(self, vcpu: VcpuState, flags: int, rcx: int) -> int:
        if flags:
            raise self.refuse("tdx.init-vcpu.flags")
        if vcpu.tdx_initialized:
            raise self.refuse("tdx.init-vcpu.once")
        leaf1 = [e for e in vcpu.cpuid if e["function"] == 1]
        if not leaf1 or not leaf1[0]["ecx"] & X2APIC:
            raise self.refuse("tdx.init-vcpu.x2apic", "KVM_SET_CPUID2 without x2APIC")
        vcpu.tdx_initialized = True
        vcpu.rcx = rcx
        return 0

    def _tdx_mem(self, vm: VmState, vcpu: VcpuState, flags: int, addr: int, fault: Fault | None) -> int:
        st = "kvm_tdx_init_mem_region"
        if not vcpu.tdx_initialized:
            raise self.refuse("tdx.mem.vcpu-initialized", f"vCPU {vcpu.id}")
        if vm.tdx_finalized:
            raise self.refuse("tdx.mem.finalized")  # unreachable: tdx.vcpu.td-state comes first
        if flags & ~CONST["KVM_TDX_MEASURE_MEMORY_REGION"]:
            raise self.refuse("tdx.mem.flags", f"{flags:#x}")
        buf = bytearray(read(addr, sizeof(st)))
        src, gpa, n = get(st, buf, "source_addr"), get(st, buf, "gpa"), get(st, buf, "nr_pages")
        shared = 1 << vm.tdx_shared_bit
        end = gpa + n * PAGE
        if src % PAGE or gpa % PAGE or n == 0 or end >= 1 << 64 or gpa & shared or (end - 1) & shared:
            raise self.refuse("tdx.mem.range")
        limit = n if fault is None else min(n, fault.progress)
        error: KernelError | None = None
        done = 0
        for i in range(limit):  # one page per kvm_gmem_populate call
            page_gpa = gpa + i * PAGE
            g = page_gpa // PAGE
            slot = next((sl for sl in vm.slots.values() if sl.contains(page_gpa, PAGE)), None)
            if slot is None or slot.gmem is None:
                error = self.refuse("gmem.populate-slot", f"gfn {g:#x}")
            elif g not in vm.private:
                error = self.refuse("gmem.populate-private", f"gfn {g:#x}")
            elif g in vm.populated:
                error = self.refuse("tdx.mem.mapped", f"gfn {g:#x}")
            if error is not None:
                break
            vm.mrtd.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + page_gpa.to_bytes(8, "little") + bytes(104))
            if flags:
                data = read(src + i * PAGE, PAGE)
                for j in range(16):
                    chunk_gpa = page_gpa + 256 * j
                    vm.mrtd.update(
                        b"MR.EXTEND".ljust(16, b"\0") + chunk_gpa.to_bytes(8, "little") + bytes(104)
                    )
                    vm.mrtd.update(data[256 * j : 256 * (j + 1)])
            vm.populated.add(g)
            done += 1
        put(st, buf, "source_addr", src + done * PAGE)
        put(st, buf, "gpa", gpa + done * PAGE)
        put(st, buf, "nr_pages", n - done)
        write(addr, bytes(buf))  # the region is written back on failure too
        if error is not None:
            raise error
        if fault is not None:
            raise KernelError(fault.errno, "", fault.fw_error)
        return 0

    def _tdx_get_cpuid(self, vm: VmState, addr: int) -> int:
        """``KVM_TDX_GET_CPUID``: the TD's CPUID as configured at INIT_VM (the TDX module's own
        virtualisation of the other leaves is not modelled)."""
        assert vm.tdx_init is not None
        entries = sorted(vm.tdx_init["cpuid"], key=lambda e: (e["function"], e["index"]))
        nent = get("kvm_cpuid2", read(addr, sizeof("kvm_cpuid2")), "nent")
        write(addr, len(entries).to_bytes(4, "little"))
        if nent < len(entries):
            raise self.refuse("tdx.get-cpuid.nent", f"{nent} < {len(entries)}")
        _write_entries(addr + sizeof("kvm_cpuid2"), entries)
        return 0

    # -- /dev/sev ----------------------------------------------------------------------------------
    def _sev_issue(self, call: Call, arg: int | None) -> int:
        """``SEV_ISSUE_CMD``: only SEV_PLATFORM_STATUS is modelled (API version and build from
        :attr:`api`, state WORKING, guest count = initialised SEV/SEV-ES/SNP VMs)."""
        assert arg
        cmd = bytearray(read(arg, sizeof("sev_issue_cmd")))
        number = get("sev_issue_cmd", cmd, "cmd")
        call.sub = (
            "SEV_PLATFORM_STATUS" if number == CONST["SEV_PLATFORM_STATUS"] else f"SEV_CMD(id={number})"
        )
        if number != CONST["SEV_PLATFORM_STATUS"]:
            raise self.outside(f"SEV_ISSUE_CMD {number}")
        status = bytearray(sizeof("sev_user_data_status"))
        major, minor, build = self.api
        for name, value in (("api_major", major), ("api_minor", minor), ("build", build), ("state", 2)):
            put("sev_user_data_status", status, name, value)
        put("sev_user_data_status", status, "guest_count", sum(1 for vm in self.vms if vm.sev))
        write(get("sev_issue_cmd", cmd, "data"), bytes(status))
        call.sub_out = bytes(status)
        return 0

    # -- vCPU fd ----------------------------------------------------------------------------------
    def _vcpu(self, call: Call, v: VcpuState, name: str, arg: int | None) -> int:
        if name in PROTECTED_STATE_IOCTLS:
            struct = IOCTL_STRUCTS[name]
            if name in CONFIDENTIAL_FPU_IOCTLS:
                if v.fpu_confidential and v.vm.has_protected_state:
                    raise self.refuse("vcpu.confidential-fpu", name)
            elif v.protected:
                raise self.refuse("vcpu.protected-state", name)
            assert arg
            if name.startswith("KVM_SET_"):
                v.regs[struct] = read(arg, sizeof(struct))
            else:
                write(arg, v.regs.get(struct, bytes(sizeof(struct))))
            return 0
        if name == "KVM_SET_CPUID2":
            assert arg
            nent = int.from_bytes(read(arg, 4), "little")
            v.cpuid = _read_entries(arg + sizeof("kvm_cpuid2"), nent)
            return 0
        if name == "KVM_SET_TSC_KHZ":
            if v.vm.type == CONST["KVM_X86_TDX_VM"]:
                raise self.refuse("vcpu.tsc-protected")
            v.tsc_khz = arg or 0
            return 0
        if name == "KVM_MEMORY_ENCRYPT_OP":
            if v.vm.type != CONST["KVM_X86_TDX_VM"]:
                raise self.refuse("vcpu.mem-enc-op")
            return self._tdx_op(call, v.vm, v, arg)
        if name == "KVM_RUN":
            off, size = _field("kvm_run", "exit_reason")
            v.run[off : off + size] = (5).to_bytes(size, "little")  # KVM_EXIT_HLT
            return 0
        raise self.outside(f"{name} on a vCPU fd")


# -- CPUID helpers ----------------------------------------------------------------------------------
_ENTRY_FIELDS = ("function", "index", "flags", "eax", "ebx", "ecx", "edx")


def _read_entries(addr: int, n: int) -> list[dict[str, int]]:
    size = sizeof("kvm_cpuid_entry2")
    raw = read(addr, n * size)
    return [
        {f: get("kvm_cpuid_entry2", raw[i * size : (i + 1) * size], f) for f in _ENTRY_FIELDS}
        for i in range(n)
    ]


def _write_entries(addr: int, entries: list[dict[str, int]]) -> None:
    size = sizeof("kvm_cpuid_entry2")
    out = bytearray(size * len(entries))
    for i, e in enumerate(entries):
        one = bytearray(size)
        for f in _ENTRY_FIELDS:
            put("kvm_cpuid_entry2", one, f, e.get(f, 0))
        out[i * size : (i + 1) * size] = one
    write(addr, bytes(out))


def _td_config_entry(e: dict[str, int]) -> dict[str, int]:
    """A configurable leaf as KVM_TDX_CAPABILITIES reports it (rule tdx.caps.unsupported-cleared)."""
    out = dict(e)
    if (e["function"], e["index"]) == (7, 0):
        out["ebx"] &= ~TDX_FEATURE_TSX
        out["ecx"] &= ~WAITPKG
    if e["function"] == 0x80000008:
        out["eax"] |= 0xFF << 16
    return out


def _write_cpuid(addr: int, entries: list[dict[str, int]]) -> None:
    write(addr, len(entries).to_bytes(4, "little"))
    _write_entries(addr + sizeof("kvm_cpuid2"), entries)


def entry(
    function: int, index: int = 0, eax: int = 0, ebx: int = 0, ecx: int = 0, edx: int = 0, flags: int = 0
) -> dict[str, int]:
    return {
        "function": function,
        "index": index,
        "flags": flags,
        "eax": eax,
        "ebx": ebx,
        "ecx": ecx,
        "edx": edx,
    }


def default_tdx_cpuid() -> list[dict[str, int]]:
    """A small configurable-CPUID list in the shape the TDX module reports (tdx.md §3.2): masks of the
    configurable bits, 0x80000008 EAX[23:16] = 0xFF ("GPAW configurable")."""
    return [
        entry(0x1, eax=0x0FFF3FFF, ecx=0x31FEBFFF, edx=0xFFFFFFFF),
        entry(0x7, 0, ebx=0xFFFFFFFF, ecx=0xFFFFFFFF, edx=0xFFFFFFFF, flags=1),
        entry(0xD, 1, eax=0x0000000F, flags=1),
        entry(0x80000001, ecx=0x00000121, edx=0x2C100800),
        entry(0x80000008, eax=0x00FF00FF),
    ]


def default_supported_cpuid() -> list[dict[str, int]]:
    """What KVM_GET_SUPPORTED_CPUID returns on the pretend host (x2APIC in leaf 1 ECX)."""
    return [
        entry(0x0, eax=0x1F, ebx=0x756E6547, ecx=0x6C65746E, edx=0x49656E69),
        entry(0x1, eax=0x000806F8, ecx=0xF7FA3203 | X2APIC, edx=0x0F8BFBFF),
        entry(0x7, 0, ebx=0xF1BF07AB, ecx=0x1B415F6E, edx=0xFFC30110, flags=1),
        entry(0xD, 1, eax=0x0000000F, flags=1),
        entry(0x80000001, ecx=0x00000121, edx=0x2C100800),
        entry(0x80000008, eax=0x00003934),
    ]


@contextlib.contextmanager
def installed(fake: FakeKernel) -> Iterator[FakeKernel]:
    """Route every ``pvmkit.kvm`` OS call to ``fake`` while the block runs."""
    previous = set_os_boundary(fake)
    try:
        yield fake
    finally:
        set_os_boundary(previous)
