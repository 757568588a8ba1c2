"""What GRUB measures into a TD's RTMR2, and a follower for the grub.cfg files pvmkit can model.

GRUB's measurements (grub-core/commands/tpm.c, the TPM/CC verifier; grub-core/script/execute.c;
grub-core/normal/main.c), logged as ``EV_IPL`` events in CC MR 3 (PCR 8 and 9 both map to RTMR2,
edk2 ``TdTcg2Dxe`` ``MapPcrToMrIndex``):

* every command line GRUB executes: event data ``"grub_cmd: " + text + NUL``, digest SHA-384 of
  *text*, which is the command's words after quote removal and variable expansion joined by single
  spaces (an empty quoted word stays an empty word); a ``menuentry``/``submenu`` block is one word,
  its source text from ``{`` to ``}`` unexpanded;
* the kernel command line the ``linux`` command builds: ``"kernel_cmdline: " + text + NUL``, the
  kernel path and its arguments joined by spaces;
* every file GRUB reads through its verifiers (configuration files, the module lists, kernel,
  initrd): event data the file name + NUL, digest SHA-384 of the whole file.

Order (confirmed event by event on the real shim+GRUB TD log, tests/vectors/README.md): a
``configfile`` command, then the file, then its commands; ``set prefix=P`` makes normal mode read
``P/x86_64-efi/{command,fs,crypto,terminal}.lst``; ``linux`` logs the command, the kernel file, then
the kernel command line; ``initrd`` the command, then each file. After the configuration ends GRUB
boots the default menu entry (``set default=N``, else the first): ``setparams TITLE``, then the body.

:func:`follow_grub_cfg` follows straight-line configurations: ``set``, ``insmod``, ``export``,
``echo``, ``terminal_input``/``terminal_output``, ``search`` by filesystem UUID, ``configfile``,
``source``, ``menuentry``, ``linux``, ``initrd``, ``boot``, and ``if COND; then`` … ``elif COND;
then`` … ``else`` … ``fi`` blocks whose conditions are ``[``/``test`` expressions
(:mod:`pvmkit.vendors.tdx.grub_test`; GRUB's ``grub_script_execute_cmdif`` runs each condition as a
command, so it is logged like one, and ``-s`` opens, hence measures, its file). Anything else
(``for``, functions, conditions that are other commands, ``submenu`` entries booted by default,
``load_env``, …) is refused with the line and the reason: pvmkit never predicts a value for a
configuration it does not follow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pvmkit.errors import InputError
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.eventlog_plan import EV_IPL, DigestSource, PlannedEvent
from pvmkit.vendors.tdx.grub_test import UnsupportedTest, evaluate_test

__all__ = [
    "GrubFiles",
    "GrubFollow",
    "command_event",
    "file_event",
    "follow_grub_cfg",
    "full_path",
    "kernel_cmdline_event",
]

_MR = 3  # RTMR2
_PLATFORM = "x86_64-efi"
_MODULE_LISTS = ("command.lst", "fs.lst", "crypto.lst", "terminal.lst")
_EVENT_TEXT = DigestSource.EVENT_DATA  # the digest covers text that is in the event data
_PLAIN = frozenset({"insmod", "export", "echo", "terminal_input", "terminal_output", "unset"})


def _text_event(prefix: bytes, text: str, what: str) -> PlannedEvent:
    raw = text.encode()
    return PlannedEvent.of_digest(
        _MR, EV_IPL, prefix + raw + b"\0", hashlib.sha384(raw).digest(), what, source=_EVENT_TEXT
    )


def command_event(text: str) -> PlannedEvent:
    """A command GRUB executed, as GRUB logs it (``text``: the expanded words joined by spaces)."""
    return _text_event(b"grub_cmd: ", text, f"grub.cfg command: {text[:60]}")


def kernel_cmdline_event(text: str) -> PlannedEvent:
    """The kernel command line GRUB's ``linux`` command built."""
    return _text_event(b"kernel_cmdline: ", text, "command line (GRUB linux)")


