"""``pvmkit inspect FILE [--type T] [--json] [--verbose]``: pretty-print a supported structure.

The command is a small registry of :class:`Inspector` entries (type name, detector, parser, renderer).
``--type auto`` (the default) asks each detector in registry order and uses the first that claims the
file; detectors look only at size and magic, the parser then validates. Built in: ``quote`` (TDX quote
v4/v5), ``tdreport``, ``ccel-table``, ``ccel-log``, ``igvm``, plus, when their modules are present,
``snp-report`` (``pvmkit.attest.snp_report``), ``tdvf`` (``pvmkit.formats.tdvf``) and ``ovmf``
(``pvmkit.formats.ovmf``).

**Adding a structure** (the plug-in point): define ``detect(data) -> bool``, ``parse(data) -> obj``
and optionally ``render(obj, verbose) -> list[str]`` and ``to_json(obj) -> JSON``, then call
:func:`register` at import time of this module (see :func:`_register_optional`). Without ``render``
and ``to_json`` the generic renderers walk dataclasses: bytes print as hex, ints ≥ 10 as hex in text.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pvmkit.cli._common import MAX_IMAGE, Parser, print_json, read_file
from pvmkit.errors import FormatError, InputError
from pvmkit.formats import ccel as _ccel
from pvmkit.formats import igvm as _igvm
from pvmkit.formats import tdx_quote as _tq

__all__ = ["INSPECTORS", "Inspector", "detect", "jsonable", "main", "register", "text_lines"]


# --------------------------------------------------------------------------------------------------
# generic rendering


def jsonable(obj: Any) -> Any:
    """Dataclasses → dicts (public fields; ``to_dict()`` where a class has one), bytes → hex, enums →
    names, tuples → lists."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "-"
    if isinstance(value, int):
        return f"{value:#x}" if value >= 10 else str(value)
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + f"… ({len(value)} chars)"
    return str(value)


def text_lines(data: Any, indent: int = 0, hex_limit: int = 0) -> list[str]:
    """An indented ``key: value`` tree of JSON-like ``data``; hex strings longer than ``hex_limit``
    characters (0 = no limit) are shortened."""
    pad = "  " * indent
    out: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                out.append(f"{pad}{key}:")
                out += text_lines(value, indent + 1, hex_limit)
            else:
                out.append(f"{pad}{key}: {_short(value, hex_limit)}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, (dict, list)) and value:
                out.append(f"{pad}[{i}]")
                out += text_lines(value, indent + 1, hex_limit)
            else:
                out.append(f"{pad}[{i}] {_short(value, hex_limit)}")
    else:
        out.append(pad + _short(data, hex_limit))
    return out


def _short(value: Any, hex_limit: int) -> str:
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, str) and hex_limit and len(value) > hex_limit and _is_hex(value):
        return f"{value[:hex_limit]}… ({len(value) // 2} bytes)"
    return _scalar(value)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


# --------------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Inspector:
    name: str
    description: str
    detect: Callable[[bytes], bool]
    parse: Callable[[bytes], Any]
    render: Callable[[Any, bool], list[str]] | None = None
    to_json: Callable[[Any], Any] | None = None

    def json_of(self, obj: Any) -> Any:
        return self.to_json(obj) if self.to_json is not None else jsonable(obj)

    def text_of(self, obj: Any, verbose: bool) -> list[str]:
        if self.render is not None:
            return self.render(obj, verbose)
        return text_lines(self.json_of(obj), hex_limit=0 if verbose else 96)


#: type name → inspector, in auto-detection order
INSPECTORS: dict[str, Inspector] = {}


def register(inspector: Inspector, *, before: str | None = None) -> None:
    """Add (or replace) an inspector; ``before`` puts it ahead of another in detection order."""
    items = [(k, v) for k, v in INSPECTORS.items() if k != inspector.name]
    pos = next((i for i, (k, _) in enumerate(items) if k == before), len(items))
    items.insert(pos, (inspector.name, inspector))
    INSPECTORS.clear()
    INSPECTORS.update(items)


def detect(data: bytes) -> Inspector | None:
    """The first inspector (in registration order) whose detector claims ``data``; a detector that
    raises is treated as "no" so that it cannot break detection for the others."""
    for inspector in INSPECTORS.values():
        if _claims(inspector, data):
            return inspector
    return None


