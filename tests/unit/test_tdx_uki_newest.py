"""Debian's newest systemd (sid's: 262.1 when this was written) against pvmkit's UKI model.

pvmkit models systemd 252, 254 and 257 and refuses every other release it cannot hold to evidence
(docs/tdx-measure.md, "systemd versions not modelled"). The inputs are sid's real ``systemd-bootx64.efi``
and ``linuxx64.efi.stub`` (``PVMKIT_SYSTEMD_BOOT_EFI/newest``, fetched by tools/fetch_peers.py, whatever
release sid has) and UKIs built from that stub by objcopy (``support.uki.build_uki``). Whatever the
release, pvmkit must either model it or refuse it with one InputError naming the program and the
version as its ``.sdmagic`` section states it; never predict its boot with another release's rules.
Provenance: tests/vectors/README.md, "TDX UKI boot".
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.loader_entry import LoaderEntry, Type1Boot, type1_boot_events
from pvmkit.vendors.tdx.uki import MODELLED_VERSIONS, uki_sections
from pvmkit.vendors.tdx.uki_boot import UkiBoot, uki_boot_events
from pvmkit.vendors.tdx.uki_digests import UkiDigests, uki_digest_events
from support.uki import NEWEST, build_uki, sdmagic, systemd_efi, systemd_measure


def _kernel() -> bytes:
    """A real PE with MajorImageVersion >= 1 as the ``.linux`` payload (254's systemd-boot)."""
    return systemd_efi(254, "systemd-bootx64.efi").read_bytes()


def test_the_newest_stub_is_modelled_or_refused(tmp_path: Path) -> None:
    program, version, major = sdmagic(NEWEST, "linuxx64.efi.stub", tmp_path)
    assert program == "systemd-stub"
    uki = build_uki(NEWEST, {".linux": _kernel(), ".osrel": b"ID=test\n", ".cmdline": b"quiet"}, tmp_path)
    if major in MODELLED_VERSIONS:  # modelled: its own tests check the events
        assert uki_boot_events(UkiBoot(uki))
        return
    expected = f"systemd-stub {re.escape(version)} is not modelled"
    with pytest.raises(InputError, match=expected):
        uki_sections(uki)
    with pytest.raises(InputError, match=expected):
        uki_boot_events(UkiBoot(uki))
    with pytest.raises(InputError, match=f"systemd-stub {major} is not modelled"):
        uki_digest_events(UkiDigests(major, bytes(48)))


def test_the_newest_systemd_boot_is_modelled_or_refused(tmp_path: Path) -> None:
    """sid's systemd-boot starting a UKI of a modelled stub (257), or a type #1 entry."""
    program, version, major = sdmagic(NEWEST, "systemd-bootx64.efi", tmp_path)
    assert program == "systemd-boot"
    loader = systemd_efi(NEWEST, "systemd-bootx64.efi").read_bytes()
    uki = build_uki(257, {".linux": _kernel(), ".osrel": b"ID=test\n"}, tmp_path)
    type1 = Type1Boot(loader, LoaderEntry(linux="\\vmlinuz", options="quiet"), _kernel(), ())
    if major in MODELLED_VERSIONS:
        assert uki_boot_events(UkiBoot(uki, boot_loader=loader)) and type1_boot_events(type1)
        return
    expected = f"systemd-boot {re.escape(version)} is not modelled"
    with pytest.raises(InputError, match=expected):
        uki_boot_events(UkiBoot(uki, boot_loader=loader))
    with pytest.raises(InputError, match=expected):
        type1_boot_events(type1)


def test_the_newest_systemd_measure_names_the_same_release(tmp_path: Path) -> None:
    """The oracle fetched beside the binaries is of the same release (sid's systemd-tpm and
    systemd-boot-efi come from one source package), so a later model of that release can use it."""
    out = subprocess.run(
        [systemd_measure(NEWEST), "--version"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    m = re.match(r"systemd (\d+) \((\S+)\)", out)
    assert m is not None, out
    assert m.group(2) == sdmagic(NEWEST, "linuxx64.efi.stub", tmp_path)[1]


def _release_262(tmp_path: Path) -> None:
    """The facts below were read on sid's 262.1 (docs/tdx-measure.md, "systemd versions not modelled");
    a later release in sid needs them read again, not assumed."""
    _program, version, major = sdmagic(NEWEST, "linuxx64.efi.stub", tmp_path)
    if major != 262:
        pytest.skip(f"sid's systemd is {version}; the documented facts are 262's")


def test_262_measures_efifw_after_hwids(tmp_path: Path) -> None:
    """docs/tdx-measure.md: 262's section table gains .efifw after .hwids. Oracle: sid's systemd-measure
    262 (its PCR 11 with no boot phase, --phase=) equals the fold of SHA-384(name + NUL) and SHA-384(data)
    in the order .linux .osrel .ucode .sbat .hwids .efifw, and not with .efifw before .hwids."""
    _release_262(tmp_path)
    names = (".linux", ".osrel", ".ucode", ".sbat", ".hwids", ".efifw")
    argv = [systemd_measure(NEWEST), "calculate", "--bank=sha384", "--json=short", "--phase="]
    for name in names:
        (tmp_path / f"s{name}").write_bytes(f"{name} data\n".encode())
        argv.append(f"--{name[1:]}={tmp_path / f's{name}'}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    m = re.search(r'"hash":"([0-9a-f]{96})"', out)
    assert m is not None, out

    def fold(order: tuple[str, ...]) -> str:
        value = bytes(48)
        for name in order:
            for digest in (hashlib.sha384(name.encode() + b"\0"), hashlib.sha384(f"{name} data\n".encode())):
                value = hashlib.sha384(value + digest.digest()).digest()
        return value.hex()

    assert m.group(1) == fold(names)
    assert m.group(1) != fold((*names[:4], ".efifw", ".hwids"))


def test_262_stub_carries_the_boot_secret_and_console_code(tmp_path: Path) -> None:
    """docs/tdx-measure.md: the UTF-16 strings of sid's 262 stub name the boot-secret archive, its EFI
    variable and ESP mixin file, and the console arguments cmdline_append_console chooses from."""
    _release_262(tmp_path)
    image = systemd_efi(NEWEST, "linuxx64.efi.stub").read_bytes()
    for text in (
        "boot-secret",
        "LoaderBootSecret",
        "\\loader\\boot-secret-mixin",
        "console=hvc0",
        "console=uart,io,0x3f8",
        "* console=*",
    ):
        assert (text + "\0").encode("utf-16-le") in image, text
