"""Every command shown in README.md's code blocks and in the ``$`` examples of docs/cli.md, amd.md,
tdx.md, tdx-measure.md, igvm.md, cca.md, reference-values.md, attestation.md and sw-vm.md runs as
written (issue 9 part 5), and so does every ``python`` block of README.md and docs/ that is complete
as shown; the rest (signatures, excerpts) are marked ``NotRun`` with the reason (``PYTHON_EXAMPLES``).

An example is a line of a fenced code block that starts with ``.venv/bin/pvmkit `` or ``./dev ``
(README.md) or ``$ `` (the pages under docs/), with ``\\`` continuation lines joined and a
trailing ``# comment`` dropped. ``EXAMPLES`` below lists each one with the exit status it must
give, or why it is not run.
File names in examples are placeholders: ``FILES`` maps each to a fixture (read in place) or to a
file this test builds; ``WORDS`` replaces the upper-case placeholders (HEX, BASE64). The examples
run in document order in one temporary directory, through ``bash`` with ``pvmkit`` and
``.venv/bin/pvmkit`` meaning this checkout's command, so redirections and files made by an earlier
example (``> mrtd.json``) work as a reader would see them.

Where a page prints a command's output (stdout, then stderr) after it, ``Run(shows=...)`` compares
it: exactly, or line by line by label for host-dependent output such as ``pvmkit probe``'s; a shown
line ``…`` stands for any lines and a ``…`` inside a line for any text there. Examples that use a file
an earlier one wrote (``mrtd.json``) need that one to run first, as in a whole-file run.

A new example in any of these documents fails ``test_every_example_is_in_the_table`` until it is added to
``EXAMPLES`` (and its inputs to ``FILES``/``WORDS``); an entry whose example is gone fails too. Likewise
a new ``python`` block anywhere in README.md or docs/ (indented ones included) fails
``test_every_python_example_is_in_the_table`` until ``PYTHON_EXAMPLES`` runs it or says why not.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.fixtures import fixture_path
from support.igvm_vectors import igvm_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    "README.md",
    "docs/cli.md",
    "docs/amd.md",
    "docs/tdx.md",
    "docs/tdx-measure.md",
    "docs/igvm.md",
    "docs/cca.md",
    "docs/reference-values.md",
    "docs/attestation.md",
    "docs/sw-vm.md",
)
#: every page whose ```python blocks ``PYTHON_EXAMPLES`` must list (run, or why not)
PYTHON_DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))


@dataclass(frozen=True)
class Run:
    """Run the example; it must exit with ``code``. ``kvm``: needs /dev/kvm (skipped without it).
    ``words``: placeholders with a meaning of their own in this example (else ``WORDS``). ``shows``:
    how the output the document prints after the command must match (docs/cli.md's ``$`` blocks)."""

    code: int = 0
    kvm: bool = False
    why: str = ""  # for a non-zero code: why that is the right answer
    words: tuple[tuple[str, str], ...] = ()
    shows: str = ""  # "exact": stdout is the output the document shows; "labels": the same lines


@dataclass(frozen=True)
class NotRun:
    """The example is not run, for this reason."""

    reason: str


VENV = ".venv/bin/pvmkit "

#: every example, exactly as the documents spell it (continuations joined, comment dropped)
EXAMPLES: dict[str, Run | NotRun] = {
    # README.md
    "./dev demo": NotRun("sets up .venv and runs the demo; tests/cli/test_cli_demo.py runs the demo"),
    "./dev test": NotRun("runs this very test suite (CI runs it)"),
    "./dev test --fast": NotRun("runs this very test suite's fast tier"),
    VENV + "probe": Run(kvm=True),
    VENV + "measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4": Run(),
    VENV + "measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-64 --vcpu-type EPYC-v4 "
    "--output-format json": Run(),
    VENV + "sev-snp-measure --mode snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf OVMF.amdsev.fd": Run(),
    VENV + "snp-create-id-block --measurement BASE64 --idkey id.pem --authorkey author.pem": Run(),
    VENV + "measure --vendor tdx --firmware OVMF.inteltdx.ms.fd": Run(),
    VENV + "measure --vendor snp --igvm coconut-qemu.igvm": Run(),
    VENV + "measure --vendor cca --ipa-bits 40 --num-bps 6 --num-wps 4 --load 0x80000000:Image "
    "--pc 0x80000000": Run(),
    # the fixture report's guest policy allows DEBUG (POLICY 0xb0000, bit 19), which verify refuses
    # unless --allow-debug is given
    VENV + "verify --report report.bin --vcek vcek.der --chain ask_ark.pem --measurement HEX "
    "--allow-debug": Run(),
    VENV + "measure --vendor tdx --firmware OVMF.inteltdx.ms.fd --json > mrtd.json": Run(),
    VENV + "verify --quote quote.dat --expect mrtd.json --no-debug": Run(
        3, why="no fixture quote comes from a TD booted with this firmware, so MRTD must mismatch"
    ),
    VENV + "tdx replay --ccel-table ccel_table.dat --ccel-data ccel_data.dat --quote quote.dat": Run(),
    VENV + "inspect quote.dat": Run(),
    # dcap-qvl's sample TDX quote and its PCS collateral of 2025-06-19: UpToDate (dcap-appraisal-cases.json)
    VENV + "verify --quote tdx_quote --collateral tdx_quote_collateral.json --at 2025-07-01T00:00:00Z": Run(),
    VENV + "verify --cca-token token.cbor --ta-store tastore.json --rim HEX": Run(
        words=(("HEX", "REALM_RIM"),)
    ),
    # docs/reference-values.md
    "pvmkit reference-values --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-64,128 "
    "--vcpu-type EPYC-v4,EPYC-Milan --vmm-type qemu,gce --format trustee -o rv-message.json "
    "--explain 2> rv-explained.txt": Run(),
    "curl -X POST -H 'Content-Type: application/json' --data @rv-message.json "
    '"$KBS/kbs/v0/reference-value"': NotRun("posts to a Trustee KBS, which the tests do not run"),
    "pvmkit verify --report report.bin --vcek vcek.der --chain ask_ark.pem --expect rv-message.json": Run(
        3,
        why="the fixture report is no launch of this firmware, so its MEASUREMENT is in no set of this fleet",
    ),
    "pvmkit inspect --type ovmf --json OVMF.amdsev.fd > ovmf.json": Run(),
    "pvmkit reference-values --vendor snp --ovmf-description ovmf.json --kernel-sha256 KERNEL_SHA256 "
    '--initrd-sha256 INITRD_SHA256 --cmdline "console=ttyS0" --vcpus 1-16 --vcpu-type EPYC-Milan '
    "--format trustee": Run(),
    # docs/cli.md
    "pvmkit probe": Run(kvm=True, shows="labels"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-2 --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpu-type EPYC-v4 --init-path init2": Run(
        shows="exact"
    ),
    "pvmkit measure --vendor sw": Run(),
    # cca-realm-measurements' published kvmtool vector (tests/vectors/README.md "Arm CCA VMM layouts")
    "pvmkit measure --vendor cca --num-bps 6 --num-wps 6 --vmm-type kvmtool --memory 512M --vcpus 1": Run(
        shows="exact"
    ),
    "pvmkit sev-snp-measure --mode snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf OVMF.amdsev.fd": Run(
        shows="exact"
    ),
    "pvmkit reference-values --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-2 --vcpu-type EPYC-v4 "
    "--format trustee-provenance": Run(shows="exact"),
    "pvmkit reference-values --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-64 --vcpu-type EPYC-v4,EPYC-Milan "
    "--vmm-type qemu,ec2,gce --vmsa-features 0x0 --vmsa-features 0x20 -o rv-message.json": Run(),
    "pvmkit reference-values --vendor tdx --firmware OVMF.inteltdx.ms.fd "
    "--value xfam=e742060000000000": Run(),
    "pvmkit sev-launch-measure --tik 000102030405060708090a0b0c0d0e0f "
    "--mnonce 101112131415161718191a1b1c1d1e1f --policy 1 --api-major 1 --api-minor 55 --build 21 "
    "--launch-digest "
    "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f --output-format hex": Run(),
    # docs/amd.md (the output each shows is compared; the digests are the "AMD" test vectors)
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 2 --vcpu-type EPYC-Milan --kernel kernel.bin "
    '--initrd initrd.bin --append "console=ttyS0 root=/dev/vda rw"': Run(shows="exact"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4 "
    "--vmsa-features DEBUG_SWAP": Run(shows="exact"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 4 --vmm-type ec2": Run(shows="exact"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-3 --vcpu-type EPYC-Genoa": Run(
        shows="exact"
    ),
    "pvmkit measure --vendor sev --ovmf OVMF.amdsev.fd": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4 "
    "--init-path init2": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4 "
    "--vmsa-features 0x20": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpus 2 --vcpu-type EPYC-v4 --vmm-type ec2": Run(
        1, why="ec2 is an SNP platform: the example shows the refusal", shows="exact"
    ),
    "pvmkit sev-snp-measure --mode snp:ovmf-hash --ovmf OVMF.amdsev.fd": Run(shows="exact"),
    "tail -c 4096 OVMF.amdsev.fd > ovmf-tail.bin": Run(),
    "pvmkit measure --vendor snp --ovmf ovmf-tail.bin --vcpus 4 --vcpu-type EPYC-v4 --ovmf-hash "
    "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806": Run(
        shows="exact"
    ),
    "pvmkit sev-snp-measure --mode seves --vcpus 4 --vcpu-type EPYC-v4 --ovmf OVMF.amdsev.fd": Run(
        shows="exact"
    ),
    "pvmkit sev-snp-measure --mode snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf OVMF.amdsev.fd --snp-ovmf-hash "
    "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806 "
    "--output-format base64": Run(shows="exact"),
    "pvmkit sev-launch-measure --vendor sev --ovmf OVMF.amdsev.fd --tik 000102030405060708090a0b0c0d0e0f "
    "--mnonce 101112131415161718191a1b1c1d1e1f --policy 0x1 --api-major 1 --api-minor 55 --build 21": Run(
        shows="exact"
    ),
    "pvmkit sev-launch-measure --vendor sev --ovmf OVMF.amdsev.fd --tik 000102030405060708090a0b0c0d0e0f "
    "--policy 0x1 --api-major 1 --api-minor 55 --build 21 "
    "--check /Msggk43l/1tTX1GpiuHOEgAND6IaeQU7vnSq/alp4EQERITFBUWFxgZGhscHR4f": Run(shows="exact"),
    "pvmkit probe --json": Run(kvm=True),
    # docs/tdx.md (boot.dat, acpi.dat, short.dat are built from ccel_data.dat: see BUILT_LAZILY)
    "pvmkit tdx replay --ccel-table ccel_table.dat --ccel-data ccel_data.dat "
    "--quote cos-113-tdx-quote.dat": Run(shows="exact"),
    "echo $?": NotRun("shows the exit status of the example before it, which that example's entry checks"),
    "pvmkit tdx replay --ccel-data boot.dat --quote cos-113-tdx-quote.dat": Run(
        3, why="the changed byte breaks a recomputable digest", shows="exact"
    ),
    "pvmkit tdx replay --ccel-data acpi.dat --quote cos-113-tdx-quote.dat": Run(
        3, why="the changed digest makes RTMR0 differ from the quote", shows="exact"
    ),
    "pvmkit tdx replay --ccel-data acpi.dat --quote cos-113-tdx-quote.dat --reference ccel_data.dat": Run(
        3, why="the reference log names the changed event", shows="exact"
    ),
    "pvmkit tdx replay --ccel-data ccel_data.dat --quote ../quote_v5_sample.dat": Run(
        3, why="the log belongs to another TD than the quote", shows="exact"
    ),
    "pvmkit tdx replay --ccel-data short.dat": Run(1, why="a truncated log is refused input", shows="exact"),
    "pvmkit inspect ccel_data.dat": Run(shows="exact"),
    "pvmkit inspect cos-113-tdx-quote.dat": Run(shows="exact"),
    # docs/igvm.md
    "pvmkit measure --vendor snp --igvm coconut-qemu.igvm": Run(),
    "pvmkit measure --vendor snp --igvm coconut-qemu.igvm --igvm-loader igvmmeasure": Run(),
    "pvmkit measure --vendor tdx --igvm td.igvm --igvm-loader igvm-crate --output-format json": Run(),
    # docs/attestation.md: go-sev-guest's report under a policy file (DEBUG refused by default, then
    # allowed), its KDS URLs; the Google Cloud TDX quote with PCS collateral of 2025-07-07 (the case
    # tdx/automata/gce-outofdate of dcap-appraisal-cases.json: OutOfDate, three advisories)
    "cat policy.json": Run(shows="exact"),
    "pvmkit verify --report report.bin --vcek vcek.der --chain ask_ark.pem --at 2025-06-01T00:00:00Z "
    "--policy-file policy.json": Run(
        3, why="the guest's POLICY allows DEBUG, refused unless allowed (secure default)", shows="exact"
    ),
    "pvmkit verify --report report.bin --vcek vcek.der --chain ask_ark.pem --at 2025-06-01T00:00:00Z "
    "--policy-file policy.json --allow-debug": Run(shows="exact"),
    "pvmkit verify --report report.bin --kds-url": Run(shows="exact"),
    "pvmkit verify --quote quote_tdx.bin --at 2025-08-01T00:00:00Z "
    "--tcb-info tcb_info_v3_with_tdx_module.json --tcb-info-issuer-chain signing_chain.pem "
    "--qe-identity qe_identity.json --qe-identity-issuer-chain "
    "signing_chain.pem --pck-crl pck_platform_crl.der --pck-crl-issuer-chain platform_chain.pem "
    "--root-ca-crl intel_root_ca_crl.der": Run(
        3, why="Intel's TCB status of this platform is OutOfDate, which is not accepted", shows="exact"
    ),
    # docs/tdx-measure.md: RTMR0 of dstack's default launch for 768 shapes (about 1.5 s here)
    "pvmkit measure --vendor tdx --firmware OVMF.inteltdx.ms.fd --rtmr --vcpus 1-256 --memory 2G,16G,64G "
    '--qemu-version 10.2 --smbios-processor-id "F8 06 08 00 FF FB EB BF" '
    "--secure-boot off --kernel-authenticode HEX --json": Run(),
    # docs/tdx-measure.md: RTMR0 of a UKI boot from a one-disk launch (boot variables generated)
    "pvmkit measure --vendor tdx --firmware OVMF.inteltdx.ms.fd --rtmr --vcpus 1 --memory 2G "
    '--secure-boot off --smbios-processor-id "F8 06 08 00 FF FB EB BF" '
    "--uki-authenticode HEX --systemd-version 257 "
    '--qemu-args "-drive file=disk.img,if=none,id=hd0 -device virtio-blk-pci,drive=hd0,addr=3" --json': Run(),
    # docs/cca.md
    "pvmkit measure --vendor cca --ipa-bits 40 --num-bps 6 --num-wps 4 --ripas 0x80000000:2M --ripas-first "
    "--load 0x80000000:P.bin --load-unmeasured 0x80001000:zero.bin --pc 0x80000000 --gpr 0=0x80100000 "
    "--vcpus 2": Run(shows="exact"),
}

#: MEASUREMENT of go-sev-guest's report (bytes 90h-BFh; the policy pins it, docs/attestation.md)
REPORT_MEASUREMENT = (
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
)
#: automata-dcap-attestation's Solana test data (docs/attestation.md's TDX example)
_AUTOMATA = "automata-dcap/solana/automata-dcap-framework/tests/data/"

#: file placeholders → a fixture path (str, under the fixture root) or bytes this test writes
FILES: dict[str, str | bytes] = {
    "OVMF.amdsev.fd": "firmware/OVMF.amdsev.fd",
    "OVMF.inteltdx.ms.fd": "firmware/OVMF.inteltdx.ms.fd",
    "report.bin": "go-sev-guest/attestation.bin",
    "vcek.der": "go-sev-guest/vcek.testcer",
    "ask_ark.pem": "go-sev-guest/trust/ask_ark_milan.pem",
    "quote.dat": "go-tdx-guest/ccel/cos-113-tdx-quote.dat",
    "ccel_table.dat": "go-tdx-guest/ccel/ccel_table.dat",
    "ccel_data.dat": "go-tdx-guest/ccel/ccel_data.dat",
    "tdx_quote": "dcap-qvl/sample/tdx_quote",
    "tdx_quote_collateral.json": "dcap-qvl/sample/tdx_quote_collateral.json",
    "coconut-qemu.igvm": igvm_file(),  # the IGVM spec's regression file (tests/support/igvm_vectors.py)
    "Image": bytes(range(256)) * 16,  # any bytes: the CCA RIM measures what is loaded
    # Trustee's CCA example token and the trust-anchor store its local verifier checks it with
    "token.cbor": "trustee/deps/verifier/test_data/cca/misc/cca-example-token.cbor",
    "tastore.json": "trustee/deps/verifier/test_data/cca/conf/tastore.json",
    # docs/amd.md: the kernel and initrd of the "AMD" vectors (tests/cli/test_amd_vectors.py)
    "kernel.bin": bytes((i * 7 + 3) & 0xFF for i in range(65536)),
    "initrd.bin": b"pvmkit-initrd\n" * 1000,
    # docs/cca.md: the RIM regression flow's page and an all-zero page (tests/cli/test_cli_measure_cca.py)
    "P.bin": bytes(range(256)) * 16,
    "zero.bin": bytes(4096),
    # docs/igvm.md: the regression file for the TDX platform (IGVM platform type 3)
    "td.igvm": igvm_file(3),
    # docs/tdx.md: the GCE quote under its upstream name, Intel's v5 sample one directory up
    "cos-113-tdx-quote.dat": "go-tdx-guest/ccel/cos-113-tdx-quote.dat",
    "../quote_v5_sample.dat": "go-tdx-guest/quote_v5_sample.dat",
    # docs/attestation.md: the appraisal examples
    "policy.json": "\n".join(
        [
            "{",
            '  "schema": "pvmkit.snp-policy/1",',
            f'  "measurement": ["{REPORT_MEASUREMENT}"],',
            '  "minimum_tcb": {"bootloader": 2, "snp": 5, "microcode": 68},',
            '  "minimum_version": "1.49",',
            '  "platform_info": "0x1",',
            '  "vmpl": 0',
            "}\n",
        ]
    ).encode(),
    "quote_tdx.bin": _AUTOMATA + "quote_tdx.bin",
    "tcb_info_v3_with_tdx_module.json": _AUTOMATA + "tcb_info_v3_with_tdx_module.json",
    "qe_identity.json": _AUTOMATA + "qe_identity.json",
    "pck_platform_crl.der": _AUTOMATA + "pck_platform_crl.der",
    "intel_root_ca_crl.der": _AUTOMATA + "intel_root_ca_crl.der",
}


def _p384_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ccel_data() -> bytes:
    return fixture_path("go-tdx-guest/ccel/ccel_data.dat").read_bytes()


def _ccel_changed(offset: int, old: int, new: int) -> bytes:
    data = bytearray(_ccel_data())
    assert data[offset] == old, f"ccel_data.dat byte {offset:#x} is {data[offset]:#x}, not {old:#x}"
    data[offset] = new
    return bytes(data)


def _boot_dat() -> bytes:
    """docs/tdx.md's ``boot.dat``: one byte of Boot0001's variable data (event 13) changed, 'I' to 'H'
    (the 13th byte of the load option, at 0x239e in the file)."""
    return _ccel_changed(0x239E, ord("I"), ord("H"))


def _acpi_dat() -> bytes:
    """docs/tdx.md's ``acpi.dat``: byte 5 of event 10's digest (``509dcfe10beb5d47…``) 0xeb to 0xab."""
    data = _ccel_data()
    return _ccel_changed(data.index(bytes.fromhex("509dcfe10beb5d47")) + 5, 0xEB, 0xAB)


def _pem_chain(*names: str) -> Callable[[], bytes]:
    """docs/attestation.md's issuer chains: automata's DER certificates as one PEM file, leaf first."""

    def build() -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        ders = (fixture_path(_AUTOMATA + name).read_bytes() for name in names)
        return b"".join(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM) for der in ders)

    return build


#: keys the ID-block example signs with (ECDSA P-384: the only ID-block key type the SEV-SNP firmware
#: ABI specification's ID_AUTH structure defines)
BUILT_LAZILY = {
    "id.pem": _p384_pem,
    "author.pem": _p384_pem,
    "boot.dat": _boot_dat,
    "acpi.dat": _acpi_dat,
    "short.dat": lambda: _ccel_data()[:5000],  # docs/tdx.md: cut inside event 7's data (0xfee + 922)
    "signing_chain.pem": _pem_chain("signing.der", "root.der"),
    "platform_chain.pem": _pem_chain("platform.der", "root.der"),
}


def _report_measurement() -> str:
    """MEASUREMENT of report.bin: bytes 90h-BFh of the report (SEV-SNP firmware ABI specification,
    ATTESTATION_REPORT structure)."""
    report = fixture_path("go-sev-guest/attestation.bin").read_bytes()
    return report[0x90:0xC0].hex()


def _realm_rim() -> str:
    """The RIM Trustee's reference-value store lists for its example token (the store's only realm
    entry, ``initial-measurement``)."""
    import json

    store = json.loads(fixture_path("trustee/deps/verifier/test_data/cca/conf/rvstore.json").read_text())
    rim: str = store["realm"][0]["initial-measurement"]
    return rim


#: word placeholders → their value (computed when first needed)
def _sha256_of(name: str) -> Callable[[], str]:
    """The SHA-256 of a generated input of ``FILES`` (docs/reference-values.md's published digests)."""

    def digest() -> str:
        data = FILES[name]
        assert isinstance(data, bytes)
        return hashlib.sha256(data).hexdigest()

    return digest


WORDS = {
    "KERNEL_SHA256": _sha256_of("kernel.bin"),
    "INITRD_SHA256": _sha256_of("initrd.bin"),
    "HEX": _report_measurement,
    "BASE64": lambda: base64.b64encode(bytes(range(48))).decode(),  # any 48-byte launch digest
    "REALM_RIM": _realm_rim,
}


# -- collecting the examples -------------------------------------------------------------------------
def examples_of(doc: str) -> list[tuple[str, list[str]]]:
    """The example commands in one document, in order, each with the output lines the document shows
    after it (up to the next command or the end of the block)."""
    lines = (ROOT / doc).read_text().splitlines()
    found: list[tuple[str, list[str]]] = []
    in_block, pending, shown = False, "", None
    for line in lines:
        if line.startswith("```"):
            in_block, pending, shown = not in_block, "", None
            continue
        if not in_block:
            continue
        if pending:
            text = pending + " " + line.strip()
        elif line.startswith("$ "):
            text = line[2:].strip()
        elif doc == "README.md" and (line.startswith(".venv/bin/pvmkit ") or line.startswith("./dev ")):
            text = line.strip()
        else:
            if shown is not None:
                shown.append(line.rstrip())
            continue
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        pending, shown = "", []
        found.append((_without_comment(text), shown))
    return found


def _without_comment(text: str) -> str:
    """Drop a trailing shell comment (`  # ...`), keeping a '#' inside a word."""
    text = re.sub(r"\s+#\s.*$", "", text)
    return re.sub(r"\s+", " ", text).strip()


ALL = [(doc, example, shown) for doc in DOCS for example, shown in examples_of(doc)]


def test_every_example_is_in_the_table() -> None:
    documented = {example for _doc, example, _shown in ALL}
    missing = [f"{doc}: {example}" for doc, example, _shown in ALL if example not in EXAMPLES]
    stale = sorted(set(EXAMPLES) - documented)
    assert not missing, (
        "examples not in tests/cli/test_doc_examples.py's EXAMPLES table (add each with its exit code "
        "or why it is not run):\n  " + "\n  ".join(missing)
    )
    assert not stale, "EXAMPLES entries no document shows any more:\n  " + "\n  ".join(stale)


# -- running them ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the examples run in (``cwd`` under a temporary root, so that ``../NAME`` lands
    in the root): every placeholder file under its documented name, and ``pvmkit`` and
    ``.venv/bin/pvmkit`` wrappers that run this checkout's command with this interpreter."""
    root = tmp_path_factory.mktemp("doc-examples")
    where = root / "cwd"
    where.mkdir()
    for name, source in FILES.items():
        if isinstance(source, bytes):
            (where / name).write_bytes(source)
        else:
            path = fixture_path(source)  # skips (or fails under CI) when the fixture is absent
            (where / name).symlink_to(path)
    for name, build in BUILT_LAZILY.items():
        (where / name).write_bytes(build())
    wrapper = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pvmkit "$@"\n'
    for script in (root / "bin" / "pvmkit", where / ".venv" / "bin" / "pvmkit"):
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(wrapper)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return where


