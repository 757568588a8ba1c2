"""AMD measurers as launch backends: PAGE_INFO, the §4.2 checkpoints, incremental vCPU ranges, seeds,
the SEV LAUNCH_MEASURE HMAC (§2.2) and the SNP ID block (§4.4). Provenance: tests/vectors/README.md."""

from __future__ import annotations

import base64
import hashlib
import mmap
from collections.abc import Callable
from typing import Any

import pytest

from pvmkit.errors import (
    FeatureError,
    InputError,
    LayoutError,
    MeasurementError,
    SignatureError,
    VerificationError,
)
from pvmkit.formats.ovmf import Ovmf, parse_ovmf
from pvmkit.formats.sev_hashes import hash_kernel_inputs
from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, InitPath, LaunchPlan, PageKind, Vendor, Vmm
from pvmkit.vendors.amd.builder import AmdLaunch, measure_vcpu_range, snp_firmware_digest
from pvmkit.vendors.amd.measure import (
    VMSA_GPA,
    SevEsMeasurer,
    SevMeasurer,
    SnpMeasurer,
    measure_plan,
    page_sha384s,
    snp_page_info,
)

DEBIAN = "firmware/OVMF.amdsev.fd"
EPYC_V4 = 0x800F12
OVMF_HASH = "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806"


@pytest.fixture(scope="module")
def debian() -> Ovmf:
    from support.fixtures import read_fixture

    return parse_ovmf(read_fixture(DEBIAN))


def abbreviated(value: bytes, spec: str) -> bool:
    """The spec prints some digests as 'head…tail'."""
    head, tail = spec.split("…")
    return value.hex().startswith(head) and value.hex().endswith(tail)


# -- PAGE_INFO and the chain ----------------------------------------------------------------------
def test_page_info_layout_and_the_first_debian_page(debian: Ovmf) -> None:
    contents = hashlib.sha384(debian.data[:4096]).digest()
    info = snp_page_info(bytes(48), contents, 1, 0xFFC00000)
    assert len(info) == 112
    assert info[:48] == bytes(48) and info[48:96] == contents
    # spec §4.1: LENGTH 0x0070, type 1, IMI 0, VMPL perms 0, reserved 0, GPA 0xFFC00000
    assert info[96:].hex() == "7000" + "01" + "00" * 5 + "0000c0ff00000000"
    assert abbreviated(hashlib.sha384(info).digest(), "dc877dcd…aece3")


def test_page_info_rejects_bad_lengths() -> None:
    with pytest.raises(MeasurementError):
        snp_page_info(bytes(47), bytes(48), 1, 0)
    with pytest.raises(MeasurementError):
        snp_page_info(bytes(48), bytes(48), 1, 1 << 64)


def test_intermediate_checkpoints_of_the_debian_image(debian: Ovmf) -> None:
    """Spec §4.2: LD after the firmware (full) and after each metadata section (abbreviated)."""
    launch = AmdLaunch(Vendor.SNP, debian, vcpus=1, vcpu_sig=EPYC_V4)
    m = SnpMeasurer()
    launcher: Launcher[bytes] = Launcher(m)
    seen = []
    for op in launch.plan():
        launcher.apply(op)
        if isinstance(op, AddMemory | AddVcpu):
            seen.append(m.digest)
    assert seen[0].hex() == OVMF_HASH
    expected = ["9cbd59c7…1eac", "c0f1d252…2cef", "c8904ca5…6434", "af6b3382…7abf", "bb4c3d11…a8de",
                "2f44f858…c3b5", "8e15fd17…b523", "d74bd3ea…da58"]  # fmt: skip
    assert len(seen) == 1 + len(expected)
    for got, spec in zip(seen[1:], expected, strict=True):
        assert abbreviated(got, spec), (got.hex(), spec)
    bsp, ap = launch.vmsas()
    assert abbreviated(hashlib.sha384(bsp).digest(), "77920c4c…553a")
    assert ap is not None and abbreviated(hashlib.sha384(ap).digest(), "8413b852…f7b4")