def file_event(
    path: str, what: str, contents: ByteData | None = None, digest: bytes | None = None
) -> PlannedEvent:
    """A file GRUB read: its contents, its SHA-384 digest, or neither (the register is unknown)."""
    data = path.encode() + b"\0"
    label = f"{what} {path}"
    if contents is not None:
        return PlannedEvent.of_external(_MR, EV_IPL, data, contents, label)
    if digest is not None:
        return PlannedEvent.of_digest(_MR, EV_IPL, data, digest, label, "digest given")
    return PlannedEvent.missing(_MR, EV_IPL, data, label, f"give the contents or the SHA-384 of {path}")


@dataclass(frozen=True)
class GrubFollow:
    """The events, and the configuration pvmkit stopped at when only its digest was given (the
    events GRUB logs from there on must then come in their digests-only form)."""

    events: tuple[PlannedEvent, ...]
    stopped_at: str | None = None


@dataclass(frozen=True)
class GrubFiles:
    """The files GRUB reads, by the path GRUB prints (``(hd0,gpt1)/boot/grub/grub.cfg``), as contents
    or SHA-384 digests; ``kernel``/``initrd`` answer for whatever path ``linux``/``initrd`` name."""

    contents: Mapping[str, bytes] = field(default_factory=dict)
    digests: Mapping[str, bytes] = field(default_factory=dict)
    kernel: ByteData | None = None
    kernel_digest: bytes | None = None
    initrd: ByteData | None = None
    initrd_digest: bytes | None = None
    #: the disk's files by GRUB's full path (``(hd0,gpt1)/boot/vmlinuz``): bytes, or None for a file
    #: the disk does not hold; consulted for what is not given above
    source: Callable[[str], bytes | None] | None = None
    #: what is at a full path, for ``[`` file tests: ``("file", size)``, ``("dir", 0)`` or None
    probe: Callable[[str], tuple[str, int] | None] | None = None

    def event(
        self, path: str, role: str, root: str | None = None, optional: bool = False
    ) -> PlannedEvent | None:
        """The event of GRUB reading ``path`` (relative to device ``root`` when it names none); None
        for an ``optional`` file the disk does not hold (GRUB logs nothing for a file it cannot open)."""
        if path in self.contents or path in self.digests:
            return file_event(path, role, self.contents.get(path), self.digests.get(path))
        if role == "kernel" and (self.kernel is not None or self.kernel_digest is not None):
            return file_event(path, role, self.kernel, self.kernel_digest)
        if role == "initrd" and (self.initrd is not None or self.initrd_digest is not None):
            return file_event(path, role, self.initrd, self.initrd_digest)
        if self.source is not None:
            full = full_path(path, root)
            data = self.source(full)
            if data is not None:
                return file_event(path, role, data)
            if optional:
                return None
            raise InputError(f"GRUB reads {full} ({role}), which is not on the disk image")
        return file_event(path, role)


def full_path(path: str, root: str | None) -> str:
    """``path`` with GRUB's device: as given when it names one, else on ``root`` (``$root``)."""
    return path if path.startswith("(") or not root else f"({root}){path}"


# -- the follower ---------------------------------------------------------------------------------

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class _Unsupported(Exception):
    pass


@dataclass
class _Entry:
    title: str
    body: list[tuple[int, str]]


@dataclass
class _State:
    files: GrubFiles
    fs_devices: Mapping[str, str]  #: filesystem UUID -> GRUB device ("hd0,gpt1")
    config_source: Callable[[str], bytes | None]
    env: dict[str, str] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    booted: bool = False
    stopped_at: str | None = None
    depth: int = 0
    if_depth: int = 0


