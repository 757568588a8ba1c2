"""``pvmkit verify --report``: an SEV-SNP(-layout) attestation report with its VCEK/VLEK and the
ASK/ARK chain (:mod:`pvmkit.attest.verify`).

:mod:`pvmkit.cli.verify` builds the one parser (``add_options``) and hands a report here (``run``).
"""

from __future__ import annotations

import os

from pvmkit.cli._common import (
    MAX_EVIDENCE,
    U64_MAX,
    UsageError,
    parse_digest,
    parse_hex,
    parse_int,
    print_json,
    read_file,
)
from pvmkit.cli._verify_common import (
    ExpectedSets,
    combine_expected,
    corim_options,
    expected_sets,
    failure_line,
    parse_time,
)
from pvmkit.cli._verify_common import report_data as _report_data
from pvmkit.errors import InputError, VerificationError

#: GUEST_SVN is a u32 (SEV-SNP ABI, ATTESTATION_REPORT offset 0x04).
_U32_MAX = (1 << 32) - 1

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from pvmkit.cli._parser import Parser

__all__ = ["EVIDENCE", "OPTIONS", "add_options", "run"]

#: The evidence option's destination that selects this kind.
EVIDENCE = "report"
#: Destinations of the options only an SNP report takes (the dispatcher refuses them elsewhere).
OPTIONS = (
    "vcek",
    "vlek",
    "certs",
    "key",
    "chain",
    "ark_sha256",
    "crl",
    "kds_cache",
    "kds_url",
    "product",
    "policy_file",
    "measurement",
    "host_data",
    "report_id_ma",
    "policy",
    "guest_policy",
    "allow_migrate_ma",
    "policy_bits_clear",
    "id_key_digest",
    "author_key_digest",
    "trusted_id_key",
    "trusted_author_key",
    "require_author_key",
    "require_id_block",
    "min_tcb",
    "min_current_tcb",
    "min_committed_tcb",
    "min_launch_tcb",
    "provisional",
    "platform_info",
    "vmpl",
    "min_build",
    "min_version",
    "min_guest_svn",
    "report_id",
    "family_id",
    "image_id",
    "chip_id",
    "min_launch_mitigation_vector",
    "min_current_mitigation_vector",
)


def add_options(p: Parser, evidence: argparse._MutuallyExclusiveGroup) -> None:
    evidence.add_argument("--report", metavar="FILE", help="SEV-SNP: the raw 1184-byte report")
    snp = p.add_argument_group("SEV-SNP reports (--report)")
    who = snp.add_mutually_exclusive_group()
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
    who.add_argument(
        "--kds-cache",
        metavar="DIR",
        help="read the VCEK from an offline store in Trustee's layout: DIR/vcek/<hwid>/<tcb>_vcek.der, "
        "else DIR/vcek/<hwid>/vcek.der; the chain from --chain, else DIR/vcek/v1/<product>/cert_chain",
    )
    snp.add_argument("--chain", metavar="FILE", help="ASK and ARK certificates (PEM bundle or DER)")
    snp.add_argument(
        "--kds-url",
        action="store_true",
        help="print where AMD's KDS publishes this report's VCEK, chain and CRL (and the --kds-cache "
        "file names), then exit 0; needs no certificate and fetches nothing",
    )
    snp.add_argument(
        "--product",
        metavar="NAME",
        help="AMD product for --kds-url/--kds-cache: Milan, Genoa (Bergamo, Siena) or Turin (default: "
        "from the report's CPUID fields, version 3 and later)",
    )
    snp.add_argument(
        "--ark-sha256",
        metavar="HEX",
        action="append",
        help="trust an ARK certificate (DER) with this SHA-256 instead of AMD's ARKs (default: AMD's "
        "Milan, Genoa and Turin ARKs); repeatable",
    )
    snp.add_argument(
        "--crl",
        metavar="FILE",
        help="the ARK's CRL (AMD KDS /vcek/v1/<product>/crl, DER or PEM; default: none)",
    )
    appraise = p.add_argument_group(
        "SEV-SNP appraisal (--report; go-sev-guest check semantics, docs/attestation.md)"
    )
    _add_expected_values(appraise)
    _add_trust_and_tcb(appraise)


