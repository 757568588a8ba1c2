"""AMD SEV / SEV-ES / SEV-SNP KVM uAPI: ``arch/x86/include/uapi/asm/kvm.h`` and ``linux/kvm.h``.

.. danger:: Hazmat. Raw kernel ABI, for experts: these are the structures ``KVM_MEMORY_ENCRYPT_OP``
   passes to the kernel (spec amd.md §5.4-§5.7). Nothing here validates anything; use the vendor
   drivers in :mod:`pvmkit.vendors` instead.

Names, fields and types are the kernel's, verbatim. Layouts are checked against the pinned headers
by ``tools/gen_uapi_layouts.py`` (table ``layouts.json``, docs/uapi.md).

Every sub-command goes through ``KVM_MEMORY_ENCRYPT_OP`` (:mod:`pvmkit.uapi.kvm`) on the VM fd with
a :class:`kvm_sev_cmd` whose ``data`` is the address of the sub-command's structure (or 0) and whose
``error`` comes back holding the firmware status (:mod:`pvmkit.uapi.psp_sev`).
"""

from __future__ import annotations

import ctypes
import enum
from typing import Final

from pvmkit._cstruct import Struct

# linux/kvm.h's SEV/SEV-ES guest-RAM pinning ioctls are defined in uapi.kvm; re-exported here because
# only SEV and SEV-ES VMs use them (SNP private memory is guest_memfd).
from pvmkit.uapi.kvm import KVM_MEMORY_ENCRYPT_REG_REGION, KVM_MEMORY_ENCRYPT_UNREG_REGION, kvm_enc_region

__all__ = [
    "KVM_MEMORY_ENCRYPT_REG_REGION",
    "KVM_MEMORY_ENCRYPT_UNREG_REGION",
    "KVM_SEV_CERT_EXPORT",
    "KVM_SEV_DBG_DECRYPT",
    "KVM_SEV_DBG_ENCRYPT",
    "KVM_SEV_ES_INIT",
    "KVM_SEV_GET_ATTESTATION_REPORT",
    "KVM_SEV_GUEST_STATUS",
    "KVM_SEV_INIT",
    "KVM_SEV_INIT2",
    "KVM_SEV_LAUNCH_FINISH",
    "KVM_SEV_LAUNCH_MEASURE",
    "KVM_SEV_LAUNCH_SECRET",
    "KVM_SEV_LAUNCH_START",
    "KVM_SEV_LAUNCH_UPDATE_DATA",
    "KVM_SEV_LAUNCH_UPDATE_VMSA",
    "KVM_SEV_NR_MAX",
    "KVM_SEV_PAGE_TYPE_INVALID",
    "KVM_SEV_RECEIVE_FINISH",
    "KVM_SEV_RECEIVE_START",
    "KVM_SEV_RECEIVE_UPDATE_DATA",
    "KVM_SEV_RECEIVE_UPDATE_VMSA",
    "KVM_SEV_SEND_CANCEL",
    "KVM_SEV_SEND_FINISH",
    "KVM_SEV_SEND_START",
    "KVM_SEV_SEND_UPDATE_DATA",
    "KVM_SEV_SEND_UPDATE_VMSA",
    "KVM_SEV_SNP_ENABLE_REQ_CERTS",
    "KVM_SEV_SNP_FINISH_DATA_SIZE",
    "KVM_SEV_SNP_ID_AUTH_SIZE",
    "KVM_SEV_SNP_ID_BLOCK_SIZE",
    "KVM_SEV_SNP_LAUNCH_FINISH",
    "KVM_SEV_SNP_LAUNCH_START",
    "KVM_SEV_SNP_LAUNCH_UPDATE",
    "KVM_SEV_SNP_PAGE_TYPE_CPUID",
    "KVM_SEV_SNP_PAGE_TYPE_NORMAL",
    "KVM_SEV_SNP_PAGE_TYPE_SECRETS",
    "KVM_SEV_SNP_PAGE_TYPE_UNMEASURED",
    "KVM_SEV_SNP_PAGE_TYPE_ZERO",
    "KVM_X86_GRP_SEV",
    "KVM_X86_SEV_SNP_REQ_CERTS",
    "KVM_X86_SEV_VMSA_FEATURES",
    "KVM_X86_SNP_POLICY_BITS",
    "kvm_enc_region",
    "kvm_exit_snp_req_certs",
    "kvm_sev_attestation_report",
    "kvm_sev_cmd",
    "kvm_sev_dbg",
    "kvm_sev_guest_status",
    "kvm_sev_init",
    "kvm_sev_launch_measure",
    "kvm_sev_launch_secret",
    "kvm_sev_launch_start",
    "kvm_sev_launch_update_data",
    "kvm_sev_receive_start",
    "kvm_sev_receive_update_data",
    "kvm_sev_send_start",
    "kvm_sev_send_update_data",
    "kvm_sev_snp_launch_finish",
    "kvm_sev_snp_launch_start",
    "kvm_sev_snp_launch_update",
    "sev_cmd_id",
    "sev_guest_state",
]

