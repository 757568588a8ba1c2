"""The Intel TDX KVM driver: a :class:`pvmkit.launch.Backend` that issues upstream KVM's (≥ 6.16) TD
launch sequence for a :class:`~pvmkit.plan.LaunchPlan` (the plan the MRTD measurer consumes).

Sequence (spec tdx.md §3.3, §7 fact 5)::

    INIT      KVM_CREATE_VM(5); KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP, 24);
              [KVM_ENABLE_CAP(KVM_CAP_X86_APIC_BUS_CYCLES_NS, 40): the 25 MHz crystal of a TD]
              KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE)
              KVM_TDX_CAPABILITIES (cpuid.nent grown on -E2BIG)
              KVM_GET_SUPPORTED_CPUID (/dev/kvm)
              KVM_TDX_INIT_VM(attributes = Init.policy, xfam (TdxParams', or with xfam_from_cpu the
                              host CPU's XSAVE components within supported_xfam) and MR* from
                              TdxParams, CPUID = the
                              configurable leaves of CAPABILITIES filled from the supported CPUID, with
                              0x80000008 EAX[23:16] = GPAW); -EAGAIN retried
    AddVcpu   KVM_CREATE_VCPU → KVM_SET_CPUID2 (x2APIC set) → KVM_TDX_INIT_VCPU(data = rcx)
              [vCPU 0: KVM_TDX_GET_CPUID, the TD's CPUID for the result]
    AddMemory [new region: KVM_CREATE_GUEST_MEMFD, KVM_SET_USER_MEMORY_REGION2,
               KVM_SET_MEMORY_ATTRIBUTES(PRIVATE)]; copy the bytes into the shared view;
              KVM_TDX_INIT_MEM_REGION on vCPU 0's fd, flags = MEASURE for NORMAL pages
              (the struct is updated in place: -EINTR / -EAGAIN are re-issued)
    FINALIZE  KVM_TDX_FINALIZE_VM (-EBUSY retried)

Refused with :class:`~pvmkit.errors.FeatureError` at INIT, before any VM exists where possible:
``PageOrder.TWO_PASS`` (upstream KVM produces only the interleaved order; two-pass exists to predict
legacy stacks), attributes / XFAM outside CAPABILITIES (after the capability query). vCPUs must come
before memory (INIT_MEM_REGION runs on a vCPU fd after every INIT_VCPU): the TDVF builder's order.
TDX module statuses in ``kvm_tdx_cmd.hw_error`` surface as :class:`~pvmkit.errors.TdxModuleError`
named by :func:`pvmkit.uapi.tdx.tdx_status_name`. Register ioctls on the TD's vCPUs raise
:class:`~pvmkit.errors.ProtectedStateError`, as KVM refuses them (tdx.md §3.4).
"""

from __future__ import annotations

import ctypes
import errno as _errno
from dataclasses import dataclass, field

from pvmkit.errors import (
    FeatureError,
    FirmwareError,
    KvmError,
    LaunchStateError,
    LayoutError,
)
from pvmkit.kvm import Kvm, Vcpu, Vm
from pvmkit.kvm.vcpu import cpuid2
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, PageKind, PageOrder, TdxParams, Vendor
from pvmkit.uapi import kvm as _kvm
from pvmkit.uapi import tdx as _tdx
from pvmkit.vendors.driver import MemoryRegion, VmOwner

__all__ = ["CpuidEntry", "TdxCapabilities", "TdxKvmDriver", "TdxLaunchResult", "cpu_xfam", "td_cpuid"]

#: IOAPIC pins for the split irqchip (QEMU's value; TDX allows at most 24).
SPLIT_IRQCHIP_PINS = 24
#: Nanoseconds per APIC bus cycle for a TD: the TDX module virtualises CPUID 0x15 with a 25 MHz core
#: crystal clock, so KVM's APIC timer must tick at 40 ns, not KVM's default 1 ns (QEMU
#: ``target/i386/kvm/tdx.c`` ``tdx_pre_create_vcpu`` sets the same; Linux ``x86.c``
#: ``kvm_vm_ioctl_enable_cap`` takes it before any vCPU, with an irqchip).
TDX_APIC_BUS_CYCLES_NS = 40
_X2APIC = 1 << 21  # CPUID.1:ECX
_GPAW_LEAF = 0x80000008


