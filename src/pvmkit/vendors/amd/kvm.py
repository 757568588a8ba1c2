"""The AMD SEV / SEV-ES / SEV-SNP KVM driver: a :class:`pvmkit.launch.Backend` that issues the kernel's
launch sequence for a :class:`~pvmkit.plan.LaunchPlan` (the same plan the measurers consume).

Sequence (spec amd.md §5.4–§5.7, canonical lifecycle in §5.7; §10 fact 5)::

    SEV / SEV-ES                                     SNP
    KVM_CREATE_VM(0 legacy | 2 | 3)                  KVM_CREATE_VM(4)
    [tsc_khz: KVM_SET_TSC_KHZ on the VM fd]          [tsc_khz: KVM_SET_TSC_KHZ on the VM fd (SecureTSC)]
                                                     KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, MAP_GPA_RANGE)
    KVM_SEV_INIT / KVM_SEV_ES_INIT | KVM_SEV_INIT2   KVM_SEV_INIT2
    KVM_SEV_LAUNCH_START(policy) → handle            KVM_SEV_SNP_LAUNCH_START(policy)
    per AddMemory:                                   per AddMemory:
      [new region: KVM_SET_USER_MEMORY_REGION          [new region: KVM_CREATE_GUEST_MEMFD,
       + KVM_MEMORY_ENCRYPT_REG_REGION]                 KVM_SET_USER_MEMORY_REGION2,
      copy the bytes into guest memory                  KVM_SET_MEMORY_ATTRIBUTES(PRIVATE)]
      KVM_SEV_LAUNCH_UPDATE_DATA(data_span)            copy the bytes, KVM_SEV_SNP_LAUNCH_UPDATE
                                                        (loop until len == 0, retry -EAGAIN)
    per AddVcpu: KVM_CREATE_VCPU, registers          per AddVcpu: KVM_CREATE_VCPU, registers
      from the VMSA (SEV-ES)                            from the VMSA
    FINALIZE: [ES: KVM_SEV_LAUNCH_UPDATE_VMSA],      FINALIZE: KVM_SEV_SNP_LAUNCH_FINISH
      KVM_SEV_LAUNCH_MEASURE (length, then blob),      (ID block, ID auth, host data)
      KVM_SEV_LAUNCH_FINISH (finish=False: later,
      after any launch_secret(), by launch_finish())

INIT refuses, with :class:`~pvmkit.errors.FeatureError` and before any VM exists, what the host or the
init path cannot take: legacy init with VMSA features, an INIT2 VM type other than the vendor's, an
SEV-ES policy without the ES bit,
VMSA features outside ``KVM_X86_SEV_VMSA_FEATURES`` (read on /dev/kvm), SNP policies without bit 17
or outside ``KVM_X86_SNP_POLICY_BITS``. SNPActive is stripped from ``vmsa_features`` (KVM adds it
for SNP and refuses it in INIT2). Firmware refusals surface as
:class:`~pvmkit.errors.SevFirmwareError` with the ``SEV_RET_*`` name (``pvmkit.kvm`` maps
``kvm_sev_cmd.error``); kernel refusals as :class:`~pvmkit.errors.KvmError` with the sub-command's name.

Guest memory: each AddMemory lands in a region the driver already created (``ram_size`` gives one at
GPA 0 at INIT) or in a new region covering exactly the op. SEV/SEV-ES regions are pinned with
``KVM_MEMORY_ENCRYPT_REG_REGION``; SNP regions are guest_memfd-backed and made private. ``ZERO`` and
``UNMEASURED`` pages of a SEV/SEV-ES plan are copied but not encrypted.

:meth:`AmdKvmDriver.platform_status` asks the firmware for ``SEV_PLATFORM_STATUS`` (``SEV_ISSUE_CMD``
on the driver's ``/dev/sev`` fd): the API version and build that the LAUNCH_MEASURE HMAC covers.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from dataclasses import dataclass, field, replace

from pvmkit.errors import (
    CapabilityError,
    FeatureError,
    FirmwareError,
    KvmError,
    LaunchStateError,
    LayoutError,
    SevFirmwareError,
)
from pvmkit.features import SevFeature
from pvmkit.kvm import DeviceFd, Kvm, Vcpu, Vm
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, InitPath, PageKind, Vendor
from pvmkit.uapi import kvm as _kvm
from pvmkit.uapi import psp_sev as _psp
from pvmkit.uapi import sev as _sev
from pvmkit.uapi.psp_sev import sev_ret_code, sev_ret_name
from pvmkit.vendors.amd.cpu_state import decode_cpu_state
from pvmkit.vendors.amd.vmsa import parse_vmsa
from pvmkit.vendors.driver import MemoryRegion, VmOwner, load_cpu_state

__all__ = [
    "DEFAULT_SEV_PATH",
    "SNP_PAGE_TYPES",
    "AmdKvmDriver",
    "AmdLaunchResult",
    "SevPlatformStatus",
    "load_vmsa_registers",
]

DEFAULT_SEV_PATH = "/dev/sev"

#: PageKind → ``KVM_SEV_SNP_PAGE_TYPE_*`` (``kvm_sev_snp_launch_update.type``; amd.md §4.1).
SNP_PAGE_TYPES: dict[PageKind, int] = {
    PageKind.NORMAL: _sev.KVM_SEV_SNP_PAGE_TYPE_NORMAL,
    PageKind.ZERO: _sev.KVM_SEV_SNP_PAGE_TYPE_ZERO,
    PageKind.UNMEASURED: _sev.KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
    PageKind.SECRETS: _sev.KVM_SEV_SNP_PAGE_TYPE_SECRETS,
    PageKind.CPUID: _sev.KVM_SEV_SNP_PAGE_TYPE_CPUID,
}

_AMD_VENDORS = (Vendor.SEV, Vendor.SEV_ES, Vendor.SNP)  # their VM types: VendorSpec.vm_type
_LEGACY_INIT = {Vendor.SEV: "KVM_SEV_INIT", Vendor.SEV_ES: "KVM_SEV_ES_INIT", Vendor.SNP: "-"}
_SNP_POLICY_RESERVED1 = 1 << 17
_SEV_POLICY_ES = 1 << 2  # amd.md §2.2


@dataclass
class AmdLaunchResult:
    """What FINALIZE returns: the launched VM (owned by the driver; close the driver to release it)."""

    vendor: Vendor
    vm: Vm
    vcpus: tuple[Vcpu, ...]
    policy: int
    #: SEV/SEV-ES: the 48-byte LAUNCH_MEASURE blob ``MEASURE(32) || MNONCE(16)`` (amd.md §2.2; check
    #: it with :func:`pvmkit.vendors.amd.launch_blob.check_launch_measure`). SNP: None.
    measurement: bytes | None = None
    handle: int | None = None  #: SEV/SEV-ES firmware guest handle from LAUNCH_START
    host_data: bytes = field(default=bytes(32), repr=False)


@dataclass(frozen=True)
class SevPlatformStatus:
    """``SEV_PLATFORM_STATUS`` (``struct sev_user_data_status``): the API version and firmware build
    that a LAUNCH_MEASURE blob's HMAC covers (amd.md §2.2), the platform state and guest count."""

    api_major: int
    api_minor: int
    build: int
    state: int
    flags: int
    guest_count: int


