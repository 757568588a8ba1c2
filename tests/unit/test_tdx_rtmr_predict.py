"""RTMR prediction (pvmkit.vendors.tdx.{td_hob,rtmr,eventlog_plan,authenticode,linux_boot}).

Where each expected value comes from (tests/vectors/README.md, "TDX MRTD/RTMR"):

* spec tdx.md §2.2–2.4 digests, each confirmed there by two independent implementations or a real
  log: TD HOB at 8 RAM sizes, CFV, the Secure Boot variables (data read with virt-fw-vars), separator,
  EFI actions, BootMenu/bootorder fw_cfg items, UiApp boot option, LoadOptions in four forms;
* the real GCE TDX event log (go-tdx-guest testdata): pvmkit rebuilds event data and digests for the
  events whose inputs are in the log (TD HOB pointer, CFV description, SB variables, boot variables,
  separators, EFI actions, authority events) and gets the logged bytes; the logged digests, fed into
  an event-log plan, replay to the RTMRs of the quote that came with the log;
* Authenticode: osslsigncode (an independent implementation) on synthetic PEs — it implements the
  Authenticode spec's 8-byte padding, edk2 does not, so the two agree exactly on 8-aligned files and,
  on unaligned ones, osslsigncode equals pvmkit over the zero-padded file;
* regression-only (no second source): the whole-register RTMR0 of the Debian image with pvmkit's own
  defaults, the QEMU header patch values (taken from QEMU's x86_load_linux as read, not run).
"""

from __future__ import annotations

import contextlib
import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvmkit.errors import InputError, MeasurementError
from pvmkit.formats.ccel import EventLog
from pvmkit.formats.efi_varstore import (
    EFI_GLOBAL_VARIABLE_GUID,
    EFI_IMAGE_SECURITY_DATABASE_GUID,
    parse_varstore,
    uefi_variable_data,
)
from pvmkit.formats.guid import guid_bytes
from pvmkit.formats.tdvf import parse_tdvf
from pvmkit.formats.tdx_quote import parse_quote
from pvmkit.vendors.tdx.authenticode import authenticode_digest
from pvmkit.vendors.tdx.eventlog_plan import (
    EV_EFI_VARIABLE_BOOT,
    EV_SEPARATOR,
    SEPARATOR_DATA,
    DigestSource,
    EventLogPlan,
    PlannedEvent,
    extend,
)
from pvmkit.vendors.tdx.linux_boot import kernel_is_patched, load_options, qemu_patch_setup_header
from pvmkit.vendors.tdx.rtmr import (
    ACTION_CALLING_EFI_APP,
    ACTION_EBS_INVOCATION,
    ACTION_EBS_SUCCESS,
    AcpiBlobs,
    HostVersions,
    RtmrInputs,
    build_event_log_plan,
    cfv_event_data,
    db_authority_event_data,
    default_boot_variables,
    fw_cfg_event_data,
    parse_version,
    predict_rtmrs,
    table_loader_allocations,
    td_hob_event_data,
)
from pvmkit.vendors.tdx.td_hob import ResourceType, build_td_hob, td_hob_digest, td_hob_resources
from support.fixtures import read_fixture
from support.pe import make_pe

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
GCE_LOG = "go-tdx-guest/ccel/ccel_data.dat"
GCE_QUOTE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"
GIB = 1 << 30


def sha(data: bytes) -> str:
    return hashlib.sha384(data).hexdigest()


@pytest.fixture(scope="module")
def fw() -> bytes:
    return read_fixture(TDX_FD)


@pytest.fixture(scope="module")
def gce() -> list:  # type: ignore[type-arg]
    return list(EventLog.parse(read_fixture(GCE_LOG)))


# -- spec §2.2 item 1: TD HOB --------------------------------------------------------------------------

