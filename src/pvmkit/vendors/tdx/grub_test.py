"""GRUB's ``test`` / ``[`` command (``grub-core/commands/test.c``, ``test_parse``), for the conditions
of the ``if`` statements pvmkit follows (:mod:`pvmkit.vendors.tdx.grub`).

Words are read left to right as GRUB does: a three-word test first (``S1 = S2``, ``S1 == S2``,
``S1 != S2``), then a two-word one (``-z S``, ``-n S``; file tests ``-e`` exists, ``-f`` exists and is
not a directory, ``-d`` is a directory, ``-s`` opens the file and has a size above zero), else one word
(true when not empty); ``!`` inverts the next term, ``-a`` joins terms, ``-o`` starts a new
alternative (``or = or || and; and = 1``: ``-a`` binds tighter). ``-s`` opens the file, so GRUB's
verifiers measure it (the real Ubuntu TD log's events 39-40): :func:`evaluate_test` returns the
paths it opened. Numeric and ordering comparisons, ``-nt``/``-ot`` and parentheses raise
:class:`UnsupportedTest`: pvmkit never guesses which branch GRUB takes.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FileProbe", "UnsupportedTest", "evaluate_test"]

#: ``probe(path)``: ``("file", size)``, ``("dir", 0)``, or None when nothing is at ``path``
FileProbe = Callable[[str], "tuple[str, int] | None"]

_EQUALITY = ("=", "==", "!=")
_NOT_MODELLED = ("<", "<=", ">", ">=", "-eq", "-ge", "-gt", "-le", "-lt", "-ne", "-pgt", "-plt", "-nt", "-ot")
_TWO_WORD = ("-z", "-n", "-e", "-f", "-d", "-s")


class UnsupportedTest(Exception):
    """A test expression pvmkit does not evaluate."""


def _two_word(op: str, arg: str, probe: FileProbe, opened: list[str]) -> bool:
    if op == "-z":
        return arg == ""
    if op == "-n":
        return arg != ""
    found = probe(arg)
    if op == "-e":
        return found is not None
    if op == "-f":
        return found is not None and found[0] == "file"
    if op == "-d":
        return found is not None and found[0] == "dir"
    if found is not None and found[0] == "file":  # -s: grub_file_open, then its size
        opened.append(arg)
        return found[1] > 0
    return False


def evaluate_test(words: list[str], probe: FileProbe) -> tuple[bool, list[str]]:
    """The result of ``[ WORDS ]`` (``words`` without the brackets) or ``test WORDS``, and the files
    ``-s`` opened (in order)."""
    result_or, result_and, invert = False, True, False
    opened: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if i + 2 < len(words) and words[i + 1] in _EQUALITY:
            value, i = (word == words[i + 2]) != (words[i + 1] == "!="), i + 3
        elif i + 2 < len(words) and words[i + 1] in _NOT_MODELLED:
            raise UnsupportedTest(f"the test operator {words[i + 1]!r} is not modelled")
        elif i + 1 < len(words) and word in _TWO_WORD:
            value, i = _two_word(word, words[i + 1], probe, opened), i + 2
        elif word == "!":
            invert, i = not invert, i + 1
            continue
        elif word == "-a":
            i += 1
            continue
        elif word == "-o":
            result_or, result_and, i = result_or or result_and, True, i + 1
            continue
        elif word in ("(", ")"):
            raise UnsupportedTest("parentheses in a test are not modelled")
        else:
            value, i = word != "", i + 1
        result_and = result_and and (value != invert)
        invert = False
    return result_or or result_and, opened
