"""systemd-boot type #1 loader entries in a TD (pvmkit.vendors.tdx.loader_entry).

The rules are systemd 252.39's, 254.26's and 257.13's boot.c (``line_get_key_value``, the entry keys,
``initrd_prepare``, ``image_start``) and measure.c, cited in each test; the boot loader is Debian's real
systemd-boot of each version (``PVMKIT_SYSTEMD_BOOT_EFI``), the kernel a real PE (254's systemd-boot).
Expected digests are hashlib's over the bytes the rules name. Provenance: tests/vectors/README.md,
"TDX UKI boot".
"""

from __future__ import annotations

import hashlib

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan, extend
from pvmkit.vendors.tdx.loader_entry import (
    Type1Boot,
    entry_initrd,
    entry_options,
    parse_loader_entry,
    type1_boot_events,
)
from support.uki import VERSIONS, systemd_efi

MID = "0123456789abcdef0123456789abcdef"
ENTRY = f"""# Boot Loader Specification type#1 entry
title      Debian GNU/Linux 13 (trixie)
version    6.12.48+deb13-amd64
machine-id {MID}
sort-key   debian
options    root=UUID=960cb05a-e11f-4dd7-a4f1-bb5727d07e1a ro
options	   "quiet console=ttyS0"
linux      /{MID}/6.12.48+deb13-amd64/linux
initrd     /{MID}/6.12.48+deb13-amd64//initrd.img
initrd     /{MID}/ucode.img
""".encode()
BSA, TAG, IPL = 0x80000003, 0x6, 0xD


def test_entry_keys_as_systemd_boot_reads_them() -> None:
    """line_get_key_value: trimmed lines, '#' comments, separators space/tab, a quoted value unquoted;
    xstr8_to_path: '/' to '\\', doubled '\\' collapsed; options lines joined with a space."""
    entry = parse_loader_entry(ENTRY, "debian.conf")
    assert entry.linux == f"\\{MID}\\6.12.48+deb13-amd64\\linux"
    assert entry.initrds == (f"\\{MID}\\6.12.48+deb13-amd64\\initrd.img", f"\\{MID}\\ucode.img")
    assert entry.options == "root=UUID=960cb05a-e11f-4dd7-a4f1-bb5727d07e1a ro quiet console=ttyS0"
    # initrd_prepare: initrd= for each initrd, then the entry's options
    assert entry_options(entry) == (
        f"initrd=\\{MID}\\6.12.48+deb13-amd64\\initrd.img initrd=\\{MID}\\ucode.img " + entry.options
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (252, b"abcde" + b"" + b"fgh"),  # concatenated
        (254, b"abcde" + b"fgh"),
        (257, b"abcde\0\0\0" + b"fgh"),  # each padded to 4 but the last; the empty one skipped
    ],
)
def test_initrds_are_concatenated_per_version(version: int, expected: bytes) -> None:
    assert entry_initrd([b"abcde", b"", b"fgh"], version) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"title x\nefi /EFI/Linux/a.efi\n", "with 'efi' is not modelled"),
        (b"linux /vmlinuz\ndevicetree /a.dtb\n", "with 'devicetree' is not modelled"),
        (b"title x\noptions quiet\n", "has no 'linux' line"),
        (b"linux /vmlinuz\xff\n", "not UTF-8"),
    ],
)
def test_entries_pvmkit_does_not_model_are_refused(text: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_loader_entry(text, "x.conf")


@pytest.mark.parametrize("version", VERSIONS)
def test_type1_boot(version: int) -> None:
    """image_start: systemd-boot LoadImage()s the kernel (the firmware's Authenticode event) and passes
    the options, which 257 logs (tpm_log_load_options through the CC protocol: EV_IPL, PCR 12 -> RTMR2)
    and 252/254 do not (TCG2 only); the kernel logs its LoadOptions and the initrd (Linux >= 6.9)."""
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    kernel = systemd_efi(254, "systemd-bootx64.efi").read_bytes()
    entry = parse_loader_entry(ENTRY, "debian.conf")
    events = type1_boot_events(Type1Boot(loader, entry, kernel, (b"I" * 5, b"U" * 3), b"EFI PART"))
    kinds = [(e.mr_index, e.event_type) for e in events]
    ipl = [(3, IPL)] if version >= 257 else []
    assert kinds == [
        (2, 0x80000006),
        (2, BSA),
        (2, BSA),
        *ipl,
        (3, TAG),
        (3, TAG),
        (2, 0x80000007),
        (2, 0x80000007),
    ]
    assert [e.digest for e in events[1:3]] == [authenticode_digest(loader), authenticode_digest(kernel)]
    options = (entry_options(entry) + "\0").encode("utf-16-le")  # type: ignore[operator]
    initrd = b"I" * 5 + (b"\0\0\0" if version >= 257 else b"") + b"U" * 3
    rtmr2 = bytes(48)
    logged = [options] * (2 if version >= 257 else 1) + [initrd]
    for data in logged:
        rtmr2 = extend(rtmr2, hashlib.sha384(data).digest())
    assert EventLogPlan.of(events).rtmr(2) == rtmr2
    if version >= 257:
        assert events[3].event_data == options  # the options are the event's data
