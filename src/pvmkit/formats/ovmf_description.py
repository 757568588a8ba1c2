"""An OVMF firmware *description*: what an SNP launch needs of the image, without the image.

Release pipelines publish digests, not firmware files. An SNP (or sw) launch digest depends on the
firmware only through (amd.md §4): the launch digest after the firmware pages (the *hash seed*, what
sev-snp-measure calls the OVMF hash), the image size, the SEV metadata sections (GPA, size, type, in
table order), the SEV-ES reset EIP and the footer-table entries (hashes table, secret area). That is
the ``ovmf`` object ``pvmkit inspect --json`` prints for an OVMF image (docs/cli.md), with
``snp_hash_seed``; :func:`read_description` reads it back (either the whole ``pvmkit.inspect/1``
document or its ``ovmf`` object) as an :class:`~pvmkit.formats.ovmf.Ovmf` without image bytes plus
the seed.

The description is checked against itself: the reset EIP, hashes table, secret area and SVSM entry
must be what the footer-table entries it lists say, and the SEV metadata must be listed exactly when
the table has its entry; a contradiction is a :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

from typing import Any

from pvmkit.errors import FormatError
from pvmkit.formats.ovmf import (
    HASHES_TABLE_GUID,
    METADATA_GUID,
    RESET_BLOCK_GUID,
    SECRET_AREA_GUID,
    SVSM_INFO_GUID,
    MetadataSection,
    Ovmf,
    TableEntry,
)

__all__ = ["AbsentImage", "read_description"]

_PAGE = 4096


class AbsentImage:
    """Stands for firmware bytes that were described, not given: it has a length, and reading it is an
    error (a measurement that needs the bytes must not run on a description)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: object) -> bytes:
        raise FormatError(
            "the firmware is given as a description: this needs the image itself", what="firmware description"
        )


def _int(doc: dict[str, Any], key: str, what: str, *, optional: bool = False) -> int | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"{what}: {key} must be a non-negative integer, got {value!r}", what=what)
    return value


def _pair(doc: dict[str, Any], key: str, what: str) -> tuple[int, int] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int and v >= 0 for v in value)):
        raise FormatError(f"{what}: {key} must be [gpa, size], got {value!r}", what=what)
    return value[0], value[1]


def _u32s(entry: TableEntry, count: int, what: str) -> tuple[int, ...]:
    if len(entry.data) < 4 * count:
        raise FormatError(f"{what}: footer entry {entry.guid} holds {len(entry.data)} bytes", what=what)
    return tuple(int.from_bytes(entry.data[4 * i : 4 * i + 4], "little") for i in range(count))


def read_description(doc: object, what: str = "firmware description") -> tuple[Ovmf, bytes]:
    """(firmware without image bytes, 48-byte SNP hash seed) from a decoded description."""
    if isinstance(doc, dict) and doc.get("schema") == "pvmkit.inspect/1":
        value = doc.get("value")
        doc = value.get("ovmf", value) if isinstance(value, dict) and doc.get("type") != "ovmf" else value
    if not isinstance(doc, dict):
        raise FormatError(
            f"{what}: not an OVMF description (pvmkit inspect --json of an OVMF image)", what=what
        )
    seed_text = doc.get("snp_hash_seed")
    try:
        seed = bytes.fromhex(seed_text) if isinstance(seed_text, str) else b""
    except ValueError:
        seed = b""
    if len(seed) != 48:
        raise FormatError(
            f"{what}: snp_hash_seed must be 96 hex digits (the SNP digest after the firmware)", what=what
        )
    size = _int(doc, "size", what)
    assert size is not None
    if size == 0 or size % _PAGE:
        raise FormatError(f"{what}: size {size:#x} is not a positive multiple of 4 KiB", what=what)
    raw_table = doc.get("footer_table")
    if not isinstance(raw_table, dict):
        raise FormatError(f"{what}: footer_table must be an object of GUID → {{offset, data}}", what=what)
    table: dict[str, TableEntry] = {}
    for guid, entry in raw_table.items():
        try:
            table[guid] = TableEntry(guid, bytes.fromhex(entry["data"]), int(entry["offset"]))
        except (TypeError, KeyError, ValueError):
            raise FormatError(
                f"{what}: footer_table entry {guid} needs offset and hex data", what=what
            ) from None
    sections = []
    for i, s in enumerate(doc.get("sections") or []):
        if not isinstance(s, dict):
            raise FormatError(f"{what}: section {i} is not an object", what=what)
        gpa, length, kind = (_int(s, k, f"{what} section {i}") for k in ("gpa", "size", "type"))
        assert gpa is not None and length is not None and kind is not None
        sections.append(MetadataSection(gpa, length, kind))
    firmware = Ovmf(
        AbsentImage(size),  # type: ignore[arg-type]
        table,
        legacy_table=bool(doc.get("legacy_table", False)),
        reset_eip=_int(doc, "reset_eip", what, optional=True),
        sections=tuple(sections),
        metadata_offset=_int(doc, "metadata_offset", what, optional=True),
        hashes_table=_pair(doc, "hashes_table", what),
        secret_area=_pair(doc, "secret_area", what),
        svsm_info_offset=_int(doc, "svsm_info_offset", what, optional=True),
    )
    _check(firmware, what)
    return firmware, seed


def _check(fw: Ovmf, what: str) -> None:
    """The description's derived fields must be what its own footer table says."""
    t = fw.table
    derived: list[tuple[str, object, object]] = [
        (
            "reset_eip",
            fw.reset_eip,
            _u32s(t[RESET_BLOCK_GUID], 1, what)[0] if RESET_BLOCK_GUID in t else None,
        ),
        (
            "hashes_table",
            fw.hashes_table,
            _u32s(t[HASHES_TABLE_GUID], 2, what) if HASHES_TABLE_GUID in t else None,
        ),
        (
            "secret_area",
            fw.secret_area,
            _u32s(t[SECRET_AREA_GUID], 2, what) if SECRET_AREA_GUID in t else None,
        ),
        (
            "svsm_info_offset",
            fw.svsm_info_offset,
            _u32s(t[SVSM_INFO_GUID], 1, what)[0] if SVSM_INFO_GUID in t else None,
        ),
    ]
    for name, given, from_table in derived:
        if given != from_table:
            raise FormatError(
                f"{what} contradicts itself: {name} is {given!r} but its footer table says {from_table!r}",
                what=what,
            )
    if (METADATA_GUID in t) != (fw.metadata_offset is not None) or (
        fw.metadata_offset is None and fw.sections
    ):
        raise FormatError(
            f"{what} contradicts itself: SEV metadata sections must be listed exactly when the footer "
            "table has the SEV metadata entry",
            what=what,
        )
    for s in fw.sections:
        if s.size == 0 or s.size % _PAGE or s.gpa % _PAGE:
            raise FormatError(
                f"{what}: SEV metadata section {s.gpa:#x}+{s.size:#x} is not page-aligned", what=what
            )
