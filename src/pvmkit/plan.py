"""The vendor-neutral launch plan: INIT → ADD (memory, vCPUs) × N → FINALIZE.

A :class:`LaunchPlan` is immutable data. It is consumed, through :class:`pvmkit.launch.Launcher`
(which enforces the op order and the page rules once for everyone), by:

* measurers (``pvmkit.vendors.*.measure``) that predict the launch digest,
* KVM drivers (``pvmkit.vendors.*.kvm``) that issue the real ioctls,
* the software-protected VM backend (``pvmkit.vendors.sw``).

Vendor-specific meaning of the neutral fields:

============  ==========================================================================
field          meaning
============  ==========================================================================
vmsa_features  SEV-ES/SNP/sw: the VMSA features the host passes to ``KVM_SEV_INIT2``; for SNP
               and sw, SNPActive (bit 0) is implied, as KVM adds it. SEV/TDX: must be 0.
policy         SEV/SEV-ES: u32 guest policy. SNP/sw: u64 guest policy. TDX: TD attributes.
init_path      SEV/SEV-ES: legacy ``KVM_SEV_INIT``/``KVM_SEV_ES_INIT`` on the default VM type, or
               ``KVM_SEV_INIT2`` on a SEV VM type. SNP, sw and TDX: INIT2 (the only path).
seed           SNP/sw: resume the measurement from this launch digest (e.g. the digest after the
               firmware, sev-snp-measure's ``snp:ovmf-hash``) instead of the all-zero start.
AddMemory.data_span  SEV/SEV-ES: the part of the range actually encrypted/measured (the kernel
               hashes table); other vendors measure whole pages.
AddVcpu.state  SEV-ES/SNP/sw: the 4096-byte initial VMSA page. SEV, TDX: empty (not measured).
AddVcpu.rcx    TDX: the initial RCX given to ``KVM_TDX_INIT_VCPU`` (the TD HOB GPA).
============  ==========================================================================
"""

from __future__ import annotations

import mmap
from enum import Enum

from pvmkit._coldstart.frozen import Frozen
from pvmkit.errors import FeatureError, LayoutError
from pvmkit.features import KNOWN_SEV_FEATURES, decode_sev_features
from pvmkit.vendor import Vendor

# typing, collections.abc and dataclasses are not imported at run time (start-up cost of `pvmkit
# measure`: docs/development.md, "Start-up").
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "PAGE_SIZE",
    "AddMemory",
    "AddVcpu",
    "ByteData",
    "CcaParams",
    "Finalize",
    "Init",
    "InitPath",
    "LaunchPlan",
    "Op",
    "PageKind",
    "PageOrder",
    "TdxParams",
    "Vendor",
    "Vmm",
    "default_vm_type",
]

PAGE_SIZE = 4096

#: Memory contents: any bytes-like object, including a read-only mmap of a firmware file.
ByteData = bytes | bytearray | memoryview | mmap.mmap


class PageKind(str, Enum):
    """How a page is added. Names follow the SNP page types (SNP ABI 56860, SNP_LAUNCH_UPDATE)."""

    NORMAL = "normal"  #: contents measured
    ZERO = "zero"  #: zero page, address measured (SNP); TDX: PAGE.ADD without MR.EXTEND
    UNMEASURED = "unmeasured"  #: contents not measured
    SECRETS = "secrets"  #: firmware fills it with guest secrets
    CPUID = "cpuid"  #: firmware validates the CPUID table
    VMSA = "vmsa"  #: a VMSA page given as memory (IGVM style)

    @property
    def measured_contents(self) -> bool:
        return self in (PageKind.NORMAL, PageKind.VMSA)


class InitPath(str, Enum):
    """How the VM is initialised (spec amd.md §3.3, §5.5)."""

    LEGACY = "legacy"  #: KVM_SEV_INIT / KVM_SEV_ES_INIT on KVM_X86_DEFAULT_VM
    INIT2 = "init2"  #: KVM_SEV_INIT2 on KVM_X86_SEV_VM / SEV_ES_VM / SNP_VM (and TDX INIT_VM)


