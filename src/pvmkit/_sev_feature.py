"""``pvmkit.features.SevFeature``: the SEV_FEATURES bits as an :class:`enum.IntFlag`.

Defined apart from :mod:`pvmkit.features` so that importing the feature table (which every launch
plan does) does not import :mod:`enum`; ``pvmkit.features.SevFeature`` loads this module on first use.
The members are the entries of :data:`pvmkit.features.SEV_FEATURE_BITS` (a test checks they match).
"""

from __future__ import annotations

import enum

from pvmkit.features import SEV_FEATURE_BITS as _BITS

__all__ = ["SevFeature"]


class SevFeature(enum.IntFlag):
    """SEV_FEATURES bits (AMD APM vol. 2, table "SEV_FEATURES"; spec amd.md §5.1)."""

    SNP_ACTIVE = _BITS["SNP_ACTIVE"]
    VTOM = _BITS["VTOM"]
    REFLECT_VC = _BITS["REFLECT_VC"]
    RESTRICTED_INJECTION = _BITS["RESTRICTED_INJECTION"]
    ALTERNATE_INJECTION = _BITS["ALTERNATE_INJECTION"]
    DEBUG_SWAP = _BITS["DEBUG_SWAP"]  # APM: DebugVirtualization
    PREVENT_HOST_IBS = _BITS["PREVENT_HOST_IBS"]
    BTB_ISOLATION = _BITS["BTB_ISOLATION"]
    VMPL_SSS = _BITS["VMPL_SSS"]
    SECURE_TSC = _BITS["SECURE_TSC"]
    VMGEXIT_PARAMETER = _BITS["VMGEXIT_PARAMETER"]
    IBS_VIRTUALIZATION = _BITS["IBS_VIRTUALIZATION"]
    VMSA_REG_PROT = _BITS["VMSA_REG_PROT"]
    SMT_PROTECTION = _BITS["SMT_PROTECTION"]
    SECURE_AVIC = _BITS["SECURE_AVIC"]
    IBPB_ON_ENTRY = _BITS["IBPB_ON_ENTRY"]


SevFeature.__module__ = "pvmkit.features"  # its public home: repr, pickling and docs name it there
