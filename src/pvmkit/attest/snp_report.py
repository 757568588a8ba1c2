"""The SEV-SNP attestation report (AMD SNP firmware ABI; spec amd.md §4.5): 1184 = 0x4A0 bytes.

:class:`SnpReport` names every field of the report. :func:`parse` / :meth:`SnpReport.parse` read the
bytes, :meth:`SnpReport.to_bytes` writes them back **exactly** (reserved areas are kept as fields, and
the field layout does not depend on VERSION, so ``parse(b).to_bytes() == b`` for any accepted ``b``).
VERSION only changes how bytes are *interpreted*: CPUID_FAM_ID/MOD_ID/STEP exist from version 3, the
two mitigation vectors from version 5; before that those bytes are reserved (and zero on real parts).

Layout (offsets in bytes, little-endian)::

    0x000 VERSION u32        0x004 GUEST_SVN u32      0x008 POLICY u64
    0x010 FAMILY_ID[16]      0x020 IMAGE_ID[16]       0x030 VMPL u32     0x034 SIGNATURE_ALGO u32
    0x038 CURRENT_TCB u64    0x040 PLATFORM_INFO u64
    0x048 u32 key info: b0 AUTHOR_KEY_EN, b1 MASK_CHIP_KEY, b4:2 SIGNING_KEY (0 VCEK, 1 VLEK, 7 none)
    0x04C reserved[4]
    0x050 REPORT_DATA[64]    0x090 MEASUREMENT[48]    0x0C0 HOST_DATA[32]
    0x0E0 ID_KEY_DIGEST[48]  0x110 AUTHOR_KEY_DIGEST[48]
    0x140 REPORT_ID[32]      0x160 REPORT_ID_MA[32]   0x180 REPORTED_TCB u64
    0x188 CPUID_FAM_ID u8, 0x189 CPUID_MOD_ID u8, 0x18A CPUID_STEP u8 (v>=3)   0x18B reserved[21]
    0x1A0 CHIP_ID[64]        0x1E0 COMMITTED_TCB u64
    0x1E8 CURRENT build, minor, major u8 + reserved u8; 0x1EC COMMITTED build, minor, major + reserved
    0x1F0 LAUNCH_TCB u64     0x1F8 LAUNCH_MIT_VECTOR u64, 0x200 CURRENT_MIT_VECTOR u64 (v>=5)
    0x208 reserved[152]
    0x2A0 SIGNATURE[512]: R[72] LE zero-extended, S[72] LE zero-extended, reserved[368]

The signature is ECDSA P-384 with SHA-384 over bytes 0x000–0x29F (:func:`signed_bytes`). Its reserved
368 bytes are *not* covered by the signature; :mod:`pvmkit.attest.verify` therefore requires them to
be zero. :func:`amd_signature_to_der` / :func:`der_to_amd_signature` convert between AMD's format
(also used by the ID block, §4.4) and DER ``ECDSA-Sig-Value``.

``cryptography`` is imported lazily, inside the signature helpers only.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from typing import Any

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError

__all__ = [
    "FIELD_OFFSETS",
    "KNOWN_VERSIONS",
    "PLATFORM_INFO_BITS",
    "POLICY_BITS",
    "REPORT_SIZE",
    "SIGNATURE_ALGO_ECDSA_P384_SHA384",
    "SIGNATURE_OFFSET",
    "SIGNATURE_SIZE",
    "SIGNED_SIZE",
    "SIGNING_KEY_NAMES",
    "SIGNING_KEY_NONE",
    "SIGNING_KEY_VCEK",
    "SIGNING_KEY_VLEK",
    "GuestPolicy",
    "PlatformInfo",
    "SnpReport",
    "TcbVersion",
    "amd_signature_to_der",
    "amd_signature_to_rs",
    "der_to_amd_signature",
    "parse",
    "rs_to_amd_signature",
    "signed_bytes",
    "tcb_layout_for",
]

REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SIGNATURE_OFFSET = 0x2A0
SIGNATURE_SIZE = 0x200
#: R and S are 72-byte little-endian fields; a P-384 value uses the low 48 bytes.
SIGNATURE_COMPONENT_SIZE = 72
SIGNATURE_RESERVED_OFFSET = SIGNATURE_OFFSET + 2 * SIGNATURE_COMPONENT_SIZE  # 0x330
P384_SIZE = 48

#: Report versions pvmkit interprets: 2 (original), 3 (adds CPUID F/M/S, FW 1.55.22), 4 (same layout
#: as 3), 5 (adds the launch/current mitigation vectors).
KNOWN_VERSIONS = frozenset({2, 3, 4, 5})

#: SIGNATURE_ALGO value for ECDSA P-384 with SHA-384 (the only one defined).
SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1

SIGNING_KEY_VCEK = 0
SIGNING_KEY_VLEK = 1
SIGNING_KEY_NONE = 7
SIGNING_KEY_NAMES = {SIGNING_KEY_VCEK: "vcek", SIGNING_KEY_VLEK: "vlek", SIGNING_KEY_NONE: "none"}

#: Guest policy single-bit flags (spec §4.4); bits 7:0 ABI_MINOR and 15:8 ABI_MAJOR are numbers.
POLICY_BITS: dict[str, int] = {
    "smt": 16,
    "reserved_1": 17,  # must be 1
    "migrate_ma": 18,
    "debug": 19,
    "single_socket": 20,
    "cxl_allow": 21,
    "mem_aes_256_xts": 22,
    "rapl_dis": 23,
    "ciphertext_hiding": 24,
    "page_swap_disable": 25,
}

#: PLATFORM_INFO bits (spec §4.5).
PLATFORM_INFO_BITS: dict[str, int] = {
    "smt_en": 0,
    "tsme_en": 1,
    "ecc_en": 2,
    "rapl_dis": 3,
    "ciphertext_hiding_en": 4,
    "alias_check_complete": 5,
    "tio_en": 7,
}

# Everything up to the signature, then the signature as one 512-byte field.
_LAYOUT = struct.Struct(
    "<"
    "I"  # 0x000 version
    "I"  # 0x004 guest_svn
    "Q"  # 0x008 policy
    "16s"  # 0x010 family_id
    "16s"  # 0x020 image_id
    "I"  # 0x030 vmpl
    "I"  # 0x034 signature_algo
    "Q"  # 0x038 current_tcb
    "Q"  # 0x040 platform_info
    "I"  # 0x048 key info word
    "4s"  # 0x04C reserved
    "64s"  # 0x050 report_data
    "48s"  # 0x090 measurement
    "32s"  # 0x0C0 host_data
    "48s"  # 0x0E0 id_key_digest
    "48s"  # 0x110 author_key_digest
    "32s"  # 0x140 report_id
    "32s"  # 0x160 report_id_ma
    "Q"  # 0x180 reported_tcb
    "B"  # 0x188 cpuid_fam_id
    "B"  # 0x189 cpuid_mod_id
    "B"  # 0x18A cpuid_step
    "21s"  # 0x18B reserved
    "64s"  # 0x1A0 chip_id
    "Q"  # 0x1E0 committed_tcb
    "BBBB"  # 0x1E8 current build/minor/major, reserved
    "BBBB"  # 0x1EC committed build/minor/major, reserved
    "Q"  # 0x1F0 launch_tcb
    "Q"  # 0x1F8 launch_mit_vector
    "Q"  # 0x200 current_mit_vector
    "152s"  # 0x208 reserved
    "512s"  # 0x2A0 signature
)
assert _LAYOUT.size == REPORT_SIZE

# Field order matching _LAYOUT (the key-info word is split/joined separately).
_KEY_INFO_INDEX = 9
_NAMES_BEFORE_KEY_INFO = (
    "version",
    "guest_svn",
    "policy",
    "family_id",
    "image_id",
    "vmpl",
    "signature_algo",
    "current_tcb",
    "platform_info",
)
_NAMES_AFTER_KEY_INFO = (
    "reserved_04c",
    "report_data",
    "measurement",
    "host_data",
    "id_key_digest",
    "author_key_digest",
    "report_id",
    "report_id_ma",
    "reported_tcb",
    "cpuid_fam_id",
    "cpuid_mod_id",
    "cpuid_step",
    "reserved_18b",
    "chip_id",
    "committed_tcb",
    "current_build",
    "current_minor",
    "current_major",
    "reserved_1eb",
    "committed_build",
    "committed_minor",
    "committed_major",
    "reserved_1ef",
    "launch_tcb",
    "launch_mit_vector",
    "current_mit_vector",
    "reserved_208",
    "signature",
)

_BYTES_SIZES = {
    "family_id": 16,
    "image_id": 16,
    "reserved_04c": 4,
    "report_data": 64,
    "measurement": 48,
    "host_data": 32,
    "id_key_digest": 48,
    "author_key_digest": 48,
    "report_id": 32,
    "report_id_ma": 32,
    "reserved_18b": 21,
    "chip_id": 64,
    "reserved_208": 152,
    "signature": SIGNATURE_SIZE,
}
_INT_BITS = {
    "version": 32,
    "guest_svn": 32,
    "policy": 64,
    "vmpl": 32,
    "signature_algo": 32,
    "current_tcb": 64,
    "platform_info": 64,
    "reported_tcb": 64,
    "cpuid_fam_id": 8,
    "cpuid_mod_id": 8,
    "cpuid_step": 8,
    "committed_tcb": 64,
    "current_build": 8,
    "current_minor": 8,
    "current_major": 8,
    "reserved_1eb": 8,
    "committed_build": 8,
    "committed_minor": 8,
    "committed_major": 8,
    "reserved_1ef": 8,
    "launch_tcb": 64,
    "launch_mit_vector": 64,
    "current_mit_vector": 64,
    "signing_key": 3,
    "key_info_reserved": 27,
}

#: Offset of each named field (for error messages and tests).
FIELD_OFFSETS: dict[str, int] = {
    "version": 0x000,
    "guest_svn": 0x004,
    "policy": 0x008,
    "family_id": 0x010,
    "image_id": 0x020,
    "vmpl": 0x030,
    "signature_algo": 0x034,
    "current_tcb": 0x038,
    "platform_info": 0x040,
    "key_info": 0x048,
    "reserved_04c": 0x04C,
    "report_data": 0x050,
    "measurement": 0x090,
    "host_data": 0x0C0,
    "id_key_digest": 0x0E0,
    "author_key_digest": 0x110,
    "report_id": 0x140,
    "report_id_ma": 0x160,
    "reported_tcb": 0x180,
    "cpuid_fam_id": 0x188,
    "cpuid_mod_id": 0x189,
    "cpuid_step": 0x18A,
    "reserved_18b": 0x18B,
    "chip_id": 0x1A0,
    "committed_tcb": 0x1E0,
    "current_build": 0x1E8,
    "current_minor": 0x1E9,
    "current_major": 0x1EA,
    "committed_build": 0x1EC,
    "committed_minor": 0x1ED,
    "committed_major": 0x1EE,
    "launch_tcb": 0x1F0,
    "launch_mit_vector": 0x1F8,
    "current_mit_vector": 0x200,
    "reserved_208": 0x208,
    "signature": 0x2A0,
}


# --------------------------------------------------------------------------------------------------
# TCB_VERSION


def tcb_layout_for(
    version: int, cpuid_fam_id: int, cpuid_mod_id: int, chip_id: bytes, mask_chip_key: bool = False
) -> str:
    """Which TCB_VERSION byte layout a report uses: ``"milan"`` (Milan and Genoa) or ``"turin"``.

    Version ≥3 reports name the CPU (CPUID family 0x1A = Turin and later). A version 2 report does
    not: there, the CHIP_ID's shape tells (Turin chip ids use only the first 8 bytes, spec §4.5).
    Without either (masked chip id, family 0), the Milan/Genoa layout is assumed.
    """
    if version >= 3 and cpuid_fam_id:
        return "turin" if cpuid_fam_id >= 0x1A else "milan"
    if not mask_chip_key and chip_id[:8].count(0) != 8 and chip_id[8:].count(0) == len(chip_id) - 8:
        return "turin"
    return "milan"


def product_name(cpuid_fam_id: int, cpuid_mod_id: int) -> str | None:
    """AMD product line from CPUID family/model (None when unknown): Milan, Genoa, Turin."""
    if cpuid_fam_id == 0x19:
        if cpuid_mod_id <= 0x0F:
            return "Milan"
        if 0x10 <= cpuid_mod_id <= 0x1F or 0xA0 <= cpuid_mod_id <= 0xAF:
            return "Genoa"
    if cpuid_fam_id == 0x1A and cpuid_mod_id <= 0x1F:
        return "Turin"
    return None


@dataclass(frozen=True)
class TcbVersion:
    """A decoded TCB_VERSION (u64). ``fmc`` exists only in the Turin layout (None otherwise).

    Milan/Genoa bytes: [0] BOOTLOADER, [1] TEE, [6] SNP, [7] MICROCODE.
    Turin and later: [0] FMC, [1] BOOTLOADER, [2] TEE, [3] SNP, [7] MICROCODE.
    """

    raw: int
    layout: str
    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None = None

    @classmethod
    def decode(cls, raw: int, layout: str = "milan") -> TcbVersion:
        b = (raw & (2**64 - 1)).to_bytes(8, "little")
        if layout == "turin":
            return cls(raw, layout, bootloader=b[1], tee=b[2], snp=b[3], microcode=b[7], fmc=b[0])
        if layout != "milan":
            raise ValueError(f"unknown TCB layout {layout!r} (milan or turin)")
        return cls(raw, layout, bootloader=b[0], tee=b[1], snp=b[6], microcode=b[7])

    @staticmethod
    def encode(
        *, bootloader: int, tee: int, snp: int, microcode: int, fmc: int = 0, layout: str = "milan"
    ) -> int:
        """The u64 for the given SPL values (each 0..255)."""
        b = bytearray(8)
        if layout == "turin":
            b[0], b[1], b[2], b[3] = fmc, bootloader, tee, snp
        elif layout == "milan":
            if fmc:
                raise ValueError("the Milan/Genoa TCB layout has no FMC field")
            b[0], b[1], b[6] = bootloader, tee, snp
        else:
            raise ValueError(f"unknown TCB layout {layout!r} (milan or turin)")
        b[7] = microcode
        return int.from_bytes(bytes(b), "little")

    def components(self) -> dict[str, int]:
        """The SPL values by name (fmc only in the Turin layout)."""
        out = {"bootloader": self.bootloader, "tee": self.tee, "snp": self.snp, "microcode": self.microcode}
        if self.fmc is not None:
            out = {"fmc": self.fmc, **out}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"raw": f"{self.raw:#018x}", "layout": self.layout, **self.components()}


# --------------------------------------------------------------------------------------------------
# POLICY and PLATFORM_INFO


@dataclass(frozen=True)
class GuestPolicy:
    """The guest policy u64 (spec §4.4), decoded. ``GuestPolicy(0x30000).smt`` → True."""

    value: int

    @property
    def abi_minor(self) -> int:
        return self.value & 0xFF

    @property
    def abi_major(self) -> int:
        return (self.value >> 8) & 0xFF

    def bit(self, name: str) -> bool:
        return bool(self.value >> POLICY_BITS[name] & 1)

    @property
    def smt(self) -> bool:
        return self.bit("smt")

    @property
    def reserved_1(self) -> bool:
        """Bit 17, which must be 1."""
        return self.bit("reserved_1")

    @property
    def migrate_ma(self) -> bool:
        return self.bit("migrate_ma")

    @property
    def debug(self) -> bool:
        return self.bit("debug")

    @property
    def single_socket(self) -> bool:
        return self.bit("single_socket")

    @property
    def cxl_allow(self) -> bool:
        return self.bit("cxl_allow")

    @property
    def mem_aes_256_xts(self) -> bool:
        return self.bit("mem_aes_256_xts")

    @property
    def rapl_dis(self) -> bool:
        return self.bit("rapl_dis")

    @property
    def ciphertext_hiding(self) -> bool:
        return self.bit("ciphertext_hiding")

    @property
    def page_swap_disable(self) -> bool:
        return self.bit("page_swap_disable")

    @property
    def unknown_bits(self) -> int:
        """Bits above the defined ones (26..63), which should be zero."""
        return self.value & ~((1 << 26) - 1) & (2**64 - 1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "raw": f"{self.value:#x}",
            "abi_minor": self.abi_minor,
            "abi_major": self.abi_major,
        }
        for name in POLICY_BITS:
            out[name] = self.bit(name)
        if self.unknown_bits:
            out["unknown_bits"] = f"{self.unknown_bits:#x}"
        return out


@dataclass(frozen=True)
class PlatformInfo:
    """PLATFORM_INFO u64 (spec §4.5), decoded."""

    value: int

    def bit(self, name: str) -> bool:
        return bool(self.value >> PLATFORM_INFO_BITS[name] & 1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"raw": f"{self.value:#x}"}
        for name in PLATFORM_INFO_BITS:
            out[name] = self.bit(name)
        return out


# --------------------------------------------------------------------------------------------------
# The report


def _zero(n: int) -> bytes:
    return bytes(n)


@dataclass
class SnpReport:
    """Every field of the SEV-SNP attestation report. Construct with keywords; unspecified fields
    default to: version 3, SIGNATURE_ALGO 1 (ECDSA P-384/SHA-384), POLICY 0x30000 (SMT + the
    must-be-one bit 17, QEMU's default), SIGNING_KEY 0 (VCEK), REPORT_ID_MA all 0xFF (no migration
    agent), CPUID family 0x19 model 0x01 stepping 0x01 (Milan), everything else zero.

    Byte fields must have their exact sizes (checked by :meth:`to_bytes`); integer fields must fit
    their widths. The ``reserved_*`` fields keep reserved bytes so that round trips are exact.
    """

    version: int = 3
    guest_svn: int = 0
    policy: int = 0x30000
    family_id: bytes = field(default_factory=lambda: _zero(16))
    image_id: bytes = field(default_factory=lambda: _zero(16))
    vmpl: int = 0
    signature_algo: int = SIGNATURE_ALGO_ECDSA_P384_SHA384
    current_tcb: int = 0
    platform_info: int = 0
    author_key_en: bool = False
    mask_chip_key: bool = False
    signing_key: int = SIGNING_KEY_VCEK
    key_info_reserved: int = 0  # bits 31:5 of the key-info word, kept in place
    reserved_04c: bytes = field(default_factory=lambda: _zero(4))
    report_data: bytes = field(default_factory=lambda: _zero(64))
    measurement: bytes = field(default_factory=lambda: _zero(48))
    host_data: bytes = field(default_factory=lambda: _zero(32))
    id_key_digest: bytes = field(default_factory=lambda: _zero(48))
    author_key_digest: bytes = field(default_factory=lambda: _zero(48))
    report_id: bytes = field(default_factory=lambda: _zero(32))
    report_id_ma: bytes = field(default_factory=lambda: b"\xff" * 32)
    reported_tcb: int = 0
    cpuid_fam_id: int = 0x19
    cpuid_mod_id: int = 0x01
    cpuid_step: int = 0x01
    reserved_18b: bytes = field(default_factory=lambda: _zero(21))
    chip_id: bytes = field(default_factory=lambda: _zero(64))
    committed_tcb: int = 0
    current_build: int = 0
    current_minor: int = 0
    current_major: int = 0
    reserved_1eb: int = 0
    committed_build: int = 0
    committed_minor: int = 0
    committed_major: int = 0
    reserved_1ef: int = 0
    launch_tcb: int = 0
    launch_mit_vector: int = 0
    current_mit_vector: int = 0
    reserved_208: bytes = field(default_factory=lambda: _zero(152))
    signature: bytes = field(default_factory=lambda: _zero(SIGNATURE_SIZE))

    # ---- bytes ----------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> SnpReport:
        """Parse exactly :data:`REPORT_SIZE` bytes.

        Raises TruncatedError when shorter, FormatError when longer, UnsupportedVersionError when
        VERSION is not in :data:`KNOWN_VERSIONS`.
        """
        raw = bytes(data)
        if len(raw) < REPORT_SIZE:
            raise TruncatedError(
                f"SEV-SNP attestation report needs {REPORT_SIZE} bytes, got {len(raw)}",
                what="snp_report",
                offset=len(raw),
            )
        if len(raw) > REPORT_SIZE:
            raise FormatError(
                f"SEV-SNP attestation report is {REPORT_SIZE} bytes, got {len(raw)} (trailing data)",
                what="snp_report",
                offset=REPORT_SIZE,
            )
        values = _LAYOUT.unpack(raw)
        version = values[0]
        if version not in KNOWN_VERSIONS:
            raise UnsupportedVersionError(
                f"SEV-SNP attestation report version {version} is not supported "
                f"(known: {', '.join(map(str, sorted(KNOWN_VERSIONS)))})",
                what="snp_report.version",
                offset=0,
            )
        kwargs: dict[str, Any] = dict(zip(_NAMES_BEFORE_KEY_INFO, values[:_KEY_INFO_INDEX], strict=True))
        key_info = values[_KEY_INFO_INDEX]
        kwargs["author_key_en"] = bool(key_info & 1)
        kwargs["mask_chip_key"] = bool(key_info >> 1 & 1)
        kwargs["signing_key"] = key_info >> 2 & 0x7
        kwargs["key_info_reserved"] = key_info >> 5
        kwargs.update(zip(_NAMES_AFTER_KEY_INFO, values[_KEY_INFO_INDEX + 1 :], strict=True))
        return cls(**kwargs)

    def _check(self) -> None:
        for name, size in _BYTES_SIZES.items():
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != size:
                got = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
                raise FormatError(f"SnpReport.{name} must be {size} bytes, got {got}", what=name)
        for name, bits in _INT_BITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
                raise FormatError(f"SnpReport.{name} = {value!r} does not fit {bits} bits", what=name)

    @property
    def key_info(self) -> int:
        """The u32 at 0x048 rebuilt from AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY (+ reserved bits)."""
        return (
            int(bool(self.author_key_en))
            | int(bool(self.mask_chip_key)) << 1
            | (self.signing_key & 7) << 2
            | self.key_info_reserved << 5
        )

    def to_bytes(self) -> bytes:
        """The 1184 report bytes (the exact inverse of :meth:`parse`)."""
        self._check()
        values: list[Any] = [getattr(self, n) for n in _NAMES_BEFORE_KEY_INFO]
        values.append(self.key_info)
        for name in _NAMES_AFTER_KEY_INFO:
            value = getattr(self, name)
            values.append(bytes(value) if isinstance(value, bytearray) else value)
        return _LAYOUT.pack(*values)

    def signed_bytes(self) -> bytes:
        """Bytes 0x000–0x29F, the part the signature covers."""
        return self.to_bytes()[:SIGNED_SIZE]

    def with_signature(self, signature: bytes) -> SnpReport:
        """A copy with SIGNATURE replaced (512 bytes in AMD format)."""
        return dataclasses.replace(self, signature=bytes(signature))

    # ---- interpretation ----------------------------------------------------------------------

    @property
    def policy_info(self) -> GuestPolicy:
        return GuestPolicy(self.policy)

    @property
    def platform(self) -> PlatformInfo:
        return PlatformInfo(self.platform_info)

    @property
    def signing_key_name(self) -> str:
        """``"vcek"``, ``"vlek"``, ``"none"`` or ``"reserved(N)"``."""
        return SIGNING_KEY_NAMES.get(self.signing_key, f"reserved({self.signing_key})")

    @property
    def has_cpuid(self) -> bool:
        return self.version >= 3

    @property
    def has_mitigation_vectors(self) -> bool:
        return self.version >= 5

    @property
    def tcb_layout(self) -> str:
        return tcb_layout_for(
            self.version, self.cpuid_fam_id, self.cpuid_mod_id, self.chip_id, self.mask_chip_key
        )

    @property
    def product(self) -> str | None:
        """ "Milan", "Genoa", "Turin" from the CPUID fields (v≥3), else None."""
        return product_name(self.cpuid_fam_id, self.cpuid_mod_id) if self.has_cpuid else None

    def tcb(self, name: str) -> TcbVersion:
        """Decode one of ``current_tcb``, ``reported_tcb``, ``committed_tcb``, ``launch_tcb``."""
        if name not in ("current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"):
            raise ValueError(f"{name!r} is not a TCB_VERSION field")
        return TcbVersion.decode(getattr(self, name), self.tcb_layout)

    @property
    def signature_r(self) -> int:
        return int.from_bytes(self.signature[:SIGNATURE_COMPONENT_SIZE], "little")

    @property
    def signature_s(self) -> int:
        return int.from_bytes(
            self.signature[SIGNATURE_COMPONENT_SIZE : 2 * SIGNATURE_COMPONENT_SIZE], "little"
        )

    @property
    def signature_reserved(self) -> bytes:
        return self.signature[2 * SIGNATURE_COMPONENT_SIZE :]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: bytes as lowercase hex, flags and TCBs decoded. Fields that the
        report's version does not define (CPUID for v2, mitigation vectors before v5) are None."""
        layout = self.tcb_layout

        def tcb(value: int) -> dict[str, Any]:
            return TcbVersion.decode(value, layout).to_dict()

        return {
            "version": self.version,
            "guest_svn": self.guest_svn,
            "policy": GuestPolicy(self.policy).to_dict(),
            "family_id": self.family_id.hex(),
            "image_id": self.image_id.hex(),
            "vmpl": self.vmpl,
            "signature_algo": self.signature_algo,
            "current_tcb": tcb(self.current_tcb),
            "platform_info": PlatformInfo(self.platform_info).to_dict(),
            "author_key_en": self.author_key_en,
            "mask_chip_key": self.mask_chip_key,
            "signing_key": self.signing_key_name,
            "report_data": self.report_data.hex(),
            "measurement": self.measurement.hex(),
            "host_data": self.host_data.hex(),
            "id_key_digest": self.id_key_digest.hex(),
            "author_key_digest": self.author_key_digest.hex(),
            "report_id": self.report_id.hex(),
            "report_id_ma": self.report_id_ma.hex(),
            "reported_tcb": tcb(self.reported_tcb),
            "cpuid_fam_id": self.cpuid_fam_id if self.has_cpuid else None,
            "cpuid_mod_id": self.cpuid_mod_id if self.has_cpuid else None,
            "cpuid_step": self.cpuid_step if self.has_cpuid else None,
            "product": self.product,
            "chip_id": self.chip_id.hex(),
            "committed_tcb": tcb(self.committed_tcb),
            "current_version": f"{self.current_major}.{self.current_minor}.{self.current_build}",
            "committed_version": f"{self.committed_major}.{self.committed_minor}.{self.committed_build}",
            "launch_tcb": tcb(self.launch_tcb),
            "launch_mit_vector": (f"{self.launch_mit_vector:#x}" if self.has_mitigation_vectors else None),
            "current_mit_vector": (f"{self.current_mit_vector:#x}" if self.has_mitigation_vectors else None),
            "signature": {
                "r": f"{self.signature_r:096x}",
                "s": f"{self.signature_s:096x}",
            },
        }


