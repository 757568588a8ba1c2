"""``pvmkit launch --vendor sev|sev-es|snp|tdx`` through the dispatcher, on the recording fake kernel
(tests/support/fakekernel.py, installed as the driver tests do), and on the real host, which has no
SEV/TDX.

Expected values (tests/vectors/README.md, "KVM drivers on the recording fake kernel" and the AMD/TDX
sections): the SNP launch digest of the Debian ``OVMF.amdsev.fd`` with 2 EPYC-v4 vCPUs and features
0x1 ``a3c94625…cd02d`` (amd.md §6.2, independent implementation matched against sev-snp-measure
0.0.13); the SNP page chain after the metadata sections ``8e15fd17…b523`` (amd.md §4.2); the SEV launch
digest = the image's sha256 ``3e4fd0b3…2d6f`` (amd.md §2.1) and its LAUNCH_MEASURE HMAC
``fccb2082…a781`` for TIK 00..0f, MNONCE 10..1f, policy 1, API 1.55 build 21 (amd.md §2.2); MRTD of
the Debian ``OVMF.inteltdx.ms.fd`` ``a7a1f751…bd08`` (tdx.md §1.5, matched by Intel td-shim's tool).
The fake computes its digests from the bytes the driver passed; the prediction comes from pvmkit's
measurers: they must agree with each other, with ``pvmkit measure``, and with the vectors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.ovmf import parse_ovmf
from pvmkit.plan import Vendor
from pvmkit.vendors.amd.builder import AmdLaunch
from pvmkit.vendors.amd.cpu import vcpu_signature
from pvmkit.vendors.amd.measure import SnpMeasurer
from support.fakekernel import CONST, FakeKernel, installed
from support.fixtures import fixture_path

AMD_FW = "firmware/OVMF.amdsev.fd"
TDX_FW = "firmware/OVMF.inteltdx.ms.fd"
# amd.md §6.2: snp, Debian OVMF.amdsev.fd, --vcpus 2 --vcpu-type EPYC-v4, guest features 0x1
SNP_2_EPYC_V4 = (
    "a3c946257b3cef8f1e25dd03cb84f9f01313ae9135c32acc7e01f4204aa447aaa196530d5999be0f114462d2546cd02d"
)
# amd.md §2.1 / §2.2
SEV_LD = "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f"
SEV_MEASURE = "fccb20824e3797fd6d4d7d46a62b87384800343e8869e414eef9d2abf6a5a781"
# tdx.md §1.5: MRTD, single-pass (upstream KVM)
MRTD = "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08"


@pytest.fixture
def fake() -> Iterator[FakeKernel]:
    k = FakeKernel()
    with installed(k):
        yield k
    assert k.violations == []  # every number and structure was in the header table
    assert k.open_fds() == {}  # the probe, the driver and the command closed everything


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    out, err = capsys.readouterr()
    assert err == "", err
    doc: dict = json.loads(out)  # type: ignore[type-arg]
    return doc


def _one_line_error(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: "), err
    assert "Traceback" not in err


def _measure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["measure", *argv]) == 0
    out, _err = capsys.readouterr()
    return out.strip()


def _launched_vm(fake: FakeKernel, vm_type: int):  # type: ignore[no-untyped-def]
    """The VM the command launched (the probe creates a TDX VM too, but never initialises it)."""
    vms = [vm for vm in fake.vms if vm.type == vm_type and (vm.sev or vm.tdx_init)]
    assert len(vms) == 1
    return vms[0]


# -- SNP ---------------------------------------------------------------------------------------------
def test_snp_launch_json_prediction_equals_measure_and_the_fake_firmware(
    fake: FakeKernel, capsys: pytest.CaptureFixture[str]
) -> None:
    fw = str(fixture_path(AMD_FW))
    options = ["--vendor", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-v4"]
    assert main(["launch", "--firmware", fw, *options, "--json"]) == 0
    doc = _json(capsys)
    assert doc["schema"] == "pvmkit.launch-hardware/1"
    assert (doc["vendor"], doc["vm_type"], doc["vm_type_name"]) == ("snp", 4, "KVM_X86_SNP_VM")
    assert (doc["init_path"], doc["init_command"], doc["vcpus"]) == ("init2", "KVM_SEV_INIT2", 2)
    assert doc["features"]["vmsa_features"] == "0x0"
    assert (doc["features"]["sev_features"], doc["features"]["sev_feature_names"]) == ("0x1", ["SNP_ACTIVE"])
    assert doc["policy"] == "0x30000" and doc["launch_measure"] is None
    assert doc["state"] == "sealed-and-closed" and "did not run" in doc["note"]
    predicted = doc["measurement"]["predicted"]
    assert doc["measurement"]["kind"] == "snp-launch-digest"
    # the same options through `pvmkit measure`, and the published vector
    assert predicted == _measure(["--ovmf", fw, *options], capsys) == SNP_2_EPYC_V4
    # the fake firmware's PAGE_INFO chain over the pages the driver passed (amd.md §4.2 checkpoint) ...
    vm = _launched_vm(fake, CONST["KVM_X86_SNP_VM"])
    assert vm.state == "finished" and vm.policy == 0x30000
    assert vm.snp_ld.hex().startswith("8e15fd17") and vm.snp_ld.hex().endswith("b523")
    # ... then the VMSAs (which the fake does not model: KVM builds them from the registers)
    launch = AmdLaunch(Vendor.SNP, parse_ovmf(fixture_path(AMD_FW).read_bytes()), vcpus=2,
                       vcpu_sig=vcpu_signature("EPYC-v4"))  # fmt: skip
    chain = SnpMeasurer(vm.snp_ld)
    for op in launch.plan().vcpus:
        chain.add_vcpu(op)
    assert chain.digest.hex() == predicted
    assert [v.id for v in vm.vcpus] == [] and fake.refusals == []  # closed, and nothing refused


def test_snp_text_summary_and_host_data(fake: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(AMD_FW))
    host = "11" * 32
    argv = ["launch", "--vendor", "snp", "--firmware", fw, "--vcpu-type", "EPYC-v4", "--host-data", host]
    assert main([*argv, "--ram-size", "16M"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = dict(line.split(None, 1) for line in out.splitlines() if not line.startswith(("VM ", "init ")))
    assert lines["vendor"] == "snp"
    assert lines["predicted"].split()[0] == _measure(
        ["--vendor", "snp", "--ovmf", fw, "--vcpu-type", "EPYC-v4"], capsys
    )
    assert "did not run" in lines["state"] and "KVM_X86_SNP_VM (4)" in out
    vm = _launched_vm(fake, CONST["KVM_X86_SNP_VM"])
    assert vm.finish["host_data"] == bytes.fromhex(host)
    # --ram-size: one guest_memfd region at GPA 0 that the metadata sections land in
    assert (vm.slots[0].gpa, vm.slots[0].size) == (0, 16 << 20) and vm.slots[0].gmem is not None


# -- SEV / SEV-ES ------------------------------------------------------------------------------------
def test_sev_launch_measure_checked_with_the_tik(
    fake: FakeKernel, capsys: pytest.CaptureFixture[str]
) -> None:
    fw = str(fixture_path(AMD_FW))
    assert main(["launch", "--vendor", "sev", "--firmware", fw, "--tik", fake.tik.hex(), "--json"]) == 0
    doc = _json(capsys)
    assert (doc["vm_type_name"], doc["init_command"], doc["policy"]) == (
        "KVM_X86_DEFAULT_VM",
        "KVM_SEV_INIT",
        "0x1",
    )
    assert doc["measurement"] == {"kind": "sev-launch-digest", "predicted": SEV_LD}
    assert (
        _launched_vm(fake, CONST["KVM_X86_DEFAULT_VM"]).ld.hexdigest() == SEV_LD
    )  # what the fake firmware hashed
    assert _measure(["--vendor", "sev", "--ovmf", fw], capsys) == SEV_LD
    blob = doc["launch_measure"]
    assert (blob["measure"], blob["mnonce"]) == (SEV_MEASURE, fake.mnonce.hex())
    assert blob["blob"] == SEV_MEASURE + fake.mnonce.hex()
    assert (blob["api_major"], blob["api_minor"], blob["build"]) == fake.api  # SEV_PLATFORM_STATUS
    assert blob["tik_checked"] is True and blob["match"] is True
    assert [c.sub for c in fake.named("SEV_PLATFORM_STATUS")] == ["SEV_PLATFORM_STATUS"]


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_sev_wrong_tik_exits_3(
    json_flag: list[str], fake: FakeKernel, capsys: pytest.CaptureFixture[str]
) -> None:
    fw = str(fixture_path(AMD_FW))
    assert main(["launch", "--vendor", "sev", "--firmware", fw, "--tik", "ff" * 16, *json_flag]) == 3
    out, err = capsys.readouterr()
    _one_line_error(err)
    assert "LAUNCH_MEASURE does not match" in err
    if json_flag:
        assert json.loads(out)["launch_measure"]["match"] is False  # the document comes first
    else:
        assert "MISMATCH" in out


def test_sev_es_reports_the_blob_without_a_tik(fake: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(AMD_FW))
    options = ["--vendor", "sev-es", "--vcpus", "2", "--vcpu-type", "EPYC-v4"]
    assert main(["launch", "--firmware", fw, *options, "--json"]) == 0
    doc = _json(capsys)
    assert (doc["init_command"], doc["policy"], doc["features"]["sev_features"]) == (
        "KVM_SEV_ES_INIT",
        "0x5",
        "0x0",
    )
    assert doc["launch_measure"]["tik_checked"] is False and doc["launch_measure"]["match"] is None
    assert len(bytes.fromhex(doc["launch_measure"]["blob"])) == 48
    assert doc["measurement"]["predicted"] == _measure(["--ovmf", fw, *options], capsys)
    assert len(fake.named("KVM_SEV_LAUNCH_UPDATE_VMSA")) == 1


# -- TDX ---------------------------------------------------------------------------------------------
def test_tdx_launch_mrtd_equals_measure_and_the_fake_module(
    fake: FakeKernel, capsys: pytest.CaptureFixture[str]
) -> None:
    fw = str(fixture_path(TDX_FW))
    assert main(["launch", "--vendor", "tdx", "--firmware", fw, "--vcpus", "2", "--json"]) == 0
    doc = _json(capsys)
    assert (doc["vendor"], doc["vm_type"], doc["init_command"], doc["vcpus"]) == (
        "tdx",
        5,
        "KVM_TDX_INIT_VM",
        2,
    )
    assert (doc["features"]["td_attributes"], doc["features"]["xfam"]) == ("0x10000000", "0x3")
    assert doc["measurement"] == {"kind": "mrtd", "predicted": MRTD}
    assert _measure(["--vendor", "tdx", "--firmware", fw], capsys) == MRTD
    vm = _launched_vm(fake, CONST["KVM_X86_TDX_VM"])
    assert vm.tdx_finalized and vm.tdx_init is not None and vm.tdx_init["mrtd"].hex() == MRTD
    init_vm = next(c for c in fake.named("KVM_TDX_INIT_VM") if c.rc == 0).decoded()
    assert (init_vm["attributes"], init_vm["xfam"]) == (1 << 28, 0x3)  # what INIT_VM was given
    assert len(fake.named("KVM_TDX_INIT_VCPU")) == 2


def test_tdx_refuses_amd_options(fake: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(TDX_FW))
    assert main(["launch", "--vendor", "tdx", "--firmware", fw, "--vcpu-type", "EPYC-v4"]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith("pvmkit launch: usage error: --vcpu-type is for sev") and err.count("\n") == 1


# -- host checks, usage and input errors ---------------------------------------------------------------
@pytest.mark.kvm
def test_the_real_host_without_snp_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from pvmkit.kvm.probe import probe

    if probe().vendors["snp"].available:
        pytest.skip("this host runs SNP guests")
    fw = str(fixture_path(AMD_FW))
    argv = ["launch", "--vendor", "snp", "--firmware", fw, "--vcpus", "2", "--vcpu-type", "EPYC-v4", "--json"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    _one_line_error(err)
    assert "launch --vendor snp: this host cannot run snp guests" in err and "KVM_CAP_VM_TYPES" in err


@pytest.mark.parametrize(
    ("host", "vendor", "reason"),
    [
        ({"vm_types": 0b101101}, "snp", "lacks KVM_X86_SNP_VM (bit 4)"),
        ({"has_sev_device": False}, "sev", "/dev/sev absent"),
        ({"vm_types": 0b011101}, "tdx", "lacks KVM_X86_TDX_VM (bit 5)"),
    ],
)
def test_a_host_without_the_vendor_is_the_probes_capability_error(
    host: dict[str, object], vendor: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    k = FakeKernel(**host)  # type: ignore[arg-type]
    fw = str(fixture_path(TDX_FW if vendor == "tdx" else AMD_FW))
    with installed(k):
        extra = ["--vcpu-type", "EPYC-v4"] if vendor == "snp" else []  # SNP's VMSAs need a vCPU type
        assert main(["launch", "--vendor", vendor, "--firmware", fw, *extra]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)
    assert f"launch --vendor {vendor}: this host cannot run {vendor} guests" in err and reason in err
    assert not any(c.label == "KVM_CREATE_VM" and c.arg != 5 for c in k.calls)  # nothing launched
    assert k.open_fds() == {} and k.violations == []


@pytest.mark.parametrize(
    "extra",
    [
        ["--timeout", "3"],  # sw only: a hardware launch stops after FINALIZE
        ["--binary", "guest.bin"],
        ["--tik", "00" * 16],  # snp has no LAUNCH_MEASURE
        ["--vcpus", "1-4"],
        ["--ovmf-hash", "00" * 48],
        ["--xfam", "0x3"],
        ["--bogus"],
        ["--tik", "00"],
        ["--host-data", "00" * 31],
        ["--memory", "lots"],
        ["--ram-size", "999999T"],
        ["--policy", "0x1"],  # bit 17 clear: no SNP guest policy (the SNP ABI's GUEST_POLICY)
        ["--policy", "0x4030000"],  # bit 26: undefined
    ],
)
def test_usage_errors_exit_2(extra: list[str], fake: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    fw = str(fixture_path(AMD_FW))
    assert main(["launch", "--vendor", "snp", "--firmware", fw, "--vcpu-type", "EPYC-v4", *extra]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith("pvmkit launch: usage error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("vendor", "bad"),
    [
        ("snp", ["--vcpu-type", "Nope"]),
        ("sev-es", ["--vcpus", "abc"]),
        ("snp", ["--vcpu-type", "EPYC-v4", "--policy", "0x1"]),
        ("tdx", ["--xfam", "zz"]),
    ],
)
def test_option_values_are_checked_before_the_host(
    vendor: str, bad: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """On a host without the vendor (the fake's, and this project's CI host), a bad option value is
    still a usage error (exit 2), not the host's capability error (exit 1)."""
    k = FakeKernel(vm_types=0b1, has_sev_device=False)
    fw = str(fixture_path(TDX_FW if vendor == "tdx" else AMD_FW))
    with installed(k):
        assert main(["launch", "--vendor", vendor, "--firmware", fw, *bad]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith("pvmkit launch: usage error: ") and err.count("\n") == 1, err
    assert k.open_fds() == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["--vendor", "snp", "--vcpu-type", "EPYC-v4", "--vmsa-features", "0x200"],  # the host lacks it
        ["--vendor", "sev-es", "--vcpu-type", "EPYC-v4", "--policy", "0x1"],  # no ES bit
        ["--vendor", "snp", "--vcpu-type", "EPYC-v4", "--memory", "4G"],  # overlaps the firmware
    ],
)
def test_bad_inputs_exit_1_with_one_line(
    argv: list[str], fake: FakeKernel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", "--firmware", str(fixture_path(AMD_FW)), *argv]) == 1
    _out, err = capsys.readouterr()
    _one_line_error(err)


def test_help_and_abbreviated_vendor(fake: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--vendor", "tdx", "--help"]) == 0
    out, _err = capsys.readouterr()
    assert "--tik" in out and "--td-attributes" in out and "--report-out" not in out
    fw = str(fixture_path(TDX_FW))
    assert main(["launch", "--vend", "tdx", "--firmware", fw, "--json"]) == 0  # argparse's abbreviation
    assert _json(capsys)["measurement"]["predicted"] == MRTD