# --------------------------------------------------------------------------------------------------
# TDX quote and TDREPORT


def _detect_quote(data: bytes) -> bool:
    return (
        len(data) >= 48
        and int.from_bytes(data[0:2], "little") in (4, 5)
        and int.from_bytes(data[4:8], "little") == _tq.TDX_TEE_TYPE
    )


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


# --------------------------------------------------------------------------------------------------
# CCEL


def _detect_ccel_table(data: bytes) -> bool:
    return data[:4] == _ccel.CCEL_SIGNATURE


def _detect_ccel_log(data: bytes) -> bool:
    return data[4:8] == b"\x03\x00\x00\x00" and data[32:48] == _ccel.SPEC_ID_SIGNATURE


def _ccel_table_json(t: _ccel.CcelTable) -> dict[str, Any]:
    h = t.header
    return {
        "signature": h.signature.decode("ascii", "replace"),
        "length": h.length,
        "revision": h.revision,
        "checksum": h.checksum,
        "checksum_ok": t.checksum_ok,
        "oem_id": h.oem_id.decode("ascii", "replace"),
        "oem_table_id": h.oem_table_id.decode("ascii", "replace"),
        "oem_revision": h.oem_revision,
        "creator_id": h.creator_id.decode("ascii", "replace"),
        "creator_revision": h.creator_revision,
        "cc_type": t.cc_type,
        "cc_type_name": t.cc_type_name,
        "cc_subtype": t.cc_subtype,
        "laml": t.laml,
        "lasa": t.lasa,
    }


def decoded_summary(event: _ccel.CcEvent) -> str:
    """One line describing an event's data (for tables)."""
    try:
        d = event.decode()
    except FormatError as exc:
        return f"<malformed: {exc}>"
    if isinstance(d, _ccel.UefiVariableData):
        return f"{d.name} ({d.vendor_guid}), {len(d.data)} bytes"
    if isinstance(d, _ccel.TaggedEvent):
        return f"tag {d.tag_id:#x}: {d.text}"
    if isinstance(d, _ccel.HandoffTablePointers):
        tables = ", ".join(f"{t.vendor_guid}@{t.vendor_table:#x}" for t in d.tables)
        return f"{d.description_text or ''} [{tables}]".strip()
    if isinstance(d, _ccel.PlatformFirmwareBlob):
        return f"{d.description_text or 'blob'} base {d.base:#x} length {d.length:#x}"
    if isinstance(d, _ccel.ImageLoadEvent):
        return f"image @{d.image_location:#x} length {d.image_length:#x}"
    if isinstance(d, _ccel.GptEvent):
        return f"GPT disk {d.disk_guid}, {len(d.partitions)} partitions"
    if isinstance(d, str):
        text = d.replace("\n", "\\n")
        return text if len(text) <= 80 else text[:80] + "…"
    if isinstance(d, int):
        return f"{d:#x}"
    return f"{len(d)} bytes" if d else ""


def _event_json(e: _ccel.CcEvent) -> dict[str, Any]:
    try:
        decoded: Any = jsonable(e.decode())
    except FormatError as exc:
        decoded = {"error": str(exc)}
    return {
        "index": e.index,
        "offset": e.offset,
        "mr_index": e.mr_index,
        "rtmr": e.rtmr,
        "event_type": e.event_type,
        "type_name": e.type_name,
        "digests": [{"alg": d.alg, "digest": d.digest.hex()} for d in e.digests],
        "event_data": e.event_data.hex(),
        "decoded": decoded,
    }


def _ccel_log_json(log: _ccel.EventLog) -> dict[str, Any]:
    spec = log.spec_id
    fill = set(log.trailing)
    return {
        "spec_id": {
            "signature": spec.signature.rstrip(b"\x00").decode("ascii", "replace"),
            "platform_class": spec.platform_class,
            "spec_version": f"{spec.spec_version_major}.{spec.spec_version_minor}",
            "spec_errata": spec.spec_errata,
            "uintn_size": spec.uintn_size,
            "algorithms": [
                {"alg": a.name, "alg_id": a.alg_id, "digest_size": a.digest_size} for a in spec.algorithms
            ],
            "vendor_info": spec.vendor_info.hex(),
        },
        "event_count": len(log.events),
        "end_offset": log.end_offset,
        "trailing": {
            "bytes": len(log.trailing),
            "fill": "0xff" if fill == {0xFF} else "0x00" if fill == {0} else "mixed" if fill else "none",
        },
        "events": [_event_json(e) for e in log.events],
    }