TD_HOB_DIGESTS = {  # spec §2.2, two independent implementations (QEMU's and dstack's construction)
    1 * GIB: (
        "1055c9b9a1fc534e688560e2304e18c8597b7261818cf61fb163d40c130547309b750575947a4dcaedbdce4b8d0535f2"
    ),
    2 * GIB: (
        "0b8772e5b0b41b83e6044a68397e02f49fb47066b4fbe4917ea2c45c64f323fdacbb37948f821ebaf8bc9c938ba8a749"
    ),
    0xA0000000: (
        "e05c12e2a65d57b3ff1f70abd2ae689c7e9096558dc28122befbcecad4a9d6d4569652e5c0298ee381bee5febeecbaa6"
    ),
    0xB0000000: (
        "8eb1a02074362aa0761541cdb4dc3f1788dfeb4538803b241477848e26de294dbe917ab56c5628732679b3abc168c2de"
    ),
    3 * GIB: (
        "798f84285da30f6c295fbb73e3c093cf13164b6ad9d547a123b8d4d305f87a027caaba88e4cfd684ed7b424f37811a2e"
    ),
    4 * GIB: (
        "5b684faf8d02a733945f821d9cdd170802e72103977acf66949c9382500283adc90cbec57f8e7653f8bee1cab83689de"
    ),
    8 * GIB: (
        "2e070cda358b5aa00f27cca25c47381bb564f4be3a84d059805a73cbbde764ed8341f7e09915b5e7b370f9c08a743fbd"
    ),
    16 * GIB: (
        "cd2312a0d87ef3c4a928df87088969a80b33d7bf3fc584bdde637b09ed808a8d821a56b78a13a6eb506db7578444abbe"
    ),
}


@pytest.mark.parametrize("memory", sorted(TD_HOB_DIGESTS))
def test_td_hob_digest_of_spec_2_2(fw: bytes, memory: int) -> None:
    assert td_hob_digest(build_td_hob(parse_tdvf(fw), memory)).hex() == TD_HOB_DIGESTS[memory]


def test_td_hob_layout_at_2_gib(fw: bytes) -> None:
    """spec §2.2: the 8 descriptors at 2 GiB, EfiEndOfHobList = 0x8091c0, END HOB not hashed."""
    meta = parse_tdvf(fw)
    u, a = ResourceType.MEMORY_UNACCEPTED, ResourceType.SYSTEM_MEMORY
    expected = [
        (0, 0x800000, u),
        (0x800000, 0x6000, a),
        (0x806000, 0x3000, u),
        (0x809000, 0x2000, a),
        (0x80B000, 0x2000, a),
        (0x80D000, 0x3000, u),
        (0x810000, 0x10000, a),
        (0x820000, 0x80000000 - 0x820000, u),
    ]
    assert [(r.start, r.length, r.type) for r in td_hob_resources(meta, 2 * GIB)] == expected
    hob = build_td_hob(meta, 2 * GIB)
    assert len(hob) == 56 + 48 * 8 + 8 and hob[-8:] == b"\xff\xff\x08\x00\x00\x00\x00\x00"
    assert struct.unpack_from("<Q", hob, 48)[0] == 0x8091C0
    assert struct.unpack_from("<HHII", hob, 0) == (1, 56, 0, 9)


def test_td_hob_refuses_ram_that_misses_a_section(fw: bytes) -> None:
    with pytest.raises(InputError, match="not inside"):
        build_td_hob(parse_tdvf(fw), 0x800000)
    with pytest.raises(InputError):
        td_hob_digest(b"\x01\x00")


def test_td_hob_event_data_equals_the_gce_log(gce: list) -> None:  # type: ignore[type-arg]
    """GCE's log (event 1) points at a HOB at the same GPA: the event data rebuilds byte for byte."""
    assert gce[0].event_type == 0x8000000B
    assert td_hob_event_data(0x809000) == gce[0].event_data


# -- spec §2.2 items 2–5: CFV, fw_cfg, Secure Boot variables, separator --------------------------------

