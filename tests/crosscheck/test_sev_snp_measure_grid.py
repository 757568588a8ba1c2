"""Cross-check ``pvmkit sev-snp-measure`` (and ``pvmkit measure``) against the peer sev-snp-measure 0.0.13.

Oracle: the PyPI package ``sev-snp-measure==0.0.13`` (virtee/sev-snp-measure, Apache-2.0), installed as
a test dependency. It is driven in process through its own CLI entry point (``sevsnpmeasure.cli.main``
with ``sys.argv`` patched), so the oracle side includes its argument parsing, defaults and output
formatting: ``pvmkit sev-snp-measure`` promises to accept exactly the peer's flags and to print exactly
what the peer prints. pvmkit is driven through ``pvmkit.cli.main.main([...])``, as from the shell.

The grid (>= 300 configurations, see ``GRID``) runs on the real Debian ``OVMF.amdsev.fd`` and the peer's
own 4 KiB firmware tails and SVSM pair (fixtures, read in place) and covers every mode, every vCPU type
the peer accepts, vCPU counts 1-64, every VMM type, several guest-feature values and kernel/initrd/
cmdline inputs created deterministically in a temporary directory (the spec's §6.2 inputs).

Cases where the spec shows the peer to be wrong are *not* compared with the peer but with the spec's
own vectors (see ``test_sev_es_*`` below, amd.md §3.3, §6.3, §9).

Harness self-check: ``test_peer_reproduces_spec_vectors`` asserts that the peer, driven by this
harness, reproduces the spec's §6.1/§6.2 digests; it needs nothing from pvmkit.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.fixtures import fixture_path, import_peer, under_ci

pytestmark = pytest.mark.crosscheck

sevsnpmeasure = import_peer("sevsnpmeasure")
from sevsnpmeasure import cli as peer_cli  # noqa: E402
from sevsnpmeasure import vcpu_types as peer_vcpu_types  # noqa: E402

PEER_VERSION = "0.0.13"
if peer_cli.VERSION != PEER_VERSION:  # pragma: no cover - pinned in pyproject.toml
    _msg = f"sev-snp-measure {peer_cli.VERSION} installed; this grid is pinned to {PEER_VERSION}"
    if under_ci():
        raise RuntimeError(_msg)
    pytest.skip(_msg, allow_module_level=True)

# --------------------------------------------------------------------------------------------------
# Inputs

FIXTURES = {
    "@fw": "firmware/OVMF.amdsev.fd",
    "@amdsev": "sev-snp-measure-tests/ovmf_AmdSev_suffix.bin",
    "@ovmfx64": "sev-snp-measure-tests/ovmf_OvmfX64_suffix.bin",
    "@svsm": "sev-snp-measure-tests/svsm.bin",
    "@svsm_ovmf": "sev-snp-measure-tests/svsm_ovmf.fd",
}

#: The spec's §6.2 inputs (amd.md §2.1 and §6.2).
KERNEL = bytes((i * 7 + 3) & 0xFF for i in range(65536))
INITRD = b"pvmkit-initrd\n" * 1000
APPEND = "console=ttyS0 root=/dev/vda rw"
#: The peer's published-vector command line (its tests/test_guest.py; amd.md §6.1).
APPEND_PEER = "console=ttyS0 loglevel=7"
#: Non-ASCII and repeated blanks: both sides must hash the UTF-8 bytes as given, plus the NUL.
APPEND_UTF8 = "console=ttyS0  quiet pvmkit.x=\u00e9\u4e2d"
#: Size of the OVMF_VARS file the peer's SVSM vectors were made with (amd.md §6.1, "svsm 4").
SVSM_VARS_SIZE = 540672

#: Debian image after the firmware step (amd.md §4.2, §6.2 "snp:ovmf-hash").
DEBIAN_OVMF_HASH = (
    "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806"
)
#: Peer AmdSev tail after the firmware step (amd.md §6.1 "ovmf hash").
AMDSEV_OVMF_HASH = (
    "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Placeholder → path: fixtures in place, generated kernel/initrd inputs in a temporary directory."""
    paths = {name: str(fixture_path(rel)) for name, rel in FIXTURES.items()}
    d = tmp_path_factory.mktemp("sev-snp-inputs")
    for name, data in (
        ("@kernel", KERNEL),
        ("@initrd", INITRD),
        ("@empty", b""),
        ("@vars", bytes(SVSM_VARS_SIZE)),
    ):
        p = d / (name[1:] + ".bin")
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


def resolve(args: tuple[str, ...], files: dict[str, str]) -> list[str]:
    """Placeholders → paths, also in ``--option=@name`` form."""
    out = []
    for a in args:
        flag, eq, value = a.partition("=")
        out.append(f"{flag}={files.get(value, value)}" if eq and flag.startswith("--") else files.get(a, a))
    return out


# --------------------------------------------------------------------------------------------------
# Running both sides in process


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """Redirect sys.stdout/sys.stderr to text streams over byte buffers (with ``.buffer``, in case a
    command writes bytes)."""
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", newline="", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", newline="", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            yield out_b, err_b
        finally:
            out.flush()
            err.flush()
            out.detach()
            err.detach()


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


_PEER_CACHE: dict[tuple[str, ...], tuple[int, str, str]] = {}


def run_peer(args: list[str]) -> tuple[int, str, str]:
    """The peer's console script, in process: (exit code, stdout, stderr). Results are cached per
    argument list (the native-CLI comparison reuses the grid's peer runs); --dump-vmsa is not."""
    key = tuple(args)
    if key in _PEER_CACHE and "--dump-vmsa" not in key:
        return _PEER_CACHE[key]
    result = _run_peer(args)
    _PEER_CACHE[key] = result
    return result


def _run_peer(args: list[str]) -> tuple[int, str, str]:
    with _captured() as (out, err), mock.patch.object(sys, "argv", ["sev-snp-measure", *args]):
        try:
            code = peer_cli.main()
        except SystemExit as exc:
            code = _exit_code(exc)
        except Exception:  # what the console script does with an uncaught exception: traceback, exit 1
            traceback.print_exc()
            code = 1
    return code, out.getvalue().decode(), err.getvalue().decode()


