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
        "AddMemory", "AddVcpu", "Backend", "CcaParams", "Finalize", "Init", "InitPath", "LaunchPlan",
        "Launcher", "PageKind", "PageOrder", "SevFeature", "TdxParams", "Vendor", "Vmm", "measure",
        # KVM layer
        "FailEntryExit", "GuestMemfd", "GuestMemory", "HltExit", "HostReport", "HypercallExit",
        "InternalErrorExit", "IntrExit", "IoExit", "Kvm", "MemoryFaultExit", "MmioExit", "ShutdownExit",
        "SystemEventExit", "TdxExit", "UnknownExit", "Vcpu", "VcpuExit", "Vm", "probe",
        # AMD
        "AmdLaunch", "measure_vcpu_range", "SnpMeasurer", "SevMeasurer", "SevEsMeasurer", "build_vmsa",
        "parse_vmsa", "parse_ovmf", "hash_kernel_inputs",
        # TDX
        "parse_tdvf", "TdvfMetadata", "build_tdvf_plan", "MrtdMeasurer", "RtmrInputs", "HostVersions",
        "AcpiBlobs", "build_event_log_plan", "predict_rtmrs", "EventLogPlan", "CcelTable", "CcEventLog",
        "TdReport", "TdxQuote",
        # attestation
        "SnpReport", "SoftwareAttestationKeys", "verify_report", "verify_snp", "Expected", "SnpExpected",
        "SnpVerification", "VerificationResult",
        "verify_quote", "TdxExpected", "TdxVerificationResult", "appraise_quote", "DcapAppraisal",
        "verify_tdx", "TdxVerification", "validate_quote",
        "CollateralSet", "SgxQuote",
        # KVM drivers
        "AmdKvmDriver", "AmdLaunchResult", "TdxKvmDriver", "TdxLaunchResult",
        # software-protected VMs
        "SwMachine", "SW_SUPPORTED_VMSA_FEATURES",
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


def test_measure_dispatches_by_vendor() -> None:
    from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, LaunchPlan, PageKind, Vendor

    page = bytes(range(256)) * 16
    snp = LaunchPlan.of(
        [Init(Vendor.SNP), AddMemory(0x1000, 4096, PageKind.NORMAL, data=page), AddVcpu(0, bytes(4096)),
         Finalize()]
    )  # fmt: skip
    tdx = LaunchPlan.of([Init(Vendor.TDX), AddMemory(0x1000, 4096, PageKind.NORMAL, data=page), Finalize()])
    assert len(pvmkit.measure(snp)) == 48
    assert len(pvmkit.measure(tdx)) == 48
    assert pvmkit.measure(snp) != pvmkit.measure(tdx)
    from pvmkit.vendors.amd.measure import measure_plan
    from pvmkit.vendors.tdx.measure import measure_mrtd

    assert pvmkit.measure(snp) == measure_plan(snp)
    assert pvmkit.measure(tdx) == measure_mrtd(tdx)


def test_measure_stays_callable_after_its_module_is_imported() -> None:
    code = (
        "import pvmkit.prediction, pvmkit; from pvmkit.plan import *; "
        "p = LaunchPlan.of([Init(Vendor.TDX), AddMemory(0x1000, 4096, PageKind.NORMAL), Finalize()]); "
        "print(pvmkit.measure(p) == pvmkit.prediction.measure(p))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
