"""pvmkit's model of CoRIM and CoMID (draft-ietf-rats-corim), read from and written to CBOR with cbor2.

The structures, CBOR keys and tags are the CDDL of draft-ietf-rats-corim (``cddl/corim.cddl``,
``concise-mid-tag.cddl``, ``cbor-tags.txt``)::

    corim        = 501({0 id, 1 tags: [+ 506(bstr .cbor concise-mid-tag) / other tags], ? 2 dependent-rims,
                        ? 3 profile, ? 4 rim-validity, ? 5 entities})        ; or 18(COSE_Sign1) when signed
    concise-mid-tag = {? 0 language, 1 tag-identity, ? 2 entities, ? 3 linked-tags, 4 triples}
    triples-map  = {? 0 reference-triples: [+ [environment-map, [+ measurement-map]]], ...}
    environment-map = {? 0 class, ? 1 instance, ? 2 group}
    measurement-map = {? 0 mkey, 1 mval: measurement-values-map, ? 2 authorized-by}

Every map keeps its members in their original order, and members pvmkit does not model are kept
verbatim (``extra``), so that a CoRIM read into the model writes back as the same bytes; input that
does not (indefinite lengths, non-preferred integer or length encodings, duplicate keys) is refused
with the offset of the first difference. Tags 500 (reserved for backward compatibility) and 502 (an
early draft's signed-CoRIM wrapper) are accepted around the CoRIM, as Veraison's ``signedcorim.go``
and Trustee's CoRIM extractor accept them; tag 501 is written. cbor2 is imported only here.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pvmkit.errors import FormatError
from pvmkit.formats.cose import Sign1

__all__ = [
    "TAG_COMID",
    "TAG_CORIM",
    "TAG_SIGNED",
    "Comid",
    "Corim",
    "Environment",
    "Measurement",
    "ReferenceTriple",
    "SignedCorim",
    "decode_cbor",
    "encode_cbor",
    "parse_any",
]

TAG_SIGNED = 18
TAG_CORIM = 501
TAG_COMID = 506
#: Wrapper tags accepted (and kept) around a CoRIM: 500 (reserved for backward compatibility) and
#: 502 (early drafts' signed-CoRIM tag).
_WRAPPERS = (500, 502)
TAG_URI, TAG_OID, TAG_TAGGED_BYTES = 32, 111, 560


def decode_cbor(data: bytes, what: str) -> Any:
    """One CBOR item that is all of ``data`` (cbor2), or FormatError."""
    import cbor2

    try:
        item = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as e:
        raise FormatError(f"{what}: not CBOR ({e})", what=what) from None
    return _thaw(item, what)


#: What cbor2 may decode a CoRIM's items into: plain values, epoch times (tag 1) and UUIDs (tag 37).
#: cbor2 turns other semantic tags into objects no CoRIM holds and pvmkit cannot write back (a MIME
#: message for tag 36, a compiled regex for 35, sets, decimals, IP networks, ...): those are refused.
_PLAIN = (bool, int, float, str, bytes, _dt.datetime, uuid.UUID)


def _thaw(item: Any, what: str) -> Any:
    """cbor2 decodes a tag's content immutably (tuples, frozendicts): lists and dicts, as elsewhere;
    FormatError for an item of another kind (:data:`_PLAIN`), found by fuzzing (issue 15)."""
    import cbor2

    if isinstance(item, cbor2.CBORTag):
        return cbor2.CBORTag(item.tag, _thaw(item.value, what))
    if isinstance(item, (list, tuple)):
        return [_thaw(x, what) for x in item]
    if isinstance(item, Mapping):
        for key in item:  # keys stay as decoded (hashable), but of the plain kinds too
            if not (key is None or isinstance(key, (*_PLAIN, tuple, cbor2.CBORTag))):
                raise FormatError(f"{what}: unsupported CBOR map key ({type(key).__name__})", what=what)
        return {k: _thaw(v, what) for k, v in item.items()}
    if item is None or isinstance(item, _PLAIN):
        return item
    raise FormatError(f"{what}: unsupported CBOR item ({type(item).__name__})", what=what)


def encode_cbor(item: Any) -> bytes:
    import cbor2

    return cbor2.dumps(item, datetime_as_timestamp=True)


def _tag(item: Any) -> tuple[int, Any] | None:
    import cbor2

    return (item.tag, item.value) if isinstance(item, cbor2.CBORTag) else None


def _mktag(tag: int, value: Any) -> Any:
    import cbor2

    return cbor2.CBORTag(tag, value)


def _map(item: Any, what: str) -> dict[Any, Any]:
    if not isinstance(item, dict) or not item:
        raise FormatError(f"{what}: expected a non-empty map", what=what)
    return item


def _list(item: Any, what: str) -> list[Any]:
    if not isinstance(item, list) or not item:
        raise FormatError(f"{what}: expected a non-empty array", what=what)
    return item


@dataclass
class _Members:
    """A CBOR map's members in order: modelled ones are attributes, the rest stay in ``extra``."""

    order: list[Any] = field(default_factory=list)
    extra: dict[Any, Any] = field(default_factory=dict)

    def _emit(self, modelled: dict[Any, Any]) -> dict[Any, Any]:
        keys = self.order or sorted([*modelled, *self.extra], key=lambda k: (isinstance(k, str), k))
        out = {}
        for key in keys:
            if key in modelled and modelled[key] is not None:
                out[key] = modelled[key]
            elif key in self.extra:
                out[key] = self.extra[key]
        return out

    @staticmethod
    def _split(item: dict[Any, Any], modelled: tuple[Any, ...]) -> tuple[list[Any], dict[Any, Any]]:
        return list(item), {k: v for k, v in item.items() if k not in modelled}


