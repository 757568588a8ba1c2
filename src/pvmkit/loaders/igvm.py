"""An IGVM file as a launch plan for one platform (spec cca_igvm.md §B1.3, §B2).

IGVM has no INIT or FINALIZE records: INIT is the platform's SUPPORTED_PLATFORM and GUEST_POLICY,
ADD is the directive stream, FINALIZE is the end of the file. The loaders that turn directives into
launch calls disagree on four points (§B2.5), so the rules are explicit, with three profiles:

=============  ========================  ==============  ===============  ==================
rule           ``qemu`` (default: what   ``igvmmeasure``  ``igvm-crate``
               QEMU ≥ 10.1 + KVM do)     (coconut-svsm)   (microsoft/igvm)
=============  ========================  ==============  ===============  ==================
PARAMETER_     one UNMEASURED page per   one page         one per 4 KiB
INSERT         4 KiB of the area                          of the area
SHARED pages   measured                  measured         skipped
order          QEMU's batching (below);  file order       file order
               VMSAs at LAUNCH_FINISH
SEV/SEV-ES     zero pages: 4 KiB zeros;  every page with  (no SEV)
               UNMEASURED skipped        data; no zeros
=============  ========================  ==============  ===============

Zero pages (PAGE_DATA with file offset 0) are measured as NORMAL pages of zeros by all three; the
``native_zero`` switch (igvmmeasure ``--native-zero``) makes them SNP ZERO pages instead.

**QEMU's batching** (``backends/igvm.c``, §B2.4): consecutive PAGE_DATA directives (same flags, data
type and mask, contiguous GPAs, all with data or all zero) form a run that is issued only when the
next PAGE_DATA breaks it or the file ends, while a PARAMETER_INSERT is issued at once: an insert that
follows page data is measured *before* that pending run. SNP/SEV-ES VMSAs are measured by KVM at
LAUNCH_FINISH, after all memory, and must be at GPA 0xFFFFFFFFF000.

Platforms: SNP (the PAGE_INFO chain: VP contexts are VMSA pages), SEV-ES and SEV (SHA-256 launch
digest), TDX (MRTD as the igvm crate computes it: every page PAGE.ADDed, measured ones extended, no VP
context). CCA from IGVM is not defined by any loader yet (§B1.3) and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError, MeasurementError
from pvmkit.features import SNP_ACTIVE
from pvmkit.formats.igvm import (
    PAGE,
    PAGE_DATA_2MB,
    PAGE_DATA_UNMEASURED,
    Igvm,
    IgvmHeader,
    PageData,
    PageDataType,
    ParameterArea,
    ParameterInsert,
    Platform,
    SnpIdBlock,
    SupportedPlatform,
    VpContext,
    build_igvm,
)
from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, InitPath, LaunchPlan, Op, PageKind, Vendor

__all__ = [
    "PROFILES",
    "IgvmRules",
    "id_block_of",
    "igvm_from_plan",
    "igvm_plan",
    "platform_of",
    "snp_id_auth",
]

VMSA_GPA = 0xFFFFFFFFF000
_SEV_FEATURES = 0x3B0  # VMSA offset of SEV_FEATURES (APM vol. 2)


@dataclass(frozen=True)
class IgvmRules:
    """How directives become launch ops (module docstring)."""

    parameter_pages: str = "area"  #: "area" or "one"
    shared: str = "measure"  #: "measure" or "skip"
    order: str = "qemu"  #: "qemu" (batched, VMSAs last) or "file"
    sev_pages: str = "qemu"  #: SEV/SEV-ES: "qemu" or "igvmmeasure"
    native_zero: bool = False


PROFILES = {
    "qemu": IgvmRules(),
    "igvmmeasure": IgvmRules(parameter_pages="one", order="file", sev_pages="igvmmeasure"),
    "igvm-crate": IgvmRules(shared="skip", order="file"),
}


def platform_of(igvm: Igvm, vendor: Vendor) -> int:
    """The compatibility mask of ``vendor``'s platform in the file (InputError if it has none)."""
    platform_type = vendor.spec.igvm_platform
    if platform_type is None:
        takes = ", ".join(v.value for v in Vendor if v.spec.igvm_platform is not None)
        raise InputError(f"an IGVM file cannot be measured for {vendor.value} ({takes})")
    platform = igvm.platform(platform_type)
    if platform is None:
        have = ", ".join(Platform.NAMES.get(p.platform_type, hex(p.platform_type)) for p in igvm.platforms)
        raise InputError(f"the IGVM file supports {have}, not {Platform.NAMES[platform_type]}")
    if vendor is not Vendor.TDX and igvm.architecture != 0:
        raise InputError("an x86 platform needs an x64 IGVM file")
    return platform.compatibility_mask


