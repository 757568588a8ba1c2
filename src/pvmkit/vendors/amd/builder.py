"""Launch plans for AMD guests booted from OVMF, in QEMU's exact order (spec amd.md §2–§4.3).

:class:`AmdLaunch` holds the inputs (parsed firmware, optional kernel hashes / SVSM, and the guest
shape: vendor, vCPUs, vCPU signature, VMM profile, VMSA features, init path, policy, seed);
:meth:`AmdLaunch.plan` turns them into a vendor-neutral :class:`~pvmkit.plan.LaunchPlan`:

SNP / sw (``Vendor.SW`` is measured exactly like SNP)
    1. firmware: NORMAL pages at 4 GiB − size (left out when ``seed`` resumes after it);
    2. the OVMF SEV metadata sections in *table order*: SNP_SEC_MEM → ZERO (gce: UNMEASURED),
       SNP_SECRETS → SECRETS, CPUID → CPUID (ec2: after all other sections), SVSM_CAA → ZERO,
       SNP_KERNEL_HASHES → the hashes page as NORMAL with kernel hashes (the 176-byte table at
       ``hashes_gpa - section_gpa``), else ZERO; unknown types → ZERO (as QEMU);
    3. vCPUs: BSP VMSA, then identical AP VMSAs (reset EIP from the SEV-ES reset block).
SNP with Coconut SVSM (``svsm=``)
    OVMF NORMAL at 4 GiB − len(ovmf), the SVSM image NORMAL ending at ``ovmf_gpa − vars_size``, the
    *SVSM's* metadata sections, then identical SVSM VMSAs (entry = SVSM GPA + SVSM info offset).
SEV / SEV-ES
    firmware NORMAL (SHA-256 stream), then with kernel hashes the page holding the table with
    ``data_span = (offset, 176)`` (only those bytes are encrypted and measured), then vCPUs (SEV-ES:
    VMSAs; SEV: no state).

The init path (``init_path=None`` picks QEMU ≥ 9.1's choice: legacy ``KVM_SEV_ES_INIT`` for SEV-ES
without VMSA features, INIT2 otherwise; SNP/sw always INIT2) decides the VMSA FPU fields (§3.3).
"""

from __future__ import annotations

from pvmkit._coldstart.frozen import Frozen
from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ovmf import FOUR_GIB, TDX_METADATA_GUID, Ovmf, SectionType
from pvmkit.launch import Launcher
from pvmkit.plan import (
    PAGE_SIZE,
    AddMemory,
    AddVcpu,
    Finalize,
    Init,
    InitPath,
    LaunchPlan,
    Op,
    PageKind,
    Vendor,
    Vmm,
)
from pvmkit.vendors.amd.measure import SnpMeasurer, measurer_for
from pvmkit.vendors.amd.profiles import BSP_EIP, profile
from pvmkit.vendors.amd.vmsa import reset_vmsa, svsm_vmsa

TYPE_CHECKING = False  # typing, collections.abc and dataclasses are not imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from pvmkit.formats.sev_hashes import SevHashes

__all__ = ["AmdLaunch", "measure_vcpu_range", "resolve_init_path", "snp_firmware_digest"]


_AMD_VENDORS = (Vendor.SEV, Vendor.SEV_ES, Vendor.SNP, Vendor.SW)


def resolve_init_path(vendor: Vendor, vmsa_features: int, init_path: InitPath | None) -> InitPath:
    """The init path QEMU ≥ 9.1 (``legacy-vm-type=auto``) uses when none is given."""
    if init_path is not None:
        return init_path
    if vendor.snp_like:
        return InitPath.INIT2
    return InitPath.INIT2 if vmsa_features else InitPath.LEGACY


