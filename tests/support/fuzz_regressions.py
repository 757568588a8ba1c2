"""Saved fuzz findings (``tests/vectors/fuzz/<target>/<name>.json``), replayed by
tests/unit/test_fuzz_targets.py and written by ``./dev fuzz keep``.

A finding is stored as an edit of one of its target's seeds, never as the input itself: the seeds are
fixtures, which stay out of the repository (tests/vectors/README.md). The file holds
``{"seed": i, "at": offset, "remove": n, "insert": "hex", "found": "how"}``: the input is seed ``i``
with ``n`` bytes at ``offset`` replaced by ``insert``.
"""

from __future__ import annotations

import json
from pathlib import Path

from support.fuzz_targets import TARGETS

DIRECTORY = Path(__file__).resolve().parents[1] / "vectors" / "fuzz"


def load(path: Path) -> bytes:
    """The input a saved finding describes (its target is the name of its directory)."""
    doc = json.loads(path.read_text())
    seed = TARGETS[path.parent.name].seeds()[doc["seed"]]
    at, remove = doc["at"], doc["remove"]
    return seed[:at] + bytes.fromhex(doc["insert"]) + seed[at + remove :]


def as_edit(data: bytes, seeds: list[bytes]) -> dict[str, object]:
    """The smallest single-hunk edit of one of ``seeds`` that gives ``data``."""
    best: dict[str, object] | None = None
    for i, seed in enumerate(seeds):
        prefix = 0
        limit = min(len(seed), len(data))
        while prefix < limit and seed[prefix] == data[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and seed[-1 - suffix] == data[-1 - suffix]:
            suffix += 1
        insert = data[prefix : len(data) - suffix]
        edit = {"seed": i, "at": prefix, "remove": len(seed) - suffix - prefix, "insert": insert.hex()}
        if best is None or len(insert) < len(bytes.fromhex(str(best["insert"]))):
            best = edit
    assert best is not None
    return best


def saved() -> list[Path]:
    return sorted(DIRECTORY.glob("*/*.json"))
