"""``pvmkit verify``: check evidence and the fields you expect.

* ``--report``: an SEV-SNP(-layout) attestation report with its VCEK/VLEK and the ASK/ARK chain
  (:mod:`pvmkit.attest.verify`);
* ``--quote``: an Intel TDX quote (v4/v5) with the PCK chain it carries, up to the pinned Intel SGX
  Root CA, optionally against Intel's CRLs (:mod:`pvmkit.attest.tdx_verify`).

Exit 0 with a short summary (or ``--json``) when everything checks; exit 3 with one line naming the
first differing field on a bad signature, chain or field (``VerificationError``, turned into exit 3
by the dispatcher); exit 1 for unreadable or malformed input; exit 2 for options of the other kind.
"""

from __future__ import annotations

import datetime as _dt
import os

from pvmkit.cli._common import Parser, parse_hex, parse_int, print_json, read_file
from pvmkit.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]


def _parser() -> Parser:
    p = Parser(
        "verify",
        "Verify an SEV-SNP attestation report (1184 bytes) against its VCEK or VLEK certificate and "
        "the ASK+ARK chain, or an Intel TDX quote against its PCK chain and Intel's root, then compare "
        "the fields you expect. Certificates and CRLs may be PEM or DER.",
    )
    evidence = p.add_mutually_exclusive_group(required=True)
    evidence.add_argument("--report", metavar="FILE", help="SEV-SNP: the raw 1184-byte report")
    evidence.add_argument("--quote", metavar="FILE", help="TDX: the quote (v4 or v5), as the guest got it")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--vcek", metavar="FILE", help="the VCEK certificate (report SIGNING_KEY must be 0)")
    who.add_argument("--vlek", metavar="FILE", help="the VLEK certificate (report SIGNING_KEY must be 1)")
    who.add_argument(
        "--certs",
        metavar="FILE",
        help="the certificate table of an extended report (VCEK or VLEK, ASK, ARK; snpguest/sev-guest)",
    )
    who.add_argument(
        "--key",
        metavar="DIR",
        help="a pvmkit software attestation key directory: use its vcek.pem and cert_chain.pem, and "
        "trust its ARK",
    )
    p.add_argument("--chain", metavar="FILE", help="ASK and ARK certificates (PEM bundle or DER)")
    p.add_argument(
        "--ark-sha256",
        metavar="HEX",
        action="append",
        help="trust an ARK certificate (DER) with this SHA-256 instead of AMD's ARKs (default: AMD's "
        "Milan, Genoa and Turin ARKs); repeatable",
    )
    p.add_argument(
        "--crl", metavar="FILE", help="SNP: the ARK's CRL (AMD KDS /vcek/v1/<product>/crl, DER or PEM)"
    )
    p.add_argument(
        "--at",
        metavar="ISO-TIME",
        help="check certificate validity at this time (e.g. 2025-01-01T00:00:00Z; default now)",
    )
    p.add_argument("--measurement", metavar="HEX", help="expected MEASUREMENT (48 bytes)")
    p.add_argument("--host-data", metavar="HEX", help="expected HOST_DATA (32 bytes)")
    p.add_argument(
        "--report-data", metavar="HEX", help="expected REPORT_DATA / REPORTDATA (up to 64 bytes, zero-padded)"
    )
    p.add_argument("--policy", metavar="N", help="expected guest POLICY (the whole u64)")
    p.add_argument("--id-key-digest", metavar="HEX", help="SNP: expected ID_KEY_DIGEST (48 bytes)")
    p.add_argument("--author-key-digest", metavar="HEX", help="SNP: expected AUTHOR_KEY_DIGEST (48 bytes)")
    p.add_argument(
        "--min-tcb",
        metavar="NAME=SPL,...",
        help="SNP: minimum REPORTED_TCB levels, e.g. bootloader=3,tee=0,snp=8,microcode=115 (Turin: fmc too)",
    )
    p.add_argument(
        "--no-debug",
        action="store_true",
        help="refuse a debuggable guest: SNP POLICY bit 19 (DEBUG) or TD attribute bit 0 (DEBUG) set",
    )
    p.add_argument(
        "--expect",
        metavar="FILE",
        action="append",
        default=[],
        help="a prediction printed by 'pvmkit measure ... --output-format json' (or --json): its "
        "measurement, MRTD or RTMRs become expected values; repeatable",
    )
    tdx = p.add_argument_group("TDX quotes (--quote)")
    tdx.add_argument(
        "--root-sha256",
        metavar="HEX",
        help="trust a root CA certificate (DER) with this SHA-256 (default: Intel SGX Root CA)",
    )
    tdx.add_argument("--pck-crl", metavar="FILE", help="Intel PCS PCK CRL (platform or processor CA)")
    tdx.add_argument("--root-crl", metavar="FILE", help="Intel PCS root CA CRL")
    for name, what in _TDX_HEX_FIELDS.items():
        tdx.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="HEX", help=f"expected {what}")
    tdx.add_argument("--td-attributes", metavar="N", help="expected TDATTRIBUTES (the whole u64)")
    tdx.add_argument("--xfam", metavar="N", help="expected XFAM (the whole u64)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (docs/cli.md)")
    return p


