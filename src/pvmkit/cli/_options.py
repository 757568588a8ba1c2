"""One option table per command, read by both parsers of the measurement hot paths.

A cold ``pvmkit measure --vendor snp`` / ``pvmkit sev-snp-measure`` must not import argparse (≈5 ms;
bench/bench_amd.py, docs/amd.md "Cold start"), so those commands read plain command lines with
:meth:`OptionTable.scan` and build the argparse parser (:meth:`OptionTable.parser`) only for help,
errors and unusual forms. Both are built from the same :class:`Opt` rows, so they cannot drift: an
option, alias, default, choice list or conversion exists once.

This module imports nothing heavy (no argparse, typing, dataclasses); rows are plain objects.
"""

from __future__ import annotations

from pvmkit.cli._common import UsageErrors, scan_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from pvmkit.cli._parser import Parser

__all__ = ["Args", "Opt", "OptionTable", "add_rows"]


class Opt:
    """One option: its spellings (the first is the documented one, the others aliases), destination,
    help, default, metavar, choices, whether it is a flag (``store_true``), a conversion of its text
    (``convert``: ValueError for a value that does not parse), the help group it is listed under and
    the mutually exclusive set it belongs to (``exclusive``: a name shared by the rows that exclude
    each other)."""

    __slots__ = (
        "choices", "convert", "default", "dest", "exclusive", "flag", "group", "help", "metavar", "names",
        "required",
    )  # fmt: skip

    def __init__(
        self,
        *names: str,
        help: str,
        dest: str | None = None,
        default: object = None,
        metavar: str | None = None,
        choices: Sequence[str] | None = None,
        flag: bool = False,
        convert: Callable[[str], object] | None = None,
        group: str | None = None,
        exclusive: str | None = None,
        required: bool = False,
    ) -> None:
        self.names = names
        long_names = [name for name in names if name.startswith("--")] or names  # as argparse names it
        self.dest = dest or long_names[0].lstrip("-").replace("-", "_")
        self.help = help
        self.default = False if flag else default
        self.metavar = metavar
        self.choices = tuple(choices) if choices is not None else None
        self.flag = flag
        self.convert = convert
        self.group = group
        self.exclusive = exclusive
        self.required = required


class Args:
    """What ``parse_args`` returns, for command lines :meth:`OptionTable.scan` read."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


class OptionTable:
    """The rows of one command, with ``groups`` (title → description) giving the help sections."""

    def __init__(self, command: str, description: str, rows: Sequence[Opt], groups: dict[str, str]) -> None:
        self.command = command
        self.description = description
        self.rows = tuple(rows)
        self.groups = groups

    def scan(self, argv: list[str]) -> Any:
        """The parsed options of a plain command line (every option spelt out in full, valid choices
        and conversions, required options given, no two exclusive ones), else None: then the caller
        runs :meth:`parser`, which handles help, errors, abbreviations and the rest. The result is an
        :class:`Args` with the attributes ``parse_args`` would set (typed ``Any``, like a Namespace)."""
        values = {name: row.dest for row in self.rows if not row.flag for name in row.names}
        flags = {name: row.dest for row in self.rows if row.flag for name in row.names}
        found = scan_options(argv, values, flags)
        if found is None:
            return None
        exclusive: dict[str, str] = {}
        for row in self.rows:
            if row.dest not in found:
                if row.required:
                    return None
                continue
            if row.exclusive is not None:
                if row.exclusive in exclusive and exclusive[row.exclusive] != row.dest:
                    return None
                exclusive[row.exclusive] = row.dest
            if row.flag:
                continue
            if row.choices is not None and found[row.dest] not in row.choices:
                return None
            if row.convert is not None:
                try:
                    found[row.dest] = row.convert(str(found[row.dest]))
                except ValueError:
                    return None
        return Args({**{row.dest: row.default for row in self.rows}, **found})

    def parse(self, argv: list[str], build: Callable[[], Any] | None = None) -> tuple[Any, Any]:
        """(parsed options, usage-error reporter): :meth:`scan` when it reads the command line, else
        the full parser (``build()``, default :meth:`parser`), which also handles help and errors.
        The reporter's ``error(message)`` prints one usage line and exits 2 either way."""
        args = self.scan(argv)
        if args is not None:
            return args, UsageErrors(self.command)
        p = (build or self.parser)()
        return p.parse_args(argv), p

    def parser(self) -> Parser:
        """The full argparse parser of the same rows (help sections in ``groups`` order)."""
        from pvmkit.cli._parser import Parser

        p = Parser(self.command, self.description)
        add_rows(p, self.rows, self.groups)
        return p


