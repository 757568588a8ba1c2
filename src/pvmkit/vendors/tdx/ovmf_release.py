"""The edk2 release an OVMF image says it was built from (its SMBIOS type 0 BIOS version string).

OVMF's SmbiosPlatformDxe puts ``PcdFirmwareVersionString`` into the type 0 structure it installs
(OvmfPkg/SmbiosPlatformDxe/SmbiosPlatformDxe.c); distributions set it to their package version, whose
upstream part is the edk2 stable tag: Debian's ``2026.08+ds-2`` and ``2025.02-8+deb13u1``, Ubuntu's
``2024.02-3ubuntu…`` (year and month of ``edk2-stableYYYYMM``). pvmkit's OVMF rules (fw_cfg,
boot options, SMBIOS) switch on that release, so ``measure --vendor tdx --rtmr`` takes it from the
image unless ``--ovmf-version`` is given. A string that is not such a version (an upstream build's
empty default, Fedora's ``edk2-20250221…`` snapshot dates) gives None: the caller must not guess.
"""

from __future__ import annotations

from pvmkit.errors import InputError

__all__ = ["image_release"]

_FIRST_STABLE_YEAR = 2019  # edk2's stable tags are YYYYMM since edk2-stable201903


def image_release(firmware: bytes) -> tuple[int, int] | None:
    """(year, month) of the image's edk2 release, or None where its version string is not one."""
    from pvmkit.vendors.tdx.rtmr import parse_version
    from pvmkit.vendors.tdx.smbios_ovmf import firmware_strings

    strings = firmware_strings(firmware)
    if strings is None or not strings.version:
        return None
    try:
        year, month = parse_version(strings.version, "OVMF")
    except InputError:
        return None
    if not (_FIRST_STABLE_YEAR <= year <= 2099 and 1 <= month <= 12):
        return None
    return year, month
