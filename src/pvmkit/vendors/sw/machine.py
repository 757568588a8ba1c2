"""The software-protected VM: a :class:`pvmkit.launch.Backend` that runs a ``Vendor.SW`` plan for real
on /dev/kvm's default VM type, measures it exactly as SNP would, seals it and attests it in software
(docs/sw-vm.md).

Lifecycle, driven by :class:`pvmkit.launch.Launcher` (which enforces order and page rules)::

    with SwMachine(service=..., serial=sys.stdout.buffer.write) as machine:
        measurement = Launcher(machine).run(plan)   # INIT → ADD × N → FINALIZE; the SNP launch digest
        result = machine.run(timeout=2.0)           # serial output, attestation requests, HLT

* INIT (:func:`pvmkit.vendors.sw.rules.check_init`): vendor sw, INIT2 only, VMSA features within the
  machine's supported set (default :data:`~pvmkit.vendors.sw.rules.SW_SUPPORTED_VMSA_FEATURES`),
  SNP policy rules; creates the KVM VM (type 0). Anything else → :class:`~pvmkit.errors.FeatureError`.
* ADD memory: one memory slot per op; contents copied in; measured with
  :class:`~pvmkit.vendors.amd.measure.SnpMeasurer` (same page kinds and GPAs as ``pvmkit measure``).
  Every page except ``UNMEASURED`` ones is *private*: from ADD on the host API refuses to write it, and
  after FINALIZE to read it. ``UNMEASURED`` pages are the *shared* pages (host-writable at any time).
* ADD vCPU: the VMSA is measured and loaded into a new KVM vCPU
  (:func:`~pvmkit.vendors.sw.cpu_state.cpu_state_from_vmsa`); its SEV_FEATURES must equal INIT's.
* FINALIZE: checks an ID block like SNP_LAUNCH_FINISH (LD, policy, signatures), records HOST_DATA
  and key digests, seals the VM: register access through this API raises
  :class:`~pvmkit.errors.ProtectedStateError` (errno EINVAL, as KVM answers for a protected VM).
* :meth:`SwMachine.run`: serial port 0x3F8 → ``serial`` callback; attestation port 0xA77 →
  a signed report in the shared page (:mod:`pvmkit.vendors.sw.protocol`); HLT ends the run; a time
  budget and an exit budget bound it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pvmkit.errors import (
    FeatureError,
    InputError,
    KvmError,
    LaunchStateError,
    LayoutError,
    NotYetInitializedError,
    ProtectedStateError,
    SevFirmwareError,
)
from pvmkit.kvm import (
    FailEntryExit,
    HltExit,
    InternalErrorExit,
    IntrExit,
    IoExit,
    Kvm,
    MmioExit,
    ShutdownExit,
    Vcpu,
)
from pvmkit.launch import Launcher
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, InitPath, LaunchPlan, PageKind
from pvmkit.uapi import kvm as _uapi
from pvmkit.vendors.amd.measure import SnpMeasurer
from pvmkit.vendors.driver import VmOwner, load_cpu_state
from pvmkit.vendors.sw import protocol
from pvmkit.vendors.sw.cpu_state import cpu_state_from_vmsa
from pvmkit.vendors.sw.launch_record import LaunchRecord, ReportService, launch_record
from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES, check_init

__all__ = ["RunResult", "SwMachine", "SwRun", "launch_plan"]

#: Where the machine puts KVM's real-mode TSS (3 pages, as QEMU does) unless the plan uses it.
_TSS_ADDR = 0xFFFBD000
_TSS_SIZE = 3 * PAGE_SIZE
#: Serial line status register (COM1 + 5): THR empty | transmitter empty, so polling guests go on.
_SERIAL_LSR = protocol.SERIAL_PORT + 5
_LSR_READY = 0x60
#: The signal used to kick a vCPU out of KVM_RUN when the time budget runs out.
_KICK_SIGNAL = signal.SIGUSR2
# SEV_RET_* codes SNP_LAUNCH_FINISH reports for a bad ID block
_SEV_RET_POLICY_FAILURE = 0x07
_SEV_RET_BAD_SIGNATURE = 0x0A
_SEV_RET_BAD_MEASUREMENT = 0x0B
_EIO = 5


@dataclass
class RunResult:
    """How a :meth:`SwMachine.run` ended. ``reason``: ``"halt"`` (HLT: the guest finished),
    ``"shutdown"`` (triple fault), ``"timeout"`` (time budget), ``"exit-budget"`` (exit budget)."""

    reason: str
    serial: bytes
    reports: list[bytes] = field(default_factory=list)  #: signed reports handed to the guest
    requests: int = 0  #: attestation requests seen (answered or not)
    refused_requests: int = 0  #: requests whose GPA was not a shared page (left unanswered)
    exits: int = 0
    seconds: float = 0.0
    first_exit_seconds: float | None = None  #: from run() to the first VM exit

    @property
    def halted(self) -> bool:
        return self.reason == "halt"


def _kick_handler(signum: int, frame: Any) -> None:  # pragma: no cover - runs inside a signal
    pass


class SwMachine(VmOwner):
    """The software-protected VM backend (module docstring). Use as a context manager, or ``close()``."""

    _what = "the sw machine"

    def __init__(
        self,
        kvm: Kvm | None = None,
        *,
        supported_features: int = SW_SUPPORTED_VMSA_FEATURES,
        service: ReportService | None = None,
        serial: Callable[[bytes], object] | None = None,
    ) -> None:
        super().__init__(kvm)
        self.supported_features = supported_features
        self.service = service
        self.serial = serial
        self._measurer = SnpMeasurer()
        self._init: Init | None = None
        self._slot = 0
        self._private: list[tuple[int, int]] = []  # (gpa, end)
        self._shared: set[int] = set()  # GPAs of shared (UNMEASURED) pages
        self._tss: int | None = None
        self.sealed = False
        self.record: LaunchRecord | None = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def measurement(self) -> bytes:
        """The launch digest so far (the final MEASUREMENT once finalized)."""
        return self._measurer.digest

    def _vcpu(self, index: int) -> Vcpu:
        if not 0 <= index < len(self._vcpus):
            raise InputError(f"no vCPU {index} (the machine has {len(self._vcpus)})")
        return self._vcpus[index]

    # -- Backend -----------------------------------------------------------------------------------
    def init(self, op: Init) -> None:
        if op.init_path is not InitPath.INIT2:  # Init.validate refuses it first; kept as a guard
            raise FeatureError("a sw VM is SNP-like: INIT2 only, there is no legacy init path")
        check_init(op, self.supported_features)
        if self._vm is not None:
            raise LaunchStateError("this sw machine was already initialized")
        self._vm = self._open_kvm().create_vm(_uapi.KVM_X86_DEFAULT_VM)
        self._measurer.init(op)
        self._init = op

    def add_memory(self, op: AddMemory) -> None:
        if op.page_digests is not None:
            raise LayoutError(
                f"{op.label or 'memory'} at {op.gpa:#x}: a sw VM loads pages, it needs their contents "
                "(this plan gives only page digests)"
            )
        if self._tss is not None and op.gpa < self._tss + _TSS_SIZE and op.end > self._tss:
            raise LayoutError(f"{op.label or 'memory'} at {op.gpa:#x} overlaps the sw VM's TSS area")
        vm = self.vm
        mem = vm.add_memory(self._slot, op.gpa, op.size)
        self._slot += 1
        if op.data is not None:
            mem.write(op.gpa, op.data)
        self._measurer.add_memory(op)
        if op.kind is PageKind.UNMEASURED:
            self._shared.update(range(op.gpa, op.end, PAGE_SIZE))
        else:
            self._private.append((op.gpa, op.end))

    def _initialized(self, what: str) -> Init:
        if self._init is None:
            raise NotYetInitializedError(f"{what} before INIT (drive the machine with a Launcher)")
        return self._init

    def add_vcpu(self, op: AddVcpu) -> None:
        init = self._initialized("ADD vCPU")
        state = cpu_state_from_vmsa(op.state)
        if state.sev_features != init.sev_features:
            raise FeatureError(
                f"vCPU {op.index}: VMSA SEV_FEATURES {state.sev_features:#x} differs from INIT's "
                f"{init.sev_features:#x} (KVM writes INIT's features into every VMSA)"
            )
        if self._tss is None:
            self._tss = self._place_tss()
        vcpu = self.vm.create_vcpu(op.index)
        self._vcpus.append(vcpu)
        load_cpu_state(vcpu, state)
        self._measurer.add_vcpu(op)

    def _place_tss(self) -> int:
        """KVM_SET_TSS_ADDR before the first vCPU (Intel without unrestricted guest needs it for real
        mode): 0xFFFBD000 as QEMU does, or the highest free 3-page gap below 4 GiB."""
        used = sorted((*self._private, *((g, g + PAGE_SIZE) for g in self._shared)))
        candidate = _TSS_ADDR
        for start, end in reversed(used):
            if candidate < end and start < candidate + _TSS_SIZE:
                candidate = start - _TSS_SIZE
        if candidate < 0:
            raise LayoutError("no room below 4 GiB for KVM's 3-page real-mode TSS")
        with contextlib.suppress(KvmError):
            self.vm.set_tss_addr(candidate)
        return candidate

    def finalize(self, op: Finalize) -> bytes:
        init = self._initialized("FINALIZE")
        _test_pause("setup")  # the VM, its memory and vCPUs exist; nothing is sealed yet
        measurement = self._measurer.finalize(op)
        if op.id_block is not None and op.id_auth is not None:
            _check_id_block(op, init, measurement)
        self.record = launch_record(init, op, measurement, os.urandom(32))
        self.sealed = True
        return measurement

    # -- host access (what a VMM may still do) -----------------------------------------------------
    def _refuse_registers(self, op: str, write: bool) -> None:
        if self.sealed:
            raise ProtectedStateError(op)
        if write:
            raise ProtectedStateError(op, "the vCPU's state is its measured VMSA: it cannot be changed")

    def get_regs(self, index: int = 0) -> _uapi.kvm_regs:
        """``KVM_GET_REGS`` before FINALIZE; ProtectedStateError after."""
        self._refuse_registers("KVM_GET_REGS", write=False)
        return self._vcpu(index).get_regs()

    def get_sregs(self, index: int = 0) -> _uapi.kvm_sregs:
        """``KVM_GET_SREGS`` before FINALIZE; ProtectedStateError after."""
        self._refuse_registers("KVM_GET_SREGS", write=False)
        return self._vcpu(index).get_sregs()

    def set_regs(self, regs: _uapi.kvm_regs, index: int = 0) -> None:
        """Always refused: a sw vCPU's initial state is its measured VMSA (ProtectedStateError)."""
        self._refuse_registers("KVM_SET_REGS", write=True)

    def set_sregs(self, sregs: _uapi.kvm_sregs, index: int = 0) -> None:
        """Always refused: a sw vCPU's initial state is its measured VMSA (ProtectedStateError)."""
        self._refuse_registers("KVM_SET_SREGS", write=True)

    def _private_overlap(self, gpa: int, n: int) -> tuple[int, int] | None:
        for start, end in self._private:
            if gpa < end and start < gpa + n:
                return start, end
        return None

    def write_memory(self, gpa: int, data: bytes | bytearray | memoryview) -> None:
        """Write guest memory: allowed for shared (UNMEASURED) pages; private pages are refused with
        ProtectedStateError from the moment they are added (their contents are measured)."""
        hit = self._private_overlap(gpa, len(data))
        if hit is not None:
            raise ProtectedStateError(
                "write guest memory",
                f"[{gpa:#x}, {gpa + len(data):#x}) touches private memory at {hit[0]:#x}",
            )
        self.vm.write_memory(gpa, data)

    def read_memory(self, gpa: int, n: int) -> bytes:
        """Read guest memory: shared pages always; private pages only before FINALIZE."""
        if self.sealed:
            hit = self._private_overlap(gpa, n)
            if hit is not None:
                raise ProtectedStateError(
                    "read guest memory", f"[{gpa:#x}, {gpa + n:#x}) touches private memory at {hit[0]:#x}"
                )
        return self.vm.read_memory(gpa, n)

    # -- running -------------------------------------------------------------------------------
    def run(self, *, timeout: float = 5.0, max_exits: int = 1_000_000) -> RunResult:
        """Run vCPU 0 until HLT, shutdown or a budget runs out (other vCPUs are never entered).

        ``timeout`` bounds wall-clock time (KVM cannot count guest instructions; at ~1M emulated
        instructions/s it is the instruction budget): a watchdog kicks the vCPU out of KVM_RUN with
        a signal when the calling thread is the main thread (elsewhere the budget is checked at each
        exit). ``max_exits`` bounds the number of exits handled.
        """
        if not self.sealed:
            raise LaunchStateError("run before FINALIZE: the sw VM runs only sealed guests")
        vcpu = self._vcpu(0)
        serial = bytearray()
        result = RunResult(reason="", serial=b"")
        start = time.monotonic()
        deadline = start + timeout
        with self._watchdog(vcpu, timeout):
            while True:
                if result.exits >= max_exits:
                    result.reason = "exit-budget"
                    break
                if time.monotonic() >= deadline:
                    result.reason = "timeout"
                    break
                ex = vcpu.run()
                if result.first_exit_seconds is None:
                    result.first_exit_seconds = time.monotonic() - start
                result.exits += 1
                if isinstance(ex, IoExit):
                    self._io(vcpu, ex, serial, result)
                elif isinstance(ex, HltExit):
                    result.reason = "halt"
                    break
                elif isinstance(ex, IntrExit):
                    vcpu.immediate_exit = False
                    continue
                elif isinstance(ex, ShutdownExit):
                    result.reason = "shutdown"
                    break
                elif isinstance(ex, MmioExit):
                    if not ex.is_write:
                        vcpu.complete_mmio_read(b"\xff" * len(ex.data))
                elif isinstance(ex, (FailEntryExit, InternalErrorExit)):
                    raise KvmError("KVM_RUN", 0, f"the sw guest cannot run: {ex!r}")
                else:
                    raise KvmError("KVM_RUN", 0, f"unexpected exit {ex.name} from the sw guest")
        result.serial = bytes(serial)
        result.seconds = time.monotonic() - start
        return result

    @contextlib.contextmanager
    def _watchdog(self, vcpu: Vcpu, timeout: float) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = signal.signal(_KICK_SIGNAL, _kick_handler)
        target = threading.get_ident()
        done = threading.Event()

        def kick() -> None:
            if not done.wait(timeout):
                with contextlib.suppress(KvmError):
                    vcpu.immediate_exit = True
                with contextlib.suppress(ProcessLookupError, OSError):
                    signal.pthread_kill(target, _KICK_SIGNAL)

        timer = threading.Thread(target=kick, name="pvmkit-sw-watchdog", daemon=True)
        timer.start()
        try:
            yield
        finally:
            done.set()
            timer.join()
            signal.signal(_KICK_SIGNAL, old)
            with contextlib.suppress(KvmError):
                vcpu.immediate_exit = False

    def _io(self, vcpu: Vcpu, ex: IoExit, serial: bytearray, result: RunResult) -> None:
        if ex.direction == "out":
            if ex.port == protocol.SERIAL_PORT:
                data = ex.data[:: ex.size] if ex.size > 1 else ex.data
                serial += data
                if self.serial is not None:
                    self.serial(bytes(data))
            elif ex.port == protocol.ATTEST_PORT:
                for i in range(ex.count):
                    result.requests += 1
                    if ex.size != 4:
                        result.refused_requests += 1
                        continue
                    gpa = int.from_bytes(ex.data[4 * i : 4 * i + 4], "little")
                    report = self._attest(gpa)
                    if report is None:
                        result.refused_requests += 1
                    elif report:
                        result.reports.append(report)
            return
        if ex.port == _SERIAL_LSR:
            vcpu.complete_io_in(bytes([_LSR_READY]) * (ex.size * ex.count))
        else:
            vcpu.complete_io_in(b"\xff" * (ex.size * ex.count))

    def _attest(self, gpa: int) -> bytes | None:
        """Answer one request; None if the GPA is not a shared page (nothing is written), b"" for an
        answered failure, else the report."""
        if gpa not in self._shared:
            return None
        assert self.record is not None
        page = self.vm.read_memory(gpa, PAGE_SIZE)
        request = protocol.parse_request(page)
        report = b""
        if not request.valid:
            status = protocol.STATUS_INVALID_PARAM
        elif self.service is None:
            status = protocol.STATUS_UNSUPPORTED
        else:
            report = self.service.report(self.record, request.report_data, request.vmpl)
            status = protocol.STATUS_SUCCESS
        self.vm.write_memory(gpa + protocol.RESPONSE_OFFSET, protocol.build_response(status, report))
        return report


