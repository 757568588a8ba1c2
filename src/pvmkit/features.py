"""SEV_FEATURES bits (the VMSA features a host chooses at INIT) and the rules for each vendor.

Bit names and numbers: AMD APM vol. 2, "SEV_FEATURES" (VMSA offset 0x3B0); pvmkit spec amd.md §5.1.
KVM's names differ for bit 5: the APM calls it DebugVirtualization, KVM/QEMU call it DebugSwap.
"""

from __future__ import annotations

import enum

from pvmkit.errors import FeatureError

__all__ = [
    "KNOWN_SEV_FEATURES",
    "SEV_FEATURE_BITS",
    "SevFeature",
    "decode_sev_features",
    "parse_sev_features",
]


class SevFeature(enum.IntFlag):
    """SEV_FEATURES bits, KVM's names (AMD APM vol. 2, table "SEV_FEATURES"; spec amd.md §5.1)."""

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


#: SEV_FEATURES bit names → bit values, lowest bit first (the members of :class:`SevFeature`).
SEV_FEATURE_BITS: dict[str, int] = {f.name: f.value for f in SevFeature if f.name}
SNP_ACTIVE = SEV_FEATURE_BITS["SNP_ACTIVE"]
DEBUG_SWAP = SEV_FEATURE_BITS["DEBUG_SWAP"]

KNOWN_SEV_FEATURES = 0
for _bit in SEV_FEATURE_BITS.values():
    KNOWN_SEV_FEATURES |= _bit
del _bit

_NAME_OF_BIT = {bit: name for name, bit in SEV_FEATURE_BITS.items()}


def decode_sev_features(value: int) -> list[str]:
    """Names of the set bits, lowest first; unknown bits appear as ``bit<N>``."""
    return [_NAME_OF_BIT.get(1 << bit, f"bit{bit}") for bit in range(64) if value >> bit & 1]


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
                value |= SEV_FEATURE_BITS[name]
            except KeyError:
                raise FeatureError(f"unknown SEV feature name {part.strip()!r}") from None
    if value < 0 or value >= 1 << 64:
        raise FeatureError(f"feature value {text!r} does not fit in 64 bits")
    return value
