"""``pvmkit measure --vendor V ...``: dispatch to the vendor's measure command.

The command module is the vendor's ``VendorSpec.measure_command`` (AMD and sw:
``pvmkit.cli.measure_amd``, TDX: ``pvmkit.cli.measure_tdx``, Arm CCA: ``pvmkit.cli.measure_cca``); each
defines ``main(argv) -> int`` with its own options. With ``--igvm FILE``, any of sev, sev-es, snp, tdx and sw
measures an IGVM file (``pvmkit.cli.measure_igvm``).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def _vendor_of(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--vendor" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--vendor="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    if any(arg == "--igvm" or arg.startswith("--igvm=") for arg in argv):
        from pvmkit.cli.measure_igvm import main as measure_igvm

        return measure_igvm(argv)
    from pvmkit.vendor import Vendor

    vendor = _vendor_of(argv)
    if vendor is None or vendor not in Vendor._value2member_map_:
        from pvmkit.cli._common import Parser

        parser = Parser(
            "measure",
            "Predict the launch measurement of a protected VM. 'pvmkit measure --vendor V --help' "
            "lists a vendor's options; with --igvm FILE, sev, sev-es, snp, tdx and sw measure an IGVM file.",
        )
        parser.add_argument(
            "--vendor", required=True, choices=sorted(v.value for v in Vendor), help="protected-VM technology"
        )
        parser.add_argument("--igvm", metavar="FILE", help="measure an IGVM file (see --igvm FILE --help)")
        parser.parse_args(argv)  # prints help or a usage error and exits
        return 2  # pragma: no cover - parse_args exits above
    module_name = Vendor(vendor).spec.measure_command
    __import__(module_name)  # not importlib (start-up cost)
    result: int = sys.modules[module_name].main(argv)
    return result