def _check_id_block(op: Finalize, init: Init, measurement: bytes) -> None:
    """SNP_LAUNCH_FINISH's ID block checks (spec amd.md §4.4), with the firmware's status codes."""
    from pvmkit.errors import SignatureError
    from pvmkit.vendors.amd.id_block import verify_id_auth

    assert op.id_block is not None and op.id_auth is not None
    if op.id_block[:48] != measurement:
        raise SevFirmwareError("SNP_LAUNCH_FINISH", _EIO, _SEV_RET_BAD_MEASUREMENT, "SEV_RET_BAD_MEASUREMENT")
    if int.from_bytes(op.id_block[0x58:0x60], "little") != init.policy:
        raise SevFirmwareError("SNP_LAUNCH_FINISH", _EIO, _SEV_RET_POLICY_FAILURE, "SEV_RET_POLICY_FAILURE")
    try:
        verify_id_auth(op.id_block, op.id_auth)
    except SignatureError:
        raise SevFirmwareError(
            "SNP_LAUNCH_FINISH", _EIO, _SEV_RET_BAD_SIGNATURE, "SEV_RET_BAD_SIGNATURE"
        ) from None


@dataclass
class SwRun:
    """One launch and run of a sw plan (:func:`launch_plan`)."""

    measurement: bytes
    record: LaunchRecord
    result: RunResult
    launch_seconds: float  #: INIT → FINALIZE (VM creation, copies, measurement, vCPU loading)
    run_seconds: float  #: run() until HLT/shutdown/budget

    @property
    def report(self) -> bytes | None:
        """The last report handed to the guest, if any."""
        return self.result.reports[-1] if self.result.reports else None


