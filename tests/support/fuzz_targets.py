"""Fuzz targets: one per parser and verifier entry point (issue 15, "Keep it so").

A target takes bytes and runs them through an entry point the way the CLI would. The contract every
target checks: bad input ends in a :class:`pvmkit.errors.PvmkitError` (or a result), never another
exception, never unbounded memory or time. Two drivers share this table:

* ``tests/unit/test_fuzz_targets.py``: a quick, fixed budget in ``./dev test`` (hypothesis, derandomized,
  mutations of the seeds), and every saved crash in ``tests/vectors/fuzz/<target>/`` replayed;
* ``./dev fuzz TARGET [SECONDS]`` (``tools/fuzz.py``): atheris (libFuzzer) for as long as you like,
  seeded with the same inputs; a crash is written to ``.cache/fuzz/crashes/<target>/``.

Seeds are the real fixtures, read in place (never copied into the repository), or inputs built from
spec vectors where no real file exists (IGVM). ``region`` says which part of a seed the quick driver
mutates: the metadata of a 4 MiB firmware image is in its last few KiB, an event log's events in its
first ones. To add a target, see docs/development.md "Fuzzing".
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from support.fixtures import read_fixture

#: certificates of the go-sev-guest fixtures are valid at this time (tests/cli/test_cli_verify.py)
AT = _dt.datetime(2025, 6, 1, tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: Callable[[], list[bytes]]
    #: the part of each seed the mutators change: ``seed[start:stop]`` (negative: from the end)
    region: tuple[int | None, int | None] = (None, None)
    #: hypothesis examples in the quick budget of ./dev test
    examples: int = 60
    #: the test tier whose quick budget runs it: "unit", or "cli" for a target that drives a command
    tier: str = "unit"


def _fixtures(*names: str) -> Callable[[], list[bytes]]:
    return lambda: [read_fixture(n) for n in names]


# ---- firmware ------------------------------------------------------------------------------------


def _ovmf(data: bytes) -> object:
    import pvmkit
    from pvmkit.formats.ovmf import parse_ovmf
    from pvmkit.plan import Vendor
    from pvmkit.vendors.amd.builder import AmdLaunch
    from pvmkit.vendors.amd.cpu import vcpu_signature

    firmware = parse_ovmf(data)
    return pvmkit.measure(AmdLaunch(Vendor.SNP, firmware, vcpus=2, vcpu_sig=vcpu_signature("EPYC-v4")).plan())


def _tdvf(data: bytes) -> object:
    from pvmkit.vendors.tdx.builder import build_tdvf_plan
    from pvmkit.vendors.tdx.measure import measure_mrtd

    return measure_mrtd(build_tdvf_plan(data, vcpus=2))


def _varstore_seed() -> list[bytes]:
    """The variable store (CFV) of the TDX firmware fixture: its first 0x84000 bytes (TDVF section 1)."""
    return [read_fixture("firmware/OVMF.inteltdx.ms.fd")[:0x84000]]


def _varstore(data: bytes) -> object:
    from pvmkit.errors import PvmkitError
    from pvmkit.formats.efi_varstore import parse_signature_lists, parse_varstore

    store = parse_varstore(data)
    for variable in store.variables.values():
        with contextlib.suppress(PvmkitError):
            parse_signature_lists(variable.data)
    return store


def _igvm_seed() -> list[bytes]:
    from support.igvm_vectors import igvm_file

    return [igvm_file()]


def _igvm_with_crc(data: bytes) -> bytes:
    """``data`` with the IGVM variable-header CRC32 recomputed (IGVM spec: CRC32 of the fixed header
    with the checksum field zeroed, then the variable headers), so mutations reach the directives."""
    import zlib

    if len(data) < 24:
        return data
    vh_offset, vh_size = struct.unpack_from("<2I", data, 8)
    if vh_offset + vh_size > len(data):
        return data
    header = bytearray(data[:24])
    header[20:24] = bytes(4)
    crc = zlib.crc32(bytes(header) + data[vh_offset : vh_offset + vh_size])
    return data[:20] + struct.pack("<I", crc) + data[24:]


def _igvm(data: bytes) -> object:
    import pvmkit
    from pvmkit.errors import PvmkitError
    from pvmkit.formats.igvm import parse_igvm
    from pvmkit.loaders.igvm import igvm_plan
    from pvmkit.plan import Vendor

    for raw in (data, _igvm_with_crc(data)):
        try:
            pvmkit.measure(igvm_plan(parse_igvm(raw), Vendor.SNP))
        except PvmkitError:
            continue
    return None


# ---- SNP evidence ---------------------------------------------------------------------------------

_SEV = "go-sev-guest/"


def _snp_report(data: bytes) -> object:
    from pvmkit.attest.snp_report import SnpReport
    from pvmkit.attest.verify import verify_report

    SnpReport.parse(data)
    return verify_report(
        data, read_fixture(_SEV + "vcek.testcer"), read_fixture(_SEV + "trust/ask_ark_milan.pem"), at=AT
    )


def _certificates(data: bytes) -> object:
    from pvmkit.attest import _x509

    certs = _x509.load_certificates(data, "fuzz")
    for cert in certs:
        _x509.common_name(cert)
        _x509.check_ca(cert, "fuzz")
        _x509.check_validity(cert, "fuzz", AT)
    return certs


def _cert_table_seed() -> list[bytes]:
    from pvmkit.attest._x509 import load_certificates
    from pvmkit.attest.cert_table import build_cert_table

    der = {}
    ask, ark = load_certificates(read_fixture(_SEV + "trust/ask_ark_milan.pem"))
    from cryptography.hazmat.primitives.serialization import Encoding

    der["vcek"] = read_fixture(_SEV + "vcek.testcer")
    der["ask"] = ask.public_bytes(Encoding.DER)
    der["ark"] = ark.public_bytes(Encoding.DER)
    return [build_cert_table(der)]


def _cert_table(data: bytes) -> object:
    from pvmkit.attest._x509 import load_certificates
    from pvmkit.attest.cert_table import parse_cert_table

    table = parse_cert_table(data)
    for blob in table.values():
        load_certificates(blob, "fuzz")
    return table


def _snp_policy(data: bytes) -> object:
    """``verify --policy-file``: read_policy takes a path, so the bytes go through a temporary file."""
    import tempfile

    from pvmkit.attest.snp_policy import read_policy

    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(data)
        f.flush()
        return read_policy(f.name)


def _snp_policy_seeds() -> list[bytes]:
    """A policy with every kind of field (the form tests/cli/test_cli_verify_snp_appraisal.py uses)."""
    return [
        b'{"schema": "pvmkit.snp-policy/1", "allow_debug": true, "measurement": ["'
        + b"ab" * 48
        + b'", "'
        + b"00" * 48
        + b'"], "minimum_tcb": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}, '
        b'"minimum_build": 3, "minimum_version": "1.49", "vmpl": 0, "platform_info": "0x1", '
        b'"report_id_ma": "' + b"ff" * 32 + b'", "minimum_launch_tcb": "0x4405000000000002", '
        b'"permit_provisional_firmware": false}'
    ]


# ---- TDX evidence ---------------------------------------------------------------------------------

_TDX = "go-tdx-guest/"


def _tdx_quote(data: bytes) -> object:
    from pvmkit.attest.tdx_verify import verify_quote
    from pvmkit.formats.tdx_quote import Quote

    Quote.parse(data)
    return verify_quote(data, at=AT)


def _tdreport(data: bytes) -> object:
    from pvmkit.formats.tdx_quote import TdReport

    report = TdReport.parse(data)
    return (report.rtmrs, report.tee_info_hash_ok, report.tee_tcb_info_hash_ok)


def _ccel(data: bytes) -> object:
    from pvmkit.formats.ccel import EventLog
    from pvmkit.formats.tdx_quote import Quote
    from pvmkit.vendors.tdx.replay import compare

    log = EventLog.parse(data)
    quote = Quote.parse(read_fixture(_TDX + "ccel/cos-113-tdx-quote.dat"))
    return compare(log, quote.rtmrs, reference=EventLog.parse(read_fixture(_TDX + "ccel/ccel_data.dat")))


def _ccel_table(data: bytes) -> object:
    from pvmkit.formats.ccel import CcelTable

    return CcelTable.parse(data)


def _dcap_case() -> dict[str, Any]:
    """The fixture case of a real TDX quote with dcap-qvl's collateral JSON (tests/support/dcap_cases.py)."""
    from support import dcap_cases

    for case in dcap_cases.load_cases():
        if str(case["collateral"].get("dcap-qvl-json", "")).endswith("sample/tdx_quote_collateral.json"):
            return case
    raise LookupError("no dcap-qvl TDX case in the fixtures")


