"""The SEV-SNP certificate table of an extended guest report (GHCB ``SNP_GET_EXT_REPORT``; Linux
``/dev/sev-guest`` ``SNP_GET_EXT_REPORT``, configfs-tsm ``auxblob``).

The host hands the guest its VCEK (or VLEK), ASK and ARK with the report, as a table of entries
``{u8 guid[16]; u32 offset; u32 length}`` terminated by an all-zero entry, each offset pointing at the
certificate's DER bytes from the start of the table. GUIDs are stored in RFC 4122 byte order (as
``uuid_parse`` and the virtee ``sev`` crate write them):

============  ======================================
certificate   GUID
============  ======================================
VCEK          ``63da758d-e664-4564-adc5-f4b93be8accd``
VLEK          ``a8074bc2-a25a-483e-aae6-39c045a0b8a1``
ASK           ``4ab7b379-bbac-4fe4-a02f-05aef327c782``
ARK           ``c0b406a4-a803-4952-9743-3fb6014cd0ae``
============  ======================================

Entries with other GUIDs (a CRL, vendor data) are kept under their GUID text.
"""

from __future__ import annotations

import struct
import uuid

from pvmkit.errors import FormatError, TruncatedError

__all__ = ["CERT_GUIDS", "build_cert_table", "parse_cert_table"]

#: certificate name → GUID text
CERT_GUIDS = {
    "vcek": "63da758d-e664-4564-adc5-f4b93be8accd",
    "vlek": "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
    "ask": "4ab7b379-bbac-4fe4-a02f-05aef327c782",
    "ark": "c0b406a4-a803-4952-9743-3fb6014cd0ae",
}
_NAMES = {guid: name for name, guid in CERT_GUIDS.items()}
_ENTRY = struct.Struct("<16sII")


def parse_cert_table(data: bytes | bytearray | memoryview) -> dict[str, bytes]:
    """``{name or GUID text: certificate bytes}`` from a certificate table (FormatError with the
    offset when an entry is cut off, points outside the buffer, or a GUID repeats)."""
    raw = bytes(data)
    out: dict[str, bytes] = {}
    pos = total = 0
    while True:
        if pos + _ENTRY.size > len(raw):
            raise TruncatedError(
                "certificate table has no all-zero terminator", what="cert table", offset=pos
            )
        guid, offset, length = _ENTRY.unpack_from(raw, pos)
        if guid == bytes(16) and offset == 0 and length == 0:
            break
        text = str(uuid.UUID(bytes=guid))
        if offset + length > len(raw) or length == 0:
            raise FormatError(
                f"certificate {text} at {offset:#x}+{length:#x} is not inside the {len(raw)}-byte table",
                what="cert table",
                offset=pos,
            )
        name = _NAMES.get(text, text)
        if name in out:
            raise FormatError(f"certificate table lists {name} twice", what="cert table", offset=pos)
        total += length
        if total > len(raw):
            # certificates that overlap (each entry may point anywhere in the table): without this,
            # thousands of entries naming the whole table would copy it thousands of times
            raise FormatError(
                f"the certificates listed up to {text} add up to {total} bytes, more than the "
                f"{len(raw)}-byte table holds (entries overlap)",
                what="cert table",
                offset=pos,
            )
        out[name] = raw[offset : offset + length]
        pos += _ENTRY.size
    if not out:
        raise FormatError("certificate table is empty", what="cert table", offset=0)
    return out


def build_cert_table(certificates: dict[str, bytes]) -> bytes:
    """A certificate table for ``{name or GUID text: DER bytes}``, the certificates after the entries
    in the order given: the blob a host hands a guest with its extended report."""
    entries, blobs = [], b""
    start = _ENTRY.size * (len(certificates) + 1)
    for name, der in certificates.items():
        guid = uuid.UUID(CERT_GUIDS.get(name, name)).bytes
        entries.append(_ENTRY.pack(guid, start + len(blobs), len(der)))
        blobs += der
    return b"".join(entries) + bytes(_ENTRY.size) + blobs