def run_pvmkit(args: list[str]) -> tuple[int, str, str]:
    """``pvmkit ARGS...`` in process: (exit code, stdout, stderr). A missing command is an error
    (ImportError propagates): the drop-in is part of the contract, not optional."""
    from pvmkit.cli.main import main

    with _captured() as (out, err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = _exit_code(exc)
    return code, out.getvalue().decode(), err.getvalue().decode()


# --------------------------------------------------------------------------------------------------
# The grid

#: Every choice of the peer's --vcpu-type (argparse choices; asserted equal to the peer's list below).
VCPU_TYPES = (
    "EPYC", "EPYC-v1", "EPYC-v2", "EPYC-IBPB", "EPYC-v3", "EPYC-v4",
    "EPYC-Rome", "EPYC-Rome-v1", "EPYC-Rome-v2", "EPYC-Rome-v3",
    "EPYC-Milan", "EPYC-Milan-v1", "EPYC-Milan-v2",
    "EPYC-Genoa", "EPYC-Genoa-v1", "EPYC-Turin",
)
VMM_TYPES = ("QEMU", "ec2", "gce")
FEATURES = ("0x1", "0x21", "0x201", "0x221", "0x0")

#: kernel/initrd/cmdline variants (name → peer arguments).
KERNELS: dict[str, tuple[str, ...]] = {
    "noK": (),
    "K": ("--kernel", "@kernel"),
    "K+I": ("--kernel", "@kernel", "--initrd", "@initrd"),
    "K+I+A": ("--kernel", "@kernel", "--initrd", "@initrd", "--append", APPEND),
    "K+A": ("--kernel", "@kernel", "--append", APPEND),
    "K+I0": ("--kernel", "@kernel", "--initrd", "@empty"),  # empty initrd == no initrd (§6.2)
    "K+A0": ("--kernel", "@kernel", "--append", ""),  # empty append == no append (§6.2)
    "E+E+Apeer": ("--kernel", "@empty", "--initrd", "@empty", "--append", APPEND_PEER),
    "K+Autf8": ("--kernel", "@kernel", "--append", APPEND_UTF8),
}
KERNEL_NAMES = tuple(KERNELS)

Case = tuple[str, tuple[str, ...]]


def _grid() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, *args: str) -> None:
        cases.append((name, args))

    # -- sev: firmware (+ 176-byte hashes table) only
    for fw in ("@fw", "@amdsev"):
        for k in KERNEL_NAMES:
            add(f"sev-{fw[1:]}-{k}", "--mode", "sev", "--ovmf", fw, *KERNELS[k])
    add("sev-ovmfx64", "--mode", "sev", "--ovmf", "@ovmfx64")
    add("sev-b64", "--mode", "sev", "--ovmf", "@fw", "--output-format", "base64")
    add("sev-verbose-K", "--mode", "sev", "--ovmf", "@fw", "-v", *KERNELS["K+I+A"])
    add("sev-ignores-vcpus", "--mode", "sev", "--ovmf", "@fw", "--vcpus", "4", "--vcpu-type", "EPYC-Milan")

    # -- seves: every vCPU type × 3 counts, kernel variants cycling
    for i, t in enumerate(VCPU_TYPES):
        for j, n in enumerate((1, 3, 64)):
            k = KERNEL_NAMES[(i + j) % len(KERNEL_NAMES)]
            add(f"seves-{t}-{n}-{k}", "--mode", "seves", "--vcpus", str(n), "--vcpu-type", t,
                "--ovmf", "@fw", *KERNELS[k])
    for vmm in ("ec2", "gce"):
        for n in (1, 2, 4, 9):
            add(f"seves-{vmm}-{n}", "--mode", "seves", "--vcpus", str(n), "--vmm-type", vmm, "--ovmf", "@fw")
        add(f"seves-{vmm}-typed-K+I+A", "--mode", "seves", "--vcpus", "2", "--vmm-type", vmm,
            "--vcpu-type", "EPYC-Genoa", "--ovmf", "@fw", *KERNELS["K+I+A"])
    for n in (1, 4):  # the peer ignores --guest-features for seves (amd.md §9)
        add(f"seves-features-ignored-{n}", "--mode", "seves", "--vcpus", str(n), "--vcpu-type", "EPYC-v4",
            "--guest-features", "0x21", "--ovmf", "@fw")
    for j, k in enumerate(("noK", "E+E+Apeer", "K+I+A", "K+A0")):
        add(f"seves-amdsev-{k}", "--mode", "seves", "--vcpus", str(1 + 3 * j), "--vcpu-type", "EPYC-v4",
            "--ovmf", "@amdsev", *KERNELS[k])
    add("seves-ovmfx64", "--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Rome", "--ovmf", "@ovmfx64")
    add("seves-sig", "--mode", "seves", "--vcpus", "2", "--vcpu-sig", "0xa10f11", "--ovmf", "@fw")
    add("seves-fms", "--mode", "seves", "--vcpus", "2", "--vcpu-family", "25", "--vcpu-model", "17",
        "--vcpu-stepping", "1", "--ovmf", "@fw")
    add("seves-b64", "--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", "@fw",
        "--output-format", "base64")
    add("seves-verbose", "--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", "@fw", "-v")

    # -- snp, Debian image: every vCPU type × 4 counts × features, kernel variants cycling
    for i, t in enumerate(VCPU_TYPES):
        for j, n in enumerate((1, 2, 7, 64)):
            f = FEATURES[(i + j) % len(FEATURES)]
            k = KERNEL_NAMES[(i * 4 + j) % len(KERNEL_NAMES)]
            add(f"snp-{t}-{n}-{f}-{k}", "--mode", "snp", "--vcpus", str(n), "--vcpu-type", t,
                "--guest-features", f, "--ovmf", "@fw", *KERNELS[k])
    # every count 1..64 (QEMU), types/features cycling
    for n in range(1, 65):
        t = VCPU_TYPES[(n * 5) % len(VCPU_TYPES)]
        f = FEATURES[n % len(FEATURES)]
        add(f"snp-count-{n}-{t}-{f}", "--mode", "snp", "--vcpus", str(n), "--vcpu-type", t,
            "--guest-features", f, "--ovmf", "@fw")
    # cloud VMMs × counts × every feature value (half with a --vcpu-type, which they ignore)
    for vmm in ("ec2", "gce"):
        for j, n in enumerate((1, 2, 3, 4, 16, 64)):
            for m, f in enumerate(FEATURES):
                typed = ("--vcpu-type", "EPYC-Milan") if (j + m) % 2 else ()
                add(f"snp-{vmm}-{n}-{f}{'-typed' if typed else ''}", "--mode", "snp", "--vcpus", str(n),
                    "--vmm-type", vmm, *typed, "--guest-features", f, "--ovmf", "@fw")
    # every kernel variant × every VMM
    for k in KERNEL_NAMES:
        for vmm in VMM_TYPES:
            add(f"snp-{vmm}-{k}", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Genoa",
                "--vmm-type", vmm, "--ovmf", "@fw", *KERNELS[k])
    # seeded with the OVMF hash (the firmware is then used only for metadata and reset EIP)
    for vmm in VMM_TYPES:
        for k in ("noK", "K+I+A", "E+E+Apeer"):
            add(f"snp-seeded-{vmm}-{k}", "--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4",
                "--vmm-type", vmm, "--snp-ovmf-hash", DEBIAN_OVMF_HASH, "--ovmf", "@fw", *KERNELS[k])
    # arbitrary signatures and family/model/stepping (beyond the type list)
    for sig in ("0x800f12", "0xa00f11", "0xb00f00", "0x12345", "8392466", "0xa10f11"):
        add(f"snp-sig-{sig}", "--mode", "snp", "--vcpus", "3", "--vcpu-sig", sig, "--ovmf", "@fw")
    for fam, model, step in ((23, 1, 2), (25, 17, 0), (26, 0, 0), (25, 0x61, 2), (15, 5, 3), (26, 17, 4)):
        add(f"snp-fms-{fam}-{model}-{step}", "--mode", "snp", "--vcpus", "2", "--vcpu-family", str(fam),
            "--vcpu-model", str(model), "--vcpu-stepping", str(step), "--ovmf", "@fw")
    add("snp-fms-beats-type", "--mode", "snp", "--vcpus", "2", "--vcpu-family", "25", "--vcpu-model", "1",
        "--vcpu-stepping", "1", "--vcpu-type", "EPYC-Rome", "--ovmf", "@fw")
    add("snp-sig-beats-type", "--mode", "snp", "--vcpus", "2", "--vcpu-sig", "0xa00f11", "--vcpu-type",
        "EPYC-Rome", "--ovmf", "@fw")
    # peer 0.0.13 ignores zero --vcpu-sig / --vcpu-family values (truthiness; amd.md §9): the drop-in too
    add("snp-sig0-ignored", "--mode", "snp", "--vcpus", "2", "--vcpu-sig", "0", "--vcpu-type", "EPYC-Rome",
        "--ovmf", "@fw")
    add("snp-family0-ignored", "--mode", "snp", "--vcpus", "2", "--vcpu-family", "0", "--vcpu-model", "1",
        "--vcpu-stepping", "1", "--vcpu-type", "EPYC-Milan", "--ovmf", "@fw")
    add("seves-family0-sig", "--mode", "seves", "--vcpus", "2", "--vcpu-family", "0", "--vcpu-model", "1",
        "--vcpu-stepping", "1", "--vcpu-sig", "0x123", "--ovmf", "@fw")
    add("snp-default-features", "--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")
    add("snp-features-decimal", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4",
        "--guest-features", "33", "--ovmf", "@fw")
    add("snp-vmm-QEMU-explicit", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4",
        "--vmm-type", "QEMU", "--ovmf", "@fw")
    for extra in (("--output-format", "base64"), ("-v",), ("--verbose", "--output-format", "base64")):
        add("snp-" + "".join(extra).replace("-", ""), "--mode", "snp", "--vcpus", "2", "--vcpu-type",
            "EPYC-v4", "--ovmf", "@fw", *extra)

    # -- snp on the peer's 4 KiB AmdSev tail (old metadata order: KERNEL_HASHES not last)
    for j, n in enumerate((1, 2, 4, 8)):
        for m, f in enumerate(FEATURES):
            k = ("noK", "E+E+Apeer", "K+I+A", "K+A0", "K")[(j + m) % 5]
            add(f"snp-amdsev-{n}-{f}-{k}", "--mode", "snp", "--vcpus", str(n), "--vcpu-type", "EPYC-v4",
                "--guest-features", f, "--ovmf", "@amdsev", *KERNELS[k])
    for vmm in ("ec2", "gce"):
        for n in (1, 4):
            add(f"snp-amdsev-{vmm}-{n}", "--mode", "snp", "--vcpus", str(n), "--vmm-type", vmm,
                "--ovmf", "@amdsev", *KERNELS["E+E+Apeer"])
    for k in ("noK", "K+I+A"):
        add(f"snp-amdsev-seeded-{k}", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4",
            "--guest-features", "0x21", "--snp-ovmf-hash", AMDSEV_OVMF_HASH, "--ovmf", "@amdsev", *KERNELS[k])

    # -- snp on the peer's 4 KiB OvmfX64 tail (no kernel-hashes support)
    for n in (1, 4, 16):
        for f in FEATURES:
            add(f"snp-ovmfx64-{n}-{f}", "--mode", "snp", "--vcpus", str(n), "--vcpu-type", "EPYC-Milan",
                "--guest-features", f, "--ovmf", "@ovmfx64")
    for vmm in ("ec2", "gce"):
        for n in (1, 3):
            add(f"snp-ovmfx64-{vmm}-{n}", "--mode", "snp", "--vcpus", str(n), "--vmm-type", vmm,
                "--ovmf", "@ovmfx64")

    # -- snp:ovmf-hash (prints hex whatever --output-format says; other options ignored)
    for fw in ("@fw", "@amdsev", "@ovmfx64", "@svsm_ovmf"):
        add(f"ovmf-hash-{fw[1:]}", "--mode", "snp:ovmf-hash", "--ovmf", fw)
    add("ovmf-hash-b64", "--mode", "snp:ovmf-hash", "--ovmf", "@fw", "--output-format", "base64")
    add("ovmf-hash-verbose", "--mode", "snp:ovmf-hash", "--ovmf", "@fw", "-v")
    add("ovmf-hash-extra", "--mode", "snp:ovmf-hash", "--ovmf", "@amdsev", "--vcpus", "4", "--vcpu-type",
        "EPYC-v4", "--guest-features", "0x21", *KERNELS["K+I+A"])

    # -- snp:svsm (Coconut SVSM pair)
    for i, n in enumerate((1, 2, 3, 4, 8, 16)):
        t = ("EPYC-v4", "EPYC-Milan", "EPYC-Genoa", "EPYC-v4", "EPYC-Turin", "EPYC-Rome")[i]
        add(f"svsm-{n}-{t}", "--mode", "snp:svsm", "--vcpus", str(n), "--vcpu-type", t, "--ovmf",
            "@svsm_ovmf", "--svsm", "@svsm", "--vars-size", str(SVSM_VARS_SIZE))
    for n in (2, 4):
        add(f"svsm-varsfile-{n}", "--mode", "snp:svsm", "--vcpus", str(n), "--vcpu-type", "EPYC-v4",
            "--ovmf", "@svsm_ovmf", "--svsm", "@svsm", "--vars-file", "@vars")
    add("svsm-vars-0x20000", "--mode", "snp:svsm", "--vcpus", "2", "--vcpu-sig", "0xa00f11", "--ovmf",
        "@svsm_ovmf", "--svsm", "@svsm", "--vars-size", str(0x20000))
    add("svsm-features-ignored", "--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC-v4",
        "--guest-features", "0x21", "--ovmf", "@svsm_ovmf", "--svsm", "@svsm", "--vars-size",
        str(SVSM_VARS_SIZE))
    add("svsm-b64", "--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf",
        "@svsm_ovmf", "--svsm", "@svsm", "--vars-size", str(SVSM_VARS_SIZE), "--output-format", "base64")
    return cases