SB_DIGESTS = {  # spec §2.2 item 4 (variable data read with virt-firmware 26.10 virt-fw-vars)
    "SecureBoot": "2cded0c6f453d4c6f59c5e14ec61abc6b018314540a2367c"
    "ba326a52aa2b315ccc08ce68a816ce09c6ef2ac7e514ae1f",
    "PK": "8fc01eeed0ab76765d297cb72099864146a30304cde946d85c5f35b8ca5b4ea47e010402433fe07b22332c51c8a33bee",
    "KEK": "35cb70e091c114646d5fcef33f036694286a345d619e60bc81e8691120a2f73576d7b689d2995b959dcebaba834a0192",
    "db": "a844c6d6a63e5e4e9413c179a3a294e59ae4b3903b7be488ff8373d9c0e17008fb18ae11072d3df13efc70abaa03e3ca",
    "dbx": "83ca6503369149e58aeb67db1f3bc1ed073accae002f2d4a43200115e05cd93418f2a4b378404c1042f6eba13adf914c",
}
CFV_DIGEST = (
    "327d4a91229b3993a7f6f64740d94ff689d44b45edada6e255596d4c7aa287576a92fb1f5c350c287caf60670a5bad5a"
)
SEPARATOR = "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
BOOTORDER_LINUXBOOT = (
    "53d3dbc00691328371e74c1b1c77bdf1bf4ff79dd1b55222b694fe8341cd8b0adb3a9ab9286552c681272883b9b0fc1d"
)


def test_rtmr0_fixed_part_of_debian_image(fw: bytes) -> None:
    plan = build_event_log_plan(RtmrInputs(firmware=fw, memory_size=2 * GIB))
    rtmr0 = plan.for_rtmr(0)
    by_what = {e.what: e for e in rtmr0}
    assert rtmr0[0].what == "TD HOB" and rtmr0[0].digest.hex() == TD_HOB_DIGESTS[2 * GIB]  # type: ignore[union-attr]
    assert rtmr0[1].digest.hex() == CFV_DIGEST  # type: ignore[union-attr]
    for name, digest in SB_DIGESTS.items():
        assert by_what[name].digest.hex() == digest, name  # type: ignore[union-attr]
    assert by_what["separator"].digest.hex() == SEPARATOR  # type: ignore[union-attr]
    # BootMenu = 0 (spec §2.2 item 3: sha384(00 00) = 1dd6f7b4…60ae0a7c)
    menu = by_what["fw_cfg BootMenu"].digest.hex()  # type: ignore[union-attr]
    assert menu.startswith("1dd6f7b4") and menu.endswith("60ae0a7c")
    # no ACPI/SMBIOS given: RTMR0 unknown, never guessed
    assert plan.rtmr(0) is None and {e.what for e in plan.missing()} >= {"ACPI tables", "SMBIOS"}
    assert plan.rtmr(3) == bytes(48)


def test_varstore_of_debian_image(fw: bytes) -> None:
    store = parse_varstore(fw[:0x84000])
    assert store.authenticated and store.fv_name is None
    names = {n for (_g, n) in store.variables}
    assert names == {"PK", "KEK", "db", "dbx"}
    sizes = {n: len(v.data) for (_g, n), v in store.variables.items()}
    assert sizes == {"PK": 1005, "KEK": 4071, "db": 7636, "dbx": 21292}  # spec §2.2 item 4
    assert sha(fw[:0x84000]) == CFV_DIGEST


def test_cfv_event_data_placeholder_and_gce(fw: bytes, gce: list) -> None:  # type: ignore[type-arg]
    data = cfv_event_data(fw[:0x84000], 0xFFC00000, 0x84000)
    assert data[1:-16] == b"Fv(XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)\0" and data[0] == len(data) - 17
    # The GCE varstore FV has an extended header naming it: rebuild that FV header and compare.
    fv = bytearray(0x1000)
    name = "48db5e17-707c-472d-91cd-1613e7ef51b0"
    struct.pack_into("<16sQ4sIHHHxB", fv, 0x10, bytes(16), 0x1000, b"_FVH", 0, 0x48, 0, 0x78, 2)
    fv[0x78 : 0x78 + 16] = guid_bytes(name)
    assert cfv_event_data(bytes(fv), 0xFFE00000, 0x20000) == gce[1].event_data


def test_fw_cfg_event_data_and_bootorder() -> None:
    data = fw_cfg_event_data("bootorder")
    assert len(data) == 68 and data.startswith(b"QEMU FW CFG\0bootorder\0")
    assert sha(b"/rom@genroms/linuxboot_dma.bin\0") == BOOTORDER_LINUXBOOT