def _matches(shown: list[str], actual: list[str]) -> bool:
    """Whether the output a document shows matches the real one. A shown line ``…`` (or ``...``)
    stands for any number of lines; a ``…`` inside a line for any text there."""
    if not shown:
        return not actual
    head, rest = shown[0], shown[1:]
    if head.strip() in ("…", "..."):
        return any(_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("…"))
    return re.fullmatch(pattern, actual[0]) is not None and _matches(rest, actual[1:])


def _label(line: str) -> str:
    """The label column of a ``label   value`` line."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]


def substituted(example: str, entry: Run) -> str:
    """The example with its word placeholders replaced (whole words only)."""
    local = dict(entry.words)
    for word in set(shlex.split(example, comments=False, posix=True)):
        value = WORDS.get(local.get(word, word))
        if value is not None:
            example = re.sub(rf"(?<![\w/.-]){re.escape(word)}(?![\w/.-])", value(), example)
    return example


RUN = [(d, e, shown) for d, e, shown in ALL if not isinstance(EXAMPLES.get(e), NotRun)]


@pytest.mark.parametrize(("doc", "example", "shown"), RUN, ids=[f"{d}: {e}"[:90] for d, e, _s in RUN])
def test_example_runs_as_documented(doc: str, example: str, shown: list[str], workdir: Path) -> None:
    entry = EXAMPLES.get(example)
    if not isinstance(entry, Run):
        pytest.fail(f"{doc}: {example!r} is not in EXAMPLES (see test_every_example_is_in_the_table)")
    if entry.kvm and not os.path.exists("/dev/kvm"):
        pytest.skip("needs /dev/kvm")
    env = {**os.environ, "PATH": f"{workdir.parent / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["bash", "-c", substituted(example, entry)]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == entry.code, (
        f"{doc}: {example}\nexited {done.returncode}, expected {entry.code} {entry.why}\n"
        f"stderr: {done.stderr[-2000:]}"
    )
    if entry.code == 0:
        assert "Traceback" not in done.stderr
    else:
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("pvmkit: "), done.stderr
    actual = done.stdout.splitlines() + done.stderr.splitlines()  # as a terminal shows them
    if entry.shows == "exact":
        assert _matches(shown, actual), f"{doc} shows other output for {example}:\n" + "\n".join(actual)
    elif entry.shows == "labels":  # host-dependent values: the same lines, each with the same label
        assert _matches([_label(x) for x in shown], [_label(x) for x in actual]), (
            f"{doc} shows other lines for {example}:\n" + "\n".join(actual)
        )


def test_shown_output_matching() -> None:
    """The rule ``_matches`` applies: a ``…`` line for any lines, a ``…`` inside a line for any text."""
    assert _matches(["RTMR0 3fa2…  match", "…", "done"], ["RTMR0 3fa2f61f  match", "x", "y", "done"])
    assert _matches(["a", "…"], ["a"]) and _matches(["..."], [])
    assert not _matches(["a…c"], ["abd"])
    assert not _matches(["a"], ["a", "b"])  # nothing unshown may follow
    assert not _matches(["a", "b"], ["a"])


# -- Python examples ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PyRun:
    """Run the block as a script with this checkout's interpreter, in a directory holding ``files``
    (placeholders of ``FILES``) under their documented names; ``check`` (Python) then runs in the
    block's namespace and must not fail, and the block's stdout must match ``prints`` (as
    ``_matches`` compares shown output) unless it is None. ``kvm``: needs /dev/kvm."""

    check: str
    files: tuple[str, ...] = ()
    prints: tuple[str, ...] | None = None
    kvm: bool = False


#: every ```python block of ``PYTHON_DOCS``, by (page, its number there from 1)
PYTHON_EXAMPLES: dict[tuple[str, int], PyRun | NotRun] = {
    ("docs/amd.md", 1): NotRun("a sketch: needs /dev/sev (SEV hardware); plan, tik, predicted_ld elsewhere"),
    ("docs/architecture.md", 1): NotRun("an excerpt of src/pvmkit/vendors/sw/vendor.py (checked below)"),
    ("docs/architecture.md", 2): NotRun("the same description spelt out field by field, not code to run"),
    # go-sev-guest's report: MEASUREMENT is bytes 90h-BFh, its POLICY 0xb0000 sets DEBUG (bit 19),
    # its signing key is the VCEK (SIGNING_KEY 0 in bits 4:2 of the flags at 48h; SEV-SNP firmware ABI,
    # ATTESTATION_REPORT)
    ("docs/attestation.md", 1): PyRun(
        check=f"assert r.measurement.hex() == {REPORT_MEASUREMENT!r}\n"
        "assert r.policy_info.debug is True and r.signing_key_name == 'vcek'\n"
        "raw = open('report.bin', 'rb').read()\n"
        "assert r.tcb('reported_tcb').snp == raw[0x180 + 6]  # REPORTED_TCB's SNP byte\n",
        files=("report.bin",),
    ),
    ("docs/attestation.md", 2): NotRun("the signature of verify_snp, its arguments as placeholders"),
    # a report signed by fresh software keys verifies against their own ARK (and only because it is
    # named as the trust anchor: AMD's ARKs are the default), and carries the VCEK's hwID as CHIP_ID
    ("docs/attestation.md", 3): PyRun(
        check="assert verify_snp(signed, keys.vcek_der, keys.chain_pem, expected=None).ok is False\n"
        "assert result.report.measurement == measurement\n",
        prints=("True True",),
    ),
    # dcap-qvl's sample quote and its PCS collateral of 2025-06-19 at 2025-07-01: UpToDate, no
    # advisories (dcap-appraisal-cases.json, as for README.md's verify --collateral example)
    ("docs/attestation.md", 4): PyRun(
        check="assert checks and not [c for c in result.checks if c.status == 'failed'], checks\n",
        files=("tdx_quote", "tdx_quote_collateral.json"),
        prints=("True UpToDate ()",),
    ),
    # the block asserts its claims itself (the three guest bytes exit on the OUT, then on HLT)
    ("docs/kvm.md", 1): PyRun(check="", kvm=True),
    ("docs/tdx-measure.md", 1): NotRun(
        "the API's shape: firmware, kernel, ACPI and SMBIOS inputs are placeholders"
    ),
    # QEMU's x86 APIC ID layout (include/hw/i386/topology.h): thread bits, then core bits (2 for 3
    # cores), then the socket, so socket 1 starts at 8; the MADT lists every possible vCPU (maxcpus=12)
    ("docs/tdx-measure.md", 2): PyRun(
        check="assert {'etc/table-loader', 'etc/acpi/rsdp', 'etc/acpi/tables'} <= set(files)\n"
        # ACPI 6.5 5.2.5.3: a revision-0 RSDP (QEMU's x86 acpi-build.c) is 20 bytes; its checksum the
        # firmware computes, following the table loader
        "assert acpi.rsdp[:8] == b'RSD PTR ' and acpi.rsdp[15] == 0 and len(acpi.rsdp) == 20\n",
        prints=("(0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)",),
    ),
    # go-tdx-guest's GCE event log replays to its quote's RTMRs (verify raises otherwise): one printed
    # line per event of the log, in order, numbered from 1 after the log's header
    ("docs/tdx.md", 1): PyRun(
        check="assert [r.index for r in result.replay.events] == list(range(1, len(log.events) + 1))\n",
        files=("ccel_data.dat", "quote.dat"),
    ),
    ("docs/tdx.md", 2): NotRun("a sketch: needs TDX hardware; image and TdxParams come from elsewhere"),
    # the bundled guest on the sw VM: the report is 1184 bytes (SEV-SNP ABI ATTESTATION_REPORT), its
    # REPORT_DATA starts with the nonce the block gave the guest (docs/cli.md, launch --nonce) and its
    # MEASUREMENT is the launch digest the block predicted
    ("docs/sw-vm.md", 1): PyRun(
        kvm=True,
        check="from pvmkit.attest.snp_report import SnpReport\n"
        "parsed = SnpReport.parse(report)\n"
        "assert len(report) == 1184 and parsed.report_data[:32] == nonce, parsed.report_data.hex()\n"
        "assert parsed.measurement == predicted\n",
    ),
}


def python_blocks(doc: str) -> list[str]:
    """The ```python blocks of one page, in order (an indented one, as in a list item, dedented)."""
    found = re.findall(r"^([ \t]*)```python\n(.*?)^\1```", (ROOT / doc).read_text(), flags=re.M | re.S)
    return [textwrap.dedent(block) for _indent, block in found]


PY_ALL = [((doc, n), block) for doc in PYTHON_DOCS for n, block in enumerate(python_blocks(doc), 1)]


def test_every_python_example_is_in_the_table() -> None:
    missing = [f"{doc} block {n}" for (doc, n), _b in PY_ALL if (doc, n) not in PYTHON_EXAMPLES]
    stale = sorted(set(PYTHON_EXAMPLES) - {key for key, _b in PY_ALL})
    assert not missing, "python blocks not in PYTHON_EXAMPLES: " + ", ".join(missing)
    assert not stale, f"PYTHON_EXAMPLES entries no page shows any more: {stale}"


def test_architecture_excerpt_is_the_source() -> None:
    """docs/architecture.md's first block quotes sw's description as src/pvmkit/vendors/sw/vendor.py
    has it."""
    excerpt = python_blocks("docs/architecture.md")[0].strip()
    assert excerpt in (ROOT / "src/pvmkit/vendors/sw/vendor.py").read_text()


def test_python_fragments_name_real_api() -> None:
    """A ``NotRun`` block still rots visibly: it must be valid Python, every name it imports must
    exist, and every keyword it passes to an imported callable (or to a method of an imported class)
    must be one that callable accepts."""
    import ast
    import importlib
    import inspect

    wrong = []
    for (doc, n), block in PY_ALL:
        if not isinstance(PYTHON_EXAMPLES.get((doc, n)), NotRun):
            continue
        tree = ast.parse(block, filename=f"{doc} block {n}")  # SyntaxError: the block is no Python
        names: dict[str, object] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        wrong.append(f"{doc} block {n}: {node.module} has no {alias.name}")
                    names[alias.asname or alias.name] = getattr(module, alias.name, None)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func, target = node.func, None
            if isinstance(func, ast.Name):
                target = names.get(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                target = getattr(names.get(func.value.id), func.attr, None)
            if not callable(target):
                continue
            params = inspect.signature(target).parameters
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                continue
            wrong += [
                f"{doc} block {n}: {ast.unparse(func)}() takes no {kw.arg}="
                for kw in node.keywords
                if kw.arg is not None and kw.arg not in params
            ]
    assert not wrong, "\n".join(wrong)


def _py_param(key: tuple[str, int], block: str) -> object:
    entry = PYTHON_EXAMPLES[key]
    marks = [pytest.mark.kvm] if isinstance(entry, PyRun) and entry.kvm else []
    return pytest.param(key, block, marks=marks, id=f"{key[0]} block {key[1]}")


PY_RUN = [_py_param(key, block) for key, block in PY_ALL if isinstance(PYTHON_EXAMPLES.get(key), PyRun)]


@pytest.mark.parametrize(("key", "block"), PY_RUN)
def test_python_example_runs_as_documented(key: tuple[str, int], block: str, tmp_path: Path) -> None:
    entry = PYTHON_EXAMPLES[key]
    assert isinstance(entry, PyRun)
    for name in entry.files:
        source = FILES[name]
        if isinstance(source, bytes):
            (tmp_path / name).write_bytes(source)
        else:
            (tmp_path / name).symlink_to(fixture_path(source))  # skips (or fails under CI) when absent
    script = tmp_path / "example.py"
    script.write_text(block + "\n# -- the test's check --\n" + entry.check)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{key[0]} block {key[1]} failed:\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
    if entry.prints is not None:
        assert _matches(list(entry.prints), done.stdout.splitlines()), done.stdout