def _words(line: str, env: Mapping[str, str], where: str) -> list[str]:
    """GRUB's word splitting: quotes removed, ``$var`` expanded outside single quotes."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        word, quoted, expanded_empty = [], False, False
        while i < n and line[i] not in " \t":
            c = line[i]
            if c == "'":
                j = line.find("'", i + 1)
                if j < 0:
                    raise _Unsupported(f"{where}: unterminated single quote")
                word.append(line[i + 1 : j])
                quoted, i = True, j + 1
            elif c == '"':
                j = line.find('"', i + 1)
                if j < 0 or "\\" in line[i:j]:
                    raise _Unsupported(f"{where}: a double-quoted word pvmkit cannot split")
                word.append(_VAR.sub(lambda m: _lookup(m, env), line[i + 1 : j]))
                quoted, i = True, j + 1
            elif c == "\\" or c in ";|&<>`":
                raise _Unsupported(f"{where}: {c!r} (escapes, lists and redirections) is not modelled")
            elif c == "$":
                m = _VAR.match(line, i)
                if m is None:
                    raise _Unsupported(f"{where}: a '$' pvmkit cannot expand")
                value = _lookup(m, env)
                expanded_empty = expanded_empty or not value
                word.append(value)
                i = m.end()
            else:
                word.append(c)
                i += 1
        text = "".join(word)
        if not text and not quoted:
            if expanded_empty:
                raise _Unsupported(f"{where}: an unquoted variable expands to nothing")
            continue
        words.append(text)
    return words


def _lookup(m: re.Match[str], env: Mapping[str, str]) -> str:
    return env.get(m.group(1) or m.group(2), "")


def _search(words: list[str], state: _State, where: str) -> None:
    if words[0] == "search.fs_uuid" and len(words) >= 3:
        fs_uuid, var = words[1], words[2]
    elif words[0] == "search" and "--fs-uuid" in words:
        sets = [w for w in words[1:] if w.startswith("--set=")]
        rest = [w for w in words[1:] if not w.startswith("-")]
        if len(sets) != 1 or not rest:
            raise _Unsupported(f"{where}: only 'search --fs-uuid --set=VAR UUID' is modelled")
        fs_uuid, var = rest[0], sets[0][len("--set=") :]
    else:
        raise _Unsupported(f"{where}: only searches by filesystem UUID are modelled")
    device = state.fs_devices.get(fs_uuid.lower())
    if device is None:
        raise InputError(f"{where}: no partition of the disk image has the filesystem UUID {fs_uuid}")
    state.env[var] = device


def _execute(words: list[str], state: _State, where: str) -> None:
    name = words[0]
    state.events.append(command_event(" ".join(words)))
    if name == "set":
        for assignment in words[1:]:
            key, eq, value = assignment.partition("=")
            if not eq:
                raise _Unsupported(f"{where}: 'set' without '=' is not modelled")
            state.env[key] = value
            if key == "prefix":  # normal.c read_lists_hook
                for lst in _MODULE_LISTS:
                    _add(
                        state,
                        state.files.event(f"{value}/{_PLATFORM}/{lst}", "GRUB module list", optional=True),
                    )
    elif name in ("search", "search.fs_uuid"):
        _search(words, state, where)
    elif name in ("configfile", "source"):  # both measure the file, then run its commands
        if len(words) != 2:
            raise _Unsupported(f"{where}: {name} takes one file")
        _configfile(words[1], state, where)
    elif name in _TESTS:
        _test(words, state, where)
    elif name == "linux":
        if len(words) < 2:
            raise _Unsupported(f"{where}: linux without a kernel")
        _add(state, state.files.event(words[1], "kernel", state.env.get("root")))
        state.events.append(kernel_cmdline_event(" ".join(words[1:])))
    elif name == "initrd":
        for path in words[1:]:
            _add(state, state.files.event(path, "initrd", state.env.get("root")))
    elif name == "boot":
        state.booted = True
    elif name not in _PLAIN:
        raise _Unsupported(f"{where}: the command {name!r} is not modelled")


def _add(state: _State, event: PlannedEvent | None) -> None:
    if event is not None:
        state.events.append(event)


def _configfile(path: str, state: _State, where: str) -> None:
    data = state.config_source(path)
    if data is None and path in state.files.contents:
        data = state.files.contents[path]
    if data is None and path not in state.files.digests and state.files.source is not None:
        data = state.files.source(full_path(path, state.env.get("root")))
    if data is None:
        if path in state.files.digests:  # digests-only: measured, not followed
            _add(state, state.files.event(path, "GRUB configuration"))
            state.stopped_at = path
            state.booted = True
            return
        raise InputError(f"{where}: give the contents of {path} (the configuration GRUB reads next)")
    state.events.append(file_event(path, "GRUB configuration", data))
    text = _decode(data, path)
    if state.depth >= 8:
        raise _Unsupported(f"{where}: configfile nested deeper than 8")
    state.depth += 1
    _run(text, path, state)
    state.depth -= 1


_UNSUPPORTED_KEYWORDS = ("for", "while", "until", "function", "case", "submenu")
_BLOCK_WORDS = ("if", "elif", "else", "fi", "then")
_TESTS = ("[", "test")
_MAX_IF_DEPTH = 32


def _run(text: str, name: str, state: _State) -> None:
    _run_lines(list(enumerate(text.split("\n"), start=1)), name, state)


def _run_lines(lines: list[tuple[int, str]], name: str, state: _State) -> None:
    i = 0
    while i < len(lines) and not state.booted:
        where = f"{name} line {lines[i][0]}"
        line = lines[i][1].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        if first == "if":
            branches, i = _if_block(lines, i - 1, where)
            if state.if_depth >= _MAX_IF_DEPTH:
                raise _Unsupported(f"{where}: if blocks nested deeper than {_MAX_IF_DEPTH}")
            state.if_depth += 1
            for condition, body in branches:
                if condition is None or _condition(condition, state, where):
                    _run_lines(body, name, state)
                    break
            state.if_depth -= 1
            continue
        if first in _UNSUPPORTED_KEYWORDS or first in _BLOCK_WORDS or first.endswith("()"):
            raise _Unsupported(
                f"{where}: {first!r} is not modelled (straight-line configurations and if blocks are)"
            )
        if "=" in first and first != "set":
            raise _Unsupported(f"{where}: {first!r} is not modelled (only straight-line configurations are)")
        if first == "menuentry":
            i = _menuentry(lines, i, line, state, where)
            continue
        _execute(_words(line, state.env, where), state, where)


def _menuentry(lines: list[tuple[int, str]], i: int, line: str, state: _State, where: str) -> int:
    """A menu entry whose first line is ``line``; its body from ``lines[i]``; the index after it."""
    if not line.endswith("{"):
        raise _Unsupported(f"{where}: a menuentry must open its block with '{{' on its own line")
    start = i
    while i < len(lines) and lines[i][1].strip() != "}":
        i += 1
    if i >= len(lines):
        raise _Unsupported(f"{where}: the menuentry block is not closed")
    body = lines[start:i]
    block = "{\n" + "\n".join(b for _n, b in body) + "\n}"
    words = _words(line[:-1], state.env, where)
    state.events.append(command_event(" ".join([*words, block])))
    if len(words) < 2:
        raise _Unsupported(f"{where}: a menuentry without a title")
    state.entries.append(_Entry(words[1], body))
    return i + 1


_IF = re.compile(r"^(if|elif)\s+(.+?)\s*;\s*then$")


def _if_block(
    lines: list[tuple[int, str]], i: int, where: str
) -> tuple[list[tuple[str | None, list[tuple[int, str]]]], int]:
    """The branches of the ``if`` block at ``lines[i]`` (condition text, None for ``else``; body
    lines) and the index after its ``fi``. ``then`` must close the condition's line, after ``;``."""

    def condition(text: str) -> str:
        m = _IF.match(text)
        if m is None:
            raise _Unsupported(f"{where}: only 'if CONDITION; then' on one line is modelled")
        return m.group(2)

    branches: list[tuple[str | None, list[tuple[int, str]]]] = []
    current: str | None = condition(lines[i][1].strip())
    body: list[tuple[int, str]] = []
    depth = 0
    for j in range(i + 1, len(lines)):
        text = lines[j][1].strip()
        first = text.split(None, 1)[0] if text else ""
        if first == "if":
            depth += 1
        elif first == "fi" and depth:
            depth -= 1
        elif first == "fi":
            return [*branches, (current, body)], j + 1
        elif depth == 0 and first in ("elif", "else"):
            branches.append((current, body))
            if first == "else" and text != "else":
                raise _Unsupported(f"{where}: 'else' must stand on its own line")
            current, body = (condition(text) if first == "elif" else None), []
            continue
        body.append(lines[j])
    raise _Unsupported(f"{where}: the if block is not closed with 'fi'")


