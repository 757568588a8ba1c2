"""``linux/psp-sev.h``: SEV firmware status codes and the ``/dev/sev`` platform ioctl.

.. danger:: Hazmat. Raw kernel ABI, for experts (docs/uapi.md).

The firmware status of every SEV / SNP command comes back in ``kvm_sev_cmd.error``
(:mod:`pvmkit.uapi.sev`) or ``sev_issue_cmd.error``; :func:`sev_ret_name` turns it into its kernel name
for :class:`pvmkit.errors.SevFirmwareError`. Layouts and values are checked against the pinned
headers (``tools/gen_uapi_layouts.py``).
"""

from __future__ import annotations

import ctypes
import enum
from typing import Final

from pvmkit._cstruct import Struct
from pvmkit.uapi.ioctl import _IOWR

__all__ = [
    "SEV_FACTORY_RESET",
    "SEV_GET_ID",
    "SEV_GET_ID2",
    "SEV_IOC_TYPE",
    "SEV_ISSUE_CMD",
    "SEV_MAX",
    "SEV_PDH_CERT_EXPORT",
    "SEV_PDH_GEN",
    "SEV_PEK_CERT_IMPORT",
    "SEV_PEK_CSR",
    "SEV_PEK_GEN",
    "SEV_PLATFORM_STATUS",
    "SEV_RET_MAX",
    "SEV_STATUS_FLAGS_CONFIG_ES",
    "SNP_COMMIT",
    "SNP_PLATFORM_STATUS",
    "SNP_SET_CONFIG",
    "SNP_VLEK_LOAD",
    "sev_issue_cmd",
    "sev_ret_code",
    "sev_ret_name",
    "sev_user_data_get_id",
    "sev_user_data_get_id2",
    "sev_user_data_pdh_cert_export",
    "sev_user_data_pek_cert_import",
    "sev_user_data_pek_csr",
    "sev_user_data_snp_config",
    "sev_user_data_snp_status",
    "sev_user_data_snp_vlek_load",
    "sev_user_data_snp_wrapped_vlek_hashstick",
    "sev_user_data_status",
]

_u8 = ctypes.c_uint8
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64


