"""The software-protected VM on the real /dev/kvm (default VM type): measurement prediction against
the guest's own verified report, sealing after FINALIZE, INIT feature rules, budgets, and 200
launches without leaking fds or memory."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pvmkit.attest.snp_report import SnpReport
from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.attest.verify import Expected, verify_report
from pvmkit.errors import (
    AlreadyFinalizedError,
    FeatureError,
    LaunchStateError,
    ProtectedStateError,
    SevFirmwareError,
)
from pvmkit.features import SevFeature
from pvmkit.guest import parse_guest_output, report_data_for
from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, Init, LaunchPlan, PageKind, Vendor
from pvmkit.uapi import kvm as u
from pvmkit.vendors.amd.id_block import build_id_block, sign_id_block
from pvmkit.vendors.amd.measure import measure_plan
from pvmkit.vendors.sw import protocol
from pvmkit.vendors.sw.builder import bundled_guest_plan, flat_binary_plan
from pvmkit.vendors.sw.machine import SwMachine, launch_plan
from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES
from pvmkit.vendors.sw.service import SoftwareReportService

pytestmark = pytest.mark.kvm


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SoftwareAttestationKeys:
    return SoftwareAttestationKeys.create(str(tmp_path_factory.mktemp("keys") / "k"), rsa_bits=2048)


@pytest.fixture
def sealed() -> Iterator[tuple[SwMachine, object]]:
    guest = bundled_guest_plan(nonce=bytes(32))
    machine = SwMachine()
    Launcher(machine).run(guest.plan)
    yield machine, guest
    machine.close()


def test_predicted_measurement_is_the_one_in_the_guests_verified_report(
    keys: SoftwareAttestationKeys,
) -> None:
    nonce, host_data = os.urandom(32), os.urandom(32)
    guest = bundled_guest_plan(nonce=nonce, host_data=host_data, vmsa_features=0x20)
    predicted = measure_plan(guest.plan)
    run = launch_plan(guest.plan, service=SoftwareReportService(keys), timeout=60)  # loaded hosts
    assert run.result.reason == "halt", run.result
    assert run.measurement == predicted
    assert run.report is not None and len(run.result.reports) == 1
    verdict = verify_report(
        run.report,
        keys.vcek_pem,
        keys.chain_pem,
        trusted_ark_sha256=keys.ark_sha256,
        expected=Expected(
            measurement=predicted,
            report_data=report_data_for(nonce),
            host_data=host_data,
            policy=0x30000,
            vmpl=0,
        ),
    )
    assert verdict.report.measurement == predicted
    assert parse_guest_output(run.result.serial) == predicted  # what the guest itself read
    assert run.record.vmsa_features == 0x21


def test_after_finalize_register_access_is_refused_with_einval(sealed: tuple[SwMachine, object]) -> None:
    machine, _guest = sealed
    assert machine.sealed
    calls = [
        ("KVM_GET_REGS", lambda: machine.get_regs()),
        ("KVM_GET_SREGS", lambda: machine.get_sregs()),
        ("KVM_SET_REGS", lambda: machine.set_regs(u.kvm_regs())),
        ("KVM_SET_SREGS", lambda: machine.set_sregs(u.kvm_sregs())),
    ]
    for op, call in calls:
        with pytest.raises(ProtectedStateError) as info:
            call()
        assert info.value.errno == errno.EINVAL and info.value.op == op


def test_after_finalize_host_access_to_private_memory_is_refused(sealed: tuple[SwMachine, object]) -> None:
    machine, guest = sealed
    for gpa in (guest.load_address, guest.load_address + 0xFFF, guest.stack_gpa):  # type: ignore[attr-defined]
        with pytest.raises(ProtectedStateError) as info:
            machine.write_memory(gpa, b"\x90")
        assert info.value.errno == errno.EINVAL
        with pytest.raises(ProtectedStateError):
            machine.read_memory(gpa, 1)
    # a write that merely straddles into private memory is refused as a whole
    shared = guest.shared_gpa  # type: ignore[attr-defined]
    with pytest.raises(ProtectedStateError):
        machine.write_memory(shared - 1, b"\0\0")
    # the shared page stays host-accessible: that is where requests and nonces go
    machine.write_memory(shared + 0x100, b"hello")
    assert machine.read_memory(shared + 0x100, 5) == b"hello"


def test_measured_pages_are_fixed_from_add_and_registers_from_add_vcpu() -> None:
    guest = bundled_guest_plan()
    with SwMachine() as machine:
        launcher = Launcher(machine)
        for op in guest.plan.ops[:-1]:
            launcher.apply(op)
        assert not machine.sealed
        with pytest.raises(ProtectedStateError):
            machine.write_memory(guest.load_address, b"\xcc")
        assert machine.read_memory(guest.load_address, 1) == guest.plan.memory[1].page(0)[:1]
        regs = machine.get_regs()  # reads are fine before FINALIZE
        assert regs.rip == guest.entry and regs.rsi == guest.shared_gpa
        sregs = machine.get_sregs()
        assert sregs.cs.db == 1 and sregs.cr0 & 1
        with pytest.raises(ProtectedStateError):
            machine.set_regs(regs)
        launcher.apply(guest.plan.ops[-1])
        with pytest.raises(AlreadyFinalizedError):
            launcher.add_memory(AddMemory(0x40000, 0x1000, PageKind.NORMAL))


@pytest.mark.parametrize("bit", [int(f) for f in SevFeature if not int(f) & SW_SUPPORTED_VMSA_FEATURES])
def test_features_outside_the_supported_set_are_refused_at_init(bit: int) -> None:
    with SwMachine() as machine, pytest.raises(FeatureError):
        Launcher(machine).init(Init(Vendor.SW, vmsa_features=bit, policy=0x30000))
    assert machine.measurement == bytes(48)


def test_a_configured_feature_set_is_honoured() -> None:
    vtom = int(SevFeature.VTOM)
    guest = bundled_guest_plan(vmsa_features=vtom)
    with SwMachine() as machine, pytest.raises(FeatureError):
        Launcher(machine).run(guest.plan)
    run = launch_plan(guest.plan, supported_features=SW_SUPPORTED_VMSA_FEATURES | vtom)
    assert run.measurement == measure_plan(guest.plan) and run.record.vmsa_features == 0x3


def test_run_before_finalize_and_without_a_service() -> None:
    with SwMachine() as machine, pytest.raises(LaunchStateError):
        machine.run()
    run = launch_plan(bundled_guest_plan().plan)  # no attestation service: status UNSUPPORTED
    assert run.result.halted and run.report is None
    assert b"attestation failed: status=15000000" in run.result.serial


def test_an_endless_guest_is_stopped_by_the_time_budget() -> None:
    t = time.monotonic()
    run = launch_plan(flat_binary_plan(b"\xeb\xfe").plan, timeout=0.3)  # jmp .
    assert run.result.reason == "timeout"
    assert time.monotonic() - t < 30  # generous on a loaded host; a missed budget would run forever


def test_a_triple_fault_is_a_shutdown() -> None:
    run = launch_plan(flat_binary_plan(b"\x0f\x0b").plan)  # ud2 with no IDT
    assert run.result.reason == "shutdown"


def test_real16_guest_serial_output() -> None:
    code = bytes.fromhex("baf803b041eef4")  # mov dx,0x3f8; mov al,'A'; out dx,al; hlt
    lines: list[bytes] = []
    run = launch_plan(flat_binary_plan(code, load_address=0x1000, mode="real16").plan, serial=lines.append)
    assert run.result.halted and run.result.serial == b"A" and lines == [b"A"]


def test_malformed_and_misdirected_requests(keys: SoftwareAttestationKeys) -> None:
    # mov ebx,esi; mov dword [ebx+0x40],1; mov eax,ebx; mov dx,0xa77; out dx,eax;
    # mov eax,0x8000 (the private stack page); out dx,eax; hlt
    code = bytes.fromhex("89f3c743400100000089d866ba770aefb800800000eff4")
    guest = flat_binary_plan(code)
    with SwMachine(service=SoftwareReportService(keys)) as machine:
        Launcher(machine).run(guest.plan)
        result = machine.run()
        assert result.halted and result.requests == 2 and result.refused_requests == 1
        page = machine.read_memory(guest.shared_gpa, 4096)
        assert protocol.parse_response(page) == (protocol.STATUS_INVALID_PARAM, b"")
        assert result.reports == []


def test_id_block_is_checked_and_reported(keys: SoftwareAttestationKeys) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    base = bundled_guest_plan(nonce=bytes(32))
    ld = measure_plan(base.plan)
    id_key, author_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    block = build_id_block(ld, policy=0x30000, family_id=b"F" * 16, image_id=b"I" * 16, guest_svn=7)
    signed = sign_id_block(block, id_key, author_key)
    guest = bundled_guest_plan(nonce=bytes(32))
    plan = guest.plan
    fin = plan.ops[-1]
    good = LaunchPlan.of(
        [*plan.ops[:-1], replace(fin, id_block=signed.id_block, id_auth=signed.id_auth, auth_key_en=True)]
    )
    run = launch_plan(good, service=SoftwareReportService(keys))
    assert run.report is not None
    report = SnpReport.parse(run.report)
    assert report.id_key_digest == signed.id_key_digest
    assert report.author_key_digest == signed.author_key_digest and report.author_key_en
    assert (report.family_id, report.image_id, report.guest_svn) == (b"F" * 16, b"I" * 16, 7)

    wrong_ld = sign_id_block(build_id_block(bytes(48), policy=0x30000), id_key)
    bad = LaunchPlan.of([*plan.ops[:-1], replace(fin, id_block=wrong_ld.id_block, id_auth=wrong_ld.id_auth)])
    with SwMachine() as machine, pytest.raises(SevFirmwareError) as info:
        Launcher(machine).run(bad)
    assert info.value.fw_name == "SEV_RET_BAD_MEASUREMENT"
    forged = bytearray(signed.id_auth)
    forged[0x40] ^= 1
    bad = LaunchPlan.of([*plan.ops[:-1], replace(fin, id_block=signed.id_block, id_auth=bytes(forged))])
    with SwMachine() as machine, pytest.raises(SevFirmwareError) as info:
        Launcher(machine).run(bad)
    assert info.value.fw_name == "SEV_RET_BAD_SIGNATURE"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_200_demo_launches_leave_fds_and_rss_flat(keys: SoftwareAttestationKeys) -> None:
    """``pvmkit demo`` end to end (probe, plan, predict, launch, in-guest attestation, verify), 200
    times in one process: no fd and no memory may accumulate."""
    from pvmkit.cli.main import main

    def one() -> None:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["demo", "--key", keys.directory, "--json"]) == 0
        doc = json.loads(buf.getvalue())
        assert doc["ok"] and doc["measurement"]["match"]

    for _ in range(20):  # warm-up: imports, caches, allocator arenas
        one()
    fds, rss = _fds(), _rss_kib()
    t = time.perf_counter()
    for _ in range(200):
        one()
    elapsed = time.perf_counter() - t
    assert _fds() == fds
    grown = _rss_kib() - rss
    assert grown < 4096, f"RSS grew by {grown} KiB over 200 demo launches"
    assert elapsed < 120, f"200 demo launches took {elapsed:.1f} s"  # a hang guard on a loaded host


def test_ops_without_init_are_refused_by_the_machine_itself() -> None:
    from pvmkit.errors import NotYetInitializedError
    from pvmkit.plan import AddVcpu, Finalize

    guest = bundled_guest_plan()
    with SwMachine() as machine:
        with pytest.raises(LaunchStateError):
            machine.add_memory(guest.plan.memory[0])
        with pytest.raises(NotYetInitializedError):
            machine.add_vcpu(AddVcpu(0, guest.plan.vcpus[0].state))
        with pytest.raises(NotYetInitializedError):
            machine.finalize(Finalize())