@dataclass
class Measurement(_Members):
    """A measurement-map: ``mkey`` (tstr, uint, 37(uuid) or 111(oid), as decoded), ``values`` (the
    measurement-values-map as decoded; :meth:`digests`, :meth:`raw_value`, :meth:`registers` read it)."""

    mkey: Any = None
    values: dict[Any, Any] = field(default_factory=dict)
    authorized_by: Any = None

    @classmethod
    def read(cls, item: Any, what: str) -> Measurement:
        m = _map(item, what)
        if 1 not in m:
            raise FormatError(f"{what}: a measurement-map needs mval (1)", what=what)
        order, extra = cls._split(m, (0, 1, 2))
        return cls(order, extra, m.get(0), _map(m[1], f"{what} mval"), m.get(2))

    def to_item(self) -> dict[Any, Any]:
        return self._emit({0: self.mkey, 1: self.values, 2: self.authorized_by})

    def digests(self) -> list[tuple[int | str, bytes]]:
        """``2: [+ [alg, bytes]]`` → [(alg, digest)] (empty when absent)."""
        raw = self.values.get(2)
        if raw is None:
            return []
        out = []
        for entry in _list(raw, "digests"):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], bytes)):
                raise FormatError(f"digests entry {entry!r} is not [alg, bytes]", what="digests")
            out.append((entry[0], entry[1]))
        return out

    def raw_value(self) -> bytes | None:
        """``4: 560(bytes)`` → the bytes (a masked value 563 is not a plain value: None)."""
        tagged = _tag(self.values.get(4))
        return (
            tagged[1] if tagged and tagged[0] == TAG_TAGGED_BYTES and isinstance(tagged[1], bytes) else None
        )

    def registers(self) -> dict[Any, list[tuple[int | str, bytes]]]:
        """``14: {id: digests}`` → {id: [(alg, digest)]}."""
        raw = self.values.get(14)
        if raw is None:
            return {}
        out = {}
        for key, entries in _map(raw, "integrity-registers").items():
            out[key] = Measurement(values={2: entries}).digests()
        return out


