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

Kernel rules it enforces (spec amd.md §5.4–§5.7, §10 fact 5; tdx.md §3.2–§3.4, §7 fact 5), answering
with the kernel's errno and recording the reason in :attr:`refusals`:

* SEV: legacy ``KVM_SEV_INIT``/``KVM_SEV_ES_INIT`` only on the default VM type; ``KVM_SEV_INIT2``
  only on types 2/3/4, once, before any vCPU, ``flags`` 0, ``vmsa_features`` within the host's
  ``KVM_X86_SEV_VMSA_FEATURES`` (0 for a SEV VM; SNPActive is never accepted), ``ghcb_version`` ≤ 2
  (0 for SEV) — all EINVAL; ``KVM_MEMORY_ENCRYPT_REG_REGION`` only on an initialised SEV/SEV-ES VM
  (ENOTTY); LAUNCH_START/SNP_LAUNCH_START need an open ``/dev/sev`` fd in ``sev_fd`` (EBADF);
  LAUNCH_UPDATE_DATA 16-byte aligned, inside guest memory; LAUNCH_MEASURE with ``len`` 0 answers the
  length (48) with SEV_RET_INVALID_LEN; LAUNCH_FINISH needs LAUNCH_MEASURE first
  (SEV_RET_INVALID_GUEST_STATE); once an SNP VM is initialised, ids < 100 give EPERM.
* SNP: SNP_LAUNCH_START needs policy bit 17 and bits within ``KVM_X86_SNP_POLICY_BITS``, flags 0;
  SNP_LAUNCH_UPDATE only after SNP_LAUNCH_START, on page-aligned ranges that are in a guest_memfd
  memslot *and* marked ``KVM_MEMORY_ATTRIBUTE_PRIVATE``, each page only once, type in {1,3,4,5,6};
  the kernel advances ``gfn_start``/``uaddr``/``len`` (set :attr:`snp_pages_per_call` for partial
  completion); nothing after SNP_LAUNCH_FINISH.
* TDX: ``kvm_tdx_cmd.hw_error`` must be 0 on input; INIT_VM once, before any vCPU (EBUSY), attributes /
  XFAM within CAPABILITIES, every CPUID entry a configurable leaf, 0x80000008 mandatory with GPAW 48
  or 52; CAPABILITIES answers E2BIG when ``cpuid.nent`` is too small; CREATE_VCPU before INIT_VM → EIO,
  without the split irqchip → EINVAL; INIT_VCPU needs CPUID with x2APIC set first; INIT_MEM_REGION only
  on a vCPU fd after that vCPU's INIT_VCPU, on private guest_memfd pages, updated in place as pages
  complete; every vCPU sub-command and INIT_MEM_REGION after FINALIZE → EINVAL; register ioctls on a
  TDX vCPU → EINVAL from creation on, on an SEV-ES/SNP vCPU (types 3/4) once the VMSA is encrypted.

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
    "KVM_SEV_SNP_LAUNCH_START": "kvm_sev_snp_launch_start",
    "KVM_SEV_SNP_LAUNCH_UPDATE": "kvm_sev_snp_launch_update",
    "KVM_SEV_SNP_LAUNCH_FINISH": "kvm_sev_snp_launch_finish",
}
TDX_CMD_DATA = {
    "KVM_TDX_INIT_VM": "kvm_tdx_init_vm",
    "KVM_TDX_CAPABILITIES": "kvm_tdx_capabilities",
    "KVM_TDX_INIT_MEM_REGION": "kvm_tdx_init_mem_region",
}
SNP_PAGE_TYPES = {
    CONST[f"KVM_SEV_SNP_PAGE_TYPE_{t}"] for t in ("NORMAL", "ZERO", "UNMEASURED", "SECRETS", "CPUID")
}
X2APIC = 1 << 21  # CPUID.1:ECX


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
class VcpuState:
    fd: int
    vm: VmState
    id: int
    run: mmap.mmap
    regs: dict[str, bytes] = field(default_factory=dict)
    cpuid: list[dict[str, int]] = field(default_factory=list)
    tdx_initialized: bool = False
    rcx: int | None = None
    sealed: bool = False

    @property
    def protected(self) -> bool:
        if self.vm.type == CONST["KVM_X86_TDX_VM"]:
            return True  # guest_state_protected from creation unless TD_ATTRIBUTES.DEBUG (tdx.md §3.4)
        return self.sealed and self.vm.type in (CONST["KVM_X86_SEV_ES_VM"], CONST["KVM_X86_SNP_VM"])