class sev_ret_code(enum.IntEnum):
    """``sev_ret_code``: SEV firmware status (SEV API spec 55766 "Status Codes"; SNP ABI 56860)."""

    # Not a firmware code: the kernel could not call the firmware at all.
    SEV_RET_NO_FW_CALL = -1
    SEV_RET_SUCCESS = 0
    SEV_RET_INVALID_PLATFORM_STATE = 0x0001
    SEV_RET_INVALID_GUEST_STATE = 0x0002
    # The header spells it SEV_RET_INAVLID_CONFIG first and aliases the right spelling to it;
    # here the right spelling is the canonical name and the typo the alias.
    SEV_RET_INVALID_CONFIG = 0x0003
    SEV_RET_INAVLID_CONFIG = 0x0003
    SEV_RET_INVALID_LEN = 0x0004
    SEV_RET_ALREADY_OWNED = 0x0005
    SEV_RET_INVALID_CERTIFICATE = 0x0006
    SEV_RET_POLICY_FAILURE = 0x0007
    SEV_RET_INACTIVE = 0x0008
    SEV_RET_INVALID_ADDRESS = 0x0009
    SEV_RET_BAD_SIGNATURE = 0x000A
    SEV_RET_BAD_MEASUREMENT = 0x000B
    SEV_RET_ASID_OWNED = 0x000C
    SEV_RET_INVALID_ASID = 0x000D
    SEV_RET_WBINVD_REQUIRED = 0x000E
    SEV_RET_DFFLUSH_REQUIRED = 0x000F
    SEV_RET_INVALID_GUEST = 0x0010
    SEV_RET_INVALID_COMMAND = 0x0011
    SEV_RET_ACTIVE = 0x0012
    SEV_RET_HWSEV_RET_PLATFORM = 0x0013
    SEV_RET_HWSEV_RET_UNSAFE = 0x0014
    SEV_RET_UNSUPPORTED = 0x0015
    SEV_RET_INVALID_PARAM = 0x0016
    SEV_RET_RESOURCE_LIMIT = 0x0017
    SEV_RET_SECURE_DATA_INVALID = 0x0018
    SEV_RET_INVALID_PAGE_SIZE = 0x0019
    SEV_RET_INVALID_PAGE_STATE = 0x001A
    SEV_RET_INVALID_MDATA_ENTRY = 0x001B
    SEV_RET_INVALID_PAGE_OWNER = 0x001C
    SEV_RET_AEAD_OFLOW = 0x001D
    SEV_RET_EXIT_RING_BUFFER = 0x001F
    SEV_RET_RMP_INIT_REQUIRED = 0x0020
    SEV_RET_BAD_SVN = 0x0021
    SEV_RET_BAD_VERSION = 0x0022
    SEV_RET_SHUTDOWN_REQUIRED = 0x0023
    SEV_RET_UPDATE_FAILED = 0x0024
    SEV_RET_RESTORE_REQUIRED = 0x0025
    SEV_RET_RMP_INITIALIZATION_FAILED = 0x0026
    SEV_RET_INVALID_KEY = 0x0027
    SEV_RET_SHUTDOWN_INCOMPLETE = 0x0028
    SEV_RET_INCORRECT_BUFFER_LENGTH = 0x0030
    SEV_RET_EXPAND_BUFFER_LENGTH_REQUEST = 0x0031
    SEV_RET_SPDM_REQUEST = 0x0032
    SEV_RET_SPDM_ERROR = 0x0033
    SEV_RET_SEV_STATUS_ERR_IN_DEV_CONN = 0x0035
    SEV_RET_SEV_STATUS_INVALID_DEV_CTX = 0x0036
    SEV_RET_SEV_STATUS_INVALID_TDI_CTX = 0x0037
    SEV_RET_SEV_STATUS_INVALID_TDI = 0x0038
    SEV_RET_SEV_STATUS_RECLAIM_REQUIRED = 0x0039
    SEV_RET_IN_USE = 0x003A
    SEV_RET_SEV_STATUS_INVALID_DEV_STATE = 0x003B
    SEV_RET_SEV_STATUS_INVALID_TDI_STATE = 0x003C
    SEV_RET_SEV_STATUS_DEV_CERT_CHANGED = 0x003D
    SEV_RET_SEV_STATUS_RESYNC_REQ = 0x003E
    SEV_RET_SEV_STATUS_RESPONSE_TOO_LARGE = 0x003F


# The header's names as plain module-level ints too (greppable like the C enum, and found by code that
# scans this module for SEV_RET_* names). Canonical names come first, so a scan finds them before aliases.
globals().update({name: int(member) for name, member in sev_ret_code.__members__.items()})

#: One past the last code the header knows (the enum's end marker, not a status).
SEV_RET_MAX: Final = 0x0040


def sev_ret_name(code: int) -> str:
    """The kernel name of SEV firmware status ``code`` (e.g. ``"SEV_RET_INVALID_PARAM"``), or
    ``"unknown (N)"`` for a code the pinned header does not define."""
    try:
        return sev_ret_code(code).name
    except ValueError:
        return f"unknown ({code})"


# SEV platform commands (sev_issue_cmd.cmd on /dev/sev).
SEV_FACTORY_RESET: Final = 0
SEV_PLATFORM_STATUS: Final = 1
SEV_PEK_GEN: Final = 2
SEV_PEK_CSR: Final = 3
SEV_PDH_GEN: Final = 4
SEV_PDH_CERT_EXPORT: Final = 5
SEV_PEK_CERT_IMPORT: Final = 6
SEV_GET_ID: Final = 7  # deprecated, use SEV_GET_ID2
SEV_GET_ID2: Final = 8
SNP_PLATFORM_STATUS: Final = 9
SNP_COMMIT: Final = 10
SNP_SET_CONFIG: Final = 11
SNP_VLEK_LOAD: Final = 12
SEV_MAX: Final = 13

SEV_STATUS_FLAGS_CONFIG_ES: Final = 0x0100


