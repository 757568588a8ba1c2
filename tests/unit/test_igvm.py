"""IGVM files (pvmkit.formats.igvm) and their launch digests (pvmkit.loaders.igvm): the spec's
regression file and vectors (cca_igvm.md §B2.6), QEMU's batching, and bad files.
Provenance: tests/vectors/README.md, section "IGVM"."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pvmkit
from pvmkit.errors import (
    FormatError,
    InputError,
    MeasurementError,
    PlanError,
    TruncatedError,
    UnsupportedVersionError,
)
from pvmkit.formats.igvm import (
    PageData,
    ParameterArea,
    ParameterInsert,
    SupportedPlatform,
    VpContext,
    build_igvm,
    parse_igvm,
)
from pvmkit.loaders.igvm import PROFILES, igvm_plan
from pvmkit.plan import PageKind, Vendor
from support.igvm_vectors import DIRECTIVES, SEV_ES_LD, SNP, TDX_MRTD, VMSA, P, igvm_file


def test_the_spec_file_byte_for_byte() -> None:
    raw = igvm_file()
    assert len(raw) == 12600
    assert (
        hashlib.sha256(raw).hexdigest() == "43a7b4b56edf75b2febbc19797e9e02999ebd62a205f99c2f65b0f0e350be695"
    )
    assert struct.unpack_from("<I", raw, 20)[0] == 0x335D57CA
    assert raw[:48].hex() == (
        "4947564d0100000018000000200100003831000" "0ca575d33010000001000000001000000000201000000000000000000"
    )  # fmt: skip
    igvm = parse_igvm(raw)
    assert igvm.version == 1 and igvm.architecture == 0 and igvm.policy(1) == 0x30000
    assert igvm.platforms == (SupportedPlatform(1, 0, 2, 1, 0),)
    assert [type(d).__name__ for d in igvm.directives] == [
        "PageData", "PageData", "PageData", "PageData", "PageData",
        "ParameterArea", "ParameterInsert", "VpContext",
    ]  # fmt: skip
    first, zero, cpuid = igvm.directives[0], igvm.directives[1], igvm.directives[4]
    assert isinstance(first, PageData) and first.data == P and first.file_offset == 0x138
    assert isinstance(zero, PageData) and zero.data is None and zero.file_offset == 0
    assert isinstance(cpuid, PageData) and cpuid.data == b"\x01" * 16 + bytes(4080)
    assert build_igvm(list(igvm.platforms), list(igvm.policies), list(igvm.directives)) == raw


@pytest.mark.parametrize("profile", ["igvm-crate", "igvmmeasure", "native-zero"])
def test_snp_digests_per_loader(profile: str) -> None:
    rules = PROFILES["igvmmeasure"] if profile == "native-zero" else PROFILES[profile]
    if profile == "native-zero":
        rules = dataclasses.replace(rules, native_zero=True)
    plan = igvm_plan(parse_igvm(igvm_file()), Vendor.SNP, rules)
    assert pvmkit.measure(plan).hex() == SNP[profile]


def test_tdx_and_sev_es_digests() -> None:
    tdx = igvm_plan(parse_igvm(igvm_file(platform_type=3)), Vendor.TDX, PROFILES["igvm-crate"])
    assert pvmkit.measure(tdx).hex() == TDX_MRTD
    sev_es = igvm_plan(parse_igvm(igvm_file(platform_type=5)), Vendor.SEV_ES, PROFILES["igvmmeasure"])
    assert pvmkit.measure(sev_es).hex() == SEV_ES_LD


def test_qemu_measures_a_parameter_insert_before_the_pending_page_run() -> None:
    """§B2.4: the CPUID page (directive 5) is still pending when the insert comes, so QEMU measures
    the insert first; its digest is the file-order digest of the file with the two swapped, with the
    VMSA (already last) measured by KVM at LAUNCH_FINISH."""
    swapped = [*DIRECTIVES[:4], DIRECTIVES[5], DIRECTIVES[6], DIRECTIVES[4], DIRECTIVES[7]]
    file_rules = dataclasses.replace(PROFILES["qemu"], order="file")
    qemu = pvmkit.measure(igvm_plan(parse_igvm(igvm_file()), Vendor.SNP))
    assert qemu == pvmkit.measure(
        igvm_plan(parse_igvm(igvm_file(directives=swapped)), Vendor.SNP, file_rules)
    )
    assert qemu.hex() not in SNP.values()
    # a contiguous run of data pages stays together; the zero page after it is another run
    plan = igvm_plan(parse_igvm(igvm_file(directives=[
        PageData(0x1000, 1, 0, 0, 0, P), PageData(0x2000, 1, 0, 0, 0, P),
        PageData(0x3000, 1, 0, 0, 0, None), ParameterArea(0x1000, 0, 0), ParameterInsert(0x9000, 1, 0),
        VpContext(0xFFFFFFFFF000, 1, 0, 0, bytes(VMSA)),
    ])), Vendor.SNP)  # fmt: skip
    assert [(op.gpa, op.kind) for op in plan.memory] == [
        (0x1000, PageKind.NORMAL), (0x2000, PageKind.NORMAL),
        (0x9000, PageKind.UNMEASURED), (0x3000, PageKind.NORMAL),
    ]  # fmt: skip
    assert len(plan.vcpus) == 1


def test_rules_on_shared_two_mb_and_platform_choice() -> None:
    shared = [PageData(0x1000, 1, 0, 4, 0, P), PageData(0x200000, 1, 0, 1, 0, None), DIRECTIVES[7]]
    igvm = parse_igvm(igvm_file(directives=shared))
    crate = igvm_plan(igvm, Vendor.SNP, PROFILES["igvm-crate"])
    assert [op.gpa for op in crate.memory] == [0x200000] and len(crate.vcpus) == 1  # shared page skipped
    qemu = igvm_plan(igvm, Vendor.SNP)
    assert [(op.gpa, op.pages) for op in qemu.memory] == [(0x1000, 1), (0x200000, 512)]
    with pytest.raises(InputError, match="supports sev-snp, not tdx"):
        igvm_plan(igvm, Vendor.TDX)
    with pytest.raises(InputError, match="cannot be measured for cca"):
        igvm_plan(igvm, Vendor.CCA)
    with pytest.raises(MeasurementError, match="2 MiB page with file data"):
        igvm_plan(parse_igvm(igvm_file(directives=[PageData(0x200000, 1, 0, 1, 0, P)])), Vendor.SNP)
    moved = [DIRECTIVES[0], VpContext(0x5000, 1, 0, 0, bytes(VMSA))]
    file_order = igvm_plan(parse_igvm(igvm_file(directives=moved)), Vendor.SNP, PROFILES["igvmmeasure"])
    assert [(op.gpa, op.kind) for op in file_order.memory][-1] == (0x5000, PageKind.VMSA)  # in place
    with pytest.raises(MeasurementError, match="QEMU needs VMSAs at 0xfffffffff000"):
        igvm_plan(parse_igvm(igvm_file(directives=moved)), Vendor.SNP)
    assert pvmkit.measure(
        igvm_plan(parse_igvm(igvm_file(directives=moved)), Vendor.SNP, PROFILES["igvmmeasure"])
    )


def _refresh(raw: bytearray) -> bytes:
    """Recompute the CRC after an edit, so that the structural check is what fails."""
    vh_offset, vh_size = struct.unpack_from("<2I", raw, 8)
    header = bytearray(raw[:24])
    header[20:24] = bytes(4)
    raw[20:24] = struct.pack("<I", zlib.crc32(bytes(header) + bytes(raw[vh_offset : vh_offset + vh_size])))
    return bytes(raw)


def test_bad_files() -> None:
    raw = igvm_file()
    with pytest.raises(FormatError, match="not an IGVM file"):
        parse_igvm(b"MZ" + raw[2:])
    with pytest.raises(UnsupportedVersionError, match="version 3"):
        parse_igvm(raw[:4] + struct.pack("<I", 3) + raw[8:])
    with pytest.raises(FormatError, match="checksum 0x335d57ca, computed"):
        parse_igvm(raw[:0x20] + b"\x02" + raw[0x21:])  # a variable-header byte
    with pytest.raises(FormatError, match="total_file_size 12600 differs"):
        parse_igvm(raw + bytes(8))
    with pytest.raises(TruncatedError, match="24 bytes"):
        parse_igvm(raw[:10])
    edited = bytearray(raw)
    edited[0x18:0x1C] = struct.pack("<I", 0x302)  # the platform record becomes a directive
    with pytest.raises(FormatError, match="has 16 body bytes, expected 24"):
        parse_igvm(_refresh(edited))
    swapped = bytearray(raw[:0x18]) + raw[0x30:0x48] + raw[0x18:0x30] + raw[0x48:]  # policy, then platform
    with pytest.raises(FormatError, match="platform header 0x1 after the initialization section"):
        parse_igvm(_refresh(swapped))
    edited = bytearray(raw)
    edited[0x18:0x1C] = struct.pack("<I", 0x250)
    with pytest.raises(FormatError, match="type 0x250 is in no section"):
        parse_igvm(_refresh(edited))
    last_page = [PageData(0x1000, 1, 0, 0, 0, P)]
    short = bytearray(igvm_file(directives=last_page))[:-100]
    short[16:20] = struct.pack("<I", len(short))
    with pytest.raises(TruncatedError, match="PAGE_DATA file data"):
        parse_igvm(_refresh(short))


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 12599), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_files_raise_only_format_errors(edits: list[tuple[int, int]]) -> None:
    """Random bytes changed in the spec file (CRC recomputed so that the structure is what is
    checked): the result is a parsed file, a plan or a pvmkit error, never another exception."""
    raw = bytearray(igvm_file())
    for pos, value in edits:
        raw[pos] = value
    try:
        igvm = parse_igvm(_refresh(raw))
    except FormatError as exc:
        assert exc.what
        return
    for vendor in (Vendor.SNP, Vendor.TDX):
        with contextlib.suppress(InputError, MeasurementError, PlanError):  # PlanError: layout, features
            pvmkit.measure(igvm_plan(igvm, vendor))


def test_an_ovmf_launch_written_as_igvm_measures_the_same(fixture_file) -> None:  # type: ignore[no-untyped-def]
    """The Debian OVMF SNP launch (4 vCPUs, EPYC-v4; its digest agrees with sev-snp-measure, see
    tests/crosscheck) written as an IGVM file: every loader's rules, with zero pages as SNP ZERO
    pages, give the same digest, and a VMSA followed by page data is measured in place."""
    from pvmkit.formats.ovmf import parse_ovmf
    from pvmkit.loaders.igvm import igvm_from_plan
    from pvmkit.vendors.amd.builder import AmdLaunch

    firmware = parse_ovmf(fixture_file("firmware/OVMF.amdsev.fd").read_bytes())
    plan = AmdLaunch(Vendor.SNP, firmware, vcpus=4, vcpu_sig=0x800F12).plan()
    igvm = parse_igvm(igvm_from_plan(plan))
    assert len(igvm.directives) == sum(op.pages for op in plan.memory) + 4
    expected = (
        "13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f"
    )
    assert pvmkit.measure(plan).hex() == expected
    for loader in PROFILES:
        rules = dataclasses.replace(PROFILES[loader], native_zero=True)
        assert pvmkit.measure(igvm_plan(igvm, Vendor.SNP, rules)).hex() == expected, loader
    with pytest.raises(InputError, match="writes SNP plans"):
        igvm_from_plan(AmdLaunch(Vendor.SEV_ES, firmware, vcpus=1, vcpu_sig=0x800F12).plan())