@dataclass(frozen=True)
class CpuidEntry:
    """One ``kvm_cpuid_entry2``."""

    function: int
    index: int = 0
    flags: int = 0
    eax: int = 0
    ebx: int = 0
    ecx: int = 0
    edx: int = 0

    @classmethod
    def of(cls, e: _kvm.kvm_cpuid_entry2) -> CpuidEntry:
        return cls(
            int(e.function), int(e.index), int(e.flags), int(e.eax), int(e.ebx), int(e.ecx), int(e.edx)
        )

    def to_kvm(self) -> _kvm.kvm_cpuid_entry2:
        return _kvm.kvm_cpuid_entry2(
            function=self.function,
            index=self.index,
            flags=self.flags,
            eax=self.eax,
            ebx=self.ebx,
            ecx=self.ecx,
            edx=self.edx,
        )


@dataclass(frozen=True)
class TdxCapabilities:
    """``KVM_TDX_CAPABILITIES``: supported attributes and XFAM, and the configurable CPUID bits."""

    supported_attrs: int
    supported_xfam: int
    cpuid: tuple[CpuidEntry, ...]


@dataclass
class TdxLaunchResult:
    """What FINALIZE returns: the launched TD (owned by the driver; close the driver to release it)."""

    vm: Vm
    vcpus: tuple[Vcpu, ...]
    attributes: int
    xfam: int
    capabilities: TdxCapabilities
    cpuid: tuple[CpuidEntry, ...] = field(repr=False)  #: what KVM_TDX_INIT_VM was given
    #: the TD's CPUID as the TDX module reports it (``KVM_TDX_GET_CPUID`` after vCPU 0's INIT_VCPU)
    td_cpuid: tuple[CpuidEntry, ...] = field(default=(), repr=False)


def td_cpuid(caps: TdxCapabilities, supported: list[CpuidEntry], gpaw: int = 48) -> list[CpuidEntry]:
    """The CPUID list for ``KVM_TDX_INIT_VM``: one entry per configurable leaf of ``caps`` (the
    configurable bits of KVM_GET_SUPPORTED_CPUID's value), with 0x80000008 EAX[23:16] = ``gpaw``
    (mandatory; tdx.md §3.3). FeatureError if the module does not list 0x80000008."""
    if gpaw not in (48, 52):
        raise FeatureError(f"GPAW must be 48 or 52, not {gpaw}")
    table = {(e.function, e.index): e for e in supported}
    out: list[CpuidEntry] = []
    for mask in caps.cpuid:
        s = table.get((mask.function, mask.index)) or CpuidEntry(mask.function, mask.index)
        e = CpuidEntry(
            mask.function,
            mask.index,
            mask.flags,
            mask.eax & s.eax,
            mask.ebx & s.ebx,
            mask.ecx & s.ecx,
            mask.edx & s.edx,
        )
        if mask.function == _GPAW_LEAF:
            e = CpuidEntry(
                e.function, e.index, e.flags, (s.eax & ~0xFF0000 & 0xFFFFFFFF) | gpaw << 16, 0, 0, 0
            )
        out.append(e)
    if not any(e.function == _GPAW_LEAF for e in out):
        raise FeatureError("the TDX module lists no CPUID 0x80000008 (GPAW) entry; KVM_TDX_INIT_VM needs one")
    return out