class sev_user_data_status(Struct):
    """``SEV_PLATFORM_STATUS`` output (packed, 12 bytes)."""

    _pack_ = 1
    _fields_ = (
        ("api_major", _u8),
        ("api_minor", _u8),
        ("state", _u8),
        ("flags", _u32),
        ("build", _u8),
        ("guest_count", _u32),
    )


class sev_user_data_pek_csr(Struct):
    """``SEV_PEK_CSR`` parameters (packed)."""

    _pack_ = 1
    _fields_ = (
        ("address", _u64),
        ("length", _u32),
    )


class sev_user_data_pek_cert_import(Struct):
    """``SEV_PEK_CERT_IMPORT`` parameters (packed)."""

    _pack_ = 1
    _fields_ = (
        ("pek_cert_address", _u64),
        ("pek_cert_len", _u32),
        ("oca_cert_address", _u64),
        ("oca_cert_len", _u32),
    )


class sev_user_data_pdh_cert_export(Struct):
    """``SEV_PDH_CERT_EXPORT`` parameters (packed)."""

    _pack_ = 1
    _fields_ = (
        ("pdh_cert_address", _u64),
        ("pdh_cert_len", _u32),
        ("cert_chain_address", _u64),
        ("cert_chain_len", _u32),
    )


class sev_user_data_get_id(Struct):
    """``SEV_GET_ID`` output (deprecated; packed)."""

    _pack_ = 1
    _fields_ = (
        ("socket1", _u8 * 64),
        ("socket2", _u8 * 64),
    )


class sev_user_data_get_id2(Struct):
    """``SEV_GET_ID2`` parameters (packed)."""

    _pack_ = 1
    _fields_ = (
        ("address", _u64),
        ("length", _u32),
    )


class sev_user_data_snp_status(Struct):
    """``SNP_PLATFORM_STATUS`` output (packed, 32 bytes; C bit-fields)."""

    _pack_ = 1
    _fields_ = (
        ("api_major", _u8),
        ("api_minor", _u8),
        ("state", _u8),
        ("is_rmp_initialized", _u8, 1),
        ("rsvd", _u8, 7),
        ("build_id", _u32),
        ("mask_chip_id", _u32, 1),
        ("mask_chip_key", _u32, 1),
        ("vlek_en", _u32, 1),
        ("feature_info", _u32, 1),
        ("rapl_dis", _u32, 1),
        ("ciphertext_hiding_cap", _u32, 1),
        ("ciphertext_hiding_en", _u32, 1),
        ("rsvd1", _u32, 25),
        ("guest_count", _u32),
        ("current_tcb_version", _u64),
        ("reported_tcb_version", _u64),
    )


class sev_user_data_snp_config(Struct):
    """``SNP_SET_CONFIG`` input (packed, 64 bytes; C bit-fields)."""

    _pack_ = 1
    _fields_ = (
        ("reported_tcb", _u64),
        ("mask_chip_id", _u32, 1),
        ("mask_chip_key", _u32, 1),
        ("rsvd", _u32, 30),
        ("rsvd1", _u8 * 52),
    )


class sev_user_data_snp_vlek_load(Struct):
    """``SNP_VLEK_LOAD`` input (packed)."""

    _pack_ = 1
    _fields_ = (
        ("len", _u32),
        ("vlek_wrapped_version", _u8),
        ("rsvd", _u8 * 3),
        ("vlek_wrapped_address", _u64),
    )


class sev_user_data_snp_wrapped_vlek_hashstick(Struct):
    """A wrapped VLEK hashstick from AMD KDS (packed, 432 bytes)."""

    _pack_ = 1
    _fields_ = (("data", _u8 * 432),)


class sev_issue_cmd(Struct):
    """``SEV_ISSUE_CMD`` argument on ``/dev/sev`` (packed, 16 bytes)."""

    _pack_ = 1
    _fields_ = (
        ("cmd", _u32),
        ("data", _u64),
        ("error", _u32),  # out: sev_ret_code
    )


SEV_IOC_TYPE: Final = ord("S")
SEV_ISSUE_CMD: Final = _IOWR(SEV_IOC_TYPE, 0x0, sev_issue_cmd)