@dataclass
class Environment(_Members):
    """An environment-map: ``klass`` (the class map as decoded), ``instance``, ``group``."""

    klass: dict[Any, Any] | None = None
    instance: Any = None
    group: Any = None

    @classmethod
    def read(cls, item: Any, what: str) -> Environment:
        m = _map(item, what)
        order, extra = cls._split(m, (0, 1, 2))
        klass = _map(m[0], f"{what} class") if 0 in m else None
        return cls(order, extra, klass, m.get(1), m.get(2))

    def to_item(self) -> dict[Any, Any]:
        return self._emit({0: self.klass, 1: self.instance, 2: self.group})


@dataclass
class ReferenceTriple:
    environment: Environment
    measurements: list[Measurement]

    @classmethod
    def read(cls, item: Any, what: str) -> ReferenceTriple:
        if not isinstance(item, list) or len(item) != 2:
            raise FormatError(
                f"{what}: a reference triple is [environment-map, [+ measurement-map]]", what=what
            )
        env = Environment.read(item[0], f"{what} environment")
        return cls(env, [Measurement.read(m, f"{what} measurement") for m in _list(item[1], what)])

    def to_item(self) -> list[Any]:
        return [self.environment.to_item(), [m.to_item() for m in self.measurements]]


@dataclass
class Comid(_Members):
    """A concise-mid-tag: ``tag_identity`` (as decoded), ``reference_triples`` (the triples map's key 0;
    the other triples stay in ``other_triples``), ``language``, ``entities``, ``linked_tags``."""

    tag_identity: dict[Any, Any] = field(default_factory=dict)
    reference_triples: list[ReferenceTriple] = field(default_factory=list)
    language: Any = None
    entities: Any = None
    linked_tags: Any = None
    triples_order: list[Any] = field(default_factory=list)
    other_triples: dict[Any, Any] = field(default_factory=dict)
    #: the legacy placement in a CoRIM's tags: bstr(506(map)) instead of 506(bstr(map))
    tag_inside: bool = False

    def tagged_bytes(self) -> Any:
        """This CoMID as an entry of a CoRIM's ``tags``."""
        if self.tag_inside:
            return encode_cbor(_mktag(TAG_COMID, self.to_item()))
        return _mktag(TAG_COMID, encode_cbor(self.to_item()))

    @classmethod
    def read(cls, item: Any, what: str = "CoMID") -> Comid:
        m = _map(item, what)
        for key in (1, 4):
            if key not in m:
                raise FormatError(
                    f"{what}: a concise-mid-tag needs {'tag-identity (1)' if key == 1 else 'triples (4)'}",
                    what=what,
                )
        order, extra = cls._split(m, (0, 1, 2, 3, 4))
        triples = _map(m[4], f"{what} triples")
        refs = (
            [ReferenceTriple.read(t, f"{what} reference triple") for t in _list(triples[0], what)]
            if 0 in triples
            else []
        )
        return cls(
            order,
            extra,
            _map(m[1], f"{what} tag-identity"),
            refs,
            m.get(0),
            m.get(2),
            m.get(3),
            list(triples),
            {k: v for k, v in triples.items() if k != 0},
        )

    def to_item(self) -> dict[Any, Any]:
        triples = _Members(self.triples_order, self.other_triples)._emit(
            {0: [t.to_item() for t in self.reference_triples] or None}
        )
        return self._emit(
            {0: self.language, 1: self.tag_identity, 2: self.entities, 3: self.linked_tags, 4: triples}
        )