class Vmm(str, Enum):
    """VMM profile: who builds the initial vCPU state and page order (spec amd.md §3.4)."""

    QEMU = "qemu"
    EC2 = "ec2"
    GCE = "gce"


class PageOrder(str, Enum):
    """TDX MRTD record order (spec tdx.md §1.4)."""

    INTERLEAVED = "interleaved"  #: upstream KVM ≥ 6.16: per page PAGE.ADD then 16 MR.EXTEND
    TWO_PASS = "two-pass"  #: legacy stacks: per section all PAGE.ADDs, then all MR.EXTENDs


def default_vm_type(vendor: Vendor, init_path: InitPath) -> int:
    """The KVM VM type a vendor and init path use (the vendor's :class:`~pvmkit.vendor.VendorSpec`)."""
    spec = vendor.spec
    if init_path is InitPath.LEGACY and spec.legacy_vm_type is not None:
        return spec.legacy_vm_type
    return spec.vm_type


_set = object.__setattr__


class TdxParams(Frozen):
    """TDX-only INIT inputs (``struct kvm_tdx_init_vm``); copied into TDINFO, never hashed into MRTD."""

    xfam: int
    mrconfigid: bytes
    mrowner: bytes
    mrownerconfig: bytes
    order: PageOrder

    def __init__(
        self,
        xfam: int = 0,
        mrconfigid: bytes = bytes(48),
        mrowner: bytes = bytes(48),
        mrownerconfig: bytes = bytes(48),
        order: PageOrder = PageOrder.INTERLEAVED,
    ) -> None:
        _set(self, "xfam", xfam)
        _set(self, "mrconfigid", mrconfigid)
        _set(self, "mrowner", mrowner)
        _set(self, "mrownerconfig", mrownerconfig)
        _set(self, "order", order)
        for name in ("mrconfigid", "mrowner", "mrownerconfig"):
            if len(getattr(self, name)) != 48:
                raise LayoutError(f"TDX {name} must be 48 bytes")


