"""The launcher state machine: order, page and feature rules, enforced once for every backend."""

from __future__ import annotations

import pytest

from pvmkit.errors import (
    AlreadyFinalizedError,
    FeatureError,
    LaunchStateError,
    LayoutError,
    NotYetInitializedError,
)
from pvmkit.launch import Launcher, LaunchState
from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, InitPath, LaunchPlan, PageKind, Vendor


class Recorder:
    """A backend that records what reached it."""

    def __init__(self) -> None:
        self.ops: list[object] = []

    def init(self, op: Init) -> None:
        self.ops.append(op)

    def add_memory(self, op: AddMemory) -> None:
        self.ops.append(op)

    def add_vcpu(self, op: AddVcpu) -> None:
        self.ops.append(op)

    def finalize(self, op: Finalize) -> str:
        self.ops.append(op)
        return "done"


VMSA = bytes(4096)


def snp_launcher() -> tuple[Launcher[str], Recorder]:
    rec = Recorder()
    launcher = Launcher(rec)
    launcher.init(Init(Vendor.SNP, policy=0x30000))
    return launcher, rec


def test_a_whole_plan_reaches_the_backend_in_order() -> None:
    rec = Recorder()
    plan = LaunchPlan.of(
        [
            Init(Vendor.SNP),
            AddMemory(0x1000, 0x2000, PageKind.NORMAL, data=bytes(0x2000)),
            AddMemory(0x3000, 0x1000, PageKind.ZERO),
            AddVcpu(0, VMSA),
            Finalize(),
        ]
    )
    assert Launcher(rec).run(plan) == "done"
    assert rec.ops == list(plan.ops)


@pytest.mark.parametrize("op", [AddMemory(0, 4096), AddVcpu(0, VMSA), Finalize()])
def test_ops_before_init_are_refused(op: object) -> None:
    rec = Recorder()
    with pytest.raises(NotYetInitializedError):
        Launcher(rec).apply(op)  # type: ignore[arg-type]
    assert rec.ops == []


def test_everything_after_finalize_is_refused() -> None:
    launcher, rec = snp_launcher()
    launcher.add_vcpu(AddVcpu(0, VMSA))
    launcher.finalize(Finalize())
    assert launcher.state is LaunchState.FINALIZED
    n = len(rec.ops)
    for op in (AddMemory(0, 4096), AddVcpu(1, VMSA), Finalize(), Init(Vendor.SNP)):
        with pytest.raises((AlreadyFinalizedError, LaunchStateError)):
            launcher.apply(op)
    with pytest.raises(AlreadyFinalizedError):
        launcher.add_memory(AddMemory(0x9000, 4096))
    assert len(rec.ops) == n


def test_init_twice_is_refused() -> None:
    launcher, _ = snp_launcher()
    with pytest.raises(LaunchStateError, match="twice"):
        launcher.init(Init(Vendor.SNP))


@pytest.mark.parametrize(
    ("gpa", "size", "data_len"),
    [(0x1001, 4096, None), (0x1000, 100, None), (0x1000, 0, None), (0x1000, 4096, 10)],
)
def test_misaligned_or_inconsistent_pages_are_refused(gpa: int, size: int, data_len: int | None) -> None:
    launcher, rec = snp_launcher()
    data = None if data_len is None else bytes(data_len)
    with pytest.raises(LayoutError):
        launcher.add_memory(AddMemory(gpa, size, data=data))
    assert len(rec.ops) == 1


@pytest.mark.parametrize("gpa", [0x2000, 0x3000, 0x1000, 0x4000 - 0x1000])
def test_overlapping_pages_are_refused(gpa: int) -> None:
    launcher, _ = snp_launcher()
    launcher.add_memory(AddMemory(0x2000, 0x2000))
    with pytest.raises(LayoutError, match="overlaps"):
        launcher.add_memory(AddMemory(gpa, 0x2000))


def test_adjacent_pages_are_fine() -> None:
    launcher, rec = snp_launcher()
    launcher.add_memory(AddMemory(0x2000, 0x2000))
    launcher.add_memory(AddMemory(0x4000, 0x1000))
    launcher.add_memory(AddMemory(0x1000, 0x1000))
    assert len(rec.ops) == 4


def test_vcpus_must_come_in_index_order_with_a_full_vmsa() -> None:
    launcher, _ = snp_launcher()
    with pytest.raises(LayoutError, match="out of order"):
        launcher.add_vcpu(AddVcpu(1, VMSA))
    with pytest.raises(LayoutError, match="4096"):
        launcher.add_vcpu(AddVcpu(0, b"short"))
    launcher.add_vcpu(AddVcpu(0, VMSA))
    launcher.add_vcpu(AddVcpu(1, VMSA))


def test_finalize_needs_a_vcpu_for_vmsa_vendors() -> None:
    launcher, _ = snp_launcher()
    with pytest.raises(LayoutError, match="vCPU"):
        launcher.finalize(Finalize())


@pytest.mark.parametrize(
    "init",
    [
        Init(Vendor.SEV, vmsa_features=0x20),
        Init(Vendor.SEV_ES, vmsa_features=0x1),  # SNPActive is SNP-only
        Init(Vendor.SEV_ES, vmsa_features=0x200),  # SecureTSC is SNP-only
        Init(Vendor.SNP, vmsa_features=1 << 11),  # reserved bit
        Init(Vendor.SNP, init_path=InitPath.LEGACY),
        Init(Vendor.SEV_ES, init_path=InitPath.LEGACY, vmsa_features=0x40),
        Init(Vendor.TDX, vmsa_features=0x20),
        Init(Vendor.SNP, seed=b"short"),
    ],
)
def test_features_the_mode_cannot_take_are_refused_at_init(init: Init) -> None:
    rec = Recorder()
    with pytest.raises(FeatureError):
        Launcher(rec).init(init)
    assert rec.ops == []


def test_id_block_only_for_snp_like_vendors() -> None:
    rec = Recorder()
    launcher = Launcher(rec)
    launcher.init(Init(Vendor.SEV))
    with pytest.raises(LayoutError):
        launcher.finalize(Finalize(host_data=b"\x01" * 32))


def test_effective_features_and_vm_types() -> None:
    assert Init(Vendor.SNP).sev_features == 0x1
    assert Init(Vendor.SNP, vmsa_features=0x20).sev_features == 0x21
    assert Init(Vendor.SEV_ES, vmsa_features=0x20).sev_features == 0x20
    assert Init(Vendor.SEV_ES, init_path=InitPath.LEGACY).effective_vm_type == 0
    assert Init(Vendor.SEV_ES).effective_vm_type == 3
    assert Init(Vendor.SNP).effective_vm_type == 4
    assert Init(Vendor.TDX).effective_vm_type == 5
    assert Init(Vendor.SW).effective_vm_type == 0


def test_insertion_point_is_bisect_right() -> None:
    """The launcher's written-out binary search (kept off the start-up path) against the standard
    library's bisect.bisect_right as the oracle, duplicates and both ends included."""
    import bisect
    import random

    from pvmkit.launch import _insertion_point

    rng = random.Random(14)
    for size in range(0, 12):
        starts = sorted(rng.randrange(0, 20) for _ in range(size))
        for gpa in range(-1, 22):
            assert _insertion_point(starts, gpa) == bisect.bisect_right(starts, gpa), (starts, gpa)