@dataclass
class Corim(_Members):
    """A corim-map: ``id``, ``tags`` (each a :class:`Comid` or another tag kept as decoded),
    ``profile`` (as decoded: 32(uri) or 111(oid)), ``validity``, ``entities``, ``dependent_rims``;
    ``tagged`` (501, or the legacy untagged map) and ``wrappers`` (outer 500/502 tags, outermost first)."""

    id: Any = None
    tags: list[Comid | Any] = field(default_factory=list)
    profile: Any = None
    validity: Any = None
    entities: Any = None
    dependent_rims: Any = None
    tagged: bool = True
    wrappers: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, item: Any, what: str = "CoRIM") -> Corim:
        wrappers: list[int] = []
        tagged = _tag(item)
        while tagged and tagged[0] in _WRAPPERS:
            wrappers.append(tagged[0])
            item, tagged = tagged[1], _tag(tagged[1])
        if tagged is not None:
            if tagged[0] != TAG_CORIM:
                raise FormatError(f"{what}: tag {tagged[0]} is not an unsigned CoRIM (501)", what=what)
            item = tagged[1]
        m = _map(item, what)
        for key in (0, 1):
            if key not in m:
                raise FormatError(
                    f"{what}: a corim-map needs {'id (0)' if key == 0 else 'tags (1)'}", what=what
                )
        tags: list[Comid | Any] = []
        for i, entry in enumerate(_list(m[1], f"{what} tags")):
            t = _tag(entry)
            if t and t[0] == TAG_COMID:
                if not isinstance(t[1], bytes):
                    raise FormatError(
                        f"{what} tag {i}: a CoMID is a byte string (506(bstr .cbor ...))", what=what
                    )
                inner = Comid.read(decode_cbor(t[1], f"{what} CoMID {i}"), f"{what} CoMID {i}")
                _same(t[1], encode_cbor(inner.to_item()), f"{what} CoMID {i}")
                tags.append(inner)
            elif isinstance(entry, bytes) and (inner_tag := _tag(decode_cbor(entry, f"{what} tag {i}"))):
                # cocli 2024 and older drafts: the byte string holds the tagged CoMID, bstr(506(map))
                if inner_tag[0] != TAG_COMID:
                    raise FormatError(
                        f"{what} tag {i}: tag {inner_tag[0]} in a byte string is not a CoMID", what=what
                    )
                inner = Comid.read(inner_tag[1], f"{what} CoMID {i}")
                inner.tag_inside = True
                _same(entry, encode_cbor(_mktag(TAG_COMID, inner.to_item())), f"{what} CoMID {i}")
                tags.append(inner)
            elif t is not None:
                tags.append(entry)  # CoSWID (505), CoTL (508): kept as they are
            else:
                raise FormatError(f"{what} tag {i}: not a tagged CoMID/CoSWID/CoTL", what=what)
        order, extra = cls._split(m, (0, 1, 2, 3, 4, 5))
        return cls(
            order, extra, m[0], tags, m.get(3), m.get(4), m.get(5), m.get(2), tagged is not None, wrappers
        )

    def comids(self) -> list[Comid]:
        return [t for t in self.tags if isinstance(t, Comid)]

    @property
    def profile_id(self) -> str | None:
        """The profile as text: the URI, or the OID in dotted form."""
        if isinstance(self.profile, str):  # early drafts: a bare URI string
            return self.profile
        t = _tag(self.profile)
        if t is None:
            return None
        if t[0] == TAG_URI and isinstance(t[1], str):
            return t[1]
        if t[0] == TAG_OID and isinstance(t[1], bytes):
            return oid_text(t[1])
        return repr(self.profile)

    def to_item(self) -> Any:
        tags = [t.tagged_bytes() if isinstance(t, Comid) else t for t in self.tags]
        item: Any = self._emit(
            {0: self.id, 1: tags, 2: self.dependent_rims, 3: self.profile, 4: self.validity, 5: self.entities}
        )
        if self.tagged:
            item = _mktag(TAG_CORIM, item)
        for wrapper in reversed(self.wrappers):
            item = _mktag(wrapper, item)
        return item

    def to_bytes(self) -> bytes:
        return encode_cbor(self.to_item())


@dataclass
class SignedCorim:
    """A COSE_Sign1-signed CoRIM (tag 18): the ``envelope`` (:class:`pvmkit.formats.cose.Sign1`: the
    protected header as carried and decoded, the unprotected header, the payload bytes, the
    signature), the ``corim`` in its payload, and ``wrappers``, outer 502 tags."""

    envelope: Sign1
    corim: Corim
    wrappers: list[int] = field(default_factory=list)

    @property
    def headers(self) -> dict[Any, Any]:
        return self.envelope.headers

    def to_item(self) -> Any:
        e = self.envelope
        item = _mktag(TAG_SIGNED, [e.protected, e.unprotected, e.payload, e.signature])
        for wrapper in reversed(self.wrappers):
            item = _mktag(wrapper, item)
        return item

    def to_bytes(self) -> bytes:
        return encode_cbor(self.to_item())


