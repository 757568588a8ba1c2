"""pvmkit._coldstart.choice.Choice behaves like enum.Enum (Python 3.11) for every choice type pvmkit defines.

Each choice type is held against a twin made with the standard library's ``enum`` from the same
members (``str``-mixed or plain, like the original): the standard library is the oracle for repr,
str, format, lookups, errors, containment, hashing, ordering, pickling and copying.
"""

from __future__ import annotations

import copy
import enum
import json
import pickle
import warnings

import pytest

from pvmkit import features
from pvmkit._coldstart.choice import Choice
from pvmkit.launch import LaunchState
from pvmkit.plan import InitPath, PageKind, PageOrder, Vendor, Vmm

CHOICES: list[type] = [Vendor, PageKind, InitPath, Vmm, PageOrder, LaunchState]


def twin(cls: type) -> type[enum.Enum]:
    members = [(m.name, m.value) for m in cls]  # type: ignore[attr-defined]
    if issubclass(cls, str):
        return enum.Enum(cls.__name__, members, type=str)  # type: ignore[return-value]
    return enum.Enum(cls.__name__, members)


def outcome(fn):  # type: ignore[no-untyped-def]
    """What calling ``fn`` gives: its result, or the exception's type and message."""
    try:
        return ("ok", fn())
    except Exception as exc:  # the exception itself is what is compared
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("cls", CHOICES, ids=lambda c: c.__name__)
def test_every_choice_behaves_like_its_enum_twin(cls: type) -> None:
    ref = twin(cls)
    assert not issubclass(cls, enum.Enum) and issubclass(cls, Choice)  # really the light-weight type
    assert [(m.name, m.value) for m in cls] == [(m.name, m.value) for m in ref]  # type: ignore[attr-defined]
    assert len(cls) == len(ref) and bool(cls) and repr(cls) == repr(ref)  # type: ignore[arg-type]
    assert [m.name for m in reversed(cls)] == [m.name for m in reversed(ref)]  # type: ignore[call-overload]
    assert list(cls.__members__) == list(ref.__members__)  # type: ignore[attr-defined]
    for ours, theirs in zip(cls, ref, strict=True):  # type: ignore[call-overload]
        assert repr(ours) == repr(theirs)
        assert str(ours) == str(theirs) and f"{ours}" == f"{theirs}" and f"{ours:>30}" == f"{theirs:>30}"
        assert "%s" % ours == "%s" % theirs  # noqa: UP031 - %-formatting is what is being compared
        assert cls(ours.value) is ours and cls(ours) is ours and cls[ours.name] is ours
        assert getattr(cls, ours.name) is ours and type(ours) is cls
        assert (ours == ours.value) == (theirs == theirs.value)
        assert (hash(ours) == hash(ours.value)) == (hash(theirs) == hash(theirs.value))
        assert pickle.loads(pickle.dumps(ours)) is ours
        assert copy.copy(ours) is ours and copy.deepcopy(ours) is ours
        assert (ours in cls) is (theirs in ref) is True
        assert outcome(lambda o=ours: setattr(o, "name", "X"))[0] == "AttributeError"  # type: ignore[misc]
        assert outcome(lambda o=ours: setattr(cls, o.name, "X")) == outcome(
            lambda t=theirs: setattr(ref, t.name, "X")
        )
    for bad in ("no-such-value", 12345, None):
        assert outcome(lambda b=bad: cls(b)) == outcome(lambda b=bad: ref(b))  # type: ignore[misc]
    assert outcome(lambda: cls["NO_SUCH_NAME"]) == outcome(lambda: ref["NO_SUCH_NAME"])  # type: ignore[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.11 warns that 3.12 will change this
        expected = outcome(lambda: "no-such-value" in ref)
    got = outcome(lambda: "no-such-value" in cls)  # type: ignore[operator]
    assert got[0] == expected[0] == "TypeError"  # the message names ChoiceType rather than EnumType


def test_str_choices_are_strings_and_sort_like_their_twins() -> None:
    for cls in (Vendor, PageKind, InitPath, Vmm, PageOrder):
        ref = twin(cls)
        assert [m.name for m in sorted(cls)] == [m.name for m in sorted(ref)]  # type: ignore[type-var]
        assert json.dumps(list(cls)) == json.dumps(list(ref))
    assert Vendor.SNP == "snp" and Vendor("snp") is Vendor.SNP and Vendor.SNP.upper() == "SNP"
    assert LaunchState.NEW != "new" and LaunchState.NEW is LaunchState("new")


def test_members_keep_their_methods_and_properties() -> None:
    assert [v.value for v in Vendor if v.has_vmsa] == ["sev-es", "snp", "sw"]
    assert [v.value for v in Vendor if v.snp_like] == ["snp", "sw"]
    assert [k.value for k in PageKind if k.measured_contents] == ["normal", "vmsa"]


def test_a_class_body_new_builds_members_from_tuples_as_enum_does() -> None:
    """Vendor's registry lines (``SNP = "snp", "amd"``): the same class body made with enum.Enum is
    the oracle for the members' values, extra attributes, lookups and pickling."""

    def body(base: type) -> type:
        class Registry(str, base):  # type: ignore[valid-type,misc]
            __new__ = Vendor.__dict__["__new__"]
            A = "a", "first"
            B = "b", "second"

        return Registry

    ours, theirs = body(Choice), body(enum.Enum)
    assert [(m.name, m.value, m.home) for m in ours] == [(m.name, m.value, m.home) for m in theirs]  # type: ignore[attr-defined]
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]  # type: ignore[attr-defined]
    assert ours("b") is ours.B and theirs("b") is theirs.B  # type: ignore[attr-defined]
    assert outcome(lambda: ours("first")) == outcome(lambda: theirs("first"))
    assert [m.home for m in Vendor] == ["amd", "amd", "amd", "tdx", "sw", "cca"]


def test_definitions_enums_refuse_are_refused() -> None:
    with pytest.raises(TypeError, match="already names A"):

        class Duplicate(str, Choice):
            A = "a"
            B = "a"

    with pytest.raises(TypeError, match="is not a str"):

        class WrongType(str, Choice):
            A = 1

    with pytest.raises(TypeError, match="cannot extend Vendor"):

        class MoreVendors(Vendor):  # type: ignore[misc]
            OTHER = "other"

    class Empty(Choice):
        pass

    class Extended(Empty):
        X = 1

    assert list(Extended) == [Extended.X] and Extended(1) is Extended.X


def test_sev_feature_is_an_int_flag_made_from_the_plain_table() -> None:
    from pvmkit import SevFeature

    assert features.SevFeature is SevFeature and issubclass(SevFeature, enum.IntFlag)
    assert {f.name: f.value for f in SevFeature} == features.SEV_FEATURE_BITS
    assert SevFeature.__module__ == "pvmkit.features"
    assert pickle.loads(pickle.dumps(SevFeature.SNP_ACTIVE | SevFeature.DEBUG_SWAP)) == 0x21
    names = ["SNP_ACTIVE", "DEBUG_SWAP", "SECURE_TSC", "bit11"]
    assert features.decode_sev_features(0x221 | 1 << 11) == names
    assert features.parse_sev_features("snp-active|debug_swap") == 0x21
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        features.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
