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

:func:`follow_grub_cfg` runs a configuration as GRUB's normal mode does, on the structure
:mod:`pvmkit.vendors.tdx.grub_script` parses (commands separated by newlines or ``;``, ``if`` blocks,
``function`` definitions, ``menuentry``/``submenu`` blocks):

* commands: ``set``, ``unset``, ``export``, ``NAME=VALUE`` (execute.c: an assignment when no command
  or function has that name), ``insmod``, ``echo``, ``terminal_input``/``terminal_output``, ``true``,
  ``false``, ``search`` by filesystem UUID (its status: whether a partition of the image has it),
  ``configfile`` (a new variable context with the exported variables; its own menu is booted) and
  ``source`` (the caller's context), both setting ``config_file``/``config_directory`` while the
  file runs (normal/main.c ``read_config_file``), ``linux``, ``initrd``, ``boot``, ``[``/``test``
  (:mod:`pvmkit.vendors.tdx.grub_test`), ``load_env`` (loadenv.c: the environment block is opened
  through the verifiers, so measured, then its variables set; :func:`parse_envblk`), ``save_env``
  (opened without the verifiers: nothing logged; the file is changed for the next boot, and a later
  ``load_env`` of it in the same boot is refused), ``loadfont`` (font.c: ``$prefix/fonts/NAME.pf2``
  for a bare name; measured when it opens; its status: the PFF2 header);
* ``if`` conditions are command lists run like any command (logged), the last one's status decides
  (execute.c ``grub_script_execute_cmdif``); ``!`` before a command is logged and inverts its status;
* a function definition is not logged; a call is logged, then each command of its body with
  ``$1``… set to the call's words;
* the menu: ``menuentry``/``submenu`` are logged with their block; after the configuration, the
  default entry boots (menu.c: ``default`` as a number, else an entry's title or ``--id``; unknown
  or out of range is entry 0; ``chosen`` set to its id) as after the menu's timeout:
  ``setparams`` with the entry's positional words, then its body; a submenu chosen by default is
  refused;
* normal mode's exported variables (``grub_platform=efi``, ``grub_cpu``, the ``feature_*`` flags
  grub-mkconfig's scripts test: :data:`NORMAL_MODE_ENV`) are set.

Anything else (loops, other commands such as ``hwmatch`` or ``fwsetup`` when they run, ``$?``,
unquoted wildcards, ``load_env -s``, ``insmod`` of a module GRUB's image does not embed, …) is refused
with the file, line and reason: pvmkit never predicts a value for a configuration it does not follow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pvmkit.errors import InputError
from pvmkit.plan import ByteData
from pvmkit.vendors.tdx.eventlog_plan import EV_IPL, DigestSource, PlannedEvent
from pvmkit.vendors.tdx.grub_script import Function, If, Node, ScriptError, parse_script
from pvmkit.vendors.tdx.grub_test import UnsupportedTest, evaluate_test

__all__ = [
    "NORMAL_MODE_ENV",
    "GrubFiles",
    "GrubFollow",
    "command_event",
    "file_event",
    "follow_grub_cfg",
    "full_path",
    "kernel_cmdline_event",
    "parse_envblk",
]

_MR = 3  # RTMR2
_PLATFORM = "x86_64-efi"
_MODULE_LISTS = ("command.lst", "fs.lst", "crypto.lst", "terminal.lst")
_EVENT_TEXT = DigestSource.EVENT_DATA  # the digest covers text that is in the event data


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
    #: the modules built into GRUB's image (``insmod`` of another is refused); None: not known
    #: (GRUB given as a digest), every ``insmod`` is taken for a built-in module
    modules: frozenset[str] | None = None

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

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))")
_BLANKS = re.compile(r"[ \t\n\r\v\f]+")  # grub_isspace: argv.c splits an unquoted value at these
_PLAIN = frozenset({"echo", "terminal_input", "terminal_output", "true"})
_TESTS = ("[", "test")
_MAX_DEPTH = 32
#: the variables GRUB's normal mode sets and exports (grub-core/normal/main.c, GRUB_MOD_INIT(normal):
#: grub_cpu, grub_platform and the feature_* list grub-mkconfig's scripts test)
NORMAL_MODE_ENV = {
    "grub_cpu": "x86_64",
    "grub_platform": "efi",
    **{
        f"feature_{name}": "y"
        for name in (
            "chainloader_bpb",
            "ntldr",
            "platform_search_hint",
            "default_font_path",
            "all_video_module",
            "menuentry_id",
            "menuentry_options",
            "200_final",
            "nativedisk_cmd",
            "timeout_style",
        )
    },
}
#: menuentry/submenu options that take a value (grub-core/commands/menuentry.c, options[])
_ENTRY_VALUE_OPTIONS = ("--class", "--users", "--hotkey", "--source", "--id")
_PFF2_HEADER = b"FILE\0\0\0\x04PFF2"  # grub-core/font/font.c: the first section of a PFF2 font


class _Unsupported(Exception):
    pass


@dataclass
class _Entry:
    title: str
    entry_id: str | None
    params: list[str]  #: the positional words setparams passes to the body ($1 is the title)
    body: str
    line: int
    submenu: bool


@dataclass
class _Context:
    """GRUB's variable context: ``configfile`` opens a new one holding the exported variables."""

    env: dict[str, str]
    exported: set[str]
    entries: list[_Entry] = field(default_factory=list)


@dataclass
class _State:
    files: GrubFiles
    fs_devices: Mapping[str, str]  #: filesystem UUID -> GRUB device ("hd0,gpt1")
    config_source: Callable[[str], bytes | None]
    ctx: _Context
    functions: dict[str, tuple[Function, str]] = field(default_factory=dict)  #: and its file
    source_name: str = "grub.cfg"  #: the file (or menu entry) whose lines run, for messages
    line: int = 0  #: the line of the command that runs
    params: list[str] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    saved: set[str] = field(default_factory=set)  #: files save_env wrote
    booted: bool = False
    stopped_at: str | None = None
    depth: int = 0
    condition: int = 0  #: > 0 while an if's condition runs

    @property
    def env(self) -> dict[str, str]:
        return self.ctx.env

    def lookup(self, name: str) -> str:
        if name.isdigit():
            n = int(name)
            return self.params[n - 1] if 0 < n <= len(self.params) else ""
        return self.ctx.env.get(name, "")


def _words(line: str, lookup: Callable[[str], str], where: str) -> list[str]:
    """GRUB's words (script/execute.c ``grub_script_arglist_to_argv``, script/argv.c): quotes removed
    (a quoted empty string is a word), ``$var`` expanded outside single quotes; an unquoted value is
    split at blanks (leading and trailing blanks make no word) and one that is empty adds nothing, so a
    word of only such values is dropped."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        cur: str | None = None  # argv.c: None until something is appended to the word
        while i < n and line[i] not in " \t":
            c = line[i]
            if c == "'":
                j = line.find("'", i + 1)
                if j < 0:
                    raise _Unsupported(f"{where}: unterminated single quote")
                cur, i = (cur or "") + line[i + 1 : j], j + 1
            elif c == '"':
                j = line.find('"', i + 1)
                if j < 0 or "\\" in line[i:j]:
                    raise _Unsupported(f"{where}: a double-quoted word pvmkit cannot split")
                text = _VAR.sub(lambda m: lookup(m.group(1) or m.group(2)), line[i + 1 : j])
                cur, i = (cur or "") + text, j + 1
            elif c == "\\" or c in ";|&<>`*?":
                raise _Unsupported(
                    f"{where}: {c!r} (escapes, lists, redirections and wildcards) is not modelled"
                )
            elif c == "$":
                m = _VAR.match(line, i)
                if m is None:
                    raise _Unsupported(f"{where}: a '$' pvmkit cannot expand")
                pieces = [w for w in _BLANKS.split(lookup(m.group(1) or m.group(2))) if w]
                for k, piece in enumerate(pieces):
                    if k:
                        assert cur is not None
                        words.append(cur)
                        cur = None
                    cur = (cur or "") + piece
                i = m.end()
            else:
                cur, i = (cur or "") + c, i + 1
        if cur is not None:
            words.append(cur)
    return words


def _search(words: list[str], state: _State, where: str) -> bool:
    if words[0] == "search.fs_uuid" and len(words) >= 3:
        fs_uuid, var = words[1], words[2]
    elif words[0] == "search" and "--fs-uuid" in words:
        sets = [w for w in words[1:] if w.startswith("--set=")]
        rest = [w for w in words[1:] if not w.startswith("-")]
        if len(sets) != 1 or len(rest) != 1:
            raise _Unsupported(f"{where}: only 'search --fs-uuid --set=VAR UUID' is modelled")
        fs_uuid, var = rest[0], sets[0][len("--set=") :]
    else:
        raise _Unsupported(f"{where}: only searches by filesystem UUID are modelled")
    device = state.fs_devices.get(fs_uuid.lower())
    if device is None:
        if state.condition:  # a failed search is the condition's answer
            return False
        raise InputError(f"{where}: no partition of the disk image has the filesystem UUID {fs_uuid}")
    state.env[var] = device
    return True


def _command(words: list[str], block: str | None, state: _State, where: str) -> bool:
    """Run one command line as GRUB does (execute.c: logged first, ``!`` inverts its status)."""
    logged = words if block is None else [*words, "{" + block + "}"]
    state.events.append(command_event(" ".join(logged)))
    invert = words[0] == "!"
    if invert:
        words = words[1:]
        if not words:
            raise _Unsupported(f"{where}: '!' without a command")
    return _run_command(words, block, state, where) != invert


def _run_command(words: list[str], block: str | None, state: _State, where: str) -> bool:
    name = words[0]
    if block is not None or name in ("menuentry", "submenu"):
        _define_entry(words, block, state, where)
    elif name == "set":
        _set(words, state, where)
    elif name == "unset":
        for key in words[1:]:
            state.env.pop(key, None)
    elif name == "export":
        state.ctx.exported.update(words[1:])
    elif name in ("search", "search.fs_uuid"):
        return _search(words, state, where)
    elif name in ("configfile", "source"):  # both measure the file, then run its commands
        if len(words) != 2:
            raise _Unsupported(f"{where}: {name} takes one file")
        _configfile(words[1], state, where, new_context=name == "configfile")
    elif name in _TESTS:
        return _test(words, state, where)
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
    elif name == "load_env":
        return _load_env(words, state, where)
    elif name == "save_env":
        return _save_env(words, state, where)
    elif name == "loadfont":
        return all(_loadfont(font, state, where) for font in words[1:])
    elif name == "insmod":
        _insmod(words, state, where)
    elif name == "false":
        return False
    elif name in state.functions:
        function, defined_in = state.functions[name]
        return _call(function, defined_in, words[1:], state, where)
    elif "=" in name and not name.startswith("="):  # execute.c: an assignment, when no command
        key, _, value = name.partition("=")
        _assign(state, key, value)
    elif name not in _PLAIN:
        raise _Unsupported(f"{where}: the command {name!r} is not modelled")
    return True


def _insmod(words: list[str], state: _State, where: str) -> None:
    """dl.c grub_dl_load: a built-in module is already loaded (nothing read); another is read from
    ``$prefix/x86_64-efi/NAME.mod`` with its dependencies, which pvmkit does not model."""
    modules = state.files.modules
    for name in words[1:]:
        if modules is not None and name not in modules:
            raise _Unsupported(
                f"{where}: insmod {name}: not built into GRUB's image, so GRUB would read "
                f"$prefix/{_PLATFORM}/{name}.mod and its dependencies (not modelled)"
            )


def _assign(state: _State, key: str, value: str) -> str:
    """``grub_env_set``: store ``value`` as GRUB does and return what was stored. GRUB's kernel hooks
    every write to ``root`` (grub-core/kern/main.c ``grub_env_write_root``): a value wrapped in parentheses
    loses them, so ``set root=(hd0,gpt2)`` stores ``hd0,gpt2`` and ``($root)`` names the device once."""
    if key == "root" and len(value) >= 2 and value[0] == "(" and value[-1] == ")":
        value = value[1:-1]
    state.env[key] = value
    return value


def _set(words: list[str], state: _State, where: str) -> None:
    for assignment in words[1:]:
        key, eq, value = assignment.partition("=")
        if not eq:
            raise _Unsupported(f"{where}: 'set' without '=' is not modelled")
        value = _assign(state, key, value)
        if key == "prefix":  # normal.c read_lists_hook
            for lst in _MODULE_LISTS:
                _add(
                    state, state.files.event(f"{value}/{_PLATFORM}/{lst}", "GRUB module list", optional=True)
                )


def _call(function: Function, defined_in: str, args: list[str], state: _State, where: str) -> bool:
    """A function call: its body's commands run (and are logged) with ``$1``… set to ``args``."""
    if state.depth >= _MAX_DEPTH:
        raise _Unsupported(f"{where}: calls nested deeper than {_MAX_DEPTH}")
    saved, state.params = (state.params, state.source_name), args
    state.source_name = defined_in
    state.depth += 1
    try:
        return _run_nodes(function.body, state)
    finally:
        state.depth -= 1
        state.params, state.source_name = saved


def _add(state: _State, event: PlannedEvent | None) -> None:
    if event is not None:
        state.events.append(event)


def _read(path: str, state: _State) -> bytes | None:
    """The bytes of a file GRUB opens (given contents first, then the disk), None when absent."""
    if path in state.files.contents:
        return state.files.contents[path]
    if state.files.source is not None and path not in state.files.digests:
        return state.files.source(full_path(path, state.env.get("root")))
    return None


def _read_known(path: str, state: _State, where: str, why: str) -> bytes | None:
    """:func:`_read` for a file whose contents decide what GRUB does next: refused when neither its
    contents nor the disk's files are at hand (None only for a file the disk does not hold)."""
    if path not in state.files.contents and (state.files.source is None or path in state.files.digests):
        raise InputError(f"{where}: give the contents of {path} ({why})")
    return _read(path, state)


def _env_file(words: list[str], state: _State, where: str) -> tuple[str, list[str]]:
    """``load_env``/``save_env``'s file (``-f FILE``, else ``$prefix/grubenv``) and other words."""
    rest, path = list(words[1:]), None
    if rest[:1] == ["-f"] and len(rest) >= 2:
        path, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("-"):
        raise _Unsupported(f"{where}: {words[0]} {rest[0]} is not modelled (only -f FILE is)")
    if path is None:
        prefix = state.env.get("prefix")
        if not prefix:
            raise _Unsupported(f"{where}: {words[0]} without -f needs $prefix")
        path = f"{prefix}/grubenv"
    return path, rest


def _load_env(words: list[str], state: _State, where: str) -> bool:
    """loadenv.c: the file is opened through the verifiers (measured), then its variables set (only
    the listed ones when names follow)."""
    path, names = _env_file(words, state, where)
    if full_path(path, state.env.get("root")) in state.saved:
        raise _Unsupported(f"{where}: {path} is read after save_env changed it (not modelled)")
    data = _read_known(path, state, where, "load_env sets its variables")
    if data is None:
        return False
    state.events.append(file_event(path, "GRUB environment block", data))
    variables = parse_envblk(data)
    if variables is None:
        return False
    for key, value in variables.items():
        if not names or key in names:
            _assign(state, key, value)
    return True


def _save_env(words: list[str], state: _State, where: str) -> bool:
    """save_env opens the file without the verifiers (nothing logged) and writes it in place: a later
    read of it in the same boot is refused (the next boot measures the changed file)."""
    path, names = _env_file(words, state, where)
    if not names:
        return False
    if _read_known(path, state, where, "save_env fails without it") is None:
        return False
    state.saved.add(full_path(path, state.env.get("root")))
    return True


_ENVBLK_SIGNATURE = b"# GRUB Environment Block\n"


def parse_envblk(data: bytes) -> dict[str, str] | None:
    """The variables of a GRUB environment block (grub-core/lib/envblk.c: the signature line, then
    ``NAME=VALUE`` lines, ``\\`` escaping the next byte, ``#`` lines as padding); None without the
    signature."""
    if not data.startswith(_ENVBLK_SIGNATURE):
        return None
    out: dict[str, str] = {}
    p, end = len(_ENVBLK_SIGNATURE), len(data)
    while p < end:
        if data[p] == ord("#"):
            nl = data.find(b"\n", p)
            p = end if nl < 0 else nl + 1
            continue
        eq = data.find(b"=", p)
        if eq < 0:
            break
        value, q = bytearray(), eq + 1
        while q < end and data[q] != ord("\n"):
            if data[q] == ord("\\") and q + 1 < end:
                q += 1
            value.append(data[q])
            q += 1
        if q >= end:
            break
        out[data[p:eq].decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        p = q + 1
    return out


def _loadfont(font: str, state: _State, where: str) -> bool:
    """font.c grub_font_load: a bare name is ``$prefix/fonts/NAME.pf2``; the file is opened (so
    measured), then it must start with a PFF2 ``FILE`` section."""
    path = font if font.startswith(("(", "/")) else f"{state.env.get('prefix', '')}/fonts/{font}.pf2"
    data = _read_known(path, state, where, "loadfont's success depends on it")
    if data is None:
        return False
    state.events.append(file_event(path, "GRUB font", data))
    return data.startswith(_PFF2_HEADER)


def _configfile(path: str, state: _State, where: str, new_context: bool = True) -> None:
    data = state.config_source(path)
    if data is None:
        data = _read(path, state)
    if data is None:
        if path in state.files.digests:  # digests-only: measured, not followed
            _add(state, state.files.event(path, "GRUB configuration"))
            state.stopped_at = path
            state.booted = True
            return
        raise InputError(f"{where}: give the contents of {path} (the configuration GRUB reads next)")
    state.events.append(file_event(path, "GRUB configuration", data))
    if state.depth >= _MAX_DEPTH:
        raise _Unsupported(f"{where}: configuration files nested deeper than {_MAX_DEPTH}")
    state.depth += 1
    _read_config(data, path, state, new_context)
    state.depth -= 1


def _read_config(data: bytes, path: str, state: _State, new_context: bool) -> None:
    """normal/main.c read_config_file (config_file, config_directory set while the file runs);
    ``configfile`` runs it in a new context holding the exported variables, and then shows (boots)
    its own menu; ``source`` runs it in the caller's."""
    outer = state.ctx
    if new_context:
        env = {k: v for k, v in outer.env.items() if k in outer.exported}
        state.ctx = _Context(env, set(outer.exported))
    saved = {k: state.env.get(k) for k in ("config_file", "config_directory")}
    full = full_path(path, state.env.get("root"))
    name, state.source_name = state.source_name, path
    state.env["config_file"] = full
    state.env["config_directory"] = full.rsplit("/", 1)[0] if "/" in full else full
    state.ctx.exported.update(("config_file", "config_directory"))
    _run_nodes(_parse(_decode(data, path), path), state)
    if state.booted:
        return
    state.source_name = name
    for key, value in saved.items():
        if value is None:
            state.env.pop(key, None)
        else:
            state.env[key] = value
    if new_context:
        if state.ctx.entries and state.stopped_at is None:
            _boot_default(state, path)
            return
        state.ctx = outer


def _parse(text: str, name: str, first_line: int = 1) -> tuple[Node, ...]:
    try:
        return parse_script(text, name, first_line)
    except ScriptError as exc:
        raise _Unsupported(str(exc)) from None


def _run_nodes(nodes: tuple[Node, ...], state: _State) -> bool:
    """Run commands in order; the status of the last one run (True for none)."""
    status = True
    for node in nodes:
        if state.booted:
            break
        status = _run_node(node, state)
    return status


def _run_node(node: Node, state: _State) -> bool:
    if isinstance(node, Function):
        state.functions[node.name] = (node, state.source_name)
        return True
    if isinstance(node, If):  # execute.c grub_script_execute_cmdif
        if state.depth >= _MAX_DEPTH:
            raise _Unsupported(f"line {node.line}: blocks nested deeper than {_MAX_DEPTH}")
        state.depth += 1
        try:
            for condition, body in node.branches:
                state.condition += 1
                try:
                    taken = _run_nodes(condition, state)
                finally:
                    state.condition -= 1
                if state.booted:
                    return True
                if taken:
                    return _run_nodes(body, state)
            return _run_nodes(node.otherwise, state)
        finally:
            state.depth -= 1
    state.line = node.line
    where = f"{state.source_name} line {node.line}"
    words = _words(node.text, state.lookup, where)
    if not words:
        return True
    return _command(words, node.block, state, where)


def _define_entry(words: list[str], block: str | None, state: _State, where: str) -> None:
    """menuentry.c: the options, the positional words (the first is the title) and the block."""
    if block is None:
        raise _Unsupported(f"{where}: {words[0]} without a '{{' block is not modelled")
    params: list[str] = []
    entry_id: str | None = None
    i = 1
    while i < len(words):
        word = words[i]
        option, eq, value = word.partition("=")
        if option in _ENTRY_VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(words):
                    raise _Unsupported(f"{where}: {option} without its value")
                value, i = words[i + 1], i + 1
            if option == "--id":
                entry_id = value
        elif word == "--unrestricted":
            pass
        elif word.startswith("-") and word != "-":
            raise _Unsupported(f"{where}: the {words[0]} option {word!r} is not modelled")
        else:
            params.append(word)
        i += 1
    if not params:
        raise _Unsupported(f"{where}: a {words[0]} without a title")
    state.ctx.entries.append(_Entry(params[0], entry_id, params, block, state.line, words[0] == "submenu"))


def _default_index(value: str | None, entries: list[_Entry], where: str) -> int:
    """menu.c get_entry_number and run_menu: a number, else a title or id; out of range or unknown
    is entry 0."""
    if value is None:
        return 0
    if value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0")):
        if any(value in (e.title, e.entry_id) for e in entries):  # distributions differ on which wins
            raise _Unsupported(f"{where}: default={value!r} is a number and an entry's title or id")
        n = int(value)
        return n if n < len(entries) else 0
    if not value or not (value[0].isalpha() or value[0] == "_") or ">" in value:
        raise _Unsupported(f"{where}: default={value!r} is not modelled (a number, title or id is)")
    for i, entry in enumerate(entries):
        if value in (entry.title, entry.entry_id):
            return i
    return 0


def _boot_default(state: _State, name: str) -> None:
    """normal mode boots the default entry (after the timeout): ``setparams`` with the entry's
    positional words, then its body (menu.c grub_menu_execute_entry; the implicit ``boot`` after it
    is not a script command and is not logged)."""
    entries = state.ctx.entries
    entry = entries[_default_index(state.env.get("default"), entries, name)]
    if entry.submenu:
        raise _Unsupported(f"{name}: the default entry {entry.title!r} is a submenu (not modelled)")
    where = f"{name} menu entry {entry.title!r}"
    # menu.c grub_menu_execute_entry: chosen is the entry's id (its title without --id), '>' doubled
    state.env["chosen"] = (entry.entry_id or entry.title).replace(">", ">>")
    state.ctx.exported.add("chosen")
    if state.env.get("timeout_style") in ("countdown", "hidden"):  # run_menu unsets them
        state.env.pop("timeout", None)
        state.env.pop("timeout_style", None)
    state.events.append(command_event(" ".join(["setparams", *entry.params])))
    state.params, state.source_name = list(entry.params), where
    _run_nodes(_parse(entry.body, where, entry.line), state)
    state.booted = True


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
    variables already set (``root``, ``prefix``; normal mode's :data:`NORMAL_MODE_ENV` are added).
    InputError names the line pvmkit cannot follow."""
    devices = {k.lower(): v for k, v in (fs_devices or {}).items()}
    start = {**NORMAL_MODE_ENV, **(env or {})}
    exported = {"root", "prefix", *NORMAL_MODE_ENV}
    state = _State(files, devices, config_source or (lambda _p: None), _Context(start, exported))
    try:
        state.depth = 1
        prefix = state.env.get("prefix")
        if prefix and files.source is not None:  # normal.c: the module lists, then the config
            for lst in _MODULE_LISTS:
                _add(state, files.event(f"{prefix}/{_PLATFORM}/{lst}", "GRUB module list", optional=True))
        state.events.append(file_event(path, "GRUB configuration", data))
        _read_config(data, path, state, new_context=False)
        if not state.booted and state.ctx.entries and state.stopped_at is None:
            _boot_default(state, path)
    except _Unsupported as exc:
        raise InputError(f"GRUB configuration pvmkit cannot follow: {exc}") from None
    return GrubFollow(tuple(state.events), state.stopped_at)