# Names defined here that are not in the kernel headers, so the layout probe skips them.
_NOT_IN_HEADERS: Final = frozenset({"sev_guest_state"})

_u8 = ctypes.c_uint8
_u16 = ctypes.c_uint16
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64


class sev_cmd_id(enum.IntEnum):
    """``enum sev_cmd_id``: the ``kvm_sev_cmd.id`` sub-commands of ``KVM_MEMORY_ENCRYPT_OP``."""

    # Guest initialization commands
    KVM_SEV_INIT = 0
    KVM_SEV_ES_INIT = 1
    # Guest launch commands
    KVM_SEV_LAUNCH_START = 2
    KVM_SEV_LAUNCH_UPDATE_DATA = 3
    KVM_SEV_LAUNCH_UPDATE_VMSA = 4
    KVM_SEV_LAUNCH_SECRET = 5
    KVM_SEV_LAUNCH_MEASURE = 6
    KVM_SEV_LAUNCH_FINISH = 7
    # Guest migration commands (outgoing)
    KVM_SEV_SEND_START = 8
    KVM_SEV_SEND_UPDATE_DATA = 9
    KVM_SEV_SEND_UPDATE_VMSA = 10
    KVM_SEV_SEND_FINISH = 11
    # Guest migration commands (incoming)
    KVM_SEV_RECEIVE_START = 12
    KVM_SEV_RECEIVE_UPDATE_DATA = 13
    KVM_SEV_RECEIVE_UPDATE_VMSA = 14
    KVM_SEV_RECEIVE_FINISH = 15
    # Guest status and debug commands
    KVM_SEV_GUEST_STATUS = 16
    KVM_SEV_DBG_DECRYPT = 17
    KVM_SEV_DBG_ENCRYPT = 18
    # Guest certificates commands
    KVM_SEV_CERT_EXPORT = 19
    # Attestation report
    KVM_SEV_GET_ATTESTATION_REPORT = 20
    # Guest Migration Extension
    KVM_SEV_SEND_CANCEL = 21
    # Improved INIT (6.10+): takes struct kvm_sev_init; the only init for KVM_X86_SEV*_VM / SNP_VM
    KVM_SEV_INIT2 = 22
    # SNP-specific commands (6.11+); once an SNP VM is INIT2'd, ids < 100 return -EPERM
    KVM_SEV_SNP_LAUNCH_START = 100
    KVM_SEV_SNP_LAUNCH_UPDATE = 101
    KVM_SEV_SNP_LAUNCH_FINISH = 102
    KVM_SEV_SNP_ENABLE_REQ_CERTS = 103
    KVM_SEV_NR_MAX = 104


