"""GRUB's ``[`` (pvmkit.vendors.tdx.grub_test) on the conditions of the real Ubuntu TD log: each
logged ``grub_cmd: [ … ]`` is evaluated, and the log's next events say which way GRUB went (the
then-branch's commands follow a true condition, the ``elif``/``else`` ones a false one), so the
expected values come from the log, not from pvmkit. The disk state is what the log shows: grubenv
exists and is read (event 40), custom.cfg does not (no file event after events 72-73)."""

from __future__ import annotations

import pytest

from pvmkit.vendors.tdx.grub_test import UnsupportedTest, evaluate_test
from support.gpt_disk import ubuntu_log

GRUBENV = "(hd0,gpt1)/boot/grub/grubenv"

#: event number -> (GRUB's result, why the log says so)
LOGGED = {
    39: (True, "event 40 reads grubenv (-s opens it), 41 is the then-branch's 'set have_grubenv=true'"),
    44: (False, "45 is the elif's condition: the then-branch ran no command"),
    45: (False, "46 is the next if's condition: the elif's branch ran no command"),
    46: (False, "47 'set default=0' is the else-branch (00_header's 'if [ \"${next_entry}\" ]')"),
    48: (True, "49 'menuentry_id_option=--id' is the then-branch"),
    72: (False, "73 is the elif's condition (41_custom)"),
    73: (False, "74 'setparams Ubuntu': nothing sourced"),
}


def _probe(path: str) -> tuple[str, int] | None:
    return ("file", 1024) if path == GRUBENV else None


@pytest.mark.parametrize("number", sorted(LOGGED))
def test_logged_conditions_evaluate_as_grub_did(number: int) -> None:
    text = ubuntu_log().events[number - 1].event_data.rstrip(b"\0").decode()
    words = text.removeprefix("grub_cmd: ").split(" ")  # GRUB joins the words with single spaces
    assert words[0] == "[" and words[-1] == "]", text
    value, opened = evaluate_test(words[1:-1], _probe)
    assert value is LOGGED[number][0], LOGGED[number][1]
    assert opened == ([GRUBENV] if number == 39 else [])


def test_operators_and_refusals() -> None:
    def probe(path: str) -> tuple[str, int] | None:
        return {"/d": ("dir", 0), "/f": ("file", 3), "/e": ("file", 0)}.get(path)

    assert evaluate_test(["-d", "/d", "-a", "-f", "/f"], probe) == (True, [])
    assert evaluate_test(["-f", "/d", "-o", "!", "-e", "/x"], probe) == (True, [])
    assert evaluate_test(["-s", "/e"], probe) == (False, ["/e"])
    assert evaluate_test(["a", "!=", "b", "-a", "-z", ""], probe) == (True, [])
    for words in (["1", "-lt", "2"], ["(", "a", ")"]):
        with pytest.raises(UnsupportedTest):
            evaluate_test(words, probe)