def test_page_kinds_order_and_vmsa_gpa(debian: Ovmf) -> None:
    plan = AmdLaunch(Vendor.SNP, debian, vcpus=2, vcpu_sig=EPYC_V4).plan()
    kinds = [(op.gpa, op.kind) for op in plan.memory]
    assert kinds == [
        (0xFFC00000, PageKind.NORMAL),
        (0x800000, PageKind.ZERO),
        (0x80A000, PageKind.ZERO),
        (0x80D000, PageKind.SECRETS),
        (0x80E000, PageKind.CPUID),
        (0x80F000, PageKind.ZERO),
        (0x811000, PageKind.ZERO),
        (0x810000, PageKind.ZERO),
    ]
    # a VMSA chained by hand at 0xFFFFFFFFF000 equals add_vcpu
    m = SnpMeasurer(bytes(48))
    m.add_vcpu(AddVcpu(0, plan.vcpus[0].state))
    expected = hashlib.sha384(
        snp_page_info(bytes(48), hashlib.sha384(plan.vcpus[0].state).digest(), 2, VMSA_GPA)
    ).digest()
    assert m.digest == expected and VMSA_GPA == 0xFFFFFFFFF000


def test_vmm_profiles_change_kinds_and_order(debian: Ovmf) -> None:
    gce = AmdLaunch(Vendor.SNP, debian, vmm=Vmm.GCE).plan()
    assert [op.kind for op in gce.memory if op.label.startswith("SNP_SEC_MEM")] == [PageKind.UNMEASURED] * 3
    ec2 = AmdLaunch(Vendor.SNP, debian, vmm=Vmm.EC2).plan()
    assert ec2.memory[-1].kind is PageKind.CPUID
    kernel = hash_kernel_inputs(b"k")
    hashed = AmdLaunch(Vendor.SNP, debian, vmm=Vmm.EC2, kernel_hashes=kernel).plan()
    page = next(op for op in hashed.memory if op.label.startswith("SNP_KERNEL_HASHES"))
    assert page.kind is PageKind.NORMAL and page.data is not None
    assert bytes(page.data[0xC00 : 0xC00 + 176]) == kernel.table() and not any(page.data[:0xC00])


def test_sw_is_measured_exactly_like_snp(debian: Ovmf) -> None:
    snp = AmdLaunch(Vendor.SNP, debian, vcpus=3, vcpu_sig=EPYC_V4, vmsa_features=0x20)
    sw = AmdLaunch(Vendor.SW, debian, vcpus=3, vcpu_sig=EPYC_V4, vmsa_features=0x20)
    assert measure_plan(sw.plan()) == measure_plan(snp.plan())
    assert Launcher(SnpMeasurer()).run(sw.plan()) == measure_plan(snp.plan())


def test_seeded_measurement_equals_the_full_one(debian: Ovmf) -> None:
    seed = snp_firmware_digest(debian)
    assert seed.hex() == OVMF_HASH
    kernel = hash_kernel_inputs(b"kernel", b"initrd", "console=ttyS0")
    full = AmdLaunch(Vendor.SNP, debian, vcpus=4, vcpu_sig=EPYC_V4, kernel_hashes=kernel)
    seeded = AmdLaunch(Vendor.SNP, debian, vcpus=4, vcpu_sig=EPYC_V4, kernel_hashes=kernel, seed=seed)
    assert not any(op.label == "firmware" for op in seeded.plan().memory)
    assert measure_plan(seeded.plan()) == measure_plan(full.plan())


def test_page_digests_stand_in_for_data() -> None:
    data = bytes(range(256)) * 32
    by_data = SnpMeasurer()
    by_data.add_memory(AddMemory(0x1000, 0x2000, data=data))
    by_digest = SnpMeasurer()
    digests = tuple(hashlib.sha384(data[i : i + 4096]).digest() for i in (0, 4096))
    by_digest.add_memory(AddMemory(0x1000, 0x2000, page_digests=digests))
    assert by_data.digest == by_digest.digest


def _anonymous_mmap(data: bytes) -> mmap.mmap:
    mapped = mmap.mmap(-1, len(data))  # the CLI maps image files; an anonymous map has the same type
    mapped.write(data)
    return mapped


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, _anonymous_mmap])
def test_page_digests_of_runs_equal_hashing_every_page(kind: Callable[[bytes], Any]) -> None:
    """page_sha384s reuses a digest for a page equal to the one before it: it must still give exactly
    SHA-384 of every page (runs at both ends, pages equal but not adjacent, one byte of difference,
    and enough distinct pages for the two-thread split)."""
    a, b = b"\xff" * 4096, bytes(4096)
    c = b"\xff" * 4095 + b"\xfe"
    distinct = [i.to_bytes(2, "little") * 2048 for i in range(600)]
    pages = [a, a, b, a, a, a, c, c, b, *distinct, a, a]
    data = b"".join(pages)
    got = page_sha384s(kind(data), len(pages))
    assert got == [hashlib.sha384(p).digest() for p in pages]


