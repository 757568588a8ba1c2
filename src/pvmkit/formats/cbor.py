"""Bounded CBOR decoding (RFC 8949) for untrusted evidence: cbor2 with limits, and only plain items.

Attestation tokens come from the party being verified, so their decoder must fail cleanly on anything
odd. :func:`decode` wraps ``cbor2`` (imported lazily: it is not on ``pvmkit measure``'s path) with:

* a size limit on the whole input and the requirement that exactly one item fills it (no trailing
  bytes);
* a nesting limit (``max_depth``), definite lengths only, and duplicate map keys refused (RFC 8949
  §5.6: a map with duplicate keys is not valid); a declared length larger than the input runs out of
  input and is refused without allocating it;
* only plain items in the result: integers, byte and text strings, arrays, maps, tags (as
  :class:`Tag`), booleans, null and floats. Items ``cbor2`` would turn into other Python objects
  (dates, bignums, decimals, UUIDs, sets, shared references, ...) are refused: no CCA or COSE
  structure uses them.

Every failure is a :class:`~pvmkit.errors.FormatError` (a :class:`~pvmkit.errors.TruncatedError` when
the input ends early) naming ``what`` was decoded; no other exception escapes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from pvmkit.errors import FormatError, TruncatedError

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE", "Tag", "decode", "encode"]

DEFAULT_MAX_DEPTH = 16
DEFAULT_MAX_SIZE = 1 << 20


class Tag:
    """A tagged item (RFC 8949 §3.4): ``tag`` number and its ``value``."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: int, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash((self.tag, repr(self.value)))

    def __repr__(self) -> str:
        return f"Tag({self.tag}, {self.value!r})"


def decode(
    data: bytes, *, what: str, max_depth: int = DEFAULT_MAX_DEPTH, max_size: int = DEFAULT_MAX_SIZE
) -> Any:
    """The one CBOR item that is exactly ``data``: ints, bytes, str, list, dict, :class:`Tag`, bool,
    None or float (arrays come back as lists, maps as dicts). FormatError for anything else."""
    if len(data) > max_size:
        raise FormatError(f"{what}: {len(data)} bytes is more than the {max_size} allowed", what=what)
    if not data:
        raise TruncatedError(f"{what}: empty input", what=what, offset=0)
    import cbor2

    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream, max_depth=max_depth, allow_indefinite=False, allow_duplicate_keys=False
        )
        item = decoder.decode()
    except cbor2.CBORDecodeEOF:
        raise TruncatedError(f"{what}: the CBOR item ends after the input", what=what) from None
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, LookupError) as exc:
        raise FormatError(f"{what}: not valid CBOR ({_reason(exc)})", what=what) from None
    end = stream.tell()
    if end != len(data):
        raise FormatError(
            f"{what}: not one CBOR item ({len(data) - end} bytes follow the first)", what=what, offset=end
        )
    return _plain(item, what, max_depth)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _plain(item: Any, what: str, budget: int) -> Any:
    """``item`` with cbor2's container types replaced by list/dict/:class:`Tag`; FormatError for any
    non-plain object and beyond ``budget`` levels (which also ends any cycle a shared reference made)."""
    import cbor2

    if budget < 0:
        raise FormatError(f"{what}: CBOR nested too deep", what=what)
    if item is None or isinstance(item, (bool, int, float, str, bytes)):
        return item
    if isinstance(item, (list, tuple)):
        return [_plain(v, what, budget - 1) for v in item]
    if isinstance(item, Mapping):
        out: dict[Any, Any] = {}
        for key, value in item.items():
            plain_key = _plain(key, what, budget - 1)
            if isinstance(plain_key, (list, dict)):
                raise FormatError(f"{what}: a CBOR map key is an array or a map", what=what)
            out[plain_key] = _plain(value, what, budget - 1)
        return out
    if isinstance(item, cbor2.CBORTag):
        return Tag(int(item.tag), _plain(item.value, what, budget - 1))
    raise FormatError(f"{what}: unsupported CBOR item ({type(item).__name__})", what=what)


def encode(item: Any) -> bytes:
    """Deterministic encoding (RFC 8949 §4.2.1 preferred serialization) of plain items and :class:`Tag`."""
    import cbor2

    def convert(value: Any) -> Any:
        if isinstance(value, Tag):
            return cbor2.CBORTag(value.tag, convert(value.value))
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return bytes(cbor2.dumps(convert(item)))
