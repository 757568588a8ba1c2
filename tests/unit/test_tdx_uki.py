"""systemd-stub's UKI section measurements (pvmkit.vendors.tdx.uki) against systemd-measure.

The oracle is ``systemd-measure calculate`` of the same systemd version (Debian's 252, 254 and 257, fetched by
tools/fetch_peers.py: ``PVMKIT_SYSTEMD_MEASURE``): it predicts PCR 11 for the same section files, at the
boot phase ``enter-initrd``, i.e. the section events followed by one extend with SHA-384("enter-initrd")
(systemd docs/TPM2_PCR_MEASUREMENTS.md, "PCR 11, boot phases"). The UKIs are built from each version's
real stub (``support.uki.build_uki``), whose own ``.sbat`` section 254 measures too.
Provenance: tests/vectors/README.md, "TDX UKI sections".
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ccel import EventLog
from pvmkit.vendors.tdx.components import components
from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan, extend
from pvmkit.vendors.tdx.uki import loader_info, systemd_major, uki_section_events, uki_sections
from support.pe import make_pe, make_uki
from support.uki import VERSIONS, build_uki, systemd_efi, systemd_measure

OPTIONS = {n: "--" + n.lstrip(".") for n in (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb")}
OPTIONS |= {".uname": "--uname", ".sbat": "--sbat", ".pcrpkey": "--pcrpkey", ".ucode": "--ucode"}


def _oracle(version: int, sections: dict[str, bytes], tmp_path: Path) -> str:
    argv = [systemd_measure(version), "calculate", "--bank=sha384", "--json=short", "--phase=enter-initrd"]
    for name, data in sections.items():
        path = tmp_path / ("oracle" + name)
        path.write_bytes(data)
        argv.append(f"{OPTIONS[name]}={path}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    (entry,) = json.loads(out)["sha384"]
    assert entry["pcr"] == 11
    return str(entry["hash"])


def _stub_sbat(version: int, tmp_path: Path) -> dict[str, bytes]:
    """The real stub's own .sbat section (objcopy's dump), which a UKI built from it carries."""
    out = tmp_path / "stub.sbat"
    stub = systemd_efi(version, "linuxx64.efi.stub")
    argv = ["objcopy", "--dump-section", f".sbat={out}", str(stub), str(tmp_path / "scratch")]
    subprocess.run(argv, check=True)
    return {".sbat": out.read_bytes()} if version >= 254 else {}


PAYLOADS = [
    (".linux",),
    (".linux", ".osrel", ".cmdline", ".initrd"),
    (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"),
    (".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".pcrpkey"),
    (".linux", ".initrd", ".ucode", ".splash"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("names", PAYLOADS)
def test_section_events_equal_systemd_measure(version: int, names: tuple[str, ...], tmp_path: Path) -> None:
    contents = {n: hashlib.sha256(n.encode()).digest() * (3 + len(n)) + b"end" for n in names}
    # added in reverse of the measured order: the order comes from the version's table, not the file
    image = build_uki(version, dict(reversed(list(contents.items()))) | {".pcrsig": b"{}"}, tmp_path)
    assert loader_info(image, "UKI") is not None
    events = uki_section_events(uki_sections(image), version)
    known = {252: {".uname", ".ucode"}, 254: {".ucode"}, 257: set()}[version]  # not in that version's table
    measured = {n: d for n, d in contents.items() if n not in known}
    measured |= _stub_sbat(version, tmp_path)
    assert len(events) == 2 * len(measured)
    rtmr2 = EventLogPlan.of(events).rtmr(2)
    assert rtmr2 is not None
    expected = _oracle(version, measured, tmp_path)
    assert extend(rtmr2, hashlib.sha384(b"enter-initrd").digest()).hex() == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_the_real_binaries_name_their_version(version: int) -> None:
    """The .sdmagic LoaderInfo strings of Debian's binaries (src/boot/efi/stub.c, boot.c)."""
    stub = loader_info(systemd_efi(version, "linuxx64.efi.stub").read_bytes(), "stub")
    boot = loader_info(systemd_efi(version, "systemd-bootx64.efi").read_bytes(), "systemd-boot")
    assert stub is not None and boot is not None
    assert (stub[0], boot[0]) == ("systemd-stub", "systemd-boot")
    assert systemd_major(stub[1], stub[0]) == systemd_major(boot[1], boot[0]) == version


def test_section_contents_are_virtual_size_bytes() -> None:
    sections = uki_sections(make_uki({".linux": b"K" * 10}), 252)
    assert sections[".linux"].data == b"K" * 10


@pytest.mark.parametrize(
    ("image", "version", "error", "message"),
    [
        (make_uki({".osrel": b"ID=x\n"}), 252, InputError, "no .linux section"),
        (make_uki({".linux": b"k"}), None, InputError, "no systemd-stub .sdmagic"),
        (make_uki({".linux": b"k", ".sdmagic": b"#### LoaderInfo: systemd-stub 258.1 ####"}), None,
         InputError, "systemd-stub 258.1 is not modelled"),
        (make_uki({".linux": b"k", ".profile": b"ID=a"}), 257, InputError, "has a .profile section"),
        (make_uki({".linux": b"k"}), 255, InputError, "systemd-stub 255 is not modelled"),
        (make_uki({".linux": b"k", ".osrel": b"a", "x": b""})[:0] + b"MZ" + bytes(100), 252, FormatError,
         "no PE signature"),
        (b"not a PE", 252, FormatError, "no MZ header"),
        (make_pe(), 252, InputError, "no .linux section"),
        (make_uki({".linux": b"k", ".cmdline": b"a", ".cmdline\0": b"b"}), 252, InputError,
         "two .cmdline"),
    ],
)  # fmt: skip
def test_bad_ukis_are_refused(
    image: bytes, version: int | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        uki_sections(image, version)


def test_sections_a_version_does_not_list_are_not_measured() -> None:
    """252's table has no .uname or .sbat; pe_memory_locate_sections never finds them."""
    image = make_uki({".linux": b"k", ".uname": b"6.9", ".sbat": b"sbat,1\n", ".ucode": b"u"})
    assert set(uki_sections(image, 252)) == {".linux"}
    assert set(uki_sections(image, 254)) == {".linux", ".uname", ".sbat"}


def test_replay_names_uki_sections() -> None:
    events = uki_section_events(uki_sections(make_uki({".linux": b"k" * 9, ".cmdline": b"quiet"}), 252), 252)
    names = components(EventLog.parse(EventLogPlan.of(events).to_log_bytes()).events)
    assert names == ["UKI section .linux"] * 2 + ["UKI section .cmdline"] * 2
