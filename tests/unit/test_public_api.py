"""The public surface: ``pvmkit.__all__`` is exactly the intended list and every name resolves."""

from __future__ import annotations

import subprocess
import sys

import pvmkit

EXPECTED = sorted(
    [
        "__version__",
        # errors
        "AlreadyFinalizedError", "AttestationError", "CapabilityError", "CertificateError",
        "FeatureError", "FirmwareError", "FormatError", "InputError", "KvmError", "KvmUnavailableError",
        "LaunchStateError", "LayoutError", "MeasurementError", "NotYetInitializedError", "PlanError",
        "ProtectedStateError", "PvmkitError", "SevFirmwareError", "SignatureError", "TdxModuleError",
        "TruncatedError", "UnsupportedVersionError", "VerificationError",
        # plan and launcher
        "AddMemory", "AddVcpu", "Backend", "Finalize", "Init", "InitPath", "LaunchPlan", "Launcher",
        "PageKind", "PageOrder", "SevFeature", "TdxParams", "Vendor", "Vmm",
    ]
)  # fmt: skip


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(pvmkit.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in pvmkit.__all__:
        assert getattr(pvmkit, name) is not None, name


def test_errors_share_one_root() -> None:
    for name in pvmkit.__all__:
        obj = getattr(pvmkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, pvmkit.PvmkitError), name


def test_import_pvmkit_is_cheap() -> None:
    code = "import sys, pvmkit; print(sorted(m for m in sys.modules if m.startswith('pvmkit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pvmkit']"
