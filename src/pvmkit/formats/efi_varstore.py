"""edk2 variable stores (the OVMF CFV / NvVars firmware volume) and the UEFI structures measured from them.

Bytes in, typed data out:

* :func:`parse_varstore` reads a firmware volume (``EFI_FIRMWARE_VOLUME_HEADER``, ``_FVH``) holding a
  ``VARIABLE_STORE_HEADER`` in the authenticated (``aaf32c78-…``) or plain (``ddcf3616-…``) format and
  returns the live variables (state ``VAR_ADDED``, or ``VAR_ADDED`` while a newer copy is being
  written); the last live copy of a name wins, as in edk2's variable driver.
* :func:`uefi_variable_data` builds ``UEFI_VARIABLE_DATA`` (TCG PC Client PFP), the event data of
  ``EV_EFI_VARIABLE_*`` events.
* :func:`parse_signature_lists` splits an ``EFI_SIGNATURE_LIST`` sequence (``db``, ``dbx``, …).
* :func:`fv_name_guid` is the FV's ``FvName`` from its extended header (None if it has none).

All errors are :class:`~pvmkit.errors.FormatError` / :class:`~pvmkit.errors.TruncatedError` with the
offset of the problem.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.errors import FormatError, TruncatedError
from pvmkit.formats.guid import guid_bytes, guid_text

__all__ = [
    "AUTHENTICATED_VARIABLE_GUID",
    "EFI_GLOBAL_VARIABLE_GUID",
    "EFI_IMAGE_SECURITY_DATABASE_GUID",
    "VARIABLE_GUID",
    "SignatureData",
    "SignatureList",
    "Variable",
    "VariableStore",
    "fv_name_guid",
    "parse_signature_lists",
    "parse_varstore",
    "uefi_variable_data",
]

EFI_GLOBAL_VARIABLE_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE_GUID = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
AUTHENTICATED_VARIABLE_GUID = "aaf32c78-947b-439a-a180-2e144ec37792"
VARIABLE_GUID = "ddcf3616-3275-4164-98b6-fe85707ffe7d"

_FV_HEADER = struct.Struct(
    "<16s16sQ4sIHHHxB"
)  # zero vector, FS GUID, length, sig, attr, hdrlen, csum, ext, rev
_STORE_HEADER = struct.Struct("<16sIBBHI")  # GUID, size, format, state, reserved, reserved1
_AUTH_VAR = struct.Struct(
    "<HBxIQ16sIII16s"
)  # start id, state, attributes, count, time, pubkey, name, data, GUID
_PLAIN_VAR = struct.Struct("<HBxIII16s")  # start id, state, attributes, name size, data size, GUID
_START_ID = 0x55AA
_VAR_ADDED = 0x3F
_VAR_IN_DELETED_TRANSITION = 0xFE
_SIG_LIST = struct.Struct("<16sIII")  # type GUID, list size, header size, signature size


@dataclass(frozen=True)
class Variable:
    name: str
    guid: str
    attributes: int
    data: bytes
    offset: int  #: file offset of the variable header


@dataclass(frozen=True)
class VariableStore:
    fv_guid: str  #: the FV's file-system GUID
    fv_name: str | None  #: the FvName from the extended header (None: no extended header)
    fv_length: int
    authenticated: bool
    variables: dict[tuple[str, str], Variable]  #: (guid, name) → live variable

    def get(self, guid: str, name: str) -> Variable | None:
        return self.variables.get((guid, name))


def uefi_variable_data(guid: str, name: str, data: bytes) -> bytes:
    """``UEFI_VARIABLE_DATA``: VariableName GUID | u64 name length (chars, no NUL) | u64 data length |
    name UTF-16LE without NUL | data."""
    encoded = name.encode("utf-16-le")
    return guid_bytes(guid) + struct.pack("<QQ", len(name), len(data)) + encoded + data


def _fv_header(fv: memoryview) -> tuple[str, int, int, int]:
    if len(fv) < _FV_HEADER.size:
        raise TruncatedError("firmware volume header is cut off", what="EFI_FIRMWARE_VOLUME_HEADER", offset=0)
    _zero, fs_guid, length, sig, _attr, hdr_len, _csum, ext_off, _rev = _FV_HEADER.unpack_from(fv, 0)
    if sig != b"_FVH":
        raise FormatError(f"firmware volume signature is {sig!r}, expected b'_FVH'", what="FV", offset=0x28)
    if hdr_len < _FV_HEADER.size or hdr_len > len(fv) or length > len(fv) or length < hdr_len:
        raise FormatError(
            f"firmware volume length {length:#x} / header length {hdr_len:#x} do not fit {len(fv):#x} bytes",
            what="FV",
            offset=0x20,
        )
    return guid_text(bytes(fs_guid)), length, hdr_len, ext_off


def fv_name_guid(data: bytes | bytearray | memoryview) -> str | None:
    """The FvName GUID of a firmware volume's extended header, or None if it has none."""
    fv = memoryview(data).cast("B")
    _fs, _length, _hdr_len, ext_off = _fv_header(fv)
    if ext_off == 0:
        return None
    if ext_off + 20 > len(fv):
        raise TruncatedError(
            "FV extended header is cut off", what="EFI_FIRMWARE_VOLUME_EXT_HEADER", offset=ext_off
        )
    return guid_text(bytes(fv[ext_off : ext_off + 16]))