KVM_SEV_INIT: Final[int] = sev_cmd_id.KVM_SEV_INIT
KVM_SEV_ES_INIT: Final[int] = sev_cmd_id.KVM_SEV_ES_INIT
KVM_SEV_LAUNCH_START: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_START
KVM_SEV_LAUNCH_UPDATE_DATA: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_UPDATE_DATA
KVM_SEV_LAUNCH_UPDATE_VMSA: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_UPDATE_VMSA
KVM_SEV_LAUNCH_SECRET: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_SECRET
KVM_SEV_LAUNCH_MEASURE: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_MEASURE
KVM_SEV_LAUNCH_FINISH: Final[int] = sev_cmd_id.KVM_SEV_LAUNCH_FINISH
KVM_SEV_SEND_START: Final[int] = sev_cmd_id.KVM_SEV_SEND_START
KVM_SEV_SEND_UPDATE_DATA: Final[int] = sev_cmd_id.KVM_SEV_SEND_UPDATE_DATA
KVM_SEV_SEND_UPDATE_VMSA: Final[int] = sev_cmd_id.KVM_SEV_SEND_UPDATE_VMSA
KVM_SEV_SEND_FINISH: Final[int] = sev_cmd_id.KVM_SEV_SEND_FINISH
KVM_SEV_RECEIVE_START: Final[int] = sev_cmd_id.KVM_SEV_RECEIVE_START
KVM_SEV_RECEIVE_UPDATE_DATA: Final[int] = sev_cmd_id.KVM_SEV_RECEIVE_UPDATE_DATA
KVM_SEV_RECEIVE_UPDATE_VMSA: Final[int] = sev_cmd_id.KVM_SEV_RECEIVE_UPDATE_VMSA
KVM_SEV_RECEIVE_FINISH: Final[int] = sev_cmd_id.KVM_SEV_RECEIVE_FINISH
KVM_SEV_GUEST_STATUS: Final[int] = sev_cmd_id.KVM_SEV_GUEST_STATUS
KVM_SEV_DBG_DECRYPT: Final[int] = sev_cmd_id.KVM_SEV_DBG_DECRYPT
KVM_SEV_DBG_ENCRYPT: Final[int] = sev_cmd_id.KVM_SEV_DBG_ENCRYPT
KVM_SEV_CERT_EXPORT: Final[int] = sev_cmd_id.KVM_SEV_CERT_EXPORT
KVM_SEV_GET_ATTESTATION_REPORT: Final[int] = sev_cmd_id.KVM_SEV_GET_ATTESTATION_REPORT
KVM_SEV_SEND_CANCEL: Final[int] = sev_cmd_id.KVM_SEV_SEND_CANCEL
KVM_SEV_INIT2: Final[int] = sev_cmd_id.KVM_SEV_INIT2
KVM_SEV_SNP_LAUNCH_START: Final[int] = sev_cmd_id.KVM_SEV_SNP_LAUNCH_START
KVM_SEV_SNP_LAUNCH_UPDATE: Final[int] = sev_cmd_id.KVM_SEV_SNP_LAUNCH_UPDATE
KVM_SEV_SNP_LAUNCH_FINISH: Final[int] = sev_cmd_id.KVM_SEV_SNP_LAUNCH_FINISH
KVM_SEV_SNP_ENABLE_REQ_CERTS: Final[int] = sev_cmd_id.KVM_SEV_SNP_ENABLE_REQ_CERTS
KVM_SEV_NR_MAX: Final[int] = sev_cmd_id.KVM_SEV_NR_MAX

# System-fd device attributes (KVM_GET_DEVICE_ATTR / KVM_HAS_DEVICE_ATTR on /dev/kvm), 6.10+.
KVM_X86_GRP_SEV: Final = 1
#: u64 bitmask of the SEV_FEATURES bits KVM_SEV_INIT2 accepts in ``vmsa_features``.
KVM_X86_SEV_VMSA_FEATURES: Final = 0
#: u64 bitmask of the SNP guest policy bits KVM accepts in ``kvm_sev_snp_launch_start.policy``.
KVM_X86_SNP_POLICY_BITS: Final = 1
KVM_X86_SEV_SNP_REQ_CERTS: Final = 2

# kvm_sev_snp_launch_update.type; "kept in sync with firmware values" (SNP ABI PAGE_TYPE).
KVM_SEV_PAGE_TYPE_INVALID: Final = 0x0
KVM_SEV_SNP_PAGE_TYPE_NORMAL: Final = 0x1
KVM_SEV_SNP_PAGE_TYPE_ZERO: Final = 0x3
KVM_SEV_SNP_PAGE_TYPE_UNMEASURED: Final = 0x4
KVM_SEV_SNP_PAGE_TYPE_SECRETS: Final = 0x5
KVM_SEV_SNP_PAGE_TYPE_CPUID: Final = 0x6

