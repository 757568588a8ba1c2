"""What a VMM puts into a realm before it runs, and the launch plan that measures it.

A :class:`VmmLayout` is the VMM's side of a realm launch: guest RAM, the images it copies in (kernel,
initrd, firmware, the DTB it generated) at the addresses it chose, and vCPU 0's entry state. The
VMM-specific modules (:mod:`~pvmkit.vendors.cca.kvmtool`, :mod:`~pvmkit.vendors.cca.qemu`) build
one from the user's inputs; :func:`plan_of` turns it into a :class:`~pvmkit.plan.LaunchPlan` in the
order the Realm VM specification (cca-realm-measurements ``docs/realm-vm.md``) and kvmtool's realm
code (``arm/aarch64/realm.c``, ``kvm_arm_realm_finalize``) issue the RMI calls: REALM_CREATE,
INIT_RIPAS over all guest RAM, DATA_CREATE for every image in ascending IPA order, then the one
runnable REC.

An image that does not start or end on a 4 KiB granule is populated as whole granules, the rest of
each granule being the (zero) guest memory around it (kvmtool ``__realm_populate`` aligns the range
down and up to 4 KiB). Two images may not share a granule: both VMMs place them so that they never do.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import InputError, LayoutError
from pvmkit.plan import AddMemory, AddVcpu, CcaParams, Finalize, Init, LaunchPlan, PageKind, Vendor

__all__ = ["Blob", "VmmLayout", "align_up", "plan_of", "required_ipa_bits"]

_GRANULE = 4096


@dataclass(frozen=True)
class Blob:
    gpa: int
    data: bytes
    label: str


@dataclass(frozen=True)
class VmmLayout:
    """``vmm`` (kvmtool, qemu), guest ``ram`` ranges ``(base, size)``, the ``blobs`` it loads, vCPU
    0's ``pc`` and ``gprs`` (x0..x7), the DTB (``dtb_gpa``, ``dtb`` as populated, padding included)
    and the IPA width the VMM asks KVM for (``ipa_bits``)."""

    vmm: str
    ram: tuple[tuple[int, int], ...]
    blobs: tuple[Blob, ...]
    pc: int
    gprs: tuple[int, ...]
    dtb_gpa: int
    dtb: bytes
    ipa_bits: int


def _gpa(blob: Blob) -> int:
    return blob.gpa


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def required_ipa_bits(last_ipa: int) -> int:
    """kvmtool ``kvm__get_vm_type`` (arm/aarch64/kvm.c): max(32, fls(last IPA)) bits for the RAM, plus
    one bit for a realm's unprotected alias (the IPA's top bit)."""
    return max(32, last_ipa.bit_length()) + 1


def _memory_ops(blobs: tuple[Blob, ...]) -> list[AddMemory]:
    ops = []
    end_of_previous = 0
    for blob in sorted(blobs, key=_gpa):
        if not blob.data:
            continue
        start = blob.gpa - blob.gpa % _GRANULE
        if start < end_of_previous:
            raise LayoutError(
                f"{blob.label} at {blob.gpa:#x} shares a 4 KiB granule with the image before it"
            )
        content = bytes(blob.gpa - start) + blob.data
        content += bytes(-len(content) % _GRANULE)
        ops.append(AddMemory(start, len(content), PageKind.NORMAL, data=content, label=blob.label))
        end_of_previous = start + len(content)
    return ops


def plan_of(
    layout: VmmLayout,
    *,
    num_bps: int,
    num_wps: int,
    vcpus: int,
    sve_vl: int | None = None,
    pmu_num_ctrs: int | None = None,
    lpa2: bool = False,
    hash_algo: str = "sha256",
    rmm: str = "1.0",
    host_ipa_bits: int | None = None,
) -> LaunchPlan:
    """The launch plan of ``layout`` on a host with these realm parameters (RMM 1.0: INIT_RIPAS right
    after REALM_CREATE, as kvmtool and the Realm VM specification order it)."""
    from pvmkit.vendors.cca.realm import rec_params_page

    if host_ipa_bits is not None and host_ipa_bits < layout.ipa_bits:
        raise InputError(
            f"the {layout.vmm} layout needs {layout.ipa_bits} IPA bits, the host offers {host_ipa_bits}"
        )
    if not 1 <= vcpus <= 512:
        raise InputError(f"--vcpus {vcpus} is outside 1..512")
    ripas = tuple((base, base + size) for base, size in sorted(layout.ram))
    params = CcaParams(
        layout.ipa_bits,
        num_bps,
        num_wps,
        sve_vl=sve_vl,
        pmu_num_ctrs=pmu_num_ctrs,
        lpa2=lpa2,
        hash_algo=hash_algo,
        rmm=rmm,
        ripas=ripas,
        ripas_first=True,
    )
    recs = [AddVcpu(0, rec_params_page(pc=layout.pc, gprs=layout.gprs))]
    recs += [AddVcpu(i, rec_params_page(pc=0, runnable=False)) for i in range(1, vcpus)]
    return LaunchPlan.of([Init(Vendor.CCA, cca=params), *_memory_ops(layout.blobs), *recs, Finalize()])