def _read_signed(item: Any, wrappers: list[int], what: str) -> SignedCorim:
    body = item
    if not isinstance(body, list) or len(body) != 4:
        raise FormatError(f"{what}: a COSE_Sign1 is an array of 4 items", what=what)
    protected, unprotected, payload, signature = body
    if (
        not isinstance(protected, bytes)
        or not isinstance(unprotected, dict)
        or not isinstance(signature, bytes)
    ):
        raise FormatError(
            f"{what}: COSE_Sign1 is [bstr protected, {{unprotected}}, payload, bstr]", what=what
        )
    if not isinstance(payload, bytes):
        raise FormatError(f"{what}: a detached or hash-envelope payload is not supported", what=what)
    headers = decode_cbor(protected, f"{what} protected header") if protected else {}
    if not isinstance(headers, dict):
        raise FormatError(f"{what}: the protected header is not a map", what=what)
    corim = Corim.read(decode_cbor(payload, f"{what} payload"), f"{what} payload")
    _same(payload, corim.to_bytes(), f"{what} payload")
    alg = headers.get(1)
    envelope = Sign1(protected, headers, unprotected, payload, signature, alg if isinstance(alg, int) else 0)
    return SignedCorim(envelope, corim, wrappers)


def _same(original: bytes, again: bytes, what: str) -> None:
    if original != again:
        at = next(
            (i for i, (a, b) in enumerate(zip(original, again, strict=False)) if a != b),
            min(len(original), len(again)),
        )
        raise FormatError(
            f"{what}: cannot be written back byte for byte (first difference at byte {at}: "
            "not in preferred serialization, or duplicate map keys)",
            what=what,
            offset=at,
        )


def parse_any(data: bytes, what: str = "CoRIM") -> Corim | SignedCorim | Comid:
    """A CoRIM (unsigned 501, signed 18, optionally wrapped in 500/502, or a legacy untagged corim-map)
    or a bare CoMID, read into the model; FormatError unless it writes back as the same bytes."""
    item = decode_cbor(data, what)
    wrappers: list[int] = []
    tagged = _tag(item)
    while tagged and tagged[0] in _WRAPPERS and _tag(tagged[1]) and _tag(tagged[1])[0] == TAG_SIGNED:  # type: ignore[index]
        wrappers.append(tagged[0])
        item, tagged = tagged[1], _tag(tagged[1])
    model: Corim | SignedCorim | Comid
    if tagged and tagged[0] == TAG_SIGNED:
        model = _read_signed(tagged[1], wrappers, what)
    elif tagged is None and isinstance(item, dict) and 4 in item and 1 in item and 0 not in item:
        model = Comid.read(item, what)  # a bare concise-mid-tag (no id, has triples)
    else:
        model = Corim.read(item, what)
    import cbor2

    try:
        again = encode_cbor(model.to_item())
    except (cbor2.CBOREncodeError, ValueError, TypeError, OverflowError) as e:  # what cbor2 cannot write
        raise FormatError(f"{what}: the CoRIM does not encode back to CBOR ({e})", what=what) from None
    _same(data, again, what)
    return model


def oid_text(content: bytes) -> str:
    """An OID's content octets (RFC 9090 tag 111; a leading DER ``06 len`` header is tolerated, as
    some drafts' examples carry it) → dotted text."""
    if len(content) > 2 and content[0] == 0x06 and content[1] == len(content) - 2:
        content = content[2:]
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs or value:
        raise FormatError(f"OID {content.hex()} is malformed", what="OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def oid_bytes(text: str) -> bytes:
    """Dotted OID → content octets (no DER header), for tag 111."""
    arcs = [int(a) for a in text.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)
