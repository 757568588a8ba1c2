"""The quick fuzz driver of ./dev test (issue 15, "Keep it so"), shared by tests/unit/test_fuzz_targets.py
and tests/cli/test_cli_fuzz_targets.py (targets that drive a command): a target's seeds, then a fixed
number of derandomized hypothesis mutations of them; each input must end in a result or a pvmkit error
within :data:`SLOW` seconds."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvmkit.errors import PvmkitError
from support.fuzz_targets import TARGETS, Target

#: one input may take this long at most (milliseconds here; the margin is for a loaded machine)
SLOW = 20.0
#: byte values that turn lengths, counts and sizes into extremes
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]


def run(target: Target, data: bytes) -> None:
    start = time.monotonic()
    with contextlib.suppress(PvmkitError):
        target.run(data)
    spent = time.monotonic() - start
    assert spent < SLOW, f"{target.name}: one input took {spent:.1f} s"


@st.composite
def mutated(draw: Any, seed: bytes, region: tuple[int | None, int | None]) -> bytes:
    """``seed`` with 1-4 edits inside ``region``: bit flips, extreme bytes, a u32 set to an extreme,
    insertions, deletions, truncation, deep nesting."""
    start, stop, _ = slice(*region).indices(len(seed))
    out = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        stop = min(stop, len(out))
        if stop <= start:
            break
        pos = draw(st.integers(start, stop - 1))
        kinds = ["flip", "flip", "byte", "u32", "insert", "delete", "truncate", "nest"]
        kind = draw(st.sampled_from(kinds))
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            out[pos] = draw(st.sampled_from(INTERESTING))
        elif kind == "u32":
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x1000, 0x10000000]))
            out[pos : pos + 4] = value.to_bytes(4, "little")
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "nest":  # JSON arrays or CBOR one-element arrays nested past any recursion limit
            out[pos:pos] = draw(st.sampled_from([b"[", b"\x81", b'{"a":'])) * 3000
        elif kind == "delete":
            del out[pos : pos + draw(st.integers(1, 16))]
        else:
            del out[pos:]
    return bytes(out)


def seeds_run(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds, name
    for seed in seeds:
        run(target, seed)


def mutations_run(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()

    @settings(
        max_examples=target.examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        seed = data.draw(st.sampled_from(seeds))
        run(target, data.draw(mutated(seed, target.region)))

    check()
