"""TDREPORT and TDX quote v4/v5 parsing and building (pvmkit.formats.tdx_quote).

Vectors: tests/vectors/README.md, section "TDX evidence".
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import pytest

from pvmkit.errors import FormatError, TruncatedError, UnsupportedVersionError
from pvmkit.formats.tdx_quote import (
    INTEL_QE_VENDOR_ID,
    Quote,
    TdQuoteBody,
    TdReport,
    parse_quote,
)
from support.fixtures import read_fixture

GCE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"
SPR = "go-tdx-guest/tdx_prod_quote_SPR_E4.dat"
V5 = "go-tdx-guest/quote_v5_sample.dat"
REPORT = "go-tdx-guest/report.dat"
QUOTES = [GCE, SPR, V5]


@pytest.mark.parametrize("name", QUOTES)
def test_quotes_round_trip(name: str) -> None:
    raw = read_fixture(name)
    q = Quote.parse(raw)
    assert q.to_bytes() == raw
    assert q.build() == raw
    assert Quote.parse(q.to_bytes()) == q
    # each sub-structure rebuilds its own bytes
    off = q.body_offset
    assert raw[:48] == q.header.to_bytes()
    assert raw[off : off + q.body_size] == q.body.to_bytes()
    sig_at = off + q.body_size
    assert struct.unpack_from("<I", raw, sig_at)[0] == q.signature_data_len
    assert raw[sig_at + 4 : sig_at + 4 + q.signature_data_len] == q.signature_data.to_bytes()


@pytest.mark.parametrize("name", QUOTES)
def test_common_quote_fields(name: str) -> None:
    q = Quote.parse(read_fixture(name))
    h = q.header
    assert (h.att_key_type, h.tee_type) == (2, 0x81)  # spec §4.2
    assert h.qe_vendor_id == INTEL_QE_VENDOR_ID
    sig = q.signature_data
    cert = sig.certification_data
    assert cert.cert_type == 6 and cert.qe_report is not None  # QE report certification data
    qe = cert.qe_report
    assert len(qe.qe_report_signature) == 64 and len(qe.qe_auth_data) == 32
    chain = sig.pck_chain
    assert chain is not None and chain.cert_type == 5
    pems = chain.pem_certificates
    assert len(pems) == 3 and all(p.startswith(b"-----BEGIN CERTIFICATE-----") for p in pems)
    # Intel DCAP: QE REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zero bytes.
    # An independent check that the signature-data offsets are right.
    want = hashlib.sha256(sig.attestation_key + qe.qe_auth_data).digest() + bytes(32)
    assert qe.qe_report.report_data == want
    assert q.qe_report_binds_key() is True


def test_gce_quote_v4_fields() -> None:
    raw = read_fixture(GCE)
    q = Quote.parse(raw)
    assert q.version == 4 and q.body_type is None and q.body_size == 584
    b = q.body
    assert b.td_attributes == 0x10000000  # spec §2.6/§4.2 [V]
    assert b.xfam == 0x600E7
    assert b.seam_attributes == 0
    assert not b.is_tdx15 and b.tee_tcb_svn2 is None and b.mr_service_td is None
    assert b.tee_tcb_svn.hex() == "04010700000000000000000000000000"
    assert b.mr_td.hex().startswith("dae67181d3d65e07")
    # absolute offsets of spec §4.2: MRTD @0xB8, RTMR0 @0x178, REPORTDATA @0x238
    assert raw[0xB8 : 0xB8 + 48] == b.mr_td
    assert raw[0x178 : 0x178 + 48] == b.rtmr0
    assert raw[0x208 : 0x208 + 48] == b.rtmr3
    assert raw[0x238 : 0x238 + 64] == b.report_data
    # the report data the quote was requested with (go-tdx-guest nonce.dat): 64 zero bytes
    assert b.report_data == read_fixture("go-tdx-guest/ccel/nonce.dat") == bytes(64)
    assert q.signature_data_len == 4299
    # the 8000-byte buffer is zero-padded after the signature data
    assert len(q.trailing) == 8000 - 0x27C - 4299 and set(q.trailing) == {0}


def test_v5_sample_fields() -> None:
    raw = read_fixture(V5)
    q = Quote.parse(raw)
    assert q.version == 5 and q.body_type == 3 and q.body_size == 648  # spec §4.3 [V]
    assert q.signature_data_len == 4300
    assert q.body.xfam == 0x602E7 and q.body.td_attributes == 0x10000000
    assert q.body.is_tdx15
    assert q.body.tee_tcb_svn2 is not None and q.body.tee_tcb_svn2.hex() == "0d010400000000000000000000000000"
    assert q.body.mr_service_td == bytes(48)
    assert raw[0xBE : 0xBE + 48] == q.body.mr_td  # spec §4.3: MRTD at 54 + 0x88
    assert raw[54 + 0x248 : 54 + 0x258] == q.body.tee_tcb_svn2
    assert q.trailing == b""


def test_spr_quote_keeps_trailing_bytes() -> None:
    raw = read_fixture(SPR)
    q = Quote.parse(raw)
    assert q.version == 4 and len(q.trailing) == len(raw) - (0x27C + q.signature_data_len)
    assert q.to_bytes() == raw


def test_v5_body_type_2_builds_and_parses() -> None:
    q4 = Quote.parse(read_fixture(GCE))
    q5 = dataclasses.replace(q4, header=dataclasses.replace(q4.header, version=5), body_type=2, trailing=b"")
    raw = q5.to_bytes()
    assert struct.unpack_from("<HI", raw, 48) == (2, 584)
    again = Quote.parse(raw)
    assert again == q5 and again.rtmrs == q4.rtmrs and again.body_offset == 54


def test_unknown_version_and_tee_type() -> None:
    raw = bytearray(read_fixture(GCE))
    raw[0:2] = struct.pack("<H", 3)
    with pytest.raises(UnsupportedVersionError, match="unsupported TDX quote version 3"):
        Quote.parse(bytes(raw))
    raw[0:2] = struct.pack("<H", 4)
    raw[4:8] = struct.pack("<I", 0)
    with pytest.raises(UnsupportedVersionError, match="not TDX"):
        parse_quote(bytes(raw))


def test_unknown_v5_body_type_and_bad_size() -> None:
    raw = bytearray(read_fixture(V5))
    raw[48:50] = struct.pack("<H", 4)
    with pytest.raises(UnsupportedVersionError, match="body type 4"):
        Quote.parse(bytes(raw))
    raw = bytearray(read_fixture(V5))
    raw[50:54] = struct.pack("<I", 584)
    with pytest.raises(FormatError, match="descriptor says 584"):
        Quote.parse(bytes(raw))


@pytest.mark.parametrize("cut", [10, 100, 0x27A, 0x300, 1000, 4000])
def test_truncated_quote(cut: int) -> None:
    with pytest.raises(TruncatedError):
        Quote.parse(read_fixture(GCE)[:cut])


def test_body_rejects_wrong_field_sizes() -> None:
    body = Quote.parse(read_fixture(GCE)).body
    with pytest.raises(FormatError, match="rtmr0 must be 48 bytes"):
        dataclasses.replace(body, rtmr0=b"\x00").to_bytes()
    assert TdQuoteBody.parse(body.to_bytes()) == body


# ---- TDREPORT -----------------------------------------------------------------------------------


def test_report_fixture_round_trips() -> None:
    raw = read_fixture(REPORT)
    r = TdReport.parse(raw)
    assert r.to_bytes() == raw and r.build() == raw
    # go-tdx-guest's report.dat is not aligned as a TDREPORT_STRUCT (see the vectors README):
    # parsed in place, none of its internal hashes check out.
    assert not r.is_tdx and not r.tee_info_hash_ok and not r.tee_tcb_info_hash_ok


def _realigned_report() -> bytes:
    """report.dat lacks the first 48 bytes of a TDREPORT (REPORTTYPE, CPUSVN and the first 16 bytes
    of TEE_TCB_INFO_HASH) and is zero-padded at the end; restore the layout (type 0x81, CPUSVN 0,
    hash prefix recomputed) to check the offsets against the report's own hashes."""
    raw = read_fixture(REPORT)
    tee_tcb_info = raw[256 - 48 : 256 - 48 + 239]
    prefix = bytes([0x81, 0, 0, 0]) + bytes(12) + bytes(16) + hashlib.sha384(tee_tcb_info).digest()[:16]
    return prefix + raw[:-48]


