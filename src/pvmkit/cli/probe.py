"""``pvmkit probe [--json] [--device PATH] [--sev-device PATH]``: what this host's KVM supports for
protected VMs (SEV, SEV-ES, SEV-SNP, TDX), decided only from what KVM enumerates. The JSON document is
described in docs/cli.md ("pvmkit probe"). A missing or unopenable KVM device is an error (exit 1, one
line on stderr); a host without any protected VM type is not (exit 0)."""

from __future__ import annotations

from pvmkit.cli._common import Parser, print_json
from pvmkit.kvm.probe import DEFAULT_SEV_PATH, probe
from pvmkit.kvm.system import DEFAULT_KVM_PATH

__all__ = ["main"]


def main(argv: list[str]) -> int:
    parser = Parser("probe", "Report what this host's KVM supports for protected VMs.")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (docs/cli.md)")
    parser.add_argument(
        "--device", default=DEFAULT_KVM_PATH, metavar="PATH", help=f"KVM device (default {DEFAULT_KVM_PATH})"
    )
    parser.add_argument(
        "--sev-device",
        default=DEFAULT_SEV_PATH,
        metavar="PATH",
        help=f"SEV firmware device whose presence is reported (default {DEFAULT_SEV_PATH})",
    )
    args = parser.parse_args(argv)
    report = probe(args.device, args.sev_device)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.format_text())
    return 0
