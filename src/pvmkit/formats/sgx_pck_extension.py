"""The SGX extension of an Intel PCK certificate (OID 1.2.840.113741.1.13.1), parsed from its DER.

Layout (Intel "SGX PCK Certificate and Certificate Revocation List Profile Specification", section
1.3.5): a SEQUENCE of (OID, value) pairs under the arc ``1.2.840.113741.1.13.1``:

=========  ============================  ==========================================================
``.1``     PPID                          OCTET STRING (16)
``.2``     TCB                           SEQUENCE of (OID, value): ``.2.1`` … ``.2.16`` the TCB
                                         component SVNs (INTEGER), ``.2.17`` PCESVN (INTEGER),
                                         ``.2.18`` CPUSVN (OCTET STRING, 16)
``.3``     PCE-ID                        OCTET STRING (2)
``.4``     FMSPC                         OCTET STRING (6)
``.5``     SGX type                      ENUMERATED (0 Standard, 1 Scalable, 2 Scalable with integrity)
``.6``     PlatformInstanceID            OCTET STRING (16; Platform CA certificates only)
``.7``     Configuration                 SEQUENCE of (OID, BOOLEAN): ``.7.1`` dynamicPlatform,
                                         ``.7.2`` cachedKeys, ``.7.3`` SMTEnabled
=========  ============================  ==========================================================

:func:`parse_sgx_extension` takes the extension's value (the DER of the outer SEQUENCE) and returns a
:class:`PckExtension`; anything malformed or missing is a :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pvmkit.errors import FormatError

__all__ = ["SGX_EXTENSION_OID", "PckExtension", "parse_sgx_extension"]

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"

_SEQUENCE, _OCTET_STRING, _INTEGER, _ENUMERATED, _BOOLEAN, _OID = 0x30, 0x04, 0x02, 0x0A, 0x01, 0x06
_WHAT = "PCK SGX extension"


@dataclass(frozen=True)
class PckExtension:
    """The fields of a PCK certificate's SGX extension that TCB evaluation uses."""

    ppid: bytes
    tcb_components: tuple[int, ...]  # 16 SVNs, .2.1 … .2.16
    pcesvn: int
    cpusvn: bytes
    pceid: bytes
    fmspc: bytes
    sgx_type: int
    platform_instance_id: bytes | None = None
    dynamic_platform: bool | None = None
    cached_keys: bool | None = None
    smt_enabled: bool | None = None


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, content, next position) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise FormatError("truncated DER element", what=_WHAT, offset=pos)
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        length, start = first, pos + 2
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + 2 + n > len(data):
            raise FormatError("bad DER length", what=_WHAT, offset=pos + 1)
        length, start = int.from_bytes(data[pos + 2 : pos + 2 + n], "big"), pos + 2 + n
    if start + length > len(data):
        raise FormatError("DER element runs past its container", what=_WHAT, offset=pos)
    return tag, data[start : start + length], start + length


def _children(content: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(content):
        tag, value, pos = _tlv(content, pos)
        out.append((tag, value))
    return out


def _oid(content: bytes) -> str:
    if not content:
        raise FormatError("empty OBJECT IDENTIFIER", what=_WHAT)
    arcs = [*divmod(content[0], 40)] if content[0] < 80 else [2, content[0] - 80]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise FormatError("truncated OBJECT IDENTIFIER", what=_WHAT)
    return ".".join(map(str, arcs))


def _pairs(content: bytes, where: str) -> dict[str, tuple[int, bytes]]:
    """A SEQUENCE OF SEQUENCE { OID, value } → {oid: (tag, value content)}; duplicates refused."""
    out: dict[str, tuple[int, bytes]] = {}
    for tag, item in _children(content):
        parts = _children(item) if tag == _SEQUENCE else []
        if len(parts) != 2 or parts[0][0] != _OID:
            raise FormatError(f"{where}: expected SEQUENCE {{OID, value}}", what=_WHAT)
        oid = _oid(parts[0][1])
        if oid in out:
            raise FormatError(f"{where}: {oid} appears twice", what=_WHAT)
        out[oid] = parts[1]
    return out


def _get(pairs: dict[str, tuple[int, bytes]], oid: str, tag: int, name: str) -> bytes:
    if oid not in pairs:
        raise FormatError(f"the SGX extension has no {name} ({oid})", what=_WHAT)
    got, value = pairs[oid]
    if got != tag:
        raise FormatError(f"{name} ({oid}) has DER tag {got:#x}, expected {tag:#x}", what=_WHAT)
    return value


def _uint(value: bytes, name: str) -> int:
    if not value or value[0] & 0x80:
        raise FormatError(f"{name} is not a non-negative INTEGER", what=_WHAT)
    return int.from_bytes(value, "big")


def _octets(pairs: dict[str, tuple[int, bytes]], oid: str, name: str, size: int) -> bytes:
    value = _get(pairs, oid, _OCTET_STRING, name)
    if len(value) != size:
        raise FormatError(f"{name} is {len(value)} bytes, expected {size}", what=_WHAT)
    return value


def parse_sgx_extension(der: bytes) -> PckExtension:
    """The SGX extension value (DER SEQUENCE) of a PCK certificate → :class:`PckExtension`."""
    tag, content, end = _tlv(bytes(der), 0)
    if tag != _SEQUENCE or end != len(der):
        raise FormatError("the SGX extension is not one DER SEQUENCE", what=_WHAT)
    base = SGX_EXTENSION_OID
    top = _pairs(content, "SGX extension")
    tcb = _pairs(_get(top, f"{base}.2", _SEQUENCE, "TCB"), "TCB")
    components = tuple(
        _uint(_get(tcb, f"{base}.2.{i}", _INTEGER, f"TCB component {i}"), f"TCB component {i}")
        for i in range(1, 17)
    )
    sgx_type = _get(top, f"{base}.5", _ENUMERATED, "SGX type")
    platform_instance = None
    if f"{base}.6" in top:
        platform_instance = _octets(top, f"{base}.6", "PlatformInstanceID", 16)
    config: dict[str, bool] = {}
    if f"{base}.7" in top:
        for i, key in ((1, "dynamic_platform"), (2, "cached_keys"), (3, "smt_enabled")):
            pairs = _pairs(_get(top, f"{base}.7", _SEQUENCE, "Configuration"), "Configuration")
            if f"{base}.7.{i}" in pairs:
                value = _get(pairs, f"{base}.7.{i}", _BOOLEAN, key)
                config[key] = value not in (b"", b"\x00")
    return PckExtension(
        ppid=_octets(top, f"{base}.1", "PPID", 16),
        tcb_components=components,
        pcesvn=_uint(_get(tcb, f"{base}.2.17", _INTEGER, "PCESVN"), "PCESVN"),
        cpusvn=_octets(tcb, f"{base}.2.18", "CPUSVN", 16),
        pceid=_octets(top, f"{base}.3", "PCE-ID", 2),
        fmspc=_octets(top, f"{base}.4", "FMSPC", 6),
        sgx_type=_uint(sgx_type, "SGX type"),
        platform_instance_id=platform_instance,
        **config,
    )
