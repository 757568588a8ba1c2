"""The UKI boot from digests only (pvmkit.vendors.tdx.uki_digests) against the file form
(pvmkit.vendors.tdx.uki_boot) on UKIs built from Debian's real stubs (tests/support/uki.py): the digests
are taken of the files the test writes and of the sections ``objcopy --dump-section`` gives back;
the LoadOptions are the stub's command line by its rule (UTF-16, mangled, with the NUL).
Provenance: tests/vectors/README.md, "TDX UKI boot".
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan
from pvmkit.vendors.tdx.uki_boot import UkiBoot, uki_boot_events
from pvmkit.vendors.tdx.uki_digests import UkiDigests, uki_digest_events
from support.uki import VERSIONS, build_uki, systemd_efi

GPT_DATA = b"EFI PART" + bytes(88)
INITRD = b"initrd bytes" * 100


def _sha(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def _dump(image: Path, section: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"dump{section}"
    subprocess.run(
        ["objcopy", "--dump-section", f"{section}={out}", str(image), str(tmp_path / "x")], check=True
    )
    return out.read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("secure_boot", [False, True])
def test_digests_give_the_registers_of_the_files(version: int, secure_boot: bool, tmp_path: Path) -> None:
    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()  # a PE with MajorImageVersion >= 1
    uki = build_uki(version, {".cmdline": b"quiet\n", ".initrd": INITRD, ".linux": kernel}, tmp_path)
    (tmp_path / "u.efi").write_bytes(uki)
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    names = [".linux", ".cmdline", ".initrd"] + ([".sbat"] if version >= 254 else [])
    sections = tuple((n, _sha(_dump(tmp_path / "u.efi", n, tmp_path))) for n in names)
    digests = UkiDigests(
        version,
        authenticode_digest(uki),
        boot_loader_authenticode=authenticode_digest(loader),
        gpt_event_data=GPT_DATA,
        secure_boot=secure_boot,
        linux_authenticode=authenticode_digest(kernel),
        sections=sections if version >= 257 else None,
        load_options_sha384=_sha("quiet\0".encode("utf-16-le")),
        initrd_sha384=_sha(INITRD),
    )
    files = UkiBoot(uki, boot_loader=loader, gpt_event_data=GPT_DATA, secure_boot=secure_boot)
    assert (
        EventLogPlan.of(uki_digest_events(digests)).rtmrs() == EventLogPlan.of(uki_boot_events(files)).rtmrs()
    )


def test_a_digest_not_given_leaves_its_register_unknown() -> None:
    plan = EventLogPlan.of(uki_digest_events(UkiDigests(257, bytes(48), gpt_event_data=GPT_DATA)))
    assert plan.rtmr(1) is None  # the .linux Authenticode (no Secure Boot)
    assert plan.rtmr(2) is None  # sections, LoadOptions, initrd
    assert {e.what for e in plan.missing()} == {
        "kernel in the UKI (.linux)",
        "UKI sections",
        "kernel LoadOptions",
        "initrd",
    }


@pytest.mark.parametrize(
    ("digests", "message"),
    [
        (UkiDigests(255, bytes(48)), "systemd-stub 255 is not modelled"),
        (
            UkiDigests(257, bytes(48), sections=((".linux", bytes(48)), (".pcrsig", bytes(48)))),
            ".pcrsig is not",
        ),
        (UkiDigests(257, bytes(48), sections=((".osrel", bytes(48)),)), "must include .linux"),
    ],
)
def test_bad_digest_forms_are_refused(digests: UkiDigests, message: str) -> None:
    with pytest.raises(InputError, match=message):
        uki_digest_events(digests)