def add_rows(p: argparse.ArgumentParser, rows: Sequence[Opt], groups: dict[str, str]) -> None:
    """Add ``rows`` to an argparse parser, each under its group (``groups``: title → description)."""
    sections: dict[str | None, argparse._ActionsContainer] = {None: p}
    for title, text in groups.items():
        sections[title] = p.add_argument_group(title, text or None)
    exclusive: dict[str, argparse._ActionsContainer] = {}
    for row in rows:
        where = sections[row.group]
        if row.exclusive is not None:
            if row.exclusive not in exclusive:
                exclusive[row.exclusive] = where.add_mutually_exclusive_group()
            where = exclusive[row.exclusive]
        if row.flag:
            where.add_argument(*row.names, dest=row.dest, action="store_true", help=row.help)
            continue
        kwargs: dict[str, Any] = {"dest": row.dest, "help": row.help, "default": row.default}
        if row.metavar is not None:
            kwargs["metavar"] = row.metavar
        if row.choices is not None:
            kwargs["choices"] = row.choices
        if row.convert is not None:
            kwargs["type"] = row.convert
        if row.required:
            kwargs["required"] = True
        where.add_argument(*row.names, **kwargs)


# -- shared option groups ------------------------------------------------------------------------------
AMD_VENDORS = ("sev", "sev-es", "snp", "sw")
CPU_GROUP = "guest vCPU model (sev-es/snp/sw with the qemu profile)"
KERNEL_GROUP = "direct kernel boot (QEMU kernel-hashes=on)"
SVSM_GROUP = "Coconut SVSM (snp)"


#: The AMD launch options after ``--vendor`` (a row may be shared: rows are not changed once built).
_AMD_ROWS = (
    Opt(
        "--firmware",
        "--ovmf",
        metavar="FILE",
        help="OVMF image (QEMU -bios / pflash unit 0); needed by every vendor but sw",
    ),
    Opt("--vcpus", metavar="N|A-B", default="1", help="vCPUs at launch (1-4096), or an inclusive range"),
    Opt("--vcpu-type", metavar="T", group=CPU_GROUP, help="QEMU -cpu model, e.g. EPYC-v4, EPYC-Milan"),
    Opt("--vcpu-sig", metavar="X", group=CPU_GROUP, help="CPUID.1:EAX signature (32 bits), e.g. 0x800f12"),
    Opt("--vcpu-family", metavar="F", group=CPU_GROUP, help="CPU family, 0-270 (with model and stepping)"),
    Opt("--vcpu-model", metavar="M", group=CPU_GROUP, help="CPU model, 0-255 (with family and stepping)"),
    Opt("--vcpu-stepping", metavar="S", group=CPU_GROUP, help="CPU stepping, 0-15 (with family and model)"),
    Opt("--vmm-type", metavar="qemu|ec2|gce", default="qemu", help="VMM profile"),
    Opt(
        "--vmsa-features",
        metavar="HEX|NAMES",
        help="VMSA features given to KVM_SEV_INIT2 (e.g. 0x20 or DEBUG_SWAP; default none); "
        "snp/sw imply SNPActive",
    ),
    Opt(
        "--init-path",
        choices=("legacy", "init2"),
        help="KVM init path (sev/sev-es; default: legacy unless VMSA features are given; snp/sw: init2)",
    ),
    Opt(
        "--kernel",
        metavar="FILE",
        group=KERNEL_GROUP,
        help="kernel (QEMU -kernel); default: no direct boot",
    ),
    Opt("--initrd", metavar="FILE", group=KERNEL_GROUP, help="initrd (QEMU -initrd; needs --kernel)"),
    Opt(
        "--cmdline",
        "--append",
        metavar="CMDLINE",
        group=KERNEL_GROUP,
        help="kernel command line (QEMU -append; needs --kernel; default empty)",
    ),
    Opt(
        "--ovmf-hash",
        metavar="HEX",
        help="snp/sw: precomputed 48-byte firmware digest to resume from (default: from the firmware)",
    ),
    Opt("--svsm", metavar="FILE", group=SVSM_GROUP, help="SVSM image (default: no SVSM)"),
    Opt("--vars-size", metavar="N", group=SVSM_GROUP, exclusive="vars", help="size of OVMF_VARS in bytes"),
    Opt(
        "--vars-file",
        metavar="FILE",
        group=SVSM_GROUP,
        exclusive="vars",
        help="OVMF_VARS file (its size is used)",
    ),
)