class AmdLaunch(Frozen):
    """Everything that determines an AMD launch plan. See the module docstring for the page order.

    ``vmsa_sev_features`` overrides the SEV_FEATURES written into the VMSAs (default
    ``Init.sev_features``, i.e. ``vmsa_features`` plus SNPActive for SNP/sw); it exists only to
    reproduce tools that write other values (``sev-snp-measure --guest-features 0``).
    ``strict`` refuses inputs that no real stack produces (non-OVMF firmware for SEV, ec2/gce
    profiles for SEV/SEV-ES); the sev-snp-measure compatibility command turns it off.
    """

    vendor: Vendor
    firmware: Ovmf
    vcpus: int
    vcpu_sig: int
    vmm: Vmm
    vmsa_features: int
    init_path: InitPath | None
    policy: int | None
    seed: bytes | None
    kernel_hashes: SevHashes | None
    svsm: Ovmf | None
    vars_size: int
    svsm_x87_fcw: int
    vmsa_sev_features: int | None
    strict: bool

    def __init__(
        self,
        vendor: Vendor,
        firmware: Ovmf,
        vcpus: int = 1,
        vcpu_sig: int = 0,
        vmm: Vmm = Vmm.QEMU,
        vmsa_features: int = 0,
        init_path: InitPath | None = None,
        policy: int | None = None,
        seed: bytes | None = None,
        kernel_hashes: SevHashes | None = None,
        svsm: Ovmf | None = None,
        vars_size: int = 0,
        svsm_x87_fcw: int = 0,
        vmsa_sev_features: int | None = None,
        strict: bool = True,
    ) -> None:
        # written out (what @dataclass(frozen=True) generated); see pvmkit._coldstart.frozen.Frozen
        self.__dict__.update(
            vendor=vendor,
            firmware=firmware,
            vcpus=vcpus,
            vcpu_sig=vcpu_sig,
            vmm=vmm,
            vmsa_features=vmsa_features,
            init_path=init_path,
            policy=policy,
            seed=seed,
            kernel_hashes=kernel_hashes,
            svsm=svsm,
            vars_size=vars_size,
            svsm_x87_fcw=svsm_x87_fcw,
            vmsa_sev_features=vmsa_sev_features,
            strict=strict,
        )

    # -- derived ------------------------------------------------------------------------------
    @property
    def resolved_init_path(self) -> InitPath:
        return resolve_init_path(self.vendor, self.vmsa_features, self.init_path)

    def init_op(self) -> Init:
        policy = self.vendor.spec.default_policy if self.policy is None else self.policy
        return Init(
            self.vendor,
            vmsa_features=self.vmsa_features,
            policy=policy,
            init_path=self.resolved_init_path,
            vmm=self.vmm,
            seed=self.seed,
        )

    def with_vcpus(self, n: int) -> AmdLaunch:
        return self.__class__(**{**self.__dict__, "vcpus": n})

    # -- checks -------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise a clear error for inputs that cannot make a plan."""
        v, fw = self.vendor, self.firmware
        if v not in _AMD_VENDORS:
            raise InputError(f"{v.value} is not an AMD vendor")
        if self.vcpus < 1:
            raise InputError(f"need at least one vCPU, got {self.vcpus}")
        if not 0 <= self.vcpu_sig < 1 << 32:
            raise InputError(f"vCPU signature {self.vcpu_sig:#x} does not fit in 32 bits")
        if self.policy is not None and not 0 <= self.policy < (1 << 64 if v.snp_like else 1 << 32):
            raise InputError(f"policy {self.policy:#x} does not fit the {v.value} policy field")
        if not fw.has_table and (self.strict or v is not Vendor.SEV):
            raise FormatError(
                "firmware has no OVMF footer GUID table (not an SEV-capable OVMF image, or truncated)",
                what="OVMF footer table",
                offset=fw.size - 0x32,
            )
        if fw.size == 0 or fw.size % PAGE_SIZE:
            raise FormatError(
                f"firmware size {fw.size:#x} is not a positive multiple of 4 KiB",
                what="firmware",
                offset=fw.size,
            )
        if fw.size > FOUR_GIB:
            raise FormatError("firmware is larger than 4 GiB", what="firmware")
        if self.seed is not None:
            if not v.snp_like:
                raise InputError(
                    f"a precomputed firmware digest (seed) is for snp and sw only, not {v.value}"
                )
            if len(self.seed) != 48:
                raise InputError(f"the firmware digest (seed) must be 48 bytes, got {len(self.seed)}")
            if self.svsm is not None:
                raise InputError("a firmware digest (seed) cannot be combined with an SVSM image")
        if self.strict and v in (Vendor.SEV, Vendor.SEV_ES) and self.vmm is not Vmm.QEMU:
            raise InputError(
                f"VMM profile {self.vmm.value} is an SEV-SNP platform; {v.value} guests use qemu"
            )
        if v.has_vmsa and self.vcpus > 1 and self.svsm is None and fw.reset_eip is None:
            raise FormatError(
                f"firmware has no SEV-ES reset block, so APs cannot start: {self.vcpus} vCPUs need one",
                what="SEV-ES reset block",
            )
        if self.kernel_hashes is not None:
            if v.snp_like:
                if self.svsm is not None:
                    raise InputError("kernel hashes cannot be combined with an SVSM image")
                if not fw.has_section(SectionType.SNP_KERNEL_HASHES):
                    raise FormatError(
                        "kernel given, but the OVMF SEV metadata has no SNP_KERNEL_HASHES section "
                        "(build OVMF from OvmfPkg/AmdSev/AmdSevX64.dsc)",
                        what="SEV metadata",
                        offset=fw.metadata_offset,
                    )
                if fw.hashes_table is None:
                    raise FormatError(
                        "kernel given, but the OVMF footer table has no SEV hashes-table entry",
                        what="OVMF footer table",
                    )
            elif not fw.supports_kernel_hashes:
                raise FormatError(
                    "kernel given, but this OVMF does not support kernel/initrd/cmdline measurement "
                    "(no SEV hashes-table area)",
                    what="OVMF footer table",
                )
        if v.snp_like:
            target = self.svsm if self.svsm is not None else fw
            if not target.has_metadata:
                name = "SVSM image" if self.svsm is not None else "firmware"
                raise FormatError(
                    f"{name} has no SEV metadata (needed for SEV-SNP)", what="SEV metadata", offset=None
                )
            _check_snp_sections(target, "SVSM image" if self.svsm is not None else "firmware")
        if self.svsm is not None:
            if not v.snp_like:
                raise InputError(f"an SVSM image is for snp, not {v.value}")
            if self.vmm is not Vmm.QEMU:
                raise InputError("SVSM launches are modelled for QEMU only")
            if self.svsm.svsm_info_offset is None:
                raise FormatError("SVSM image has no SVSM info entry in its footer table", what="SVSM info")
            if self.svsm.size == 0 or self.svsm.size % PAGE_SIZE:
                raise FormatError(
                    f"SVSM image size {self.svsm.size:#x} is not a multiple of 4 KiB", what="SVSM image"
                )
            if self.vars_size < 0 or self.vars_size % PAGE_SIZE:
                raise InputError(f"OVMF vars size {self.vars_size} is not a multiple of 4096")
        self.init_op().validate()  # FeatureError for features the vendor or init path cannot take

    # -- ops ----------------------------------------------------------------------------------
    def memory_ops(self) -> list[AddMemory]:
        """The AddMemory ops, in QEMU order (everything before the vCPUs)."""
        fw = self.firmware
        ops: list[AddMemory] = []
        fw_gpa = fw.gpa()
        if self.seed is None:
            ops.append(AddMemory(fw_gpa, fw.size, PageKind.NORMAL, data=fw.data, label="firmware"))
        if self.svsm is not None:
            svsm = self.svsm
            svsm_gpa = svsm.gpa(fw_gpa - self.vars_size)
            ops.append(AddMemory(svsm_gpa, svsm.size, PageKind.NORMAL, data=svsm.data, label="svsm"))
            ops += self._section_ops(svsm, None, profile(Vmm.QEMU).sec_mem_kind, cpuid_last=False)
            return ops
        if self.vendor.snp_like:
            p = profile(self.vmm)
            ops += self._section_ops(fw, self.kernel_hashes, p.sec_mem_kind, cpuid_last=p.cpuid_last)
        elif self.kernel_hashes is not None:
            from pvmkit.formats.sev_hashes import PADDED_TABLE_SIZE, build_hashes_page  # start-up

            assert fw.hashes_table is not None
            table_gpa = fw.hashes_table[0]
            page_gpa = table_gpa & ~(PAGE_SIZE - 1)
            offset = table_gpa - page_gpa
            size = (offset + PADDED_TABLE_SIZE + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            data = build_hashes_page(self.kernel_hashes, offset, size)
            ops.append(
                AddMemory(
                    page_gpa,
                    size,
                    PageKind.NORMAL,
                    data=data,
                    label="sev-hashes-table",
                    data_span=(offset, PADDED_TABLE_SIZE),
                )
            )
        return ops

    @staticmethod
    def _section_ops(
        image: Ovmf, hashes: SevHashes | None, sec_mem_kind: PageKind, *, cpuid_last: bool
    ) -> list[AddMemory]:
        ops: list[AddMemory] = []
        deferred: list[AddMemory] = []
        for i, s in enumerate(image.sections):
            label = f"{s.type_name}#{i}"
            t = s.type
            if t == SectionType.SNP_SEC_MEM:
                ops.append(AddMemory(s.gpa, s.size, sec_mem_kind, label=label))
            elif t == SectionType.SNP_SECRETS:
                ops.append(AddMemory(s.gpa, s.size, PageKind.SECRETS, label=label))
            elif t == SectionType.CPUID:
                (deferred if cpuid_last else ops).append(
                    AddMemory(s.gpa, s.size, PageKind.CPUID, label=label)
                )
            elif t == SectionType.SNP_KERNEL_HASHES and hashes is not None:
                from pvmkit.formats.sev_hashes import PADDED_TABLE_SIZE, build_hashes_page  # start-up

                assert image.hashes_table is not None
                offset = image.hashes_table[0] - s.gpa
                if not 0 <= offset <= s.size - PADDED_TABLE_SIZE:
                    raise FormatError(
                        f"SEV hashes table GPA {image.hashes_table[0]:#x} is outside the SNP_KERNEL_HASHES "
                        f"section {s.gpa:#x}+{s.size:#x}",
                        what="SEV metadata",
                        offset=s.offset,
                    )
                data = build_hashes_page(hashes, offset, s.size)
                ops.append(AddMemory(s.gpa, s.size, PageKind.NORMAL, data=data, label=label))
            else:  # SVSM_CAA, kernel hashes off, and unknown types: ZERO pages (QEMU)
                ops.append(AddMemory(s.gpa, s.size, PageKind.ZERO, label=label))
        return ops + deferred

    def vmsas(self) -> tuple[bytes, bytes | None]:
        """(BSP VMSA, AP VMSA or None) for VMSA vendors; (b"", None) for SEV."""
        if not self.vendor.has_vmsa:
            return b"", None
        features = self.init_op().sev_features if self.vmsa_sev_features is None else self.vmsa_sev_features
        if self.svsm is not None:
            assert self.svsm.svsm_info_offset is not None
            entry = self.svsm.gpa(self.firmware.gpa() - self.vars_size) + self.svsm.svsm_info_offset
            page = svsm_vmsa(entry, vcpu_sig=self.vcpu_sig, sev_features=features, x87_fcw=self.svsm_x87_fcw)
            return page, page
        fpu = self.resolved_init_path is InitPath.INIT2
        kw: dict[str, Any] = {
            "vcpu_sig": self.vcpu_sig,
            "sev_features": features,
            "vmm": self.vmm,
            "fpu_init": fpu,
        }
        bsp = reset_vmsa(BSP_EIP, **kw)
        eip = self.firmware.reset_eip
        ap = reset_vmsa(eip, **kw) if eip is not None else None
        return bsp, ap

    def vcpu_ops(self) -> list[AddVcpu]:
        bsp, ap = self.vmsas()
        return [AddVcpu(i, bsp if i == 0 else (ap or b"")) for i in range(self.vcpus)]

    def plan(self) -> LaunchPlan:
        """The launch plan (checks the inputs first)."""
        self.check()
        ops: list[Op] = [self.init_op(), *self.memory_ops(), *self.vcpu_ops(), Finalize()]
        return LaunchPlan.of(ops)

    def _prefix_key(self) -> tuple[object, ...]:
        return (
            self.firmware,
            self.vendor,
            self.vmm,
            self.seed,
            self.kernel_hashes,
            self.svsm,
            self.vars_size,
        )


class _Resumed:
    """Backend wrapper that takes INIT without resetting an already-measured prefix."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def init(self, op: Init) -> None:
        pass

    def add_memory(self, op: AddMemory) -> None:
        self.backend.add_memory(op)

    def add_vcpu(self, op: AddVcpu) -> None:
        self.backend.add_vcpu(op)

    def finalize(self, op: Finalize) -> bytes:
        result: bytes = self.backend.finalize(op)
        return result


def measure_vcpu_range(
    launch: AmdLaunch,
    vcpus: Iterable[int],
    *,
    cache: dict[tuple[object, ...], Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[int, bytes]]:
    """Launch digests for several vCPU counts, in the order given: ``[(n, digest), ...]``.

    The firmware and metadata prefix is measured once (and, with ``cache``, shared between calls
    that differ only in vCPU signature, VMSA features, init path or policy); each extra vCPU then
    costs one page update: LD(n) = extend(LD(n−1), AP VMSA) for SNP, a copied SHA-256 state for SEV-ES.
    ``launch.vcpus`` is ignored. ``progress(n)`` is called after each vCPU count in the range.
    """
    counts = list(vcpus)
    if not counts:
        return []
    if min(counts) < 1:
        raise InputError(f"vCPU counts must be ≥ 1, got {min(counts)}")
    top = max(counts)
    launch = launch.with_vcpus(top)
    launch.check()
    init = launch.init_op()
    key = launch._prefix_key()
    prefix = cache.get(key) if cache is not None else None
    if prefix is None:
        measurer = measurer_for(launch.vendor)
        launcher: Launcher[bytes] = Launcher(measurer)
        launcher.init(init)
        for op in launch.memory_ops():
            launcher.add_memory(op)
        prefix = measurer
        if cache is not None:
            cache[key] = measurer.copy()
    else:
        prefix = prefix.copy()
    resumed: Launcher[bytes] = Launcher(_Resumed(prefix))
    resumed.init(init)  # validates the features; the prefix measurer keeps its state
    wanted = set(counts)
    results: dict[int, bytes] = {}
    bsp, ap = launch.vmsas()
    for i in range(top):
        resumed.add_vcpu(AddVcpu(i, bsp if i == 0 else (ap or b"")))
        if i + 1 in wanted:
            results[i + 1] = prefix.digest
            if progress is not None:
                progress(i + 1)
    return [(n, results[n]) for n in counts]


def snp_firmware_digest(firmware: Ovmf, *, end_at: int = FOUR_GIB) -> bytes:
    """The SNP launch digest after the firmware pages only (sev-snp-measure ``snp:ovmf-hash``): the
    seed that lets a later measurement skip the firmware (``AmdLaunch(seed=...)``)."""
    if firmware.size == 0 or firmware.size % PAGE_SIZE:
        raise FormatError(
            f"firmware size {firmware.size:#x} is not a positive multiple of 4 KiB", what="firmware"
        )
    measurer = SnpMeasurer()
    launcher: Launcher[bytes] = Launcher(measurer)
    launcher.init(Init(Vendor.SNP))
    launcher.add_memory(
        AddMemory(firmware.gpa(end_at), firmware.size, PageKind.NORMAL, data=firmware.data, label="firmware")
    )
    return measurer.digest


def _check_snp_sections(image: Ovmf, name: str) -> None:
    """FormatError naming the first SEV metadata section SNP_LAUNCH_UPDATE could not take (SEV-SNP
    firmware ABI: pages are 4 KiB aligned and at least one), and saying so when the image is TDX
    firmware (it then carries the TDX metadata footer entry, OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm)."""
    for i, section in enumerate(image.sections):
        if section.size and not section.size % PAGE_SIZE and not section.gpa % PAGE_SIZE:
            continue
        tdx = (
            " (this is TDX firmware: it carries TDVF metadata; measure it with --vendor tdx)"
            if TDX_METADATA_GUID in image.table
            else ""
        )
        raise FormatError(
            f"this {name}'s SEV metadata is unusable for SEV-SNP: section {section.type_name}#{i} at "
            f"{section.gpa:#x} has size {section.size:#x}, not a positive multiple of 4 KiB at a 4 KiB "
            f"aligned address{tdx}",
            what="SEV metadata",
            offset=section.offset,
        )