def _dcap_quote(data: bytes) -> object:
    from pvmkit.attest.dcap_verify import appraise_quote
    from support import dcap_cases

    case = _dcap_case()
    return appraise_quote(data, collateral=dcap_cases.collateral(case), at=dcap_cases.at(case))


def _dcap_quote_seeds() -> list[bytes]:
    from support import dcap_cases

    return [dcap_cases.quote_bytes(_dcap_case()), read_fixture("dcap-qvl/sample/sgx_quote")]


def _dcap_collateral(data: bytes) -> object:
    from pvmkit.attest.dcap_verify import appraise_quote
    from pvmkit.formats.intel_collateral import collateral_from_v3_json
    from support import dcap_cases

    case = _dcap_case()
    collateral = collateral_from_v3_json(data)
    return appraise_quote(dcap_cases.quote_bytes(case), collateral=collateral, at=dcap_cases.at(case))


# ---- Arm CCA ---------------------------------------------------------------------------------------


def _cca_token(data: bytes) -> object:
    from pvmkit.attest.cca_verify import verify_token
    from pvmkit.attest.cose_verify import load_public_key
    from support.cca_tokens import CPAK_PUB

    return verify_token(data, cpak=load_public_key(read_fixture(CPAK_PUB), "CPAK"))


def _cca_token_seeds() -> list[bytes]:
    from support.cca_tokens import G1_TOKEN, G2_TOKEN, G3_TOKEN

    return [read_fixture(n) for n in (G1_TOKEN, G2_TOKEN, G3_TOKEN)]


