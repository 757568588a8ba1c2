"""ACPI CCEL tables and CC event logs for ``pvmkit inspect`` (and the one-line event summary
``pvmkit tdx replay`` prints)."""

from __future__ import annotations

from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, jsonable, register
from pvmkit.errors import FormatError
from pvmkit.formats import ccel as _ccel

__all__ = ["decoded_summary"]


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


register(
    Inspector(
        "ccel-table",
        "ACPI CCEL table (CC type, log area)",
        _detect_ccel_table,
        _ccel.CcelTable.parse,
        None,
        _ccel_table_json,
    ),
    rank=20,
)
register(
    Inspector(
        "ccel-log",
        "CC event log (TCG crypto-agile, Spec ID Event03 header)",
        _detect_ccel_log,
        _ccel.EventLog.parse,
        _ccel_log_text,
        _ccel_log_json,
    ),
    rank=30,
)