GRID = _grid()

#: Invalid invocations: pvmkit must refuse them with the peer's exit status (2 usage, 1 error).
ERRORS: list[Case] = [
    ("snp-kernel-without-hashes", ("--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf",
                                   "@ovmfx64", "--kernel", "@kernel")),
    ("sev-kernel-without-hashes", ("--mode", "sev", "--ovmf", "@ovmfx64", "--kernel", "@kernel")),
    ("seves-kernel-without-hashes", ("--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf",
                                     "@ovmfx64", "--kernel", "@kernel")),
    ("initrd-without-kernel", ("--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", "@fw",
                               "--initrd", "@initrd")),
    ("append-without-kernel", ("--mode", "sev", "--ovmf", "@fw", "--append", APPEND)),
    ("snp-missing-vcpus", ("--mode", "snp", "--vcpu-type", "EPYC", "--ovmf", "@fw")),
    ("seves-missing-vcpus", ("--mode", "seves", "--vcpu-type", "EPYC", "--ovmf", "@fw")),
    ("snp-missing-vcpu-type", ("--mode", "snp", "--vcpus", "2", "--ovmf", "@fw")),
    ("unknown-vcpu-type", ("--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Foo", "--ovmf", "@fw")),
    ("unknown-vmm-type", ("--mode", "snp", "--vcpus", "2", "--vmm-type", "kvmtool", "--ovmf", "@fw")),
    ("unknown-mode", ("--mode", "tdx", "--ovmf", "@fw")),
    ("missing-mode", ("--ovmf", "@fw")),
    ("missing-ovmf", ("--mode", "sev")),
    ("dump-vmsa-sev", ("--mode", "sev", "--ovmf", "@fw", "--dump-vmsa")),
    ("svsm-without-vars", ("--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
                           "@svsm_ovmf", "--svsm", "@svsm")),
    ("svsm-both-vars", ("--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", "@svsm_ovmf",
                        "--svsm", "@svsm", "--vars-size", "1", "--vars-file", "@vars")),
    ("vcpu-sig-0-alone", ("--mode", "snp", "--vcpus", "2", "--vcpu-sig", "0", "--ovmf", "@fw")),
    ("unlisted-vcpu-version", ("--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Genoa-v2",
                               "--ovmf", "@fw")),
    ("bad-output-format", ("--mode", "sev", "--ovmf", "@fw", "--output-format", "raw")),
]