def _cca_stores(data: bytes) -> object:
    from pvmkit.attest.cca_store import parse_reference_store, parse_trust_anchors
    from pvmkit.errors import PvmkitError

    out: list[Any] = []
    for parse in (parse_trust_anchors, parse_reference_store):
        try:
            out.append(parse(data))
        except PvmkitError:
            continue
    return out


def _keys(data: bytes) -> object:
    """The key loaders: CCA's CPAK (PEM, DER, JWK, COSE_Key) and the SNP ID block's private key."""
    from pvmkit.attest.cose_verify import load_public_key
    from pvmkit.errors import PvmkitError
    from pvmkit.vendors.amd.id_block import load_private_key

    out: list[Any] = []
    for load in (lambda d: load_public_key(d, "fuzz"), load_private_key):
        try:
            out.append(load(data))
        except PvmkitError:
            continue
    return out


def _dtb(data: bytes) -> object:
    """``measure --vendor cca --dtb FILE`` (kvmtool layout): the header check, then the blob measured."""
    from pvmkit.formats.fdt import check_dtb
    from pvmkit.vendors.cca.kvmtool import KvmtoolConfig, kvmtool_layout

    check_dtb(data)
    return kvmtool_layout(KvmtoolConfig(ram_size=512 << 20, vcpus=1), data)


def _dtb_seed() -> list[bytes]:
    """The DTB pvmkit writes for kvmtool (tests/unit/test_cca_vmm.py checks it), cut to its totalsize."""
    from pvmkit.vendors.cca.kvmtool import KvmtoolConfig, kvmtool_dtb

    blob = kvmtool_dtb(KvmtoolConfig(ram_size=512 << 20, vcpus=1), None)
    return [blob[: struct.unpack_from(">I", blob, 4)[0]]]


# ---- reference values (Trustee RVPS messages, CoRIM, pvmkit sets, measure JSON) ----------------------


_CORIMS = (
    "veraison-corim/corim/testcases/signed-good-corim.cbor",
    "veraison-corim/profiles/cca/testcases/cca-realm-valid.cbor",
    "veraison-corim/corim/testcases/corim-1.cbor",
    "veraison-corim/profiles/tdx/testcases/comid_seam_refval.cbor",
)


def _corim(data: bytes) -> object:
    """``verify --expect X.cbor --corim-key KEY``: CoRIMs, signed or not, and CoMIDs, as reference values
    (the key verifies signed-good-corim.cbor; tests/unit/test_refvalues_corim.py)."""
    from pvmkit.refvalues import CorimOptions
    from pvmkit.refvalues.corim import parse_any
    from pvmkit.refvalues.read import read_reference_values

    parse_any(data, "fuzz")
    key = read_fixture("veraison-corim/corim/testcases/src/ec-p256.jwk")
    return read_reference_values(data, "fuzz", CorimOptions(key, AT.replace(year=2024)))