def test_sb_variables_and_authority_rebuild_the_gce_log(gce: list) -> None:  # type: ignore[type-arg]
    """DRIVER_CONFIG and AUTHORITY hash the whole UEFI_VARIABLE_DATA: rebuilding it from (GUID, name,
    data) gives the logged event data and digest."""
    checked = 0
    for event in gce:
        if event.event_type not in (0x80000001, 0x800000E0):
            continue
        raw = event.event_data
        guid = "-".join(
            [raw[3::-1].hex(), raw[5:3:-1].hex(), raw[7:5:-1].hex(), raw[8:10].hex(), raw[10:16].hex()]
        )
        n_chars, n_data = struct.unpack_from("<QQ", raw, 16)
        name = raw[32 : 32 + 2 * n_chars].decode("utf-16-le")
        value = raw[32 + 2 * n_chars : 32 + 2 * n_chars + n_data]
        rebuilt = uefi_variable_data(guid, name, value)
        assert rebuilt == raw
        assert PlannedEvent.of_event_data(1, event.event_type, rebuilt, name).digest == event.digest()
        checked += 1
    assert checked == 7  # SecureBoot, PK, KEK, db, dbx, SbatLevel, MokListTrusted


def test_db_authority_event_from_certificate(fw: bytes) -> None:
    store = parse_varstore(fw[:0x84000])
    from pvmkit.formats.efi_varstore import parse_signature_lists

    db = store.get(EFI_IMAGE_SECURITY_DATABASE_GUID, "db")
    assert db is not None
    first = parse_signature_lists(db.data)[0].signatures[0]
    data = db_authority_event_data(store, first.data)
    assert data == uefi_variable_data(
        EFI_IMAGE_SECURITY_DATABASE_GUID, "db", guid_bytes(first.owner) + first.data
    )
    with pytest.raises(InputError, match="not in the firmware's db"):
        db_authority_event_data(store, b"not a certificate")


def test_separators_and_actions_match_the_gce_log(gce: list) -> None:  # type: ignore[type-arg]
    logged = {
        (e.mr_index, e.event_data): e.digest() for e in gce if e.event_type in (EV_SEPARATOR, 0x80000007)
    }
    assert logged[(1, SEPARATOR_DATA)].hex() == SEPARATOR
    assert logged[(2, SEPARATOR_DATA)].hex() == SEPARATOR
    for action, spec in (
        (
            ACTION_CALLING_EFI_APP,
            "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346bfe0abaa938ca20439a8d71",
        ),
        (
            ACTION_EBS_INVOCATION,
            "214b0bef1379756011344877743fdc2a5382bac6e70362d624ccf3f654407c1b4badf7d8f9295dd3dabdef65b27677e0",
        ),
        (
            ACTION_EBS_SUCCESS,
            "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c4174a652cd080f6230b74",
        ),
    ):
        assert sha(action) == spec and logged[(2, action)].hex() == spec


# -- boot variables ---------------------------------------------------------------------------------


def test_uiapp_boot_option_matches_spec_and_gce(gce: list) -> None:  # type: ignore[type-arg]
    """Pre-2025 OVMF Boot0000 = UiApp: built from its parts it gives 23ada07f… (spec §2.2 item 9),
    the digest and the variable data the GCE log carries."""
    old = dict(default_boot_variables((2024, 11)))
    assert sha(old["Boot0000"]).startswith("23ada07f5261f12f34a0bd8e46760962")
    logged = gce[13]
    assert logged.event_type == EV_EFI_VARIABLE_BOOT
    assert logged.event_data == uefi_variable_data(EFI_GLOBAL_VARIABLE_GUID, "Boot0000", old["Boot0000"])
    assert logged.digest() == hashlib.sha384(old["Boot0000"]).digest()


