"""SEV_FEATURES bits (the VMSA features a host chooses at INIT) and the rules for each vendor.

Bit names and numbers: AMD APM vol. 2, "SEV_FEATURES" (VMSA offset 0x3B0); pvmkit spec amd.md §5.1.
KVM's names differ for bit 5: the APM calls it DebugVirtualization, KVM/QEMU call it DebugSwap.
"""

from __future__ import annotations

import enum

from pvmkit.errors import FeatureError

__all__ = [
    "KNOWN_SEV_FEATURES",
    "SNP_ONLY_FEATURES",
    "SevFeature",
    "decode_sev_features",
    "parse_sev_features",
]


class SevFeature(enum.IntFlag):
    """SEV_FEATURES bits (AMD APM vol. 2, table "SEV_FEATURES"; spec amd.md §5.1)."""

    SNP_ACTIVE = 1 << 0
    VTOM = 1 << 1
    REFLECT_VC = 1 << 2
    RESTRICTED_INJECTION = 1 << 3
    ALTERNATE_INJECTION = 1 << 4
    DEBUG_SWAP = 1 << 5  # APM: DebugVirtualization
    PREVENT_HOST_IBS = 1 << 6
    BTB_ISOLATION = 1 << 7
    VMPL_SSS = 1 << 8
    SECURE_TSC = 1 << 9
    VMGEXIT_PARAMETER = 1 << 10
    IBS_VIRTUALIZATION = 1 << 12
    VMSA_REG_PROT = 1 << 14
    SMT_PROTECTION = 1 << 15
    SECURE_AVIC = 1 << 16
    IBPB_ON_ENTRY = 1 << 21


KNOWN_SEV_FEATURES = 0
for _f in SevFeature:
    KNOWN_SEV_FEATURES |= int(_f)
del _f

#: KVM's SVM_SEV_FEAT_SNP_ONLY_MASK: bits refused for SEV-ES guests (spec amd.md §5.1).
SNP_ONLY_FEATURES = int(SevFeature.SNP_ACTIVE | SevFeature.SECURE_TSC | SevFeature.IBPB_ON_ENTRY)


def decode_sev_features(value: int) -> list[str]:
    """Names of the set bits, lowest first; unknown bits appear as ``bit<N>``."""
    names = []
    for bit in range(64):
        if value >> bit & 1:
            try:
                names.append(SevFeature(1 << bit).name or f"bit{bit}")
            except ValueError:
                names.append(f"bit{bit}")
    return names


def parse_sev_features(text: str) -> int:
    """Parse ``0x21``, ``33`` or ``SNP_ACTIVE,DEBUG_SWAP`` into an integer; FeatureError if malformed."""
    text = text.strip()
    if not text:
        raise FeatureError("empty feature value")
    try:
        value = int(text, 0)
    except ValueError:
        value = 0
        for part in text.replace("|", ",").split(","):
            name = part.strip().upper().replace("-", "_")
            if not name:
                continue
            try:
                value |= int(SevFeature[name])
            except KeyError:
                raise FeatureError(f"unknown SEV feature name {part.strip()!r}") from None
    if value < 0 or value >= 1 << 64:
        raise FeatureError(f"feature value {text!r} does not fit in 64 bits")
    return value
