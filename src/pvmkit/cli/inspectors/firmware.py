"""Firmware images for ``pvmkit inspect``: the OVMF footer GUID table and SEV metadata (``ovmf``), the
TDVF metadata of a TDX image (``tdvf``)."""

from __future__ import annotations

from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, jsonable, register
from pvmkit.errors import FormatError
from pvmkit.formats.ovmf import parse_ovmf
from pvmkit.formats.tdvf import has_tdvf_metadata, parse_tdvf

__all__: list[str] = []


def _parse_ovmf_image(data: bytes) -> Any:
    """``parse_ovmf``, refusing what has no footer GUID table at all (``parse_ovmf`` gives an empty
    table then, which ``--type ovmf`` would print as a success)."""
    parsed = parse_ovmf(data)
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
    try:
        parsed = parse_ovmf(data)
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


register(
    Inspector(
        "ovmf",
        "OVMF footer GUID table and SEV metadata",
        _detect_ovmf,
        _parse_ovmf_image,
        None,
        _ovmf_json,
    ),
    rank=80,
)
register(
    Inspector(
        "tdvf",
        "TDVF metadata of a TDX firmware image (sections in launch order)",
        has_tdvf_metadata,
        parse_tdvf,
        _tdvf_text,
        _tdvf_json,
    ),
    rank=90,
)