def parse(data: bytes | bytearray | memoryview) -> SnpReport:
    """Same as :meth:`SnpReport.parse`."""
    return SnpReport.parse(data)


def signed_bytes(report: bytes | bytearray | memoryview) -> bytes:
    """Bytes 0x000–0x29F of raw report bytes (TruncatedError when shorter than the report)."""
    raw = bytes(report)
    if len(raw) < REPORT_SIZE:
        raise TruncatedError(
            f"SEV-SNP attestation report needs {REPORT_SIZE} bytes, got {len(raw)}",
            what="snp_report",
            offset=len(raw),
        )
    return raw[:SIGNED_SIZE]


# --------------------------------------------------------------------------------------------------
# AMD signature format <-> DER


def amd_signature_to_rs(signature: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(R, S) from an AMD signature: at least 144 bytes, R[72] and S[72] little-endian.

    Raises FormatError when shorter or when a component does not fit P-384 (non-zero bytes above the
    low 48 of its 72): such a value is not a P-384 signature.
    """
    raw = bytes(signature)
    if len(raw) < 2 * SIGNATURE_COMPONENT_SIZE:
        raise TruncatedError(
            f"AMD signature needs {2 * SIGNATURE_COMPONENT_SIZE} bytes, got {len(raw)}",
            what="signature",
            offset=len(raw),
        )
    out = []
    for i, name in enumerate(("r", "s")):
        comp = raw[i * SIGNATURE_COMPONENT_SIZE : (i + 1) * SIGNATURE_COMPONENT_SIZE]
        if any(comp[P384_SIZE:]):
            raise FormatError(
                f"signature {name.upper()} has non-zero bytes above the 48 P-384 bytes",
                what=f"signature.{name}",
                offset=i * SIGNATURE_COMPONENT_SIZE + P384_SIZE,
            )
        out.append(int.from_bytes(comp, "little"))
    return out[0], out[1]


def rs_to_amd_signature(r: int, s: int) -> bytes:
    """The 512-byte AMD signature for (R, S): R[72] LE, S[72] LE, 368 reserved zero bytes."""
    if not (0 <= r < 1 << (8 * P384_SIZE) and 0 <= s < 1 << (8 * P384_SIZE)):
        raise FormatError("ECDSA P-384 signature component out of range", what="signature")
    return (
        r.to_bytes(SIGNATURE_COMPONENT_SIZE, "little")
        + s.to_bytes(SIGNATURE_COMPONENT_SIZE, "little")
        + bytes(SIGNATURE_SIZE - 2 * SIGNATURE_COMPONENT_SIZE)
    )


def amd_signature_to_der(signature: bytes | bytearray | memoryview) -> bytes:
    """DER ``ECDSA-Sig-Value`` (as ``cryptography`` and OpenSSL take it) for an AMD signature."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    r, s = amd_signature_to_rs(signature)
    return encode_dss_signature(r, s)


def der_to_amd_signature(der: bytes) -> bytes:
    """The 512-byte AMD signature for a DER ``ECDSA-Sig-Value`` (P-384)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        r, s = decode_dss_signature(der)
    except ValueError as exc:
        raise FormatError(f"not a DER ECDSA signature: {exc}", what="signature") from None
    return rs_to_amd_signature(r, s)