class AmdKvmDriver(VmOwner):
    """SEV / SEV-ES / SNP launch on KVM (module docstring). Drive it with a
    :class:`~pvmkit.launch.Launcher`; FINALIZE returns an :class:`AmdLaunchResult`. The driver owns
    the VM: use it as a context manager or call :meth:`close`."""

    _what = "the AMD driver"

    def __init__(
        self,
        kvm: Kvm | None = None,
        *,
        sev_path: str = DEFAULT_SEV_PATH,
        ram_size: int = 0,
        max_retries: int = 1000,
        tsc_khz: int | None = None,
        finish: bool = True,
    ) -> None:
        if ram_size < 0 or ram_size % PAGE_SIZE:
            raise LayoutError(f"ram_size {ram_size:#x} is not a multiple of 4 KiB")
        if tsc_khz is not None and not 0 < tsc_khz < 1 << 32:
            raise FeatureError(f"tsc_khz {tsc_khz} is not a frequency in kHz (1 .. 2**32-1)")
        super().__init__(kvm)
        self.sev_path = sev_path
        #: the guest's TSC frequency: ``KVM_SET_TSC_KHZ`` on the VM fd before any vCPU; with SecureTSC
        #: (SNP) the kernel passes it to the firmware as SNP_LAUNCH_START's ``desired_tsc_khz``
        #: (Linux ``sev.c`` ``snp_launch_start``). None: the host's frequency, the kernel's default.
        self.tsc_khz = tsc_khz
        #: SEV/SEV-ES: False stops FINALIZE after LAUNCH_MEASURE (the guest in the firmware state
        #: LSECRET), so the guest owner can check the measurement and :meth:`launch_secret` can inject
        #: a secret before :meth:`launch_finish` (QEMU's order: MEASURE at machine-done, FINISH at run)
        self.finish = finish
        self._finished = False
        self.ram_size = ram_size
        self.max_retries = max_retries
        self._sev: DeviceFd | None = None
        self._handle: int | None = None

    # -- lifetime ----------------------------------------------------------------------------------
    def _release(self) -> None:
        """close() closes the VM, then /dev/sev here, then (if the driver opened it) /dev/kvm."""
        sev, self._sev = self._sev, None
        if sev is not None:
            sev.close()

    def platform_status(self) -> SevPlatformStatus:
        """``SEV_ISSUE_CMD(SEV_PLATFORM_STATUS)`` on the driver's ``/dev/sev`` fd (open from INIT until
        :meth:`close`). SevFirmwareError with the ``SEV_RET_*`` name if the firmware refuses, KvmError
        for a kernel error; LaunchStateError before INIT."""
        if self._sev is None:
            raise LaunchStateError(
                "SEV_PLATFORM_STATUS needs the driver's /dev/sev (after INIT, before close)"
            )
        status = _psp.sev_user_data_status()
        issue = _psp.sev_issue_cmd(cmd=_psp.SEV_PLATFORM_STATUS, data=ctypes.addressof(status), error=0)
        while True:
            rc, err = self._sev.ioctl_raw(_psp.SEV_ISSUE_CMD, issue)
            if rc >= 0:
                break
            if err != _errno.EINTR:
                fw = int(issue.error)
                if fw:
                    raise SevFirmwareError("SEV_PLATFORM_STATUS", err, fw, sev_ret_name(fw))
                raise KvmError("SEV_ISSUE_CMD(SEV_PLATFORM_STATUS)", err)
        return SevPlatformStatus(
            api_major=int(status.api_major),
            api_minor=int(status.api_minor),
            build=int(status.build),
            state=int(status.state),
            flags=int(status.flags),
            guest_count=int(status.guest_count),
        )

    # -- sub-commands ------------------------------------------------------------------------------
    def _op(self, cmd_id: int, data: ctypes.Structure | None = None) -> ctypes.Structure:
        """One ``KVM_MEMORY_ENCRYPT_OP`` with a fresh ``kvm_sev_cmd`` (``data`` kept alive by the caller)."""
        assert self._sev is not None
        cmd = _sev.kvm_sev_cmd(
            id=cmd_id,
            data=ctypes.addressof(data) if data is not None else 0,
            sev_fd=self._sev.fileno(),
        )
        self.vm.memory_encrypt_op(cmd, name=_sev.sev_cmd_id(cmd_id).name)
        return cmd

    # -- INIT --------------------------------------------------------------------------------------
    def _check_host(self, kvm: Kvm, op: Init, features: int, vm_type: int) -> None:
        """Refuse what this host cannot take, before anything is created (FeatureError)."""
        if not kvm.vm_types() >> vm_type & 1:
            return  # create_vm raises CapabilityError with KVM's own mask
        if op.init_path is InitPath.INIT2 and op.vendor is not Vendor.SEV and features:
            supported = 0
            if kvm.check_extension(_kvm.KVM_CAP_SYS_ATTRIBUTES) and kvm.has_device_attr(
                _sev.KVM_X86_GRP_SEV, _sev.KVM_X86_SEV_VMSA_FEATURES
            ):
                supported = kvm.get_device_attr(_sev.KVM_X86_GRP_SEV, _sev.KVM_X86_SEV_VMSA_FEATURES)
            if features & ~supported:
                raise FeatureError(
                    f"vmsa_features {features:#x} has bit(s) {features & ~supported:#x} this host's KVM does "
                    f"not support (KVM_X86_SEV_VMSA_FEATURES = {supported:#x}); refused before KVM_SEV_INIT2"
                )
        if op.vendor is Vendor.SNP:
            if not op.policy & _SNP_POLICY_RESERVED1:
                raise FeatureError(f"SNP policy {op.policy:#x} lacks bit 17 (reserved, must be 1)")
            if kvm.check_extension(_kvm.KVM_CAP_SYS_ATTRIBUTES) and kvm.has_device_attr(
                _sev.KVM_X86_GRP_SEV, _sev.KVM_X86_SNP_POLICY_BITS
            ):
                bits = kvm.get_device_attr(_sev.KVM_X86_GRP_SEV, _sev.KVM_X86_SNP_POLICY_BITS)
                if op.policy & ~bits:
                    raise FeatureError(
                        f"SNP policy {op.policy:#x} has bit(s) {op.policy & ~bits:#x} outside this host's "
                        f"KVM_X86_SNP_POLICY_BITS {bits:#x}"
                    )

    def init(self, op: Init) -> None:
        if self._init is not None:
            raise LaunchStateError("this AMD driver was already initialized")
        if op.vendor not in _AMD_VENDORS:
            raise FeatureError(
                f"the AMD KVM driver launches sev, sev-es and snp guests, not {op.vendor.value}"
            )
        vm_type = op.effective_vm_type
        features = op.vmsa_features & ~int(SevFeature.SNP_ACTIVE)
        if op.init_path is InitPath.LEGACY:
            if vm_type != _kvm.KVM_X86_DEFAULT_VM:
                raise FeatureError(
                    "legacy KVM_SEV_INIT/KVM_SEV_ES_INIT run only on KVM_X86_DEFAULT_VM (type 0)"
                )
            if features:
                raise FeatureError(
                    f"legacy {_LEGACY_INIT[op.vendor]} cannot set "
                    f"vmsa_features {features:#x} (Linux ≥ 6.10 always uses 0); use init2"
                )
        elif vm_type != op.vendor.spec.vm_type:
            raise FeatureError(
                f"KVM_SEV_INIT2 for {op.vendor.value} needs VM type {op.vendor.spec.vm_type}, not {vm_type}"
            )
        if op.vendor is not Vendor.SNP and not 0 <= op.policy < 1 << 32:
            raise FeatureError(f"{op.vendor.value} policy {op.policy:#x} does not fit in 32 bits")
        if op.vendor is Vendor.SEV_ES and not op.policy & _SEV_POLICY_ES:
            raise FeatureError(f"SEV-ES needs the ES bit (bit 2) in the guest policy, got {op.policy:#x}")
        kvm = self._open_kvm()
        self._check_host(kvm, op, features, vm_type)
        self._vm = kvm.create_vm(vm_type)
        if self.tsc_khz is not None:
            self._vm.set_tsc_khz(self.tsc_khz)
        if op.vendor is Vendor.SNP:
            # guest page-state changes (MapGPA) exit to userspace, which flips the attributes (§5.7)
            self._vm.enable_cap(_kvm.KVM_CAP_EXIT_HYPERCALL, 1 << _kvm.KVM_HC_MAP_GPA_RANGE)
        try:
            self._sev = DeviceFd.open(self.sev_path)
        except KvmError as exc:
            raise CapabilityError(
                exc.op, exc.errno, f"{os.strerror(exc.errno)}: launch commands need the SEV firmware device"
            ) from None
        self._init = op
        if op.init_path is InitPath.LEGACY:
            self._op(_sev.KVM_SEV_ES_INIT if op.vendor is Vendor.SEV_ES else _sev.KVM_SEV_INIT)
        else:
            params = _sev.kvm_sev_init(vmsa_features=features, flags=0, ghcb_version=op.ghcb_version)
            self._op(_sev.KVM_SEV_INIT2, params)
        if self.ram_size:
            self._new_region(0, self.ram_size)
        if op.vendor is Vendor.SNP:
            start = _sev.kvm_sev_snp_launch_start(policy=op.policy)
            self._op(_sev.KVM_SEV_SNP_LAUNCH_START, start)
        else:
            legacy_start = _sev.kvm_sev_launch_start(handle=0, policy=op.policy)
            self._op(_sev.KVM_SEV_LAUNCH_START, legacy_start)
            self._handle = int(legacy_start.handle)

    # -- memory ------------------------------------------------------------------------------------
    def _new_region(self, gpa: int, size: int) -> MemoryRegion:
        vm = self.vm
        slot = len(self._regions)
        if self._init is not None and self._init.vendor is Vendor.SNP:
            gmem = vm.create_guest_memfd(size)
            mem = vm.add_memory(slot, gpa, size, guest_memfd=gmem)
            vm.set_memory_attributes(gpa, size, _kvm.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        else:
            mem = vm.add_memory(slot, gpa, size)
            vm.memory_encrypt_reg_region(mem.host_addr, size)
        region = MemoryRegion(mem)
        self._regions.append(region)
        return region

    def add_memory(self, op: AddMemory) -> None:
        init = self._state("ADD memory")
        where = f"{op.label or 'memory'} at {op.gpa:#x}"
        if op.page_digests is not None:
            raise LayoutError(f"{where}: a KVM launch loads pages, it needs their contents (not digests)")
        ptype: int | None = None
        if init.vendor is Vendor.SNP:
            ptype = SNP_PAGE_TYPES.get(op.kind)
            if ptype is None:
                raise LayoutError(
                    f"{where}: {op.kind.value} pages cannot be added on SNP (KVM adds VMSAs itself)"
                )
        elif op.kind not in (PageKind.NORMAL, PageKind.ZERO, PageKind.UNMEASURED):
            raise LayoutError(f"{where}: {op.kind.value} pages exist only on SNP")
        region = self._region_for(op)
        if op.data is not None:
            region.mem.write(op.gpa, op.data)
        if init.vendor is Vendor.SNP:
            assert ptype is not None
            self._snp_update(op, region, ptype)
        elif op.kind is PageKind.NORMAL:
            off, length = op.data_span if op.data_span is not None else (0, op.size)
            update = _sev.kvm_sev_launch_update_data(uaddr=region.uaddr(op.gpa + off), len=length)
            self._op(_sev.KVM_SEV_LAUNCH_UPDATE_DATA, update)

    def _snp_update(self, op: AddMemory, region: MemoryRegion, ptype: int) -> None:
        """SNP_LAUNCH_UPDATE until the kernel has consumed the whole range (it advances ``gfn_start``,
        ``uaddr`` and ``len``; amd.md §5.7), retrying -EAGAIN and no-progress returns up to
        ``max_retries`` times."""
        update = _sev.kvm_sev_snp_launch_update(
            gfn_start=op.gpa // PAGE_SIZE, uaddr=region.uaddr(op.gpa), len=op.size, type=ptype
        )
        stalls = 0
        while update.len:
            before = (int(update.gfn_start), int(update.len))
            try:
                self._op(_sev.KVM_SEV_SNP_LAUNCH_UPDATE, update)
            except KvmError as exc:
                if isinstance(exc, FirmwareError) or exc.errno != _errno.EAGAIN:
                    raise
            if (int(update.gfn_start), int(update.len)) == before:
                stalls += 1
                if stalls > self.max_retries:
                    raise KvmError(
                        "KVM_SEV_SNP_LAUNCH_UPDATE",
                        _errno.EAGAIN,
                        f"no progress at gfn {before[0]:#x} after {self.max_retries} retries",
                    )
            else:
                stalls = 0

    # -- vCPUs -------------------------------------------------------------------------------------
    def add_vcpu(self, op: AddVcpu) -> None:
        init = self._state("ADD vCPU")
        if init.vendor.has_vmsa:
            fields = parse_vmsa(op.state)
            if fields["sev_features"] != init.sev_features:
                raise FeatureError(
                    f"vCPU {op.index}: VMSA SEV_FEATURES {fields['sev_features']:#x} differs from INIT's "
                    f"{init.sev_features:#x} (KVM writes INIT's features into every VMSA)"
                )
        vcpu = self.vm.create_vcpu(op.index)
        self._vcpus.append(vcpu)
        if init.vendor.has_vmsa:
            load_vmsa_registers(vcpu, op.state)

    # -- FINALIZE ----------------------------------------------------------------------------------
    def finalize(self, op: Finalize) -> AmdLaunchResult:
        init = self._state("FINALIZE")
        measurement: bytes | None = None
        if init.vendor is Vendor.SNP:
            self._snp_finish(op)
            self._finished = True
        else:
            if init.vendor is Vendor.SEV_ES:
                self._op(_sev.KVM_SEV_LAUNCH_UPDATE_VMSA)
            measurement = self._launch_measure()
            if self.finish:
                self._op(_sev.KVM_SEV_LAUNCH_FINISH)
                self._finished = True
        self._finalized = True
        return AmdLaunchResult(
            vendor=init.vendor,
            vm=self.vm,
            vcpus=tuple(self._vcpus),
            policy=init.policy,
            measurement=measurement,
            handle=self._handle,
            host_data=op.host_data,
        )

    def _measured(self, what: str) -> Init:
        """INIT's op for a call between LAUNCH_MEASURE and LAUNCH_FINISH (``finish=False``)."""
        init = self._init
        if init is None or not self._finalized:
            raise LaunchStateError(f"{what} before FINALIZE's LAUNCH_MEASURE")
        if init.vendor is Vendor.SNP:
            raise FeatureError(f"{what} is a SEV/SEV-ES command (SNP guests get secrets through attestation)")
        if self._finished:
            raise LaunchStateError(f"{what} after LAUNCH_FINISH (create the driver with finish=False)")
        return init

    def launch_secret(self, header: bytes, secret: bytes, gpa: int) -> None:
        """``KVM_SEV_LAUNCH_SECRET``: the guest owner's packet header (FLAGS, IV, MAC; SEV API
        LAUNCH_SECRET) and encrypted secret, decrypted by the firmware into guest memory at ``gpa``
        (e.g. OVMF's launch-secret area, ``4c2eb361-…`` in its GUID table). Only between FINALIZE's
        LAUNCH_MEASURE and :meth:`launch_finish` of a driver made with ``finish=False``."""
        self._measured("LAUNCH_SECRET")
        if not header or not secret:
            raise LayoutError("LAUNCH_SECRET needs a packet header and a secret")
        region = next((r for r in self._regions if r.mem.gpa <= gpa and gpa + len(secret) <= r.mem.end), None)
        if region is None:
            raise LayoutError(f"LAUNCH_SECRET at {gpa:#x}+{len(secret):#x} is not in the guest's memory")
        hdr = (ctypes.c_uint8 * len(header)).from_buffer_copy(header)
        data = (ctypes.c_uint8 * len(secret)).from_buffer_copy(secret)
        params = _sev.kvm_sev_launch_secret(
            hdr_uaddr=ctypes.addressof(hdr),
            hdr_len=len(header),
            guest_uaddr=region.uaddr(gpa),
            guest_len=len(secret),
            trans_uaddr=ctypes.addressof(data),
            trans_len=len(secret),
        )
        self._op(_sev.KVM_SEV_LAUNCH_SECRET, params)
        del hdr, data

    def launch_finish(self) -> None:
        """``KVM_SEV_LAUNCH_FINISH`` for a driver made with ``finish=False``."""
        self._measured("LAUNCH_FINISH")
        self._op(_sev.KVM_SEV_LAUNCH_FINISH)
        self._finished = True

    def _launch_measure(self) -> bytes:
        """LAUNCH_MEASURE: ask for the length (``len`` 0: the kernel fills it in; the firmware answers
        SEV_RET_INVALID_LEN, which QEMU ignores too), then fetch the blob (amd.md §5.4)."""
        query = _sev.kvm_sev_launch_measure(uaddr=0, len=0)
        try:
            self._op(_sev.KVM_SEV_LAUNCH_MEASURE, query)
        except SevFirmwareError as exc:
            if exc.fw_code != int(sev_ret_code.SEV_RET_INVALID_LEN) or not query.len:
                raise
        length = int(query.len)
        if not length:
            raise KvmError("KVM_SEV_LAUNCH_MEASURE", _errno.EIO, "the kernel reported no blob length")
        buf = (ctypes.c_uint8 * length)()
        measure = _sev.kvm_sev_launch_measure(uaddr=ctypes.addressof(buf), len=length)
        self._op(_sev.KVM_SEV_LAUNCH_MEASURE, measure)
        return bytes(buf[: min(int(measure.len), length)])

    def _snp_finish(self, op: Finalize) -> None:
        finish = _sev.kvm_sev_snp_launch_finish()
        id_block = id_auth = None  # kept alive until the ioctl returns
        if op.id_block is not None and op.id_auth is not None:
            id_block = (ctypes.c_uint8 * _sev.KVM_SEV_SNP_ID_BLOCK_SIZE).from_buffer_copy(op.id_block)
            id_auth = (ctypes.c_uint8 * _sev.KVM_SEV_SNP_ID_AUTH_SIZE).from_buffer_copy(op.id_auth)
            finish.id_block_uaddr = ctypes.addressof(id_block)
            finish.id_auth_uaddr = ctypes.addressof(id_auth)
            finish.id_block_en = 1
            finish.auth_key_en = 1 if op.auth_key_en else 0
        ctypes.memmove(finish.host_data, op.host_data, _sev.KVM_SEV_SNP_FINISH_DATA_SIZE)
        self._op(_sev.KVM_SEV_SNP_LAUNCH_FINISH, finish)
        del id_block, id_auth


def load_vmsa_registers(vcpu: Vcpu, vmsa: bytes) -> None:
    """Set a new vCPU's registers from a VMSA page (``KVM_GET_SREGS`` → ``KVM_SET_SREGS``,
    ``KVM_SET_REGS``): segments, GDTR/IDTR, CR0/2/3/4, EFER (without SVME), RIP, RSP, RFLAGS and the
    GPRs. KVM syncs them into the VMSA it encrypts (LAUNCH_UPDATE_VMSA / SNP_LAUNCH_FINISH); this must
    happen before, as the state is sealed afterwards (amd.md §5.6)."""
    state = decode_cpu_state(vmsa)
    # RFLAGS bit 1 is reserved-one: an all-zero VMSA field means the architectural reset value 0x2
    regs = {**state.regs, "rflags": state.regs["rflags"] or 2}
    load_cpu_state(vcpu, replace(state, regs=regs))