def _reference_value_seeds() -> list[bytes]:
    """Small documents of the formats docs/cli.md lists for --expect (pvmkit's own JSON outputs)."""
    return [
        b'{"schema": "pvmkit.measure-tdx/1", "mrtd": "' + b"cc" * 48 + b'"}',
        b'{"vendor": "snp", "vcpus": 4, "digest": "' + b"ab" * 48 + b'"}\n'
        b'{"vendor": "snp", "vcpus": 8, "digest": "' + b"cd" * 48 + b'"}',
        b'{"schema": "pvmkit.tdx-replay/1", "rtmrs": {"rtmr0": "' + b"00" * 48 + b'"}}',
    ]


def _reference_values(data: bytes) -> object:
    from pvmkit.refvalues.read import read_reference_values

    return read_reference_values(data, "fuzz")


# ---- pvmkit inspect (every structure's detection and text and JSON rendering) -------------------------


def _command(argv: list[str], data: bytes) -> object:
    """Run ``pvmkit ARGV`` with ``{}`` standing for a file holding ``data``; output is discarded. The
    dispatcher turns pvmkit errors into exit codes; anything else propagates (a finding)."""
    import io
    import tempfile

    from pvmkit.cli.main import main

    with tempfile.NamedTemporaryFile() as f, contextlib.redirect_stdout(io.StringIO()):
        f.write(data)
        f.flush()
        with contextlib.redirect_stderr(io.StringIO()):
            return main([a.replace("{}", f.name) for a in argv])


def _ovmf_description(data: bytes) -> object:
    """``measure --vendor snp --ovmf-description FILE`` (a firmware described by inspect --json)."""
    argv = ["measure", "--vendor", "snp", "--vcpu-type", "EPYC-v4", "--ovmf-description", "{}"]
    return _command(argv, data)


def _ovmf_description_seeds() -> list[bytes]:
    """``pvmkit inspect --json`` of the SNP firmware fixture (the form the option reads back)."""
    import io
    import tempfile

    from pvmkit.cli.main import main

    with tempfile.NamedTemporaryFile() as f, contextlib.redirect_stdout(io.StringIO()) as out:
        f.write(read_fixture("firmware/OVMF.amdsev.fd"))
        f.flush()
        main(["inspect", "--json", f.name])
    return [out.getvalue().encode()]


def _inspect(data: bytes) -> object:
    """``pvmkit inspect FILE`` and ``--json --verbose``: detection by size and magic, text and JSON."""
    _command(["inspect", "{}"], data)
    return _command(["inspect", "{}", "--json", "--verbose"], data)


# ---- filesystems (disk images) ---------------------------------------------------------------------


def _walk(tree: Any) -> object:
    """Every path of a pvmkit.formats.fsview tree read (bounded: at most 200 nodes)."""
    todo, seen = ["/"], 0
    while todo and seen < 200:
        path = todo.pop()
        for name in tree.listdir(path):
            seen += 1
            child = f"{path.rstrip('/')}/{name}"
            with contextlib.suppress(_input_error()):
                if tree.is_dir(child):
                    todo.append(child)
                elif tree.exists(child):
                    tree.read(child)
    return seen


def _input_error() -> type[Exception]:
    from pvmkit.errors import InputError

    return InputError


def _fat(data: bytes) -> object:
    from pvmkit.formats.fat import open_fat

    return _walk(open_fat(data))


