"""Parsing Intel PCS collateral, SGX v3 quotes and the PCK certificate's SGX extension.

Inputs are real PCS bodies, dcap-qvl collateral JSON and real quotes from ../shared/fixtures; expected
values come from the fixture case file (FMSPCs) and from the files themselves (tests/vectors/README.md).
"""

from __future__ import annotations

import json
from urllib.parse import quote as url_quote

import pytest

from pvmkit.errors import FormatError, UnsupportedVersionError
from pvmkit.formats.intel_collateral import (
    collateral_from_v3_json,
    decode_pem_text,
    parse_enclave_identity,
    parse_tcb_info,
    split_signed_body,
)
from pvmkit.formats.sgx_quote import SgxQuote, parse_dcap_quote
from pvmkit.formats.tdx_quote import Quote
from support import dcap_cases
from support.fixtures import read_fixture

AUTOMATA = "automata-dcap/solana/automata-dcap-framework/tests/data/"


def test_split_signed_body_keeps_the_exact_bytes() -> None:
    body = read_fixture(AUTOMATA + "tcb_info_v3_with_tdx_module.json")
    text, signature = split_signed_body(body, "tcbInfo", "TCB Info")
    assert body.index(text) > 0 and len(signature) == 64
    assert json.loads(body)["signature"] == signature.hex()
    info = parse_tcb_info(text)
    assert info.id == "TDX" and info.fmspc.hex().upper() == "00806F050000"
    assert "TDX_01" in [i.id for i in info.tdx_module_identities]


def test_split_signed_body_refuses_other_documents() -> None:
    with pytest.raises(FormatError, match="signature"):
        split_signed_body(b'{"tcbInfo": {}}', "tcbInfo", "TCB Info")
    with pytest.raises(FormatError):
        split_signed_body(b'{"tcbInfo": {}, "signature": "00"} trailing', "tcbInfo", "TCB Info")
    with pytest.raises(FormatError):
        split_signed_body(b"[1, 2]", "tcbInfo", "TCB Info")


def test_pretty_printed_body_keeps_its_whitespace() -> None:
    body = b'{ "tcbInfo" : {"a": 1} ,\n "signature": "' + b"00" * 64 + b'" }'
    text, _ = split_signed_body(body, "tcbInfo", "x")
    assert text == b'{"a": 1}'


def test_quote_collateral_v3_json() -> None:
    raw = read_fixture("dcap-qvl/sample/tdx_quote_collateral.json")
    doc = json.loads(raw)
    c = collateral_from_v3_json(raw)
    assert c.tcb_info == doc["tcb_info"].encode()
    assert c.pck_crl == bytes.fromhex(doc["pck_crl"]) and c.root_ca_crl == bytes.fromhex(doc["root_ca_crl"])
    qe = parse_enclave_identity(c.qe_identity)
    assert qe.id == "TD_QE" and qe.isvprodid == 2 and qe.miscselect_mask == 0xFFFFFFFF
    del doc["qe_identity"]
    with pytest.raises(FormatError, match="missing qe_identity"):
        collateral_from_v3_json(json.dumps(doc))


def test_url_encoded_issuer_chain() -> None:
    pem = json.loads(read_fixture("dcap-qvl/sample/tdx_quote_collateral.json"))["tcb_info_issuer_chain"]
    assert decode_pem_text(url_quote(pem).encode()) == pem.encode().strip()
    assert decode_pem_text(pem.encode()) == pem.encode().strip()


def test_tcb_info_refusals() -> None:
    doc = json.loads(json.loads(read_fixture("dcap-qvl/sample/tdx_quote_collateral.json"))["tcb_info"])
    good = parse_tcb_info(json.dumps(doc))
    assert good.version == 3 and len(good.tcb_levels[0].tdx_components or ()) == 16
    for change, message in (
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d["tcbLevels"][0].update(tcbStatus="Fine"), "unrecognised tcbStatus"),
        (lambda d: d["tcbLevels"][0]["tcb"]["sgxtcbcomponents"].pop(), "15 entries"),
        (lambda d: d.update(fmspc="00"), "fmspc"),
        (lambda d: d.update(nextUpdate="tomorrow"), "nextUpdate"),
    ):
        bad = json.loads(json.dumps(doc))
        change(bad)
        with pytest.raises(FormatError, match=message):
            parse_tcb_info(json.dumps(bad))


SGX_CASES = dcap_cases.case_ids(lambda c: c["tee"] == "SGX")


@pytest.mark.parametrize("case_id", SGX_CASES)
def test_sgx_v3_quotes_parse_and_round_trip(case_id: str) -> None:
    c = dcap_cases.case(case_id)
    raw = dcap_cases.quote_bytes(c)
    q = parse_dcap_quote(raw)
    assert isinstance(q, SgxQuote) and q.version == 3
    assert q.to_bytes() == raw
    assert q.signature_data.pck_chain.cert_type == 5 and len(q.signature_data.pck_chain.pem_certificates) == 3
    assert q.signed_bytes() == raw[:432]


def test_parse_dcap_quote_dispatches_and_refuses() -> None:
    tdx = read_fixture("dcap-qvl/sample/tdx_quote")
    assert isinstance(parse_dcap_quote(tdx), Quote)
    bad = bytearray(tdx)
    bad[0] = 7
    with pytest.raises(UnsupportedVersionError, match="version 7"):
        parse_dcap_quote(bytes(bad))
    sgx = bytearray(read_fixture("dcap-qvl/sample/sgx_quote"))
    with pytest.raises(FormatError):
        SgxQuote.parse(bytes(sgx[:500]))