#: Inputs given as digests instead of files (predictions only).
_DIGEST_ROWS = (
    Opt(
        "--ovmf-description",
        metavar="FILE",
        help="snp/sw: the firmware as described by 'pvmkit inspect --json' (its SEV metadata, "
        "reset EIP, footer table and snp_hash_seed) instead of the image",
    ),
    Opt(
        "--kernel-sha256",
        metavar="HEX",
        group=KERNEL_GROUP,
        help="the kernel's SHA-256 instead of the kernel (the kernel hashes table is all it changes)",
    ),
    Opt(
        "--initrd-sha256",
        metavar="HEX",
        group=KERNEL_GROUP,
        help="the initrd's SHA-256 instead of the initrd (needs --kernel or --kernel-sha256)",
    ),
)

_POLICY_ROW = Opt(
    "--policy",
    metavar="N",
    help="guest policy (u32 for sev/sev-es, u64 for snp/sw; default sev 0x1, sev-es 0x5, snp/sw 0x30000)",
)


def amd_launch_rows(
    vendors: tuple[str, ...] = AMD_VENDORS,
    *,
    vendor_required: bool = True,
    policy: bool = True,
    digests: bool = False,
) -> list[Opt]:
    """The options that describe an AMD (or sw) launch: ``pvmkit measure``, ``pvmkit
    sev-launch-measure`` and ``pvmkit launch --vendor sev|sev-es|snp`` (groups: :data:`AMD_GROUPS`).
    ``digests`` adds the inputs-as-digests options of predictions (``--ovmf-description``,
    ``--kernel-sha256``, ``--initrd-sha256``)."""
    vendor = Opt(
        "--vendor",
        choices=vendors,
        required=vendor_required,
        default=None if vendor_required else vendors[0],
        help="protected-VM technology",
    )
    return [vendor, *_AMD_ROWS, *(_DIGEST_ROWS if digests else ()), *((_POLICY_ROW,) if policy else ())]


AMD_GROUPS = {CPU_GROUP: "", KERNEL_GROUP: "", SVSM_GROUP: ""}


def output_rows(formats: tuple[str, ...], default: str) -> list[Opt]:
    """``--output-format`` (the spelling sev-snp-measure uses) and ``--json``, its short form for JSON."""
    return [
        Opt("--output-format", choices=formats, default=default, help="how to print the result"),
        Opt("--json", flag=True, help="print JSON (the same as --output-format json; docs/cli.md)"),
    ]


def output_format(args: Any, default: str, error: Callable[[str], object]) -> str:
    """The output format ``args`` asks for, with ``--json`` folded in; ``--json`` with another
    ``--output-format`` than the default or json is a usage error (``error`` exits 2)."""
    fmt: str = args.output_format
    if args.json:
        if fmt not in (default, "json"):
            error(f"--json contradicts --output-format {fmt}")
        return "json"
    return fmt