def test_boot_variable_digest_is_data_only(gce: list) -> None:  # type: ignore[type-arg]
    for event in gce:
        if event.event_type == EV_EFI_VARIABLE_BOOT:
            n_chars, n_data = struct.unpack_from("<QQ", event.event_data, 16)
            value = event.event_data[32 + 2 * n_chars :]
            assert len(value) == n_data and hashlib.sha384(value).digest() == event.digest()


def test_new_boot_options_layout() -> None:
    new = default_boot_variables((2025, 5))
    assert [n for n, _ in new] == ["BootOrder", "Boot0000", "Boot0001"]
    assert new[0][1] == b"\x00\x00\x01\x00"
    assert "BootManagerMenuApp".encode("utf-16-le") in new[1][1]
    assert struct.unpack_from("<I", new[2][1])[0] == 0x101


# -- replay of the logged digests -> quote --------------------------------------------------------


def test_plan_of_logged_digests_replays_to_the_gce_quote(gce: list) -> None:  # type: ignore[type-arg]
    events = [
        PlannedEvent.of_digest(e.mr_index, e.event_type, e.event_data, e.digest(), "logged")
        for e in gce
        if e.event_type != 0x3 and 1 <= e.mr_index <= 4
    ]
    plan = EventLogPlan.of(events)
    quote = parse_quote(read_fixture(GCE_QUOTE))
    assert plan.rtmrs() == tuple(quote.rtmrs)
    # and the plan written as a log parses back to the same events
    again = EventLog.parse(plan.to_log_bytes())
    assert [(e.mr_index, e.event_type, e.event_data, e.digest()) for e in again] == [
        (e.mr_index, e.event_type, e.event_data, e.digest) for e in events
    ]


def test_extend_and_missing_rules() -> None:
    assert extend(bytes(48), bytes(48)) == hashlib.sha384(bytes(96)).digest()
    with pytest.raises(InputError):
        PlannedEvent(5, 1, b"", bytes(48), DigestSource.GIVEN, "x")
    with pytest.raises(InputError):
        PlannedEvent(1, 1, b"", None, DigestSource.GIVEN, "x")
    plan = EventLogPlan.of([PlannedEvent.missing(2, 1, b"", "x", "why")])
    assert plan.rtmr(1) is None and plan.rtmr(0) == bytes(48)
    with pytest.raises(InputError, match="missing"):
        plan.to_log_bytes()


# -- LoadOptions (spec §2.4) ------------------------------------------------------------------------

LOAD_OPTIONS = [  # (ovmf, initrd, shim, digest or (head, tail)) from spec §2.4
    (
        (2025, 8),
        True,
        False,
        "f9f8fb4b0e1dce36006d4f4a67381bc02cb5fb2fe7143f3091569254993fb8edfa15f5b55ebdbf24cb189af4c6dbb8ff",
    ),
    (
        (2025, 5),
        True,
        False,
        "1d26f8aff8992fdfc37e88b4fdf4a1a0ebb815a2ce925ea3046b3ba1f24a933e75a163af2af579268c20ca5f476f5386",
    ),
    ((2025, 8), False, False, ("0c55ff8c", "3a82be63")),
    ((2025, 8), True, True, ("a7a43405", "0da327e4")),
]


@pytest.mark.parametrize(("ovmf", "initrd", "shim", "expected"), LOAD_OPTIONS)
def test_load_options_of_spec_2_4(ovmf: tuple[int, int], initrd: bool, shim: bool, expected: object) -> None:
    digest = sha(load_options("console=ttyS0", initrd=initrd, ovmf=ovmf, shim=shim))
    if isinstance(expected, tuple):
        assert digest.startswith(expected[0]) and digest.endswith(expected[1])
    else:
        assert digest == expected


def test_load_options_details() -> None:
    assert load_options(
        "console=ttyS0", initrd=True, ovmf=(2025, 8)
    ) == "initrd=initrd console=ttyS0\0".encode("utf-16-le")
    assert load_options("", initrd=True, ovmf=(2025, 8)) == "initrd=initrd \0".encode("utf-16-le")
    assert load_options("", initrd=True, ovmf=(2025, 2)) == " initrd=initrd\0".encode("utf-16-le")
    with pytest.raises(InputError):
        load_options("x", initrd=False, ovmf=(2024, 11), shim=True)


