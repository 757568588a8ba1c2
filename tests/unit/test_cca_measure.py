"""Arm CCA Realm Initial Measurement (pvmkit.vendors.cca): spec cca_igvm.md §A1.7 vectors through
launch plans. Provenance: tests/vectors/README.md, section "Arm CCA RIM"."""

from __future__ import annotations

import hashlib

import pytest

import pvmkit
from pvmkit.errors import FeatureError, LayoutError, MeasurementError
from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, AddVcpu, CcaParams, Finalize, Init, LaunchPlan, PageKind, Vendor
from pvmkit.vendors.cca.measure import CcaMeasurer, realm_params_of
from pvmkit.vendors.cca.realm import (
    data_descriptor,
    realm_params_page,
    rec_descriptor,
    rec_params_page,
    rem_extend,
    ripas_descriptor,
    ripas_entries,
    rtt_block_sizes,
)

G, M, K = 1 << 30, 1 << 20, 1 << 10
P = bytes(range(256)) * 16  # the spec's page: bytes 0..255 repeated 16 times
RAM = 0x80000000

# §A1.7, official: cca-realm-measurements' own unit test (realm_config.rs::test_rim)
OFFICIAL = {
    "sha256": "6739dfb22b75ee1268d08dfa8369f501bc0b066243553f069f560d1fa1172973",
    "sha512": "799e434048fb57eb9d4f0e2a2b98158720377252deab2bdfcd69b5a8f82237f434bd6bb1c75bf160a2d49382f733b3439a3ff769e4ea5dd9a6f72239d44bbbab",  # noqa: E501
}  # fmt: skip
# §A1.7, regression vectors of the RMM-1.0 flow: RIM after each step
FLOW = [
    "f33498f22eed8d51fb28b95769b27275a8c69a469e26b0050f1e809c4e0146b4",  # create
    "f1716fdda6e64db71c74619256e348fab4818fd547d9abc6b8cab34ab5a8001c",  # RIPAS entry
    "9eefe4ea03b10d594a2b2fd2a36bba55d8c4e8636d3776e06ffb4cac4e693780",  # DATA P, measured
    "ccf2eaf4dd880d7f3aec5000adae9bfa3a65dd29ada4cd10c14954c8ce0a5e84",  # DATA zeros, not measured
    "7101085bb317cc1d53bbc494a4a47fbeae6a88a692ccda9aefba1286b2f56510",  # runnable REC
]
FLOW_SHA512 = "7858ac808435e1f418612e67908f55509f4d3e0569b633433a00599d742927490d5a073ff61b7546f9630b8b08a31872e6a8f59920ba7cf80d074e2832870609"  # noqa: E501
FLOW_RMM2 = "522ce01c0d749020f70ddb9147a024351a8213c8a79f2d0dc613744195b1fe4e"


def flow(hash_algo: str = "sha256", rmm: str = "1.0", ripas_first: bool = True) -> LaunchPlan:
    """The §A1.7 flow: s2sz 40, 6 breakpoints, 4 watchpoints; RIPAS RAM over one 2 MiB block, a
    measured page P, an unmeasured zero page, vCPU 0 runnable (pc = RAM, x0 = RAM + 1 MiB), vCPU 1 not."""
    params = CcaParams(
        40, 6, 4, hash_algo=hash_algo, rmm=rmm, ripas=((RAM, RAM + 2 * M),), ripas_first=ripas_first
    )
    return LaunchPlan.of(
        [
            Init(Vendor.CCA, cca=params),
            AddMemory(RAM, 4096, PageKind.NORMAL, data=P, label="P"),
            AddMemory(RAM + 0x1000, 4096, PageKind.UNMEASURED, data=bytes(4096), label="zeros"),
            AddVcpu(0, rec_params_page(pc=RAM, gprs=(RAM + M,))),
            AddVcpu(1, rec_params_page(pc=0, runnable=False)),
            Finalize(),
        ]
    )


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_official_realm_create_vector(algo: str) -> None:
    plan = LaunchPlan.of([Init(Vendor.CCA, cca=CcaParams(48, 2, 2, hash_algo=algo)), Finalize()])
    assert pvmkit.measure(plan).hex() == OFFICIAL[algo]
    page = realm_params_of(CcaParams(48, 2, 2, hash_algo=algo))
    assert page[:0x38] == b"".join(
        v.to_bytes(8, "little") for v in (0, 48, 0, 1, 1, 0, {"sha256": 0, "sha512": 1}[algo])
    )
    assert not any(page[0x38:]) and len(page) == 4096


def test_rmm1_flow_step_by_step() -> None:
    measurer = CcaMeasurer()
    launcher: Launcher[bytes] = Launcher(measurer)
    seen = []
    for op in flow():
        launcher.apply(op)
        seen.append(measurer.digest.hex())
    # Init gives create + RIPAS (ripas_first); the non-runnable REC and FINALIZE change nothing
    init_rim = hashlib.sha256(ripas_descriptor(bytes.fromhex(FLOW[0]), RAM, RAM + 2 * M)).hexdigest()
    assert init_rim == FLOW[1]
    assert seen == [FLOW[1], FLOW[2], FLOW[3], FLOW[4], FLOW[4], FLOW[4]]
    assert measurer.descriptors == 4


def test_flow_other_hash_and_rmm2() -> None:
    assert pvmkit.measure(flow("sha512")).hex() == FLOW_SHA512
    assert pvmkit.measure(flow(rmm="2.0")).hex() == FLOW_RMM2
    assert len(pvmkit.measure(flow("sha384", rmm="2.0"))) == 48