def test_copy_is_independent() -> None:
    m = SnpMeasurer()
    m.add_memory(AddMemory(0, 4096, PageKind.ZERO))
    c = m.copy()
    c.add_memory(AddMemory(4096, 4096, PageKind.ZERO))
    assert m.digest != c.digest and m.pages == 1 and c.pages == 2
    s = SevEsMeasurer()
    s.update(b"abc")
    t = s.copy()
    t.update(b"def")
    assert s.digest == hashlib.sha256(b"abc").digest() and t.digest == hashlib.sha256(b"abcdef").digest()


@pytest.mark.parametrize("vendor", [Vendor.SEV, Vendor.SEV_ES, Vendor.SNP])
def test_vcpu_range_equals_one_plan_per_count(debian: Ovmf, vendor: Vendor) -> None:
    launch = AmdLaunch(vendor, debian, vcpu_sig=EPYC_V4)
    cache: dict[tuple[object, ...], object] = {}
    got = measure_vcpu_range(launch, [5, 1, 3], cache=cache)
    assert [n for n, _ in got] == [5, 1, 3]
    for n, digest in got:
        assert digest == measure_plan(launch.with_vcpus(n).plan())
    assert len(cache) == 1
    if vendor is not Vendor.SEV:  # features change the VMSAs, not the cached prefix
        other = AmdLaunch(vendor, debian, vcpu_sig=EPYC_V4, vmsa_features=0x20)
        again = measure_vcpu_range(other, range(1, 4), cache=cache)
        assert len(cache) == 1
        assert again[2][1] == measure_plan(other.with_vcpus(3).plan())


def test_vcpu_range_debian_snp_64(debian: Ovmf) -> None:
    results = measure_vcpu_range(AmdLaunch(Vendor.SNP, debian, vcpu_sig=EPYC_V4), range(1, 65))
    assert results[63][1].hex().startswith("c8988bfa29626e72129dd39d65a2deb3")
    assert results[0][1].hex().startswith("d74bd3ea")


# -- SEV / SEV-ES streams -------------------------------------------------------------------------
def test_sev_digest_is_the_firmware_hash_plus_the_176_byte_table(debian: Ovmf) -> None:
    assert measure_plan(AmdLaunch(Vendor.SEV, debian).plan()) == hashlib.sha256(debian.data).digest()
    kernel = hash_kernel_inputs(b"K", None, None)
    plan = AmdLaunch(Vendor.SEV, debian, kernel_hashes=kernel).plan()
    table_op = plan.memory[-1]
    assert (table_op.gpa, table_op.data_span) == (0x810000, (0xC00, 176))
    assert measure_plan(plan) == hashlib.sha256(debian.data + kernel.table()).digest()


def test_sev_measurers_refuse_snp_only_pages_and_wrong_vendors() -> None:
    launcher: Launcher[bytes] = Launcher(SevMeasurer())
    launcher.init(Init(Vendor.SEV))
    with pytest.raises(LayoutError, match="sev has no cpuid pages"):  # the vendor's page kinds
        launcher.add_memory(AddMemory(0, 4096, PageKind.CPUID))
    with pytest.raises(MeasurementError):  # and the measurer, driven without a Launcher
        launcher.backend.add_memory(AddMemory(0, 4096, PageKind.CPUID))
    with pytest.raises(MeasurementError):
        Launcher(SevMeasurer()).init(Init(Vendor.SNP))
    with pytest.raises(MeasurementError):
        Launcher(SnpMeasurer()).init(Init(Vendor.SEV_ES))
    with pytest.raises(MeasurementError):
        Launcher(SevEsMeasurer()).init(Init(Vendor.SEV))


def test_data_span_is_validated() -> None:
    with pytest.raises(LayoutError):
        AddMemory(0, 4096, data_span=(8, 176)).validate()
    with pytest.raises(LayoutError):
        AddMemory(0, 4096, data_span=(4000, 176)).validate()


