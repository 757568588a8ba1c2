"""``pvmkit measure --vendor tdx --rtmr`` over shapes (``--vcpus``, ``--memory`` lists, ``--qemu-binary``)
and the digests-only boot inputs, against dstack's real QEMU-launched TD (fixtures tdx-qemu-logs/).

Without ``--qemu-binary`` or captures, ``--vcpus`` takes RTMR0's ACPI blobs from pvmkit's own
generator: checked against the same command with ``--qemu-binary`` (Debian's QEMU 10.0.2, the
oracle) and against a real TD's ACPI digest."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest

from support.cli import run
from support.fixtures import fixture_path, read_fixture
from support.qemu import DSTACK_DEVICES, qemu_binary

TDX_FD = "firmware/OVMF.inteltdx.ms.fd"
LITE = "tdx-qemu-logs/dstack/dstack/verifier/fixtures/tdx-lite-getquote.json"
LOADER_10_2_1 = (
    "d8c90b5d0f756dcd707c190313b44e3129abc6c20118efdd32b78f84fa64a6c51396fa43debc993dec00b85718bf7491"
)


#: an example `-cpu host` Processor ID (CPUID.1 EAX 0x000806F8, EDX 0xBFEBFBFF): SMBIOS for every shape
PID = "f8060800fffbebbf"
#: a direct boot given by its kernel's digest, Secure Boot off (no authority event): without a boot
#: path RTMR0 is unknown (its boot variables, bootorder and authority depend on it)
DIRECT_BOOT = ("--secure-boot", "off", "--kernel-authenticode", "00" * 48)


@pytest.fixture
def fw() -> str:
    return str(fixture_path(TDX_FD))


def test_dstack_rtmr1_rtmr2_from_published_hashes(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    """dstack publishes a TD's kernel Authenticode, cmdline (LoadOptions) and initrd SHA-384 in its
    vm_config; the RTMR1/RTMR2 they give equal the registers of the quote that TD produced."""
    doc = json.loads(read_fixture(LITE))
    config = json.loads(doc["vm_config"])
    import base64

    hashes = cbor2.loads(base64.b64decode(config["tdx_measurement"]["measurement"]))["image"]
    quote = bytes.fromhex(doc["quote"])
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--json",
            "--kernel-authenticode", hashes["kernel_authenticode"].hex(),
            "--load-options-sha384", hashes["cmdline_sha384"].hex(),
            "--initrd-sha384", hashes["initrd_sha384"].hex()]  # fmt: skip
    code, out, _ = run(argv, capsys)
    shape = json.loads(out)["shapes"][0]
    assert code == 0
    assert shape["rtmr1"] == quote[0x1A8:0x1D8].hex()  # quote body RTMR1 (TDX quote v4 layout)
    assert shape["rtmr2"] == quote[0x1D8:0x208].hex()


def test_digest_and_file_are_exclusive(fw: str, tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G",
            "--initrd-sha384", "00" * 48]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 1 and err.count("\n") == 1 and "--initrd needs --kernel" in err
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--kernel-authenticode", "00" * 48]
    code, _, err = run(argv, capsys)
    assert code == 1 and "add --rtmr" in err


def test_shapes_from_qemu(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--vcpus", "1-2", "--memory", "2G,4G",
            "--qemu-binary", qemu_binary(), "--qemu-args", DSTACK_DEVICES, "--json",
            "--smbios-processor-id", PID, *DIRECT_BOOT]  # fmt: skip
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "pvmkit.measure-tdx-rtmr/2" and doc["acpi_source"] == "qemu"
    assert doc["qemu"]["machine"] == "q35,kernel-irqchip=split,hpet=off,smm=off,pic=off"
    assert [(s["vcpus"], s["memory"]) for s in doc["shapes"]] == [
        (1, 2 << 30), (1, 4 << 30), (2, 2 << 30), (2, 4 << 30)
    ]  # fmt: skip
    rtmr0 = [s["rtmr0"] for s in doc["shapes"]]
    assert all(r is not None and len(r) == 96 for r in rtmr0) and len(set(rtmr0)) == 4
    assert all(s["rtmr1"] is not None and s["missing"] == [] for s in doc["shapes"])
    assert "events" not in doc


def test_one_qemu_shape_logs_the_acpi_events(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--vcpus", "1", "--memory", "2G",
            "--qemu-binary", qemu_binary(), "--qemu-args", DSTACK_DEVICES, "--json"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    loader = [e for e in doc["events"] if e["what"] == "ACPI etc/table-loader"]
    assert code == 0 and loader[0]["digest"] == LOADER_10_2_1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--qemu-version", "8.2.2"], "QEMU 8.2.2 is not modelled by this --qemu-binary"),
        (["--acpi-loader", "/dev/null"], "not both"),
        (["--qemu-args", "-device no-such-device"], "QEMU refused the machine"),
        (["--qemu-args", "'unclosed"], "--qemu-args"),
        (["--qemu-args", "-smp 2 -device virtio-rng-pci"], "-smp cpus=2 contradicts --vcpus"),
    ],
)
def test_qemu_refusals(fw: str, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--vcpus", "1", "-m", "2G",
            "--qemu-binary", qemu_binary(), *extra]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err


def test_qemu_binary_needs_vcpus(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "measure",
        "--vendor",
        "tdx",
        "--firmware",
        fw,
        "--rtmr",
        "-m",
        "2G",
        "--qemu-binary",
        "/bin/false",
    ]
    code, _, err = run(argv, capsys)
    assert code == 1 and "--qemu-binary needs --vcpus" in err


def test_bad_vcpus_is_a_usage_error(fw: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "-m", "2G", "--vcpus", "3-1"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "--vcpus" in err


def test_reference_values_read_every_shape(
    fw: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pvmkit.refvalues.read import load_reference_values

    argv = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--vcpus", "1-2", "-m", "2G,3G",
            "--json", "--kernel-authenticode", "22" * 48, "--acpi-loader", "/dev/null"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 1 and "all three" in err  # captures come as a set of three
    argv = argv[:-2]
    code, out, _ = run(argv, capsys)
    record = tmp_path / "rtmr.json"
    record.write_text(out)
    doc = json.loads(out)
    assert code == 0 and [(s["vcpus"], s["memory"]) for s in doc["shapes"]] == [
        (1, 2 << 30), (1, 3 << 30), (2, 2 << 30), (2, 3 << 30)
    ]  # fmt: skip
    rvs = load_reference_values([str(record)])
    assert rvs.distinct("rtmr_1") == [bytes.fromhex(doc["shapes"][0]["rtmr1"])]
    assert "rtmr_0" not in rvs.values  # unknown without ACPI: never exported


# --- the ACPI generator (no --qemu-binary, no captures) ---------------------------------------------


def _generator_base() -> list[str]:
    fw = str(fixture_path(TDX_FD))
    return ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--json", "--smbios-processor-id", PID,
            *DIRECT_BOOT]  # fmt: skip


def test_generator_equals_qemu_binary(capsys: pytest.CaptureFixture[str]) -> None:
    shapes = ["--vcpus", "1-2", "--memory", "2G,16G", "--qemu-version", "10.0", "--qemu-args", DSTACK_DEVICES]
    code, out, _ = run([*_generator_base(), *shapes], capsys)
    ours = json.loads(out)
    code_q, out_q, _ = run([*_generator_base(), *shapes, "--qemu-binary", qemu_binary()], capsys)
    qemu = json.loads(out_q)
    assert code == code_q == 0
    assert ours["acpi_source"] == "generator" and qemu["acpi_source"] == "qemu"
    rtmr0 = [(s["vcpus"], s["memory"], s["rtmr0"]) for s in ours["shapes"]]
    assert rtmr0 == [(s["vcpus"], s["memory"], s["rtmr0"]) for s in qemu["shapes"]]
    assert len({r for _v, _m, r in rtmr0}) == 4 and all(r is not None for _v, _m, r in rtmr0)
    assert ours["qemu"]["machine"] == qemu["qemu"]["machine"]
    assert ours["qemu"]["launch"] == "qemu-args" and ours["qemu"]["args"] == qemu["qemu"]["args"]


def test_generator_topology_equals_qemu_binary(capsys: pytest.CaptureFixture[str]) -> None:
    """-smp topology keys in --qemu-args, the count from --vcpus: QEMU merges the keys into each
    shape's -smp N; 2 sockets x 3 cores, threads computed (2), 12 possible vCPUs."""
    qemu_args = DSTACK_DEVICES + " -smp sockets=2,cores=3,maxcpus=12"
    shapes = ["--vcpus", "5-6", "--memory", "2G", "--qemu-version", "10.0", "--qemu-args", qemu_args]
    code, out, _ = run([*_generator_base(), *shapes], capsys)
    ours = json.loads(out)
    code_q, out_q, _ = run([*_generator_base(), *shapes, "--qemu-binary", qemu_binary()], capsys)
    assert code == code_q == 0
    assert [s["rtmr0"] for s in ours["shapes"]] == [s["rtmr0"] for s in json.loads(out_q)["shapes"]]
    assert (
        ours["qemu"]["smp"] == json.loads(out_q)["qemu"]["smp"] == {"sockets": 2, "cores": 3, "maxcpus": 12}
    )
    assert ours["qemu"]["topologies"] == [
        {"cpus": n, "sockets": 2, "dies": 1, "modules": 1, "cores": 3, "threads": 2, "maxcpus": 12}
        for n in (5, 6)
    ]
    plain = json.loads(run([*_generator_base(), *shapes[:-2], "--qemu-args", DSTACK_DEVICES], capsys)[1])
    assert plain["qemu"]["smp"] == {} and plain["qemu"]["topologies"][0]["maxcpus"] == 5
    assert plain["shapes"][0]["rtmr0"] != ours["shapes"][0]["rtmr0"]