class CcaParams(Frozen):
    """Arm CCA realm parameters (RMI_REALM_CREATE's RmiRealmParams, spec cca_igvm.md §A1.2) and how the
    host sets RIPAS.

    Counts are plain counts (``num_bps=6`` is six breakpoints, encoded 5); ``sve_vl`` is the SVE
    vector length in bits (None: no SVE); ``pmu_num_ctrs`` None: no PMU. ``rmm`` is the RMM version
    ("1.0" or "2.0"): RMM 1.0 measures RMI_RTT_INIT_RIPAS, one descriptor per RTT entry of each
    ``ripas`` range ``(base, top)``, either right after REALM_CREATE (``ripas_first``: the early KVM
    uAPI and kvmtool) or at activation, after DATA and RECs (KVM v12); RMM 2.0 does not measure it.
    ``rpv`` (the personalization value) is reported in the token, not measured.
    """

    ipa_bits: int
    num_bps: int
    num_wps: int
    sve_vl: int | None
    pmu_num_ctrs: int | None
    lpa2: bool
    hash_algo: str
    rmm: str
    ripas: tuple[tuple[int, int], ...]
    ripas_first: bool
    rpv: bytes

    def __init__(
        self,
        ipa_bits: int,
        num_bps: int,
        num_wps: int,
        sve_vl: int | None = None,
        pmu_num_ctrs: int | None = None,
        lpa2: bool = False,
        hash_algo: str = "sha256",
        rmm: str = "1.0",
        ripas: tuple[tuple[int, int], ...] = (),
        ripas_first: bool = False,
        rpv: bytes = bytes(64),
    ) -> None:
        _set(self, "ipa_bits", ipa_bits)
        _set(self, "num_bps", num_bps)
        _set(self, "num_wps", num_wps)
        _set(self, "sve_vl", sve_vl)
        _set(self, "pmu_num_ctrs", pmu_num_ctrs)
        _set(self, "lpa2", lpa2)
        _set(self, "hash_algo", hash_algo)
        _set(self, "rmm", rmm)
        _set(self, "ripas", tuple(ripas))
        _set(self, "ripas_first", ripas_first)
        _set(self, "rpv", rpv)

    def validate(self) -> None:
        """The ranges RMM and KVM accept (RMM spec RMI_REALM_CREATE, KVM v14); called by
        :meth:`Init.validate`, so a launcher checks them at INIT."""
        if not 32 <= self.ipa_bits <= 52:
            raise FeatureError(f"CCA ipa_bits {self.ipa_bits} is outside 32..52")
        for name in ("num_bps", "num_wps"):
            if not 2 <= getattr(self, name) <= 64:
                raise FeatureError(f"CCA {name} {getattr(self, name)} is outside 2..64 (a count)")
        if self.sve_vl is not None and (self.sve_vl % 128 or not 128 <= self.sve_vl <= 2048):
            raise FeatureError(f"CCA sve_vl {self.sve_vl} is not a multiple of 128 bits in 128..2048")
        if self.pmu_num_ctrs is not None and not 0 <= self.pmu_num_ctrs <= 31:
            raise FeatureError(f"CCA pmu_num_ctrs {self.pmu_num_ctrs} is outside 0..31")
        if self.rmm not in ("1.0", "2.0"):
            raise FeatureError(f"CCA rmm {self.rmm!r} is not '1.0' or '2.0'")
        if self.hash_algo not in ("sha256", "sha512", "sha384"):
            raise FeatureError(f"CCA hash_algo {self.hash_algo!r} is not sha256, sha512 or sha384")
        if self.hash_algo == "sha384" and self.rmm == "1.0":
            raise FeatureError("CCA hash_algo sha384 needs RMM 2.0")
        if len(self.rpv) != 64:
            raise FeatureError(f"CCA rpv must be 64 bytes, got {len(self.rpv)}")
        for base, top in self.ripas:
            if base < 0 or base % PAGE_SIZE or top % PAGE_SIZE or top <= base or top > 1 << self.ipa_bits:
                raise LayoutError(
                    f"CCA RIPAS range {base:#x}..{top:#x} is not a 4 KiB-aligned range inside the "
                    f"{self.ipa_bits}-bit IPA space"
                )

    @property
    def flags(self) -> int:
        """RmiRealmFlags: bit 0 LPA2, bit 1 SVE, bit 2 PMU."""
        return (
            (1 if self.lpa2 else 0)
            | (2 if self.sve_vl is not None else 0)
            | (4 if self.pmu_num_ctrs is not None else 0)
        )