KVM_SEV_SNP_ID_BLOCK_SIZE: Final = 96
KVM_SEV_SNP_ID_AUTH_SIZE: Final = 4096
KVM_SEV_SNP_FINISH_DATA_SIZE: Final = 32


class sev_guest_state(enum.IntEnum):
    """Guest states in ``kvm_sev_guest_status.state`` (GSTATE). Not in the kernel headers: the
    values are the firmware's, AMD SEV API spec (pub. 55766) "Guest States" table."""

    UNINIT = 0
    LUPDATE = 1
    LSECRET = 2
    RUNNING = 3
    SUPDATE = 4
    RUPDATE = 5
    SENT = 6


class kvm_sev_cmd(Struct):
    """Argument of ``KVM_MEMORY_ENCRYPT_OP`` for SEV VMs (24 bytes; note the pad after ``id``)."""

    _fields_ = (
        ("id", _u32),  # enum sev_cmd_id
        ("pad0", _u32),
        ("data", _u64),  # address of the sub-command's structure, or 0
        ("error", _u32),  # out: firmware status, SEV_RET_* (psp_sev.sev_ret_code)
        ("sev_fd", _u32),  # an open /dev/sev fd
    )


class kvm_sev_init(Struct):
    """``KVM_SEV_INIT2`` data (48 bytes). ``flags`` must be 0; ``ghcb_version`` 0 means the default (2)
    for SEV-ES/SNP and must be 0 for plain SEV."""

    _fields_ = (
        ("vmsa_features", _u64),
        ("flags", _u32),
        ("ghcb_version", _u16),
        ("pad1", _u16),
        ("pad2", _u32 * 8),
    )


class kvm_sev_launch_start(Struct):
    """``KVM_SEV_LAUNCH_START`` data (40 bytes); ``handle`` is in/out."""

    _fields_ = (
        ("handle", _u32),
        ("policy", _u32),
        ("dh_uaddr", _u64),
        ("dh_len", _u32),
        ("pad0", _u32),
        ("session_uaddr", _u64),
        ("session_len", _u32),
        ("pad1", _u32),
    )


class kvm_sev_launch_update_data(Struct):
    """``KVM_SEV_LAUNCH_UPDATE_DATA`` data (16 bytes)."""

    _fields_ = (
        ("uaddr", _u64),
        ("len", _u32),
        ("pad0", _u32),
    )


class kvm_sev_launch_secret(Struct):
    """``KVM_SEV_LAUNCH_SECRET`` data (48 bytes)."""

    _fields_ = (
        ("hdr_uaddr", _u64),
        ("hdr_len", _u32),
        ("pad0", _u32),
        ("guest_uaddr", _u64),
        ("guest_len", _u32),
        ("pad1", _u32),
        ("trans_uaddr", _u64),
        ("trans_len", _u32),
        ("pad2", _u32),
    )


class kvm_sev_launch_measure(Struct):
    """``KVM_SEV_LAUNCH_MEASURE`` data (16 bytes). ``len`` = 0 asks for the needed length."""

    _fields_ = (
        ("uaddr", _u64),
        ("len", _u32),
        ("pad0", _u32),
    )


class kvm_sev_guest_status(Struct):
    """``KVM_SEV_GUEST_STATUS`` data (12 bytes, out)."""

    _fields_ = (
        ("handle", _u32),
        ("policy", _u32),
        ("state", _u32),  # sev_guest_state
    )


class kvm_sev_dbg(Struct):
    """``KVM_SEV_DBG_DECRYPT`` / ``KVM_SEV_DBG_ENCRYPT`` data."""

    _fields_ = (
        ("src_uaddr", _u64),
        ("dst_uaddr", _u64),
        ("len", _u32),
        ("pad0", _u32),
    )


class kvm_sev_attestation_report(Struct):
    """``KVM_SEV_GET_ATTESTATION_REPORT`` data (32 bytes)."""

    _fields_ = (
        ("mnonce", _u8 * 16),
        ("uaddr", _u64),
        ("len", _u32),
        ("pad0", _u32),
    )


