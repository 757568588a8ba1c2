"""Intel PCS collateral for DCAP quotes: TCB Info v3 and Enclave (QE) Identity v2, and the collateral set.

Formats per Intel's PCS API v4 documentation (``#pcs-tcb-info-tdx-v4``, ``#pcs-enclave-identity-v4``,
``#pcs-revocation-v4``) and Intel's QVL parsers (``AttestationParsers/src/Json/{TcbInfo,TcbLevel,
EnclaveIdentityV2}.cpp``):

* a TCB Info body is ``{"tcbInfo": {…}, "signature": "<128 hex>"}``; the signature (ECDSA P-256 r ‖ s)
  covers the exact bytes of the ``tcbInfo`` value, so :func:`split_signed_body` returns that byte span
  as it stands in the file (never re-serialised). A QE Identity body is the same with
  ``enclaveIdentity``.
* :class:`CollateralSet` is the seven items a verifier needs (TCB Info and QE Identity with their
  signatures and issuer chains, the PCK CRL with its issuer chain, the root CA CRL), raw; it is built
  from the ``QuoteCollateralV3`` JSON that PCCS clients and the ``dcap-qvl`` package use
  (:func:`collateral_from_v3_json`) or from the parts (:meth:`CollateralSet.from_parts`).

Everything here is parsing: signatures, chains and dates are checked by
:mod:`pvmkit.attest.dcap_collateral`. Malformed input raises :class:`~pvmkit.errors.FormatError`.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any

from pvmkit.errors import FormatError

__all__ = [
    "IDENTITY_STATUSES",
    "PART_NAMES",
    "PLATFORM_STATUSES",
    "CollateralSet",
    "EnclaveIdentity",
    "IdentityTcbLevel",
    "PlatformTcbLevel",
    "TcbInfo",
    "TdxModuleIdentity",
    "collateral_from_parts",
    "collateral_from_v3_json",
    "decode_pem_text",
    "parse_enclave_identity",
    "parse_tcb_info",
    "split_signed_body",
]

#: Statuses a platform TCB level may carry (QVL ``TcbStatus.h``; PCS TCB Info v3).
PLATFORM_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)
#: Statuses of a QE identity or TDX module identity level.
IDENTITY_STATUSES = frozenset({"UpToDate", "OutOfDate", "Revoked"})


def _fail(what: str, message: str) -> FormatError:
    return FormatError(f"{what}: {message}", what=what)


def _time(value: object, what: str) -> _dt.datetime:
    if not isinstance(value, str):
        raise _fail(what, f"expected an RFC 3339 time, got {value!r}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise _fail(what, f"not an RFC 3339 time: {value!r}") from None
    if when.tzinfo is None:
        raise _fail(what, f"time without a zone: {value!r}")
    return when.astimezone(_dt.timezone.utc)


def _hex(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise _fail(what, f"expected {2 * size} hex digits, got {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _fail(what, f"not hex: {value!r}") from None


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(what, f"expected a non-negative integer, got {value!r}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(what, f"expected a string, got {value!r}")
    return value


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(what, "expected a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(what, "expected a JSON array")
    return value


def _advisories(level: dict[str, Any], what: str) -> tuple[str, ...]:
    ids = level.get("advisoryIDs", [])
    return tuple(_str(a, f"{what}.advisoryIDs") for a in _list(ids, f"{what}.advisoryIDs"))


def _status(level: dict[str, Any], allowed: frozenset[str], what: str) -> str:
    status = _str(level.get("tcbStatus"), f"{what}.tcbStatus")
    if status not in allowed:
        raise _fail(what, f"unrecognised tcbStatus {status!r} (Intel STATUS_TCB_UNRECOGNIZED_STATUS)")
    return status


@dataclass(frozen=True)
class IdentityTcbLevel:
    """A level of a QE identity or of a TDX module identity: ``isvsvn`` and its status."""

    isvsvn: int
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, level: object, what: str) -> IdentityTcbLevel:
        obj = _obj(level, what)
        tcb = _obj(obj.get("tcb"), f"{what}.tcb")
        return cls(
            _int(tcb.get("isvsvn"), f"{what}.tcb.isvsvn"),
            _str(obj.get("tcbDate"), f"{what}.tcbDate"),
            _status(obj, IDENTITY_STATUSES, what),
            _advisories(obj, what),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "isvsvn": self.isvsvn,
            "tcbDate": self.tcb_date,
            "tcbStatus": self.status,
            "advisoryIDs": list(self.advisory_ids),
        }


@dataclass(frozen=True)
class PlatformTcbLevel:
    """A platform TCB level: 16 SGX component SVNs, PCESVN, for TDX 16 TDX component SVNs."""

    sgx_components: tuple[int, ...]
    pcesvn: int
    tdx_components: tuple[int, ...] | None
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, level: object, tdx: bool, what: str) -> PlatformTcbLevel:
        obj = _obj(level, what)
        tcb = _obj(obj.get("tcb"), f"{what}.tcb")

        def components(key: str) -> tuple[int, ...]:
            items = _list(tcb.get(key), f"{what}.tcb.{key}")
            if len(items) != 16:
                raise _fail(what, f"{key} has {len(items)} entries, TCB Info v3 has 16")
            return tuple(_int(_obj(c, f"{what}.{key}").get("svn"), f"{what}.{key}.svn") for c in items)

        return cls(
            components("sgxtcbcomponents"),
            _int(tcb.get("pcesvn"), f"{what}.tcb.pcesvn"),
            components("tdxtcbcomponents") if tdx else None,
            _str(obj.get("tcbDate"), f"{what}.tcbDate"),
            _status(obj, PLATFORM_STATUSES, what),
            _advisories(obj, what),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sgxtcbcomponents": list(self.sgx_components),
            "pcesvn": self.pcesvn,
        }
        if self.tdx_components is not None:
            out["tdxtcbcomponents"] = list(self.tdx_components)
        out.update(tcbDate=self.tcb_date, tcbStatus=self.status, advisoryIDs=list(self.advisory_ids))
        return out


@dataclass(frozen=True)
class TdxModuleIdentity:
    """``tdxModule`` (``id`` empty, no levels) or an entry of ``tdxModuleIdentities``."""

    id: str
    mrsigner: bytes  # 48
    attributes: bytes  # 8
    attributes_mask: bytes  # 8
    tcb_levels: tuple[IdentityTcbLevel, ...] = ()

    @classmethod
    def parse(cls, value: object, what: str, with_levels: bool) -> TdxModuleIdentity:
        obj = _obj(value, what)
        levels: tuple[IdentityTcbLevel, ...] = ()
        if with_levels:
            items = _list(obj.get("tcbLevels"), f"{what}.tcbLevels")
            levels = tuple(IdentityTcbLevel.parse(lv, f"{what}.tcbLevels[{i}]") for i, lv in enumerate(items))
        return cls(
            _str(obj.get("id"), f"{what}.id") if with_levels else "",
            _hex(obj.get("mrsigner"), 48, f"{what}.mrsigner"),
            _hex(obj.get("attributes"), 8, f"{what}.attributes"),
            _hex(obj.get("attributesMask"), 8, f"{what}.attributesMask"),
            levels,
        )


@dataclass(frozen=True, eq=False)
class TcbInfo:
    """A TCB Info v3 (``id`` SGX or TDX). Compared and hashed by identity (a parsed document is one
    object; verifiers cache per document)."""

    id: str
    version: int
    issue_date: _dt.datetime
    next_update: _dt.datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tcb_levels: tuple[PlatformTcbLevel, ...]
    tdx_module: TdxModuleIdentity | None = None
    tdx_module_identities: tuple[TdxModuleIdentity, ...] = ()

    @property
    def is_tdx(self) -> bool:
        return self.id == "TDX"


def parse_tcb_info(text: bytes | str) -> TcbInfo:
    """The ``tcbInfo`` JSON object (the signed text) → :class:`TcbInfo`. Only version 3 is read (v2,
    SGX-only, is out of use; dcap-qvl refuses it too)."""
    what = "TCB Info"
    obj = _obj(_loads(text, what), what)
    tee = _str(obj.get("id"), f"{what}.id")
    if tee not in ("SGX", "TDX"):
        raise _fail(what, f"id is {tee!r}, expected SGX or TDX")
    version = _int(obj.get("version"), f"{what}.version")
    if version != 3:
        raise _fail(what, f"version {version} is not supported (pvmkit reads TCB Info version 3)")
    tdx = tee == "TDX"
    levels = _list(obj.get("tcbLevels"), f"{what}.tcbLevels")
    if not levels:
        raise _fail(what, "tcbLevels is empty")
    module = None
    identities: tuple[TdxModuleIdentity, ...] = ()
    if tdx:
        module = TdxModuleIdentity.parse(obj.get("tdxModule"), f"{what}.tdxModule", with_levels=False)
        if "tdxModuleIdentities" in obj:
            identities = tuple(
                TdxModuleIdentity.parse(v, f"{what}.tdxModuleIdentities[{i}]", with_levels=True)
                for i, v in enumerate(_list(obj["tdxModuleIdentities"], f"{what}.tdxModuleIdentities"))
            )
    return TcbInfo(
        id=tee,
        version=version,
        issue_date=_time(obj.get("issueDate"), f"{what}.issueDate"),
        next_update=_time(obj.get("nextUpdate"), f"{what}.nextUpdate"),
        fmspc=_hex(obj.get("fmspc"), 6, f"{what}.fmspc"),
        pce_id=_hex(obj.get("pceId"), 2, f"{what}.pceId"),
        tcb_type=_int(obj.get("tcbType"), f"{what}.tcbType"),
        tcb_evaluation_data_number=_int(
            obj.get("tcbEvaluationDataNumber"), f"{what}.tcbEvaluationDataNumber"
        ),
        tcb_levels=tuple(
            PlatformTcbLevel.parse(lv, tdx, f"{what}.tcbLevels[{i}]") for i, lv in enumerate(levels)
        ),
        tdx_module=module,
        tdx_module_identities=identities,
    )


@dataclass(frozen=True, eq=False)
class EnclaveIdentity:
    """An Enclave Identity v2 (``id`` QE, TD_QE, QVE or QAE). Compared and hashed by identity."""

    id: str
    version: int
    issue_date: _dt.datetime
    next_update: _dt.datetime
    tcb_evaluation_data_number: int
    miscselect: int  # the hex string read as a little-endian u32 (QVL EnclaveReportVerifier)
    miscselect_mask: int
    attributes: bytes  # 16
    attributes_mask: bytes  # 16
    mrsigner: bytes  # 32
    isvprodid: int
    tcb_levels: tuple[IdentityTcbLevel, ...]


def parse_enclave_identity(text: bytes | str) -> EnclaveIdentity:
    """The ``enclaveIdentity`` JSON object (the signed text) → :class:`EnclaveIdentity` (version 2)."""
    what = "QE Identity"
    obj = _obj(_loads(text, what), what)
    version = _int(obj.get("version"), f"{what}.version")
    if version != 2:
        raise _fail(what, f"version {version} is not supported (pvmkit reads Enclave Identity version 2)")
    levels = _list(obj.get("tcbLevels"), f"{what}.tcbLevels")
    return EnclaveIdentity(
        id=_str(obj.get("id"), f"{what}.id"),
        version=version,
        issue_date=_time(obj.get("issueDate"), f"{what}.issueDate"),
        next_update=_time(obj.get("nextUpdate"), f"{what}.nextUpdate"),
        tcb_evaluation_data_number=_int(
            obj.get("tcbEvaluationDataNumber"), f"{what}.tcbEvaluationDataNumber"
        ),
        miscselect=int.from_bytes(_hex(obj.get("miscselect"), 4, f"{what}.miscselect"), "little"),
        miscselect_mask=int.from_bytes(
            _hex(obj.get("miscselectMask"), 4, f"{what}.miscselectMask"), "little"
        ),
        attributes=_hex(obj.get("attributes"), 16, f"{what}.attributes"),
        attributes_mask=_hex(obj.get("attributesMask"), 16, f"{what}.attributesMask"),
        mrsigner=_hex(obj.get("mrsigner"), 32, f"{what}.mrsigner"),
        isvprodid=_int(obj.get("isvprodid"), f"{what}.isvprodid"),
        tcb_levels=tuple(IdentityTcbLevel.parse(lv, f"{what}.tcbLevels[{i}]") for i, lv in enumerate(levels)),
    )


def _loads(text: bytes | str, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise _fail(what, f"not JSON: {exc}") from None


def split_signed_body(body: bytes, key: str, what: str) -> tuple[bytes, bytes]:
    """A PCS body ``{"<key>": {…}, "signature": "<hex>"}`` → (the exact bytes of the ``key`` value, the
    64-byte signature). The span is found by decoding the top-level members in place, so the signed
    text is what the file holds, byte for byte."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(what, "not UTF-8 JSON") from None
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int, object]] = {}
    pos = _skip_ws(text, 0)
    if not text.startswith("{", pos):
        raise _fail(what, f'expected a JSON object {{"{key}": …, "signature": …}}')
    pos = _skip_ws(text, pos + 1)
    try:
        while not text.startswith("}", pos):
            name, pos = decoder.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if not text.startswith(":", pos):
                raise ValueError("':' expected")
            start = _skip_ws(text, pos + 1)
            value, end = decoder.raw_decode(text, start)
            spans[str(name)] = (start, end, value)
            pos = _skip_ws(text, end)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
            elif not text.startswith("}", pos):
                raise ValueError("',' or '}' expected")
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise _fail(what, f"not a JSON object: {exc}") from None
    if _skip_ws(text, pos + 1) != len(text):
        raise _fail(what, "data after the JSON object")
    if key not in spans or "signature" not in spans:
        raise _fail(what, f"expected members {key!r} and 'signature', got {sorted(spans)}")
    start, end, _ = spans[key]
    signature = _hex(spans["signature"][2], 64, f"{what}.signature")
    return text[start:end].encode("utf-8"), signature


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def decode_pem_text(data: bytes) -> bytes:
    """PEM as PCS sends it in an issuer-chain header (URL-encoded, ``%20``/``%0A``…) or plain PEM."""
    from urllib.parse import unquote_to_bytes

    raw = bytes(data).strip()
    return unquote_to_bytes(raw).strip() if b"%" in raw else raw


