"""pvmkit.features: the SEV_FEATURES bits (AMD APM vol. 2, table "SEV_FEATURES"; Linux
arch/x86/include/asm/svm.h SVM_SEV_FEAT_*), their names, parsing and decoding."""

from __future__ import annotations

import enum
import pickle

import pytest

from pvmkit import features
from pvmkit.errors import FeatureError


def test_sev_feature_is_an_int_flag_with_the_apm_bits() -> None:
    from pvmkit import SevFeature

    assert features.SevFeature is SevFeature and issubclass(SevFeature, enum.IntFlag)
    assert {f.name: f.value for f in SevFeature} == features.SEV_FEATURE_BITS
    # APM vol. 2 / svm.h: SNP_ACTIVE 0, RESTRICTED_INJECTION 3, ALTERNATE_INJECTION 4, DEBUG_SWAP 5,
    # SECURE_TSC 9
    bits = {
        "SNP_ACTIVE": 0,
        "RESTRICTED_INJECTION": 3,
        "ALTERNATE_INJECTION": 4,
        "DEBUG_SWAP": 5,
        "SECURE_TSC": 9,
    }
    assert {name: features.SEV_FEATURE_BITS[name].bit_length() - 1 for name in bits} == bits
    assert pickle.loads(pickle.dumps(SevFeature.SNP_ACTIVE | SevFeature.DEBUG_SWAP)) == 0x21


def test_decode_and_parse() -> None:
    names = ["SNP_ACTIVE", "DEBUG_SWAP", "SECURE_TSC", "bit11"]
    assert features.decode_sev_features(0x221 | 1 << 11) == names
    assert features.parse_sev_features("snp-active|debug_swap") == 0x21
    assert features.parse_sev_features("0x21") == features.parse_sev_features("33") == 0x21
    for bad in ("", "NO_SUCH_FEATURE", str(1 << 64)):
        with pytest.raises(FeatureError):
            features.parse_sev_features(bad)