def test_sev_es_features_and_init_path_rules(debian: Ovmf) -> None:
    with pytest.raises(FeatureError):
        AmdLaunch(Vendor.SEV_ES, debian, vmsa_features=0x1).plan()
    with pytest.raises(FeatureError):
        AmdLaunch(Vendor.SEV_ES, debian, vmsa_features=0x40, init_path=InitPath.LEGACY).plan()
    with pytest.raises(FeatureError):
        AmdLaunch(Vendor.SNP, debian, vmsa_features=1 << 11).plan()
    with pytest.raises(InputError):
        AmdLaunch(Vendor.SEV_ES, debian, vmm=Vmm.EC2).plan()
    with pytest.raises(InputError):
        AmdLaunch(Vendor.SEV, debian, seed=bytes(48)).plan()


def test_a_hand_written_plan_runs_through_measure_plan() -> None:
    page = bytes(range(256)) * 16
    plan = LaunchPlan.of(
        [Init(Vendor.SNP), AddMemory(0x1000, 4096, data=page), AddVcpu(0, bytes(4096)), Finalize()]
    )
    ld = hashlib.sha384(snp_page_info(bytes(48), hashlib.sha384(page).digest(), 1, 0x1000)).digest()
    ld = hashlib.sha384(snp_page_info(ld, hashlib.sha384(bytes(4096)).digest(), 2, VMSA_GPA)).digest()
    assert measure_plan(plan) == ld


# -- SEV LAUNCH_MEASURE (§2.2) --------------------------------------------------------------------
def test_launch_measure_hmac_vector() -> None:
    from pvmkit.vendors.amd.launch_blob import check_launch_measure, launch_measure_blob

    ld = bytes.fromhex("3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f")
    tik, mnonce = bytes(range(16)), bytes(range(16, 32))
    kw = {"policy": 0x1, "api_major": 1, "api_minor": 55, "build": 21}
    blob = launch_measure_blob(tik, ld, mnonce, **kw)
    assert blob[:32].hex() == "fccb20824e3797fd6d4d7d46a62b87384800343e8869e414eef9d2abf6a5a781"
    assert blob[32:] == mnonce
    check_launch_measure(blob, tik, ld, **kw)
    with pytest.raises(VerificationError) as err:
        check_launch_measure(blob, tik, ld, **{**kw, "policy": 0x3})
    assert err.value.field == "measure"
    with pytest.raises(InputError):
        launch_measure_blob(bytes(15), ld, mnonce, **kw)


# -- SNP ID block (§4.4; keys from virtee/sev-snp-measure tests/keyfile, Apache-2.0) ---------------
ID_KEY_PEM = b"""-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDd3NjrPduToA3Y2bU8u+m+wL+icE6wZOiAm5FopHJjHx2a67ZcqhcX
mB/DBwn4WsKgBwYFK4EEACKhZANiAASyD9Ghwr0rZRg6duI5CsgF9tjl4q9yXlqO
k8+H7AKfnUXrMmsEuSvrcU4U+phviposlKC4qzDMdjUmdZRIdokelU/271gmpiMb
ptbX9uv7aM4zDh5ZOU77cICIPdxpNks=
-----END EC PRIVATE KEY-----
"""
AUTHOR_KEY_PEM = b"""-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCUTgpZn6Wt6RvhJHG3PzPIEkyl1x8+0G3gltnqH63ibdpY+Y99M2tr
34JhaKgSdJOgBwYFK4EEACKhZANiAAQGgR/GJAm/LZrlHAdCMlTYk8bCP78WSvM4
Ow+BOmJ+YWjZBnp/S9l5kFiMGEESEKAytCCiJlbScdz9TiVmjHL9WLtfaFH+Ry+d
Fg+ICxTfTDYjBolizeTWCOc3NC2pEsk=
-----END EC PRIVATE KEY-----
"""