def id_block_of(igvm: Igvm, vendor: Vendor) -> SnpIdBlock | None:
    """The SNP_ID_BLOCK that applies to ``vendor``'s platform (SNP only), or None."""
    if not vendor.snp_like:
        return None
    mask = platform_of(igvm, vendor)
    return next(
        (d for d in igvm.directives if isinstance(d, SnpIdBlock) and d.compatibility_mask & mask), None
    )


def snp_id_auth(block: SnpIdBlock, policy: int) -> tuple[bytes, bytes]:
    """The 96-byte ID block and 4096-byte ID auth structure QEMU passes to SNP_LAUNCH_FINISH for an
    IGVM SNP_ID_BLOCK (spec cca_igvm.md §B1.2, §B2.1; SNP ABI layouts in
    :mod:`pvmkit.vendors.amd.id_block`). The IGVM record keeps r and s (72 bytes each, little-endian)
    and ``{u32 curve, u32 reserved, qx[72], qy[72]}`` per key; the SNP key structure has no reserved
    word. ``policy`` is the GUEST_POLICY, which the signed ID block includes."""
    from pvmkit.vendors.amd.id_block import build_id_block

    body = block.body
    id_algo, author_algo = int.from_bytes(body[96:100], "little"), int.from_bytes(body[100:104], "little")

    def key(offset: int) -> bytes:  # IGVM {curve, reserved, qx, qy} → SNP {curve, qx, qy, zeros}
        return (body[offset : offset + 4] + body[offset + 8 : offset + 152]).ljust(1028, b"\0")

    id_block = build_id_block(
        block.ld, family_id=block.family_id, image_id=block.image_id, version=block.version,
        guest_svn=block.guest_svn, policy=policy,
    )  # fmt: skip
    auth = bytearray(4096)
    auth[0:4] = id_algo.to_bytes(4, "little")
    auth[0x040 : 0x040 + 144] = body[104:248]
    auth[0x240 : 0x240 + 1028] = key(248)
    if block.author_key_enabled:
        auth[4:8] = author_algo.to_bytes(4, "little")
        auth[0x680 : 0x680 + 144] = body[400:544]
        auth[0x880 : 0x880 + 1028] = key(544)
    return id_block, bytes(auth)