# -- kernel: QEMU header patch and version switch (spec §2.3) -----------------------------------------


def reference_authenticode(img: bytes) -> bytes:
    """spec §2.3 steps written out with fixed offsets for make_pe's layout (no cert, 2 sections)."""
    opt = 0x58
    cks, cert_dir = opt + 64, opt + 112 + 32
    h = hashlib.sha384()
    h.update(img[:cks] + img[cks + 4 : cert_dir] + img[cert_dir + 8 : 0x200])
    h.update(img[0x200:0x400] + img[0x400:0x600])
    h.update(img[0x600:])
    return h.digest()


def test_authenticode_steps() -> None:
    img = make_pe(0x1000)
    assert authenticode_digest(img) == reference_authenticode(img)
    patched = bytearray(img)
    struct.pack_into("<I", patched, 0x58 + 64, 0)  # the CheckSum field is not hashed
    assert authenticode_digest(bytes(patched)) == authenticode_digest(img)
    signed = make_pe(0x1000, cert=b"\xaa" * 64)
    assert authenticode_digest(signed) == authenticode_digest(signed[:-64] + b"\xbb" * 64)


def test_authenticode_has_no_padding() -> None:
    img = make_pe(0x1003)
    assert authenticode_digest(img) != authenticode_digest(img + bytes(5))


def test_qemu_setup_header_patch() -> None:
    kernel = make_pe(0x2000)
    out = qemu_patch_setup_header(kernel, below_4g=2 * GIB, cmdline="console=ttyS0", initrd_size=0x123456)
    assert out[0x210] == 0xB0 and out[0x211] == 0x81
    assert struct.unpack_from("<H", out, 0x224)[0] == 0xFE00
    assert struct.unpack_from("<I", out, 0x228)[0] == 0x20000
    initrd_max = 2 * GIB - 0x28000 - 1  # XLF_CAN_BE_LOADED_ABOVE_4G set, clamped to below_4g - acpi
    assert struct.unpack_from("<II", out, 0x218) == ((initrd_max - 0x123456) & ~0xFFF, 0x123456)
    changed = [i for i in range(len(kernel)) if kernel[i] != out[i]]
    assert min(changed) >= 0x210 and max(changed) < 0x22C
    # without XLF_CAN_BE_LOADED_ABOVE_4G the header's initrd_addr_max counts
    no_xlf = bytearray(kernel)
    struct.pack_into("<H", no_xlf, 0x236, 0x1)
    out2 = qemu_patch_setup_header(bytes(no_xlf), below_4g=0xB0000000, initrd_size=0x1000)
    assert struct.unpack_from("<I", out2, 0x218)[0] == (0x7FFFFFFF - 0x1000) & ~0xFFF
    # vga=
    assert (
        struct.unpack_from("<H", qemu_patch_setup_header(kernel, below_4g=GIB, cmdline="vga=0x317"), 0x1FA)[0]
        == 0x317
    )
    assert (
        struct.unpack_from("<H", qemu_patch_setup_header(kernel, below_4g=GIB, cmdline="a vga=ask"), 0x1FA)[0]
        == 0xFFFD
    )
    with pytest.raises(InputError):
        qemu_patch_setup_header(kernel, below_4g=GIB, cmdline="vga=bogus")
    with pytest.raises(InputError, match="too large"):
        qemu_patch_setup_header(kernel, below_4g=GIB, initrd_size=GIB)
    with pytest.raises(MeasurementError):
        qemu_patch_setup_header(make_pe(0x1000, bzimage=False), below_4g=GIB)


@pytest.mark.parametrize(
    ("qemu", "ovmf", "patched"),
    [
        ((9, 2), (2026, 8), True),
        ((10, 1), (2024, 11), True),
        ((10, 1), (2025, 2), False),
        ((10, 2), (2024, 2), False),
    ],
)
def test_kernel_patch_switch(qemu: tuple[int, int], ovmf: tuple[int, int], patched: bool) -> None:
    assert kernel_is_patched(qemu, ovmf) is patched


# -- whole prediction -------------------------------------------------------------------------------