class Init(Frozen):
    """INIT: create the VM with a type and a feature set."""

    vendor: Vendor
    vmsa_features: int
    policy: int
    init_path: InitPath
    vmm: Vmm
    vm_type: int | None  #: None: :func:`default_vm_type`
    ghcb_version: int
    seed: bytes | None
    tdx: TdxParams | None
    cca: CcaParams | None

    def __init__(
        self,
        vendor: Vendor,
        vmsa_features: int = 0,
        policy: int = 0,
        init_path: InitPath = InitPath.INIT2,
        vmm: Vmm = Vmm.QEMU,
        vm_type: int | None = None,
        ghcb_version: int = 0,
        seed: bytes | None = None,
        tdx: TdxParams | None = None,
        cca: CcaParams | None = None,
    ) -> None:
        _set(self, "vendor", vendor)
        _set(self, "vmsa_features", vmsa_features)
        _set(self, "policy", policy)
        _set(self, "init_path", init_path)
        _set(self, "vmm", vmm)
        _set(self, "vm_type", vm_type)
        _set(self, "ghcb_version", ghcb_version)
        _set(self, "seed", seed)
        _set(self, "tdx", tdx)
        _set(self, "cca", cca)

    @property
    def effective_vm_type(self) -> int:
        return default_vm_type(self.vendor, self.init_path) if self.vm_type is None else self.vm_type

    @property
    def sev_features(self) -> int:
        """The SEV_FEATURES value that ends up in every VMSA (KVM adds SNPActive for SNP)."""
        return self.vmsa_features | self.vendor.spec.implied_features

    def validate(self) -> None:
        """The vendor's rules (its :class:`~pvmkit.vendor.VendorSpec`) that hold on every host; host
        support is checked by the backend."""
        v, f, spec = self.vendor.value, self.vmsa_features, self.vendor.spec
        if f < 0 or f >= 1 << 64:
            raise FeatureError(f"vmsa_features {f:#x} does not fit in 64 bits")
        unknown = f & ~KNOWN_SEV_FEATURES
        if unknown:
            raise FeatureError(f"vmsa_features has undefined bit(s) {unknown:#x}")
        refused = f & ~spec.vmsa_features
        if refused and not spec.vmsa_features:
            raise FeatureError(f"{v} has no VMSA features: vmsa_features must be 0, got {f:#x}")
        if refused:
            names = ", ".join(decode_sev_features(refused))
            raise FeatureError(
                f"vmsa_features {f:#x}: bit(s) {refused:#x} ({names}) are not available to {v}"
            )
        if self.init_path is InitPath.LEGACY:
            if spec.legacy_vm_type is None:
                raise FeatureError(f"{v} has no legacy init path; use init2")
            if f & ~spec.legacy_vmsa_features:
                raise FeatureError(
                    f"the legacy init path of {v} cannot set vmsa_features {f:#x} (at most "
                    f"{spec.legacy_vmsa_features:#x}, and DebugSwap only on pre-6.10 kernels with "
                    "kvm_amd.debug_swap)"
                )
        if self.seed is not None and (not spec.snp_digest or len(self.seed) != 48):
            raise FeatureError("seed must be a 48-byte SNP launch digest, for vendors measured like SNP")
        for field in ("tdx", "cca"):
            if getattr(self, field) is not None and spec.params != field:
                raise FeatureError(f"{field.upper()} parameters (Init.{field}) given for {v}")
        if spec.params_required and getattr(self, spec.params) is None:
            raise FeatureError(f"{v} needs its parameters (Init.{spec.params})")
        if self.cca is not None:
            self.cca.validate()


class AddMemory(Frozen):
    """ADD memory: ``size`` bytes at ``gpa``, page-aligned, of one :class:`PageKind`.

    ``data`` holds the contents (None: zeros). Instead of data, measured pages can be given as
    ``page_digests``: one precomputed contents digest per page (hash-only inputs).
    """

    _NO_REPR = ("data", "page_digests")

    gpa: int
    size: int
    kind: PageKind
    data: ByteData | None
    page_digests: tuple[bytes, ...] | None
    label: str
    #: SEV/SEV-ES only: ``(offset, length)`` of the bytes of this range that are passed to
    #: ``LAUNCH_UPDATE_DATA`` and so measured (QEMU's 176-byte kernel-hashes table inside its page);
    #: None: the whole range. 16-byte aligned. SNP/sw/TDX ignore it and measure whole pages.
    data_span: tuple[int, int] | None

    def __init__(
        self,
        gpa: int,
        size: int,
        kind: PageKind = PageKind.NORMAL,
        data: ByteData | None = None,
        page_digests: tuple[bytes, ...] | None = None,
        label: str = "",
        data_span: tuple[int, int] | None = None,
    ) -> None:
        _set(self, "gpa", gpa)
        _set(self, "size", size)
        _set(self, "kind", kind)
        _set(self, "data", data)
        _set(self, "page_digests", page_digests)
        _set(self, "label", label)
        _set(self, "data_span", data_span)

    @property
    def pages(self) -> int:
        return self.size // PAGE_SIZE

    @property
    def end(self) -> int:
        return self.gpa + self.size

    def page(self, i: int) -> bytes:
        """Contents of page ``i`` (zeros if no data)."""
        if self.data is None:
            return bytes(PAGE_SIZE)
        return bytes(self.data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE])

    def validate(self) -> None:
        where = f"{self.label or 'memory'} at {self.gpa:#x}"
        if self.gpa < 0 or self.gpa % PAGE_SIZE:
            raise LayoutError(f"{where}: GPA is not 4 KiB aligned")
        if self.size <= 0 or self.size % PAGE_SIZE:
            raise LayoutError(f"{where}: size {self.size:#x} is not a positive multiple of 4 KiB")
        if self.gpa + self.size > 1 << 52:
            raise LayoutError(f"{where}: range runs past the 52-bit physical address space")
        if self.data is not None and len(self.data) != self.size:
            raise LayoutError(f"{where}: {len(self.data)} data bytes for a {self.size:#x}-byte range")
        if self.page_digests is not None:
            if self.data is not None:
                raise LayoutError(f"{where}: give data or page digests, not both")
            if len(self.page_digests) != self.pages:
                raise LayoutError(f"{where}: {len(self.page_digests)} digests for {self.pages} pages")
        if self.data_span is not None:
            off, length = self.data_span
            if off < 0 or length <= 0 or off + length > self.size or off % 16 or length % 16:
                raise LayoutError(
                    f"{where}: data span {off:#x}+{length:#x} is not a 16-byte aligned part of the range"
                )