def _add_expected_values(appraise: Any) -> None:
    """The appraisal's expected report fields (policy file, measurement, host data, policy, keys)."""
    appraise.add_argument(
        "--policy-file",
        metavar="FILE",
        help="an appraisal policy (JSON, schema pvmkit.snp-policy/1); the options below override it",
    )
    appraise.add_argument(
        "--measurement",
        metavar="HEX",
        action="append",
        help="expected MEASUREMENT (48 bytes); repeatable: any of them",
    )
    appraise.add_argument(
        "--host-data",
        metavar="HEX",
        action="append",
        help="expected HOST_DATA (32 bytes); repeatable: any of them",
    )
    appraise.add_argument("--report-id-ma", metavar="HEX", help="expected REPORT_ID_MA (32 bytes)")
    # go-sev-guest check's -report_id, -family_id, -image_id, -chip_id (tools/check/check.go)
    for name, size in (("report-id", 32), ("family-id", 16), ("image-id", 16), ("chip-id", 64)):
        appraise.add_argument(
            f"--{name}",
            metavar="HEX",
            action="append",
            help=f"expected {name.upper().replace('-', '_')} ({size} bytes); repeatable: any of them",
        )
    appraise.add_argument("--policy", metavar="N", help="expected guest POLICY, the whole u64 exactly")
    appraise.add_argument(
        "--guest-policy",
        metavar="N",
        help="the most permissive acceptable POLICY: ABI minimum, SMT/CXL allowed, SINGLE_SOCKET etc. "
        "required (default 0x30000; DEBUG and MIGRATE_MA follow --allow-debug/--allow-migrate-ma)",
    )
    appraise.add_argument(
        "--allow-migrate-ma",
        action="store_true",
        help="accept a guest whose policy allows a migration agent (POLICY bit 18; default: refused)",
    )
    appraise.add_argument("--policy-bits-clear", metavar="N", help="POLICY bits that must be clear (a mask)")
    appraise.add_argument(
        "--id-key-digest",
        metavar="HEX",
        action="append",
        help="expected ID_KEY_DIGEST (48 bytes); repeatable: any of them",
    )
    appraise.add_argument(
        "--author-key-digest",
        metavar="HEX",
        action="append",
        help="expected AUTHOR_KEY_DIGEST (48 bytes); repeatable: any of them",
    )


def _add_trust_and_tcb(appraise: Any) -> None:
    """Trusted ID/author keys, TCB minimums and the firmware's platform, VMPL, build and version."""
    for who_signs in ("id", "author"):
        appraise.add_argument(
            f"--trusted-{who_signs}-key",
            metavar="FILE|HEX",
            action="append",
            help=f"a trusted {who_signs.upper()} key (go-sev-guest trusted_{who_signs}_keys): a P-384 public "
            "key or certificate (PEM or DER), or its 48-byte SHA-384 digest in SEV form; repeatable. "
            "Requires the launch's ID block be signed by a trusted ID key or a trusted, enabled author key",
        )
    appraise.add_argument(
        "--require-author-key",
        action="store_true",
        help="require AUTHOR_KEY_EN = 1 and a trusted AUTHOR_KEY_DIGEST (default: not required)",
    )
    appraise.add_argument(
        "--require-id-block",
        action="store_true",
        help="require an ID block signed by a trusted ID key or trusted, enabled author key (go-sev-guest "
        "-require_idblock; implied by --trusted-*-key; default: not required)",
    )
    for which, what in (
        ("", "REPORTED_TCB"),
        ("current-", "CURRENT_TCB"),
        ("committed-", "COMMITTED_TCB"),
        ("launch-", "LAUNCH_TCB"),
    ):
        appraise.add_argument(
            f"--min-{which}tcb",
            metavar="NAME=SPL,...|U64",
            help=f"minimum {what}, component-wise: SPLs by name (bootloader=3,tee=0,snp=8,microcode=115; "
            "Turin: fmc too) or a TCB_VERSION u64 (every byte)",
        )
    appraise.add_argument(
        "--provisional",
        action="store_true",
        help="permit provisional firmware: COMMITTED TCB/version/build may be below CURRENT's "
        "(default: they must be equal)",
    )
    appraise.add_argument(
        "--platform-info",
        metavar="N",
        help="the most permissive acceptable PLATFORM_INFO: SMT_EN/TSME_EN allowed, ECC_EN/RAPL_DIS/"
        "CIPHERTEXT_HIDING_DRAM_EN/ALIAS_CHECK_COMPLETE required (default: not checked)",
    )
    _add_firmware_and_guest(appraise)