def _page_ops(d: PageData, vendor: Vendor, rules: IgvmRules) -> list[AddMemory]:
    """The ops of one PAGE_DATA directive for ``vendor``."""
    size = 512 * PAGE if d.flags & PAGE_DATA_2MB else PAGE
    if d.flags & PAGE_DATA_2MB and d.data is not None:
        raise MeasurementError(f"PAGE_DATA at {d.gpa:#x}: a 2 MiB page with file data cannot be measured")
    label = f"PAGE_DATA {d.gpa:#x}"
    if vendor in (Vendor.SEV, Vendor.SEV_ES):
        if rules.sev_pages == "igvmmeasure":  # every page with data, whatever its flags and type
            return (
                [] if d.data is None else [AddMemory(d.gpa, size, PageKind.NORMAL, data=d.data, label=label)]
            )
        if d.data_type != PageDataType.NORMAL:
            raise MeasurementError(f"{label}: QEMU refuses secrets/CPUID pages for {vendor.value}")
        if d.unmeasured:
            return []
        return [AddMemory(d.gpa, size, PageKind.NORMAL, data=d.data, label=label)]
    if vendor is Vendor.TDX:  # data type ignored; UNMEASURED pages are PAGE.ADDed only
        kind = PageKind.UNMEASURED if d.unmeasured else PageKind.NORMAL
        return [AddMemory(d.gpa, size, kind, data=d.data, label=label)]
    if d.unmeasured:
        kind = PageKind.UNMEASURED
    elif d.data_type == PageDataType.SECRETS:
        kind = PageKind.SECRETS
    elif d.data_type in (PageDataType.CPUID_DATA, PageDataType.CPUID_XF):
        kind = PageKind.CPUID
    elif d.data is None and rules.native_zero:
        kind = PageKind.ZERO
    else:
        kind = PageKind.NORMAL
    # contents are loaded whatever the kind (an unmeasured page still holds the file's bytes)
    data = None if kind is PageKind.ZERO else d.data
    return [AddMemory(d.gpa, size, kind, data=data, label=label)]


def _batch_key(d: PageData) -> tuple[int, int, int, bool]:
    return (d.flags, d.data_type, d.compatibility_mask, d.data is None)


def igvm_plan(igvm: Igvm, vendor: Vendor, rules: IgvmRules | None = None) -> LaunchPlan:
    """The launch plan of ``igvm`` on ``vendor``'s platform under ``rules`` (default: QEMU's)."""
    rules = rules or PROFILES["qemu"]
    mask = platform_of(igvm, vendor)
    # SNP: GUEST_POLICY is the SNP guest policy (not measured); other platforms' policies are not
    # Init.policy's format, and none of them is measured. The VMSA features are those of the first VP
    # context, which QEMU reads from the file and passes to KVM_SEV_INIT2 (§B2.4).
    snp_like = vendor.snp_like
    first_vmsa = next(
        (d.data for d in igvm.directives if isinstance(d, VpContext) and d.compatibility_mask == mask), None
    )
    features = 0
    if first_vmsa is not None and vendor in (Vendor.SNP, Vendor.SW, Vendor.SEV_ES):
        features = int.from_bytes(first_vmsa[_SEV_FEATURES : _SEV_FEATURES + 8], "little")
        features &= ~SNP_ACTIVE if snp_like else ~0
    init = Init(
        vendor,
        vmsa_features=features,
        policy=(igvm.policy(mask) or 0) if snp_like else 0,
        init_path=InitPath.INIT2,
    )
    areas: dict[int, ParameterArea] = {}
    memory: list[Op] = []
    vmsas: list[VpContext] = []
    pending: list[AddMemory] = []  # QEMU's open page-data run
    last: tuple[PageData, int] | None = None  # the run's last directive and its index

    # where the trailing run of VP contexts starts: VMSAs at 0xFFFFFFFFF000 there are vCPUs (the same
    # PAGE_INFO entries in the same order, and several may share that GPA, as in KVM)
    tail = len(igvm.directives)
    while tail and isinstance(igvm.directives[tail - 1], VpContext | SnpIdBlock | IgvmHeader | ParameterArea):
        tail -= 1

    def flush() -> None:
        memory.extend(pending)
        pending.clear()

    for index, d in enumerate(igvm.directives):
        if isinstance(d, ParameterArea):
            areas[d.parameter_area_index] = d
            continue
        if isinstance(d, IgvmHeader | SnpIdBlock) or not d.compatibility_mask & mask:
            continue
        if isinstance(d, PageData):
            if d.shared and rules.shared == "skip":
                continue
            ops = _page_ops(d, vendor, rules)
            if rules.order == "qemu":
                continues = (
                    last is not None
                    and last[1] == index - 1
                    and _batch_key(last[0]) == _batch_key(d)
                    and d.gpa == last[0].gpa + (512 * PAGE if last[0].flags & PAGE_DATA_2MB else PAGE)
                )
                if not continues:
                    flush()
                pending.extend(ops)
                last = (d, index)
            else:
                memory.extend(ops)
        elif isinstance(d, ParameterInsert):
            if vendor in (Vendor.SEV, Vendor.SEV_ES):
                continue  # not measured for SEV/SEV-ES (QEMU ignores them; igvmmeasure: no data)
            area = areas[d.parameter_area_index]
            size = PAGE if rules.parameter_pages == "one" else area.number_of_bytes
            memory.append(
                AddMemory(
                    d.gpa, size, PageKind.UNMEASURED, label=f"parameter area {area.parameter_area_index}"
                )
            )
        elif isinstance(d, VpContext):
            if d.compatibility_mask != mask:
                continue  # a VP context names exactly one platform (its data format is that platform's)
            if vendor is Vendor.TDX:
                continue  # TDX has an architectural reset state
            if vendor is Vendor.SEV:
                raise MeasurementError("an SEV guest has no VMSA; the IGVM file has a VP context for it")
            if snp_like and rules.order == "file" and (d.gpa != VMSA_GPA or index < tail):
                # measured in place: a VMSA elsewhere, or one that page data follows
                memory.append(AddMemory(d.gpa, PAGE, PageKind.VMSA, data=d.data, label=f"VMSA {d.vp_index}"))
                continue
            if rules.order == "qemu" and d.gpa != VMSA_GPA:
                raise MeasurementError(
                    f"VP context {d.vp_index} at {d.gpa:#x}: QEMU needs VMSAs at {VMSA_GPA:#x}"
                )
            vmsas.append(d)
    flush()
    vcpus = [AddVcpu(i, d.data) for i, d in enumerate(sorted(vmsas, key=lambda v: v.vp_index))]
    return LaunchPlan.of([init, *memory, *vcpus, Finalize()])


