"""pvmkit: protected (confidential) VMs on Linux KVM.

Predict launch measurements, drive KVM, run software-protected VMs and verify evidence, all from one
vendor-neutral launch plan (INIT → ADD × N → FINALIZE). This module is the public surface: every name
in ``__all__`` is importable from ``pvmkit`` (loaded lazily, so ``import pvmkit`` stays cheap), and
tests/unit/test_public_api.py guards the list. ``pvmkit.uapi`` and the raw ``*_raw`` KVM calls are
the "hazmat" layer: exact kernel ABI mirrors for experts.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: `import pvmkit` stays cheap
if TYPE_CHECKING:
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
            "CcaParams",
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
    "measure": "pvmkit.prediction",
    # the KVM layer (one object per fd) and the host probe
    **{
        name: "pvmkit.kvm"
        for name in (
            "FailEntryExit",
            "GuestMemfd",
            "GuestMemory",
            "HltExit",
            "HostReport",
            "HypercallExit",
            "InternalErrorExit",
            "IntrExit",
            "IoExit",
            "Kvm",
            "MemoryFaultExit",
            "MmioExit",
            "ShutdownExit",
            "SystemEventExit",
            "TdxExit",
            "UnknownExit",
            "Vcpu",
            "VcpuExit",
            "Vm",
            "probe",
        )
    },
    # AMD SEV / SEV-ES / SNP prediction
    "AmdLaunch": "pvmkit.vendors.amd.builder",
    "measure_vcpu_range": "pvmkit.vendors.amd.builder",
    "SnpMeasurer": "pvmkit.vendors.amd.measure",
    "SevMeasurer": "pvmkit.vendors.amd.measure",
    "SevEsMeasurer": "pvmkit.vendors.amd.measure",
    "build_vmsa": "pvmkit.vendors.amd.vmsa",
    "parse_vmsa": "pvmkit.vendors.amd.vmsa",
    "parse_ovmf": "pvmkit.formats.ovmf",
    "hash_kernel_inputs": "pvmkit.formats.sev_hashes",
    # TDX prediction and evidence
    "parse_tdvf": "pvmkit.formats.tdvf",
    "TdvfMetadata": "pvmkit.formats.tdvf",
    "build_tdvf_plan": "pvmkit.vendors.tdx.builder",
    "MrtdMeasurer": "pvmkit.vendors.tdx.measure",
    "RtmrInputs": "pvmkit.vendors.tdx.rtmr",
    "HostVersions": "pvmkit.vendors.tdx.rtmr",
    "AcpiBlobs": "pvmkit.vendors.tdx.rtmr",
    "build_event_log_plan": "pvmkit.vendors.tdx.rtmr",
    "predict_rtmrs": "pvmkit.vendors.tdx.rtmr",
    "EventLogPlan": "pvmkit.vendors.tdx.eventlog_plan",
    "CcelTable": "pvmkit.formats.ccel",
    "CcEventLog": "pvmkit.formats.ccel",
    "TdReport": "pvmkit.formats.tdx_quote",
    "TdxQuote": "pvmkit.formats.tdx_quote",
    # SNP-layout attestation: reports, software keys, verification
    "SnpReport": "pvmkit.attest.snp_report",
    "SoftwareAttestationKeys": "pvmkit.attest.software_ca",
    "verify_report": "pvmkit.attest.verify",
    "verify_snp": "pvmkit.attest.verify",
    "Expected": "pvmkit.attest.verify",
    "SnpExpected": "pvmkit.attest.snp_validate",
    "SnpVerification": "pvmkit.attest.verify",
    "VerificationResult": "pvmkit.attest.verify",
    "verify_quote": "pvmkit.attest.tdx_verify",
    "TdxExpected": "pvmkit.attest.tdx_verify",
    "TdxVerificationResult": "pvmkit.attest.tdx_verify",
    "appraise_quote": "pvmkit.attest.dcap_verify",
    "DcapAppraisal": "pvmkit.attest.dcap_verify",
    "verify_tdx": "pvmkit.attest.dcap_verify",
    "TdxVerification": "pvmkit.attest.dcap_verify",
    "validate_quote": "pvmkit.attest.tdx_validate",
    "CollateralSet": "pvmkit.formats.intel_collateral",
    "SgxQuote": "pvmkit.formats.sgx_quote",
    # KVM drivers for hardware protected VMs
    "AmdKvmDriver": "pvmkit.vendors.amd.kvm",
    "AmdLaunchResult": "pvmkit.vendors.amd.kvm",
    "TdxKvmDriver": "pvmkit.vendors.tdx.kvm",
    "TdxLaunchResult": "pvmkit.vendors.tdx.kvm",
    # software-protected VMs on plain KVM
    "SwMachine": "pvmkit.vendors.sw.machine",
    "SW_SUPPORTED_VMSA_FEATURES": "pvmkit.vendors.sw.rules",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pvmkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