def _fs_seed_tree(root: Any) -> None:
    for name, data in (
        ("EFI/BOOT/BOOTX64.EFI", b"MZ" * 3000),
        ("EFI/BOOT/grub.cfg", b"configfile /boot/grub/grub.cfg\n"),
        ("EFI/debian/A long file name.efi", b"x" * 5000),
        ("boot/grub/grub.cfg", b"linux /vmlinuz\n"),
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _fat_seeds() -> list[bytes]:
    """A FAT12 and a FAT16 image made by Debian's mkfs.fat and mcopy (tests/support/disktools.py)."""
    import tempfile
    from pathlib import Path

    from support.disktools import fat_image

    with tempfile.TemporaryDirectory() as tmp:
        _fs_seed_tree(Path(tmp) / "tree")
        return [
            fat_image(
                Path(tmp) / f"fat{bits}.img", Path(tmp) / "tree", kib, "-F", str(bits), "-s", "1"
            ).read_bytes()
            for bits, kib in ((12, 256), (16, 2200))
        ]


def _ext4(data: bytes) -> object:
    from pvmkit.formats.ext4 import open_ext4

    return _walk(open_ext4(data))


def _ext4_seeds() -> list[bytes]:
    """An ext4 (extents, 64-bit descriptors) and an ext2 image (block maps) made by ``mke2fs -d``."""
    import tempfile
    from pathlib import Path

    from support.disktools import ext4_image

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        _fs_seed_tree(tree)
        (tree / "boot" / "vmlinuz").symlink_to("grub/grub.cfg")
        return [
            ext4_image(
                Path(tmp) / f"{kind}.img",
                tree,
                256,
                "-t",
                kind,
                "-b",
                "1024",
                "-N",
                "32",
                "-O",
                "^has_journal",
            ).read_bytes()
            for kind in ("ext4", "ext2")
        ]


_GRUB_FILES = {
    "(hd0,gpt1)/boot/grub/grub.cfg": b"set default=0\nmenuentry 'L' {\n\tlinux /vmlinuz ro\n}\n",
    "(hd0,gpt1)/vmlinuz": b"kernel",
    "(hd0,gpt1)/EFI/debian/grub.cfg": b"configfile (hd0,gpt1)/boot/grub/grub.cfg\n",
}


def _grub_cfg(data: bytes) -> object:
    """pvmkit.vendors.tdx.grub.follow_grub_cfg over a small disk (every file test and read answered)."""
    from pvmkit.vendors.tdx.grub import GrubFiles, follow_grub_cfg

    def probe(path: str) -> tuple[str, int] | None:
        if path in _GRUB_FILES:
            return "file", len(_GRUB_FILES[path])
        return ("dir", 0) if any(p.startswith(path.rstrip("/") + "/") for p in _GRUB_FILES) else None

    files = GrubFiles(source=_GRUB_FILES.get, probe=probe)
    env = {"root": "hd0,gpt1", "prefix": "(hd0,gpt1)/EFI/debian"}
    return follow_grub_cfg(data, "(memdisk)/grub.cfg", files=files, env=env, fs_devices={"u": "hd0,gpt1"})


def _grub_cfg_seeds() -> list[bytes]:
    """Debian's memdisk configuration as GRUB's build writes it (the if/elif/else and [ tests pvmkit
    follows), grub-install's three-line ESP configuration, and grub-mkconfig's shapes."""
    return [
        b'if [ -z "$prefix" -o ! -e "$prefix" ]; then\n\tset prefix=($root)/boot/grub\nfi\n'
        b"if [ -e $prefix/x86_64-efi/grub.cfg ]; then\n\tsource $prefix/x86_64-efi/grub.cfg\n"
        b"elif [ -e $prefix/grub.cfg ]; then\n\tsource $prefix/grub.cfg\n"
        b"else\n\tsource $cmdpath/grub.cfg\nfi\n",
        b"search.fs_uuid u root \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n",
        # grub-mkconfig's shapes: functions, command conditions, one-line ifs, a menu with a submenu
        b"function recordfail {\n  set recordfail=1\n"
        b'  if [ -n "${have_grubenv}" ]; then save_env recordfail; fi\n}\n'
        b"if ! search --no-floppy --fs-uuid --set=root u; then set x=1; fi\n"
        b'if loadfont unicode ; then\n  set gfxmode=auto\nfi\nid_opt="--id"\n'
        b'function gfxmode {\n\tset gfxpayload="${1}"\n}\n'
        b"menuentry 'L' --class os $id_opt 'l' {\n\trecordfail\n\tgfxmode keep\n\tlinux /vmlinuz ro\n}\n"
        b"submenu 'A' {\n\tmenuentry 'B' {\n\t\tlinux /vmlinuz\n\t}\n}\nset default=l\n",
    ]


def _smbios_tables(data: bytes) -> object:
    """QEMU's etc/smbios/smbios-tables into the table OVMF measures, and a Processor ID put in."""
    from pvmkit.vendors.tdx.smbios_ovmf import FirmwareStrings, measured_smbios
    from pvmkit.vendors.tdx.smbios_qemu import set_processor_id

    set_processor_id(data, bytes(8), (10, 0), 2)
    return measured_smbios(data, FirmwareStrings("EDK II", "1.0.0", "01/01/2025"))


def _smbios_tables_seeds() -> list[bytes]:
    """QEMU 10.0's tables with the SMBIOS 2.8 and 3.0 entry points (pvmkit's generator, checked
    byte for byte against QEMU itself by test_tdx_smbios_qemu.py)."""
    from pvmkit.vendors.tdx.smbios_qemu import qemu_smbios_blobs

    return [qemu_smbios_blobs((10, 0), n, 8 << 30).tables for n in (2, 256)]


def _smbios_volume(data: bytes) -> object:
    """The SMBIOS facts of a firmware volume: type 0 strings, SmbiosMeasurementDxe's filter table."""
    from pvmkit.vendors.tdx.smbios_ovmf import read_volume

    return read_volume(data)


def _smbios_volume_seeds() -> list[bytes]:
    """The part of the Debian image's decompressed DXE volume with SmbiosPlatformDxe's type 0
    template and strings, and SmbiosMeasurementDxe's PE image and name."""
    import lzma

    firmware = read_fixture("firmware/OVMF.inteltdx.ms.fd")
    guid = bytes.fromhex("98584eee143959429d6edc7bd79403cf")  # the LZMA GUID-defined section
    at = firmware.index(guid)
    start = at - 4 + int.from_bytes(firmware[at + 16 : at + 18], "little")
    volume = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(firmware[start:])
    ui = volume.index("SmbiosMeasurementDxe".encode("utf-16-le"))
    pe = volume.rindex(b"MZ", 0, ui)
    template = volume.index(bytes.fromhex("001a0000010200e803000800"))
    return [volume[pe : ui + 64], volume[template : template + 600]]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ovmf", _ovmf, _fixtures("firmware/OVMF.amdsev.fd"), region=(-4096, None), examples=40),
        Target("tdvf", _tdvf, _fixtures("firmware/OVMF.inteltdx.ms.fd"), region=(-4096, None), examples=40),
        Target("varstore", _varstore, _varstore_seed, region=(0, 0x10000)),
        Target("igvm", _igvm, _igvm_seed, examples=80),
        Target("snp-report", _snp_report, _fixtures(_SEV + "attestation.bin")),
        Target(
            "certificates",
            _certificates,
            _fixtures(_SEV + "vcek.testcer", _SEV + "trust/ask_ark_milan.pem"),
            examples=100,
        ),
        Target("cert-table", _cert_table, _cert_table_seed),
        Target("snp-policy", _snp_policy, _snp_policy_seeds),
        Target(
            "tdx-quote",
            _tdx_quote,
            _fixtures(_TDX + "tdx_prod_quote_SPR_E4.dat", _TDX + "quote_v5_sample.dat"),
            examples=80,
        ),
        Target("dcap-quote", _dcap_quote, _dcap_quote_seeds),
        Target("dcap-collateral", _dcap_collateral, _fixtures("dcap-qvl/sample/tdx_quote_collateral.json")),
        Target("tdreport", _tdreport, _fixtures(_TDX + "report.dat")),
        Target("ccel", _ccel, _fixtures(_TDX + "ccel/ccel_data.dat"), region=(0, 0x4700), examples=40),
        Target("ccel-table", _ccel_table, _fixtures(_TDX + "ccel/ccel_table.dat")),
        Target("cca-token", _cca_token, _cca_token_seeds, examples=80),
        Target(
            "cca-stores",
            _cca_stores,
            _fixtures(
                "trustee/deps/verifier/test_data/cca/conf/tastore.json",
                "trustee/deps/verifier/test_data/cca/conf/rvstore.json",
            ),
        ),
        Target(
            "keys",
            _keys,
            _fixtures(
                "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pub",
                "veraison-ccatoken/realm/testvectors/tf-rmm/cca_platform.pem",
                "trustee/deps/verifier/test_data/cca/misc/cpak-pub.json",
            ),
        ),
        Target("dtb", _dtb, _dtb_seed),
        Target("reference-values", _reference_values, _reference_value_seeds),
        Target("corim", _corim, _fixtures(*_CORIMS), examples=80),
        Target(
            "inspect",
            _inspect,
            _fixtures(
                _TDX + "tdx_prod_quote_SPR_E4.dat",
                _TDX + "report.dat",
                _TDX + "ccel/ccel_table.dat",
                _SEV + "attestation.bin",
                "veraison-ccatoken/realm/testvectors/tf-rmm/cca_token.cbor",
            ),
            examples=80,
            tier="cli",
        ),
        Target("ovmf-description", _ovmf_description, _ovmf_description_seeds, tier="cli"),
        Target("fat", _fat, _fat_seeds, region=(0, 0x4000), examples=60),
        Target("ext4", _ext4, _ext4_seeds, region=(0x400, 0x8000), examples=60),
        Target("grub-cfg", _grub_cfg, _grub_cfg_seeds, examples=100),
        Target("smbios-tables", _smbios_tables, _smbios_tables_seeds, examples=100),
        Target("smbios-volume", _smbios_volume, _smbios_volume_seeds, examples=40),
    )
}