def test_tdreport_offsets_against_its_own_hashes() -> None:
    raw = _realigned_report()
    r = TdReport.parse(raw)
    # TEE_INFO_HASH = SHA-384(TDINFO[512]) with TDINFO at 512: the TDX module's own hash confirms
    # the TDINFO offset and size (spec §4.1)
    assert r.tee_info_hash_ok
    assert r.tee_tcb_info_hash_ok  # TEE_TCB_INFO_HASH = SHA-384(TEE_TCB_INFO[239]); 32 of 48 bytes are real
    assert r.is_tdx and r.report_mac.report_version == 0
    assert r.tee_tcb_info.valid == bytes.fromhex("ff01000000000000")
    assert r.tee_tcb_info.tee_tcb_svn.hex() == "03000500000000000000000000000000"
    assert r.td_info.attributes == 0 and r.td_info.xfam == 0xE7
    assert r.td_info.mr_td.hex().startswith("1d31766cd548f863")
    assert r.rtmrs == (bytes(48),) * 4
    # Linux tdx-guest.c offsets: MRTD @528, RTMR0 @720 (not the quote-body 584 of §4.1's warning)
    assert raw[528 : 528 + 48] == r.td_info.mr_td
    assert raw[720 : 720 + 48] == r.td_info.rtmr0
    assert r.to_bytes() == raw


def test_tdreport_size_checks() -> None:
    raw = read_fixture(REPORT)
    with pytest.raises(TruncatedError):
        TdReport.parse(raw[:1000])
    with pytest.raises(FormatError):
        TdReport.parse(raw + b"\x00")


def test_tdreport_build_from_fields() -> None:
    r = TdReport.parse(_realigned_report())
    rt = tuple(hashlib.sha384(bytes([i])).digest() for i in range(4))
    info = dataclasses.replace(r.td_info, rtmr0=rt[0], rtmr1=rt[1], rtmr2=rt[2], rtmr3=rt[3])
    built = dataclasses.replace(r, td_info=info).to_bytes()
    for i in range(4):
        assert built[720 + 48 * i : 768 + 48 * i] == rt[i]
    assert TdReport.parse(built).rtmrs == rt
