"""Guest vCPU models and their CPUID signatures (spec amd.md §3.5).

The signature (CPUID Fn0000_0001 EAX) is what QEMU puts in RDX of the initial VMSA. It is the
*guest* vCPU model, not the host CPU. Any family/model/stepping is accepted; the named types are
QEMU's AMD EPYC models (every name sev-snp-measure 0.0.13 knows, plus any further ``-vN`` version of
a known model, since all versions of one model share family/model/stepping).
"""

from __future__ import annotations

from pvmkit.errors import InputError

__all__ = ["CPU_TYPES", "cpu_signature", "split_signature", "vcpu_signature"]

#: QEMU model name → (family, model, stepping).
CPU_TYPES: dict[str, tuple[int, int, int]] = {
    **{n: (23, 1, 2) for n in ("EPYC", "EPYC-v1", "EPYC-v2", "EPYC-IBPB", "EPYC-v3", "EPYC-v4")},
    **{n: (23, 49, 0) for n in ("EPYC-Rome", "EPYC-Rome-v1", "EPYC-Rome-v2", "EPYC-Rome-v3")},
    **{n: (25, 1, 1) for n in ("EPYC-Milan", "EPYC-Milan-v1", "EPYC-Milan-v2")},
    **{n: (25, 17, 0) for n in ("EPYC-Genoa", "EPYC-Genoa-v1")},
    "EPYC-Turin": (26, 0, 0),
}

_LOWER = {name.lower(): name for name in CPU_TYPES}


def cpu_signature(family: int, model: int, stepping: int) -> int:
    """CPUID.1:EAX from family/model/stepping (AMD CPUID spec 25481, Fn0000_0001_EAX)."""
    if not 0 <= family <= 0xF + 0xFF:
        raise InputError(f"vCPU family {family} out of range (0..{0xF + 0xFF})")
    if not 0 <= model <= 0xFF:
        raise InputError(f"vCPU model {model} out of range (0..255)")
    if not 0 <= stepping <= 0xF:
        raise InputError(f"vCPU stepping {stepping} out of range (0..15)")
    if family > 0xF:
        base_family, ext_family = 0xF, family - 0xF
    else:
        base_family, ext_family = family, 0
    return (ext_family << 20) | ((model >> 4) << 16) | (base_family << 8) | ((model & 0xF) << 4) | stepping


def split_signature(sig: int) -> tuple[int, int, int]:
    """Signature → (family, model, stepping), the inverse of :func:`cpu_signature`."""
    base_family = (sig >> 8) & 0xF
    family = base_family + ((sig >> 20) & 0xFF) if base_family == 0xF else base_family
    model = (((sig >> 16) & 0xF) << 4) | ((sig >> 4) & 0xF)
    return family, model, sig & 0xF


def vcpu_signature(name: str) -> int:
    """Signature of a QEMU vCPU model name (case-insensitive; unknown ``-vN`` of a known model ok)."""
    key = name.strip().lower()
    canonical = _LOWER.get(key)
    if canonical is None:
        base, sep, version = key.rpartition("-v")
        if sep and version.isdigit():
            canonical = _LOWER.get(base)
    if canonical is None:
        known = ", ".join(CPU_TYPES)
        raise InputError(f"unknown vCPU type {name!r} (known: {known}; or give a signature)")
    return cpu_signature(*CPU_TYPES[canonical])