def _add_firmware_and_guest(appraise: Any) -> None:
    """VMPL, firmware build and version, GUEST_SVN and the mitigation-vector minimums."""
    appraise.add_argument("--vmpl", metavar="N", help="expected VMPL (0-3)")
    appraise.add_argument("--min-build", metavar="N", help="minimum CURRENT_BUILD of the firmware (0-255)")
    appraise.add_argument(
        "--min-version",
        metavar="MAJOR.MINOR",
        help="minimum firmware API version CURRENT_MAJOR.CURRENT_MINOR",
    )
    appraise.add_argument("--min-guest-svn", metavar="N", help="minimum GUEST_SVN (0 to 2^32-1)")
    for which in ("launch", "current"):
        appraise.add_argument(
            f"--min-{which}-mitigation-vector",
            metavar="N",
            help=f"bits that must be set in {which.upper()}_MIT_VECTOR (report version 5; an older "
            "report fails a non-zero minimum)",
        )


def _from_cert_table(path: str, chain_path: str | None) -> tuple[bytes, bytes, str]:
    """(VCEK or VLEK, ASK+ARK, kind) from an extended report's certificate table; ``--chain``, when
    given, replaces the table's ASK and ARK."""
    from pvmkit.attest.cert_table import parse_cert_table

    table = parse_cert_table(read_file(path, "a certificate table", MAX_EVIDENCE))
    kind = "vlek" if "vlek" in table else "vcek"
    if kind not in table:
        raise InputError(f"--certs {path}: the table holds neither a VCEK nor a VLEK ({', '.join(table)})")
    if chain_path:
        return table[kind], read_file(chain_path, "a certificate chain", MAX_EVIDENCE), kind
    missing = [name for name in ("ask", "ark") if name not in table]
    if missing:
        raise InputError(
            f"--certs {path}: the table has no {' or '.join(m.upper() for m in missing)}; give --chain FILE"
        )
    return table[kind], table["ask"] + table["ark"], kind


def _min_tcb(text: str, option: str) -> int | dict[str, int]:
    """``NAME=SPL,...`` → SPLs by name (each 0..255: a TCB_VERSION component is one byte, SEV-SNP ABI
    spec), or a bare number → a TCB_VERSION u64. A value that does not parse or is out of range is a
    usage error (docs/cli.md)."""
    form = f"{option} takes NAME=SPL,... (bootloader, tee, snp, microcode, fmc) or a u64"
    if not text.strip():
        raise UsageError(f"{form}, got an empty value")
    if "=" not in text:
        try:
            value = int(text, 0)
        except ValueError:
            raise UsageError(f"{form}, got {text!r}") from None
        if not 0 <= value < 2**64:
            raise UsageError(f"{option}: {value} does not fit 64 bits")
        return value
    out = {}
    for item in text.split(","):
        name, sep, value_text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{form}, got {item!r}")
        out[name.strip().lower()] = parse_int(value_text, f"{option} {name.strip()}", 0, 255)
    return out


def _ark_sha256(path: str) -> str:
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    from pvmkit.attest._x509 import load_certificates

    certs = load_certificates(read_file(path, "certificates", MAX_EVIDENCE), path)
    return hashlib.sha256(certs[0].public_bytes(Encoding.DER)).hexdigest()


def _accepted(values: list[str] | None, size: int, option: str) -> bytes | frozenset[bytes] | None:
    """A repeatable ``--NAME HEX``: one value, or the set of acceptable values."""
    if not values:
        return None
    parsed = [parse_digest(v, size, option) for v in values]
    return parsed[0] if len(parsed) == 1 else frozenset(parsed)


def _option_version(text: str) -> tuple[int, int]:
    """``--min-version MAJOR.MINOR``; a value that does not parse is a usage error."""
    from pvmkit.attest.snp_policy import parse_version

    try:
        return parse_version(text, "--min-version")
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _trusted_keys(values: list[str] | None, option: str) -> frozenset[bytes] | None:
    """``--trusted-*-key FILE|HEX``: the SHA-384 digests of SNP public-key structures (the form of
    ID_KEY_DIGEST / AUTHOR_KEY_DIGEST) of the keys in the files (a P-384 certificate or public key,
    PEM or DER), or digests given as hex."""
    if not values:
        return None
    from pvmkit.attest._x509 import load_public_key
    from pvmkit.vendors.amd.id_block import key_digest

    digests = set()
    for value in values:
        if not os.path.exists(value):
            digests.add(parse_hex(value, 48, f"{option} (neither a file nor a 48-byte hex digest)"))
            continue
        data = read_file(value, "a key", MAX_EVIDENCE)
        digests.add(key_digest(load_public_key(data, f"{option} {value}")))
    return frozenset(digests)