def _ccel_log_text(log: _ccel.EventLog, verbose: bool) -> list[str]:
    spec = log.spec_id
    algs = ", ".join(f"{a.name} ({a.digest_size} B)" for a in spec.algorithms)
    out = [
        f"CC event log: {len(log.events)} events + Spec ID header, {log.end_offset} bytes used, "
        f"{len(log.trailing)} bytes of fill",
        f"spec ID: {spec.signature.rstrip(bytes(1)).decode('ascii', 'replace')}, "
        f"version {spec.spec_version_major}.{spec.spec_version_minor} errata {spec.spec_errata}, "
        f"uintn size {spec.uintn_size}, algorithms: {algs}",
        "",
        f"{'#':>3}  {'offset':>7}  MR  {'type':<34} {'sha384':<18} data",
    ]
    for e in log.events:
        d = e.digest()
        dg = "-" if d is None else (d.hex() if verbose else d.hex()[:16] + "…")
        out.append(
            f"{e.index:>3}  {e.offset:#7x}  {e.mr_index:>2}  {e.type_name:<34} {dg:<18} {decoded_summary(e)}"
        )
    return out


_IGVM_KINDS = {
    _igvm.PageData: "page_data",
    _igvm.ParameterArea: "parameter_area",
    _igvm.ParameterInsert: "parameter_insert",
    _igvm.VpContext: "vp_context",
    _igvm.IgvmHeader: "header",
}


def _igvm_json(igvm: _igvm.Igvm) -> dict[str, Any]:
    """Platforms by name, and each directive with its kind; page contents as SHA-256 (or "zero")."""
    directives = []
    for d in igvm.directives:
        item: dict[str, Any] = {"kind": _IGVM_KINDS[type(d)], **jsonable(d)}
        if isinstance(d, _igvm.IgvmHeader):
            item = {"kind": "header", "type": f"{d.type:#x}", "offset": d.offset, "body": d.body.hex()}
        elif isinstance(d, _igvm.PageData | _igvm.VpContext):
            item["data_sha256"] = "zero" if d.data is None else hashlib.sha256(d.data).hexdigest()
        directives.append(item)
    return {
        "version": igvm.version,
        "architecture": "aarch64" if igvm.architecture == 1 else "x64",
        "platforms": [
            {**jsonable(p), "platform": _igvm.Platform.NAMES.get(p.platform_type, "unknown")}
            for p in igvm.platforms
        ],
        "policies": [
            {"compatibility_mask": mask, "policy": f"{policy:#x}"} for mask, policy in igvm.policies
        ],
        "directives": directives,
        "initialization_headers": [{"type": f"{h.type:#x}", "body": h.body.hex()} for h in igvm.others],
    }


# --------------------------------------------------------------------------------------------------
# built-in registrations

register(
    Inspector(
        "quote",
        "TDX quote v4/v5 (header, TD quote body, signature and certification data)",
        _detect_quote,
        _tq.Quote.parse,
        _quote_text,
        _quote_json,
    )
)
register(
    Inspector(
        "ccel-table",
        "ACPI CCEL table (CC type, log area)",
        _detect_ccel_table,
        _ccel.CcelTable.parse,
        None,
        _ccel_table_json,
    )
)
register(
    Inspector(
        "ccel-log",
        "CC event log (TCG crypto-agile, Spec ID Event03 header)",
        _detect_ccel_log,
        _ccel.EventLog.parse,
        _ccel_log_text,
        _ccel_log_json,
    )
)
register(
    Inspector(
        "igvm",
        "IGVM file (platforms, policies, directives; file data not shown)",
        lambda data: data[:4] == b"IGVM",
        _igvm.parse_igvm,
        None,
        lambda obj: _igvm_json(obj),
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
    )
)


def _cca_token(data: bytes) -> Any:
    from pvmkit.formats.cca_token import parse_token

    return parse_token(data)


def _cca_token_json(token: Any) -> dict[str, Any]:
    return {
        "generation": token.generation,
        "collection_tag": token.tag,
        "platform": {"alg": token.platform.alg_name, "claims": token.platform_claims.to_json()},
        "realm": {"alg": token.realm.alg_name, "claims": token.realm_claims.to_json()},
        "warnings": list(token.warnings),
    }


