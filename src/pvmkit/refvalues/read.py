"""Read reference values from any format pvmkit writes or verifiers publish, detected from content.

* a Trustee RVPS registration message (``{"version", "type", "payload"}``; type ``sample``, or
  ``corim`` carrying an unsigned CoRIM), or its decoded ``sample`` provenance;
* pvmkit's own set JSON (``pvmkit.reference-values/1``);
* pvmkit's measurement JSON: ``measure --output-format json`` records (JSON lines: every record's
  digest is an acceptable value), ``measure --json`` / ``measure --igvm`` / ``measure --rtmr``,
  ``measure --vendor cca --output-format json`` and ``tdx replay --json`` documents;
* a CoRIM, unsigned (tag 501) or COSE_Sign1-signed (tag 18; verified when a key is given), in CBOR
  (:mod:`pvmkit.refvalues.corim`, loaded only for CBOR input).

:func:`load_expectations` is what verifiers use: name → frozenset of acceptable bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pvmkit.errors import FormatError, InputError
from pvmkit.refvalues import trustee
from pvmkit.refvalues.model import Origin, RefValueSet
from pvmkit.refvalues.names import CCA_RIM, SNP_MEASUREMENT
from pvmkit.refvalues.setjson import SCHEMA, hex_field, parse_set_json

#: The largest reference-value file read (the CLI's document limit, docs/cli.md "Input size limits").
MAX_FILE_SIZE = 16 << 20

__all__ = ["CorimOptions", "load_expectations", "load_reference_values", "read_reference_values"]


class CorimOptions:
    """How to read signed CoRIMs: the signer's public key (PEM/DER/JWK bytes, or None to refuse a
    signed CoRIM) and the time at which its validity is checked (None: now)."""

    def __init__(self, key: bytes | None = None, at: Any = None) -> None:
        self.key = key
        self.at = at


def _is_cbor(data: bytes) -> bool:
    head = data.lstrip()[:1]
    return bool(data) and head not in (b"{", b"[")


def _looks_like_text(data: bytes) -> bool:
    """Printable text with line breaks at the start: a CoRIM (tag 500-502 or 18, a map) starts with
    a CBOR head byte (0xd2, 0xd9, 0xa0-0xbf), never with a printable character and a newline soon."""
    head = data[:256]
    return b"\n" in head and all(b in b"\t\r\n" or 0x20 <= b < 0x7F for b in head)


def read_reference_values(data: bytes, source: str, corim: CorimOptions | None = None) -> RefValueSet:
    """The reference values in ``data`` (any supported format, detected from its content)."""
    if not data.strip():
        raise FormatError(f"{source}: empty", what=source)
    if _is_cbor(data):
        if _looks_like_text(data):  # neither JSON nor a CoRIM: say so, not what the CBOR decoder saw
            raise FormatError(f"{source}: neither JSON, JSON lines nor CBOR (a text file)", what=source)
        return _corim(data, source, corim)
    text = data.decode("utf-8", "replace")
    try:
        docs = [json.loads(text)]
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        try:  # JSON lines: measure with a vCPU range prints one record per configuration
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except (ValueError, RecursionError):
            raise FormatError(f"{source}: neither JSON, JSON lines nor CBOR", what=source) from None
    if not docs:
        raise FormatError(f"{source}: empty", what=source)
    if len(docs) == 1 and isinstance(docs[0], dict):
        doc = docs[0]
        if set(doc) == {"version", "type", "payload"}:
            kind, payload = trustee.parse_message(doc, source)
            if kind == "sample":
                try:
                    provenance = json.loads(payload)
                except (ValueError, RecursionError):
                    raise FormatError(f"{source}: the sample payload is not JSON", what=source) from None
                return trustee.parse_provenance(provenance, source)
            if kind == "corim":
                return _corim(payload, source, None)
            raise FormatError(f"{source}: RVPS message type {kind!r} carries no launch values", what=source)
        if doc.get("schema") == SCHEMA:
            return parse_set_json(doc, source)
        if "schema" not in doc and "digest" not in doc:
            return trustee.parse_provenance(doc, source)
    rvs = RefValueSet()
    for i, doc in enumerate(docs):
        _measure_record(rvs, doc, f"{source}" if len(docs) == 1 else f"{source} line {i + 1}")
    return rvs


def _corim(data: bytes, source: str, options: CorimOptions | None) -> RefValueSet:
    """A CoRIM's reference values: a signed one only with a key its signature verifies with."""
    from pvmkit.refvalues.corim import Comid, SignedCorim, parse_any
    from pvmkit.refvalues.corim_profiles import corim_values

    model = parse_any(data, source)
    if isinstance(model, Comid):
        raise FormatError(
            f"{source}: a bare CoMID names no profile; wrap it in a CoRIM with one", what=source
        )
    if isinstance(model, SignedCorim):
        if options is None or options.key is None:
            raise InputError(f"{source} is a signed CoRIM: give the signer's public key (--corim-key FILE)")
        from pvmkit.refvalues.corim_sign import verify_signed_corim

        verify_signed_corim(model, options.key, at=options.at, what=source)
        return corim_values(model.corim, source)
    return corim_values(model, source)


