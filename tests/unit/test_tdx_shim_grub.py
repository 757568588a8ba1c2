"""shim + GRUB disk boot of a TD, against the real Ubuntu TD log (evidence-api's ccel_data.bin and
its quote; provenance: ../shared/fixtures/README.md and tests/vectors/README.md, "TDX shim+GRUB").

Events 17-98 of the log are predicted from the measurement rules (pvmkit.formats.gpt,
pvmkit.vendors.tdx.shim_grub, pvmkit.vendors.tdx.grub); the inputs that are not in the fixtures (the
EFI binaries, shim's MoK mirrors, GRUB's files on the root filesystem, the main grub.cfg) are given
in their digests-only form, each named below. Events 1-16 (RTMR0 of a 2023 TDVF and the ready-to-boot
events) are taken from the log: they are not this boot path's.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.formats.ccel import TCG_ALG_SHA384, EventLog
from pvmkit.formats.gpt import SECTOR, read_gpt
from pvmkit.formats.tdx_quote import Quote
from pvmkit.vendors.tdx.components import components
from pvmkit.vendors.tdx.eventlog_plan import DigestSource, EventLogPlan, PlannedEvent
from pvmkit.vendors.tdx.grub import (
    GrubFiles,
    command_event,
    file_event,
    follow_grub_cfg,
    kernel_cmdline_event,
)
from pvmkit.vendors.tdx.replay import compare, replay
from pvmkit.vendors.tdx.shim_grub import MokState, PeImage, ShimGrubBoot, shim_grub_events
from support.fixtures import read_fixture
from support.gpt_disk import ROOT_UUID, disk_from_gpt_event, ubuntu_log
from support.gpt_disk import logged_digest as _digest

QUOTE = "tdx-qemu-logs/evidence-api/common/golang/evidence_api/test_data/quote.bin"
# grub-install's ESP configuration for a signed GRUB (search.fs_uuid, prefix, configfile); its
# SHA-384 is the digest the log gives (hd0,gpt15)/EFI/ubuntu/grub.cfg (event 30)
ESP_GRUB_CFG = (
    f"search.fs_uuid {ROOT_UUID} root \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n"
).encode()
# shim 15.7's SBAT level (shim include/sbat_var_defs.h, SBAT_VAR_PREVIOUS)
SHIM_15_7_SBAT_LEVEL = b"sbat,1,2022052400\ngrub,2\n"


@pytest.fixture(scope="module")
def log() -> EventLog:
    return ubuntu_log()


def test_gpt_event_from_the_disk_equals_the_firmware_event(log: EventLog, tmp_path: Path) -> None:
    logged = log.events[16].event_data
    disk = read_gpt(disk_from_gpt_event(logged, tmp_path / "disk.img"))
    # the header's CRC32 of the entry array holds only with the entries in slots 1, 14, 15
    assert disk.gpt_event_data() == logged
    assert [p.number for p in disk.partitions] == [1, 14, 15]
    assert disk.esp().number == 15
    assert disk.fs_uuids == {ROOT_UUID: 1}


def test_disk_image_without_esp_or_gpt_is_refused(log: EventLog, tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    empty.write_bytes(bytes(4096))
    with pytest.raises(InputError, match="no GUID partition table"):
        read_gpt(empty)
    disk_path = disk_from_gpt_event(log.events[16].event_data, tmp_path / "d.img")
    with open(disk_path, "r+b") as f:
        f.seek(SECTOR)
        raw = bytearray(f.read(2 * SECTOR + 128 * 128 - SECTOR))
        array = 2 * SECTOR - SECTOR
        raw[array + 14 * 128 : array + 15 * 128] = bytes(128)  # drop the ESP entry
        struct.pack_into("<I", raw, 88, zlib.crc32(raw[array : array + 128 * 128]))
        struct.pack_into("<I", raw, 16, 0)
        struct.pack_into("<I", raw, 16, zlib.crc32(raw[:92]))
        f.seek(SECTOR)
        f.write(raw)
    with pytest.raises(InputError, match="no EFI system partition"):
        read_gpt(disk_path).esp()
    with open(disk_path, "r+b") as f:
        f.seek(SECTOR + 30)
        f.write(b"\xff")
    with pytest.raises(FormatError, match="header CRC32"):
        read_gpt(disk_path)


def _grub_events_as_logged(log: EventLog, first: int, end: int) -> list[PlannedEvent]:
    """GRUB's events ``first``..``end - 1`` in their digests-only form: commands and the kernel command
    line by their logged text (the digest is pvmkit's rule), files by their logged digest."""
    events: list[PlannedEvent] = []
    for number in range(first, end):
        data = log.events[number - 1].event_data.rstrip(b"\0").decode()
        if data.startswith("grub_cmd: "):
            events.append(command_event(data[len("grub_cmd: ") :]))
        elif data.startswith("kernel_cmdline: "):
            events.append(kernel_cmdline_event(data[len("kernel_cmdline: ") :]))
        else:
            events.append(file_event(data, "file", digest=_digest(log, number)))
    return events


def _predicted(log: EventLog, tmp_path: Path) -> list[PlannedEvent]:
    disk = read_gpt(disk_from_gpt_event(log.events[16].event_data, tmp_path / "disk.img"))
    gpt1 = "(hd0,gpt1)/boot/grub"
    lists = {
        f"{gpt1}/x86_64-efi/{n}": _digest(log, 33 + i)
        for i, n in enumerate(("command.lst", "fs.lst", "crypto.lst", "terminal.lst"))
    }
    files = GrubFiles(digests={**lists, f"{gpt1}/grub.cfg": _digest(log, 38)})
    esp = follow_grub_cfg(
        ESP_GRUB_CFG,
        "(hd0,gpt15)/EFI/ubuntu/grub.cfg",
        files=files,
        fs_devices={u: f"hd0,gpt{n}" for u, n in disk.fs_uuids.items()},
    )
    assert esp.stopped_at == f"{gpt1}/grub.cfg"
    # the main grub.cfg is not in the fixtures: from here GRUB's events in their digests-only form,
    # commands by their text (the digest is pvmkit's rule), files by their logged digest
    rest = _grub_events_as_logged(log, 39, 97)
    boot = ShimGrubBoot(
        gpt_event_data=disk.gpt_event_data(),
        shim=PeImage("shim", "\\EFI\\BOOT\\BOOTX64.EFI", authenticode=_digest(log, 18)),
        fallback=PeImage("fallback", "\\EFI\\BOOT\\fbx64.efi", authenticode=_digest(log, 23)),
        vendor_shim_path="\\EFI\\ubuntu\\shimx64.efi",
        grub=PeImage("GRUB", "\\EFI\\ubuntu\\grubx64.efi", authenticode=_digest(log, 29)),
        mok=MokState(
            sbat_level=SHIM_15_7_SBAT_LEVEL,
            mok_list_digest=_digest(log, 19),
            mok_list_x_digest=_digest(log, 20),
        ),
        grub_events=[*esp.events, *rest],
    )
    return shim_grub_events(boot)


def test_shim_grub_boot_replays_the_real_log_event_by_event(log: EventLog, tmp_path: Path) -> None:
    predicted = _predicted(log, tmp_path)
    logged = log.events[16:]
    assert len(predicted) == len(logged) == 82
    for p, e in zip(predicted, logged, strict=True):
        where = f"event {e.index} ({p.what})"
        assert (p.mr_index, p.event_type) == (e.mr_index, e.event_type), where
        assert p.digest == e.digest(TCG_ALG_SHA384), where
        if p.source is DigestSource.EVENT_DATA or p.what.startswith(("GPT", "shim Mok")):
            assert p.event_data == e.event_data, where
    # what the rules alone produced, not a digest copied from the log
    ruled = [p for p in predicted if p.source is not DigestSource.GIVEN]
    assert len(ruled) == 65  # 17 given: 4 EFI binaries, 4 MoK mirrors, 9 GRUB files
    prefix = [
        PlannedEvent.of_digest(e.mr_index, e.event_type, e.event_data, _digest(log, e.index), "firmware")
        for e in log.events[:16]
    ]
    plan = EventLogPlan.of([*prefix, *predicted])
    quote = Quote.parse(read_fixture(QUOTE))
    assert plan.rtmr(0) == quote.rtmrs[0]
    assert plan.rtmr(1) == quote.rtmrs[1]
    assert plan.rtmr(2) == replay(log).rtmrs[2]  # the quote was taken after later RTMR2 extends


def test_esp_grub_cfg_is_measured_as_grub_install_writes_it(log: EventLog) -> None:
    assert hashlib.sha384(ESP_GRUB_CFG).digest() == _digest(log, 30)


def test_follower_boots_the_default_entry(tmp_path: Path) -> None:
    kernel, initrd = b"K" * 100, b"I" * 50
    cfg = (
        b"set default=1\nset timeout=0\ninsmod ext2\n"
        b"menuentry 'A' {\n\tlinux /a\n}\n"
        b'menuentry "B $x" --id b {\n'
        b"\tlinux\t/vmlinuz  root=/dev/vda1 'console=ttyS0'\n\tinitrd /initrd.img\n}\n"
    )
    out = follow_grub_cfg(
        cfg, "(hd0,gpt2)/boot/grub/grub.cfg", files=GrubFiles(kernel=kernel, initrd=initrd), env={"x": "y"}
    )
    texts = [e.event_data for e in out.events]
    assert texts[0] == b"(hd0,gpt2)/boot/grub/grub.cfg\0"
    assert out.events[0].digest == hashlib.sha384(cfg).digest()
    assert (
        b"grub_cmd: menuentry B y --id b {\n\tlinux\t/vmlinuz  root=/dev/vda1 'console=ttyS0'\n" in texts[5]
    )
    assert texts[6:] == [
        b"grub_cmd: setparams B y\0",
        b"grub_cmd: linux /vmlinuz root=/dev/vda1 console=ttyS0\0",
        b"/vmlinuz\0",
        b"kernel_cmdline: /vmlinuz root=/dev/vda1 console=ttyS0\0",
        b"grub_cmd: initrd /initrd.img\0",
        b"/initrd.img\0",
    ]
    assert out.events[8].digest == hashlib.sha384(kernel).digest()
    assert out.events[11].digest == hashlib.sha384(initrd).digest()
    assert out.events[7].digest == hashlib.sha384(b"linux /vmlinuz root=/dev/vda1 console=ttyS0").digest()


@pytest.mark.parametrize(
    ("cfg", "reason"),
    [
        (b"if [ -s $prefix/grubenv ]; then\n  load_env\nfi\n", "a file test needs the disk's files"),
        (b"if ! search --file /x; then\nfi\n", "only searches by filesystem UUID"),
        (b"if [ 1 -lt 2 ]; then\nfi\n", "the test operator '-lt' is not modelled"),
        (b"for x in a b; do\n  echo $x\ndone\n", "line 1: 'for' is not modelled"),
        (b"if [ a = a ]; then\n", "the script ends before 'elif' or 'else' or 'fi'"),
        (b"if [ a = a ]; then\n" * 40 + b"fi\n" * 40, "nested deeper than 32"),
        (b"function f {\n  f\n}\nf\n", "calls nested deeper than 32"),
        (b"set prefix=/p\nload_env -s\n", "load_env -s is not modelled"),
        (b"submenu 'x' {\n menuentry y {\n }\n}\n", "the default entry 'x' is a submenu"),
        (b"set default='a>b'\nmenuentry y {\n}\n", "default='a>b' is not modelled"),
        (b"menuentry y\n", "menuentry without a '{' block"),
        (b"set default=1\nmenuentry 1 {\n}\nmenuentry 2 {\n}\n", "is a number and an entry's title"),
        (b"echo a {\n}\n", "line 1: a '{' block is modelled only for menuentry and submenu"),
        (b"hwmatch x 3\n", "the command 'hwmatch' is not modelled"),
        (b"search --label root\n", "only searches by filesystem UUID"),
        (b"linux /boot/vmlinuz-* ro\n", "redirections and wildcards"),
        (b"configfile /other.cfg\n", "give the contents of /other.cfg"),
    ],
)
def test_follower_refuses_what_it_cannot_follow(cfg: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        follow_grub_cfg(cfg, "grub.cfg", files=GrubFiles())


def test_missing_kernel_leaves_the_register_unknown() -> None:
    out = follow_grub_cfg(b"linux /vmlinuz ro\n", "grub.cfg", files=GrubFiles())
    plan = EventLogPlan.of(out.events)
    assert plan.rtmr(2) is None
    assert [e.what for e in plan.missing()] == ["kernel /vmlinuz"]


@pytest.mark.parametrize(
    ("number", "component"),
    [
        (92, "grub.cfg command 'linux /boot/vmlinuz-6.2.16-v5.2.mvp42-generic root=UUID=9…'"),
        (29, "EFI application \\EFI\\ubuntu\\grubx64.efi (Authenticode)"),
        (96, "file read by GRUB /boot/initrd.img-6.2.16-v5.2.mvp42-generic"),
        (17, "GPT of the boot disk"),
    ],
)
def test_replay_against_the_prediction_names_the_component(
    log: EventLog, tmp_path: Path, number: int, component: str
) -> None:
    """Issue 13 part 3: a prediction that differs in one event names that event's component."""
    predicted = _predicted(log, tmp_path)
    k = number - 17
    wrong = hashlib.sha384(b"another " + (predicted[k].digest or b"")).digest()
    predicted[k] = PlannedEvent.of_digest(
        predicted[k].mr_index, predicted[k].event_type, predicted[k].event_data, wrong, "changed"
    )
    prefix = [
        PlannedEvent.of_digest(e.mr_index, e.event_type, e.event_data, _digest(log, e.index), "firmware")
        for e in log.events[:16]
    ]
    reference = EventLog.parse(EventLogPlan.of([*prefix, *predicted]).to_log_bytes())
    result = compare(log, replay(log).rtmrs, reference=reference)
    d = result.first_difference
    assert d is not None and d.event is not None
    assert d.event.index == number
    assert d.component == component
    assert d.message.endswith(f"(component: {component})")


def test_components_of_direct_boot_events() -> None:
    tagged = [struct.pack("<II", 0x8F3B22ED, 27) + b"LOADED_IMAGE::LoadOptions\0\0"[:27]]
    tagged.append(struct.pack("<II", 0x8F3B22EC, 13) + b"Linux initrd\0")
    plan = EventLogPlan.of(
        [
            PlannedEvent.of_event_data(2, 0x80000003, struct.pack("<QQQQ", 0, 10, 0, 0), "kernel"),
            *(PlannedEvent.of_event_data(3, 0x6, t, "tag") for t in tagged),
            *(PlannedEvent.of_event_data(1, 0xA, b"ACPI DATA", "acpi") for _ in range(3)),
        ]
    )
    names = components(EventLog.parse(plan.to_log_bytes()).events)
    assert names == [
        "EFI application loaded from memory (the -kernel kernel) (Authenticode)",
        "kernel command line (LoadOptions)",
        "initrd",
        "ACPI table-loader (etc/table-loader)",
        "ACPI RSDP (etc/acpi/rsdp)",
        "ACPI tables (etc/acpi/tables)",
    ]


def test_gce_shim_grub_log_replays_event_by_event() -> None:
    """The second real shim+GRUB TD log (go-tdx-guest's GCE COS guest): another shim build, whose
    SbatLevel is shim's original level (shim include/sbat_var_defs.h, SBAT_VAR_ORIGINAL) and which
    also logs MokListTrusted as an RTMR0 authority event; COS's grub.cfg is not in the fixtures, so
    GRUB's commands come by their text."""
    gce = EventLog.parse(read_fixture("go-tdx-guest/ccel/ccel_data.dat"))
    grub = _grub_events_as_logged(gce, 25, 42)
    boot = ShimGrubBoot(
        gpt_event_data=gce.events[16].event_data,
        shim=PeImage("shim", "\\EFI\\BOOT\\BOOTX64.EFI", authenticode=_digest(gce, 18)),
        grub=PeImage("GRUB", "\\EFI\\BOOT\\grub-lakitu.efi", authenticode=_digest(gce, 24)),
        mok=MokState(
            sbat_level=b"sbat,1,2021030218\n",
            mok_list_digest=_digest(gce, 19),
            mok_list_x_digest=_digest(gce, 20),
            mok_list_trusted_authority=True,
        ),
        grub_events=grub,
    )
    predicted = shim_grub_events(boot)
    assert len(predicted) == len(gce.events) - 16 == 27
    for p, e in zip(predicted, gce.events[16:], strict=True):
        where = f"event {e.index} ({p.what})"
        assert (p.mr_index, p.event_type, p.digest) == (e.mr_index, e.event_type, _digest(gce, e.index)), (
            where
        )
        if p.what.startswith("shim") and p.mr_index == 1:
            assert p.event_data == e.event_data, where
    prefix = [
        PlannedEvent.of_digest(e.mr_index, e.event_type, e.event_data, _digest(gce, e.index), "firmware")
        for e in gce.events[:16]
    ]
    quote = Quote.parse(read_fixture("go-tdx-guest/ccel/cos-113-tdx-quote.dat"))
    assert EventLogPlan.of([*prefix, *predicted]).rtmrs() == quote.rtmrs


def test_default_entry_sets_chosen_for_savedefault() -> None:
    """GRUB_SAVEDEFAULT's savedefault (00_header's function) saves ${chosen}, which menu.c sets to the
    booted entry's id (its title without --id) before the body runs."""
    cfg = (
        b"set prefix=(hd0,gpt1)/boot/grub\n"
        b'function savedefault {\n  if [ -z "${boot_once}" ]; then\n    saved_entry="${chosen}"\n'
        b"    save_env saved_entry\n  fi\n}\nset timeout_style=hidden\nset timeout=0\n"
        b"menuentry 'A' --id a-id {\n\tsavedefault\n\techo \"$timeout\"\n}\n"
        b"menuentry 'B' {\n\tsavedefault\n}\nset default=a-id\n"
    )
    grubenv = b"# GRUB Environment Block\n" + b"#" * 999
    out = follow_grub_cfg(
        cfg,
        "(hd0,gpt1)/boot/grub/grub.cfg",
        files=GrubFiles(contents={"(hd0,gpt1)/boot/grub/grubenv": grubenv}),
    )
    texts = [e.event_data.rstrip(b"\0").decode() for e in out.events]
    assert texts[-6:] == [
        "grub_cmd: setparams A",
        "grub_cmd: savedefault",
        "grub_cmd: [ -z  ]",
        "grub_cmd: saved_entry=a-id",
        "grub_cmd: save_env saved_entry",
        "grub_cmd: echo ",  # run_menu unset timeout (hidden style) before the entry ran
    ]


def test_insmod_of_a_module_not_built_in_is_refused() -> None:
    """dl.c: a built-in module is loaded already (only the command is logged); another would be read
    from $prefix/x86_64-efi/NAME.mod with its dependencies, which pvmkit does not model."""
    files = GrubFiles(modules=frozenset({"gzio", "part_gpt"}))
    out = follow_grub_cfg(b"insmod gzio\ninsmod part_gpt\n", "grub.cfg", files=files)
    assert [e.event_data for e in out.events[1:]] == [
        b"grub_cmd: insmod gzio\0",
        b"grub_cmd: insmod part_gpt\0",
    ]
    with pytest.raises(InputError, match=r"line 2: insmod zfs: not built into GRUB's image"):
        follow_grub_cfg(b"insmod gzio\ninsmod zfs\n", "grub.cfg", files=files)


def test_unquoted_values_are_split_and_empty_ones_dropped() -> None:
    """script/argv.c: an unquoted value is split at blanks (its pieces extend the word around it) and
    an empty one adds nothing, so a word of only that is dropped; a quoted empty string stays a word."""
    cfg = b"set a=' x  y '\nset e=\nlinux /k p$a\"q\" $e r$e \"\" '' $e$e\n"
    out = follow_grub_cfg(cfg, "grub.cfg", files=GrubFiles(kernel=b"k"))
    texts = [e.event_data for e in out.events]
    assert texts[3] == b"grub_cmd: linux /k px yq r  \0"  # words: /k, px, yq, r, '', ''
    assert texts[5] == b"kernel_cmdline: /k px yq r  \0"


@pytest.mark.parametrize("assignment", [b"set root=(hd0,gpt2)", b"root=(hd0,gpt2)", b"set root=hd0,gpt2"])
def test_root_loses_its_parentheses_as_grubs_write_hook_strips_them(assignment: bytes) -> None:
    """GRUB's kernel registers a write hook on ``root`` (grub-core/kern/main.c ``grub_env_write_root``)
    that removes surrounding parentheses, so ``($root)`` after ``set root=(hd0,gpt2)`` is
    ``(hd0,gpt2)``, not ``((hd0,gpt2))``: the logged ``set prefix`` text and the module-list paths
    name the device once, and files resolve on it."""
    cfg = assignment + b"\nset prefix=($root)/boot/grub\nlinux /vmlinuz ro\n"
    out = follow_grub_cfg(cfg, "grub.cfg", files=GrubFiles(kernel=b"K"))
    texts = [e.event_data.rstrip(b"\0").decode() for e in out.events]
    assert texts[2:4] == [
        "grub_cmd: set prefix=(hd0,gpt2)/boot/grub",
        "(hd0,gpt2)/boot/grub/x86_64-efi/command.lst",
    ]
    assert out.events[2].digest == hashlib.sha384(b"set prefix=(hd0,gpt2)/boot/grub").digest()