def parse_varstore(data: bytes | bytearray | memoryview) -> VariableStore:
    """The live variables of an edk2 variable-store firmware volume (e.g. OVMF's first 528 KiB)."""
    fv = memoryview(data).cast("B")
    fs_guid, fv_length, hdr_len, _ext = _fv_header(fv)
    name = fv_name_guid(fv)
    if len(fv) < hdr_len + _STORE_HEADER.size:
        raise TruncatedError("variable store header is cut off", what="VARIABLE_STORE_HEADER", offset=hdr_len)
    store_guid_b, store_size, fmt, state, _r, _r1 = _STORE_HEADER.unpack_from(fv, hdr_len)
    store_guid = guid_text(bytes(store_guid_b))
    if store_guid not in (AUTHENTICATED_VARIABLE_GUID, VARIABLE_GUID):
        raise FormatError(
            f"variable store format {store_guid} is unknown", what="VARIABLE_STORE_HEADER", offset=hdr_len
        )
    if fmt != 0x5A or state != 0xFE:
        raise FormatError(
            f"variable store is not formatted/healthy (format {fmt:#x}, state {state:#x})",
            what="VARIABLE_STORE_HEADER",
            offset=hdr_len + 20,
        )
    end = hdr_len + store_size
    if end > len(fv):
        raise TruncatedError(
            f"variable store of {store_size:#x} bytes runs past the volume",
            what="VARIABLE_STORE_HEADER",
            offset=hdr_len,
        )
    auth = store_guid == AUTHENTICATED_VARIABLE_GUID
    header = _AUTH_VAR if auth else _PLAIN_VAR
    pos = (hdr_len + _STORE_HEADER.size + 3) & ~3
    live: dict[tuple[str, str], Variable] = {}
    while pos + header.size <= end:
        fields = header.unpack_from(fv, pos)
        if fields[0] != _START_ID:
            break  # the free space (0xFF) starts here
        if auth:
            _sid, vstate, attributes, _count, _time, _pk, name_size, data_size, vguid = fields
        else:
            _sid, vstate, attributes, name_size, data_size, vguid = fields
        body = pos + header.size
        if body + name_size + data_size > end:
            raise TruncatedError(
                f"variable of {name_size}+{data_size} bytes runs past the store", what="variable", offset=pos
            )
        if vstate in (_VAR_ADDED, _VAR_ADDED & _VAR_IN_DELETED_TRANSITION):
            raw_name = bytes(fv[body : body + name_size])
            try:
                var_name = raw_name.decode("utf-16-le").rstrip("\x00")
            except UnicodeDecodeError:
                raise FormatError("variable name is not UTF-16", what="variable", offset=body) from None
            g = guid_text(bytes(vguid))
            live[(g, var_name)] = Variable(
                var_name, g, attributes, bytes(fv[body + name_size : body + name_size + data_size]), pos
            )
        pos = (body + name_size + data_size + 3) & ~3
    return VariableStore(fs_guid, name, fv_length, auth, live)


@dataclass(frozen=True)
class SignatureData:
    owner: str
    data: bytes

    def to_bytes(self) -> bytes:
        """``EFI_SIGNATURE_DATA``: owner GUID | data."""
        return guid_bytes(self.owner) + self.data


@dataclass(frozen=True)
class SignatureList:
    type: str
    header: bytes
    signatures: tuple[SignatureData, ...]


def parse_signature_lists(data: bytes) -> tuple[SignatureList, ...]:
    """An ``EFI_SIGNATURE_LIST`` sequence (the value of ``PK``, ``KEK``, ``db``, ``dbx``, …)."""
    out = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _SIG_LIST.size:
            raise TruncatedError(
                "EFI_SIGNATURE_LIST header is cut off", what="EFI_SIGNATURE_LIST", offset=pos
            )
        tguid, list_size, hdr_size, sig_size = _SIG_LIST.unpack_from(data, pos)
        body = pos + _SIG_LIST.size + hdr_size
        if list_size < _SIG_LIST.size + hdr_size or pos + list_size > len(data) or sig_size < 16:
            raise FormatError(
                f"EFI_SIGNATURE_LIST sizes {list_size}/{hdr_size}/{sig_size} are inconsistent",
                what="EFI_SIGNATURE_LIST",
                offset=pos,
            )
        if (list_size - _SIG_LIST.size - hdr_size) % sig_size:
            raise FormatError(
                "signature list is not a whole number of entries", what="EFI_SIGNATURE_LIST", offset=pos
            )
        sigs = []
        for s in range(body, pos + list_size, sig_size):
            sigs.append(SignatureData(guid_text(data[s : s + 16]), data[s + 16 : s + sig_size]))
        out.append(SignatureList(guid_text(tguid), data[pos + _SIG_LIST.size : body], tuple(sigs)))
        pos += list_size
    return tuple(out)
