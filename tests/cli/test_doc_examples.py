"""Every command shown in README.md's code blocks and docs/cli.md's examples runs as written
(issue 9 part 5).

An example is a line of a fenced code block that starts with ``.venv/bin/pvmkit `` or ``./dev ``
(README.md) or ``$ `` (docs/cli.md), with ``\\`` continuation lines joined and a trailing ``# comment``
dropped. ``EXAMPLES`` below lists each one with the exit status it must give, or why it is not run.
File names in examples are placeholders: ``FILES`` maps each to a fixture (read in place) or to a
file this test builds; ``WORDS`` replaces the upper-case placeholders (HEX, BASE64). The examples of
one document run in order in one temporary directory, through ``bash`` with ``pvmkit`` and
``.venv/bin/pvmkit`` meaning this checkout's command, so redirections and files made by an earlier
example (``> mrtd.json``) work as a reader would see them.

Where docs/cli.md prints a command's output after it, ``Run(shows=...)`` compares it: exactly, or
line by line by label for host-dependent output such as ``pvmkit probe``'s. Examples that use a file
an earlier one wrote (``mrtd.json``) need that one to run first, as in a whole-file run.

A new example in either document fails ``test_every_example_is_in_the_table`` until it is added to
``EXAMPLES`` (and its inputs to ``FILES``/``WORDS``); an entry whose example is gone fails too.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.fixtures import fixture_path
from support.igvm_vectors import igvm_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/cli.md")


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
    VENV + "verify --cca-token token.cbor --ta-store tastore.json --rim HEX": Run(
        words=(("HEX", "REALM_RIM"),)
    ),
    # docs/cli.md
    "pvmkit probe": Run(kvm=True, shows="labels"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 4 --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor snp --ovmf OVMF.amdsev.fd --vcpus 1-2 --vcpu-type EPYC-v4": Run(),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpu-type EPYC-v4": Run(shows="exact"),
    "pvmkit measure --vendor sev-es --ovmf OVMF.amdsev.fd --vcpu-type EPYC-v4 --init-path init2": Run(
        shows="exact"
    ),
    "pvmkit measure --vendor sw": Run(),
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
}

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
    "coconut-qemu.igvm": igvm_file(),  # the IGVM spec's regression file (tests/support/igvm_vectors.py)
    "Image": bytes(range(256)) * 16,  # any bytes: the CCA RIM measures what is loaded
    # Trustee's CCA example token and the trust-anchor store its local verifier checks it with
    "token.cbor": "trustee/deps/verifier/test_data/cca/misc/cca-example-token.cbor",
    "tastore.json": "trustee/deps/verifier/test_data/cca/conf/tastore.json",
}


def _p384_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


#: keys the ID-block example signs with (ECDSA P-384: the only ID-block key type the SEV-SNP firmware
#: ABI specification's ID_AUTH structure defines)
BUILT_LAZILY = {"id.pem": _p384_pem, "author.pem": _p384_pem}


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
WORDS = {
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
    """A directory holding every placeholder file under its documented name, and ``pvmkit`` and
    ``.venv/bin/pvmkit`` wrappers that run this checkout's command with this interpreter."""
    where = tmp_path_factory.mktemp("doc-examples")
    for name, source in FILES.items():
        if isinstance(source, bytes):
            (where / name).write_bytes(source)
        else:
            path = fixture_path(source)  # skips (or fails under CI) when the fixture is absent
            (where / name).symlink_to(path)
    for name, build in BUILT_LAZILY.items():
        (where / name).write_bytes(build())
    wrapper = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pvmkit "$@"\n'
    for script in (where / "bin" / "pvmkit", where / ".venv" / "bin" / "pvmkit"):
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(wrapper)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return where


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
    env = {**os.environ, "PATH": f"{workdir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
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
    if entry.shows == "exact":
        assert done.stdout.splitlines() == shown, f"{doc} shows other output for {example}"
    elif entry.shows == "labels":  # host-dependent values: the same lines, each with the same label
        assert [_label(x) for x in done.stdout.splitlines()] == [_label(x) for x in shown], (
            f"{doc} shows other lines for {example}"
        )
