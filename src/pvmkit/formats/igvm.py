"""IGVM files (Independent Guest Virtual Machine format, microsoft/igvm ``igvm_defs``; spec cca_igvm.md §B1).

Bytes in, typed data out, and a small writer for the same structures. :func:`parse_igvm` checks

* the fixed header: magic ``IGVM``, format version 1 (24 bytes, x64) or 2 (32 bytes, with
  architecture and page size 4096), the variable-header section inside the file, ``total_file_size``
  equal to the file length, a non-empty file-data section, and the CRC32 (zlib) over the fixed header
  with its checksum zeroed followed by the variable headers (file data is not covered);
* the variable headers: ``{u32 type, u32 length}`` records, each body padded to 8 bytes, in three
  sections in order (platform 0x001–0x100, initialization 0x101–0x200, directives 0x301–0x400); known
  types must have their exact body size; a type outside the three ranges is an error (as in the
  reference parser, whatever its optional bit says);
* one SUPPORTED_PLATFORM per platform type, each owning exactly one mask bit; PAGE_DATA reads 4096
  bytes of file data at ``file_offset`` (0: a zero page), VP_CONTEXT 4096 bytes; GPAs 4 KiB aligned.

* what the file can hold: the guest memory its directives claim (4 KiB or 2 MiB per PAGE_DATA, 4 KiB per
  VP_CONTEXT, the area's size per PARAMETER_INSERT) adds up to at most the file's size plus
  :data:`pvmkit.formats.ovmf.MAX_SECTION_MEMORY` (256 MiB), checked as the headers are read, so a
  small file cannot make pvmkit copy or hash gigabytes (pvmkit's bound, not the spec's; real files claim
  their data pages plus a few MiB of zero pages); and the variable headers are at most one per 4 KiB
  of the file plus 128 Ki records (a file of empty records would otherwise cost memory and time
  out of proportion).

Errors are :class:`~pvmkit.errors.FormatError` (or :class:`~pvmkit.errors.TruncatedError`,
:class:`~pvmkit.errors.UnsupportedVersionError`) with the file offset of the problem.
Records of types pvmkit does not interpret are kept as :class:`IgvmHeader` with their raw body.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import ClassVar

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.ovmf import MAX_SECTION_MEMORY

__all__ = [
    "IGVM_MAGIC",
    "PAGE_DATA_2MB",
    "PAGE_DATA_SHARED",
    "PAGE_DATA_UNMEASURED",
    "Igvm",
    "IgvmHeader",
    "PageData",
    "PageDataType",
    "ParameterArea",
    "ParameterInsert",
    "Platform",
    "SnpIdBlock",
    "SupportedPlatform",
    "VpContext",
    "build_igvm",
    "parse_igvm",
]

IGVM_MAGIC = 0x4D564749  # "IGVM" little-endian
PAGE = 4096

# variable header types (igvm_defs IgvmVariableHeaderType)
VHT_SUPPORTED_PLATFORM = 0x001
VHT_GUEST_POLICY = 0x101
VHT_RELOCATABLE_REGION = 0x102
VHT_PAGE_TABLE_RELOCATION_REGION = 0x103
VHT_CORIM_DOCUMENT = 0x104
VHT_CORIM_SIGNATURE = 0x105
VHT_CCA_POLICY = 0x106
VHT_PARAMETER_AREA = 0x301
VHT_PAGE_DATA = 0x302
VHT_PARAMETER_INSERT = 0x303
VHT_VP_CONTEXT = 0x304
VHT_REQUIRED_MEMORY = 0x305
VHT_SNP_ID_BLOCK = 0x30B
VHT_ERROR_RANGE = 0x30D
VHT_VBS_MEASUREMENT = 0x311
_OPTIONAL_BIT = 1 << 31

#: exact body sizes of the known types (before padding); parameter-use headers (0x307..0x313) are 8
_BODY_SIZES = {
    VHT_SUPPORTED_PLATFORM: 16,
    VHT_GUEST_POLICY: 16,
    VHT_RELOCATABLE_REGION: 48,
    VHT_PAGE_TABLE_RELOCATION_REGION: 32,
    VHT_CORIM_DOCUMENT: 16,
    VHT_CORIM_SIGNATURE: 16,
    VHT_CCA_POLICY: 32,
    VHT_PARAMETER_AREA: 16,
    VHT_PAGE_DATA: 24,
    VHT_PARAMETER_INSERT: 16,
    VHT_VP_CONTEXT: 20,
    VHT_REQUIRED_MEMORY: 24,
    VHT_SNP_ID_BLOCK: 696,
    VHT_ERROR_RANGE: 16,
    VHT_VBS_MEASUREMENT: 864,
    **{t: 8 for t in (0x307, 0x308, 0x309, 0x30A, 0x30C, 0x30E, 0x30F, 0x310, 0x312, 0x313)},
}
_SECTIONS = ((0x001, 0x100, "platform"), (0x101, 0x200, "initialization"), (0x301, 0x400, "directive"))

#: PAGE_DATA flags
PAGE_DATA_2MB = 1 << 0
PAGE_DATA_UNMEASURED = 1 << 1
PAGE_DATA_SHARED = 1 << 2


class Platform:
    """IGVM platform types (``IgvmPlatformType``)."""

    NATIVE = 0x00
    VSM_ISOLATION = 0x01
    SEV_SNP = 0x02
    TDX = 0x03
    SEV = 0x04
    SEV_ES = 0x05
    CCA = 0x06
    NAMES: ClassVar[dict[int, str]] = {
        0: "native", 1: "vsm", 2: "sev-snp", 3: "tdx", 4: "sev", 5: "sev-es", 6: "cca",
    }  # fmt: skip


class PageDataType:
    """PAGE_DATA ``data_type`` values."""

    NORMAL = 0
    SECRETS = 1
    CPUID_DATA = 2
    CPUID_XF = 3


@dataclass(frozen=True)
class IgvmHeader:
    """A variable header pvmkit keeps as raw bytes (type, body without padding, its file offset)."""

    type: int
    body: bytes
    offset: int


@dataclass(frozen=True)
class SupportedPlatform:
    compatibility_mask: int
    highest_vtl: int
    platform_type: int
    platform_version: int
    shared_gpa_boundary: int


@dataclass(frozen=True)
class PageData:
    """One 4 KiB page (2 MiB with ``PAGE_DATA_2MB``); ``data`` is None for a zero page (file_offset 0)."""

    gpa: int
    compatibility_mask: int
    file_offset: int
    flags: int
    data_type: int
    data: bytes | None = field(repr=False)

    @property
    def unmeasured(self) -> bool:
        return bool(self.flags & PAGE_DATA_UNMEASURED)

    @property
    def shared(self) -> bool:
        return bool(self.flags & PAGE_DATA_SHARED)


@dataclass(frozen=True)
class ParameterArea:
    number_of_bytes: int
    parameter_area_index: int
    file_offset: int


@dataclass(frozen=True)
class ParameterInsert:
    gpa: int
    compatibility_mask: int
    parameter_area_index: int


@dataclass(frozen=True)
class VpContext:
    """Initial vCPU state: for SNP/SEV-ES a 4 KiB VMSA page at ``gpa``."""

    gpa: int
    compatibility_mask: int
    file_offset: int
    vp_index: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class SnpIdBlock:
    """SNP_ID_BLOCK (0x30B): the ID block QEMU passes to SNP_LAUNCH_FINISH. ``ld`` is the launch
    digest the ID block was signed for: the firmware refuses the launch unless it equals the real
    one. ``body`` is the whole 696-byte record (signatures and public keys included)."""

    compatibility_mask: int
    author_key_enabled: int
    ld: bytes
    family_id: bytes
    image_id: bytes
    version: int
    guest_svn: int
    body: bytes = field(repr=False)


Directive = PageData | ParameterArea | ParameterInsert | VpContext | SnpIdBlock | IgvmHeader


@dataclass(frozen=True)
class Igvm:
    """A parsed IGVM file. ``platforms``, ``policies`` (mask → (policy, policy mask)), ``directives`` in
    file order, ``others``: initialization headers kept raw."""

    version: int
    architecture: int  #: 0 x64, 1 aarch64
    platforms: tuple[SupportedPlatform, ...]
    policies: tuple[tuple[int, int], ...]  #: GUEST_POLICY (compatibility mask, policy)
    directives: tuple[Directive, ...]
    others: tuple[IgvmHeader, ...] = ()

    def platform(self, platform_type: int) -> SupportedPlatform | None:
        return next((p for p in self.platforms if p.platform_type == platform_type), None)

    def policy(self, mask: int) -> int | None:
        """The GUEST_POLICY that applies to platform ``mask`` (None if there is none)."""
        return next((policy for m, policy in self.policies if m & mask), None)


def _u32(data: bytes, off: int) -> int:
    return int(struct.unpack_from("<I", data, off)[0])


def _file_page(data: bytes, file_offset: int, what: str, where: int) -> bytes:
    if file_offset + PAGE > len(data):
        raise TruncatedError(
            f"{what} file data {file_offset:#x}+0x1000 runs past the end of the file ({len(data):#x})",
            what=what,
            offset=where,
        )
    return data[file_offset : file_offset + PAGE]


def _over_claim(claimed: int, offset: int) -> FormatError:
    return FormatError(
        f"IGVM directives claim {claimed:#x} bytes of guest memory, over pvmkit's limit of the file "
        f"size plus {MAX_SECTION_MEMORY:#x} (module docstring)",
        what="IGVM header",
        offset=offset,
    )


def parse_igvm(data: bytes | bytearray | memoryview) -> Igvm:
    """Parse and check an IGVM file (see the module docstring)."""
    raw = bytes(data)
    if len(raw) < 24:
        raise TruncatedError(
            f"IGVM fixed header needs 24 bytes, the file has {len(raw)}", what="IGVM", offset=0
        )
    magic, version, vh_offset, vh_size, total, checksum = struct.unpack_from("<6I", raw, 0)
    if magic != IGVM_MAGIC:
        raise FormatError(f"not an IGVM file (magic {magic:#010x}, expected 'IGVM')", what="IGVM", offset=0)
    if version not in (1, 2):
        raise UnsupportedVersionError(
            f"IGVM format version {version} (pvmkit reads 1 and 2)", what="IGVM", offset=4
        )
    fixed = 24 if version == 1 else 32
    architecture = 0
    if version == 2:
        if len(raw) < 32:
            raise TruncatedError("IGVM v2 fixed header needs 32 bytes", what="IGVM", offset=len(raw))
        architecture, page_size = struct.unpack_from("<2I", raw, 24)
        if architecture not in (0, 1):
            raise FormatError(f"IGVM architecture {architecture} (0 x64, 1 aarch64)", what="IGVM", offset=24)
        if page_size != PAGE:
            raise FormatError(f"IGVM page size {page_size}, expected 4096", what="IGVM", offset=28)
    if total != len(raw):
        raise FormatError(
            f"IGVM total_file_size {total} differs from the file's {len(raw)} bytes", what="IGVM", offset=16
        )
    if vh_offset < fixed or vh_offset % 8 or vh_offset + vh_size > len(raw):
        raise FormatError(
            f"IGVM variable headers {vh_offset:#x}+{vh_size:#x} are not 8-byte aligned after the fixed "
            "header and inside the file",
            what="IGVM",
            offset=8,
        )
    if vh_offset + vh_size >= len(raw):
        raise FormatError("IGVM file has no file-data section", what="IGVM", offset=12)
    header = bytearray(raw[:fixed])
    header[20:24] = bytes(4)
    crc = zlib.crc32(bytes(header) + raw[vh_offset : vh_offset + vh_size])
    if crc != checksum:
        raise FormatError(f"IGVM checksum {checksum:#010x}, computed {crc:#010x}", what="IGVM", offset=20)

    platforms: list[SupportedPlatform] = []
    policies: list[tuple[int, int]] = []
    directives: list[Directive] = []
    others: list[IgvmHeader] = []
    areas: dict[int, ParameterArea] = {}
    section = 0
    claimed, claim_limit = 0, len(raw) + MAX_SECTION_MEMORY
    records, record_limit = 0, len(raw) // PAGE + (128 << 10)
    pos, end = vh_offset, vh_offset + vh_size
    while pos < end:
        if claimed > claim_limit:
            raise _over_claim(claimed, pos)
        records += 1
        if records > record_limit:
            raise FormatError(
                f"IGVM file has more than {record_limit} variable headers, over pvmkit's limit of one "
                "per 4 KiB of the file plus 128 Ki (module docstring)",
                what="IGVM header",
                offset=pos,
            )
        if pos + 8 > end:
            raise TruncatedError("IGVM variable header cut off", what="IGVM header", offset=pos)
        vtype, length = struct.unpack_from("<2I", raw, pos)
        body_at = pos + 8
        if body_at + length > end:
            raise TruncatedError(
                f"IGVM header type {vtype:#x} runs past the variable headers", what="IGVM header", offset=pos
            )
        body = raw[body_at : body_at + length]
        kind = vtype & ~_OPTIONAL_BIT
        index = next((i for i, (lo, hi, _) in enumerate(_SECTIONS) if lo <= kind <= hi), None)
        if index is None:
            raise FormatError(f"IGVM header type {vtype:#x} is in no section", what="IGVM header", offset=pos)
        if index < section:
            raise FormatError(
                f"IGVM {_SECTIONS[index][2]} header {vtype:#x} after the {_SECTIONS[section][2]} "
                "section began",
                what="IGVM header",
                offset=pos,
            )
        section = index
        want = _BODY_SIZES.get(kind)
        if want is not None and length != want:
            raise FormatError(
                f"IGVM header type {vtype:#x} has {length} body bytes, expected {want}",
                what="IGVM header",
                offset=pos,
            )
        if kind == VHT_SUPPORTED_PLATFORM:
            mask, vtl, ptype, pversion, boundary = struct.unpack_from("<IBBHQ", body)
            if bin(mask).count("1") != 1:
                raise FormatError(
                    f"SUPPORTED_PLATFORM mask {mask:#x} must have one bit set", what="IGVM header", offset=pos
                )
            if any(p.platform_type == ptype or p.compatibility_mask == mask for p in platforms):
                raise FormatError(
                    f"a second SUPPORTED_PLATFORM for type {ptype} or mask {mask:#x}",
                    what="IGVM header",
                    offset=pos,
                )
            platforms.append(SupportedPlatform(mask, vtl, ptype, pversion, boundary))
        elif kind == VHT_GUEST_POLICY:
            policy, mask, _ = struct.unpack_from("<QII", body)
            policies.append((mask, policy))
        elif kind == VHT_PAGE_DATA:
            gpa, mask, file_offset, flags, data_type, reserved = struct.unpack_from("<QIIIHH", body)
            if gpa % PAGE:
                raise FormatError(
                    f"PAGE_DATA GPA {gpa:#x} is not 4 KiB aligned", what="PAGE_DATA", offset=pos
                )
            if reserved or flags & ~7:
                raise FormatError(
                    f"PAGE_DATA has reserved bits set (flags {flags:#x})", what="PAGE_DATA", offset=pos
                )
            page = _file_page(raw, file_offset, "PAGE_DATA", pos) if file_offset else None
            directives.append(PageData(gpa, mask, file_offset, flags, data_type, page))
            claimed += 512 * PAGE if flags & PAGE_DATA_2MB else PAGE
        elif kind == VHT_PARAMETER_AREA:
            size, area_index, file_offset = struct.unpack_from("<QII", body)
            if size == 0 or size % PAGE or area_index in areas:
                raise FormatError(
                    f"PARAMETER_AREA {area_index}: {size:#x} bytes is not a page multiple, or the index "
                    "is reused",
                    what="PARAMETER_AREA",
                    offset=pos,
                )
            areas[area_index] = ParameterArea(size, area_index, file_offset)
            directives.append(areas[area_index])
        elif kind == VHT_PARAMETER_INSERT:
            gpa, mask, area_index = struct.unpack_from("<QII", body)
            if area_index not in areas:
                raise FormatError(
                    f"PARAMETER_INSERT of undeclared area {area_index}", what="PARAMETER_INSERT", offset=pos
                )
            if gpa % PAGE:
                raise FormatError(
                    f"PARAMETER_INSERT GPA {gpa:#x} is not 4 KiB aligned", what="PARAMETER_INSERT", offset=pos
                )
            directives.append(ParameterInsert(gpa, mask, area_index))
            claimed += areas[area_index].number_of_bytes
        elif kind == VHT_VP_CONTEXT:
            gpa, mask, file_offset, vp_index, _ = struct.unpack_from("<QIIHH", body)
            directives.append(
                VpContext(gpa, mask, file_offset, vp_index, _file_page(raw, file_offset, "VP_CONTEXT", pos))
            )
            claimed += PAGE
        elif kind == VHT_SNP_ID_BLOCK:
            mask, author = struct.unpack_from("<IB", body)
            version, guest_svn = struct.unpack_from("<II", body, 88)
            directives.append(
                SnpIdBlock(mask, author, body[8:56], body[56:72], body[72:88], version, guest_svn, body)
            )
        elif index == 2:
            directives.append(IgvmHeader(vtype, body, pos))
        elif index == 1:
            others.append(IgvmHeader(vtype, body, pos))
        else:
            raise FormatError(f"unknown IGVM platform header type {vtype:#x}", what="IGVM header", offset=pos)
        pos = body_at + length + (-length % 8)
    if pos != end:
        raise FormatError(
            "IGVM variable headers end inside a record's padding", what="IGVM header", offset=end
        )
    if claimed > claim_limit:
        raise _over_claim(claimed, end)
    if not platforms:
        raise FormatError("IGVM file declares no SUPPORTED_PLATFORM", what="IGVM", offset=vh_offset)
    return Igvm(version, architecture, tuple(platforms), tuple(policies), tuple(directives), tuple(others))


# --------------------------------------------------------------------------------------------------
# the writer


def _record(vtype: int, body: bytes) -> bytes:
    return struct.pack("<2I", vtype, len(body)) + body + bytes(-len(body) % 8)


def build_igvm(
    platforms: list[SupportedPlatform],
    policies: list[tuple[int, int]],
    directives: list[Directive],
    *,
    version: int = 1,
    architecture: int = 0,
) -> bytes:
    """Serialize an IGVM file: the fixed header, the variable headers in the given order, then the
    file data (page data and VP contexts zero-padded to 4 KiB, identical blobs stored once, in order of
    first use). ``PageData.data`` None, or all-zero ``ParameterArea`` contents, get file offset 0."""
    fixed = 24 if version == 1 else 32
    records: list[tuple[int, bytes, bytes | None]] = []  # (type, body without file offset, data)
    for p in platforms:
        body = struct.pack("<IBBHQ", p.compatibility_mask, p.highest_vtl, p.platform_type, p.platform_version,
                           p.shared_gpa_boundary)  # fmt: skip
        records.append((VHT_SUPPORTED_PLATFORM, body, None))
    for mask, policy in policies:
        records.append((VHT_GUEST_POLICY, struct.pack("<QII", policy, mask, 0), None))
    for d in directives:
        if isinstance(d, PageData):
            records.append((VHT_PAGE_DATA, struct.pack("<QI", d.gpa, d.compatibility_mask), d.data))
        elif isinstance(d, VpContext):
            records.append((VHT_VP_CONTEXT, struct.pack("<QI", d.gpa, d.compatibility_mask), d.data))
        elif isinstance(d, ParameterArea):
            records.append(
                (VHT_PARAMETER_AREA, struct.pack("<QI", d.number_of_bytes, d.parameter_area_index), None)
            )
        elif isinstance(d, ParameterInsert):
            records.append(
                (
                    VHT_PARAMETER_INSERT,
                    struct.pack("<QII", d.gpa, d.compatibility_mask, d.parameter_area_index),
                    None,
                )
            )
        elif isinstance(d, SnpIdBlock):
            records.append((VHT_SNP_ID_BLOCK, d.body, None))
        else:
            records.append((d.type, d.body, None))
    # the variable headers have a fixed size, so file data offsets are known before writing them
    sizes = {VHT_PAGE_DATA: 24, VHT_VP_CONTEXT: 20, VHT_PARAMETER_AREA: 16}
    vh_size = sum(8 + n + (-n % 8) for n in (sizes.get(t, len(b)) for t, b, _ in records))
    blobs: dict[bytes, int] = {}
    file_data = bytearray()
    next_offset = fixed + vh_size
    variable = bytearray()
    page_data = iter(d for d in directives if isinstance(d, PageData | VpContext))
    for vtype, body, blob in records:
        if vtype in (VHT_PAGE_DATA, VHT_VP_CONTEXT):
            offset = 0
            if blob is not None:
                padded = blob + bytes(-len(blob) % PAGE)
                if padded not in blobs:
                    blobs[padded] = next_offset + len(file_data)
                    file_data += padded
                offset = blobs[padded]
            d = next(page_data)
            if isinstance(d, PageData):
                body = body + struct.pack("<IIHH", offset, d.flags, d.data_type, 0)
            else:
                body = body + struct.pack("<IHH", offset, d.vp_index, 0)
        elif vtype == VHT_PARAMETER_AREA:
            body = body + struct.pack("<I", 0)
        variable += _record(vtype, body)
    total = fixed + len(variable) + len(file_data)
    head = struct.pack("<6I", IGVM_MAGIC, version, fixed, len(variable), total, 0)
    if version == 2:
        head += struct.pack("<2I", architecture, PAGE)
    checksum = zlib.crc32(head + bytes(variable))
    head = head[:20] + struct.pack("<I", checksum) + head[24:]
    return head + bytes(variable) + bytes(file_data)
