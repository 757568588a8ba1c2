"""SEV-SNP attestation report layout (spec amd.md §4.5) on the real go-sev-guest report.

Expected values: the report bytes themselves (round trip), and fields cross-checked against AMD's
VCEK certificate for the same chip (its hwID and TCB extensions come from AMD's key distribution
service, an independent source): see tests/vectors/README.md "SNP attestation".
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvmkit.attest import snp_report as m
from pvmkit.attest.snp_report import (
    FIELD_OFFSETS,
    REPORT_SIZE,
    GuestPolicy,
    SnpReport,
    TcbVersion,
    amd_signature_to_der,
    amd_signature_to_rs,
    der_to_amd_signature,
    rs_to_amd_signature,
    tcb_layout_for,
)
from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError

REPORT = "go-sev-guest/attestation.bin"
# The VCEK (vcek.testcer) extension 1.3.6.1.4.1.3704.1.4 (hwID) for the chip that signed the report.
HWID = bytes.fromhex(
    "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e5378618"
    "4ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
)


@pytest.fixture(scope="module")
def raw() -> bytes:
    from support.fixtures import read_fixture

    return read_fixture(REPORT)


def test_size_constants() -> None:
    assert REPORT_SIZE == 0x4A0 == len(SnpReport().to_bytes())
    assert m.SIGNED_SIZE == m.SIGNATURE_OFFSET == 0x2A0
    assert m.SIGNATURE_OFFSET + m.SIGNATURE_SIZE == REPORT_SIZE


def test_real_report_round_trip_and_fields(raw: bytes) -> None:
    r = m.parse(raw)
    assert r.to_bytes() == raw
    assert r.version == 2
    assert r.signature_algo == 1
    assert r.signing_key == m.SIGNING_KEY_VCEK and r.signing_key_name == "vcek"
    assert not r.author_key_en and not r.mask_chip_key
    assert r.policy == 0xB0000
    assert r.policy_info.smt and r.policy_info.reserved_1 and r.policy_info.debug
    assert not r.policy_info.migrate_ma
    assert r.report_data[:5] == bytes([1, 2, 3, 4, 5]) and not any(r.report_data[5:])
    assert r.measurement.hex().startswith("b07af9620f3b839b")
    assert r.chip_id == HWID
    assert r.report_id_ma == b"\xff" * 32
    assert r.platform.bit("smt_en")
    # TCB: AMD's VCEK for this chip says blSPL 2, teeSPL 0, snpSPL 5, ucodeSPL 0x44 (Milan layout).
    assert r.tcb_layout == "milan"
    t = r.tcb("reported_tcb")
    assert (t.bootloader, t.tee, t.snp, t.microcode, t.fmc) == (2, 0, 5, 0x44, None)
    assert r.current_tcb == r.committed_tcb == r.launch_tcb == r.reported_tcb
    assert (r.current_major, r.current_minor, r.current_build) == (1, 0x31, 3)
    assert r.signed_bytes() == raw[:0x2A0] == m.signed_bytes(raw)
    assert not any(r.signature_reserved)


def test_to_dict_is_json(raw: bytes) -> None:
    d = m.parse(raw).to_dict()
    json.dumps(d)
    assert d["signing_key"] == "vcek"
    assert d["cpuid_fam_id"] is None and d["launch_mit_vector"] is None  # v2 has neither
    assert d["reported_tcb"]["snp"] == 5
    assert d["policy"]["debug"] is True
    v5 = SnpReport(version=5, launch_mit_vector=3).to_dict()
    assert v5["launch_mit_vector"] == "0x3" and v5["cpuid_fam_id"] == 0x19


def test_truncated_and_long(raw: bytes) -> None:
    with pytest.raises(TruncatedError):
        m.parse(raw[:-1])
    with pytest.raises(TruncatedError):
        m.parse(b"")
    with pytest.raises(FormatError):
        m.parse(raw + b"\0")
    with pytest.raises(TruncatedError):
        m.signed_bytes(raw[:100])


@pytest.mark.parametrize("version", [0, 1, 6, 0xFFFFFFFF])
def test_unknown_versions(raw: bytes, version: int) -> None:
    bad = version.to_bytes(4, "little") + raw[4:]
    with pytest.raises(UnsupportedVersionError):
        m.parse(bad)


def test_field_offsets_follow_the_spec_table() -> None:
    """Each field written alone lands at the offset of spec §4.5."""
    ints = {
        "version": (3, 4),
        "guest_svn": (0x11223344, 4),
        "policy": (0x1122334455667788, 8),
        "vmpl": (2, 4),
        "current_tcb": (0x0102030405060708, 8),
        "platform_info": (0x85, 8),
        "reported_tcb": (0x1111, 8),
        "cpuid_fam_id": (0x1A, 1),
        "cpuid_mod_id": (0x11, 1),
        "cpuid_step": (0x2, 1),
        "committed_tcb": (0x2222, 8),
        "current_build": (7, 1),
        "current_minor": (8, 1),
        "current_major": (9, 1),
        "committed_build": (10, 1),
        "committed_minor": (11, 1),
        "committed_major": (12, 1),
        "launch_tcb": (0x3333, 8),
        "launch_mit_vector": (0x4444, 8),
        "current_mit_vector": (0x5555, 8),
    }
    base = SnpReport(
        version=3,
        policy=0,
        cpuid_fam_id=0,
        cpuid_mod_id=0,
        cpuid_step=0,
        report_id_ma=bytes(32),
        signature_algo=0,
    )
    for name, (value, size) in ints.items():
        raw = SnpReport(**{**base.__dict__, name: value}).to_bytes()
        off = FIELD_OFFSETS[name]
        assert raw[off : off + size] == value.to_bytes(size, "little"), name
    for name, size in m._BYTES_SIZES.items():
        value = bytes(range(1, size + 1)) if size < 256 else bytes(size)
        raw = SnpReport(**{**base.__dict__, name: value}).to_bytes()
        off = FIELD_OFFSETS[name]
        assert raw[off : off + size] == value, name
    key = SnpReport(
        **{**base.__dict__, "author_key_en": True, "mask_chip_key": True, "signing_key": 7}
    ).to_bytes()
    assert key[0x48:0x4C] == (1 | 2 | 7 << 2).to_bytes(4, "little")


def test_field_value_checks() -> None:
    with pytest.raises(FormatError):
        SnpReport(measurement=bytes(47)).to_bytes()
    with pytest.raises(FormatError):
        SnpReport(vmpl=1 << 32).to_bytes()
    with pytest.raises(FormatError):
        SnpReport(signing_key=8).to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE), st.sampled_from(sorted(m.KNOWN_VERSIONS)))
def test_round_trip_any_bytes(data: bytes, version: int) -> None:
    raw = version.to_bytes(4, "little") + data[4:]
    assert m.parse(raw).to_bytes() == raw


def test_tcb_layouts() -> None:
    raw = 0xD5000000_17000A0C  # Turin: fmc 0x0C, bl 0x0A, tee 0, snp 0x17, ucode 0xD5
    t = TcbVersion.decode(raw, "turin")
    assert (t.fmc, t.bootloader, t.tee, t.snp, t.microcode) == (0x0C, 0x0A, 0, 0x17, 0xD5)
    assert (
        TcbVersion.encode(fmc=0x0C, bootloader=0x0A, tee=0, snp=0x17, microcode=0xD5, layout="turin") == raw
    )
    milan = TcbVersion.encode(bootloader=2, tee=0, snp=5, microcode=0x44)
    assert milan == 0x4405000000000002
    assert TcbVersion.decode(milan).components() == {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 0x44}
    with pytest.raises(ValueError):
        TcbVersion.decode(0, "zen9")
    assert tcb_layout_for(3, 0x1A, 0x02, bytes(64)) == "turin"
    assert tcb_layout_for(3, 0x19, 0x11, bytes(64)) == "milan"  # Genoa shares Milan's layout
    assert tcb_layout_for(2, 0, 0, bytes(range(1, 9)) + bytes(56)) == "turin"  # v2: chip id shape
    assert tcb_layout_for(2, 0, 0, HWID) == "milan"
    assert SnpReport(version=3, cpuid_fam_id=0x1A, cpuid_mod_id=0x02).product == "Turin"
    assert SnpReport(version=3, cpuid_fam_id=0x19, cpuid_mod_id=0x11).product == "Genoa"


def test_policy_decoding() -> None:
    p = GuestPolicy(0x30000)  # QEMU default
    assert p.smt and p.reserved_1 and not p.debug and p.abi_major == p.abi_minor == 0
    p = GuestPolicy(0x1 << 25 | 0x1 << 20 | 0x1F << 8 | 0x3)
    assert p.page_swap_disable and p.single_socket and p.abi_major == 0x1F and p.abi_minor == 3
    assert GuestPolicy(1 << 40).unknown_bits == 1 << 40
    assert "unknown_bits" in GuestPolicy(1 << 40).to_dict()


def test_signature_format_round_trip(raw: bytes) -> None:
    sig = raw[0x2A0:]
    der = amd_signature_to_der(sig)
    assert der_to_amd_signature(der) == sig
    r, s = amd_signature_to_rs(sig)
    assert rs_to_amd_signature(r, s) == sig
    assert m.parse(raw).signature_r == r


def test_signature_der_verifies_with_cryptography_directly(raw: bytes) -> None:
    """Independent of pvmkit's verifier: the converted signature verifies with the VCEK's key."""
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from support.fixtures import read_fixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(read_fixture("go-sev-guest/vcek.testcer"))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(amd_signature_to_der(raw[0x2A0:]), raw[:0x2A0], ec.ECDSA(hashes.SHA384()))


def test_signature_format_rejects_oversized_components() -> None:
    sig = bytearray(rs_to_amd_signature(5, 7))
    sig[48] = 1
    with pytest.raises(FormatError):
        amd_signature_to_rs(bytes(sig))
    with pytest.raises(FormatError):
        rs_to_amd_signature(1 << 384, 1)
    with pytest.raises(TruncatedError):
        amd_signature_to_rs(bytes(10))
    with pytest.raises(FormatError):
        der_to_amd_signature(b"\x30\x00junk")