def _condition(text: str, state: _State, where: str) -> bool:
    """Run an ``if``'s condition as GRUB does (measured like any command); only tests are modelled."""
    words = _words(text, state.env, where)
    if not words or words[0] not in _TESTS:
        raise _Unsupported(f"{where}: only '[' and 'test' conditions are modelled, not {text!r}")
    state.events.append(command_event(" ".join(words)))
    return _test(words, state, where)


def _test(words: list[str], state: _State, where: str) -> bool:
    operands = words[1:]
    if words[0] == "[":
        if not operands or operands[-1] != "]":
            raise _Unsupported(f"{where}: '[' without its closing ']'")
        operands = operands[:-1]
    probe = state.files.probe
    if probe is None:
        probe = _no_probe(where)
    root = state.env.get("root")
    try:
        value, opened = evaluate_test(operands, lambda p: probe(full_path(p, root)))
    except UnsupportedTest as exc:
        raise _Unsupported(f"{where}: {exc}") from None
    for path in opened:  # -s opens the file: GRUB's verifiers measure it
        _add(state, state.files.event(path, "GRUB file (test -s)", root))
    return value


def _no_probe(where: str) -> Callable[[str], tuple[str, int] | None]:
    def probe(path: str) -> tuple[str, int] | None:
        raise _Unsupported(f"{where}: a file test needs the disk's files (give --disk-image with them)")

    return probe