@dataclass(frozen=True)
class CollateralSet:
    """The seven collateral items, raw. Signed texts are the exact JSON bytes of the ``tcbInfo`` /
    ``enclaveIdentity`` value; signatures 64 bytes r ‖ s; issuer chains PEM (or DER) certificates,
    leaf first; CRLs DER or PEM."""

    tcb_info: bytes
    tcb_info_signature: bytes
    tcb_info_issuer_chain: bytes
    qe_identity: bytes
    qe_identity_signature: bytes
    qe_identity_issuer_chain: bytes
    pck_crl: bytes
    pck_crl_issuer_chain: bytes
    root_ca_crl: bytes

    @classmethod
    def from_parts(
        cls,
        *,
        tcb_info_body: bytes,
        tcb_info_issuer_chain: bytes,
        qe_identity_body: bytes,
        qe_identity_issuer_chain: bytes,
        pck_crl: bytes,
        pck_crl_issuer_chain: bytes,
        root_ca_crl: bytes,
    ) -> CollateralSet:
        """From the files PCS serves: TCB Info and QE Identity bodies, issuer chains as PEM (URL-encoded
        accepted) or DER, CRLs DER or PEM."""
        tcb_text, tcb_sig = split_signed_body(tcb_info_body, "tcbInfo", "TCB Info")
        qe_text, qe_sig = split_signed_body(qe_identity_body, "enclaveIdentity", "QE Identity")
        return cls(
            tcb_text,
            tcb_sig,
            decode_pem_text(tcb_info_issuer_chain),
            qe_text,
            qe_sig,
            decode_pem_text(qe_identity_issuer_chain),
            bytes(pck_crl),
            decode_pem_text(pck_crl_issuer_chain),
            bytes(root_ca_crl),
        )