register(
    Inspector(
        "cca-token",
        "Arm CCA attestation token (platform and realm claims; signatures not verified)",
        # tag 399 (d9 01 8f) or 907 (d9 03 8b) around a 2-entry map (draft-ffm-rats-cca-token)
        lambda data: data[:4] in (b"\xd9\x01\x8f\xa2", b"\xd9\x03\x8b\xa2"),
        _cca_token,
        None,
        _cca_token_json,
    ),
    before="tdreport",
)


def _register_optional() -> None:
    """Structures written in other modules, registered only when those modules exist.

    PLUG-IN POINT: add further structures here (detector + parser + optional renderers).
    """
    if importlib.util.find_spec("pvmkit.attest.snp_report") is not None:
        mod = importlib.import_module("pvmkit.attest.snp_report")
        parse = _find_callable(mod, ("parse_report", "parse_snp_report", "parse"))
        if parse is None:
            cls = next(
                (getattr(mod, n) for n in ("SnpReport", "AttestationReport", "Report") if hasattr(mod, n)),
                None,
            )
            parse = getattr(cls, "parse", None) or getattr(cls, "from_bytes", None)
        if parse is not None:
            register(
                Inspector(
                    "snp-report",
                    "SEV-SNP attestation report (1184 bytes)",
                    lambda data: len(data) == 1184 and int.from_bytes(data[0:4], "little") in (2, 3, 4, 5),
                    parse,
                ),
                before="tdreport",
            )
    if importlib.util.find_spec("pvmkit.formats.tdvf") is not None:
        tdvf = importlib.import_module("pvmkit.formats.tdvf")
        register(
            Inspector(
                "tdvf",
                "TDVF metadata of a TDX firmware image (sections in launch order)",
                tdvf.has_tdvf_metadata,
                tdvf.parse_tdvf,
                _tdvf_text,
                _tdvf_json,
            )
        )
    if importlib.util.find_spec("pvmkit.formats.ovmf") is not None:
        register(
            Inspector(
                "ovmf",
                "OVMF footer GUID table and SEV metadata",
                _detect_ovmf,
                _parse_ovmf_image,
                None,
                _ovmf_json,
            ),
            before="tdvf",
        )


def _find_callable(mod: Any, names: Sequence[str]) -> Callable[[bytes], Any] | None:
    for n in names:
        f = getattr(mod, n, None)
        if callable(f):
            return f  # type: ignore[no-any-return]
    return None


def _parse_ovmf_image(data: bytes) -> Any:
    """``parse_ovmf``, refusing what has no footer GUID table at all (``parse_ovmf`` gives an empty
    table then, which ``--type ovmf`` would print as a success)."""
    ovmf = importlib.import_module("pvmkit.formats.ovmf")
    parsed = ovmf.parse_ovmf(data)
    if not parsed.table:
        raise FormatError(
            f"not an OVMF image: no footer GUID table before the reset vector ({len(data)} bytes)",
            what="OVMF footer table",
            offset=max(len(data) - 0x20, 0),
        )
    return parsed


def _detect_ovmf(data: bytes) -> bool:
    """An OVMF image whose footer table has SEV metadata (images with only TDVF metadata go to
    ``tdvf``; the AMD image has both and shows as ``ovmf``: use ``--type tdvf`` for its TDX part)."""
    if len(data) < 0x1000:
        return False
    ovmf = importlib.import_module("pvmkit.formats.ovmf")
    try:
        parsed = ovmf.parse_ovmf(data)
    except FormatError:
        return False
    return bool(parsed.has_metadata)


def _tdvf_json(meta: Any) -> dict[str, Any]:
    return {
        "offset": meta.offset,
        "length": meta.length,
        "version": meta.version,
        "location": jsonable(meta.location),
        "image_size": meta.image_size,
        "sections": [s.as_dict() for s in meta.sections],
    }