def _measure_record(rvs: RefValueSet, doc: object, where: str) -> None:
    """One pvmkit measurement document → the reference values it predicts."""
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: not a pvmkit measurement record", what=where)
    schema, vendor = doc.get("schema"), doc.get("vendor")
    origin = {"source": where, **{k: doc[k] for k in ("vcpus", "vmm", "vcpu_sig") if k in doc}}
    found: dict[str, object] = {}
    # None: AMD/sw records before they carried a schema
    snp_records = (None, "pvmkit.measure-amd/1", "pvmkit.measure-sw/1", "pvmkit.measure-igvm/1")
    if schema in snp_records and vendor in ("snp", "sw"):
        found = {SNP_MEASUREMENT: doc.get("digest")}
    elif schema == "pvmkit.measure-igvm/1" and vendor == "tdx":
        found = {"mr_td": doc.get("digest")}
    elif schema == "pvmkit.measure-tdx/1":
        found = {"mr_td": doc.get("mrtd")}
    elif schema == "pvmkit.measure-tdx-rtmr/1":
        found = {f"rtmr_{i}": doc[f"rtmr{i}"] for i in range(4) if doc.get(f"rtmr{i}") is not None}
    elif schema == "pvmkit.measure-tdx-rtmr/2":
        shapes = doc.get("shapes")
        if not isinstance(shapes, list) or not all(isinstance(s, dict) for s in shapes):
            raise FormatError(f"{where}: 'shapes' is not a list of objects", what=where)
        for shape in shapes:  # every shape's registers are acceptable values
            _add_rtmrs(
                rvs,
                {f"rtmr_{i}": shape[f"rtmr{i}"] for i in range(4) if shape.get(f"rtmr{i}")},
                where,
                {**origin, **{k: v for k in ("vcpus", "memory") if isinstance(v := shape.get(k), int)}},
            )
        return
    elif schema == "pvmkit.tdx-replay/1" and isinstance(doc.get("rtmrs"), dict):
        found = {
            f"rtmr_{k[4:]}": v for k, v in doc["rtmrs"].items() if k in ("rtmr0", "rtmr1", "rtmr2", "rtmr3")
        }
    elif schema == "pvmkit.measure-cca/1":
        found = {CCA_RIM: doc.get("rim")}
    else:
        raise FormatError(
            f"{where}: a {vendor or schema or 'unknown'} document holds no reference value pvmkit can check "
            "(sev/sev-es launch digests are not in any report)",
            what=where,
        )
    _add_rtmrs(rvs, found, where, origin)


def _add_rtmrs(rvs: RefValueSet, found: dict[str, object], where: str, origin: Origin) -> None:
    for name, value in found.items():
        try:
            rvs.add(name, hex_field(value, f"{where} {name}"), origin)
        except InputError as e:
            raise FormatError(f"{where}: {e}", what=where) from None


def load_reference_values(paths: Iterable[str], corim: CorimOptions | None = None) -> RefValueSet:
    """Every reference value in the files ``paths`` (any supported format), merged: the acceptable
    values of a name given by several files are the union."""
    rvs = RefValueSet()
    for path in paths:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)  # /dev/zero or a huge file must not exhaust memory
        if len(data) > MAX_FILE_SIZE:
            raise InputError(
                f"{path}: longer than 16 MiB; pvmkit reads at most 16 MiB for reference values "
                "(docs/cli.md, input size limits)"
            )
        rvs.merge(read_reference_values(data, path, corim))
    return rvs


def load_expectations(paths: Iterable[str], corim: CorimOptions | None = None) -> dict[str, frozenset[bytes]]:
    """name → frozenset of acceptable values (byte-valued names only) from the files ``paths``.

    Names are :data:`pvmkit.refvalues.names.NAMES` (Trustee's); each name's
    :attr:`~pvmkit.refvalues.names.NameSpec.field` is the evidence field it checks (``measurement``
    of an SNP report, ``mr_td``/``rtmr0``... of a TDX quote, ``rim`` of a CCA token). OSError
    propagates; malformed files raise :class:`~pvmkit.errors.FormatError`."""
    return load_reference_values(paths, corim).expectations()
