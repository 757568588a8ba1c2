"""TDX quotes (v4/v5), SGX quotes (v3) and TDREPORTs for ``pvmkit inspect``."""

from __future__ import annotations

from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, jsonable, register, text_lines
from pvmkit.formats import sgx_quote as _sq
from pvmkit.formats import tdx_quote as _tq

__all__: list[str] = []


def _detect_quote(data: bytes) -> bool:
    return (
        len(data) >= 48
        and int.from_bytes(data[0:2], "little") in (4, 5)
        and int.from_bytes(data[4:8], "little") == _tq.TDX_TEE_TYPE
    )


def _detect_sgx_quote(data: bytes) -> bool:
    return (
        len(data) >= 48
        and int.from_bytes(data[0:2], "little") == _sq.SGX_QUOTE_VERSION
        and int.from_bytes(data[2:4], "little") == _tq.ATT_KEY_ECDSA_P256
        and data[12:28] == _tq.INTEL_QE_VENDOR_ID
    )


def _sgx_quote_json(q: _sq.SgxQuote) -> dict[str, Any]:
    sig = q.signature_data
    qe = sig.qe_report
    chain = qe.certification_data
    out: dict[str, Any] = {
        "version": q.version,
        "header": jsonable(q.header) | {"qe_svn": q.qe_svn, "pce_svn": q.pce_svn},
        "body": jsonable(q.body),
        "signature_data": {
            "signature": sig.signature.hex(),
            "attestation_key": sig.attestation_key.hex(),
            "qe_report": jsonable(qe.qe_report),
            "qe_report_signature": qe.qe_report_signature.hex(),
            "qe_auth_data": qe.qe_auth_data.hex(),
            "certification_data": {
                "type": chain.cert_type,
                "size": chain.size,
                "certificates": [c.decode("ascii", "replace") for c in chain.pem_certificates],
            },
        },
    }
    if q.trailing:
        out["trailing_bytes"] = len(q.trailing)
    return out


def _sgx_quote_text(q: _sq.SgxQuote, verbose: bool) -> list[str]:
    data = _sgx_quote_json(q)
    chain = data["signature_data"]["certification_data"]
    if not verbose:
        chain["certificates"] = [f"<{len(c)}-byte PEM certificate>" for c in chain["certificates"]]
    head = f"SGX quote v{q.version}, enclave report body 384 B"
    return [head, *text_lines(data, hex_limit=0 if verbose else 96)]


def _body_json(body: _tq.TdQuoteBody) -> dict[str, Any]:
    d: dict[str, Any] = jsonable(body)
    for key in ("seam_attributes", "td_attributes", "xfam"):
        d[key] = f"{getattr(body, key):#018x}"
    if body.tee_tcb_svn2 is None:
        del d["tee_tcb_svn2"], d["mr_service_td"]
    return d


def _quote_json(q: _tq.Quote) -> dict[str, Any]:
    sig = q.signature_data
    cert: dict[str, Any] = {
        "type": sig.certification_data.cert_type,
        "size": sig.certification_data.size,
    }
    qe = sig.qe_report
    if qe is not None:
        chain = qe.certification_data
        cert["qe_report"] = jsonable(qe.qe_report)
        cert["qe_report_signature"] = qe.qe_report_signature.hex()
        cert["qe_auth_data"] = qe.qe_auth_data.hex()
        cert["certification_data"] = {
            "type": chain.cert_type,
            "size": chain.size,
            "certificates": [c.decode("ascii", "replace") for c in chain.pem_certificates]
            if chain.cert_type == _tq.CERT_DATA_PCK_CHAIN
            else [],
        }
        if chain.cert_type != _tq.CERT_DATA_PCK_CHAIN:
            cert["certification_data"]["data"] = chain.data.hex()
        if qe.trailing:
            cert["trailing"] = qe.trailing.hex()
    else:
        cert["data"] = sig.certification_data.data.hex()
    out: dict[str, Any] = {
        "version": q.version,
        "header": jsonable(q.header),
    }
    if q.body_type is not None:
        out["body_descriptor"] = {"type": q.body_type, "size": q.body_size}
    out["body"] = _body_json(q.body)
    out["signature_data_len"] = q.signature_data_len
    out["signature_data"] = {
        "signature": sig.signature.hex(),
        "attestation_key": sig.attestation_key.hex(),
        "certification_data": cert,
    }
    out["qe_report_binds_attestation_key"] = q.qe_report_binds_key()
    if q.trailing:
        out["trailing_bytes"] = len(q.trailing)
    return out


def _quote_text(q: _tq.Quote, verbose: bool) -> list[str]:
    data = _quote_json(q)
    chain = data["signature_data"]["certification_data"].get("certification_data")
    if chain is not None and not verbose:
        chain["certificates"] = [f"<{len(c)}-byte PEM certificate>" for c in chain["certificates"]]
    body = "TDX 1.0 (584 B)" if not q.body.is_tdx15 else "TDX 1.5 (648 B)"
    head = [f"TDX quote v{q.version}, body {body}, signature data {q.signature_data_len} bytes"]
    return head + text_lines(data, hex_limit=0 if verbose else 96)


def _tdreport_json(r: _tq.TdReport) -> dict[str, Any]:
    ti = jsonable(r.td_info)
    ti["attributes"] = f"{r.td_info.attributes:#018x}"
    ti["xfam"] = f"{r.td_info.xfam:#018x}"
    return {
        "report_mac": jsonable(r.report_mac),
        "tee_tcb_info": jsonable(r.tee_tcb_info),
        "reserved": r.reserved.hex(),
        "td_info": ti,
        "checks": {
            "report_type_is_tdx": r.is_tdx,
            "tee_tcb_info_hash_ok": r.tee_tcb_info_hash_ok,
            "tee_info_hash_ok": r.tee_info_hash_ok,
        },
    }


register(
    Inspector(
        "quote",
        "TDX quote v4/v5 (header, TD quote body, signature and certification data)",
        _detect_quote,
        _tq.Quote.parse,
        _quote_text,
        _quote_json,
    ),
    rank=10,
)
register(
    Inspector(
        "sgx-quote",
        "SGX quote v3 (header, enclave report body, signature data, QE report, PCK chain)",
        _detect_sgx_quote,
        _sq.SgxQuote.parse,
        _sgx_quote_text,
        _sgx_quote_json,
    )
)
register(
    Inspector(
        "tdreport",
        "TDREPORT_STRUCT (1024 bytes)",
        lambda data: len(data) == _tq.TDREPORT_SIZE,
        _tq.TdReport.parse,
        None,
        _tdreport_json,
    ),
    rank=70,
)
