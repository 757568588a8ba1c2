"""Dispatcher for ``pvmkit COMMAND ...``.

Exit codes (docs/cli.md): 0 success; 1 error (any :class:`~pvmkit.errors.PvmkitError`, one line
on stderr, never a traceback); 2 usage error (argparse's, and :class:`pvmkit.cli._common.UsageError`:
an option value that does not parse or is out of its documented range); 3 verification mismatch
(:class:`~pvmkit.errors.VerificationError`).
Sub-command modules are imported lazily so that one command does not pay for the others' imports.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing/collections.abc are not imported at run time (start-up cost)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_OK", "EXIT_PIPE", "EXIT_USAGE", "EXIT_VERIFY", "entry", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_VERIFY = 3
EXIT_PIPE = 141  # stdout's reader went away: 128 + SIGPIPE, what a shell reports for `cat` killed so

#: command → (module, one-line summary). Each module defines ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pvmkit.cli.demo", "launch, measure, attest and verify a tiny protected VM end to end"),
    "probe": ("pvmkit.cli.probe", "report what this host's KVM supports for protected VMs"),
    "measure": ("pvmkit.cli.measure", "predict a launch measurement (sev, sev-es, snp, sw, tdx, cca)"),
    "sev-snp-measure": (
        "pvmkit.cli.compat.sev_snp_measure",
        "drop-in for the sev-snp-measure 0.0.13 command",
    ),
    "snp-create-id-block": (
        "pvmkit.cli.compat.snp_create_id_block",
        "build and sign an SNP ID block (drop-in for snp-create-id-block)",
    ),
    "sev-launch-measure": (
        "pvmkit.cli.sev_launch_measure",
        "compute or check the SEV LAUNCH_MEASURE blob (HMAC with the TIK)",
    ),
    "reference-values": (
        "pvmkit.cli.reference_values",
        "every acceptable launch value of a fleet, in Trustee, CoRIM or pvmkit JSON",
    ),
    "launch": ("pvmkit.cli.launch", "run a launch plan on KVM (software-protected or hardware)"),
    "verify": ("pvmkit.cli.verify", "verify an SEV-SNP report, a TDX/SGX quote or an Arm CCA token"),
    "tdx": ("pvmkit.cli.tdx", "TDX tools: replay a CC event log against a quote"),
    "inspect": (
        "pvmkit.cli.inspect",
        "pretty-print firmware, IGVM files, reports, quotes, event logs, CCA tokens, CoRIMs",
    ),
}

USAGE = "usage: pvmkit [-h] [--version] COMMAND [ARGS...]"


def _help() -> str:
    lines = [USAGE, "", "commands:"]
    for name, (_module, summary) in COMMANDS.items():
        lines.append(f"  {name:<20} {summary}")
    lines += [
        "",
        "Run 'pvmkit COMMAND --help' for a command's options.",
        "Exit codes: 0 ok, 1 error, 2 usage, 3 verification mismatch, 130 interrupted,",
        "141 stdout closed early (e.g. by head).",
        "Input files may be FIFOs such as <(...): like cat, pvmkit waits until the FIFO's writer",
        "opens it. Output files are replaced atomically; devices and FIFOs are written through.",
    ]
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"pvmkit: error: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        (sys.stdout if args else sys.stderr).write(_help() + "\n")
        return EXIT_OK if args else EXIT_USAGE
    if args[0] == "--version":
        from pvmkit import __version__

        print(f"pvmkit {__version__}")
        return EXIT_OK
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        return _fail(f"unknown command {name!r} (see 'pvmkit --help')", EXIT_USAGE)

    from pvmkit.errors import PvmkitError, VerificationError

    try:
        module_name = COMMANDS[name][0]
        __import__(module_name)  # not importlib: importing it (and warnings) costs 0.3 ms of start-up
        run: Callable[[list[str]], int] = sys.modules[module_name].main
        return run(rest)
    except VerificationError as exc:
        return _fail(str(exc), EXIT_VERIFY)
    except PvmkitError as exc:
        from pvmkit.cli._common import UsageError

        if isinstance(exc, UsageError):  # an option value that does not parse or is out of range
            sys.stderr.write(f"pvmkit {name}: usage error: {exc}\n")
            return EXIT_USAGE
        return _fail(str(exc), EXIT_ERROR)
    except BrokenPipeError as exc:
        if exc.filename:  # an output file (a FIFO whose reader left): an error like any other
            return _fail(f"{exc.filename}: {exc.strerror}", EXIT_ERROR)
        return EXIT_PIPE  # stdout closed early (`| head`): quietly, the Unix habit
    except OSError as exc:  # unreadable input files, unwritable outputs
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def entry() -> None:
    """Console-script entry point."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_PIPE
    if code == EXIT_PIPE:
        # nothing more can reach the reader; point stdout at /dev/null so that the interpreter's
        # final flush does not print "Exception ignored ... BrokenPipeError" (Python's signal docs)
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if len(sys.argv) > 1 and sys.argv[1] in FAST_EXIT_COMMANDS:
        _exit_without_finalization(code)
    raise SystemExit(code)


#: Commands whose process ends without the interpreter's finalization: the two a cold-start benchmark
#: times (docs/development.md "Start-up"). They write stdout/stderr and, for --dump-vmsa, files through
#: ``_common.atomic_write`` (closed before it returns); they start no thread that outlives them
#: (``_thread`` workers are joined) and keep no file open when ``main`` returns.
FAST_EXIT_COMMANDS = frozenset({"measure", "sev-snp-measure"})


def _exit_without_finalization(code: int) -> None:
    """End the process now: atexit handlers run and both standard streams are flushed, but the
    interpreter's finalization (tearing down every module, a last garbage collection: about 3 ms
    of a cold ``pvmkit measure``) is skipped. Returns instead (the caller exits normally) when a
    tracer or profiler is active (coverage, cProfile write their results at finalization) or when
    ``threading`` is loaded (a normal exit waits for non-daemon threads)."""
    if sys.gettrace() is not None or sys.getprofile() is not None or "threading" in sys.modules:
        return
    import atexit
    import os

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return  # let the normal exit report it as it always has
    os._exit(code)