def _boot_default(state: _State, name: str) -> None:
    if state.booted or not state.entries:
        return
    default = state.env.get("default", "0")
    if not default.isdigit() or int(default) >= len(state.entries):
        raise _Unsupported(f"{name}: default={default!r} does not name a menu entry by its number")
    entry = state.entries[int(default)]
    state.events.append(command_event(f"setparams {entry.title}"))
    for lineno, raw in entry.body:
        where = f"{name} menu entry {entry.title!r} line {lineno}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        if first in _UNSUPPORTED_KEYWORDS or first in _BLOCK_WORDS or first == "menuentry":
            raise _Unsupported(f"{where}: {first!r} is not modelled (only straight-line entries are)")
        _execute(_words(line, state.env, where), state, where)


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; pvmkit follows only text configurations") from None


def follow_grub_cfg(
    data: bytes,
    path: str,
    *,
    files: GrubFiles,
    fs_devices: Mapping[str, str] | None = None,
    config_source: Callable[[str], bytes | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> GrubFollow:
    """The RTMR2 events GRUB logs while it reads ``data`` (the file ``path``, measured first) and
    boots its default entry. ``fs_devices`` maps filesystem UUIDs to GRUB devices (from the disk
    image's GPT); ``config_source`` gives the bytes of files ``configfile`` reads (a file given only
    by its digest in ``files.digests`` is measured and ends the follow: ``stopped_at``); ``env`` the
    variables already set (``root``, ``prefix``). InputError names the line pvmkit cannot follow."""
    devices = {k.lower(): v for k, v in (fs_devices or {}).items()}
    state = _State(files, devices, config_source or (lambda _p: None))
    state.env.update(env or {})
    try:
        state.depth = 1
        prefix = state.env.get("prefix")
        if prefix and files.source is not None:  # normal.c: the module lists, then the config
            for lst in _MODULE_LISTS:
                _add(state, files.event(f"{prefix}/{_PLATFORM}/{lst}", "GRUB module list", optional=True))
        state.events.append(file_event(path, "GRUB configuration", data))
        _run(_decode(data, path), path, state)
        if state.stopped_at is None:
            _boot_default(state, path)
    except _Unsupported as exc:
        raise InputError(f"GRUB configuration pvmkit cannot follow: {exc}") from None
    return GrubFollow(tuple(state.events), state.stopped_at)