class kvm_sev_send_start(Struct):
    """``KVM_SEV_SEND_START`` data."""

    _fields_ = (
        ("policy", _u32),
        ("pad0", _u32),
        ("pdh_cert_uaddr", _u64),
        ("pdh_cert_len", _u32),
        ("pad1", _u32),
        ("plat_certs_uaddr", _u64),
        ("plat_certs_len", _u32),
        ("pad2", _u32),
        ("amd_certs_uaddr", _u64),
        ("amd_certs_len", _u32),
        ("pad3", _u32),
        ("session_uaddr", _u64),
        ("session_len", _u32),
        ("pad4", _u32),
    )


class kvm_sev_send_update_data(Struct):
    """``KVM_SEV_SEND_UPDATE_DATA`` data."""

    _fields_ = (
        ("hdr_uaddr", _u64),
        ("hdr_len", _u32),
        ("pad0", _u32),
        ("guest_uaddr", _u64),
        ("guest_len", _u32),
        ("pad1", _u32),
        ("trans_uaddr", _u64),
        ("trans_len", _u32),
        ("pad2", _u32),
    )


class kvm_sev_receive_start(Struct):
    """``KVM_SEV_RECEIVE_START`` data; ``handle`` is in/out."""

    _fields_ = (
        ("handle", _u32),
        ("policy", _u32),
        ("pdh_uaddr", _u64),
        ("pdh_len", _u32),
        ("pad0", _u32),
        ("session_uaddr", _u64),
        ("session_len", _u32),
        ("pad1", _u32),
    )


class kvm_sev_receive_update_data(Struct):
    """``KVM_SEV_RECEIVE_UPDATE_DATA`` data."""

    _fields_ = (
        ("hdr_uaddr", _u64),
        ("hdr_len", _u32),
        ("pad0", _u32),
        ("guest_uaddr", _u64),
        ("guest_len", _u32),
        ("pad1", _u32),
        ("trans_uaddr", _u64),
        ("trans_len", _u32),
        ("pad2", _u32),
    )


class kvm_sev_snp_launch_start(Struct):
    """``KVM_SEV_SNP_LAUNCH_START`` data (64 bytes). ``flags`` must be 0; policy bit 17 must be set."""

    _fields_ = (
        ("policy", _u64),
        ("gosvw", _u8 * 16),
        ("flags", _u16),
        ("pad0", _u8 * 6),
        ("pad1", _u64 * 4),
    )


class kvm_sev_snp_launch_update(Struct):
    """``KVM_SEV_SNP_LAUNCH_UPDATE`` data (64 bytes). The kernel advances ``gfn_start``, ``uaddr`` and
    ``len`` as it goes: re-issue until ``len`` is 0. ``type`` is a ``KVM_SEV_SNP_PAGE_TYPE_*``."""

    _fields_ = (
        ("gfn_start", _u64),
        ("uaddr", _u64),
        ("len", _u64),
        ("type", _u8),
        ("pad0", _u8),
        ("flags", _u16),
        ("pad1", _u32),
        ("pad2", _u64 * 4),
    )


class kvm_sev_snp_launch_finish(Struct):
    """``KVM_SEV_SNP_LAUNCH_FINISH`` data (88 bytes). ``flags`` must be 0."""

    _fields_ = (
        ("id_block_uaddr", _u64),  # KVM_SEV_SNP_ID_BLOCK_SIZE bytes
        ("id_auth_uaddr", _u64),  # KVM_SEV_SNP_ID_AUTH_SIZE bytes
        ("id_block_en", _u8),
        ("auth_key_en", _u8),
        ("vcek_disabled", _u8),
        ("host_data", _u8 * KVM_SEV_SNP_FINISH_DATA_SIZE),
        ("pad0", _u8 * 3),
        ("flags", _u16),
        ("pad1", _u64 * 4),
    )


class kvm_exit_snp_req_certs(Struct):
    """``kvm_run.snp_req_certs`` for ``KVM_EXIT_SNP_REQ_CERTS`` (linux/kvm.h)."""

    _fields_ = (
        ("gpa", _u64),
        ("npages", _u64),
        ("ret", _u64),
    )