def _acpi() -> AcpiBlobs:
    loader = bytearray(3 * 128)
    for i, name in enumerate((b"etc/acpi/rsdp", b"etc/acpi/tables")):
        struct.pack_into("<I56s", loader, 128 * i, 1, name)
    struct.pack_into("<I", loader, 256, 3)  # ADD_CHECKSUM
    return AcpiBlobs(loader=bytes(loader), rsdp=b"RSD PTR " + bytes(12), tables=b"\x01" * 0x100)


def test_table_loader_allocation_order() -> None:
    assert table_loader_allocations(_acpi().loader) == ["etc/acpi/rsdp", "etc/acpi/tables"]


def test_full_direct_boot_prediction(fw: bytes) -> None:
    """Debian image, SB forced off, captured ACPI/SMBIOS: every register is predicted; RTMR1/2 are the
    replay of the events the spec lists, computed here from the parts (regression of the assembly)."""
    kernel, initrd = make_pe(0x3000), b"initrd-bytes" * 100
    acpi = _acpi()
    inputs = RtmrInputs(
        firmware=fw,
        memory_size=2 * GIB,
        kernel=kernel,
        initrd=initrd,
        cmdline="console=ttyS0",
        acpi=acpi,
        smbios=b"smbios",
        secure_boot="off",
        versions=HostVersions(ovmf=(2026, 8), qemu=(9, 2), linux=(6, 12)),
    )
    plan = build_event_log_plan(inputs)
    r0, r1, r2, r3 = predict_rtmrs(inputs)
    assert None not in (r0, r1, r2) and r3 == bytes(48) and not plan.warnings
    patched = qemu_patch_setup_header(
        kernel, below_4g=2 * GIB, cmdline="console=ttyS0", initrd_size=len(initrd)
    )
    expected1 = bytes(48)
    for d in (authenticode_digest(patched), hashlib.sha384(ACTION_CALLING_EFI_APP).digest(),
              bytes.fromhex(SEPARATOR), hashlib.sha384(ACTION_EBS_INVOCATION).digest(),
              hashlib.sha384(ACTION_EBS_SUCCESS).digest()):  # fmt: skip
        expected1 = extend(expected1, d)
    assert r1 == expected1
    expected2 = extend(extend(bytes(48), bytes.fromhex(LOAD_OPTIONS[0][3])), hashlib.sha384(initrd).digest())  # type: ignore[arg-type]
    assert r2 == expected2
    whats = [e.what for e in plan.for_rtmr(0)]
    assert whats[whats.index("separator") + 1 : whats.index("separator") + 4] == [
        "ACPI etc/table-loader", "ACPI etc/acpi/rsdp", "ACPI etc/acpi/tables"
    ]  # fmt: skip
    loader_event = plan.for_rtmr(0)[whats.index("ACPI etc/table-loader")]
    assert loader_event.digest == hashlib.sha384(acpi.loader + bytes(4096 - len(acpi.loader))).digest()
    # the IntelTdx 2026.08 image registers BootManagerMenuApp only (its UiApp is outside DXEFV; its own
    # boot under TCG, tests/crosscheck/test_ovmf_boot_options.py): no "EFI Firmware Setup" Boot0001
    assert whats[-3:] == ["SMBIOS", "BootOrder", "Boot0000"]
    assert "fw_cfg bootorder" in whats
    # QEMU >= 10.2 measures the original kernel
    newer = build_event_log_plan(
        RtmrInputs(**{**inputs.__dict__, "versions": HostVersions((2026, 8), (10, 2), (6, 12))})
    )
    assert newer.for_rtmr(1)[0].digest == authenticode_digest(kernel)
    # Linux < 6.9: the EFI stub does not measure into RTMR2
    old_linux = RtmrInputs(**{**inputs.__dict__, "versions": HostVersions((2026, 8), (9, 2), (6, 8))})
    assert predict_rtmrs(old_linux)[2] == bytes(48)


