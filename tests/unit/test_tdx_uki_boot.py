"""A UKI boot (through systemd-boot, or started by the firmware) in a TD: pvmkit.vendors.tdx.uki_boot.

Inputs are Debian's real systemd 252 and 254 EFI binaries (``PVMKIT_SYSTEMD_BOOT_EFI``, fetched by
tools/fetch_peers.py) and UKIs built from their real stubs by objcopy (``support.uki.build_uki``). The
expected sequence and digests come from the rules, each cited where it is asserted (systemd's
src/boot/efi/{boot,stub,linux,pe,measure,util}.c of 252.39 and 254.26; edk2 DxeTpm2MeasureBootLib and
TdTcg2Dxe MapPcrToMrIndex; Linux drivers/firmware/efi/libstub); the digests of the inputs are taken of
the files given to objcopy, or of sections objcopy dumps back, never of pvmkit's own reading.
Provenance: tests/vectors/README.md, "TDX UKI boot".
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from pvmkit.errors import InputError
from pvmkit.formats.ccel import EventLog
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.components import components
from pvmkit.vendors.tdx.eventlog_plan import EventLogPlan, extend
from pvmkit.vendors.tdx.replay import compare, replay
from pvmkit.vendors.tdx.uki_boot import UkiBoot, uki_boot_events
from support.pe import make_pe, make_uki
from support.uki import VERSIONS, build_uki, systemd_efi, systemd_measure

BSA, TAG, GPT, ACTION, IPL = 0x80000003, 0x6, 0x80000006, 0x80000007, 0xD
GPT_DATA = b"EFI PART" + bytes(84) + b"\0\0\0\0"  # an event's data: any bytes, digest = SHA-384 of them
CMDLINE = b"console=ttyS0 root=/dev/vda2 quiet\n"
INITRD = hashlib.sha512(b"initrd").digest() * 300


def _kernel(version: int) -> bytes:
    """A real PE image with MajorImageVersion >= 1 as the .linux payload (254's systemd-boot: its PE
    header says 254; a Linux EFI stub says 1): the firmware's Authenticode and systemd's pe_kernel_info
    rule do not depend on its being Linux."""
    return systemd_efi(254, "systemd-bootx64.efi").read_bytes()


def _dumped(image: bytes, section: str, tmp_path: Path) -> bytes:
    src, out = tmp_path / "dump-in.efi", tmp_path / f"dump{section}"
    src.write_bytes(image)
    subprocess.run(
        ["objcopy", "--dump-section", f"{section}={out}", str(src), str(tmp_path / "x")], check=True
    )
    return out.read_bytes()


def _uki(version: int, tmp_path: Path, **extra: bytes) -> bytes:
    sections = {".osrel": b"ID=test\n", ".cmdline": CMDLINE, ".initrd": INITRD, ".linux": _kernel(version)}
    return build_uki(version, sections | extra, tmp_path)


def _options(text: str) -> bytes:
    """What the Linux EFI stub measures: LoadOptions as systemd-stub sets them, UTF-16 with the NUL
    (linux.c linux_exec: LoadOptionsSize = strsize16(cmdline))."""
    return (text + "\0").encode("utf-16-le")


def _sections_pcr11(version: int, sections: dict[str, bytes], tmp_path: Path) -> bytes:
    """systemd-measure VERSION's PCR 11 over these section files without a boot phase (``--phase=``):
    the fold of the stub's section events, the oracle of what 257 logs into RTMR2 first."""
    argv = [systemd_measure(version), "calculate", "--bank=sha384", "--json=short", "--phase="]
    for name, data in sections.items():
        path = tmp_path / f"oracle{name}"
        path.write_bytes(data)
        argv.append(f"--{name.lstrip('.')}={path}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    (entry,) = json.loads(out)["sha384"]
    return bytes.fromhex(entry["hash"])


def _stub_sbat(version: int, tmp_path: Path) -> dict[str, bytes]:
    """The real stub's own .sbat section, which a UKI built from it carries (254 and 257 measure it)."""
    stub = systemd_efi(version, "linuxx64.efi.stub").read_bytes()
    return {".sbat": _dumped(stub, ".sbat", tmp_path)} if version >= 254 else {}


def _newc(entries: list[tuple[int, int, bytes, bytes]]) -> bytes:
    """A cpio "newc" archive written from the kernel's buffer-format document, with the field values of
    systemd 257's cpio.c (inode, mode, name, data; uid/gid/mtime/devices 0, nlink 1) and its trailer."""
    out = b""
    for inode, mode, name, data in entries:
        fields = [inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        out += b"070701" + "".join(f"{f:08x}" for f in fields).encode() + name + b"\0"
        out += bytes(-len(out) % 4) + data
        out += bytes(-len(out) % 4)
    trailer = b"070701" + b"00000000" * 4 + b"00000001" + b"00000000" * 6 + b"0000000B" + b"00000000"
    return out + trailer + b"TRAILER!!!\0\0\0\0"


def _extra(filename: bytes, data: bytes) -> bytes:
    """pack_cpio_literal(data, ".extra", filename, 0555, 0444): the directory, the file, the trailer."""
    return _newc([(1, 0o040555, b".extra", b""), (2, 0o100444, b".extra/" + filename, data)])


def _padded(*parts: bytes) -> bytes:
    """combine_initrds: each part zero-padded to a multiple of 4."""
    return b"".join(p + bytes(-len(p) % 4) for p in parts)


@pytest.mark.parametrize("version", VERSIONS)
def test_uki_through_systemd_boot(version: int, tmp_path: Path) -> None:
    uki = _uki(version, tmp_path)
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    events = uki_boot_events(UkiBoot(uki, boot_loader=loader, gpt_event_data=GPT_DATA))
    # GPT, systemd-boot, UKI, [257: the stub's section events], the kernel the stub LoadImage()s last
    # (stub.c run -> linux_exec; the real boot of tests/crosscheck/test_uki_ovmf_boot.py logs it there),
    # LoadOptions, initrd, ExitBootServices x2; 252/254 log nothing themselves (measure.c: TCG2/TCG only)
    kernel_sections = {
        ".linux": _dumped(uki, ".linux", tmp_path),
        ".osrel": b"ID=test\n",
        ".cmdline": CMDLINE,
    }
    measured = kernel_sections | {".initrd": INITRD} | _stub_sbat(version, tmp_path)
    n = 2 * len(measured) if version >= 257 else 0
    assert [(e.mr_index, e.event_type) for e in events] == [
        (2, GPT), (2, BSA), (2, BSA), *[(3, IPL)] * n, (2, BSA), (3, TAG), (3, TAG), (2, ACTION), (2, ACTION)
    ]  # fmt: skip
    assert events[0].digest == hashlib.sha384(GPT_DATA).digest()
    assert events[1].digest == authenticode_digest(loader)
    assert events[2].digest == authenticode_digest(uki)
    assert events[3 + n].digest == authenticode_digest(kernel_sections[".linux"])
    # the stub's .cmdline, mangled: the trailing newline becomes a space, dropped (252/254: passed back by
    # systemd-boot; 257: systemd-boot passes nothing for a type #2 entry, options_implied)
    options, initrd = events[4 + n], events[5 + n]
    assert options.digest == hashlib.sha384(_options("console=ttyS0 root=/dev/vda2 quiet")).digest()
    # 257 appends .osrel as a cpio archive (generate_embedded_initrds) to .initrd (combine_initrds)
    expected_initrd = _padded(INITRD, _extra(b"os-release", b"ID=test\n")) if version >= 257 else INITRD
    assert initrd.digest == hashlib.sha384(expected_initrd).digest()
    sections = _sections_pcr11(version, measured, tmp_path) if version >= 257 else bytes(48)
    plan = EventLogPlan.of(events)
    assert plan.rtmr(2) == extend(extend(sections, options.digest), initrd.digest)
    assert components(EventLog.parse(plan.to_log_bytes()).events)[:3] + components(
        EventLog.parse(EventLogPlan.of(events[3 + n :]).to_log_bytes()).events
    ) == [
        "GPT of the boot disk",
        "EFI application \\EFI\\BOOT\\BOOTX64.EFI (Authenticode)",
        "UKI \\EFI\\Linux\\linux.efi (Authenticode)",
        "kernel in a UKI (.linux, started from memory by systemd-stub) (Authenticode)",
        "kernel command line (LoadOptions)",
        "initrd",
        "EFI action 'Exit Boot Services Invocation'",
        "EFI action 'Exit Boot Services Returned with Success'",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_uki_started_by_the_firmware(version: int, tmp_path: Path) -> None:
    """No boot loader: the UKI is BOOTX64.EFI; without options the stub uses .cmdline; without .cmdline
    it sets no LoadOptions and the kernel measures none (efi_convert_cmdline: only when size > 0)."""
    uki = build_uki(version, {".linux": _kernel(version)}, tmp_path)
    events = uki_boot_events(UkiBoot(uki))
    measured = {".linux": _kernel(version)} | _stub_sbat(version, tmp_path)
    n = 2 * len(measured) if version >= 257 else 0
    expected = [(2, GPT), (2, BSA), *[(3, IPL)] * n, (2, BSA), (2, ACTION), (2, ACTION)]
    assert [(e.mr_index, e.event_type) for e in events] == expected
    assert events[0].digest is None  # no disk image: the GPT event is missing, RTMR1 unknown
    assert events[1].digest == authenticode_digest(uki)
    sections = _sections_pcr11(version, measured, tmp_path) if version >= 257 else bytes(48)
    assert EventLogPlan.of(events).rtmr(2) == sections


def test_257_initrd_of_microcode_initrd_and_generated_archives(tmp_path: Path) -> None:
    """257 run(): .ucode first, then .initrd, then the cpio archives of .pcrsig, .pcrpkey, .osrel
    (INITRD_* order in extend_initrds), each padded to 4 bytes; .pcrsig is not a section event."""
    parts = {
        ".ucode": b"U" * 5,
        ".initrd": b"I" * 7,
        ".pcrsig": b"{}",
        ".pcrpkey": b"KEY\n",
        ".osrel": b"ID=x\n",
    }
    uki = build_uki(257, {".linux": _kernel(257), **parts}, tmp_path)
    events = uki_boot_events(UkiBoot(uki, gpt_event_data=GPT_DATA))
    (initrd,) = [e for e in events if e.what == "initrd"]
    expected = _padded(
        b"U" * 5,
        b"I" * 7,
        _extra(b"tpm2-pcr-signature.json", b"{}"),
        _extra(b"tpm2-pcr-public-key.pem", b"KEY\n"),
        _extra(b"os-release", b"ID=x\n"),
    )
    assert initrd.digest == hashlib.sha384(expected).digest()
    names = [e.what for e in events if e.event_type == IPL and e.what.startswith("UKI section name")]
    assert ".pcrsig" not in " ".join(names) and "UKI section name .ucode" in names


@pytest.mark.parametrize(("secure_boot", "stub_measures"), [(False, True), (True, False)])
def test_257_logs_the_command_line_it_is_given(
    secure_boot: bool, stub_measures: bool, tmp_path: Path
) -> None:
    """systemd-boot 257 measures the options it passes (image_start → tpm_log_load_options, PCR 12, in
    the CC log), as given; systemd-stub 257 measures them mangled when it takes them
    (settle_command_line), which in a confidential VM under Secure Boot it never does."""
    uki = _uki(257, tmp_path)
    loader = systemd_efi(257, "systemd-bootx64.efi").read_bytes()
    boot = UkiBoot(
        uki, boot_loader=loader, gpt_event_data=GPT_DATA, options="quiet\n", secure_boot=secure_boot
    )
    logged = [
        e for e in uki_boot_events(boot) if e.event_type == IPL and not e.what.startswith("UKI section")
    ]
    texts = [e.event_data for e in logged]
    assert texts == [_options("quiet\n")] + ([_options("quiet")] if stub_measures else [])
    assert all(e.digest == hashlib.sha384(e.event_data).digest() for e in logged)


@pytest.mark.parametrize(
    ("version", "options", "secure_boot", "expected"),
    [
        # not Secure Boot: the options systemd-boot passes win (stub.c use_load_options)
        (252, "quiet init=/bin/sh\n", False, "quiet init=/bin/sh"),
        (254, "quiet init=/bin/sh", False, "quiet init=/bin/sh"),
        # Secure Boot and a .cmdline: the options are ignored
        (252, "quiet init=/bin/sh", True, "console=ttyS0 root=/dev/vda2 quiet"),
        (254, "quiet init=/bin/sh", True, "console=ttyS0 root=/dev/vda2 quiet"),
        # options that start with a control character are ignored
        (252, "\x01quiet", False, "console=ttyS0 root=/dev/vda2 quiet"),
        (257, "quiet init=/bin/sh\n", False, "quiet init=/bin/sh"),
        (257, "quiet init=/bin/sh", True, "console=ttyS0 root=/dev/vda2 quiet"),
        # 257: options that mangle to nothing fall back to .cmdline
        (257, "   ", False, "console=ttyS0 root=/dev/vda2 quiet"),
    ],
)
def test_options_override_the_cmdline_section(
    version: int, options: str, secure_boot: bool, expected: str, tmp_path: Path
) -> None:
    uki = _uki(version, tmp_path)
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    boot = UkiBoot(uki, boot_loader=loader, gpt_event_data=GPT_DATA, options=options, secure_boot=secure_boot)
    (options_event,) = [e for e in uki_boot_events(boot) if e.what == "kernel LoadOptions"]
    assert options_event.digest == hashlib.sha384(_options(expected)).digest()


@pytest.mark.parametrize(("version", "measured"), [(252, True), (254, False), (257, False)])
def test_secure_boot_without_cmdline_section(version: int, measured: bool, tmp_path: Path) -> None:
    """254 refuses passed options in a confidential VM under Secure Boot even without .cmdline
    (stub.c use_load_options: ``have_cmdline || is_confidential_vm()``); 252 takes them."""
    uki = build_uki(version, {".linux": _kernel(version)}, tmp_path)
    boot = UkiBoot(uki, options="quiet", secure_boot=True, gpt_event_data=GPT_DATA)
    tags = [e for e in uki_boot_events(boot) if e.event_type == TAG]
    assert len(tags) == (1 if measured else 0)


def test_kernel_without_initrd_media_support_is_not_loaded_by_the_firmware(tmp_path: Path) -> None:
    """pe_kernel_info: MajorImageVersion 0 → the EFI handover protocol, no LoadImage, no event (the
    payload: 252's systemd-boot, whose PE header has MajorImageVersion 0)."""
    uki = build_uki(252, {".linux": systemd_efi(252, "systemd-bootx64.efi").read_bytes()}, tmp_path)
    events = uki_boot_events(UkiBoot(uki, gpt_event_data=GPT_DATA))
    assert [e.event_type for e in events] == [GPT, BSA, ACTION, ACTION]


def test_kernels_before_6_9_log_nothing_in_rtmr2(tmp_path: Path) -> None:
    uki = _uki(254, tmp_path)
    events = uki_boot_events(UkiBoot(uki, gpt_event_data=GPT_DATA, linux=(6, 8)))
    assert all(e.mr_index == 2 for e in events)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("loader", "the boot loader is not systemd-boot"),
        ("stub", "systemd-stub 258.1 is not modelled"),
        ("nosdmagic", "no systemd-stub .sdmagic"),
    ],
)
def test_boots_pvmkit_cannot_predict_are_refused(change: str, message: str, tmp_path: Path) -> None:
    uki, loader = _uki(254, tmp_path), None
    if change == "loader":
        loader = make_pe()
    elif change == "stub":
        uki = make_uki({".linux": make_pe(), ".sdmagic": b"#### LoaderInfo: systemd-stub 258.1 ####"})
    else:
        uki = make_uki({".linux": make_pe()})
    with pytest.raises(InputError, match=message):
        uki_boot_events(UkiBoot(uki, boot_loader=loader))


def test_replay_names_the_component_of_a_changed_section(tmp_path: Path) -> None:
    """Issue 13 part 3: a TD that booted a UKI whose .initrd differs from the predicted one. The
    changed section changes the UKI file, so the first differing event is the UKI's Authenticode
    (RTMR1), named by its path; the initrd event differs after it."""
    loader = systemd_efi(254, "systemd-bootx64.efi").read_bytes()
    (tmp_path / "a").mkdir()
    predicted = _uki(254, tmp_path / "a")
    booted = build_uki(
        254,
        {".osrel": b"ID=test\n", ".cmdline": CMDLINE, ".initrd": INITRD + b"x", ".linux": _kernel(254)},
        tmp_path,
    )
    plans = [
        EventLogPlan.of(uki_boot_events(UkiBoot(u, boot_loader=loader, gpt_event_data=GPT_DATA)))
        for u in (predicted, booted)
    ]
    reference, log = (EventLog.parse(p.to_log_bytes()) for p in plans)
    result = compare(log, replay(log).rtmrs, reference=reference)
    d = result.first_difference
    assert d is not None and d.event is not None
    assert d.component == "UKI \\EFI\\Linux\\linux.efi (Authenticode)"
    assert [e.digest == f.digest for e, f in zip(plans[0].events, plans[1].events, strict=True)] == [
        True, True, False, True, True, False, True, True
    ]  # fmt: skip


def test_257_profile_selection_is_refused(tmp_path: Path) -> None:
    """257 process_arguments: a command line "@N ..." selects UKI profile N (not modelled)."""
    uki = _uki(257, tmp_path)
    with pytest.raises(InputError, match="selects a UKI profile"):
        uki_boot_events(UkiBoot(uki, options="@1 quiet", gpt_event_data=GPT_DATA))


@pytest.mark.parametrize("version", VERSIONS)
def test_under_secure_boot_the_stub_hides_its_kernel_from_the_firmware(version: int, tmp_path: Path) -> None:
    """secure-boot.c install_security_override (252, 254, 257: only when Secure Boot is on) makes the
    security arch protocols accept the stub's own payload (linux.c validate_payload) without calling the
    firmware's handlers, so DxeTpm2MeasureBootHandler never measures the .linux PE."""
    uki = _uki(version, tmp_path)
    loader = systemd_efi(version, "systemd-bootx64.efi").read_bytes()
    events = uki_boot_events(UkiBoot(uki, boot_loader=loader, gpt_event_data=GPT_DATA, secure_boot=True))
    applications = [e.digest for e in events if e.event_type == BSA]
    assert applications == [authenticode_digest(loader), authenticode_digest(uki)]


@pytest.mark.parametrize("version", [252, 254])
def test_252_254_initrd_with_generated_archives(version: int, tmp_path: Path) -> None:
    """252/254 efi_main: .pcrsig and .pcrpkey packed as cpio archives (pack_cpio_literal, the same code
    as 257's) appended by combine_initrd after .initrd padded to 4 bytes; no .osrel archive."""
    parts = {".initrd": b"I" * 7, ".pcrsig": b"{}", ".pcrpkey": b"KEY\n", ".osrel": b"ID=x\n"}
    uki = build_uki(version, {".linux": _kernel(version), **parts}, tmp_path)
    (initrd,) = [e for e in uki_boot_events(UkiBoot(uki, gpt_event_data=GPT_DATA)) if e.what == "initrd"]
    expected = _padded(
        b"I" * 7, _extra(b"tpm2-pcr-signature.json", b"{}"), _extra(b"tpm2-pcr-public-key.pem", b"KEY\n")
    )
    assert initrd.digest == hashlib.sha384(expected).digest()
