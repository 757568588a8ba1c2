"""pvmkit: protected (confidential) VMs on Linux KVM.

Predict launch measurements, drive KVM, run software-protected VMs and verify evidence, all from one
vendor-neutral launch plan (INIT → ADD × N → FINALIZE). This module is the public surface: every name
in ``__all__`` is importable from ``pvmkit`` (loaded lazily, so ``import pvmkit`` stays cheap), and
tests/unit/test_public_api.py guards the list. ``pvmkit.uapi`` and the raw ``*_raw`` KVM calls are
the "hazmat" layer: exact kernel ABI mirrors for experts.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name → defining module
_EXPORTS: dict[str, str] = {
    # errors
    **{
        name: "pvmkit.errors"
        for name in (
            "AlreadyFinalizedError",
            "AttestationError",
            "CapabilityError",
            "CertificateError",
            "FeatureError",
            "FirmwareError",
            "FormatError",
            "InputError",
            "KvmError",
            "KvmUnavailableError",
            "LaunchStateError",
            "LayoutError",
            "MeasurementError",
            "NotYetInitializedError",
            "PlanError",
            "ProtectedStateError",
            "PvmkitError",
            "SevFirmwareError",
            "SignatureError",
            "TdxModuleError",
            "TruncatedError",
            "UnsupportedVersionError",
            "VerificationError",
        )
    },
    # the plan and the launcher
    **{
        name: "pvmkit.plan"
        for name in (
            "AddMemory",
            "AddVcpu",
            "Finalize",
            "Init",
            "InitPath",
            "LaunchPlan",
            "PageKind",
            "PageOrder",
            "TdxParams",
            "Vendor",
            "Vmm",
        )
    },
    "Launcher": "pvmkit.launch",
    "Backend": "pvmkit.launch",
    "SevFeature": "pvmkit.features",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pvmkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