#: ``--NAME HEX`` options of TDX quotes: body field → what it is (all 48 bytes).
_TDX_HEX_FIELDS = {
    "mr_td": "MRTD (48 bytes)",
    "rtmr0": "RTMR0 (48 bytes)",
    "rtmr1": "RTMR1 (48 bytes)",
    "rtmr2": "RTMR2 (48 bytes)",
    "rtmr3": "RTMR3 (48 bytes)",
    "mr_config_id": "MRCONFIGID (48 bytes)",
    "mr_owner": "MROWNER (48 bytes)",
    "mr_owner_config": "MROWNERCONFIG (48 bytes)",
    "mr_seam": "MRSEAM, the TDX module's measurement (48 bytes)",
}
_SNP_ONLY = (
    "vcek",
    "vlek",
    "certs",
    "key",
    "chain",
    "ark_sha256",
    "crl",
    "measurement",
    "host_data",
    "policy",
)
_TDX_ONLY = ("root_sha256", "pck_crl", "root_crl", *_TDX_HEX_FIELDS, "td_attributes", "xfam")


def _parse_time(text: str) -> _dt.datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise InputError(f"--at is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def _predictions(paths: list[str], evidence: str) -> dict[str, bytes]:
    """Expected values from pvmkit's own JSON predictions: ``measurement`` for an SNP report (``pvmkit
    measure --vendor snp|sw``, ``measure --igvm`` records), ``mr_td``/``rtmrN`` for a TDX quote
    (``measure --vendor tdx [--rtmr] --json``, ``measure --vendor tdx --igvm``, ``tdx replay --json``)."""
    import json

    out: dict[str, bytes] = {}
    for path in paths:
        text = read_file(path).decode("utf-8", "replace")
        try:
            docs = [json.loads(text)]  # one document (measure --json / --output-format json)
        except ValueError:
            try:  # JSON lines: a vCPU range prints one record per configuration
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError:
                raise InputError(f"--expect {path}: not a pvmkit JSON prediction") from None
        if not docs:
            raise InputError(f"--expect {path}: empty, not a pvmkit JSON prediction")
        if len(docs) != 1:
            raise InputError(f"--expect {path}: {len(docs)} predictions in one file; keep the one to check")
        doc = docs[0]
        if not isinstance(doc, dict):
            raise InputError(f"--expect {path}: not a pvmkit JSON prediction")
        schema, vendor = doc.get("schema"), doc.get("vendor")
        found: dict[str, object] = {}
        if evidence == "report" and vendor in ("snp", "sw") and schema in (None, "pvmkit.measure-igvm/1"):
            found = {"measurement": doc.get("digest")}
        elif evidence == "quote" and schema == "pvmkit.measure-tdx/1":
            found = {"mr_td": doc.get("mrtd")}
        elif evidence == "quote" and schema == "pvmkit.measure-tdx-rtmr/1":
            found = {f"rtmr{i}": doc[f"rtmr{i}"] for i in range(4) if doc.get(f"rtmr{i}") is not None}
        elif evidence == "quote" and schema == "pvmkit.tdx-replay/1" and isinstance(doc.get("rtmrs"), dict):
            found = {name: value for name, value in doc["rtmrs"].items() if name in _TDX_HEX_FIELDS}
        elif evidence == "quote" and schema == "pvmkit.measure-igvm/1" and vendor == "tdx":
            found = {"mr_td": doc.get("digest")}
        else:
            what = "an SNP report" if evidence == "report" else "a TDX quote"
            raise InputError(
                f"--expect {path}: a {vendor or schema or 'unknown'} prediction cannot check {what}"
            )
        for name, value in found.items():
            raw = parse_hex(str(value), 48, f"--expect {path} {name}")
            if out.get(name, raw) != raw:
                raise InputError(f"--expect files disagree on {name}")
            out[name] = raw
    return out


def _merge(expected: dict[str, bytes], name: str, given: bytes | None) -> bytes | None:
    """An explicit option and a prediction must agree; either alone is the expected value."""
    predicted = expected.get(name)
    if given is not None and predicted is not None and given != predicted:
        raise InputError(f"{_option(name)} differs from the --expect prediction of {name}")
    return given if given is not None else predicted


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _report_data(args: Any) -> bytes | None:
    if args.report_data is None:
        return None
    report_data = parse_hex(args.report_data, what="--report-data")
    if len(report_data) > 64:
        raise InputError(f"--report-data is at most 64 bytes, got {len(report_data)}")
    return report_data.ljust(64, b"\0")


def _from_cert_table(path: str, chain_path: str | None) -> tuple[bytes, bytes, str]:
    """(VCEK or VLEK, ASK+ARK, kind) from an extended report's certificate table; ``--chain``, when
    given, replaces the table's ASK and ARK."""
    from pvmkit.attest.cert_table import parse_cert_table

    table = parse_cert_table(read_file(path))
    kind = "vlek" if "vlek" in table else "vcek"
    if kind not in table:
        raise InputError(f"--certs {path}: the table holds neither a VCEK nor a VLEK ({', '.join(table)})")
    if chain_path:
        return table[kind], read_file(chain_path), kind
    missing = [name for name in ("ask", "ark") if name not in table]
    if missing:
        raise InputError(
            f"--certs {path}: the table has no {' or '.join(m.upper() for m in missing)}; give --chain FILE"
        )
    return table[kind], table["ask"] + table["ark"], kind


def _min_tcb(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"--min-tcb takes NAME=SPL,... (bootloader, tee, snp, microcode, fmc), got {item!r}"
            )
        out[name.strip().lower()] = parse_int(value, f"--min-tcb {name.strip()}")
    return out


def _ark_sha256(path: str) -> str:
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    from pvmkit.attest._x509 import load_certificates

    certs = load_certificates(read_file(path), path)
    return hashlib.sha256(certs[0].public_bytes(Encoding.DER)).hexdigest()


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    other = _SNP_ONLY if args.quote else _TDX_ONLY
    stray = [_option(n) for n in other if getattr(args, n) not in (None, False)]
    if stray:
        parser.error(f"{', '.join(stray)} cannot be used with {'--quote' if args.quote else '--report'}")
    if args.quote:
        return _main_tdx(args)
    if not (args.vcek or args.vlek or args.certs or args.key):
        parser.error("--report needs one of --vcek, --vlek, --certs or --key")
    if (args.vcek or args.vlek) and not args.chain:
        parser.error("--chain FILE is required with --vcek/--vlek")

    from pvmkit.attest.verify import Expected, verify_report

    at = _parse_time(args.at) if args.at else None
    report_data = _report_data(args)
    predicted = _predictions(args.expect, "report")
    expected = Expected(
        measurement=_merge(
            predicted,
            "measurement",
            parse_hex(args.measurement, 48, "--measurement") if args.measurement else None,
        ),
        host_data=parse_hex(args.host_data, 32, "--host-data") if args.host_data else None,
        report_data=report_data,
        policy=parse_int(args.policy, "--policy") if args.policy is not None else None,
        policy_bits_clear=1 << 19 if args.no_debug else 0,
        id_key_digest=parse_hex(args.id_key_digest, 48, "--id-key-digest") if args.id_key_digest else None,
        author_key_digest=parse_hex(args.author_key_digest, 48, "--author-key-digest")
        if args.author_key_digest
        else None,
        min_reported_tcb=_min_tcb(args.min_tcb) if args.min_tcb else None,
    )

    pins = [parse_hex(pin, 32, "--ark-sha256").hex() for pin in args.ark_sha256 or ()]
    if args.key:
        cert = read_file(os.path.join(args.key, "vcek.pem"))
        chain = read_file(args.chain or os.path.join(args.key, "cert_chain.pem"))
        kind = "vcek"
        if not pins:  # the user named this software CA: its own ARK (ark.pem) is the anchor
            pins = [_ark_sha256(os.path.join(args.key, "ark.pem"))]
    elif args.certs:
        cert, chain, kind = _from_cert_table(args.certs, args.chain)
    else:
        kind = "vcek" if args.vcek else "vlek"
        cert, chain = read_file(args.vcek or args.vlek), read_file(args.chain)
    result = verify_report(
        read_file(args.report),
        cert,
        chain,
        at=at,
        expected=expected,
        key_kind=kind,
        trusted_ark_sha256=pins or None,
        crl=read_file(args.crl) if args.crl else None,
    )
    if args.json:
        print_json({"schema": "pvmkit.verify/1", **result.to_dict()})
        return 0
    r = result.report
    policy = r.policy_info
    flags = [name for name in ("debug", "migrate_ma", "smt", "single_socket") if policy.bit(name)]
    flag_text = f" ({', '.join(flags)})" if flags else ""
    product = f" ({result.product})" if result.product else ""
    lines = [
        f"OK: SEV-SNP report v{r.version} signed by {result.signing_key.upper()}"
        f"{product}; chain verified at "
        f"{result.at.isoformat(timespec='seconds')}",
        f"  measurement  {r.measurement.hex()}",
        f"  host_data    {r.host_data.hex()}",
        f"  report_data  {r.report_data.hex()}",
        f"  policy       {r.policy:#x}{flag_text}",
        f"  reported_tcb {r.reported_tcb:#018x}",
        f"  ark          {result.ark_subject}",
        f"  ark sha256   {result.ark_sha256}",
    ]
    if result.expected_fields:
        lines.append(f"  matched      {', '.join(result.expected_fields)}")
    print("\n".join(lines))
    return 0


def _main_tdx(args: Any) -> int:
    from pvmkit.attest.tdx_verify import INTEL_SGX_ROOT_CA_SHA256, TdxExpected, verify_quote

    predicted = _predictions(args.expect, "quote")
    hex_fields = {
        name: _merge(
            predicted,
            name,
            parse_hex(getattr(args, name), 48, _option(name)) if getattr(args, name) else None,
        )
        for name in _TDX_HEX_FIELDS
    }
    expected = TdxExpected(
        **hex_fields,
        report_data=_report_data(args),
        td_attributes=parse_int(args.td_attributes, "--td-attributes")
        if args.td_attributes is not None
        else None,
        xfam=parse_int(args.xfam, "--xfam") if args.xfam is not None else None,
        td_attributes_bits_clear=1 if args.no_debug else 0,
    )
    result = verify_quote(
        read_file(args.quote),
        at=_parse_time(args.at) if args.at else None,
        expected=expected,
        trusted_root_sha256=(
            parse_hex(args.root_sha256, 32, "--root-sha256").hex()
            if args.root_sha256
            else INTEL_SGX_ROOT_CA_SHA256
        ),
        pck_crl=read_file(args.pck_crl) if args.pck_crl else None,
        root_crl=read_file(args.root_crl) if args.root_crl else None,
    )
    if args.json:
        print_json({"schema": "pvmkit.verify-tdx/1", **result.to_dict()})
        return 0
    q, body = result.quote, result.quote.body
    crls = [c.split(":")[0] for c in result.checks if "CRL:" in c]
    lines = [
        f"OK: TDX quote v{q.version} (TDX {'1.5' if body.is_tdx15 else '1.0'} body); PCK chain to "
        f"{'Intel SGX Root CA' if result.root_sha256 == INTEL_SGX_ROOT_CA_SHA256 else 'the pinned root'} "
        f"verified at {result.at.isoformat(timespec='seconds')}"
        + (f", not revoked ({', '.join(crls)})" if crls else ""),
        f"  mr_td          {body.mr_td.hex()}",
        *(f"  rtmr{i}          {r.hex()}" for i, r in enumerate(body.rtmrs)),
        f"  report_data    {body.report_data.hex()}",
        f"  td_attributes  {body.td_attributes:#018x}{' (DEBUG)' if body.td_attributes & 1 else ''}",
        f"  xfam           {body.xfam:#018x}",
        f"  mr_seam        {body.mr_seam.hex()}",
        f"  pck issuer     {result.pck_issuer}",
        f"  root sha256    {result.root_sha256}",
    ]
    lines += [f"  note           {c}" for c in result.checks if c.startswith("ignored")]
    if result.expected_fields:
        lines.append(f"  matched        {', '.join(result.expected_fields)}")
    print("\n".join(lines))
    return 0
