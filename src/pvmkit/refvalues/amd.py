"""Every combination of an AMD (SEV, SEV-ES, SNP, sw) launch shape → its launch digest.

The shape parameters are sets: vCPU counts, vCPU types (signatures), VMM profiles and VMSA feature
sets, crossed with one or more firmware/kernel *bases* (an :class:`~pvmkit.vendors.amd.builder.AmdLaunch`
each, with the JSON-ready description of its inputs). Combinations are measured at the speed of
``measure --vcpus 1-512``: :func:`~pvmkit.vendors.amd.builder.measure_vcpu_range` measures the firmware
prefix once per base (shared through its cache) and each vCPU count costs one page update; vCPU
types with the same signature, and the ec2/gce profiles (whose VMSAs carry no signature, RDX
0x600), are measured once and credited to every combination they stand for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pvmkit.plan import Vendor, Vmm
from pvmkit.refvalues.model import Origin, RefValueSet
from pvmkit.refvalues.names import SNP_MEASUREMENT
from pvmkit.vendors.amd.builder import AmdLaunch, measure_vcpu_range
from pvmkit.vendors.amd.profiles import profile

__all__ = ["AmdShape", "amd_combinations", "amd_values"]


@dataclass(frozen=True)
class AmdShape:
    """The shape sets: vCPU counts, (label, signature) vCPU types, VMM profiles, VMSA feature sets."""

    vcpus: Sequence[int]
    vcpu_types: Sequence[tuple[str, int]]
    vmms: Sequence[Vmm]
    vmsa_features: Sequence[int]

    def count(self) -> int:
        return len(self.vcpus) * len(self.vcpu_types) * len(self.vmms) * len(self.vmsa_features)


def amd_combinations(bases: int, shape: AmdShape) -> int:
    return bases * shape.count()


def _name(vendor: Vendor) -> str:
    return SNP_MEASUREMENT if vendor.snp_like else "sev_launch_digest"


def amd_values(
    bases: Sequence[tuple[AmdLaunch, Origin]],
    shape: AmdShape,
    *,
    progress: Callable[[int], None] | None = None,
) -> RefValueSet:
    """The launch digest of every combination of ``bases`` × ``shape``, each value with the
    combinations that produce it (origins: the base's description plus ``vcpus``, ``vcpu_type``,
    ``vcpu_sig``, ``vmm``, ``vmsa_features``). ``progress(n)`` after each group of n combinations."""
    rvs = RefValueSet()
    cache: dict[tuple[object, ...], object] = {}
    counts = sorted(set(shape.vcpus))
    for base, base_origin in bases:
        name = _name(base.vendor)
        for vmm in shape.vmms:
            vmm_sig_free = base.vendor.has_vmsa and profile(vmm).rdx is not None
            for features in shape.vmsa_features:
                by_sig: dict[int, list[tuple[int, bytes]]] = {}
                for label, sig in shape.vcpu_types:
                    key = 0 if vmm_sig_free or not base.vendor.has_vmsa else sig
                    if key not in by_sig:
                        launch = AmdLaunch(
                            **{**base.__dict__, "vmm": vmm, "vmsa_features": features, "vcpu_sig": key}
                        )
                        by_sig[key] = measure_vcpu_range(launch, counts, cache=cache)
                    common = {
                        **base_origin,
                        "vcpu_type": label,
                        "vcpu_sig": f"{sig:#x}",
                        "vmm": vmm.value,
                        "vmsa_features": f"{features:#x}",
                    }
                    for n, digest in by_sig[key]:
                        rvs.add(name, digest, {**common, "vcpus": n})
                    if progress is not None:
                        progress(len(counts))
    return rvs