def test_id_block_vector_and_signatures() -> None:
    from pvmkit.vendors.amd.id_block import (
        build_id_block,
        has_author_key,
        parse_id_block,
        sign_id_block,
        verify_id_auth,
    )

    ld = base64.b64decode("B28FLQi9p6cAqipgjFyqawDrrSl7bWioWkWx5mmlWLZ+G5HShKMB/mPE+gdQRn7t")
    block = build_id_block(ld)
    assert base64.b64encode(block).decode() == (
        "B28FLQi9p6cAqipgjFyqawDrrSl7bWioWkWx5mmlWLZ+G5HShKMB/mPE+gdQRn7t"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAwAAAAAA"
    )
    assert parse_id_block(block).policy == 0x30000
    signed = sign_id_block(block, ID_KEY_PEM, AUTHOR_KEY_PEM)
    assert base64.b64encode(signed.id_key_digest).decode() == (
        "hwt+NcU/inLQ0yL3WrKvgmJ5Kq9leWIs5BMcPyHyied8sFYKXjuQs5MuZ07HCcsU"
    )
    assert signed.author_key_digest is not None
    assert base64.b64encode(signed.author_key_digest).decode() == (
        "YxEcNLv8Ckk4+aAJvQdJgNgXIyPmFZnJ/TNtqGcySOHcqY0L6PdjdqEGuK/UwKBX"
    )
    assert len(signed.id_auth) == 4096
    verify_id_auth(block, signed.id_auth)  # both signatures verify with the embedded public keys
    tampered = bytearray(block)
    tampered[0x58] ^= 1
    with pytest.raises(SignatureError):
        verify_id_auth(bytes(tampered), signed.id_auth)
    bad_key_sig = bytearray(signed.id_auth)
    bad_key_sig[0x680] ^= 1
    with pytest.raises(SignatureError):
        verify_id_auth(block, bytes(bad_key_sig))
    # the ID block goes into FINALIZE; AUTH_KEY_EN follows AUTH_KEY_ALGO in the ID auth structure
    Finalize(id_block=block, id_auth=signed.id_auth, auth_key_en=signed.auth_key_en).validate()
    assert has_author_key(signed.id_auth) is True
    assert has_author_key(sign_id_block(block, ID_KEY_PEM).id_auth) is False
    assert has_author_key(None) is False


# -- VMSAs are measured at the end of the launch, whatever order the plan adds them in ------------
# SNP: KVM measures every VMSA inside SNP_LAUNCH_FINISH, after all SNP_LAUNCH_UPDATE pages (spec amd.md
# §4.2 step 3); SEV-ES: QEMU issues LAUNCH_UPDATE_VMSA after the last LAUNCH_UPDATE_DATA (§3.1, §5.7).


def _vmsa_order_plans(vendor):  # type: ignore[no-untyped-def]
    from pvmkit.plan import AddMemory, AddVcpu, Finalize, Init, LaunchPlan, PageKind

    page = bytes(range(256)) * 16
    vmsa0, vmsa1 = b"\x01" * 4096, b"\x02" * 4096
    mem = [
        AddMemory(0x1000, 4096, PageKind.NORMAL, data=page),
        AddMemory(0x2000, 4096, PageKind.NORMAL, data=page[::-1]),
    ]
    vcpus = [AddVcpu(0, vmsa0), AddVcpu(1, vmsa1)]
    init = Init(vendor)
    memory_first = LaunchPlan.of([init, *mem, *vcpus, Finalize()])
    interleaved = LaunchPlan.of([init, mem[0], vcpus[0], mem[1], vcpus[1], Finalize()])
    vcpus_first = LaunchPlan.of([init, *vcpus, *mem, Finalize()])
    return memory_first, interleaved, vcpus_first, page, vmsa0, vmsa1


def test_snp_vmsas_are_measured_after_all_memory() -> None:
    import hashlib

    from pvmkit.plan import Vendor
    from pvmkit.vendors.amd.measure import VMSA_GPA, measure_plan, snp_page_info

    a, b, c, page, v0, v1 = _vmsa_order_plans(Vendor.SNP)
    # independent chain written from spec §4.1: NORMAL=1, VMSA=2
    ld = bytes(48)
    for gpa, data in ((0x1000, page), (0x2000, page[::-1])):
        ld = hashlib.sha384(snp_page_info(ld, hashlib.sha384(data).digest(), 1, gpa)).digest()
    for v in (v0, v1):
        ld = hashlib.sha384(snp_page_info(ld, hashlib.sha384(v).digest(), 2, VMSA_GPA)).digest()
    assert measure_plan(a) == measure_plan(b) == measure_plan(c) == ld


def test_sev_es_vmsas_are_measured_after_all_data() -> None:
    import hashlib

    from pvmkit.plan import Vendor
    from pvmkit.vendors.amd.measure import measure_plan

    a, b, c, page, v0, v1 = _vmsa_order_plans(Vendor.SEV_ES)
    expected = hashlib.sha256(page + page[::-1] + v0 + v1).digest()
    assert measure_plan(a) == measure_plan(b) == measure_plan(c) == expected
