"""Interrupts in KVM_RUN release everything (issue 15 item 6): SIGINT sent to the main thread while
``launch_plan`` runs a guest that loops forever raises KeyboardInterrupt, and after repeated
interrupts the number of open fds (/proc/self/fd) and mappings (/proc/self/maps) is what it was,
with the garbage collector off, so it is ``close()`` that released them. Before the fix a frame in
the interrupt's traceback pinned the ``kvm_run`` mapping, ``close`` failed with BufferError and each
interrupt leaked 3 fds until a collection."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from pvmkit.plan import LaunchPlan
from pvmkit.vendors.sw.builder import flat_binary_plan
from pvmkit.vendors.sw.machine import launch_plan

pytestmark = pytest.mark.kvm

LOOP = b"\xeb\xfe"  # jmp $ (Intel SDM vol. 2A, JMP rel8 with displacement -2)
DEADLINE = 60.0  # the guest's time budget: never reached, the interrupt comes first


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.fixture
def sigint_to_main_thread() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupted_launch(plan: LaunchPlan) -> None:
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            launch_plan(plan, timeout=DEADLINE)
    finally:
        timer.cancel()
        timer.join()


def test_repeated_interrupts_leave_fds_and_mappings_flat(sigint_to_main_thread: None) -> None:
    plan = flat_binary_plan(LOOP).plan
    interrupted_launch(plan)  # warm-up: lazy imports, caches
    gc.disable()  # what is released must be released by close(), not by a later collection
    try:
        fds0, maps0 = open_fds(), mappings()
        for _ in range(5):
            interrupted_launch(plan)
        fds1, maps1 = open_fds(), mappings()
    finally:
        gc.enable()
    assert fds1 == fds0, f"open fds went from {fds0} to {fds1} over 5 interrupted launches"
    assert maps1 <= maps0, f"mappings went from {maps0} to {maps1} over 5 interrupted launches"
