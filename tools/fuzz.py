#!/usr/bin/env python3
"""``./dev fuzz``: run pvmkit's fuzz targets (tests/support/fuzz_targets.py) under atheris (libFuzzer).

    ./dev fuzz                              list the targets
    ./dev fuzz TARGET [SECONDS] [-- LIBFUZZER OPTIONS]
                                            fuzz one target (default 60 s)
    ./dev fuzz all [SECONDS]                every target in turn, SECONDS each (default 60)
    ./dev fuzz keep TARGET CRASH NAME       save a crash as tests/vectors/fuzz/TARGET/NAME.json

The corpus starts from the target's seeds (the fixtures, copied to ``.cache/fuzz/corpus/TARGET``,
outside the repository) and grows there between runs. Each input runs in this process under
libFuzzer's limits: ``-timeout=10`` (an input slower than 10 s is a finding), ``-rss_limit_mb=2048``
and ``-malloc_limit_mb=1024`` (an input that makes pvmkit allocate that much is a finding). A finding
(any exception other than a pvmkit error, a timeout, an out-of-memory) is written to
``.cache/fuzz/crashes/TARGET/``; fix it, then keep it with ``./dev fuzz keep`` so that ./dev test
replays it for ever. For targets with a ``region`` (firmware metadata, an event log's events) the
mutator only changes that part of each input, as the quick driver does.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CACHE = ROOT / ".cache" / "fuzz"
LIMITS = ["-timeout=10", "-rss_limit_mb=2048", "-malloc_limit_mb=1024"]


def _targets() -> dict[str, object]:
    from support.fuzz_targets import TARGETS

    return dict(TARGETS)


def _run_one(name: str, seconds: int, extra: list[str]) -> int:
    """Fuzz ``name`` in this process (atheris.Fuzz does not return; libFuzzer exits)."""
    import atheris

    from pvmkit.errors import PvmkitError
    from support.fuzz_targets import TARGETS

    target = TARGETS[name]
    corpus = CACHE / "corpus" / name
    crashes = CACHE / "crashes" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    # pvmkit's modules are imported (lazily, by the target and its seed builder) while the seeds are
    # built and run: instrument those imports only, not every function already loaded (cryptography,
    # hypothesis, ...), which takes minutes on a loaded machine
    with atheris.instrument_imports(include=["pvmkit"]):
        seeds = target.seeds()
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i}").write_bytes(seed)
            with contextlib.suppress(PvmkitError):
                target.run(seed)
    start, stop = target.region

    def one_input(data: bytes) -> None:
        with contextlib.suppress(PvmkitError):
            target.run(data)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        lo, hi, _ = slice(start, stop).indices(len(data))
        part = atheris.Mutate(data[lo:hi], max(hi - lo, 1) + 64)
        return data[:lo] + part + data[hi:]

    biggest = max(len(s) for s in seeds)
    argv = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        f"-max_len={biggest + 4096}",
        f"-artifact_prefix={crashes}/",
        *LIMITS,
        *extra,
    ]
    print(f"fuzz: {name} for {seconds} s; findings go to {crashes}/", file=sys.stderr)
    custom = mutator if (start, stop) != (None, None) else None
    atheris.Setup(argv, one_input, custom_mutator=custom)
    atheris.Fuzz()
    return 0


def _keep(name: str, crash: str, label: str) -> int:
    from support import fuzz_regressions
    from support.fuzz_targets import TARGETS

    target = TARGETS[name]
    edit = fuzz_regressions.as_edit(Path(crash).read_bytes(), target.seeds())
    edit["found"] = f"./dev fuzz {name} ({Path(crash).name})"
    out = fuzz_regressions.DIRECTORY / name / f"{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(edit, indent=1) + "\n")
    print(f"fuzz: kept as {out.relative_to(ROOT)}; tests/unit/test_fuzz_targets.py replays it")
    return 0


def main(argv: list[str]) -> int:
    targets = _targets()
    if not argv or argv[0] in ("-h", "--help", "list"):
        print(__doc__.split("\n\n")[1] if argv else "targets: " + " ".join(sorted(targets)))
        return 0
    if argv[0] == "keep":
        if len(argv) != 4 or argv[1] not in targets:
            print("usage: ./dev fuzz keep TARGET CRASH NAME", file=sys.stderr)
            return 2
        return _keep(argv[1], argv[2], argv[3])
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    if argv[0] not in (*targets, "all") or len(argv) > 2:
        print(f"unknown target {argv[0]!r}; targets: {' '.join(sorted(targets))}", file=sys.stderr)
        return 2
    seconds = int(argv[1]) if len(argv) > 1 else 60
    if argv[0] != "all":
        return _run_one(argv[0], seconds, extra)
    failed = []
    for name in sorted(targets):  # one process each: libFuzzer ends the process when it is done
        code = subprocess.call([sys.executable, __file__, name, str(seconds), "--", *extra])
        if code != 0:
            failed.append(name)
    if failed:
        print(f"fuzz: findings in {', '.join(failed)} (see {CACHE / 'crashes'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PVMKIT_FIXTURES", str(ROOT.parent / "shared" / "fixtures"))
    sys.exit(main(sys.argv[1:]))
