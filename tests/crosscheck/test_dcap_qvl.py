"""Cross-check pvmkit's Intel TCB appraisal against dcap-qvl (PyPI ``dcap-qvl``, Phala Network's Rust
verifier), an independent implementation, on every real case of ``dcap-appraisal-cases.json``.

On these inputs the two agree (status and advisory IDs, or both refuse): the places where dcap-qvl
departs from Intel's QVL (docs/attestation.md) are not reached by any real case.
"""

from __future__ import annotations

import pytest

from pvmkit.attest.dcap_verify import appraise_quote
from pvmkit.formats.sgx_pck_extension import SGX_EXTENSION_OID, parse_sgx_extension
from pvmkit.formats.sgx_quote import parse_dcap_quote
from support import dcap_cases
from support.dcap_synth import v3_json
from support.fixtures import import_peer

pytestmark = pytest.mark.crosscheck


@pytest.mark.parametrize("case_id", dcap_cases.case_ids())
def test_dcap_qvl_agrees(case_id: str) -> None:
    dcap_qvl = import_peer("dcap_qvl")
    c = dcap_cases.case(case_id)
    raw, when, collateral = dcap_cases.quote_bytes(c), dcap_cases.at(c), dcap_cases.collateral(c)
    ours = appraise_quote(raw, collateral=collateral, at=when, allow_debug=True)
    try:
        theirs = dcap_qvl.verify(
            raw, dcap_qvl.QuoteCollateralV3.from_json(v3_json(collateral)), int(when.timestamp())
        )
    except Exception as exc:  # dcap-qvl refuses with an exception (ValueError / RuntimeError)
        assert ours.tcb_status is None, f"dcap-qvl refused ({exc}), pvmkit says {ours.tcb_status}"
        assert not ours.ok
        assert c["reference_dcap_qvl"]["error"].split(": ")[-1] in str(exc)
        return
    assert ours.tcb is not None, [f.text() for f in ours.checks.failures]
    assert ours.tcb_status == theirs.status
    assert list(ours.tcb.advisory_ids) == list(theirs.advisory_ids)


@pytest.mark.parametrize("case_id", dcap_cases.case_ids())
def test_pck_extension_agrees(case_id: str) -> None:
    dcap_qvl = import_peer("dcap_qvl")
    from cryptography import x509

    quote = parse_dcap_quote(dcap_cases.quote_bytes(dcap_cases.case(case_id)))
    chain = quote.signature_data.pck_chain
    assert chain is not None
    pem = chain.pem_certificates[0]
    cert = x509.load_pem_x509_certificate(pem)
    value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID)).value
    ours = parse_sgx_extension(value.value)  # type: ignore[attr-defined]
    theirs = dcap_qvl.parse_pck_extension_from_pem(pem)
    assert ours.fmspc == bytes(theirs.fmspc)
    assert ours.pceid == bytes(theirs.pce_id)
    assert ours.pcesvn == theirs.pce_svn
    assert ours.cpusvn == bytes(theirs.cpu_svn)
    assert ours.ppid == bytes(theirs.ppid)
    assert ours.sgx_type == theirs.sgx_type
    peer_instance = theirs.platform_instance_id
    assert ours.platform_instance_id == (None if peer_instance is None else bytes(peer_instance))