def _one_setting(
    parser: Parser, bit: str, flag: bool, option: str, sources: list[tuple[str, bool | None]]
) -> None:
    """DEBUG (and MIGRATE_MA) are each one setting: the flag, --guest-policy and the policy file
    must agree (exit 2 otherwise)."""
    for where, allowed in sources:
        if allowed is not None and allowed != flag:
            parser.error(
                f"{where} {'allows' if allowed else 'refuses'} {bit} but {option} is "
                f"{'not ' if allowed else ''}given; they must agree"
            )


def _expected(args: Any, parser: Parser) -> tuple[Any, ExpectedSets]:
    """The expected values, and the ``--expect`` sets they came from (the result names what matched)."""
    from pvmkit.attest.snp_validate import SnpExpected

    if args.allow_debug and args.no_debug:
        parser.error("--allow-debug and --no-debug contradict each other")
    fields = _policy_fields(args, parser)
    sets = expected_sets(args.expect, "report", corim_options(args))
    overrides = _overrides(args, parser, sets)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if fields.get("vmpl", 0) > 3:
        raise InputError(f"--vmpl {fields['vmpl']} is not 0..3")
    return SnpExpected(**fields), sets


def _policy_fields(args: Any, parser: Parser) -> dict[str, Any]:
    """The policy file's fields, with the guest policy DEBUG/MIGRATE_MA settings made consistent."""
    from pvmkit.attest.snp_policy import effective_guest_policy, read_policy
    from pvmkit.attest.snp_report import POLICY_BITS
    from pvmkit.attest.snp_validate import option_problem

    fields: dict[str, Any] = {}
    file_says: dict[str, bool | None] = {"debug": None, "migrate_ma": None}
    if args.policy_file:
        policy_file = read_policy(args.policy_file)
        fields.update(policy_file.fields)
        file_says = {"debug": policy_file.allow_debug, "migrate_ma": policy_file.allow_migrate_ma}
    flag_policy = (
        parse_int(args.guest_policy, "--guest-policy", 0, U64_MAX) if args.guest_policy is not None else None
    )
    for option, text in (("--guest-policy", args.guest_policy), ("--platform-info", args.platform_info)):
        problem = (
            None if text is None else option_problem(option[2:].replace("-", "_"), parse_int(text, option))
        )
        if problem:
            raise UsageError(f"{option} {problem}")
    for bit, flag, option in (
        ("DEBUG", args.allow_debug, "--allow-debug"),
        ("MIGRATE_MA", args.allow_migrate_ma, "--allow-migrate-ma"),
    ):
        name = bit.lower()
        from_flag = None if flag_policy is None else bool(flag_policy >> POLICY_BITS[name] & 1)
        _one_setting(
            parser,
            bit,
            flag,
            option,
            [(f"--policy-file {args.policy_file}", file_says[name]), ("--guest-policy", from_flag)],
        )
    guest_policy = flag_policy if flag_policy is not None else fields.get("guest_policy")
    fields["guest_policy"] = effective_guest_policy(guest_policy, args.allow_debug, args.allow_migrate_ma)
    return fields