#: The seven items by the names PCS, the CLI options and a ``--collateral DIR`` use.
PART_NAMES = (
    "tcb_info",
    "tcb_info_issuer_chain",
    "qe_identity",
    "qe_identity_issuer_chain",
    "pck_crl",
    "pck_crl_issuer_chain",
    "root_ca_crl",
)


def collateral_from_parts(parts: dict[str, bytes]) -> CollateralSet:
    """:meth:`CollateralSet.from_parts` from a mapping keyed by :data:`PART_NAMES` (TCB Info and QE
    Identity as PCS bodies)."""
    missing = [name for name in PART_NAMES if name not in parts]
    if missing:
        raise FormatError(f"collateral: missing {', '.join(missing)}", what="collateral")
    return CollateralSet.from_parts(
        tcb_info_body=parts["tcb_info"],
        tcb_info_issuer_chain=parts["tcb_info_issuer_chain"],
        qe_identity_body=parts["qe_identity"],
        qe_identity_issuer_chain=parts["qe_identity_issuer_chain"],
        pck_crl=parts["pck_crl"],
        pck_crl_issuer_chain=parts["pck_crl_issuer_chain"],
        root_ca_crl=parts["root_ca_crl"],
    )


def _crl_field(value: object, what: str) -> bytes:
    """A CRL in a QuoteCollateralV3 document: hex of the DER (dcap-qvl), or PEM text."""
    text = _str(value, what).strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise _fail(what, "neither hex DER nor PEM") from None