def _test_pause(point: str) -> None:
    """Test-only hook (docs/development.md "Test hooks"): with ``PVMKIT_TEST_PAUSE=POINT:READY_FILE``
    in the environment, the code at ``POINT`` creates ``READY_FILE`` and sleeps up to a minute, so a
    test can send a signal at a moment that otherwise lasts milliseconds. Unset, it costs one lookup."""
    spec = os.environ.get("PVMKIT_TEST_PAUSE")
    if not spec:
        return
    name, _, ready = spec.partition(":")
    if name == point and ready:
        with open(ready, "x"):
            pass
        time.sleep(60)


def launch_plan(
    plan: LaunchPlan,
    *,
    kvm: Kvm | None = None,
    service: ReportService | None = None,
    serial: Callable[[bytes], object] | None = None,
    supported_features: int = SW_SUPPORTED_VMSA_FEATURES,
    timeout: float = 5.0,
    max_exits: int = 1_000_000,
) -> SwRun:
    """Launch a sw plan on a fresh machine, run it, close it (every fd) and return what happened."""
    with SwMachine(kvm, supported_features=supported_features, service=service, serial=serial) as machine:
        t0 = time.perf_counter()
        measurement: bytes = Launcher(machine).run(plan)
        t1 = time.perf_counter()
        result = machine.run(timeout=timeout, max_exits=max_exits)
        t2 = time.perf_counter()
        assert machine.record is not None
        return SwRun(measurement, machine.record, result, t1 - t0, t2 - t1)