def _overrides(args: Any, parser: Parser, sets: ExpectedSets) -> dict[str, Any]:
    """The expected values the options give (None: not given), over the policy file's."""
    from pvmkit.attest.snp_validate import VERBATIM_FIELDS

    measurement = combine_expected(
        sets, "measurement", _accepted(args.measurement, 48, "--measurement"), parser
    )
    host_data = combine_expected(sets, "host_data", _accepted(args.host_data, 32, "--host-data"), parser)
    overrides: dict[str, Any] = {
        "measurement": measurement,
        "host_data": host_data,
        "report_id_ma": _accepted([args.report_id_ma] if args.report_id_ma else None, 32, "--report-id-ma"),
        "report_data": _report_data(args),
        "id_key_digest": _accepted(args.id_key_digest, 48, "--id-key-digest"),
        "author_key_digest": _accepted(args.author_key_digest, 48, "--author-key-digest"),
        "policy": parse_int(args.policy, "--policy", 0, U64_MAX) if args.policy is not None else None,
        "policy_bits_clear": parse_int(args.policy_bits_clear, "--policy-bits-clear", 0, U64_MAX)
        if args.policy_bits_clear is not None
        else None,
        "platform_info": parse_int(args.platform_info, "--platform-info", 0, U64_MAX)
        if args.platform_info is not None
        else None,
        "vmpl": parse_int(args.vmpl, "--vmpl", 0, 3) if args.vmpl is not None else None,
        "min_build": parse_int(args.min_build, "--min-build", 0, 255) if args.min_build is not None else None,
        "min_version": _option_version(args.min_version) if args.min_version else None,
        "permit_provisional_firmware": True if args.provisional else None,
        "trusted_id_keys": _trusted_keys(args.trusted_id_key, "--trusted-id-key"),
        "trusted_author_keys": _trusted_keys(args.trusted_author_key, "--trusted-author-key"),
        "require_id_block": True
        if args.trusted_id_key or args.trusted_author_key or args.require_author_key or args.require_id_block
        else None,
        "require_author_key": True if args.require_author_key else None,
        "min_guest_svn": parse_int(args.min_guest_svn, "--min-guest-svn", 0, _U32_MAX)
        if args.min_guest_svn is not None
        else None,
    }
    for name in ("report_id", "family_id", "image_id", "chip_id"):
        option = "--" + name.replace("_", "-")
        overrides[name] = _accepted(getattr(args, name), VERBATIM_FIELDS[name], option)
    for which in ("launch", "current"):
        text = getattr(args, f"min_{which}_mitigation_vector")
        if text is not None:
            option = f"--min-{which}-mitigation-vector"
            overrides[f"min_{which}_mit_vector"] = parse_int(text, option, 0, U64_MAX)
    for which in ("", "current_", "committed_", "launch_"):
        text = getattr(args, f"min_{which}tcb")
        if text is not None:
            overrides[f"min_{which or 'reported_'}tcb"] = _min_tcb(
                text, f"--min-{which.replace('_', '-')}tcb"
            )
    return overrides


def _certificates(args: Any, report: bytes) -> tuple[bytes, bytes, str, list[str]]:
    """(VCEK or VLEK, ASK+ARK, kind, pinned ARK SHA-256s) from --vcek/--vlek/--certs/--key/--kds-cache."""
    pins = [parse_digest(pin, 32, "--ark-sha256").hex() for pin in args.ark_sha256 or ()]
    if args.kds_cache:
        from pvmkit.attest.snp_kds import read_chain_store, read_vcek_store

        location = _kds(args, report)
        cert, _path = read_vcek_store(args.kds_cache, location)
        if args.chain:
            return cert, read_file(args.chain, "a certificate chain", MAX_EVIDENCE), "vcek", pins
        return cert, read_chain_store(args.kds_cache, location)[0], "vcek", pins
    if args.key:
        cert = read_file(os.path.join(args.key, "vcek.pem"), "a certificate", MAX_EVIDENCE)
        chain = read_file(args.chain or os.path.join(args.key, "cert_chain.pem"), "a chain", MAX_EVIDENCE)
        if not pins:  # the user named this software CA: its own ARK (ark.pem) is the anchor
            pins = [_ark_sha256(os.path.join(args.key, "ark.pem"))]
        return cert, chain, "vcek", pins
    if args.certs:
        cert, chain, kind = _from_cert_table(args.certs, args.chain)
        return cert, chain, kind, pins
    kind = "vcek" if args.vcek else "vlek"
    cert = read_file(args.vcek or args.vlek, "a certificate", MAX_EVIDENCE)
    return cert, read_file(args.chain, "a certificate chain", MAX_EVIDENCE), kind, pins