#: argparse forms and value spellings (pvmkit's drop-in parses common invocations without argparse for
#: start-up speed, so every spelling argparse accepts must still behave the same): exit status and
#: stdout must equal the peer's, whatever they are.
_SNP4 = ("--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")
PARSER_FORMS: list[Case] = [
    ("equals-forms", ("--mode=snp", "--vcpus=4", "--vcpu-type=EPYC-v4", "--ovmf=@fw")),
    ("repeated-option-last-wins", ("--mode", "snp", "--vcpus", "2", "--vcpus", "4", "--vcpu-type", "EPYC-v4",
                                   "--ovmf", "@fw")),
    ("abbrev-vcpu-t", ("--mode", "snp", "--vcpus", "4", "--vcpu-t", "EPYC-v4", "--ovmf", "@fw")),
    ("abbrev-guest-f", (*_SNP4, "--guest-f", "0x21")),
    ("abbrev-ovm", ("--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovm", "@fw")),
    ("abbrev-ambiguous-vcpu", ("--mode", "snp", "--vcpu", "4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")),
    ("abbrev-mo", ("--mo", "seves", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", "@fw")),
    ("output-format-equals-verbose", (*_SNP4, "--output-format=base64", "-v")),
    ("double-v", (*_SNP4, "-vv")),
    ("append-dash-value", (*_SNP4, "--kernel", "@kernel", "--append", "-quiet")),
    ("append-equals-dash", (*_SNP4, "--kernel", "@kernel", "--append=-quiet")),
    ("append-equals-empty", (*_SNP4, "--kernel", "@kernel", "--append=")),
    ("vcpus-not-int", ("--mode", "snp", "--vcpus", "0x4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")),
    ("vcpus-space", ("--mode", "snp", "--vcpus", " 4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")),
    ("sig-space", ("--mode", "snp", "--vcpus", "4", "--vcpu-sig", " 0x800f12", "--ovmf", "@fw")),
    ("family-hex", ("--mode", "snp", "--vcpus", "4", "--vcpu-family", "0x17", "--vcpu-model", "1",
                    "--vcpu-stepping", "2", "--ovmf", "@fw")),
    ("features-0X", (*_SNP4, "--guest-features", "0X21")),
    ("features-0b", (*_SNP4, "--guest-features", "0b100001")),
    ("features-0o", (*_SNP4, "--guest-features", "0o41")),
    ("features-underscore", (*_SNP4, "--guest-features", "1_1")),
    ("features-leading-zero", (*_SNP4, "--guest-features", "021")),
    ("features-garbage", (*_SNP4, "--guest-features", "DEBUG_SWAP")),
    ("seed-uppercase", (*_SNP4, "--snp-ovmf-hash", DEBIAN_OVMF_HASH.upper())),
    ("seed-short", (*_SNP4, "--snp-ovmf-hash", "9d0d")),
    ("seed-empty", (*_SNP4, "--snp-ovmf-hash", "")),
    ("seed-not-hex", (*_SNP4, "--snp-ovmf-hash", "xyz")),
    ("vmm-lowercase-qemu", (*_SNP4, "--vmm-type", "qemu")),
    ("vmm-uppercase-ec2", (*_SNP4, "--vmm-type", "EC2")),
    ("kernel-empty-path", ("--mode", "sev", "--ovmf", "@fw", "--kernel", "")),
    ("initrd-empty-path", ("--mode", "sev", "--ovmf", "@fw", "--kernel", "@kernel", "--initrd", "")),
    ("seves-gce-sig", ("--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC", "--vmm-type", "gce",
                       "--vcpu-sig", "0x5", "--ovmf", "@fw")),
    ("missing-ovmf-file", ("--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf",
                           "/nonexistent/OVMF.fd")),
    ("svsm-vars-size-0", ("--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC-v4", "--ovmf",
                          "@svsm_ovmf", "--svsm", "@svsm", "--vars-size", "0")),
    ("version", ("--version",)),
    ("unknown-option", (*_SNP4, "--frobnicate")),
    ("missing-value", ("--mode", "snp", "--vcpus")),
]


@pytest.mark.parametrize(("args"), [a for _, a in PARSER_FORMS], ids=[n for n, _ in PARSER_FORMS])
def test_parser_forms(args: tuple[str, ...], files: dict[str, str]) -> None:
    argv = resolve(args, files)
    peer = _run_peer(argv)
    ours = run_pvmkit(["sev-snp-measure", *argv])
    assert ours[:2] == peer[:2], f"peer stderr {peer[2]!r}, ours {ours[2]!r}"


def test_grid_size_and_coverage() -> None:
    """The grid covers what it claims (a guard against silently shrinking it)."""
    assert len(GRID) >= 300, len(GRID)
    assert len({name for name, _ in GRID}) == len(GRID), "case names must be unique"
    flat = [args for _, args in GRID]

    def values(flag: str) -> set[str]:
        return {a[i + 1] for a in flat for i, x in enumerate(a[:-1]) if x == flag}

    assert values("--mode") == {"sev", "seves", "snp", "snp:ovmf-hash", "snp:svsm"}
    assert values("--vcpu-type") == set(VCPU_TYPES)
    assert {str(n) for n in range(1, 65)} <= values("--vcpus")
    assert values("--vmm-type") == set(VMM_TYPES)
    assert set(FEATURES) <= values("--guest-features")
    assert values("--ovmf") == set(FIXTURES) - {"@svsm"}


def test_vcpu_types_are_the_peers_choices() -> None:
    assert tuple(peer_vcpu_types.CPU_SIGS) == VCPU_TYPES


@pytest.mark.parametrize(("args"), [a for _, a in GRID], ids=[n for n, _ in GRID])
def test_grid(args: tuple[str, ...], files: dict[str, str]) -> None:
    argv = resolve(args, files)
    peer = run_peer(argv)
    assert peer[0] == 0 and peer[1], f"the peer failed on a grid case: {peer}"
    ours = run_pvmkit(["sev-snp-measure", *argv])
    assert ours[0] == 0, f"pvmkit sev-snp-measure failed: {ours[2]!r}"
    assert ours[1] == peer[1], f"stdout differs for {' '.join(args)}"


@pytest.mark.parametrize(("args"), [a for _, a in ERRORS], ids=[n for n, _ in ERRORS])
def test_invalid_invocations(args: tuple[str, ...], files: dict[str, str]) -> None:
    argv = resolve(args, files)
    code, out, _err = run_peer(argv)
    assert code != 0 and out == ""
    ours = run_pvmkit(["sev-snp-measure", *argv])
    assert ours[0] == code, f"exit status {ours[0]}, peer {code}; stderr {ours[2]!r}"
    assert ours[1] == "", "nothing on stdout for a refused invocation"
    assert ours[2].strip(), "an error message on stderr"


@pytest.mark.parametrize(
    "args",
    [
        ("--mode", "seves", "--vcpus", "3", "--vcpu-type", "EPYC-Milan", "--ovmf", "@fw"),
        ("--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-v4", "--vmm-type", "ec2", "--ovmf", "@fw"),
        ("--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC-v4", "--ovmf", "@svsm_ovmf", "--svsm",
         "@svsm", "--vars-size", str(SVSM_VARS_SIZE)),
    ],
    ids=["seves", "snp-ec2", "svsm"],
)
def test_dump_vmsa(
    args: tuple[str, ...], files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--dump-vmsa writes vmsa<N>.bin into the current directory: same files, same bytes."""
    argv = [*resolve(args, files), "--dump-vmsa"]
    peer_dir, our_dir = tmp_path / "peer", tmp_path / "pvmkit"
    peer_dir.mkdir()
    our_dir.mkdir()
    monkeypatch.chdir(peer_dir)
    peer = run_peer(argv)
    monkeypatch.chdir(our_dir)
    ours = run_pvmkit(["sev-snp-measure", *argv])
    assert peer[0] == 0 and ours[0] == 0, ours[2]
    assert ours[1] == peer[1]
    peer_files = sorted(os.listdir(peer_dir))
    assert peer_files == [f"vmsa{i}.bin" for i in range(len(peer_files))] and peer_files
    assert sorted(os.listdir(our_dir)) == peer_files
    for name in peer_files:
        assert (our_dir / name).read_bytes() == (peer_dir / name).read_bytes(), name


# Random configurations over the whole valid input domain (fields in range: 32-bit signatures, 64-bit
# features, family/model/stepping within their CPUID fields; out-of-range values are refused by pvmkit
# where the peer silently truncates them, docs/amd.md). Derandomized: the same examples on every run.

_model_options = st.one_of(
    st.tuples(st.just("--vcpu-type"), st.sampled_from(VCPU_TYPES)),
    st.tuples(st.just("--vcpu-sig"), st.integers(1, 0xFFFFFFFF).map(hex)),
    st.tuples(st.just("--vcpu-family"), st.integers(1, 0xF + 0xFF).map(str), st.just("--vcpu-model"),
              st.integers(0, 0xFF).map(str), st.just("--vcpu-stepping"), st.integers(0, 0xF).map(str)),
)
_cmdline = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(("sev", "seves", "snp")),
    firmware=st.sampled_from(("@fw", "@amdsev")),
    vcpus=st.integers(1, 64),
    model=_model_options,
    vmm=st.sampled_from(VMM_TYPES),
    features=st.integers(0, (1 << 64) - 1),
    kernel=st.none() | st.binary(max_size=2048),
    initrd=st.none() | st.binary(max_size=512),
    append=st.none() | _cmdline,
    seeded=st.booleans(),
)
def test_random_configurations(
    files: dict[str, str],
    mode: str,
    firmware: str,
    vcpus: int,
    model: tuple[str, ...],
    vmm: str,
    features: int,
    kernel: bytes | None,
    initrd: bytes | None,
    append: str | None,
    seeded: bool,
) -> None:
    work = Path(files["@kernel"]).parent
    args = ["--mode", mode, "--ovmf", files[firmware], "--vcpus", str(vcpus), *model, "--vmm-type", vmm,
            "--guest-features", hex(features)]
    if kernel is not None:
        (work / "random-kernel.bin").write_bytes(kernel)
        args += ["--kernel", str(work / "random-kernel.bin")]
        if initrd is not None:
            (work / "random-initrd.bin").write_bytes(initrd)
            args += ["--initrd", str(work / "random-initrd.bin")]
        if append is not None:
            args.append("--append=" + append)
    if seeded and mode == "snp":
        args += ["--snp-ovmf-hash", DEBIAN_OVMF_HASH if firmware == "@fw" else AMDSEV_OVMF_HASH]
    peer = _run_peer(args)
    assert peer[0] == 0 and peer[1], peer
    ours = run_pvmkit(["sev-snp-measure", *args])
    assert ours[:2] == peer[:2], (args, ours[2])


# --------------------------------------------------------------------------------------------------
# pvmkit's own command, ``pvmkit measure --vendor sev|sev-es|snp``, where it must agree with the peer

_PEER_BOOL_FLAGS = {"-v", "--verbose", "--dump-vmsa"}


def native_args(args: tuple[str, ...]) -> list[str] | None:
    """The ``pvmkit measure`` equivalent of a peer invocation, or None where the two must not agree:

    * ``seves``: the peer always writes the INIT2 FPU values with features 0, so the native command
      gets ``--init-path init2`` (its default for SEV-ES is QEMU >= 9.1's legacy path, amd.md §3.3);
      the peer ignores --guest-features there, and ec2/gce are SNP-only platforms (§9): not compared.
    * ``snp``: --guest-features is the whole SEV_FEATURES; KVM always sets SNPActive (§5.5), so a value
      without bit 0 is peer-only. pvmkit takes it as --vmsa-features (SNPActive implied).
    * ``snp:svsm``: SEV_FEATURES is 1 on both sides (peer ignores --guest-features).
    * no native form: ``snp:ovmf-hash``, ``-v``; the peer's precedence when several vCPU-model options
      are given (pvmkit refuses the combination).
    """
    out = ["measure"]
    i = 0
    mode = args[args.index("--mode") + 1]
    model_opts = {"--vcpu-type", "--vcpu-sig", "--vcpu-family"} & set(args)
    if mode == "snp:ovmf-hash" or _PEER_BOOL_FLAGS & set(args) or len(model_opts) > 1:
        return None
    while i < len(args):
        flag, value = args[i], args[i + 1]
        i += 2
        if flag == "--mode":
            if mode == "seves":
                out += ["--vendor", "sev-es", "--init-path", "init2"]
            else:
                out += ["--vendor", {"sev": "sev", "snp": "snp", "snp:svsm": "snp"}[mode]]
        elif flag == "--guest-features":
            if mode == "snp":
                if not int(value, 0) & 1:
                    return None
                out += ["--vmsa-features", value]
        elif flag == "--vmm-type":
            if mode == "seves" and value != "QEMU":
                return None
            out += [flag, value]
        elif flag == "--snp-ovmf-hash":
            out += ["--ovmf-hash", value]
        else:
            out += [flag, value]
    return out


NATIVE = [(name, args) for name, args in GRID if native_args(args) is not None]


def test_native_grid_size() -> None:
    assert len(NATIVE) >= 250, len(NATIVE)


@pytest.mark.parametrize(("args"), [a for _, a in NATIVE], ids=[n for n, _ in NATIVE])
def test_native_measure_agrees_with_peer(args: tuple[str, ...], files: dict[str, str]) -> None:
    peer = run_peer(resolve(args, files))
    assert peer[0] == 0
    native = native_args(args)
    assert native is not None
    ours = run_pvmkit(resolve(tuple(native), files))
    assert ours[0] == 0, f"pvmkit {' '.join(native)}: {ours[2]!r}"
    assert ours[1] == peer[1], f"pvmkit {' '.join(native)}"


_N4 = ("--vendor", "snp", "--ovmf", "@fw", "--vcpus", "4")


@pytest.mark.parametrize(
    ("native", "peer_args"),
    [
        (("--vendor=snp", "--ovmf=@fw", "--vcpus=4", "--vcpu-type=EPYC-v4"), _SNP4),
        ((*_N4, "--vcpus", "2", "--vcpus", "4", "--vcpu-type", "EPYC-v4"), _SNP4),
        ((*_N4, "--vcpu-type", "EPYC-v4", "--vmsa-features=0x20", "--vmsa-features", "0"), _SNP4),
        ((*_N4, "--vcpu-t", "EPYC-v4", "--vmsa-f", "DEBUG_SWAP"), (*_SNP4, "--guest-features", "0x21")),
        ((*_N4, "--vcpu-type", "EPYC-v4", "--output-format=base64"), (*_SNP4, "--output-format", "base64")),
        (("--vendor", "sev-es", "--ovmf", "@fw", "--vcpus", "4", "--vcpu-type", "EPYC-v4",
          "--init-path=init2"),
         ("--mode", "seves", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", "@fw")),
    ],
    ids=["equals", "repeated", "features-last-wins", "abbreviations", "base64", "sev-es-equals"],
)
def test_native_parser_forms(
    native: tuple[str, ...], peer_args: tuple[str, ...], files: dict[str, str]
) -> None:
    """``pvmkit measure`` parses its common forms without argparse: spellings argparse accepts must
    give the same result."""
    peer = run_peer(resolve(peer_args, files))
    assert peer[0] == 0
    assert run_pvmkit(["measure", *resolve(native, files)]) == (0, peer[1], "")


@pytest.mark.parametrize(
    "args",
    [
        ("--mode", "snp", "--vcpu-type", "EPYC-Milan", "--guest-features", "0x1", "--ovmf", "@fw"),
        ("--mode", "snp", "--vcpu-type", "EPYC-Genoa", "--guest-features", "0x21", "--ovmf", "@fw",
         *KERNELS["K+I+A"]),
        ("--mode", "snp", "--vmm-type", "ec2", "--guest-features", "0x221", "--ovmf", "@amdsev"),
        ("--mode", "snp", "--vmm-type", "gce", "--ovmf", "@fw"),
        ("--mode", "seves", "--vcpu-type", "EPYC-Rome", "--ovmf", "@fw", *KERNELS["K"]),
        ("--mode", "snp:svsm", "--vcpu-type", "EPYC-v4", "--ovmf", "@svsm_ovmf", "--svsm", "@svsm",
         "--vars-size", str(SVSM_VARS_SIZE)),
    ],
    ids=["snp-qemu", "snp-qemu-kernel", "snp-ec2-amdsev", "snp-gce", "seves-init2", "svsm"],
)
def test_native_vcpu_range_agrees_with_peer(args: tuple[str, ...], files: dict[str, str]) -> None:
    """``pvmkit measure --vcpus 1-64`` (JSON lines, one process, incremental per vCPU) == the peer run
    once per count."""
    import json

    native = native_args(args)
    assert native is not None
    top = 16 if "snp:svsm" in args else 64  # the peer hashes 4.7 MB per SVSM run
    code, out, err = run_pvmkit([*resolve(tuple(native), files), "--vcpus", f"1-{top}"])
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["vcpus"] for r in records] == list(range(1, top + 1))
    for r in records:
        peer = run_peer(resolve((*args, "--vcpus", str(r["vcpus"])), files))
        assert peer[0] == 0
        assert r["digest"] + "\n" == peer[1], f"vcpus={r['vcpus']}"


# --------------------------------------------------------------------------------------------------
# SEV-ES where the peer is wrong: tested against the spec's own vectors instead (amd.md §6.3).
#
# KVM copies the FPU reset state (MXCSR 0x1F80, x87 FCW 0x37F) into the VMSA only for the INIT2 VM
# types; legacy KVM_SEV_ES_INIT leaves them 0, and QEMU >= 9.1 uses the legacy path for SEV-ES by
# default (amd.md §3.3). SEV-ES VMSAs also carry DebugSwap (0x20) on 6.5-6.7 kernels with
# kvm_amd.debug_swap, or when requested through INIT2 (§5.2). The peer's `--mode seves` always writes
# the INIT2 FPU values and features 0 (§3.3, §9), so it cannot produce these cases. The vectors are
# amd.md §6.3 (Debian OVMF.amdsev.fd, EPYC-v4, QEMU VMSA; [D]: from an independent implementation
# whose FPU=0 variant reproduces the peer-0.0.9 (pre-INIT2) published vectors bit for bit).

SPEC_6_3 = [
    # (case, --init-path, --vmsa-features, vCPUs, digest); "ds" = DebugSwap (0x20)
    ("legacy-default", None, None, 1, "9ce7535be9fd1f8075d237b16d3a1ec50665c53d3a4ff11c0cd3ba6303e7707e"),
    ("legacy-default", None, None, 4, "3d3efa3ee914d8893455f71e41499adfa2f82569d74a05fdeb56b2206711e5b2"),
    ("legacy", "legacy", None, 1, "9ce7535be9fd1f8075d237b16d3a1ec50665c53d3a4ff11c0cd3ba6303e7707e"),
    ("legacy", "legacy", "0x0", 4, "3d3efa3ee914d8893455f71e41499adfa2f82569d74a05fdeb56b2206711e5b2"),
    ("legacy+ds", "legacy", "0x20", 1, "e801813d4584ec20583c657db8ab59940f6cff8b2d92d845b997eeff1c318501"),
    ("legacy+ds", "legacy", "0x20", 4, "2cd49c17d8751c90ad7ea0b989c429ea7a4424109739921020328e35118350cc"),
    ("init2+ds", "init2", "0x20", 1, "74d8d2355dd1ebfb1e3ad0fe5a8909f0b7d9fc12149d73e2a85a5c078c9efa72"),
    ("init2+ds", "init2", "0x20", 4, "ca72469c17d1756a041462e8eba509d0f085e5f338975ddc7a3be860559f3405"),
    # features given, no init path: INIT2 (only INIT2 can pass VMSA features on >= 6.10)
    ("ds-default", None, "0x20", 1, "74d8d2355dd1ebfb1e3ad0fe5a8909f0b7d9fc12149d73e2a85a5c078c9efa72"),
    # INIT2 with features 0 is the one case the peer's seves models (§6.3 last row == §6.2 seves rows)
    ("init2", "init2", None, 1, "62f563dcde1a3fcde3e5ffd1a3ee7ff7e9bae00f74bada763587a311e2df5d7e"),
    ("init2", "init2", "0x0", 4, "a3785f5a0490fd91a5b0369b8b4bb7dc0b15ccfa4a8c80ebe8cad03e621729ec"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("init_path", "features", "vcpus", "digest"),
    [c[1:] for c in SPEC_6_3],
    ids=[f"{c[0]}-{c[3]}" for c in SPEC_6_3],
)
def test_sev_es_spec_vectors(
    init_path: str | None, features: str | None, vcpus: int, digest: str, files: dict[str, str]
) -> None:
    argv = ["measure", "--vendor", "sev-es", "--ovmf", files["@fw"], "--vcpus", str(vcpus),
            "--vcpu-type", "EPYC-v4"]  # fmt: skip
    if init_path is not None:
        argv += ["--init-path", init_path]
    if features is not None:
        argv += ["--vmsa-features", features]
    assert run_pvmkit(argv) == (0, digest + "\n", "")
    # The peer's seves (INIT2 FPU, features 0) matches only the init2/features-0 rows (§3.3, §9);
    # the drop-in keeps the peer's value, whatever the native default.
    peer_args = ["--mode", "seves", "--vcpus", str(vcpus), "--vcpu-type", "EPYC-v4", "--ovmf", files["@fw"]]
    peer = run_peer(peer_args)
    init2_no_features = init_path == "init2" and int(features or "0", 0) == 0
    assert (peer[1] == digest + "\n") == init2_no_features
    assert run_pvmkit(["sev-snp-measure", *peer_args]) == peer


@pytest.mark.parametrize(
    ("native_extra", "expected_diff"),
    [
        # legacy KVM_SEV_ES_INIT: MXCSR (u32 @0x408) and x87 FCW (u16 @0x410) stay 0 (amd.md §3.2, §3.3)
        (("--init-path", "legacy"), {0x408: 0, 0x409: 0, 0x410: 0, 0x411: 0}),
        # INIT2 + DebugSwap: SEV_FEATURES (u64 @0x3B0) = 0x20 (§3.2, §5.1)
        (("--init-path", "init2", "--vmsa-features", "0x20"), {0x3B0: 0x20}),
        # legacy + DebugSwap (6.5-6.7 kernels with kvm_amd.debug_swap, §5.2): both
        (("--init-path", "legacy", "--vmsa-features", "0x20"), {0x408: 0, 0x409: 0, 0x410: 0, 0x411: 0,
                                                                 0x3B0: 0x20}),
        # INIT2 without features: the peer's seves VMSA exactly
        (("--init-path", "init2"), {}),
    ],
    ids=["legacy", "init2+ds", "legacy+ds", "init2"],
)
def test_sev_es_vmsas_differ_from_the_peers_only_where_the_spec_says(
    native_extra: tuple[str, ...], expected_diff: dict[int, int], files: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The §6.3 cases, structurally: pvmkit's SEV-ES VMSAs (``--dump-vmsa``) equal the peer's seves
    VMSAs (INIT2 FPU values, features 0) except in exactly the fields the init path and the VMSA
    features set, with exactly the spec's values (amd.md §3.2, §3.3, §5.1)."""
    peer_dir, our_dir = tmp_path / "peer", tmp_path / "pvmkit"
    peer_dir.mkdir()
    our_dir.mkdir()
    monkeypatch.chdir(peer_dir)
    peer = run_peer(["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--ovmf", files["@fw"],
                     "--dump-vmsa"])
    assert peer[0] == 0
    ours = run_pvmkit(["measure", "--vendor", "sev-es", "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--ovmf",
                       files["@fw"], *native_extra, "--dump-vmsa", str(our_dir)])
    assert ours[0] == 0, ours[2]
    for name in ("vmsa0.bin", "vmsa1.bin"):  # BSP and AP
        theirs, mine = (peer_dir / name).read_bytes(), (our_dir / name).read_bytes()
        assert len(theirs) == len(mine) == 4096
        diff = {i: mine[i] for i in range(4096) if mine[i] != theirs[i]}
        assert diff == expected_diff, name
        if not expected_diff:
            assert ours[1] == peer[1]


def test_sev_es_native_default_is_the_legacy_init_path(files: dict[str, str]) -> None:
    """QEMU >= 9.1 (legacy-vm-type=auto) launches SEV-ES through KVM_SEV_ES_INIT (amd.md §3.3): the
    native default must be the legacy vector, not the peer's INIT2 value."""
    import json

    code, out, err = run_pvmkit(["measure", "--vendor", "sev-es", "--ovmf", files["@fw"], "--vcpus", "1-4",
                                 "--vcpu-type", "EPYC-v4", "--output-format", "json"])  # fmt: skip
    assert code == 0, err
    records = {r["vcpus"]: r for r in map(json.loads, out.splitlines())}
    assert records[1]["init_path"] == "legacy" and records[1]["sev_features"] == "0x0"
    assert records[1]["digest"] == SPEC_6_3[0][4]
    assert records[4]["digest"] == SPEC_6_3[1][4]


# --------------------------------------------------------------------------------------------------
# Spec vectors: the harness drives the peer correctly, and pvmkit's drop-in reproduces them too.

#: Placeholders in the vector tables below: @A / @Apeer / @none are the §6.2 / peer-test / empty command
#: lines, @H / @H2 the OVMF hashes of the Debian image / the AmdSev tail, @V4 is "--vcpu-type EPYC-v4",
#: @EKI empty kernel and initrd files;
#: @fw, @kernel, ... are the input files (``files``). Each vector: an argument line, then its digest.
_WORDS = {"@A": [APPEND], "@Apeer": [APPEND_PEER], "@none": [""], "@H": [DEBIAN_OVMF_HASH],
          "@H2": [AMDSEV_OVMF_HASH], "@V4": ["--vcpu-type", "EPYC-v4"],
          "@EKI": ["--kernel", "@empty", "--initrd", "@empty"]}


def _vectors(prefix: str, table: str) -> list[tuple[str, tuple[str, ...], str]]:
    lines = table.strip().splitlines()
    out = []
    for i in range(0, len(lines), 2):
        words = [w for word in lines[i].split() for w in _WORDS.get(word, [word])]
        out.append((f"{prefix}-{i // 2}-{words[0]}", ("--mode", *words), lines[i + 1].strip()))
    return out


#: amd.md §6.2: the Debian OVMF.amdsev.fd with the §6.2 kernel/initrd/cmdline; computed there by an
#: independent implementation written from the spec and matched against sev-snp-measure 0.0.13 (all rows).
SPEC_6_2 = _vectors("6.2", """
sev --ovmf @fw
    3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f
sev --ovmf @fw --kernel @kernel
    07a4b2442fc9df1ee78fcc8c8231128ca617d20c4d2c7791084e605efb0022b1
sev --ovmf @fw --kernel @kernel --initrd @initrd
    1ff957f16b58d7a4ea6c6eaa4fc6dc9cc93cd94d6191cd1a52a6dc3d375a966f
sev --ovmf @fw --kernel @kernel --initrd @initrd --append @A
    e1cbd8b008a3aab69775f363c3f576d89c56c3e69a90a26628ea11f01aedd5be
sev --ovmf @fw --kernel @kernel --append @A
    1a07fd920b8256a4f11d82f2be136bd24afbca5212fa620115268204fae6c1c1
seves --ovmf @fw --vcpus 1 --vcpu-type EPYC-v4
    62f563dcde1a3fcde3e5ffd1a3ee7ff7e9bae00f74bada763587a311e2df5d7e
seves --ovmf @fw --vcpus 2 --vcpu-type EPYC-v4
    9851d5fecb322196a2fea09a2a3667bab221add8e8b69ab3d2637e813fa2e1b7
seves --ovmf @fw --vcpus 4 --vcpu-type EPYC-v4
    a3785f5a0490fd91a5b0369b8b4bb7dc0b15ccfa4a8c80ebe8cad03e621729ec
seves --ovmf @fw --vcpus 16 --vcpu-type EPYC-v4
    6f1fcedead6a1abbedb49086b0145319676a19b45a13fadd07067a90df10276b
seves --ovmf @fw --vcpus 64 --vcpu-type EPYC-v4
    457405eb5a835d0465d4171c5cfa2c9363c2db3def65920221ca236d7c2d6811
seves --ovmf @fw --vcpus 4 --vcpu-type EPYC-Rome
    2cf0c8d15a30a49992b036c2063e5845a890e0ba93996b14e35829bc5049a300
seves --ovmf @fw --vcpus 4 --vcpu-type EPYC-Milan
    aca61f83d5a1973ebbcabb6346dff90e5c4a8bd5563832479e7d6efbf28df430
seves --ovmf @fw --vcpus 4 --vcpu-type EPYC-Genoa
    4004e687a74dbb741df6081c3330f530462b60e6b28dd8cb84321d1432cca075
seves --ovmf @fw --vcpus 4 --vcpu-type EPYC-Turin
    ca628c15a837acf331fa56ad6702890995aafbd22c9596c5c5ec845239c6362b
seves --ovmf @fw --vcpus 1 --vmm-type ec2
    a0dff408545ed8bfd1a8450c6508ac431a2089eaafce2f341c4af901fc6c8e66
seves --ovmf @fw --vcpus 4 --vmm-type ec2
    aab89700f48730980dfea501d6b5706fbfb7293f4ea68b7f15f54e6e41e917c6
seves --ovmf @fw --vcpus 1 --vmm-type gce
    c9fcfa49e30936da792fb094401fab683449833c6894d33c75e0faff9850a21c
seves --ovmf @fw --vcpus 4 --vmm-type gce
    b5576dbc1a557ef47fb5a67f61268beb0fb877dbb868f9ac03f76bdb7509da3a
seves --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel
    f3089b31886b67ccb4df61463aca90b85e88f084956b77ac5651e0625e2b417f
seves --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --initrd @initrd
    6c9e4ab4f8e37520ba3cc9249ce1c9e35d13ded9f623734022a9e14ea34b9f48
seves --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --initrd @initrd --append @A
    b866f136288f1e8d5fcbc6f90da19ccc7e2101a145b759a541c0d12dd6daa109
seves --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --append @A
    4b3ab093530c2bdf78d18453b03355099c238b1878aa30e68f2b18689fe0df70
snp --ovmf @fw --vcpus 1 --vcpu-type EPYC-v4 --guest-features 0x1
    d74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-v4 --guest-features 0x1
    a3c946257b3cef8f1e25dd03cb84f9f01313ae9135c32acc7e01f4204aa447aaa196530d5999be0f114462d2546cd02d
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-v4 --guest-features 0x1
    13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f
snp --ovmf @fw --vcpus 16 --vcpu-type EPYC-v4 --guest-features 0x1
    d92de5853d01ce931f7ea1f06f5e50e165b74b3211902f9c30a4012224dc8d6eb950ca45bd3e5aeb94dcf9dfad43da10
snp --ovmf @fw --vcpus 64 --vcpu-type EPYC-v4 --guest-features 0x1
    c8988bfa29626e72129dd39d65a2deb380513881d5cb98f3b2dc1a6d02c8ebd6017056ff0943743a66a1221bea8f229e
snp --ovmf @fw --vcpus 1 --vcpu-type EPYC-v4 --guest-features 0x21
    5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-v4 --guest-features 0x21
    9b695c4a0d1b9d5e4387e9b51fea513fe44ff3a4a17da3c44f101d92501761722bf2c8eab08f065e12035245e2718b5d
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-v4 --guest-features 0x21
    a0edd3ca630eae842e556b4dd9e098621c361570051bc5b9c4181cefb6ab504a1b837f4229149af5a7727d6d2799f765
snp --ovmf @fw --vcpus 16 --vcpu-type EPYC-v4 --guest-features 0x21
    9ac608a0e5b245bbcebf86f8a2c4253cffdd81472b755dfa88ca8037931b84e01d22701b35453f64c44d03e1a311bb87
snp --ovmf @fw --vcpus 64 --vcpu-type EPYC-v4 --guest-features 0x21
    09ae317da4bd10979f81dd2400c1aa08b83918ebb317371e74d18ddf65756e77b9f1532c7e0df822536c28a4f9fdf294
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-Rome
    0746a0da8e4c8b739f76ffc53f1ff50b30298c533b455e58871fb3e35a8169e7f86a1abe421915e8cc057e760ba471ff
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-Milan
    c995d6122aacbc0434128f0c63783f03b7caec3f8f4292948522a00c0395ff126f1633d8346a20aa85f8dd3bd8739a38
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-Genoa
    d505c9acd20a52ed0afd3e763d3b7b1bdd695d54d588a3e9d7957b803b457602332d5911781485b552cbbed90a20f235
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-Turin
    d91d3c8cc27707d25027b79f6f93c15a86d4c41d0d04ea2ea51eb25eb6118f8f1cb731fc82f220fed80cdb22559270ac
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Genoa --guest-features 0x0
    cf0d5a6c7564c5fdf08a954cffb560b7b0d9aaa034077b91442ccd154b9017eb9bdb3508cd825ec5b9a6de88f4cf0509
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Genoa --guest-features 0x201
    bf3c575aec8a1a12b4e95d3318e280a5c6a393fdfb638f221804ad8c518450c0f841f41e62ed8b09af052d73cc8036cb
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Genoa --guest-features 0x221
    fd3c93e54357daabd8698ecc8a3cea660b07a4a906d84fbaf44208d7cdade3ed16e9af7955b92dc96f317540785cc6e5
snp --ovmf @fw --vcpus 1 --vmm-type ec2 --guest-features 0x1
    d32daa514f1f9f2380e00592ecaebac0f426148ba867b919b70737bbb4a406f6e508b30a083d10dad444b4b4648f4dd2
snp --ovmf @fw --vcpus 1 --vmm-type ec2 --guest-features 0x21
    7dfb757116da4d94fcd92527a4e122382cdafb8c3f34798bbdbe9c843d24357cf17906fb18818ed4245e81e499c334f5
snp --ovmf @fw --vcpus 4 --vmm-type ec2 --guest-features 0x1
    ef749be5d91ef69e32ba3aa64147faee140fbf0d2491dc68d514d785c601ac9031797cab53bff3fcd29421d6797adfc5
snp --ovmf @fw --vcpus 4 --vmm-type ec2 --guest-features 0x21
    6cfcd14cde950994b3d9f3bd76860007d00e8e004e083c7f0f91a2d125e666cd3f58fd80da816281b69f6f99388246b8
snp --ovmf @fw --vcpus 1 --vmm-type gce --guest-features 0x1
    892954bc3aaf8680d84e6150978bf5c30e57b4fcf4ba5705a9b02942b3e8301841b933eca82abe82546b103ecd469506
snp --ovmf @fw --vcpus 1 --vmm-type gce --guest-features 0x21
    da9c015b8a0606fda0c789b96d2b94ef03a3ea0259ff7742becac5353c34c0b852abc53d30b305b09163aacf8d8681ad
snp --ovmf @fw --vcpus 4 --vmm-type gce --guest-features 0x1
    0c82739b322f995ee85a729377e469887a4630d2bc1aa9de3c5afe6280f408c4d3384622b603e14bc84ff2ad99f2ade8
snp --ovmf @fw --vcpus 4 --vmm-type gce --guest-features 0x21
    563e6c136891a03244336308a0d0d4ad8ec986805d896b6220af5fd3e2ce6d54e94a7c720924a7f863466e38d3f58bb2
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel
    db4788ea8ba8d43318a5611f5c8b4feb918d2a74a6190fb4c872e194e369517f87c6fae2ccc8011b9a311e88772c1637
snp --ovmf @fw --vcpus 2 --vmm-type ec2 --kernel @kernel
    dace0707e18eaa6f8a8c87720ea5b88c452a8cbc9367392ecae947f3b37f0ae522dd528b38d7232958c5b326282b1e3f
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --initrd @initrd
    3735b6e8de0744915f47b7b94baa184ded8138bae6f6fe18acdc30f8b4d222ba2836bd28bf132dc6cb6638655d9d4af1
snp --ovmf @fw --vcpus 2 --vmm-type ec2 --kernel @kernel --initrd @initrd
    bec1b277baf9cbbc0cb7f2de6078e6ac907958ef401dbfff8c9de2bf30ce1ed0fb1b923d22bc7ab88a7fd8de0b3909d3
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --initrd @initrd --append @A
    12a47b4ea7a456d32efb57fbec3444ca9ef769eec8fbff4ecc48c4772b20a49e2725a81e3d65413b76fd4b65bebe9a50
snp --ovmf @fw --vcpus 2 --vmm-type ec2 --kernel @kernel --initrd @initrd --append @A
    464b83ffe0b0ffc9fd64ea3157d57bc59b4798b45afec0038b41f343d4d9cbd6106cb81947734db2767ca164c8cd4ca4
snp --ovmf @fw --vcpus 2 --vcpu-type EPYC-Milan --kernel @kernel --append @A
    6751778e5cda4d484807db36bc1dd07ee94200f50672d6c9e28a3c64a1305f2531e5cb03bb1d356d22175c5cc9de0fbf
snp --ovmf @fw --vcpus 2 --vmm-type ec2 --kernel @kernel --append @A
    2fc48332afdb415aa1002696c64d8e9ecb71fd9d16f1a9ce4f2eee704153bff766384effe38829f52dbf7a278879cf75
snp:ovmf-hash --ovmf @fw
    9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806
snp --ovmf @fw --vcpus 4 --vcpu-type EPYC-v4 --snp-ovmf-hash @H --kernel @kernel --initrd @initrd --append @A
    0003eb99ec35f311c8d8128fc1bcbad24231f049905d2c2fe2e1ab0665094aff508f660f9c0c740cb637acbdc48e4565
snp --ovmf @fw --vcpus 4 --vcpu-sig 0x800f12
    13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f
snp --ovmf @fw --vcpus 4 --vcpu-family 23 --vcpu-model 1 --vcpu-stepping 2
    13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f
""")

#: amd.md §6.1: the peer's published vectors (its tests/test_guest.py) on its own fixtures; its kernel and
#: initrd are /dev/null (here: empty files). The two snp:svsm rows are hardware-derived per the peer's
#: fixtures README (amd.md §4.3).
SPEC_6_1 = _vectors("6.1", """
snp:ovmf-hash --ovmf @amdsev
    086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x21 @EKI --append @none --snp-ovmf-hash @H2
    329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x1 @EKI --append @none --snp-ovmf-hash @H2
    ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x21 @EKI --append @Apeer
    803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x1 @EKI --append @Apeer
    6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa
snp --ovmf @amdsev --vcpus 1 @V4 --vmm-type ec2 --guest-features 0x21 @EKI --append @none
    0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb
snp --ovmf @amdsev --vcpus 1 @V4 --vmm-type ec2 --guest-features 0x1 @EKI --append @none
    0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056
snp --ovmf @amdsev --vcpus 1 @V4 --vmm-type gce --guest-features 0x1 @EKI --append @none
    5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e
snp --ovmf @amdsev --vcpus 4 @V4 --vmm-type gce --guest-features 0x1 @EKI --append @none
    5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x21
    e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b
snp --ovmf @amdsev --vcpus 1 @V4 --guest-features 0x1
    19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d
snp --ovmf @amdsev --vcpus 4 @V4 --guest-features 0x21 @EKI --append @none
    4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942
snp --ovmf @amdsev --vcpus 4 @V4 --guest-features 0x1 @EKI --append @none
    5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5
snp --ovmf @ovmfx64 --vcpus 1 @V4 --guest-features 0x21
    28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385
snp --ovmf @ovmfx64 --vcpus 1 @V4 --guest-features 0x1
    da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005
seves --ovmf @amdsev --vcpus 1 @V4 @EKI --append @none
    13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c
seves --ovmf @amdsev --vcpus 4 @V4 @EKI --append @none
    0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91
sev --ovmf @amdsev @EKI --append @Apeer
    82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff
sev --ovmf @amdsev --kernel @empty
    77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898
sev --ovmf @ovmfx64
    b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da
snp:svsm --ovmf @svsm_ovmf --svsm @svsm --vars-size 540672 --vcpus 4 @V4
    27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2
snp:svsm --ovmf @svsm_ovmf --svsm @svsm --vars-size 540672 --vcpus 2 @V4
    9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7
""")

SPEC_VECTORS = SPEC_6_2 + SPEC_6_1


@pytest.mark.parametrize(("args", "digest"), [v[1:] for v in SPEC_VECTORS], ids=[v[0] for v in SPEC_VECTORS])
def test_peer_reproduces_spec_vectors(args: tuple[str, ...], digest: str, files: dict[str, str]) -> None:
    """Harness self-check, independent of pvmkit: driven this way, the peer prints the spec's digests."""
    assert run_peer(resolve(args, files)) == (0, digest + "\n", "")


@pytest.mark.parametrize(("args", "digest"), [v[1:] for v in SPEC_VECTORS], ids=[v[0] for v in SPEC_VECTORS])
def test_pvmkit_drop_in_reproduces_spec_vectors(
    args: tuple[str, ...], digest: str, files: dict[str, str]
) -> None:
    assert run_pvmkit(["sev-snp-measure", *resolve(args, files)]) == (0, digest + "\n", "")
