"""The argparse-free option scan of the measurement hot paths (``pvmkit measure --vendor
sev|sev-es|snp|sw`` and ``pvmkit sev-snp-measure``): for the plain forms it must give exactly what the
full parser gives, and it must hand everything else (help, errors, abbreviations, dash-led values,
repeats, conflicts) to the full parser."""

from __future__ import annotations

import pytest

from pvmkit.cli import measure_amd
from pvmkit.cli._common import UsageError, scan_options
from pvmkit.cli._options import Opt, OptionTable
from pvmkit.cli.compat import sev_snp_measure

FW = "/nonexistent/OVMF.fd"


# -- one table feeds both parsers -----------------------------------------------------------------
SAMPLE = OptionTable(
    "sample",
    "a table with every kind of row",
    [
        Opt("--name", "--alias", metavar="X", required=True, help="required, with an alias"),
        Opt("--count", convert=int, default=3, help="converted"),
        Opt("--pick", choices=("a", "b"), default="a", group="g", help="a choice"),
        Opt("--one", exclusive="x", group="g", help="exclusive with --two"),
        Opt("--two", exclusive="x", group="g", help="exclusive with --one"),
        Opt("-q", "--quiet", flag=True, help="a flag"),
    ],
    {"g": "a group"},
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--name", "n"],
        ["--alias=n", "--count", "7", "--pick", "b", "--one", "1", "-q"],
        ["--quiet", "--two", "2", "--name", "n"],
    ],
)
def test_table_scan_equals_parse_args(argv: list[str]) -> None:
    scanned = SAMPLE.scan(argv)
    assert scanned is not None
    assert vars(scanned) == vars(SAMPLE.parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        [],  # --name is required
        ["--name", "n", "--count", "x"],  # conversion fails
        ["--name", "n", "--pick", "c"],  # not a choice
        ["--name", "n", "--one", "1", "--two", "2"],  # exclusive
    ],
)
def test_table_scan_declines_errors(argv: list[str]) -> None:
    assert SAMPLE.scan(argv) is None
    with pytest.raises(SystemExit) as exc:
        SAMPLE.parser().parse_args(argv)
    assert exc.value.code == 2


def test_table_scan_declines_unusual_forms() -> None:
    """What argparse accepts but the scan does not model goes to argparse, which decides."""
    for argv in (["--name", "n", "--alias", "m"], ["--nam", "n"], ["--name", "-n"]):
        assert SAMPLE.scan(argv) is None, argv


def test_table_rows_are_the_parsers_options() -> None:
    parser = SAMPLE.parser()
    options = {opt: action.dest for action in parser._actions for opt in action.option_strings}
    assert options == {
        "-h": "help",
        "--help": "help",
        **{name: row.dest for row in SAMPLE.rows for name in row.names},
    }


# -- same result as the full parser ----------------------------------------------------------------
MEASURE_LINES = [
    ["--vendor", "snp", "--ovmf", FW, "--vcpus", "4", "--vcpu-type", "EPYC-v4"],
    ["--vendor=sev-es", "--firmware", FW, "--vcpus=1-8", "--vcpu-sig", "0x800f12", "--init-path", "init2"],
    ["--vendor", "sw", "--binary", "g.bin", "--load-address", "0x20000", "--mode", "real16"],
    ["--vendor", "snp", "--ovmf", FW, "--kernel", "k", "--initrd", "i", "--append", "console=ttyS0 x=-1"],
    ["--vendor", "snp", "--firmware", FW, "--kernel", "k", "--cmdline", "a=b", "--json"],
    ["--vendor", "snp", "--ovmf", FW, "--svsm", "s", "--vars-size", "0x20000", "--output-format", "json"],
    ["--vendor", "sev", "--ovmf", FW, "--policy", "1", "--vmm-type", "EC2", "--dump-vmsa", "d"],
    ["--vendor", "snp", "--ovmf", FW, "--vmsa-features", "DEBUG_SWAP", "--ovmf-hash", "00" * 48],
]

SNP_MEASURE_LINES = [
    ["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", FW],
    ["--mode=seves", "--vcpus=2", "--vcpu-sig", "0x800f12", "--ovmf", FW, "-v", "--output-format", "base64"],
    ["--mode", "snp", "--vcpus", "1", "--vcpu-family", "25", "--vcpu-model", "1", "--vcpu-stepping", "1",
     "--ovmf", FW, "--guest-features", "0x21", "--vmm-type", "ec2", "--dump-vmsa", "--verbose"],
    ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-Milan", "--ovmf", FW, "--svsm", "s",
     "--vars-file", "v"],
    ["--mode", "sev", "--ovmf", FW, "--kernel", "k", "--append", "a=b c"],
    ["--mode", "snp:ovmf-hash", "--ovmf", FW, "--snp-ovmf-hash", "ab" * 48],
]  # fmt: skip