@dataclass
class VmState:
    fd: int
    type: int
    vcpus: list[VcpuState] = field(default_factory=list)
    slots: dict[int, Slot] = field(default_factory=dict)
    private: set[int] = field(default_factory=set)  # gfns
    enc_regions: list[tuple[int, int]] = field(default_factory=list)
    caps: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # SEV
    sev: str | None = None  # "sev", "sev-es", "snp" once initialised
    init_path: str | None = None
    vmsa_features: int = 0
    ghcb_version: int = 0
    handle: int = 0
    policy: int = 0
    state: str = "new"  # new → started → measured → finished (SEV); new → started → finished (SNP)
    ld: Any = field(default_factory=hashlib.sha256)
    snp_ld: bytes = bytes(48)
    populated: set[int] = field(default_factory=set)
    finish: dict[str, Any] = field(default_factory=dict)
    measure_blob: bytes = b""
    # TDX
    tdx_init: dict[str, Any] | None = None
    tdx_finalized: bool = False
    mrtd: Any = field(default_factory=hashlib.sha384)
    split_irqchip: bool = False


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
    ) -> None:
        self.vm_types = vm_types
        self.vmsa_features = vmsa_features
        self.snp_policy_bits = snp_policy_bits
        self.has_sev_device = has_sev_device
        self.tdx_supported_attrs = tdx_supported_attrs
        self.tdx_supported_xfam = tdx_supported_xfam
        self.tdx_cpuid = tdx_cpuid if tdx_cpuid is not None else default_tdx_cpuid()
        self.supported_cpuid = supported_cpuid if supported_cpuid is not None else default_supported_cpuid()
        self.snp_pages_per_call: int | None = None  #: partial SNP_LAUNCH_UPDATE completion
        self.tik = bytes(range(16))  #: the SEV transport integrity key of the fake firmware
        self.mnonce = bytes(range(0x10, 0x20))
        self.api = (1, 55, 21)  #: API major, minor, build
        self.calls: list[Call] = []
        self.refusals: list[tuple[str, int, str]] = []  #: (label, errno, reason) of every rule refusal
        self.violations: list[str] = []  #: numbers or structures the header table does not know
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
        raise KernelError(E.ENOTTY, f"{name} on a {kind} fd")

    def _check_extension(self, cap: int, vm: VmState | None) -> int:
        c = CONST
        if cap == c["KVM_CAP_VM_TYPES"]:
            return self.vm_types
        if cap in (c["KVM_CAP_SYS_ATTRIBUTES"], c["KVM_CAP_GUEST_MEMFD"], c["KVM_CAP_USER_MEMORY2"]):
            return 1
        if cap == c["KVM_CAP_SPLIT_IRQCHIP"]:
            return 1
        if cap == c["KVM_CAP_MEMORY_ATTRIBUTES"]:
            return c["KVM_MEMORY_ATTRIBUTE_PRIVATE"]
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
                raise KernelError(E.EINVAL, f"VM type {vm_type} not supported")
            vm = VmState(fd=-1, type=vm_type)
            vm.fd = self._new_fd("vm", vm)
            self.vms.append(vm)
            return vm.fd
        if name in ("KVM_HAS_DEVICE_ATTR", "KVM_GET_DEVICE_ATTR"):
            assert arg
            buf = read(arg, sizeof("kvm_device_attr"))
            group, attr = get("kvm_device_attr", buf, "group"), get("kvm_device_attr", buf, "attr")
            value: int | None = None
            if group == CONST["KVM_X86_GRP_SEV"] and attr == CONST["KVM_X86_SEV_VMSA_FEATURES"]:
                value = self.vmsa_features
            elif group == CONST["KVM_X86_GRP_SEV"] and attr == CONST["KVM_X86_SNP_POLICY_BITS"]:
                value = self.snp_policy_bits
            if value is None:
                raise KernelError(E.ENXIO)
            if name == "KVM_GET_DEVICE_ATTR":
                write(get("kvm_device_attr", buf, "addr"), value.to_bytes(8, "little"))
            return 0
        if name == "KVM_GET_SUPPORTED_CPUID":
            assert arg
            nent = int.from_bytes(read(arg, 4), "little")
            if nent < len(self.supported_cpuid):
                raise KernelError(E.E2BIG)
            _write_cpuid(arg, self.supported_cpuid)
            return 0
        raise KernelError(E.ENOTTY, f"{name} on /dev/kvm")

    # -- VM fd ------------------------------------------------------------------------------------
    def _vm(self, call: Call, vm: VmState, name: str, arg: int | None) -> int:
        c = CONST
        tdx = vm.type == c["KVM_X86_TDX_VM"]
        private_mem = vm.type in (c["KVM_X86_SNP_VM"], c["KVM_X86_TDX_VM"], c["KVM_X86_SW_PROTECTED_VM"])
        if name == "KVM_CHECK_EXTENSION":
            return self._check_extension(arg or 0, vm)
        if name == "KVM_ENABLE_CAP":
            assert arg
            buf = read(arg, sizeof("kvm_enable_cap"))
            cap = get("kvm_enable_cap", buf, "cap")
            args = [int.from_bytes(buf[8 + 8 * i : 16 + 8 * i], "little") for i in range(4)]
            if cap == c["KVM_CAP_SPLIT_IRQCHIP"]:
                if vm.vcpus:
                    raise KernelError(E.EINVAL, "split irqchip after vCPUs exist")
                if args[0] > 24 and tdx:
                    raise KernelError(E.EINVAL, "TDX supports at most 24 IOAPIC pins")
                vm.split_irqchip = True
            vm.caps[cap] = tuple(args)
            return 0
        if name == "KVM_CREATE_IRQCHIP":
            if tdx:
                raise KernelError(E.ENOTTY, "TDX has protected EOI: no in-kernel IOAPIC (tdx.md §3.3)")
            return 0
        if name in ("KVM_SET_USER_MEMORY_REGION", "KVM_SET_USER_MEMORY_REGION2"):
            assert arg
            s = IOCTL_STRUCTS[name]
            buf = read(arg, sizeof(s))
            flags = get(s, buf, "flags")
            gmem: int | None = None
            offset = 0
            if name.endswith("2") and flags & c["KVM_MEM_GUEST_MEMFD"]:
                gmem = get(s, buf, "guest_memfd")
                offset = get(s, buf, "guest_memfd_offset")
                g: dict[str, Any] = self.fds.get(gmem) or {}
                if self.kinds.get(gmem) != "gmem" or g["vm"] is not vm:
                    raise KernelError(E.EINVAL, "guest_memfd is not a guest_memfd of this VM")
                if offset + get(s, buf, "memory_size") > g["size"]:
                    raise KernelError(E.EINVAL, "memslot runs past the guest_memfd")
            if flags & c["KVM_MEM_READONLY"] and vm.type in (
                c["KVM_X86_SEV_ES_VM"],
                c["KVM_X86_SNP_VM"],
                c["KVM_X86_TDX_VM"],
            ):
                raise KernelError(E.EINVAL, "read-only memslots are not allowed for protected state VMs")
            slot = Slot(
                get(s, buf, "slot"), get(s, buf, "guest_phys_addr"), get(s, buf, "memory_size"),
                get(s, buf, "userspace_addr"), flags, gmem, offset,
            )  # fmt: skip
            if slot.size == 0:
                vm.slots.pop(slot.slot, None)
            else:
                vm.slots[slot.slot] = slot
            return 0
        if name == "KVM_CREATE_GUEST_MEMFD":
            assert arg
            buf = read(arg, sizeof("kvm_create_guest_memfd"))
            size = get("kvm_create_guest_memfd", buf, "size")
            if not private_mem:
                raise KernelError(E.EINVAL, "guest_memfd needs a VM type with private memory")
            if size == 0 or size % PAGE:
                raise KernelError(E.EINVAL, "guest_memfd size is not a positive multiple of 4 KiB")
            return self._new_fd("gmem", {"vm": vm, "size": size})
        if name == "KVM_SET_MEMORY_ATTRIBUTES":
            assert arg
            buf = read(arg, sizeof("kvm_memory_attributes"))
            d = decode("kvm_memory_attributes", buf)
            if not private_mem:
                raise KernelError(E.EINVAL, "memory attributes need a VM type with private memory")
            if d["flags"] or int(d["attributes"]) & ~c["KVM_MEMORY_ATTRIBUTE_PRIVATE"]:
                raise KernelError(E.EINVAL, "bad memory attributes/flags")
            gfns = range(int(d["address"]) // PAGE, (int(d["address"]) + int(d["size"])) // PAGE)
            if d["attributes"]:
                vm.private.update(gfns)
            else:
                vm.private.difference_update(gfns)
            return 0
        if name in ("KVM_MEMORY_ENCRYPT_REG_REGION", "KVM_MEMORY_ENCRYPT_UNREG_REGION"):
            assert arg
            buf = read(arg, sizeof("kvm_enc_region"))
            if vm.sev not in ("sev", "sev-es"):
                raise KernelError(E.ENOTTY, "REG_REGION on a VM that is not an initialised SEV/SEV-ES guest")
            region = (get("kvm_enc_region", buf, "addr"), get("kvm_enc_region", buf, "size"))
            if name.endswith("_REG_REGION"):
                vm.enc_regions.append(region)
            return 0
        if name == "KVM_CREATE_VCPU":
            vcpu_id = arg or 0
            if tdx and vm.tdx_init is None:
                raise KernelError(E.EIO, "KVM_CREATE_VCPU before KVM_TDX_INIT_VM")
            if tdx and not vm.split_irqchip:
                raise KernelError(E.EINVAL, "TDX vCPUs need an in-kernel LAPIC (split irqchip)")
            if any(v.id == vcpu_id for v in vm.vcpus):
                raise KernelError(E.EEXIST, f"vCPU {vcpu_id} exists")
            if vm.state == "finished":
                raise KernelError(E.EINVAL, "vCPU created after the launch finished")
            v = VcpuState(-1, vm, vcpu_id, mmap.mmap(-1, VCPU_MMAP_SIZE))
            v.fd = self._new_fd("vcpu", v)
            vm.vcpus.append(v)
            return v.fd
        if name in ("KVM_HAS_DEVICE_ATTR", "KVM_GET_DEVICE_ATTR"):
            raise KernelError(E.ENXIO)
        if name == "KVM_MEMORY_ENCRYPT_OP":
            if tdx:
                return self._tdx_op(call, vm, None, arg)
            return self._sev_op(call, vm, arg)
        raise KernelError(E.ENOTTY, f"{name} on a VM fd")

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
            rc = self._sev_cmd(vm, sub, cmd, data_addr, struct, call)
            fw = 0
        except KernelError as exc:
            fw = exc.fw_error
            put("kvm_sev_cmd", cmd, "error", fw)
            write(arg + _field("kvm_sev_cmd", "error")[0], fw.to_bytes(4, "little"))
            if struct and data_addr:
                call.sub_out = read(data_addr, sizeof(struct))
            raise
        write(arg + _field("kvm_sev_cmd", "error")[0], fw.to_bytes(4, "little"))
        if struct and data_addr:
            call.sub_out = read(data_addr, sizeof(struct))
        return rc

    def _sev_fd_ok(self, cmd: bytearray) -> None:
        fd = get("kvm_sev_cmd", cmd, "sev_fd")
        if self.kinds.get(fd) != "sev":
            raise KernelError(E.EBADF, f"sev_fd {fd} is not an open /dev/sev")

    def _sev_cmd(
        self, vm: VmState, sub: str | None, cmd: bytearray, addr: int, struct: str | None, call: Call
    ) -> int:
        c = CONST
        if sub is None:
            raise KernelError(E.EINVAL, "unknown sev_cmd_id")
        data = read(addr, sizeof(struct)) if struct and addr else b""
        decoded = decode(struct, data) if struct and addr else {}
        fault = self._fault(sub, decoded)
        if fault is not None and not fault.progress:
            raise KernelError(fault.errno, "", fault.fw_error)
        if vm.sev == "snp" and get("kvm_sev_cmd", cmd, "id") < 100:
            raise KernelError(E.EPERM, "legacy SEV command on an SNP VM")
        if sub in ("KVM_SEV_INIT", "KVM_SEV_ES_INIT"):
            if vm.type != c["KVM_X86_DEFAULT_VM"]:
                raise KernelError(E.EINVAL, f"{sub} only on KVM_X86_DEFAULT_VM")
            if vm.sev is not None:
                raise KernelError(E.EINVAL, "already initialised")
            if vm.vcpus:
                raise KernelError(E.EINVAL, f"{sub} after vCPUs were created")
            vm.sev = "sev" if sub == "KVM_SEV_INIT" else "sev-es"
            vm.init_path = "legacy"
            vm.ghcb_version = 0 if sub == "KVM_SEV_INIT" else 1
            return 0
        if sub == "KVM_SEV_INIT2":
            kinds = {c["KVM_X86_SEV_VM"]: "sev", c["KVM_X86_SEV_ES_VM"]: "sev-es", c["KVM_X86_SNP_VM"]: "snp"}
            if vm.type not in kinds:
                raise KernelError(E.EINVAL, "KVM_SEV_INIT2 only on SEV/SEV-ES/SNP VM types")
            if vm.sev is not None:
                raise KernelError(E.EINVAL, "already initialised")
            if vm.vcpus:
                raise KernelError(E.EINVAL, "KVM_SEV_INIT2 after vCPUs were created")
            d = decoded
            if d["flags"]:
                raise KernelError(E.EINVAL, "kvm_sev_init.flags must be 0")
            kind = kinds[vm.type]
            supported = 0 if kind == "sev" else (self.vmsa_features or 0)
            if int(d["vmsa_features"]) & ~supported:
                raise KernelError(
                    E.EINVAL, f"vmsa_features {int(d['vmsa_features']):#x} not in {supported:#x}"
                )
            ghcb = int(d["ghcb_version"])
            if ghcb > 2 or (kind == "sev" and ghcb):
                raise KernelError(E.EINVAL, f"ghcb_version {ghcb}")
            vm.sev, vm.init_path = kind, "init2"
            vm.vmsa_features = int(d["vmsa_features"]) | (1 if kind == "snp" else 0)
            vm.ghcb_version = ghcb or (2 if kind != "sev" else 0)
            return 0
        if vm.sev is None:
            raise KernelError(E.ENOTTY, f"{sub} before the SEV VM is initialised")
        if sub == "KVM_SEV_LAUNCH_START":
            self._sev_fd_ok(cmd)
            if vm.state != "new":
                raise KernelError(E.EINVAL, "LAUNCH_START twice")
            vm.policy = int(decoded["policy"])
            vm.handle = 0x1234
            vm.state = "started"
            buf = bytearray(data)
            put("kvm_sev_launch_start", buf, "handle", vm.handle)
            write(addr, bytes(buf))
            return 0
        if sub == "KVM_SEV_LAUNCH_UPDATE_DATA":
            if vm.state != "started":
                raise KernelError(
                    E.EIO, "LAUNCH_UPDATE_DATA outside LUPDATE", c["SEV_RET_INVALID_GUEST_STATE"]
                )
            uaddr, n = int(decoded["uaddr"]), int(decoded["len"])
            if n == 0 or uaddr % 16 or n % 16:
                raise KernelError(E.EINVAL, "LAUNCH_UPDATE_DATA range is empty or not 16-byte aligned")
            if not any(s.uaddr <= uaddr and uaddr + n <= s.uaddr + s.size for s in vm.slots.values()):
                raise KernelError(E.EFAULT, "LAUNCH_UPDATE_DATA range is not guest memory")
            vm.ld.update(read(uaddr, n))
            return 0
        if sub == "KVM_SEV_LAUNCH_UPDATE_VMSA":
            if vm.sev != "sev-es":
                raise KernelError(E.EINVAL, "LAUNCH_UPDATE_VMSA on a VM without SEV-ES")
            if vm.state != "started":
                raise KernelError(
                    E.EIO, "LAUNCH_UPDATE_VMSA outside LUPDATE", c["SEV_RET_INVALID_GUEST_STATE"]
                )
            for v in vm.vcpus:
                v.sealed = True
            return 0
        if sub == "KVM_SEV_LAUNCH_MEASURE":
            if vm.state not in ("started", "measured"):
                raise KernelError(E.EIO, "LAUNCH_MEASURE outside LUPDATE", c["SEV_RET_INVALID_GUEST_STATE"])
            buf = bytearray(data)
            put("kvm_sev_launch_measure", buf, "len", 48)
            write(addr, bytes(buf))
            if int(decoded["len"]) < 48:  # len 0 asks for the length: the firmware says INVALID_LEN
                raise KernelError(E.EIO, "", c["SEV_RET_INVALID_LEN"])
            major, minor, build = self.api
            msg = (
                bytes((4, major, minor, build))
                + vm.policy.to_bytes(4, "little")
                + vm.ld.digest()
                + self.mnonce
            )
            vm.measure_blob = hmac.new(self.tik, msg, hashlib.sha256).digest() + self.mnonce
            write(int(decoded["uaddr"]), vm.measure_blob)
            vm.state = "measured"
            return 0
        if sub == "KVM_SEV_LAUNCH_FINISH":
            if vm.state != "measured":
                raise KernelError(
                    E.EIO, "LAUNCH_FINISH before LAUNCH_MEASURE", c["SEV_RET_INVALID_GUEST_STATE"]
                )
            vm.state = "finished"
            return 0
        if sub == "KVM_SEV_SNP_LAUNCH_START":
            if vm.sev != "snp":
                raise KernelError(E.EINVAL, "SNP command on a non-SNP VM")
            self._sev_fd_ok(cmd)
            if vm.state != "new":
                raise KernelError(E.EINVAL, "SNP_LAUNCH_START twice")
            policy = int(decoded["policy"])
            if decoded["flags"]:
                raise KernelError(E.EINVAL, "kvm_sev_snp_launch_start.flags must be 0")
            if not policy >> 17 & 1:
                raise KernelError(E.EINVAL, "SNP policy bit 17 (reserved, must be 1) is clear")
            if self.snp_policy_bits is not None and policy & ~self.snp_policy_bits:
                raise KernelError(E.EINVAL, "SNP policy has bits KVM does not accept")
            vm.policy, vm.state = policy, "started"
            return 0
        if sub == "KVM_SEV_SNP_LAUNCH_UPDATE":
            return self._snp_update(vm, addr, bytearray(data), fault)
        if sub == "KVM_SEV_SNP_LAUNCH_FINISH":
            if vm.state != "started":
                raise KernelError(E.EINVAL, "SNP_LAUNCH_FINISH without SNP_LAUNCH_START")
            if decoded["flags"]:
                raise KernelError(E.EINVAL, "kvm_sev_snp_launch_finish.flags must be 0")
            fin: dict[str, Any] = dict(decoded)
            if decoded["id_block_en"]:
                fin["id_block"] = read(int(decoded["id_block_uaddr"]), 96)
                fin["id_auth"] = read(int(decoded["id_auth_uaddr"]), 4096)
            vm.finish = fin
            for v in vm.vcpus:
                v.sealed = True
            vm.state = "finished"
            return 0
        raise KernelError(E.EINVAL, f"{sub} is not modelled by the fake kernel")

    def _snp_update(self, vm: VmState, addr: int, buf: bytearray, fault: Fault | None) -> int:
        s = "kvm_sev_snp_launch_update"
        if vm.sev != "snp":
            raise KernelError(E.EINVAL, "SNP command on a non-SNP VM")
        if vm.state != "started":
            raise KernelError(E.EINVAL, "SNP_LAUNCH_UPDATE outside the launch")
        d = decode(s, buf)
        n, ptype, uaddr = int(d["len"]), int(d["type"]), int(d["uaddr"])
        if d["flags"] or n == 0 or n % PAGE or ptype not in SNP_PAGE_TYPES:
            raise KernelError(E.EINVAL, "bad SNP_LAUNCH_UPDATE flags/len/type")
        if ptype != CONST["KVM_SEV_SNP_PAGE_TYPE_ZERO"] and uaddr % PAGE:
            raise KernelError(E.EINVAL, "uaddr not page-aligned")
        gfn = int(d["gfn_start"])
        for g in range(gfn, gfn + n // PAGE):
            if not any(sl.gmem is not None and sl.contains(g * PAGE, PAGE) for sl in vm.slots.values()):
                raise KernelError(E.EINVAL, f"gfn {g:#x} is not in a guest_memfd memslot")
            if g not in vm.private:
                raise KernelError(E.EINVAL, f"gfn {g:#x} is not private (KVM_SET_MEMORY_ATTRIBUTES)")
            if g in vm.populated:
                raise KernelError(E.EINVAL, f"gfn {g:#x} was already populated")
        limit = n // PAGE
        if fault is not None:
            limit = min(limit, fault.progress)
        elif self.snp_pages_per_call is not None:
            limit = min(limit, self.snp_pages_per_call)
        for i in range(limit):
            g = gfn + i
            if ptype == CONST["KVM_SEV_SNP_PAGE_TYPE_NORMAL"]:
                contents = hashlib.sha384(read(uaddr + i * PAGE, PAGE)).digest()
            else:
                contents = bytes(48)
            info = vm.snp_ld + contents + (0x70).to_bytes(2, "little") + bytes((ptype, 0, 0, 0, 0, 0))
            info += (g * PAGE).to_bytes(8, "little")
            vm.snp_ld = hashlib.sha384(info).digest()
            vm.populated.add(g)
        put(s, buf, "gfn_start", gfn + limit)
        put(s, buf, "uaddr", uaddr + limit * PAGE)
        put(s, buf, "len", n - limit * PAGE)
        write(addr, bytes(buf))
        if fault is not None:
            if (
                fault.fw_error == CONST["SEV_RET_INVALID_PARAM"]
                and ptype == CONST["KVM_SEV_SNP_PAGE_TYPE_CPUID"]
            ):
                write(uaddr + limit * PAGE, b"\xc0\x01" * (PAGE // 2))  # the firmware's corrected page
            raise KernelError(fault.errno, "", fault.fw_error)
        return 0

    # -- TDX ---------------------------------------------------------------------------------------
    def _tdx_op(self, call: Call, vm: VmState, vcpu: VcpuState | None, arg: int | None) -> int:
        if not arg:
            raise KernelError(E.EINVAL, "TDX needs a kvm_tdx_cmd")
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
            if struct in ("kvm_tdx_init_vm", "kvm_tdx_capabilities"):
                off, elem = flexible(struct)
                nent = get(struct, read(data_addr, size), "cpuid.nent")
                size = off + nent * elem
            call.sub_in = read(data_addr, size)
        hw = 0
        try:
            if get(s, cmd, "hw_error"):
                raise KernelError(E.EINVAL, "kvm_tdx_cmd.hw_error must be 0 on input")
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
        if sub is None:
            raise KernelError(E.EINVAL, "unknown kvm_tdx_cmd_id")
        flags = get(s, cmd, "flags")
        decoded = decode(struct, read(addr, sizeof(struct))) if struct and addr else {}
        fault = self._fault(sub, decoded)
        if fault is not None and not fault.progress:
            raise KernelError(fault.errno, "", fault.fw_error)
        vcpu_cmds = ("KVM_TDX_INIT_VCPU", "KVM_TDX_INIT_MEM_REGION", "KVM_TDX_GET_CPUID")
        if (vcpu is None) == (sub in vcpu_cmds):
            raise KernelError(E.EINVAL, f"{sub} on the wrong fd")
        if sub == "KVM_TDX_CAPABILITIES":
            cs = "kvm_tdx_capabilities"
            if flags:
                raise KernelError(E.EINVAL, "flags must be 0")
            fixed = bytearray(read(addr, sizeof(cs)))
            if get(cs, fixed, "cpuid.nent") < len(self.tdx_cpuid):
                raise KernelError(E.E2BIG, "")
            put(cs, fixed, "supported_attrs", self.tdx_supported_attrs)
            put(cs, fixed, "supported_xfam", self.tdx_supported_xfam)
            put(cs, fixed, "cpuid.nent", len(self.tdx_cpuid))
            write(addr, bytes(fixed))
            off, _ = flexible(cs)
            _write_entries(addr + off, self.tdx_cpuid)
            return 0
        if sub == "KVM_TDX_INIT_VM":
            return self._tdx_init_vm(vm, addr, flags)
        if vm.tdx_init is None:
            raise KernelError(E.EINVAL, f"{sub} before KVM_TDX_INIT_VM")
        if vm.tdx_finalized:
            raise KernelError(E.EINVAL, f"{sub} after KVM_TDX_FINALIZE_VM")
        if sub == "KVM_TDX_INIT_VCPU":
            assert vcpu is not None
            if flags:
                raise KernelError(E.EINVAL, "flags must be 0")
            if vcpu.tdx_initialized:
                raise KernelError(E.EINVAL, "INIT_VCPU twice")
            leaf1 = [e for e in vcpu.cpuid if e["function"] == 1]
            if not leaf1 or not leaf1[0]["ecx"] & X2APIC:
                raise KernelError(E.EINVAL, "INIT_VCPU without x2APIC in the vCPU's CPUID (SET_CPUID2 first)")
            vcpu.tdx_initialized = True
            vcpu.rcx = get(s, cmd, "data")
            return 0
        if sub == "KVM_TDX_INIT_MEM_REGION":
            assert vcpu is not None
            return self._tdx_mem(vm, vcpu, flags, addr, fault)
        if sub == "KVM_TDX_FINALIZE_VM":
            if flags or get(s, cmd, "data"):
                raise KernelError(E.EINVAL, "flags and data must be 0")
            vm.tdx_finalized = True
            vm.tdx_init["mrtd"] = vm.mrtd.digest()
            return 0
        raise KernelError(E.EINVAL, f"{sub} is not modelled by the fake kernel")

    def _tdx_init_vm(self, vm: VmState, addr: int, flags: int) -> int:
        st = "kvm_tdx_init_vm"
        if flags:
            raise KernelError(E.EINVAL, "flags must be 0")
        if vm.vcpus:
            raise KernelError(E.EBUSY, "KVM_TDX_INIT_VM after vCPUs were created")
        if vm.tdx_init is not None:
            raise KernelError(E.EINVAL, "INIT_VM twice")
        fixed = read(addr, sizeof(st))
        d = decode(st, fixed)
        nent = get(st, fixed, "cpuid.nent")
        if nent > 256:
            raise KernelError(E.E2BIG, "more than 256 CPUID entries")
        if any(get_bytes(st, fixed, "reserved")) or get(st, fixed, "cpuid.padding"):
            raise KernelError(E.EINVAL, "reserved fields must be 0")
        if int(d["attributes"]) & ~self.tdx_supported_attrs:
            raise KernelError(E.EINVAL, "attributes outside supported_attrs")
        if int(d["xfam"]) & ~self.tdx_supported_xfam:
            raise KernelError(E.EINVAL, "xfam outside supported_xfam")
        off, _ = flexible(st)
        entries = _read_entries(addr + off, nent)
        configurable = {(e["function"], e["index"]) for e in self.tdx_cpuid}
        for e in entries:
            if (e["function"], e["index"]) not in configurable:
                raise KernelError(E.EINVAL, f"CPUID {e['function']:#x}.{e['index']} is not configurable")
        gpaw = [e for e in entries if e["function"] == 0x80000008]
        if not gpaw:
            raise KernelError(E.EINVAL, "CPUID 0x80000008 (GPAW) is mandatory")
        if (gpaw[0]["eax"] >> 16) & 0xFF not in (48, 52):
            raise KernelError(E.EINVAL, "GPAW must be 48 or 52")
        vm.tdx_init = {**d, "cpuid": entries}
        return 0

    def _tdx_mem(self, vm: VmState, vcpu: VcpuState, flags: int, addr: int, fault: Fault | None) -> int:
        st = "kvm_tdx_init_mem_region"
        if flags & ~CONST["KVM_TDX_MEASURE_MEMORY_REGION"]:
            raise KernelError(E.EINVAL, "unknown flags")
        if not vcpu.tdx_initialized:
            raise KernelError(E.EINVAL, "INIT_MEM_REGION on a vCPU without INIT_VCPU")
        buf = bytearray(read(addr, sizeof(st)))
        src, gpa, n = get(st, buf, "source_addr"), get(st, buf, "gpa"), get(st, buf, "nr_pages")
        if src % PAGE or gpa % PAGE or n == 0 or gpa + n * PAGE > 1 << 52:
            raise KernelError(E.EINVAL, "bad source_addr/gpa/nr_pages")
        for g in range(gpa // PAGE, gpa // PAGE + n):
            if not any(sl.gmem is not None and sl.contains(g * PAGE, PAGE) for sl in vm.slots.values()):
                raise KernelError(E.EINVAL, f"gfn {g:#x} is not in a guest_memfd memslot")
            if g not in vm.private:
                raise KernelError(E.EINVAL, f"gfn {g:#x} is not private")
            if g in vm.populated:
                raise KernelError(E.EINVAL, f"gfn {g:#x} was already added")
        limit = n if fault is None else min(n, fault.progress)
        for i in range(limit):
            page_gpa = gpa + i * PAGE
            vm.mrtd.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + page_gpa.to_bytes(8, "little") + bytes(104))
            if flags:
                data = read(src + i * PAGE, PAGE)
                for j in range(16):
                    chunk_gpa = page_gpa + 256 * j
                    vm.mrtd.update(
                        b"MR.EXTEND".ljust(16, b"\0") + chunk_gpa.to_bytes(8, "little") + bytes(104)
                    )
                    vm.mrtd.update(data[256 * j : 256 * (j + 1)])
            vm.populated.add(page_gpa // PAGE)
        put(st, buf, "source_addr", src + limit * PAGE)
        put(st, buf, "gpa", gpa + limit * PAGE)
        put(st, buf, "nr_pages", n - limit)
        write(addr, bytes(buf))
        if fault is not None:
            raise KernelError(fault.errno, "", fault.fw_error)
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
            raise KernelError(E.EINVAL, f"SEV_ISSUE_CMD {number} is not modelled")
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
            if v.protected:
                raise KernelError(E.EINVAL, f"{name}: guest state is protected")
            struct = IOCTL_STRUCTS[name]
            key = struct
            if name.startswith("KVM_SET_"):
                assert arg
                v.regs[key] = read(arg, sizeof(struct))
            else:
                assert arg
                write(arg, v.regs.get(key, bytes(sizeof(struct))))
            return 0
        if name == "KVM_SET_CPUID2":
            assert arg
            nent = int.from_bytes(read(arg, 4), "little")
            v.cpuid = _read_entries(arg + sizeof("kvm_cpuid2"), nent)
            return 0
        if name == "KVM_SET_TSC_KHZ" and v.vm.type == CONST["KVM_X86_TDX_VM"]:
            raise KernelError(E.EINVAL, "TDX vCPU TSC is protected")
        if name == "KVM_MEMORY_ENCRYPT_OP":
            if v.vm.type != CONST["KVM_X86_TDX_VM"]:
                raise KernelError(E.ENOTTY, "vCPU-scoped memory encryption ops are TDX only")
            return self._tdx_op(call, v.vm, v, arg)
        if name == "KVM_RUN":
            off, size = _field("kvm_run", "exit_reason")
            v.run[off : off + size] = (5).to_bytes(size, "little")  # KVM_EXIT_HLT
            return 0
        raise KernelError(E.ENOTTY, f"{name} on a vCPU fd")


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
