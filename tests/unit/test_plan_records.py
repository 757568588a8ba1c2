"""The plan's op records are hand-written (no dataclasses import at start-up) but must behave exactly
like the ``@dataclass(frozen=True)`` classes they replaced: fields, defaults, repr, ==, hash,
immutability, and ``dataclasses.replace/fields/asdict/is_dataclass``."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from pvmkit.plan import (
    AddMemory,
    AddVcpu,
    CcaParams,
    Finalize,
    Init,
    InitPath,
    LaunchPlan,
    PageKind,
    PageOrder,
    TdxParams,
    Vendor,
    Vmm,
)

M = dataclasses.MISSING
#: class → [(field, annotation, default, repr)], as the dataclass declarations had them
FIELDS = {
    TdxParams: [
        ("xfam", "int", 0, True),
        ("mrconfigid", "bytes", bytes(48), True),
        ("mrowner", "bytes", bytes(48), True),
        ("mrownerconfig", "bytes", bytes(48), True),
        ("order", "PageOrder", PageOrder.INTERLEAVED, True),
    ],
    Init: [
        ("vendor", "Vendor", M, True),
        ("vmsa_features", "int", 0, True),
        ("policy", "int", 0, True),
        ("init_path", "InitPath", InitPath.INIT2, True),
        ("vmm", "Vmm", Vmm.QEMU, True),
        ("vm_type", "int | None", None, True),
        ("ghcb_version", "int", 0, True),
        ("seed", "bytes | None", None, True),
        ("tdx", "TdxParams | None", None, True),
        ("cca", "CcaParams | None", None, True),
    ],
    CcaParams: [
        ("ipa_bits", "int", M, True),
        ("num_bps", "int", M, True),
        ("num_wps", "int", M, True),
        ("sve_vl", "int | None", None, True),
        ("pmu_num_ctrs", "int | None", None, True),
        ("lpa2", "bool", False, True),
        ("hash_algo", "str", "sha256", True),
        ("rmm", "str", "1.0", True),
        ("ripas", "tuple[tuple[int, int], ...]", (), True),
        ("ripas_first", "bool", False, True),
        ("rpv", "bytes", bytes(64), True),
    ],
    AddMemory: [
        ("gpa", "int", M, True),
        ("size", "int", M, True),
        ("kind", "PageKind", PageKind.NORMAL, True),
        ("data", "ByteData | None", None, False),
        ("page_digests", "tuple[bytes, ...] | None", None, False),
        ("label", "str", "", True),
        ("data_span", "tuple[int, int] | None", None, True),
    ],
    AddVcpu: [("index", "int", M, True), ("state", "bytes", b"", False), ("rcx", "int", 0, True)],
    Finalize: [
        ("id_block", "bytes | None", None, False),
        ("id_auth", "bytes | None", None, False),
        ("host_data", "bytes", bytes(32), True),
        ("auth_key_en", "bool", False, True),
    ],
    LaunchPlan: [("ops", "tuple[Op, ...]", M, True)],
}

SAMPLES = [
    Init(Vendor.SNP, 0x20, policy=0x30000, seed=bytes(48)),
    Init(Vendor.TDX, tdx=TdxParams(xfam=3)),
    AddMemory(0x1000, 0x2000, PageKind.ZERO, data=b"x" * 0x2000, label="l", data_span=(0, 16)),
    AddVcpu(1, b"s" * 4096, 7),
    Finalize(host_data=b"h" * 32),
    TdxParams(order=PageOrder.TWO_PASS),
    CcaParams(40, 6, 4, sve_vl=512, ripas=((0x80000000, 0x80200000),)),
    Init(Vendor.CCA, cca=CcaParams(48, 2, 2)),
    LaunchPlan((Init(Vendor.SEV), Finalize())),
]


@pytest.mark.parametrize("cls", list(FIELDS))
def test_fields_are_the_dataclass_fields(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    got = [(f.name, f.type, f.default, f.repr) for f in dataclasses.fields(cls)]
    assert got == FIELDS[cls]
    assert cls.__match_args__ == tuple(name for name, *_ in FIELDS[cls])
    assert cls.__dataclass_params__.frozen and cls.__dataclass_params__.eq


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_behaves_like_a_frozen_dataclass(obj: object) -> None:
    cls = type(obj)
    names = [name for name, *_ in FIELDS[cls]]
    shown = ", ".join(f"{n}={getattr(obj, n)!r}" for n, _t, _d, r in FIELDS[cls] if r)
    assert repr(obj) == f"{cls.__qualname__}({shown})"
    twin = dataclasses.replace(obj)
    assert twin == obj and twin is not obj and hash(twin) == hash(obj)
    assert hash(obj) == hash(tuple(getattr(obj, n) for n in names))
    assert obj != dataclasses.replace(obj, **{names[-1]: object()})
    assert (obj == (1,)) is False and obj.__eq__((1,)) is NotImplemented
    assert dataclasses.asdict(obj).keys() == set(names)
    with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot assign to field '{names[0]}'"):
        setattr(obj, names[0], 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(obj, names[0])
    assert pickle.loads(pickle.dumps(obj)) == obj and copy.deepcopy(obj) == obj


def test_constructor_checks_and_keywords() -> None:
    from pvmkit.errors import LayoutError

    with pytest.raises(LayoutError, match="TDX mrowner must be 48 bytes"):
        TdxParams(mrowner=b"1")
    with pytest.raises(TypeError):
        Init()  # type: ignore[call-arg]
    assert AddMemory(gpa=0, size=4096) == AddMemory(0, 4096, PageKind.NORMAL, None, None, "", None)


def test_amd_launch_is_a_frozen_record_too() -> None:
    from pvmkit.formats.ovmf import parse_ovmf
    from pvmkit.vendors.amd.builder import AmdLaunch

    fields = [(f.name, f.type, f.default, f.repr) for f in dataclasses.fields(AmdLaunch)]
    assert fields == [
        ("vendor", "Vendor", M, True),
        ("firmware", "Ovmf", M, True),
        ("vcpus", "int", 1, True),
        ("vcpu_sig", "int", 0, True),
        ("vmm", "Vmm", Vmm.QEMU, True),
        ("vmsa_features", "int", 0, True),
        ("init_path", "InitPath | None", None, True),
        ("policy", "int | None", None, True),
        ("seed", "bytes | None", None, True),
        ("kernel_hashes", "SevHashes | None", None, True),
        ("svsm", "Ovmf | None", None, True),
        ("vars_size", "int", 0, True),
        ("svsm_x87_fcw", "int", 0, True),
        ("vmsa_sev_features", "int | None", None, True),
        ("strict", "bool", True, True),
    ]
    fw = parse_ovmf(bytes(4096))
    launch = AmdLaunch(Vendor.SNP, fw, vcpus=2, policy=0x30000)
    four = launch.with_vcpus(4)
    assert four == dataclasses.replace(launch, vcpus=4) and hash(four) == hash(
        dataclasses.replace(launch, vcpus=4)
    )
    assert four != launch and launch.vcpus == 2 and four.vcpus == 4
    assert repr(launch).startswith("AmdLaunch(vendor=<Vendor.SNP: 'snp'>, firmware=Ovmf(size=0x1000")
    with pytest.raises(dataclasses.FrozenInstanceError):
        launch.vcpus = 3  # type: ignore[misc]
