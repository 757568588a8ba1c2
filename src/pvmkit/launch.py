"""The launcher: one state machine, INIT → ADD × N → FINALIZE, for every consumer of a plan.

A :class:`Backend` (a measurer, a KVM driver, the software-protected VM) receives ops only after the
:class:`Launcher` has checked them, so ordering and page rules are enforced in exactly one place:

* ADD or FINALIZE before INIT → :class:`~pvmkit.errors.NotYetInitializedError`
* anything after FINALIZE, or a second INIT → :class:`~pvmkit.errors.AlreadyFinalizedError` /
  :class:`~pvmkit.errors.LaunchStateError`
* misaligned, empty or overlapping pages, vCPUs out of index order, a VMSA of the wrong size →
  :class:`~pvmkit.errors.LayoutError`
* features the vendor, VM type or init path cannot take → :class:`~pvmkit.errors.FeatureError`
  (host support is the backend's business, checked in its ``init``).

What a vendor takes (page kinds, vCPU state, FINALIZE inputs) is read from its
:class:`~pvmkit.vendor.VendorSpec`; nothing here names a vendor.
"""

from __future__ import annotations

from enum import Enum

from pvmkit.errors import (
    AlreadyFinalizedError,
    LaunchStateError,
    LayoutError,
    NotYetInitializedError,
    PlanError,
)
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, LaunchPlan, Op, PageKind

__all__ = ["Backend", "LaunchState", "Launcher"]

# typing is not imported at run time (start-up cost of a cold `pvmkit measure`): mypy reads typing's
# Generic, Protocol and TypeVar; the interpreter the stand-ins of pvmkit._coldstart.generic.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic, Protocol, TypeVar
else:
    from pvmkit._coldstart.generic import Generic, Protocol, TypeVar

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Backend(Protocol[R_co]):
    """What a plan consumer implements. Called only with ops the Launcher has validated."""

    def init(self, op: Init) -> None: ...

    def add_memory(self, op: AddMemory) -> None: ...

    def add_vcpu(self, op: AddVcpu) -> None: ...

    def finalize(self, op: Finalize) -> R_co: ...


def _insertion_point(starts: list[int], gpa: int) -> int:
    """Where ``gpa`` goes in the sorted ``starts``: after every start <= gpa (``bisect.bisect_right``,
    written out because importing ``bisect`` costs ~0.2 ms of a cold ``pvmkit measure``)."""
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if gpa < starts[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


class LaunchState(Enum):
    NEW = "new"
    INITIALIZED = "initialized"
    FINALIZED = "finalized"


class Launcher(Generic[R]):
    """Drives one backend through a plan, enforcing the lifecycle rules."""

    def __init__(self, backend: Backend[R]) -> None:
        self.backend = backend
        self.state = LaunchState.NEW
        self.init_op: Init | None = None
        self.vcpu_count = 0
        self._starts: list[int] = []  # sorted start GPAs of added ranges
        self._ends: list[int] = []  # matching end GPAs
        self.measured_ranges: list[tuple[int, int]] = []  # (gpa, size) of ranges with measured contents
        self.vmsa_pages = 0  # VMSAs given as memory (IGVM style) rather than as vCPUs

    # -- state checks -------------------------------------------------------------------------
    def _require_initialized(self, what: str) -> Init:
        if self.state is LaunchState.NEW or self.init_op is None:
            raise NotYetInitializedError(f"{what} before INIT")
        if self.state is LaunchState.FINALIZED:
            raise AlreadyFinalizedError(f"{what} after FINALIZE")
        return self.init_op

    # -- ops ----------------------------------------------------------------------------------
    def init(self, op: Init) -> None:
        if self.state is LaunchState.FINALIZED:
            raise AlreadyFinalizedError("INIT after FINALIZE")
        if self.state is LaunchState.INITIALIZED:
            raise LaunchStateError("INIT issued twice")
        op.validate()
        self.backend.init(op)
        self.init_op = op
        self.state = LaunchState.INITIALIZED

    def add_memory(self, op: AddMemory) -> None:
        init = self._require_initialized("ADD memory")
        op.validate()
        if op.kind.value not in init.vendor.spec.page_kinds:
            raise LayoutError(f"{op.label or 'memory'}: {init.vendor.value} has no {op.kind.value} pages")
        i = _insertion_point(self._starts, op.gpa)
        if i > 0 and self._ends[i - 1] > op.gpa:
            raise LayoutError(
                f"{op.label or 'memory'} at {op.gpa:#x}+{op.size:#x} overlaps a range added at "
                f"{self._starts[i - 1]:#x}"
            )
        if i < len(self._starts) and self._starts[i] < op.end:
            raise LayoutError(
                f"{op.label or 'memory'} at {op.gpa:#x}+{op.size:#x} overlaps a range added at "
                f"{self._starts[i]:#x}"
            )
        self.backend.add_memory(op)
        self._starts.insert(i, op.gpa)
        self._ends.insert(i, op.end)
        if op.kind.measured_contents:
            self.measured_ranges.append((op.gpa, op.size))
        if op.kind is PageKind.VMSA:
            self.vmsa_pages += op.pages

    def add_vcpu(self, op: AddVcpu) -> None:
        init = self._require_initialized("ADD vCPU")
        if op.index != self.vcpu_count:
            raise LayoutError(f"vCPU {op.index} added out of order: expected index {self.vcpu_count}")
        what = init.vendor.spec.vcpu_state
        if what and len(op.state) != PAGE_SIZE:
            raise LayoutError(f"vCPU {op.index}: {what} must be {PAGE_SIZE} bytes, got {len(op.state)}")
        if not what and op.state:
            raise LayoutError(f"vCPU {op.index}: {init.vendor.value} takes no measured vCPU state")
        self.backend.add_vcpu(op)
        self.vcpu_count += 1

    def finalize(self, op: Finalize) -> R:
        init = self._require_initialized("FINALIZE")
        op.validate()
        spec = init.vendor.spec
        if (op.id_block is not None or any(op.host_data)) and not spec.snp_digest:
            raise LayoutError(f"{init.vendor.value} takes no ID block or host data")
        if spec.vmsa and self.vcpu_count == 0 and not self.vmsa_pages:
            raise LayoutError(f"{init.vendor.value} needs at least one vCPU before FINALIZE")
        result = self.backend.finalize(op)
        self.state = LaunchState.FINALIZED
        return result

    def apply(self, op: Op) -> R | None:
        """Dispatch one op; returns the backend's result for FINALIZE, else None."""
        if isinstance(op, Init):
            self.init(op)
        elif isinstance(op, AddMemory):
            self.add_memory(op)
        elif isinstance(op, AddVcpu):
            self.add_vcpu(op)
        elif isinstance(op, Finalize):
            return self.finalize(op)
        else:  # pragma: no cover - guarded by typing
            raise PlanError(f"unknown op {op!r}")
        return None

    def run(self, plan: LaunchPlan) -> R:
        """Run a whole plan; it must end with FINALIZE."""
        result: R | None = None
        finalized = False
        for op in plan:
            result = self.apply(op)
            finalized = isinstance(op, Finalize)
        if not finalized:
            raise LaunchStateError("plan does not end with FINALIZE")
        return result  # type: ignore[return-value]
