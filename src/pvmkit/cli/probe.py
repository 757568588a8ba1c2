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
    sw = _software_protected(report.vm_types)
    if args.json:
        print_json({**report.to_dict(), "sw": sw})
    else:
        print(report.format_text())
        names = sw["vmsa_features_names"]
        features = ", ".join(names) if isinstance(names, list) and names else "none"
        state = "yes" if sw["available"] else f"no: {sw['reason']}"
        print(f"{'sw (software)':<21} {state}; VMSA features {sw['vmsa_features']} ({features})")
    return 0


def _software_protected(vm_types: int) -> dict[str, object]:
    """pvmkit's software-protected VMs (vendor ``sw``, docs/sw-vm.md): they need only the default VM
    type, and honour the VMSA features in SW_SUPPORTED_VMSA_FEATURES."""
    from pvmkit.features import decode_sev_features
    from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES

    available = bool(vm_types & 1)
    return {
        "available": available,
        "reason": None if available else f"KVM_CAP_VM_TYPES={vm_types:#x} lacks KVM_X86_DEFAULT_VM (bit 0)",
        "vmsa_features": f"{SW_SUPPORTED_VMSA_FEATURES:#x}",
        "vmsa_features_names": decode_sev_features(SW_SUPPORTED_VMSA_FEATURES),
    }