def test_default_launch_is_dstacks_and_matches_a_real_td(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*_generator_base(), "--vcpus", "1", "--memory", "2G"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["acpi_source"] == "generator"
    # the assumed launch and version are named on stderr, not only in the JSON
    assumed = "note: RTMR0 assumes dstack's launch (no --qemu-args) on QEMU 10.2 (no --qemu-version)"
    assert err.count(assumed) == 1
    given = ["--qemu-version", "10.2", "--qemu-args", DSTACK_DEVICES]
    assert (
        "RTMR0 assumes" not in run([*_generator_base(), "--vcpus", "1", "--memory", "2G", *given], capsys)[2]
    )
    described = doc["qemu"]
    assert described["version"] == "10.2" and described["launch"] == "dstack" and described["args"] == []
    assert [d["model"] for d in described["devices"]] == [
        "virtio-blk-pci", "virtio-net-pci", "vhost-vsock-pci", "virtio-9p-pci", "virtio-blk-pci"
    ]  # fmt: skip
    assert described["machine"] == "q35,kernel-irqchip=split,hpet=off,smm=off,pic=off"
    loader = [e for e in doc["events"] if e["what"] == "ACPI etc/table-loader"]
    assert loader[0]["digest"] == LOADER_10_2_1


def test_qemu_10_1_is_modelled_as_10_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Ubuntu 25.10's QEMU 10.1.x: the generator's 10.1 profile (docs/tdx-measure.md "QEMU versions")
    gives the ACPI table-loader digest of dstack's real 10.2.1 TD for its shape."""
    code, out, _ = run(
        [*_generator_base(), "--vcpus", "1", "--memory", "2G", "--qemu-version", "10.1.2"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["acpi_source"] == "generator" and doc["qemu"]["version"] == "10.1.2"
    assert doc["qemu"]["machine"] == "q35,kernel-irqchip=split,hpet=off,smm=off,pic=off"
    loader = [e for e in doc["events"] if e["what"] == "ACPI etc/table-loader"]
    assert loader[0]["digest"] == LOADER_10_2_1


def test_without_vcpus_rtmr0_stays_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*_generator_base(), "--memory", "2G"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["acpi_source"] is None and doc["shapes"][0]["rtmr0"] is None
    assert any("--vcpus" in m["note"] for m in doc["shapes"][0]["missing"] if m["rtmr"] == 0)


@pytest.mark.parametrize(
    ("extra", "exit_code", "message"),
    [
        (["--qemu-version", "7.2"], 1, "QEMU 7.2 has no ACPI profile"),
        (["--qemu-version", "8.2.9"], 1, "QEMU 8.2.9 has no ACPI profile"),
        (["--qemu-args", "-device e1000"], 1, "'e1000' is not modelled"),
        (["--qemu-args=-machine q35"], 1, "-machine q35 is not modelled"),
        (
            ["--qemu-version", "8.2", "--qemu-args=-usb"],
            1,
            "--qemu-args: -usb is not modelled by the ACPI generator",
        ),
        (
            ["--qemu-version", "9.1"],
            1,
            "QEMU 9.1 has no ACPI profile (modelled: 8.2, 9.2, 10.0, 10.1, 10.2, 11.1): QEMU",
        ),
        (["--qemu-args", "'unclosed"], 1, "--qemu-args"),
        (["--vcpus", "4097"], 2, "--vcpus"),
        (["--vcpus", "6", "--qemu-args", "-smp 4 -device virtio-rng-pci"], 1, "contradicts --vcpus 6"),
        (
            ["--vcpus", "4-6", "--qemu-args", "-smp sockets=2,cores=3 -device virtio-rng-pci"],
            1,
            "--vcpus 4: -smp",
        ),
    ],
)
def test_generator_refusals(
    extra: list[str], exit_code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        *_generator_base(),
        "--memory",
        "2G",
        *(["--vcpus", "1"] if "--vcpus" not in extra else []),
        *extra,
    ]
    code, out, err = run(argv, capsys)
    assert code == exit_code and out == "" and err.count("\n") == 1 and message in err


def test_vcpus_comma_list_is_the_union_of_its_items(capsys: pytest.CaptureFixture[str]) -> None:
    """``--vcpus 3,1-2,2`` is the shapes of 1, 2 and 3 vCPUs, each once, equal to the runs for ``1-2``
    and ``3``; ``reference-values --vendor tdx --rtmr`` takes the same list (its --help: comma lists)."""
    base = [*_generator_base(), "--memory", "2G"]
    code, out, _ = run([*base, "--vcpus", "3,1-2,2"], capsys)
    listed = [(s["vcpus"], s["rtmr0"]) for s in json.loads(out)["shapes"]]
    parts = []
    for item in ("1-2", "3"):
        code_i, out_i, _ = run([*base, "--vcpus", item], capsys)
        assert code_i == 0
        parts += [(s["vcpus"], s["rtmr0"]) for s in json.loads(out_i)["shapes"]]
    assert code == 0 and listed == parts and [v for v, _ in listed] == [1, 2, 3]
    rv = ["reference-values", "--vendor", "tdx", "--format", "json", *base[3:]]
    rv.remove("--json")
    code, out, err = run([*rv, "--vcpus", "1,3"], capsys)
    values = json.loads(out)["values"]
    assert code == 0, err
    exported = sorted((o["vcpus"], v["value"]) for v in values["rtmr_0"] for o in v["from"])
    assert exported == [(v, r) for v, r in parts if v in (1, 3)]


BOOT_DISK = (
    "-drive file=/bin/sh,if=none,id=hd0,format=raw,readonly=on -device virtio-blk-pci,drive=hd0,addr=3"
)


def test_direct_boot_bootorder_follows_the_launch(capsys: pytest.CaptureFixture[str]) -> None:
    """A -kernel boot whose launch gives a disk a bootindex: QEMU's bootorder lists linuxboot, then
    the disk; the generator's launch model and --qemu-binary (QEMU 10.0.2's own file) give the same
    RTMR0. Without the bootindex the bootorder is linuxboot's alone, and RTMR0 differs."""
    import hashlib

    base = [*_generator_base(), "--vcpus", "1", "--memory", "2G", "--qemu-version", "10.0"]
    base += ["--kernel-authenticode", "22" * 48, "--secure-boot", "off"]
    indexed = ["--qemu-args", BOOT_DISK + ",bootindex=1"]
    code, out, err = run([*base, *indexed], capsys)
    assert code == 0, err
    ours = json.loads(out)
    code, out, err = run([*base, *indexed, "--qemu-binary", qemu_binary()], capsys)
    assert code == 0, err
    qemu = json.loads(out)
    assert (ours["fw_cfg"], qemu["fw_cfg"], ours["boot_variables"]) == ("launch", "qemu", "generated")

    def bootorder(doc: dict[str, object]) -> str:
        events = doc["events"]
        assert isinstance(events, list)
        [event] = [e for e in events if e["what"] == "fw_cfg bootorder"]
        return str(event["digest"])

    assert bootorder(ours) == bootorder(qemu)
    assert ours["shapes"][0]["rtmr0"] is not None
    assert ours["shapes"][0]["rtmr0"] == qemu["shapes"][0]["rtmr0"]
    code, out, err = run([*base, "--qemu-args", BOOT_DISK], capsys)
    plain = json.loads(out)
    assert code == 0 and plain["shapes"][0]["rtmr0"] not in (None, ours["shapes"][0]["rtmr0"])
    # QEMU's -kernel entry alone (test_tdx_qemu_bootorder.py reads it from QEMU 10.0.2)
    assert bootorder(plain) == hashlib.sha384(b"/rom@genroms/linuxboot_dma.bin\0").hexdigest()


def test_kernel_beside_bootindex_zero_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """QEMU refuses that launch ("The bootindex 0 has already been used"): exit 1, one line."""
    argv = [*_generator_base(), "--vcpus", "1", "--memory", "2G", "--kernel-authenticode", "22" * 48]
    code, out, err = run([*argv, "--qemu-args", BOOT_DISK + ",bootindex=0"], capsys)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1 and "bootindex 0 is taken by -kernel" in err


def test_json_lists_the_launchs_boot_devices(capsys: pytest.CaptureFixture[str]) -> None:
    """dstack's default launch: its two disks and its NIC with QEMU's first default MAC (QEMU's
    own ``info network`` for that command line: test_tdx_qemu_bootorder.py)."""
    code, out, err = run([*_generator_base(), "--vcpus", "1", "--memory", "2G"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    disk = {"model": "virtio-blk-pci", "root_port": None, "bootindex": None, "mac": None, "option_rom": False}
    nic = {"model": "virtio-net-pci", "root_port": None, "bootindex": None, "mac": "52:54:00:12:34:56"}
    assert doc["qemu"]["boot_devices"] == [  # dstack-vmm gives no romfile=: QEMU's default ROM
        {"addr": "01.0", **disk},
        {"addr": "02.0", **nic, "option_rom": True},
        {"addr": "05.0", **disk},
    ]
    assert (doc["fw_cfg"], doc["boot_variables"]) == ("launch", "generated")


def test_without_a_boot_path_rtmr0_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """RTMR0 names the boot path: a -kernel boot adds QEMU's linuxboot entry to ``bootorder`` and
    registers only the image's fixed entries, a disk boot the disks' options, and with Secure Boot
    the image booted adds an authority event. Without a boot path no single RTMR0 is right: null, with
    the reason, rather than a mix of both (acceptance review of issue 13, docs/roadmap.md)."""
    fw = str(fixture_path(TDX_FD))
    base = ["measure", "--vendor", "tdx", "--firmware", fw, "--rtmr", "--json", "--smbios-digest", "11" * 48,
            "--vcpus", "1", "--memory", "2G"]  # fmt: skip
    code, out, err = run(base, capsys)
    doc = json.loads(out)
    shape = doc["shapes"][0]
    assert code == 0 and shape["rtmr0"] is None and doc["boot_variables"] is None
    (why,) = [m for m in shape["missing"] if m["rtmr"] == 0]
    assert why["what"] == "boot variables" and "the boot path decides" in why["note"]
    assert "note: RTMR0 boot variables" in err
    code, out, _ = run([*base, *DIRECT_BOOT], capsys)
    assert code == 0 and json.loads(out)["shapes"][0]["rtmr0"] is not None
