"""systemd-stub's UKI section measurements (pvmkit.vendors.tdx.uki) against systemd-measure.

The oracle is ``systemd-measure calculate`` (systemd 252, `/usr/lib/systemd/systemd-measure`): it
predicts PCR 11 for the same section files, at the boot phase ``enter-initrd``, i.e. the section
events followed by one extend with SHA-384("enter-initrd") (systemd docs/TPM2_PCR_MEASUREMENTS.md,
"PCR 11, boot phases"). The test skips, naming the reason, where systemd-measure is absent.
Provenance: tests/vectors/README.md, "TDX UKI sections".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ccel import EventLog
from pvmkit.vendors.tdx.components import components
from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan, extend
from pvmkit.vendors.tdx.uki import uki_section_events, uki_sections
from support.pe import make_pe, make_uki

MEASURE = os.environ.get("PVMKIT_SYSTEMD_MEASURE", "/usr/lib/systemd/systemd-measure")
OPTIONS = {
    ".linux": "--linux",
    ".osrel": "--osrel",
    ".cmdline": "--cmdline",
    ".initrd": "--initrd",
    ".splash": "--splash",
    ".dtb": "--dtb",
    ".pcrpkey": "--pcrpkey",
}


def _oracle(sections: dict[str, bytes], tmp_path: Path) -> str:
    if shutil.which(MEASURE) is None:
        pytest.skip(f"systemd-measure is not installed ({MEASURE}; set PVMKIT_SYSTEMD_MEASURE)")
    argv = [MEASURE, "calculate", "--bank=sha384", "--json=short", "--phase=enter-initrd"]
    for name, data in sections.items():
        path = tmp_path / name.lstrip(".")
        path.write_bytes(data)
        argv.append(f"{OPTIONS[name]}={path}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    (entry,) = json.loads(out)["sha384"]
    assert entry["pcr"] == 11
    return str(entry["hash"])


@pytest.mark.parametrize(
    "names",
    [
        (".linux",),
        (".linux", ".osrel", ".cmdline", ".initrd"),
        (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"),
    ],
)
def test_section_events_equal_systemd_measure(names: tuple[str, ...], tmp_path: Path) -> None:
    contents = {n: hashlib.sha256(n.encode()).digest() * (3 + len(n)) + b"end" for n in names}
    # the UKI's section table in another order than the measured one: the order comes from the rule
    image = make_uki(dict(reversed(list(contents.items()))) | {".pcrsig": b"{}", ".text": b"\xcc" * 40})
    events = uki_section_events(uki_sections(image))
    assert len(events) == 2 * len(names)
    rtmr2 = EventLogPlan.of(events).rtmr(2)
    assert rtmr2 is not None
    assert extend(rtmr2, hashlib.sha384(b"enter-initrd").digest()).hex() == _oracle(contents, tmp_path)


def test_section_contents_are_virtual_size_bytes() -> None:
    image = bytearray(make_uki({".linux": b"K" * 10}))
    sections = uki_sections(bytes(image))
    assert sections[".linux"].data == b"K" * 10


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (make_uki({".osrel": b"ID=x\n"}), InputError, "no .linux section"),
        (make_uki({".linux": b"k", ".uname": b"6.9"}), InputError, "section .uname is measured by newer"),
        (
            make_uki({".linux": b"k", ".linux ": b"k"})[:0] + b"MZ" + bytes(100),
            FormatError,
            "no PE signature",
        ),
        (b"not a PE", FormatError, "no MZ header"),
        (make_pe(), InputError, "no .linux section"),
    ],
)
def test_bad_ukis_are_refused(image: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        uki_sections(image)


def test_replay_names_uki_sections() -> None:
    events = uki_section_events(uki_sections(make_uki({".linux": b"k" * 9, ".cmdline": b"quiet"})))
    names = components(EventLog.parse(EventLogPlan.of(events).to_log_bytes()).events)
    assert names == ["UKI section .linux"] * 2 + ["UKI section .cmdline"] * 2