class TdxKvmDriver(VmOwner):
    """TDX launch on KVM (module docstring). Drive it with a :class:`~pvmkit.launch.Launcher`; FINALIZE
    returns a :class:`TdxLaunchResult`. The driver owns the TD: use it as a context manager or call
    :meth:`close`."""

    _what = "the TDX driver"

    def __init__(
        self,
        kvm: Kvm | None = None,
        *,
        ram_size: int = 0,
        gpaw: int = 48,
        max_retries: int = 1000,
        max_cpuid_entries: int = 4096,
        xfam_from_cpu: bool = False,
    ) -> None:
        if ram_size < 0 or ram_size % PAGE_SIZE:
            raise LayoutError(f"ram_size {ram_size:#x} is not a multiple of 4 KiB")
        super().__init__(kvm)
        self.ram_size = ram_size
        #: take XFAM from the CPU instead of ``TdxParams.xfam``: the XSAVE components the host's
        #: KVM_GET_SUPPORTED_CPUID enables (leaf 0xD.0 EAX/EDX: XCR0, 0xD.1 ECX/EDX: IA32_XSS) within
        #: CAPABILITIES' ``supported_xfam`` — QEMU's ``setup_td_xfam`` (XCR0 | XSS feature words of
        #: ``-cpu host``, the only CPU model QEMU allows for a TD, filtered by what the TDX module supports)
        self.xfam_from_cpu = xfam_from_cpu
        self._xfam = 0
        self.gpaw = gpaw
        self.max_retries = max_retries
        self.max_cpuid_entries = max_cpuid_entries
        self._caps: TdxCapabilities | None = None
        self._cpuid: list[CpuidEntry] = []
        self._vcpu_cpuid: list[CpuidEntry] = []
        self._td_cpuid: tuple[CpuidEntry, ...] = ()
        self._memory_added = False

    # -- lifetime ----------------------------------------------------------------------------------

    # -- sub-commands ------------------------------------------------------------------------------
    @staticmethod
    def _cmd(cmd_id: int, data: int = 0, flags: int = 0) -> _tdx.kvm_tdx_cmd:
        return _tdx.kvm_tdx_cmd(id=cmd_id, flags=flags, data=data, hw_error=0)

    def _retry(self, target: Vm | Vcpu, cmd_id: int, data: int, flags: int, retry: tuple[int, ...]) -> None:
        """Issue a sub-command with a fresh ``kvm_tdx_cmd`` (``hw_error`` 0 on input) each time,
        re-issuing kernel errors in ``retry`` up to ``max_retries`` times (EINTR is re-issued by
        pvmkit.kvm)."""
        name = _tdx.kvm_tdx_cmd_id(cmd_id).name
        for attempt in range(self.max_retries + 1):
            try:
                target.memory_encrypt_op(self._cmd(cmd_id, data, flags), name=name)
                return
            except KvmError as exc:
                if isinstance(exc, FirmwareError) or exc.errno not in retry or attempt == self.max_retries:
                    raise

    # -- INIT --------------------------------------------------------------------------------------
    def init(self, op: Init) -> None:
        if self._init is not None:
            raise LaunchStateError("this TDX driver was already initialized")
        if op.vendor is not Vendor.TDX:
            raise FeatureError(f"the TDX KVM driver launches tdx guests, not {op.vendor.value}")
        params = op.tdx if op.tdx is not None else TdxParams()
        if params.order is PageOrder.TWO_PASS:
            raise FeatureError(
                "PageOrder.TWO_PASS cannot be produced by upstream KVM (KVM_TDX_INIT_MEM_REGION extends each "
                "page right after adding it: the interleaved order); two-pass only predicts legacy stacks"
            )
        if op.effective_vm_type != _kvm.KVM_X86_TDX_VM:
            raise FeatureError(f"a TD needs VM type {_kvm.KVM_X86_TDX_VM}, not {op.effective_vm_type}")
        if not 0 <= op.policy < 1 << 64 or not 0 <= params.xfam < 1 << 64:
            raise FeatureError("TD attributes and XFAM are 64-bit values")
        if self.gpaw not in (48, 52):
            raise FeatureError(f"GPAW must be 48 or 52, not {self.gpaw}")
        kvm = self._open_kvm()
        self._vm = vm = kvm.create_vm(_kvm.KVM_X86_TDX_VM)
        vm.enable_cap(_kvm.KVM_CAP_SPLIT_IRQCHIP, SPLIT_IRQCHIP_PINS)
        if vm.check_extension(_kvm.KVM_CAP_X86_APIC_BUS_CYCLES_NS):  # Linux >= 6.11
            vm.enable_cap(_kvm.KVM_CAP_X86_APIC_BUS_CYCLES_NS, TDX_APIC_BUS_CYCLES_NS)
        vm.enable_cap(_kvm.KVM_CAP_EXIT_HYPERCALL, 1 << _kvm.KVM_HC_MAP_GPA_RANGE)  # MapGPA (§3.3 step 1)
        caps = self._caps = self._capabilities(vm)
        if op.policy & ~caps.supported_attrs:
            raise FeatureError(
                f"TD attributes {op.policy:#x} have bit(s) {op.policy & ~caps.supported_attrs:#x} outside "
                f"KVM_TDX_CAPABILITIES.supported_attrs {caps.supported_attrs:#x}"
            )
        supported = [CpuidEntry.of(e) for e in kvm.get_supported_cpuid()]
        xfam = self._xfam = cpu_xfam(supported) & caps.supported_xfam if self.xfam_from_cpu else params.xfam
        if xfam & ~caps.supported_xfam:
            raise FeatureError(
                f"XFAM {xfam:#x} has bit(s) {xfam & ~caps.supported_xfam:#x} outside "
                f"KVM_TDX_CAPABILITIES.supported_xfam {caps.supported_xfam:#x}"
            )
        self._cpuid = td_cpuid(caps, supported, self.gpaw)
        self._vcpu_cpuid = _with_x2apic(supported)
        n = len(self._cpuid)
        init = _tdx.kvm_tdx_init_vm_with(n)(attributes=op.policy, xfam=xfam)
        for name in ("mrconfigid", "mrowner", "mrownerconfig"):
            ctypes.memmove(getattr(init, name), getattr(params, name), 48)
        init.cpuid.nent = n
        for i, e in enumerate(self._cpuid):
            init.entries[i] = e.to_kvm()
        self._retry(vm, _tdx.KVM_TDX_INIT_VM, ctypes.addressof(init), 0, (_errno.EAGAIN,))
        self._init = op
        if self.ram_size:
            self._new_region(0, self.ram_size)

    def _capabilities(self, vm: Vm) -> TdxCapabilities:
        """``KVM_TDX_CAPABILITIES``, doubling ``cpuid.nent`` from 6 on -E2BIG (as QEMU does)."""
        n = 6
        while True:
            caps = _tdx.kvm_tdx_capabilities_with(n)()
            caps.cpuid.nent = n
            try:
                vm.memory_encrypt_op(
                    self._cmd(_tdx.KVM_TDX_CAPABILITIES, ctypes.addressof(caps)), name="KVM_TDX_CAPABILITIES"
                )
            except KvmError as exc:
                if isinstance(exc, FirmwareError) or exc.errno != _errno.E2BIG or n >= self.max_cpuid_entries:
                    raise
                n *= 2
                continue
            count = min(int(caps.cpuid.nent), n)
            return TdxCapabilities(
                int(caps.supported_attrs),
                int(caps.supported_xfam),
                tuple(CpuidEntry.of(caps.entries[i]) for i in range(count)),
            )

    # -- vCPUs -------------------------------------------------------------------------------------
    def add_vcpu(self, op: AddVcpu) -> None:
        self._state("ADD vCPU")
        if self._memory_added:
            raise LayoutError(
                f"vCPU {op.index} added after memory: KVM_TDX_INIT_MEM_REGION runs after every vCPU's "
                "KVM_TDX_INIT_VCPU, so a TDX plan adds its vCPUs first"
            )
        vcpu = self.vm.create_vcpu(op.index)
        self._vcpus.append(vcpu)
        vcpu.set_cpuid2(e.to_kvm() for e in self._vcpu_cpuid)
        self._retry(vcpu, _tdx.KVM_TDX_INIT_VCPU, op.rcx, 0, ())
        if len(self._vcpus) == 1:
            self._td_cpuid = self.get_td_cpuid(vcpu)

    def get_td_cpuid(self, vcpu: Vcpu) -> tuple[CpuidEntry, ...]:
        """``KVM_TDX_GET_CPUID`` on ``vcpu``: the TD's CPUID as the TDX module virtualises it (between
        INIT_VM and FINALIZE_VM; the kernel refuses it afterwards). ``nent`` starts at
        KVM_MAX_CPUID_ENTRIES (256) and follows the count the kernel writes back with -E2BIG (Linux
        ``tdx.c`` ``tdx_vcpu_get_cpuid``; QEMU's ``tdx_fetch_cpuid`` does the same)."""
        n = 256
        for _ in range(4):
            buf = cpuid2([_kvm.kvm_cpuid_entry2()] * n)
            try:
                vcpu.memory_encrypt_op(
                    self._cmd(_tdx.KVM_TDX_GET_CPUID, ctypes.addressof(buf)), name="KVM_TDX_GET_CPUID"
                )
            except KvmError as exc:
                if isinstance(exc, FirmwareError) or exc.errno != _errno.E2BIG or int(buf.nent) <= n:
                    raise
                n = min(int(buf.nent), self.max_cpuid_entries)
                continue
            count = min(int(buf.nent), n)
            return tuple(CpuidEntry.of(buf.entries[i]) for i in range(count))
        raise KvmError("KVM_TDX_GET_CPUID", _errno.E2BIG, "the entry count kept growing")

    # -- memory ------------------------------------------------------------------------------------
    def _new_region(self, gpa: int, size: int) -> MemoryRegion:
        vm = self.vm
        gmem = vm.create_guest_memfd(size)
        mem = vm.add_memory(len(self._regions), gpa, size, guest_memfd=gmem)
        vm.set_memory_attributes(gpa, size, _kvm.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        region = MemoryRegion(mem)
        self._regions.append(region)
        return region

    def add_memory(self, op: AddMemory) -> None:
        self._state("ADD memory")
        where = f"{op.label or 'memory'} at {op.gpa:#x}"
        if op.page_digests is not None:
            raise LayoutError(f"{where}: a KVM launch loads pages, it needs their contents (not digests)")
        if op.kind not in (PageKind.NORMAL, PageKind.UNMEASURED, PageKind.ZERO):
            raise LayoutError(f"{where}: {op.kind.value} pages do not exist on TDX")
        if not self._vcpus:
            raise LayoutError(f"{where}: KVM_TDX_INIT_MEM_REGION needs a vCPU fd: add the vCPUs first")
        self._memory_added = True
        region = self._region_for(op)
        if op.data is not None:
            region.mem.write(op.gpa, op.data)
        flags = _tdx.KVM_TDX_MEASURE_MEMORY_REGION if op.kind is PageKind.NORMAL else 0
        source = region.mem.host_addr + (op.gpa - region.mem.gpa)
        mem = _tdx.kvm_tdx_init_mem_region(source_addr=source, gpa=op.gpa, nr_pages=op.pages)
        vcpu = self._vcpus[0]
        stalls = 0
        while mem.nr_pages:
            before = int(mem.nr_pages)
            try:
                vcpu.memory_encrypt_op(
                    self._cmd(_tdx.KVM_TDX_INIT_MEM_REGION, ctypes.addressof(mem), flags),
                    name="KVM_TDX_INIT_MEM_REGION",
                )
            except KvmError as exc:
                if isinstance(exc, FirmwareError) or exc.errno not in (_errno.EAGAIN, _errno.EINTR):
                    raise
            stalls = stalls + 1 if int(mem.nr_pages) == before else 0
            if stalls > self.max_retries:
                raise KvmError(
                    "KVM_TDX_INIT_MEM_REGION",
                    _errno.EAGAIN,
                    f"no progress at {int(mem.gpa):#x} after {self.max_retries} retries",
                )

    # -- FINALIZE ----------------------------------------------------------------------------------
    def finalize(self, op: Finalize) -> TdxLaunchResult:
        init = self._state("FINALIZE")
        self._retry(self.vm, _tdx.KVM_TDX_FINALIZE_VM, 0, 0, (_errno.EBUSY,))
        self._finalized = True
        assert self._caps is not None
        return TdxLaunchResult(
            vm=self.vm,
            vcpus=tuple(self._vcpus),
            attributes=init.policy,
            xfam=self._xfam,
            capabilities=self._caps,
            cpuid=tuple(self._cpuid),
            td_cpuid=self._td_cpuid,
        )


def cpu_xfam(cpuid: list[CpuidEntry]) -> int:
    """The XSAVE feature mask a CPUID enables: CPUID.(EAX=0xD, ECX=0) EDX:EAX (the XCR0 components)
    | CPUID.(EAX=0xD, ECX=1) EDX:ECX (the IA32_XSS components) (Intel SDM vol. 1 §13.2)."""
    leaves = {(e.function, e.index): e for e in cpuid}
    xcr0, xss = leaves.get((0xD, 0)), leaves.get((0xD, 1))
    mask = (xcr0.edx << 32 | xcr0.eax) if xcr0 else 0
    return mask | ((xss.edx << 32 | xss.ecx) if xss else 0)


def _with_x2apic(entries: list[CpuidEntry]) -> list[CpuidEntry]:
    """The vCPU's CPUID for ``KVM_SET_CPUID2``: the supported CPUID with x2APIC (CPUID.1:ECX[21]) set,
    which ``KVM_TDX_INIT_VCPU`` needs (tdx.md §3.3 step 5)."""
    out = []
    seen = False
    for e in entries:
        if e.function == 1:
            seen = True
            e = CpuidEntry(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx | _X2APIC, e.edx)
        out.append(e)
    if not seen:
        out.append(CpuidEntry(1, ecx=_X2APIC))
    return out