def collateral_from_v3_json(data: bytes | str) -> CollateralSet:
    """dcap-qvl's / PCCS clients' ``QuoteCollateralV3`` JSON → :class:`CollateralSet`. Members:
    ``tcb_info`` and ``qe_identity`` (the signed JSON text), ``tcb_info_signature`` and
    ``qe_identity_signature`` (hex r ‖ s), ``*_issuer_chain`` (PEM), ``pck_crl`` and ``root_ca_crl``
    (hex DER)."""
    what = "QuoteCollateralV3"
    obj = _obj(_loads(data, what), what)
    names = (
        "tcb_info",
        "tcb_info_signature",
        "tcb_info_issuer_chain",
        "qe_identity",
        "qe_identity_signature",
        "qe_identity_issuer_chain",
        "pck_crl",
        "pck_crl_issuer_chain",
        "root_ca_crl",
    )
    missing = [n for n in names if n not in obj]
    if missing:
        raise _fail(what, f"missing {', '.join(missing)}")
    return CollateralSet(
        tcb_info=_str(obj["tcb_info"], f"{what}.tcb_info").encode("utf-8"),
        tcb_info_signature=_hex(obj["tcb_info_signature"], 64, f"{what}.tcb_info_signature"),
        tcb_info_issuer_chain=decode_pem_text(_str(obj["tcb_info_issuer_chain"], what).encode()),
        qe_identity=_str(obj["qe_identity"], f"{what}.qe_identity").encode("utf-8"),
        qe_identity_signature=_hex(obj["qe_identity_signature"], 64, f"{what}.qe_identity_signature"),
        qe_identity_issuer_chain=decode_pem_text(_str(obj["qe_identity_issuer_chain"], what).encode()),
        pck_crl=_crl_field(obj["pck_crl"], f"{what}.pck_crl"),
        pck_crl_issuer_chain=decode_pem_text(_str(obj["pck_crl_issuer_chain"], what).encode()),
        root_ca_crl=_crl_field(obj["root_ca_crl"], f"{what}.root_ca_crl"),
    )
