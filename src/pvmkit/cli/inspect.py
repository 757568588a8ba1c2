"""``pvmkit inspect FILE [--type T] [--json] [--verbose]``: pretty-print a supported structure.

Parses the options, finds the structure's :class:`~pvmkit.cli.inspectors.registry.Inspector` in the
registry its modules fill in (:mod:`pvmkit.cli.inspectors`; ``--type auto`` asks each detector in
order), and renders it as text or JSON. Types: ``quote`` (TDX quote v4/v5), ``sgx-quote`` (SGX
quote v3), ``ccel-table``,
``ccel-log``, ``igvm``, ``cca-token``, ``corim``, ``cca-platform-token``, ``snp-report``, ``tdreport``,
``ovmf``, ``tdvf``.
"""

from __future__ import annotations

from pvmkit.cli._common import MAX_IMAGE, Parser, print_json, read_file
from pvmkit.cli.inspectors import cca, ccel, corim, firmware, igvm, snp, tdx
from pvmkit.cli.inspectors.registry import FIRMWARE_TYPES, INSPECTORS, Inspector, claims, detect, register
from pvmkit.errors import InputError, PvmkitError

__all__ = ["INSPECTORS", "KNOWN_TYPES", "Inspector", "build_parser", "detect", "main", "register"]

#: the modules whose inspectors ``inspect`` offers (each registers its own at import)
INSPECTOR_MODULES = (cca, ccel, corim, firmware, igvm, snp, tdx)
KNOWN_TYPES = tuple(INSPECTORS)


def build_parser() -> Parser:
    parser = Parser("inspect", "Pretty-print a firmware image, report, quote or CC event log.")
    parser.add_argument("file", help="input file")
    parser.add_argument(
        "--type",
        default="auto",
        choices=("auto", *KNOWN_TYPES),
        help="structure type (default: detect from size and magic)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (see docs/cli.md)")
    parser.add_argument("--verbose", "-v", action="store_true", help="full hex values and certificates")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    data = read_file(args.file, "an input to inspect", MAX_IMAGE)
    parsed, unparsed = _parse(_chosen(args.file, args.type, data), data)
    if args.json:
        document = _document(args.file, parsed)
        if unparsed:
            document["unparsed"] = unparsed
        print_json(document)
        return 0
    for n, (i, obj) in enumerate(parsed):
        if n:
            print()
        print(f"{args.file}: {i.description} [{i.name}]")
        for line in i.text_of(obj, args.verbose):
            print(line)
    for name, reason in unparsed.items():
        print(f"\n{args.file}: its {name} part does not parse: {reason}")
    return 0


def _parse(chosen: list[Inspector], data: bytes) -> tuple[list[tuple[Inspector, object]], dict[str, str]]:
    """Each chosen inspector's parse of ``data``, and why each part that does not parse fails. With
    one inspector its error is the command's; of several firmware parts (``--type auto``), those that
    parse are shown and the others named, and only when none parses is the first error the
    command's (sev-snp-measure's test images carry SEV metadata and an unusable TDVF part)."""
    if len(chosen) == 1:
        return [(chosen[0], chosen[0].parse(data))], {}
    parsed: list[tuple[Inspector, object]] = []
    unparsed: dict[str, str] = {}
    first: PvmkitError | None = None
    for inspector in chosen:
        try:
            parsed.append((inspector, inspector.parse(data)))
        except PvmkitError as e:
            first = first or e
            unparsed[inspector.name] = str(e)
    if not parsed and first is not None:
        raise first
    return parsed, unparsed


def _chosen(path: str, type_name: str, data: bytes) -> list[Inspector]:
    """The inspectors for ``data``: the one ``--type`` names, else the first that claims it (and, for a
    firmware image, which can carry both SEV and TDVF metadata, every firmware part that claims it)."""
    if type_name != "auto":
        return [INSPECTORS[type_name]]
    inspector = detect(data)
    if inspector is None:
        raise InputError(
            f"{path}: not a structure pvmkit recognises ({len(data)} bytes); "
            f"pass --type ({', '.join(INSPECTORS)})"
        )
    if inspector.name in FIRMWARE_TYPES:
        return [i for n, i in INSPECTORS.items() if n in FIRMWARE_TYPES and claims(i, data)]
    return [inspector]


def _document(path: str, parsed: list[tuple[Inspector, object]]) -> dict[str, object]:
    """The ``pvmkit.inspect/1`` JSON document (docs/cli.md): one value, or one per firmware part."""
    if len(parsed) == 1:
        inspector, obj = parsed[0]
        return {
            "schema": "pvmkit.inspect/1",
            "type": inspector.name,
            "file": path,
            "value": inspector.json_of(obj),
        }
    return {
        "schema": "pvmkit.inspect/1",
        "type": "+".join(i.name for i, _ in parsed),
        "file": path,
        "value": {i.name: i.json_of(obj) for i, obj in parsed},
    }
