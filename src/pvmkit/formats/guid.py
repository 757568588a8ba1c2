"""EFI GUIDs as firmware stores them: canonical text ↔ the 16-byte ``EFI_GUID`` (UEFI spec 2.10,
appendix A "GUID and Time Formats": ``{UINT32 Data1; UINT16 Data2; UINT16 Data3; UINT8 Data4[8]}``
in little-endian memory, so the first three groups are byte-swapped; Python's ``uuid.UUID.bytes_le``).

Kept free of :mod:`uuid` (start-up cost: OVMF footer GUIDs are on the cold path of ``pvmkit measure``).
Malformed input raises :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

from pvmkit.errors import FormatError

__all__ = ["guid_bytes", "guid_text"]


def _swap(raw: bytes | bytearray | memoryview) -> bytes:
    """Between canonical (big-endian) order and EFI_GUID order: the same swap both ways."""
    return bytes(raw[3::-1]) + bytes(raw[5:3:-1]) + bytes(raw[7:5:-1]) + bytes(raw[8:16])


def guid_bytes(text: str) -> bytes:
    """Canonical GUID text (``8be4df61-93ca-11d2-aa0d-00e098032b8c``, any case) → its 16 EFI_GUID bytes."""
    groups = text.split("-")
    if [len(g) for g in groups] != [8, 4, 4, 4, 12]:
        raise FormatError(f"not a GUID: {text!r} (want 8-4-4-4-12 hex digits)", what="GUID")
    try:
        raw = bytes.fromhex("".join(groups))
    except ValueError:
        raise FormatError(f"not a GUID: {text!r} (not hex)", what="GUID") from None
    return _swap(raw)


def guid_text(data: bytes | bytearray | memoryview) -> str:
    """16 EFI_GUID bytes → canonical lower-case GUID text."""
    if len(data) != 16:
        raise FormatError(f"a GUID is 16 bytes, got {len(data)}", what="GUID")
    h = _swap(data).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
