"""Issue 15: bad input never crashes and never exhausts memory (the library half; the CLI half is
tests/cli/test_cli_bad_input.py). Each case is one bit flipped in a real fixture (offsets count from
0, as in the issue; provenance in tests/vectors/README.md, "Bad input"):

* item 1: a malformed certificate is a FormatError, never a ``cryptography`` exception or a printed
  warning;
* item 2: sizes read from a file are checked against what the file and the guest can hold before
  anything is allocated;
* item 8: inputs that were slow (a firmware claiming gigabytes of zero pages, an event log whose RTMR
  matches nothing) are bounded.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from pvmkit.attest._x509 import common_name, load_certificates
from pvmkit.errors import FormatError
from pvmkit.formats.ovmf import MAX_SECTION_MEMORY, parse_ovmf
from pvmkit.formats.tdvf import parse_tdvf
from pvmkit.vendors.tdx.builder import build_tdvf_plan
from support.fixtures import read_fixture

TDVF = "firmware/OVMF.inteltdx.ms.fd"
OVMF = "firmware/OVMF.amdsev.fd"


VCEK_FLIPS = [
    (553, 0x02, "Duplicate 1.3.6.1.4.1.3704.1.3.3 extension"),
    (121, 0x10, "oid must be X500_UNIQUE_IDENTIFIER"),
    (133, 0x01, "Attribute's length must be >= 2 and <= 2"),
]


def flipped(relative: str, offset: int, mask: int) -> bytes:
    data = bytearray(read_fixture(relative))
    data[offset] ^= mask
    return bytes(data)


@pytest.mark.parametrize(("offset", "mask", "cause"), VCEK_FLIPS)
def test_flipped_vcek_is_a_format_error(offset: int, mask: int, cause: str) -> None:
    data = flipped("go-sev-guest/vcek.testcer", offset, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping load_certificates fails the test
        with pytest.raises(FormatError, match=r"not a valid X\.509 certificate") as info:
            load_certificates(data, "vcek")
    assert cause in str(info.value)
    assert "\n" not in str(info.value)


def test_original_vcek_still_loads() -> None:
    # the AMD KDS certificate has serial number 0: loading it stays silent (filterwarnings = error)
    (cert,) = load_certificates(read_fixture("go-sev-guest/vcek.testcer"), "vcek")
    assert common_name(cert) == "SEV-VCEK"


def test_tdvf_section_memory_size_is_bounded() -> None:
    # byte 0x3ff645 is bit 44 of the CFV section's MemoryDataSize: 0x84000 becomes 0x100000084000
    image = flipped(TDVF, 0x3FF645, 0x10)
    with pytest.raises(FormatError, match="over pvmkit's limit") as info:
        parse_tdvf(image)
    assert "0x100000084000" in str(info.value)
    assert info.value.offset == 0x3FF630  # the CFV's 32-byte entry (the size field is at +0x10)


def test_tdvf_limit_leaves_the_real_image_alone() -> None:
    meta = parse_tdvf(read_fixture(TDVF))
    assert sum(s.memory_data_size - s.raw_data_size for s in meta.sections) < MAX_SECTION_MEMORY // 256


def test_unmeasured_padding_is_not_a_copy() -> None:
    """An unmeasured section bigger than its data is zero-padded in a lazily zero-filled mapping:
    the CFV grown to 128 MiB (within the limit) plans without allocating 128 MiB."""
    image = bytearray(read_fixture(TDVF))
    cfv_size_field = 0x3FF630 + 16  # MemoryDataSize of section 1, u64 little-endian
    image[cfv_size_field : cfv_size_field + 8] = (128 << 20).to_bytes(8, "little")
    plan = build_tdvf_plan(bytes(image))
    (cfv,) = [op for op in plan.ops if getattr(op, "label", "") == "CFV#1"]
    assert cfv.size == 128 << 20 and cfv.data is not None and len(cfv.data) == 128 << 20
    assert cfv.data[:16] == image[:16]  # the CFV's data starts the image (DataOffset 0)
    assert cfv.data[(128 << 20) - 16 :] == bytes(16)


def test_tdvf_limit_counts_memory_beyond_the_data() -> None:
    image = bytearray(read_fixture(TDVF))
    temp_size_field = 0x3FF650 + 16  # MemoryDataSize of section 2 (TEMP_MEM, no data)
    image[temp_size_field : temp_size_field + 8] = (MAX_SECTION_MEMORY).to_bytes(8, "little")
    with pytest.raises(FormatError, match="beyond their data"):
        parse_tdvf(bytes(image))
    image[temp_size_field : temp_size_field + 8] = (MAX_SECTION_MEMORY // 2).to_bytes(8, "little")
    assert parse_tdvf(bytes(image)).sections[2].memory_data_size == MAX_SECTION_MEMORY // 2


def test_sev_metadata_section_size_is_bounded() -> None:
    """Issue 15 item 8 (mutated OVMF images measured for seconds): bit 31 of the size of the sixth
    SEV metadata section (SNP_SEC_MEM, 124 KiB) claims 2 GiB of zero pages, each hashed on its own."""
    image = bytearray(read_fixture(OVMF))
    size_field = 0x3FFA88 + 4  # the sixth 12-byte descriptor {gpa, size, type}
    assert int.from_bytes(image[size_field : size_field + 4], "little") == 126976
    image[size_field + 3] ^= 0x80
    start = time.monotonic()
    with pytest.raises(FormatError, match="over pvmkit's limit") as info:
        parse_ovmf(bytes(image))
    assert time.monotonic() - start < 10
    assert info.value.offset == size_field
    assert sum(s.size for s in parse_ovmf(read_fixture(OVMF)).sections) < MAX_SECTION_MEMORY // 1000


def test_event_log_search_is_bounded() -> None:
    """Issue 15 item 8 (mutated event logs replayed for 1.4 s against a quote): when a register differs
    and no single-byte change explains it, the search stops at its budget. The budget still covers a
    full sweep of every register of the real log (test_tdx_replay's byte-47 flips need it)."""
    from pvmkit.formats.ccel import EventLog
    from pvmkit.formats.tdx_quote import Quote
    from pvmkit.vendors.tdx.replay import DEFAULT_SEARCH_BUDGET, EventStatus, compare, replay

    log = EventLog.parse(read_fixture("go-tdx-guest/ccel/ccel_data.dat"))
    quote = Quote.parse(read_fixture("go-tdx-guest/ccel/cos-113-tdx-quote.dat"))
    rep = replay(log)
    for k in range(4):
        events = rep.events_of(k)
        sweep = sum(
            255 * 48 * (len(events) - j) for j, r in enumerate(events) if r.status == EventStatus.EXTERNAL
        )
        assert sweep <= DEFAULT_SEARCH_BUDGET
    other = (bytes(48), *quote.rtmrs[1:])  # RTMR0 of another TD: nothing explains it
    start = time.monotonic()
    d = compare(log, other).first_difference
    assert time.monotonic() - start < 15  # about 0.5 s here; the margin is for a loaded machine
    assert d is not None and d.rtmr == 0 and d.event is None


def test_reference_value_files_are_bounded() -> None:
    """Issue 15 item 3 in the library: reference-value files (verify --expect, reference-values) are
    read up to 16 MiB, so /dev/zero is refused instead of read forever."""
    from pvmkit.errors import InputError
    from pvmkit.refvalues.read import MAX_FILE_SIZE, load_reference_values

    assert MAX_FILE_SIZE == 16 << 20
    start = time.monotonic()
    with pytest.raises(InputError, match="/dev/zero: longer than 16 MiB"):
        load_reference_values(["/dev/zero"])
    assert time.monotonic() - start < 20


def test_igvm_directives_cannot_claim_more_than_the_file_can_hold() -> None:
    """Issue 15 item 2 for IGVM: a PAGE_DATA header is 32 bytes but claims 4 KiB (2 MiB with
    PAGE_DATA_2MB) of guest memory to hash; the claims are bounded by the file size plus 256 MiB."""
    from pvmkit.formats.igvm import PAGE_DATA_2MB, PageData, parse_igvm
    from support.igvm_vectors import DIRECTIVES, igvm_file

    big = [PageData(0x4000_0000 + i * (2 << 20), 1, 0, PAGE_DATA_2MB, 0, None) for i in range(140)]
    data = igvm_file(directives=[*big, *DIRECTIVES])
    start = time.monotonic()
    with pytest.raises(FormatError, match=r"claim .* bytes of guest memory, over pvmkit's limit"):
        parse_igvm(data)
    assert time.monotonic() - start < 10
    # 100 of them (200 MiB) are within the limit
    assert len(parse_igvm(igvm_file(directives=[*big[:100], *DIRECTIVES])).directives) == 108


def test_cert_table_entries_cannot_overlap_into_a_quadratic_copy() -> None:
    """Distinct GUIDs each naming the whole table would copy it once per entry; the certificates
    together may not exceed the table."""
    import struct
    import uuid

    from pvmkit.attest.cert_table import parse_cert_table

    count = 2000
    size = 24 * (count + 1)
    entries = b"".join(struct.pack("<16sII", uuid.uuid4().bytes, 0, size) for _ in range(count))
    table = entries + bytes(24)
    with pytest.raises(FormatError, match="entries overlap"):
        parse_cert_table(table)


CPAK_PUB = "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub"
CPAK_PRIVATE = "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pem"


def with_unknown_curve(pem: bytes) -> bytes:
    """A P-384 PEM key whose curve OID 1.3.132.0.34 (SEC 2) is turned into 1.3.132.0.127, an OID no
    curve has: ``cryptography`` raises UnsupportedAlgorithm for it, which used to escape."""
    import base64

    lines = pem.strip().splitlines()
    der = base64.b64decode(b"".join(lines[1:-1]))
    p384 = bytes.fromhex("2b81040022")
    assert der.count(p384) == 1
    body = base64.encodebytes(der.replace(p384, bytes.fromhex("2b8104007f")))
    return lines[0] + b"\n" + body + lines[-1] + b"\n"


def test_public_key_of_an_unknown_curve_is_a_format_error() -> None:
    from pvmkit.attest.cose_verify import load_public_key

    key = with_unknown_curve(read_fixture(CPAK_PUB))
    with pytest.raises(FormatError, match=r"CPAK: not a PEM public key: Curve 1\.3\.132\.0\.127"):
        load_public_key(key, "CPAK")
    with pytest.raises(FormatError, match="not a DER public key"):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

        good = load_pem_public_key(read_fixture(CPAK_PUB)).public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        load_public_key(good.replace(bytes.fromhex("2b81040022"), bytes.fromhex("2b8104007f")), "CPAK")


def test_private_key_of_an_unknown_curve_is_an_input_error() -> None:
    from pvmkit.errors import InputError
    from pvmkit.vendors.amd.id_block import load_private_key

    with pytest.raises(InputError, match=r"cannot load the private key: .*1\.3\.132\.0\.127"):
        load_private_key(with_unknown_curve(read_fixture(CPAK_PRIVATE)))


DEEP = b"[" * 100_000  # json.loads raises RecursionError, not ValueError, for nesting this deep


def test_deeply_nested_json_is_a_pvmkit_error(tmp_path: Path) -> None:
    from pvmkit.attest.cca_store import parse_reference_store, parse_trust_anchors
    from pvmkit.attest.cose_verify import load_public_key
    from pvmkit.attest.snp_policy import read_policy
    from pvmkit.errors import InputError, PvmkitError
    from pvmkit.formats.intel_collateral import collateral_from_v3_json
    from pvmkit.refvalues.read import read_reference_values

    readers = [
        lambda: collateral_from_v3_json(DEEP),
        lambda: read_reference_values(DEEP, "rv"),
        lambda: parse_trust_anchors(DEEP),
        lambda: parse_reference_store(DEEP),
        lambda: load_public_key(b'{"kty": ' + DEEP, "jwk"),
    ]
    for read in readers:
        with pytest.raises(PvmkitError):
            read()
    policy = tmp_path / "policy.json"
    policy.write_bytes(DEEP)
    with pytest.raises(InputError, match="not JSON"):
        read_policy(str(policy))
    with pytest.raises(InputError, match="longer than 16 MiB"):
        read_policy("/dev/zero")


def test_software_key_directory_with_bad_files(tmp_path: Path) -> None:
    """launch/verify --key DIR: an oversized or malformed file is a FormatError, not a read of the
    whole file or a cryptography exception."""
    from pvmkit.attest.software_ca import SoftwareAttestationKeys

    for name in ("ark.pem", "ask.pem", "vcek.pem", "vcek.key"):
        (tmp_path / name).write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(FormatError, match=r"ark\.pem: not a PEM certificate"):
        SoftwareAttestationKeys.load(str(tmp_path))
    with open(tmp_path / "ark.pem", "wb") as f:
        f.truncate(3 << 30)  # sparse
    with pytest.raises(FormatError, match=r"ark\.pem: longer than 1 MiB"):
        SoftwareAttestationKeys.load(str(tmp_path))


def test_deeply_nested_pcs_body_is_a_format_error() -> None:
    from pvmkit.formats.intel_collateral import split_signed_body

    with pytest.raises(FormatError, match="not a JSON object"):
        split_signed_body(b'{"tcbInfo": ' + DEEP, "tcbInfo", "TCB info")


def test_sev_metadata_section_count_is_bounded() -> None:
    """The ASEV header moved to the start of the image, listing a section every 12 bytes of the
    4 MiB: 349,182 sections took seconds to build before they were refused."""
    import struct

    from pvmkit.formats.ovmf import MAX_SECTIONS, METADATA_GUID

    image = bytearray(read_fixture(OVMF))
    entry = parse_ovmf(bytes(image)).table[METADATA_GUID]
    struct.pack_into("<I", image, entry.offset, len(image))  # the header at offset 0
    count = (len(image) - 16 - 0x1000) // 12
    struct.pack_into("<4sIII", image, 0, b"ASEV", 16 + count * 12, 1, count)
    start = time.monotonic()
    with pytest.raises(FormatError, match=f"lists {count} sections; pvmkit reads at most {MAX_SECTIONS}"):
        parse_ovmf(bytes(image))
    assert time.monotonic() - start < 10


def test_tdvf_section_count_is_bounded() -> None:
    import struct

    from pvmkit.formats.ovmf import MAX_SECTIONS

    image = bytearray(read_fixture(TDVF))
    descriptor = 0x3FF600  # the fixture's "TDVF" descriptor (tests/vectors/README.md, "Bad input")
    count = 300  # a table of 300 entries ending at the image's end: Length = 16 + 32 × 300
    start = len(image) - 0x20 - (16 + 32 * count)
    image[start - 16 : start] = image[descriptor - 16 : descriptor]  # the GUID right before it
    struct.pack_into("<4sIII", image, start, b"TDVF", 16 + 32 * count, 1, count)
    table = parse_ovmf(bytes(read_fixture(TDVF))).table
    offset_entry = table["e47a6535-984a-4798-865e-4685a7bf8ec2"]
    struct.pack_into("<I", image, offset_entry.offset, len(image) - start)
    with pytest.raises(FormatError, match=f"lists {count} sections; pvmkit reads at most {MAX_SECTIONS}"):
        parse_tdvf(bytes(image))


def test_igvm_record_count_is_bounded() -> None:
    """Empty records (an optional directive type pvmkit keeps raw) claim no memory, so their number is
    bounded on its own: one per 4 KiB of the file plus 128 Ki."""
    from pvmkit.formats.igvm import IgvmHeader, parse_igvm
    from support.igvm_vectors import DIRECTIVES, igvm_file

    empty = IgvmHeader((1 << 31) | 0x3FF, b"", 0)
    data = igvm_file(directives=[*DIRECTIVES, *[empty] * (140 << 10)])
    start = time.monotonic()
    with pytest.raises(FormatError, match="variable headers, over pvmkit's limit"):
        parse_igvm(data)
    assert time.monotonic() - start < 20


def test_corim_with_a_semantic_tag_cbor2_decodes_into_an_object() -> None:
    """Found by ./dev fuzz corim (tests/vectors/fuzz/corim/mime-message-tag.json): a CoRIM whose
    profile URI (tag 32) is turned into tag 36 (MIME message) decodes, through cbor2, into an email
    Message that cannot be written back; it used to escape as CBOREncodeError."""
    from pvmkit.refvalues.corim import parse_any

    data = bytearray(read_fixture("veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor"))
    assert data[28:30] == bytes.fromhex("d820")
    data[29] = 0x24
    with pytest.raises(FormatError, match=r"unsupported CBOR item \(Message\)"):
        parse_any(bytes(data), "CoRIM")


def test_serial_number_zero_reads_without_a_warning() -> None:
    """cryptography warns on every read of a serial number that is not positive (AMD's VCEK has 0; a
    forged PCK may have any); pvmkit reads it through _x509.serial_number, so no warning line is
    printed (this test runs with warnings as errors)."""
    from pvmkit.attest._x509 import serial_number

    (cert,) = load_certificates(read_fixture("go-sev-guest/vcek.testcer"), "vcek")
    assert serial_number(cert) == 0