class AddVcpu(Frozen):
    """ADD a vCPU with its initial state (see the module table). vCPUs are added in index order."""

    _NO_REPR = ("state",)

    index: int
    state: bytes
    rcx: int

    def __init__(self, index: int, state: bytes = b"", rcx: int = 0) -> None:
        _set(self, "index", index)
        _set(self, "state", state)
        _set(self, "rcx", rcx)


class Finalize(Frozen):
    """FINALIZE: seal the VM. SNP/sw take an optional ID block, ID auth and host data."""

    _NO_REPR = ("id_block", "id_auth")

    id_block: bytes | None
    id_auth: bytes | None
    host_data: bytes
    auth_key_en: bool

    def __init__(
        self,
        id_block: bytes | None = None,
        id_auth: bytes | None = None,
        host_data: bytes = bytes(32),
        auth_key_en: bool = False,
    ) -> None:
        _set(self, "id_block", id_block)
        _set(self, "id_auth", id_auth)
        _set(self, "host_data", host_data)
        _set(self, "auth_key_en", auth_key_en)

    def validate(self) -> None:
        if self.id_block is not None and len(self.id_block) != 96:
            raise LayoutError(f"ID block must be 96 bytes, got {len(self.id_block)}")
        if self.id_auth is not None and len(self.id_auth) != 4096:
            raise LayoutError(f"ID auth must be 4096 bytes, got {len(self.id_auth)}")
        if (self.id_auth is None) != (self.id_block is None):
            raise LayoutError("ID block and ID auth go together")
        if len(self.host_data) != 32:
            raise LayoutError(f"host data must be 32 bytes, got {len(self.host_data)}")


Op = Init | AddMemory | AddVcpu | Finalize


class LaunchPlan(Frozen):
    """An ordered sequence of ops. Order is checked when a :class:`~pvmkit.launch.Launcher` runs it."""

    ops: tuple[Op, ...]

    def __init__(self, ops: tuple[Op, ...]) -> None:
        _set(self, "ops", ops)

    @classmethod
    def of(cls, ops: Sequence[Op]) -> LaunchPlan:
        return cls(tuple(ops))

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    @property
    def init(self) -> Init:
        for op in self.ops:
            if isinstance(op, Init):
                return op
        raise LayoutError("plan has no INIT")

    @property
    def memory(self) -> tuple[AddMemory, ...]:
        return tuple(op for op in self.ops if isinstance(op, AddMemory))

    @property
    def vcpus(self) -> tuple[AddVcpu, ...]:
        return tuple(op for op in self.ops if isinstance(op, AddVcpu))

    @property
    def finalize(self) -> Finalize | None:
        for op in self.ops:
            if isinstance(op, Finalize):
                return op
        return None
