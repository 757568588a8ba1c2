"""The IGVM regression file of spec cca_igvm.md §B2.6 and its digests (tests/vectors/README.md, "IGVM")."""

from __future__ import annotations

from pvmkit.formats.igvm import (
    PageData,
    ParameterArea,
    ParameterInsert,
    SupportedPlatform,
    VpContext,
    build_igvm,
)

P = bytes(range(256)) * 16
VMSA = bytearray(4096)
VMSA[0x158:0x160] = (0x31).to_bytes(8, "little")  # CR0 = 0x31, everything else zero

#: §B2.6: the directives of the regression file
DIRECTIVES = [
    PageData(0xFFFFE000, 1, 0, 0, 0, P),
    PageData(0xFFFFF000, 1, 0, 0, 0, None),  # zero page
    PageData(0x800000, 1, 0, 2, 0, None),  # UNMEASURED
    PageData(0x801000, 1, 0, 0, 1, None),  # SECRETS
    PageData(0x802000, 1, 0, 0, 2, b"\x01" * 16),  # CPUID_DATA
    ParameterArea(0x2000, 0, 0),
    ParameterInsert(0x900000, 1, 0),
    VpContext(0xFFFFFFFFF000, 1, 0, 0, bytes(VMSA)),
]
SNP = {
    "igvm-crate": "fc6e06cb95320e060a81ee8c6672a9e2d798465934e8d3e5621eb498160e64caf0e4041f12173d54e06a1003b80ea9c3",  # noqa: E501
    "igvmmeasure": "c6d1701279f240f4f2626fc51adaab94a9035c999ca4add822f4edc0e5ca713f1a632d8598229c77afa1245126331f41",  # noqa: E501
    "native-zero": "4f95fbbf683cbdaefd9e80321850f7f8f9321b053ebb6b0e7f81b8fcfcb417dc5ae9430bebda99b0a4fb940ec4d5ed26",  # noqa: E501
}  # fmt: skip
TDX_MRTD = "3c28df587dbe39431efbc8d046b701269f3ff35aea83f1f00f0e416b865315d2aa4d21bfd9821c978138f22ca0c3316c"
SEV_ES_LD = "83c2b50cd63e0f14e6f3262061a78263c8fb2df68b99d31bf9b0234eab2cf29d"


def igvm_file(platform_type: int = 2, directives: list | None = None) -> bytes:  # type: ignore[type-arg]
    return build_igvm(
        [SupportedPlatform(1, 0, platform_type, 1, 0)], [(1, 0x30000)], directives or DIRECTIVES
    )