@pytest.mark.parametrize("argv", MEASURE_LINES)
def test_measure_scan_equals_parse_args(argv: list[str]) -> None:
    scanned = measure_amd.TABLE.scan(argv)
    assert scanned is not None
    assert vars(scanned) == vars(measure_amd.build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", SNP_MEASURE_LINES)
def test_sev_snp_measure_scan_equals_parse_args(argv: list[str]) -> None:
    scanned = sev_snp_measure.TABLE.scan(argv)
    assert scanned is not None
    assert vars(scanned) == vars(sev_snp_measure.build_parser().parse_args(argv))


# -- everything else goes to the full parser -------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["-h", "--vendor", "snp"],
        ["--ovmf", FW],  # no vendor: the parser's "required" error
        ["--vendor", "tdx", "--ovmf", FW],  # not a choice here
        ["--vendor", "snp", "--vcpu", "4"],  # abbreviation
        ["--vendor", "snp", "--vcpus", "-1"],  # dash-led value
        ["--vendor", "snp", "--vcpus"],  # missing value
        ["--vendor", "snp", "--vcpus="],  # empty value
        ["--vendor", "snp", "--vcpus", "1", "--vcpus", "2"],  # repeated
        ["--vendor", "snp", "--ovmf", FW, "--firmware", FW],  # same destination twice
        ["--vendor", "snp", "--vars-size", "1", "--vars-file", "v"],  # mutually exclusive
        ["--vendor", "snp", "--init-path", "fast"],
        ["--vendor", "snp", "--output-format", "yaml"],
        ["--vendor", "snp", "extra"],
        ["--vendor", "snp", "--", "x"],
    ],
)
def test_measure_scan_declines(argv: list[str]) -> None:
    assert measure_amd.TABLE.scan(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["--help"],
        ["--mode", "snp", "--vcpus", "4"],  # no --ovmf
        ["--ovmf", FW, "--vcpus", "4"],  # no --mode
        ["--mode", "tdx", "--ovmf", FW],
        ["--mode", "snp", "--ovmf", FW, "--vcpus", "four"],  # not an int: the parser's error
        ["--mode", "snp", "--ovmf", FW, "--vcpu-sig", "0xZZ"],
        ["--mode", "snp", "--ovmf", FW, "--vcpu-type", "epyc-v4"],  # choices are case-sensitive
        ["--mode", "snp", "--ovmf", FW, "--output-format", "json"],
        ["--mode", "snp", "--ovmf", FW, "-v=1"],
        ["--mode", "snp", "--ovmf", FW, "-vv"],
        ["--mode", "snp", "--ovmf", FW, "--vars-size", "1", "--vars-file", "v"],
        ["--mode", "snp", "--ovmf", FW, "--verbose", "-v"],
    ],
)
def test_sev_snp_measure_scan_declines(argv: list[str]) -> None:
    assert sev_snp_measure.TABLE.scan(argv) is None


@pytest.mark.parametrize("option", ["--vcpus", "--vcpu-family", "--vcpu-stepping", "--vars-size"])
def test_sev_snp_measure_out_of_range_is_a_usage_error(option: str) -> None:
    """Both parsers refuse an out-of-range number with the same UsageError (exit 2)."""
    argv = ["--mode", "snp", "--ovmf", FW, option, "99999999999"]
    with pytest.raises(UsageError, match=option):
        sev_snp_measure.TABLE.scan(argv)
    with pytest.raises(UsageError, match=option):
        sev_snp_measure.build_parser().parse_args(argv)


def test_scan_options_forms() -> None:
    values, flags = {"--a": "a", "--b": "b"}, {"-v": "v"}
    assert scan_options(["--a", "1", "--b=x=y", "-v"], values, flags) == {"a": "1", "b": "x=y", "v": True}
    assert scan_options([], values, flags) == {}
    for argv in (
        ["--a"],
        ["--a", "-1"],
        ["--a=-1"],
        ["--a", ""],
        ["--c", "1"],
        ["-v=1"],
        ["x"],
        ["--a", "1", "--a=2"],
    ):
        assert scan_options(argv, values, flags) is None, argv
