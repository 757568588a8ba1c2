"""pvmkit.formats.guid: EFI_GUID bytes ↔ canonical text, against the UEFI spec's layout and Python's
uuid module (``UUID.bytes_le``) as an independent oracle."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvmkit.errors import FormatError
from pvmkit.formats.guid import guid_bytes, guid_text

#: EFI_GLOBAL_VARIABLE, UEFI spec 2.10 §3.3:
#: {0x8BE4DF61, 0x93CA, 0x11d2, {0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C}},
#: laid out as UINT32, UINT16, UINT16 little-endian, then the 8 bytes as written.
EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_GLOBAL_VARIABLE_BYTES = bytes.fromhex("61dfe48bca93d211aa0d00e098032b8c")


def test_the_uefi_specs_global_variable_guid() -> None:
    assert guid_bytes(EFI_GLOBAL_VARIABLE) == EFI_GLOBAL_VARIABLE_BYTES
    assert guid_bytes(EFI_GLOBAL_VARIABLE.upper()) == EFI_GLOBAL_VARIABLE_BYTES
    assert guid_text(EFI_GLOBAL_VARIABLE_BYTES) == EFI_GLOBAL_VARIABLE
    assert guid_text(memoryview(bytearray(EFI_GLOBAL_VARIABLE_BYTES))) == EFI_GLOBAL_VARIABLE


@given(st.binary(min_size=16, max_size=16))
def test_agrees_with_uuid_bytes_le(raw: bytes) -> None:
    text = str(uuid.UUID(bytes_le=raw))
    assert guid_text(raw) == text and guid_bytes(text) == raw


@pytest.mark.parametrize(
    "text",
    ["", "8be4df61", "8be4df6193ca11d2aa0d00e098032b8c", "{8be4df61-93ca-11d2-aa0d-00e098032b8c}",
     "8be4df61-93ca-11d2-aa0d-00e098032b8", "zbe4df61-93ca-11d2-aa0d-00e098032b8c",
     "8be4df61-93ca-11d2-aa0d-00e0 8032b8c"],
)  # fmt: skip
def test_malformed_text_is_a_format_error(text: str) -> None:
    with pytest.raises(FormatError, match="not a GUID") as info:
        guid_bytes(text)
    assert info.value.what == "GUID"


@pytest.mark.parametrize("size", [0, 15, 17])
def test_wrong_length_bytes_are_a_format_error(size: int) -> None:
    with pytest.raises(FormatError, match="a GUID is 16 bytes"):
        guid_text(bytes(size))