_PAGE_TYPES = {  # PageKind → (PAGE_DATA flags, data type, keeps data)
    PageKind.NORMAL: (0, PageDataType.NORMAL, True),
    PageKind.ZERO: (0, PageDataType.NORMAL, False),
    PageKind.UNMEASURED: (PAGE_DATA_UNMEASURED, PageDataType.NORMAL, True),
    PageKind.SECRETS: (0, PageDataType.SECRETS, False),
    PageKind.CPUID: (0, PageDataType.CPUID_DATA, True),
}


def igvm_from_plan(plan: LaunchPlan) -> bytes:
    """An SNP plan written as an IGVM file for one SEV-SNP platform (mask 1): each page a PAGE_DATA
    directive in plan order (ZERO pages as zero pages, the other kinds by flag and data type), each
    vCPU a VP_CONTEXT at GPA 0xFFFFFFFFF000, the policy a GUEST_POLICY. Measured with igvmmeasure's
    rules and ``native_zero`` it gives the plan's own SNP launch digest."""
    init = plan.init
    if not init.vendor.snp_like:
        raise InputError(f"igvm_from_plan writes SNP plans, not {init.vendor.value}")
    directives: list[PageData | VpContext] = []
    for op in plan.memory:
        if op.kind not in _PAGE_TYPES or op.page_digests is not None or op.data_span is not None:
            raise InputError(
                f"{op.label or 'memory'}: {op.kind.value} pages or page digests have no IGVM form"
            )
        flags, data_type, keeps_data = _PAGE_TYPES[op.kind]
        for i in range(op.pages):
            data = op.page(i) if keeps_data and op.data is not None else None
            directives.append(PageData(op.gpa + i * PAGE, 1, 0, flags, data_type, data))
    for vcpu in plan.vcpus:
        directives.append(VpContext(VMSA_GPA, 1, 0, vcpu.index, vcpu.state))
    platform = SupportedPlatform(1, 0, Platform.SEV_SNP, 1, 0)
    return build_igvm([platform], [(1, init.policy)], list(directives))