def _text(result: Any) -> list[str]:
    r = result.report
    failed = len(result.checks.failures)
    not_performed = sum(1 for c in result.checks if c.status == "not_performed")
    passed = len(result.checks) - failed - not_performed
    product = f" ({result.product})" if result.product else ""
    version = f" v{r.version}" if r is not None else ""
    lines = [
        f"{'OK' if result.ok else 'FAILED'}: SEV-SNP report{version} signed by {result.signing_key.upper()}"
        f"{product} at {result.at.isoformat(timespec='seconds')}: {passed} checks passed, {failed} failed, "
        f"{not_performed} not performed"
    ]
    if r is not None:
        policy = r.policy_info
        flags = [name for name in ("debug", "migrate_ma", "smt", "single_socket") if policy.bit(name)]
        flag_text = f" ({', '.join(flags)})" if flags else ""
        lines += [
            f"  measurement  {r.measurement.hex()}",
            f"  host_data    {r.host_data.hex()}",
            f"  report_data  {r.report_data.hex()}",
            f"  policy       {r.policy:#x}{flag_text}",
            f"  reported_tcb {r.reported_tcb:#018x}",
        ]
    if result.ark_sha256:
        lines += [f"  ark          {result.ark_subject}", f"  ark sha256   {result.ark_sha256}"]
    if result.expected_fields:
        lines.append(f"  matched      {', '.join(result.expected_fields)}")
    return [*lines, "checks:", *result.checks.text_lines()]


def _kds(args: Any, report: bytes) -> Any:
    from pvmkit.attest.snp_kds import kds_location
    from pvmkit.attest.snp_report import SnpReport

    return kds_location(SnpReport.parse(report), args.product)


def _print_kds(args: Any, report: bytes) -> int:
    location = _kds(args, report)
    if args.json:
        print_json({"schema": "pvmkit.kds-url/1", **location.to_dict()})
        return 0
    spls = ", ".join(f"{name} {value}" for name, value in location.spls.items())
    found = {
        "given": "given",
        "report": "from the report's CPUID fields",
        "chip_id": "from the report's 8-byte CHIP_ID",
        "assumed": "assumed: a version 2 report does not say Milan or Genoa; --product chooses",
    }[location.product_from]
    vlek = "none: the report is VLEK-signed (VLEKs are issued to the cloud provider)"
    lines = [
        f"product     {location.product} ({found})",
        f"hwid        {location.hwid}",
        f"tcb         {spls} (REPORTED_TCB)",
        f"vcek        {location.vcek_url or vlek}",
        f"cert_chain  {location.cert_chain_url}",
        f"crl         {location.crl_url}",
        "kds-cache   " + "  then  ".join(location.to_dict()["store_files"]),
        f"            chain {location.chain_path('')}",
    ]
    print("\n".join(lines))
    return 0


def run(args: Any, parser: Parser) -> int:
    if args.kds_url:
        # It only prints where certificates live: an option that asks for a check would look checked.
        shared = ("at", "report_data", "expect", "allow_debug", "no_debug")
        others = [
            d for d in (*OPTIONS, *shared) if d not in ("kds_url", "product") and getattr(args, d, None)
        ]
        if others:
            given = ", ".join("--" + d.replace("_", "-") for d in others)
            parser.error(f"--kds-url only prints URLs and verifies nothing; it takes no {given}")
        return _print_kds(args, read_file(args.report, "a report", MAX_EVIDENCE))
    if not (args.vcek or args.vlek or args.certs or args.key or args.kds_cache):
        parser.error("--report needs one of --vcek, --vlek, --certs, --key or --kds-cache (or --kds-url)")
    if (args.vcek or args.vlek) and not args.chain:
        parser.error("--chain FILE is required with --vcek/--vlek")
    if args.product and not args.kds_cache:
        parser.error("--product is for --kds-url and --kds-cache")

    from pvmkit.attest.verify import verify_snp

    expected, sets = _expected(args, parser)
    report = read_file(args.report, "a report", MAX_EVIDENCE)
    cert, chain, kind, pins = _certificates(args, report)
    result = verify_snp(
        report,
        cert,
        chain,
        at=parse_time(args.at) if args.at else None,
        expected=expected,
        key_kind=kind,
        trusted_ark_sha256=pins or None,
        crl=read_file(args.crl, "a CRL", MAX_EVIDENCE) if args.crl else None,
    )
    if args.json:
        extra = {"expect": sets.summary(sets.checked_by(result.checks))} if args.expect else {}
        print_json({"schema": "pvmkit.verify/2", "evidence": "snp-report", **result.to_dict(), **extra})
    else:
        lines = _text(result)
        at = lines.index("checks:")
        lines[at:at] = sets.text_lines(sets.checked_by(result.checks), 12)
        print("\n".join(lines))
    if not result.ok:
        raise VerificationError(failure_line(result.checks))
    return 0
