"""pvmkit's exception tree. Every error pvmkit raises on purpose derives from :class:`PvmkitError`.

::

    PvmkitError
    ├── FormatError(what, offset)            bad bytes: firmware, report, quote, event log, key
    │   ├── TruncatedError                   input ends before a structure does
    │   └── UnsupportedVersionError          a version/type field pvmkit does not know
    ├── InputError                           a user input that cannot be used (option combination, value)
    ├── PlanError                            a launch plan that breaks the lifecycle rules
    │   ├── LaunchStateError                 op out of order
    │   │   ├── NotYetInitializedError       ADD/FINALIZE before INIT
    │   │   └── AlreadyFinalizedError        anything after FINALIZE
    │   ├── LayoutError                      misaligned, empty or overlapping pages, bad vCPU index
    │   └── FeatureError                     features the vendor, VM type, init path or host cannot take
    ├── MeasurementError                     an op the measurer cannot model for this vendor/profile
    ├── KvmError(op, errno)                  an ioctl or /dev/kvm operation failed
    │   ├── KvmUnavailableError              /dev/kvm missing or not openable
    │   ├── CapabilityError                  the host lacks a VM type or capability
    │   ├── ProtectedStateError              register/memory access refused on a sealed (protected) VM
    │   └── FirmwareError(fw_code, fw_name)  the security processor / TDX module refused
    │       ├── SevFirmwareError             SEV_RET_* status from kvm_sev_cmd.error
    │       └── TdxModuleError               TDX module status from kvm_tdx_cmd.hw_error
    ├── AttestationError                     the software attestation service cannot produce a report
    └── VerificationError(field, expected, actual)   evidence does not match what was expected
        ├── SignatureError                   a signature does not verify
        └── CertificateError                 a certificate chain, validity or key-usage problem

CLI exit codes (see docs/cli.md): 0 success, 1 any other :class:`PvmkitError`, 2 usage error,
3 :class:`VerificationError`.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
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
]


class PvmkitError(Exception):
    """Root of every error pvmkit raises on purpose."""


class FormatError(PvmkitError):
    """Input bytes are not the structure they should be.

    ``what`` names the structure or field, ``offset`` is the byte offset of the problem (or None).
    """

    def __init__(self, message: str, *, what: str = "", offset: int | None = None) -> None:
        self.what = what
        self.offset = offset
        if offset is not None:
            message = f"{message} (at offset {offset:#x})"
        super().__init__(message)


class TruncatedError(FormatError):
    """The input ends before the structure does."""


class UnsupportedVersionError(FormatError):
    """A version or type field holds a value pvmkit does not support."""


class InputError(PvmkitError):
    """A user-supplied value or combination of options cannot be used."""


class PlanError(PvmkitError):
    """A launch plan breaks the INIT → ADD × N → FINALIZE rules."""


class LaunchStateError(PlanError):
    """An op was issued in a state that does not allow it."""


class NotYetInitializedError(LaunchStateError):
    """ADD or FINALIZE before INIT."""


class AlreadyFinalizedError(LaunchStateError):
    """An op after FINALIZE."""


class LayoutError(PlanError):
    """Pages that are misaligned, empty or overlapping, or a bad vCPU index."""


class FeatureError(PlanError):
    """Features (e.g. SEV_FEATURES bits) the vendor, VM type, init path or host cannot take."""


class MeasurementError(PvmkitError):
    """The measurer cannot model an op for this vendor or VMM profile."""


class KvmError(PvmkitError):
    """A KVM ioctl or /dev/kvm operation failed. Keeps the ioctl name and errno."""

    def __init__(self, op: str, errno: int, message: str | None = None) -> None:
        self.op = op
        self.errno = errno
        name = _errno.errorcode.get(errno, str(errno)) if errno else "0"
        text = message or (os.strerror(errno) if errno else "failed")
        super().__init__(f"{op}: {text} ({name})")


class KvmUnavailableError(KvmError):
    """/dev/kvm is missing or cannot be opened."""


class CapabilityError(KvmError):
    """The host lacks a VM type or capability that the operation needs."""


class ProtectedStateError(KvmError):
    """The VM's state is protected (after FINALIZE): register or measured-memory access is refused.

    Carries errno EINVAL, which is what KVM returns for the same ioctls on a protected VM.
    """

    def __init__(self, op: str, message: str | None = None) -> None:
        super().__init__(op, _errno.EINVAL, message or "guest state is protected after FINALIZE")


class FirmwareError(KvmError):
    """The security firmware refused a command. ``fw_code`` is its status, ``fw_name`` its spec name."""

    def __init__(self, op: str, errno: int, fw_code: int, fw_name: str) -> None:
        self.fw_code = fw_code
        self.fw_name = fw_name
        super().__init__(op, errno, f"firmware error {fw_name} ({fw_code:#x})")


class SevFirmwareError(FirmwareError):
    """An AMD SEV firmware status (SEV_RET_*) from ``kvm_sev_cmd.error``."""


class TdxModuleError(FirmwareError):
    """A TDX module status from ``kvm_tdx_cmd.hw_error``."""


class AttestationError(PvmkitError):
    """The (software) attestation service cannot produce a report."""


class VerificationError(PvmkitError):
    """Evidence does not match what was expected. ``field`` names the first field that differs."""

    def __init__(
        self, message: str, *, field: str = "", expected: object = None, actual: object = None
    ) -> None:
        self.field = field
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class SignatureError(VerificationError):
    """A signature does not verify."""


class CertificateError(VerificationError):
    """A certificate is malformed, expired, not yet valid or does not chain to the trust anchor."""