def test_event_sets_follow_the_ovmf_version(fw: bytes) -> None:
    """dstack's "Pre202505" layout: HOB, CFV, 5 SB vars, separator, 3 ACPI, BootOrder, Boot0000 (13).
    dstack's OVMF builds register the boot entries of the version table (its layouts list them), which
    this fixture image (IntelTdx 2026.08, one fixed entry) does not: they are given as dstack's."""
    old = HostVersions(ovmf=(2024, 9))
    inputs = RtmrInputs(
        firmware=fw, memory_size=2 * GIB, acpi=_acpi(), versions=old,
        boot_variables=default_boot_variables(old.ovmf),
    )  # fmt: skip
    whats = [e.what for e in build_event_log_plan(inputs).for_rtmr(0)]
    assert len(whats) == 13 and whats[-2:] == ["BootOrder", "Boot0000"]
    inputs = RtmrInputs(
        firmware=fw, memory_size=2 * GIB, kernel=make_pe(0x2000), acpi=_acpi(), smbios_digest=bytes(48),
        secure_boot="off", versions=HostVersions(ovmf=(2025, 5)),
        boot_variables=default_boot_variables((2025, 5)),
    )  # fmt: skip
    whats = [e.what for e in build_event_log_plan(inputs).for_rtmr(0)]
    # dstack's "Stable202505": 17 events
    assert len(whats) == 17 and whats[2:4] == ["fw_cfg BootMenu", "fw_cfg bootorder"]


def test_secure_boot_needs_an_authority_for_a_kernel(fw: bytes) -> None:
    inputs = RtmrInputs(firmware=fw, memory_size=2 * GIB, kernel=make_pe(0x2000), acpi=_acpi(), smbios=b"x")
    plan = build_event_log_plan(inputs)
    assert plan.rtmr(0) is None and any(e.what == "Secure Boot authority" for e in plan.missing())
    assert plan.warnings and "-shim" in plan.warnings[0]
    assert plan.rtmr(1) is not None


def test_parse_version() -> None:
    assert parse_version("2026.08", "ovmf") == (2026, 8)
    assert parse_version("edk2-stable202505", "ovmf") == (2025, 5)
    assert parse_version("2025.02-8+deb13u1", "ovmf") == (2025, 2)
    assert parse_version("10.2.0", "qemu") == (10, 2)
    assert parse_version("6.12.5-amd64", "linux") == (6, 12)
    with pytest.raises(InputError):
        parse_version("latest", "qemu")


def test_default_boot_option_guids_exist_in_the_debian_image(fw: bytes) -> None:
    """The default Boot#### device paths name FV(7cb8bdc9…)/FvFile(UiApp | BootManagerMenuApp): the
    Debian image's LZMA-compressed DXE volume carries exactly that FvName and both applications."""
    import lzma

    from pvmkit.formats.efi_varstore import fv_name_guid

    lzma_guid = guid_bytes("ee4e5898-3914-4259-9d6e-dc7bd79403cf")  # LZMA custom decompress GUID
    at = fw.find(lzma_guid, 0x84000)
    assert at > 0
    section = at - 4  # EFI_GUID_DEFINED_SECTION header
    size = int.from_bytes(fw[section : section + 3], "little")
    data_offset = int.from_bytes(fw[at + 16 : at + 18], "little")
    volume = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(
        fw[section + data_offset : section + size]
    )
    dxefv = volume.find(b"_FVH") - 0x28
    assert fv_name_guid(volume[dxefv:]) == "7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1"
    for app in ("462caa21-7614-4503-836e-8ab6f4662331", "eec25bdc-67f2-4d95-b1d5-f81b2039d11d"):
        assert guid_bytes(app) in volume, app


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.integers(0, 0x3FF))
def test_parsers_raise_only_pvmkit_errors(blob: bytes, cut: int) -> None:
    from pvmkit.errors import PvmkitError
    from pvmkit.formats.efi_varstore import parse_signature_lists

    pe = make_pe(0x1000)[: 0x200 + cut] + blob
    for parse in (authenticode_digest, parse_varstore, parse_signature_lists, table_loader_allocations):
        for data in (blob, pe):
            with contextlib.suppress(PvmkitError):
                parse(data)  # type: ignore[operator]
