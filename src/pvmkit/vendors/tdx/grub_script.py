"""GRUB script's structure (``grub-core/script/parser.y``, ``yylex.l``), as far as pvmkit follows it.

A script is a list of commands separated by newlines or ``;``; ``#`` at the start of a word begins a
comment. Three compound forms are parsed: ``if LIST; then LIST [elif LIST; then LIST]… [else LIST]
fi`` (the condition is a command list, its last command's status decides), ``function NAME { LIST }``
(a definition: nothing runs, nothing is logged) and a command whose last word is ``{`` (``menuentry``
and ``submenu``): its block is kept as source text, from after ``{`` to the matching ``}``, because
GRUB logs it unexpanded and runs it only when the entry boots. Words keep their source text (quotes
and ``$`` references): they are expanded when the command runs, with the variables of that moment.
Loops (``for``, ``while``, ``until``) and anything else raise :class:`ScriptError` naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Command", "Function", "If", "Node", "ScriptError", "parse_script"]

#: commands that may end with a ``{ … }`` block (``grub-core/commands/menuentry.c``)
BLOCK_COMMANDS = ("menuentry", "submenu")
_NOT_MODELLED = ("for", "while", "until", "case", "do", "done", "select", "{")


class ScriptError(Exception):
    """A script pvmkit does not parse; the message names the file and line."""


@dataclass(frozen=True)
class Command:
    text: str  #: the words' source text, joined by single spaces (without the block)
    line: int
    block: str | None = None  #: a menuentry/submenu block's source text between its braces


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[tuple[Node, ...], tuple[Node, ...]], ...]  #: (condition, body) pairs
    otherwise: tuple[Node, ...]
    line: int


@dataclass(frozen=True)
class Function:
    name: str
    body: tuple[Node, ...]
    line: int


Node = Command | If | Function


class _Parser:
    def __init__(self, text: str, name: str, first_line: int) -> None:
        self.s, self.i, self.n, self.line, self.name = text, 0, len(text), first_line, name

    def error(self, message: str, line: int | None = None) -> ScriptError:
        return ScriptError(f"{self.name} line {self.line if line is None else line}: {message}")

    def blanks(self) -> None:
        while self.i < self.n and self.s[self.i] in " \t\r":
            self.i += 1

    def comment(self) -> None:
        end = self.s.find("\n", self.i)
        self.i = self.n if end < 0 else end

    def separators(self) -> None:
        while True:
            self.blanks()
            if self.i >= self.n:
                return
            c = self.s[self.i]
            if c == "#":
                self.comment()
            elif c in ";\n":
                self.line += c == "\n"
                self.i += 1
            else:
                return

    def word(self) -> str:
        """The next word's source text (quotes kept); ``\\`` keeps the next character in the word."""
        start = self.i
        while self.i < self.n and self.s[self.i] not in " \t\r;\n":
            c = self.s[self.i]
            if c in "'\"":
                j = self.i + 1
                while j < self.n and self.s[j] != c:
                    j += 2 if c == '"' and self.s[j] == "\\" else 1
                if j >= self.n:
                    raise self.error("unterminated quote")
                self.line += self.s.count("\n", self.i, j)
                self.i = j + 1
            else:
                self.i += 2 if c == "\\" else 1
        return self.s[start : self.i]

    def at_command_end(self) -> bool:
        return self.i >= self.n or self.s[self.i] in ";\n#"

    def block(self, line: int) -> str:
        """The source text after a ``{`` word up to its matching ``}`` word (consumed)."""
        start, depth = self.i, 1
        while True:
            self.separators()
            if self.i >= self.n:
                raise self.error("the '{' block is not closed with '}'", line)
            at = self.i
            w = self.word()
            if w == "{":
                depth += 1
            elif w == "}":
                depth -= 1
                if depth == 0:
                    return self.s[start:at]
            self.blanks()

    def command(self, line: int) -> Command:
        words: list[str] = []
        while True:
            self.blanks()
            if self.at_command_end():
                return Command(" ".join(words), line)
            w = self.word()
            if w == "{":
                if not words or words[0] not in BLOCK_COMMANDS:
                    raise self.error("a '{' block is modelled only for menuentry and submenu")
                body = self.block(line)
                self.blanks()
                if not self.at_command_end():
                    raise self.error("a command after a block's '}' on the same line is not modelled")
                return Command(" ".join(words), line, body)
            words.append(w)

    def statements(self, ends: tuple[str, ...]) -> tuple[tuple[Node, ...], str | None]:
        """Commands up to one of the keywords ``ends`` (consumed, returned) or the end of the text."""
        nodes: list[Node] = []
        while True:
            self.separators()
            if self.i >= self.n:
                if ends:
                    raise self.error(f"the script ends before {' or '.join(repr(e) for e in ends)}")
                return tuple(nodes), None
            line, at = self.line, self.i
            w = self.word()
            if w in ends:
                return tuple(nodes), w
            if w == "if":
                nodes.append(self.if_block(line))
            elif w == "function":
                nodes.append(self.function(line))
            elif w in _NOT_MODELLED or w in ("then", "elif", "else", "fi", "}") or w.endswith("()"):
                raise self.error(f"{w!r} is not modelled (commands, if blocks and functions are)")
            else:
                self.i = at
                nodes.append(self.command(line))

    def if_block(self, line: int) -> If:
        branches: list[tuple[tuple[Node, ...], tuple[Node, ...]]] = []
        otherwise: tuple[Node, ...] = ()
        keyword: str | None = "if"
        while keyword in ("if", "elif"):
            condition, _ = self.statements(("then",))
            if not condition:
                raise self.error(f"an empty condition after {keyword!r}", line)
            body, keyword = self.statements(("elif", "else", "fi"))
            branches.append((condition, body))
        if keyword == "else":
            otherwise, _ = self.statements(("fi",))
        return If(tuple(branches), otherwise, line)

    def function(self, line: int) -> Function:
        self.blanks()
        name = self.word()
        if not name or not all(c.isalnum() or c in "_-." for c in name):
            raise self.error(f"a function name pvmkit does not model: {name!r}")
        self.separators()
        if self.word() != "{":
            raise self.error(f"function {name}: its body must open with '{{'")
        body, _ = self.statements(("}",))
        return Function(name, body, line)


def parse_script(text: str, name: str, first_line: int = 1) -> tuple[Node, ...]:
    """The commands of ``text`` (named ``name`` in errors; its first line numbered ``first_line``)."""
    nodes, _ = _Parser(text, name, first_line).statements(())
    return nodes