def test_create_with_sve_and_pmu() -> None:
    """§A1.7: flags SVE|PMU, s2sz 48, SVE VL 512 bits (VQ−1 = 3), 6 BPs, 4 WPs, 6 PMU counters."""
    params = CcaParams(48, 6, 4, sve_vl=512, pmu_num_ctrs=6)
    assert params.flags == 0x6
    plan = LaunchPlan.of([Init(Vendor.CCA, cca=params), Finalize()])
    assert pvmkit.measure(plan).hex() == "497157f1a0ba522c5aac760821acf9bc31536bd64764b7f9c55648c1f768725d"


def test_rem_extend_vector() -> None:
    rem = rem_extend(bytes(64), hashlib.sha256(b"hello").digest(), "sha256")
    assert rem.hex() == "9851312028952521510e8eaab5be94e7dc24b5fc292b2e9781173cf11ffa9878"


def test_ripas_at_activation_is_measured_last() -> None:
    """KVM v12 (RMM 1.0) sets RIPAS at activation: the same descriptors, RIPAS after DATA and REC."""
    h = lambda d: hashlib.sha256(d).digest()  # noqa: E731
    rim = h(
        realm_params_page(
            flags=0, s2sz=40, sve_vl=0, num_bps=5, num_wps=3, pmu_num_ctrs=0, hash_algo="sha256"
        )
    )
    rim = h(data_descriptor(rim, RAM, h(P)))
    rim = h(data_descriptor(rim, RAM + 0x1000, None))
    rim = h(rec_descriptor(rim, h(rec_params_page(pc=RAM, gprs=(RAM + M,)))))
    rim = h(ripas_descriptor(rim, RAM, RAM + 2 * M))
    assert pvmkit.measure(flow(ripas_first=False)) == rim != bytes.fromhex(FLOW[4])


def test_rec_mpidr_and_aux_are_not_measured() -> None:
    base = bytearray(rec_params_page(pc=RAM, gprs=(RAM + M,)))
    base[0x100:0x108] = (0x80000001).to_bytes(8, "little")  # MPIDR
    base[0x800] = 3  # num_aux
    plan = list(flow())
    plan[3] = AddVcpu(0, bytes(base))
    assert pvmkit.measure(LaunchPlan.of(plan)).hex() == FLOW[4]
    base[0x200] ^= 4  # the PC is measured
    plan[3] = AddVcpu(0, bytes(base))
    assert pvmkit.measure(LaunchPlan.of(plan)).hex() != FLOW[4]


def test_rtt_geometry() -> None:
    """cca-realm-measurements' model: one block size per level from the start level, where an initial
    table of at most 16 entries is concatenated away (spec §A1.3)."""
    assert rtt_block_sizes(40) == (G, 2 * M, 4 * K)  # 28 table bits: levels 1-3
    assert rtt_block_sizes(48) == (512 * G, G, 2 * M, 4 * K)  # 36 table bits: levels 0-3
    assert rtt_block_sizes(33) == (2 * M, 4 * K)  # 21 table bits: levels 2-3
    sizes = rtt_block_sizes(40)
    top = 2 * G + G + 2 * M + 4 * K
    assert ripas_entries(2 * G, top, sizes) == [(2 * G, 3 * G), (3 * G, 3 * G + 2 * M), (3 * G + 2 * M, top)]
    # an unaligned start takes small entries until a larger block is aligned
    assert ripas_entries(2 * M - 4 * K, 4 * M, sizes) == [(2 * M - 4 * K, 2 * M), (2 * M, 4 * M)]


def test_bad_plans() -> None:
    with pytest.raises(FeatureError, match=r"CCA parameters \(Init.cca\) given for snp"):
        Init(Vendor.SNP, cca=CcaParams(40, 2, 2)).validate()
    with pytest.raises(FeatureError, match=r"cca needs its parameters \(Init.cca\)"):
        Init(Vendor.CCA).validate()
    with pytest.raises(FeatureError, match=r"num_bps 1 is outside 2\.\.64"):
        Init(Vendor.CCA, cca=CcaParams(40, 1, 2)).validate()
    with pytest.raises(FeatureError, match=r"sha384 needs RMM 2\.0"):
        Init(Vendor.CCA, cca=CcaParams(40, 2, 2, hash_algo="sha384")).validate()
    with pytest.raises(FeatureError, match="sve_vl 100"):
        Init(Vendor.CCA, cca=CcaParams(40, 2, 2, sve_vl=100)).validate()
    with pytest.raises(LayoutError, match="RIPAS range"):
        Init(Vendor.CCA, cca=CcaParams(32, 2, 2, ripas=((0, 1 << 33),))).validate()
    init = Init(Vendor.CCA, cca=CcaParams(40, 2, 2))
    with pytest.raises(LayoutError, match="cca has no secrets pages"):  # its VendorSpec.page_kinds
        pvmkit.measure(LaunchPlan.of([init, AddMemory(RAM, 4096, PageKind.SECRETS), Finalize()]))
    measurer = CcaMeasurer()  # and the measurer's own check, driven without a Launcher
    measurer.init(init)
    with pytest.raises(MeasurementError, match="no secrets pages"):
        measurer.add_memory(AddMemory(RAM, 4096, PageKind.SECRETS))
    with pytest.raises(LayoutError, match="RmiRecParams image must be 4096 bytes"):
        pvmkit.measure(LaunchPlan.of([init, AddVcpu(0, b"short"), Finalize()]))
    with pytest.raises(FeatureError, match="vmsa_features"):
        Init(Vendor.CCA, 1, cca=CcaParams(40, 2, 2)).validate()