def _tdvf_text(meta: Any, verbose: bool) -> list[str]:
    out = [
        f"TDVF descriptor at {meta.offset:#x} ({meta.location.value} layout), length {meta.length}, "
        f"version {meta.version}, {len(meta.sections)} sections in launch order:",
        f"{'#':>2}  {'type':<9} {'data offset':>11} {'raw size':>10} {'GPA':>12} {'mem size':>10}"
        "  attributes",
    ]
    for s in meta.sections:
        flags = [n for n, on in (("MR.EXTEND", s.mr_extend), ("PAGE.AUG", s.page_aug)) if on]
        out.append(
            f"{s.index:>2}  {s.type_name:<9} {s.data_offset:>#11x} {s.raw_data_size:>#10x} "
            f"{s.memory_address:>#12x} {s.memory_data_size:>#10x}  {s.attributes:#x} "
            f"{' '.join(flags)}".rstrip()
        )
    return out


def _ovmf_json(fw: Any) -> dict[str, Any]:
    """The image's SEV facts; with ``snp_hash_seed`` (the SNP launch digest after the firmware pages)
    this is the firmware description ``--ovmf-description`` reads (pvmkit.formats.ovmf_description)."""
    from pvmkit.vendors.amd.builder import snp_firmware_digest

    return {
        "size": fw.size,
        "footer_table": {guid: {"offset": e.offset, "data": e.data.hex()} for guid, e in fw.table.items()},
        "legacy_table": fw.legacy_table,
        "reset_eip": fw.reset_eip,
        "metadata_offset": fw.metadata_offset,
        "sections": [
            {"gpa": s.gpa, "size": s.size, "type": s.type, "type_name": s.type_name} for s in fw.sections
        ],
        "hashes_table": list(fw.hashes_table) if fw.hashes_table else None,
        "secret_area": list(fw.secret_area) if fw.secret_area else None,
        "svsm_info_offset": fw.svsm_info_offset,
        "snp_hash_seed": snp_firmware_digest(fw).hex(),
    }


_register_optional()

FIRMWARE_TYPES = ("ovmf", "tdvf")
KNOWN_TYPES = (
    "quote",
    "tdreport",
    "ccel-table",
    "ccel-log",
    "igvm",
    "cca-token",
    "snp-report",
    "tdvf",
    "ovmf",
)


# --------------------------------------------------------------------------------------------------
# command


def main(argv: list[str]) -> int:
    parser = Parser("inspect", "Pretty-print a firmware image, report, quote or CC event log.")
    parser.add_argument("file", help="input file")
    parser.add_argument(
        "--type",
        default="auto",
        choices=("auto", *KNOWN_TYPES),
        help="structure type (default: detect from size and magic)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (see docs/cli.md)")
    parser.add_argument("--verbose", "-v", action="store_true", help="full hex values and certificates")
    args = parser.parse_args(argv)
    data = read_file(args.file, "an input to inspect", MAX_IMAGE)
    if args.type == "auto":
        inspector = detect(data)
        if inspector is None:
            raise InputError(
                f"{args.file}: not a structure pvmkit recognises ({len(data)} bytes); "
                f"pass --type ({', '.join(INSPECTORS)})"
            )
    else:
        found = INSPECTORS.get(args.type)
        if found is None:
            raise InputError(f"--type {args.type}: the module for this structure is not available")
        inspector = found
    chosen = [inspector]
    if args.type == "auto" and inspector.name in FIRMWARE_TYPES:
        # a firmware image can carry both SEV metadata and TDVF metadata: show every part found
        chosen = [i for n, i in INSPECTORS.items() if n in FIRMWARE_TYPES and _claims(i, data)]
    parsed = [(i, i.parse(data)) for i in chosen]
    if args.json:
        if len(parsed) == 1:
            print_json(
                {
                    "schema": "pvmkit.inspect/1",
                    "type": inspector.name,
                    "file": args.file,
                    "value": inspector.json_of(parsed[0][1]),
                }
            )
        else:
            print_json(
                {
                    "schema": "pvmkit.inspect/1",
                    "type": "+".join(i.name for i, _ in parsed),
                    "file": args.file,
                    "value": {i.name: i.json_of(obj) for i, obj in parsed},
                }
            )
        return 0
    for n, (i, obj) in enumerate(parsed):
        if n:
            print()
        print(f"{args.file}: {i.description} [{i.name}]")
        for line in i.text_of(obj, args.verbose):
            print(line)
    return 0


def _claims(inspector: Inspector, data: bytes) -> bool:
    try:
        return bool(inspector.detect(data))
    except Exception:
        return False
