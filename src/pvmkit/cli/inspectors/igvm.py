"""IGVM files for ``pvmkit inspect``."""

from __future__ import annotations

import hashlib
from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, jsonable, register
from pvmkit.formats import igvm as _igvm

__all__: list[str] = []

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


register(
    Inspector(
        "igvm",
        "IGVM file (platforms, policies, directives; file data not shown)",
        lambda data: data[:4] == b"IGVM",
        _igvm.parse_igvm,
        None,
        lambda obj: _igvm_json(obj),
    ),
    rank=40,
)
