"""The SEV / SEV-ES / SNP KVM driver against the recording fake kernel (tests/support/fakekernel.py).

Expected sequences and rules come from the spec, not from pvmkit: amd.md §5.7 (canonical lifecycle),
§5.4/§5.5 (sub-command ids, ``kvm_sev_init`` layout and INIT2 rules, ioctl numbers), §5.6 (register
access after the VMSA is encrypted), §4.1/§4.2 (SNP page types and order, intermediate launch digests of
the Debian image), §2.1/§2.2 (SEV launch digest and LAUNCH_MEASURE blob), §10 fact 5. The fake decodes
every structure with the header-derived table (src/pvmkit/uapi/layouts.json). See tests/vectors/README.md.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools

import pytest

from pvmkit.errors import (
    CapabilityError,
    FeatureError,
    KvmError,
    LayoutError,
    ProtectedStateError,
    SevFirmwareError,
)
from pvmkit.formats.ovmf import parse_ovmf
from pvmkit.formats.sev_hashes import SevHashes, hash_kernel_inputs
from pvmkit.kvm import Kvm
from pvmkit.launch import Launcher
from pvmkit.plan import AddMemory, Finalize, Init, InitPath, LaunchPlan, PageKind, Vendor, Vmm
from pvmkit.vendors.amd.builder import AmdLaunch
from pvmkit.vendors.amd.kvm import AmdKvmDriver, AmdLaunchResult
from pvmkit.vendors.amd.launch_blob import check_launch_measure
from pvmkit.vendors.amd.measure import measurer_for
from pvmkit.vendors.amd.vmsa import parse_vmsa
from support.fakekernel import CONST, FakeKernel, decode, get, installed
from support.fixtures import read_fixture

# ioctl numbers as the spec computes them from the kernel's _IO* macros (amd.md §5.4, §5.5, §5.7)
KVM_CREATE_VM = 0xAE01
KVM_MEMORY_ENCRYPT_OP = 0xC008AEBA
KVM_GET_DEVICE_ATTR = 0x4018AEE2
KVM_HAS_DEVICE_ATTR = 0x4018AEE3
KVM_CREATE_GUEST_MEMFD = 0xC040AED4
KVM_SET_USER_MEMORY_REGION2 = 0x40A0AE49
KVM_SET_MEMORY_ATTRIBUTES = 0x4020AED2
# SEV_RET_* (amd.md §5.4)
SEV_RET_BAD_MEASUREMENT = 0x0B
SEV_RET_INVALID_PARAM = 0x16
# the Debian image (amd.md §1.3, §2.1, §4.2)
DEBIAN_SHA256 = "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f"
DEBIAN_SNP_FW_LD = (
    "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806"
)
FW_GPA, FW_SIZE = 0xFFC00000, 0x400000

OPEN = ["KVM_GET_API_VERSION", "KVM_CHECK_EXTENSION"]  # Kvm.open + the driver's KVM_CAP_VM_TYPES check
CREATE_VM = ["KVM_CHECK_EXTENSION", "KVM_GET_VCPU_MMAP_SIZE", "KVM_CREATE_VM"]  # Kvm.create_vm
FEATURES = ["KVM_CHECK_EXTENSION", "KVM_HAS_DEVICE_ATTR", "KVM_GET_DEVICE_ATTR"]  # KVM_X86_SEV_VMSA_FEATURES
SEV_REGION = ["KVM_SET_USER_MEMORY_REGION", "KVM_MEMORY_ENCRYPT_REG_REGION"]
SNP_REGION = ["KVM_CREATE_GUEST_MEMFD", "KVM_SET_USER_MEMORY_REGION2", "KVM_SET_MEMORY_ATTRIBUTES"]
VMSA_REGS = ["KVM_CREATE_VCPU", "KVM_GET_SREGS", "KVM_SET_SREGS", "KVM_SET_REGS"]


@pytest.fixture(scope="module")
def firmware():  # type: ignore[no-untyped-def]
    return parse_ovmf(read_fixture("firmware/OVMF.amdsev.fd"))


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    k = FakeKernel()
    with installed(k):
        yield k
    assert k.violations == []  # every number and structure was in the header table
    assert k.open_fds() == {}  # the driver closed everything


def launch(plan: LaunchPlan, **kw: object) -> AmdLaunchResult:
    with AmdKvmDriver(**kw) as driver:  # type: ignore[arg-type]
        result: AmdLaunchResult = Launcher(driver).run(plan)
        return result


def hashes() -> SevHashes:
    return hash_kernel_inputs(b"pvmkit-kernel" * 100, b"initrd", "console=ttyS0")


# -- SEV ---------------------------------------------------------------------------------------------
def test_sev_legacy_sequence_and_launch_measure(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SEV, firmware, vcpus=1).plan()
    assert plan.init.init_path is InitPath.LEGACY
    result = launch(plan)
    assert fake.labels() == [
        *OPEN,
        *CREATE_VM,
        "KVM_SEV_INIT",
        "KVM_SEV_LAUNCH_START",
        *SEV_REGION,
        "KVM_SEV_LAUNCH_UPDATE_DATA",
        "KVM_CREATE_VCPU",
        "KVM_SEV_LAUNCH_MEASURE",  # len 0: the length query
        "KVM_SEV_LAUNCH_MEASURE",
        "KVM_SEV_LAUNCH_FINISH",
    ]
    create = fake.named("KVM_CREATE_VM")[0]
    assert (create.number, create.arg) == (KVM_CREATE_VM, 0)  # legacy: KVM_X86_DEFAULT_VM
    subs = [c for c in fake.calls if c.sub]
    assert {c.number for c in subs} == {KVM_MEMORY_ENCRYPT_OP}
    sev_fds = {get("kvm_sev_cmd", c.data_in, "sev_fd") for c in subs}
    assert len(sev_fds) == 1 and sev_fds != {0}  # the open /dev/sev in every kvm_sev_cmd
    start = fake.named("KVM_SEV_LAUNCH_START")[0]
    assert start.sub_in == bytes(4) + (0x1).to_bytes(4, "little") + bytes(32)  # handle 0, QEMU policy 0x1
    assert get("kvm_sev_launch_start", start.sub_out, "handle") == result.handle != 0
    update = fake.named("KVM_SEV_LAUNCH_UPDATE_DATA")[0].decoded()
    slot = fake.vms[0].slots[0]
    assert (slot.gpa, slot.size, slot.gmem) == (FW_GPA, FW_SIZE, None)  # a plain memslot for the firmware
    assert fake.vms[0].enc_regions == [(slot.uaddr, FW_SIZE)]  # pinned with REG_REGION (amd.md §5.3)
    assert (update["uaddr"], update["len"]) == (slot.uaddr, FW_SIZE)  # encrypted in place
    query, fetch = fake.named("KVM_SEV_LAUNCH_MEASURE")
    assert query.decoded()["len"] == 0 and query.decoded(out=True)["len"] == 48
    assert get("kvm_sev_cmd", query.data_out, "error") == CONST["SEV_RET_INVALID_LEN"]
    assert fetch.decoded()["len"] == 48 and fetch.rc == 0
    # the blob is the fake firmware's HMAC over LD = sha256(firmware) (amd.md §2.1/§2.2)
    assert result.measurement is not None and len(result.measurement) == 48
    check_launch_measure(
        result.measurement,
        fake.tik,
        bytes.fromhex(DEBIAN_SHA256),
        policy=1,
        api_major=1,
        api_minor=55,
        build=21,
    )
    assert fake.vms[0].ld.hexdigest() == DEBIAN_SHA256


def test_sev_init2_hashes_table_data_span(fake, firmware):  # type: ignore[no-untyped-def]
    launch_ = AmdLaunch(Vendor.SEV, firmware, init_path=InitPath.INIT2, kernel_hashes=hashes())
    plan = launch_.plan()
    result = launch(plan)
    assert fake.named("KVM_CREATE_VM")[0].arg == CONST["KVM_X86_SEV_VM"] == 2
    init2 = fake.named("KVM_SEV_INIT2")[0]
    assert init2.sub_in == bytes(48)  # SEV: no features, flags 0, ghcb_version 0
    updates = [c.decoded() for c in fake.named("KVM_SEV_LAUNCH_UPDATE_DATA")]
    assert [u["len"] for u in updates] == [FW_SIZE, 176]  # only the padded 176-byte table (amd.md §2.1)
    table_gpa = firmware.hashes_table[0]
    region = fake.vms[0].slots[1]
    assert region.gpa == table_gpa & ~0xFFF
    assert updates[1]["uaddr"] == region.uaddr + (table_gpa & 0xFFF)
    # the digest the fake firmware saw equals pvmkit's prediction from the same plan
    predicted = Launcher(measurer_for(Vendor.SEV)).run(plan)
    assert fake.vms[0].ld.digest() == predicted
    assert result.measurement is not None
    check_launch_measure(
        result.measurement, fake.tik, predicted, policy=1, api_major=1, api_minor=55, build=21
    )


# -- SEV-ES ------------------------------------------------------------------------------------------
def test_sev_es_legacy_sequence_registers_before_vmsa(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SEV_ES, firmware, vcpus=2, vcpu_sig=0x800F12).plan()
    assert plan.init.init_path is InitPath.LEGACY  # QEMU ≥ 9.1 default without features
    result = launch(plan)
    assert fake.labels() == [
        *OPEN,
        *CREATE_VM,
        "KVM_SEV_ES_INIT",
        "KVM_SEV_LAUNCH_START",
        *SEV_REGION,
        "KVM_SEV_LAUNCH_UPDATE_DATA",
        *VMSA_REGS,
        *VMSA_REGS,
        "KVM_SEV_LAUNCH_UPDATE_VMSA",
        "KVM_SEV_LAUNCH_MEASURE",
        "KVM_SEV_LAUNCH_MEASURE",
        "KVM_SEV_LAUNCH_FINISH",
    ]
    assert fake.named("KVM_CREATE_VM")[0].arg == 0
    assert fake.named("KVM_SEV_ES_INIT")[0].decoded("kvm_sev_cmd")["data"] == 0
    assert fake.named("KVM_SEV_LAUNCH_START")[0].decoded()["policy"] == 0x5  # ES bit (amd.md §2.2)
    # registers from the VMSA (amd.md §3.2): BSP at the reset vector, RDX = vCPU signature
    bsp_regs = decode("kvm_regs", fake.named("KVM_SET_REGS")[0].data_in)
    assert (bsp_regs["rip"], bsp_regs["rdx"]) == (0xFFF0, 0x800F12)
    sregs = fake.named("KVM_SET_SREGS")
    assert get("kvm_sregs", sregs[0].data_in, "cs.base") == 0xFFFF0000
    ap_eip = firmware.reset_eip
    assert get("kvm_regs", fake.named("KVM_SET_REGS")[1].data_in, "rip") == ap_eip & 0xFFFF
    assert get("kvm_sregs", sregs[1].data_in, "cs.base") == ap_eip & 0xFFFF0000
    assert len(result.vcpus) == 2 and result.measurement is not None


def test_sev_es_init2_features_and_sealed_registers(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SEV_ES, firmware, vmsa_features=0x20).plan()  # DebugSwap → INIT2
    driver = AmdKvmDriver()
    result = Launcher(driver).run(plan)
    labels = fake.labels()
    assert labels == [
        *OPEN,
        *FEATURES,
        *CREATE_VM,
        "KVM_SEV_INIT2",
        "KVM_SEV_LAUNCH_START",
        *SEV_REGION,
        "KVM_SEV_LAUNCH_UPDATE_DATA",
        *VMSA_REGS,
        "KVM_SEV_LAUNCH_UPDATE_VMSA",
        "KVM_SEV_LAUNCH_MEASURE",
        "KVM_SEV_LAUNCH_MEASURE",
        "KVM_SEV_LAUNCH_FINISH",
    ]
    assert labels.index("KVM_SEV_INIT2") < labels.index("KVM_CREATE_VCPU")
    attr = fake.named("KVM_GET_DEVICE_ATTR")[0]
    assert (
        attr.number == KVM_GET_DEVICE_ATTR
        and fake.named("KVM_HAS_DEVICE_ATTR")[0].number == KVM_HAS_DEVICE_ATTR
    )
    assert (attr.decoded()["group"], attr.decoded()["attr"]) == (
        1,
        0,
    )  # KVM_X86_GRP_SEV / VMSA_FEATURES (§5.5)
    assert fake.named("KVM_CREATE_VM")[0].arg == 3
    # struct kvm_sev_init (amd.md §5.5): u64 vmsa_features, u32 flags = 0, u16 ghcb_version, pads
    assert fake.named("KVM_SEV_INIT2")[0].sub_in == (0x20).to_bytes(8, "little") + bytes(40)
    # after LAUNCH_UPDATE_VMSA the state is sealed on KVM_X86_SEV_ES_VM (amd.md §5.6)
    with pytest.raises(ProtectedStateError) as exc:
        result.vcpus[0].get_regs()
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(ProtectedStateError):
        result.vcpus[0].get_sregs()
    driver.close()


def test_features_the_host_lacks_are_refused_before_init2(firmware):  # type: ignore[no-untyped-def]
    fake = FakeKernel(vmsa_features=0)  # host without DebugSwap
    plan = AmdLaunch(Vendor.SEV_ES, firmware, vmsa_features=0x20).plan()
    with installed(fake), pytest.raises(FeatureError, match="KVM_X86_SEV_VMSA_FEATURES"):
        launch(plan)
    assert "KVM_CREATE_VM" not in fake.labels() and "KVM_SEV_INIT2" not in fake.labels()
    assert fake.open_fds() == {}
    fake = FakeKernel(vmsa_features=None)  # pre-6.10: no attribute (ENXIO) → nothing is supported
    with installed(fake), pytest.raises(FeatureError):
        launch(plan)
    assert "KVM_SEV_INIT2" not in fake.labels()


def test_missing_dev_sev_is_a_capability_error(firmware):  # type: ignore[no-untyped-def]
    fake = FakeKernel(has_sev_device=False)
    with installed(fake), pytest.raises(CapabilityError, match=r"open /dev/sev.*SEV firmware device"):
        launch(AmdLaunch(Vendor.SEV, firmware).plan())
    assert fake.open_fds() == {} and not any(c.sub for c in fake.calls)


def test_legacy_init_with_features_is_refused(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SEV_ES, firmware, vmsa_features=0x20, init_path=InitPath.LEGACY).plan()
    with pytest.raises(FeatureError, match="legacy KVM_SEV_ES_INIT"):
        launch(plan)
    assert "KVM_CREATE_VM" not in fake.labels()


def test_sev_es_policy_needs_the_es_bit(fake, firmware):  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError, match="ES bit"):
        launch(AmdLaunch(Vendor.SEV_ES, firmware, policy=0x1).plan())  # amd.md §2.2: ES requires bit 2
    assert "KVM_CREATE_VM" not in fake.labels()


def test_launch_finish_bad_measurement_is_a_typed_firmware_error(fake, firmware):  # type: ignore[no-untyped-def]
    fake.inject("KVM_SEV_LAUNCH_FINISH", errno.EIO, fw_error=SEV_RET_BAD_MEASUREMENT)
    with pytest.raises(SevFirmwareError) as exc:
        launch(AmdLaunch(Vendor.SEV, firmware).plan())
    e = exc.value
    assert (e.op, e.errno, e.fw_code, e.fw_name) == (
        "KVM_SEV_LAUNCH_FINISH",
        errno.EIO,
        SEV_RET_BAD_MEASUREMENT,
        "SEV_RET_BAD_MEASUREMENT",
    )


# -- SNP ---------------------------------------------------------------------------------------------
SNP_TYPES = {"normal": 1, "zero": 3, "unmeasured": 4, "secrets": 5, "cpuid": 6}  # amd.md §4.1


def snp_expected(plan: LaunchPlan) -> list[str]:
    labels = [*OPEN, *FEATURES, *CREATE_VM, "KVM_ENABLE_CAP", "KVM_SEV_INIT2", "KVM_SEV_SNP_LAUNCH_START"]
    for _ in plan.memory:
        labels += [*SNP_REGION, "KVM_SEV_SNP_LAUNCH_UPDATE"]
    for _ in plan.vcpus:
        labels += VMSA_REGS
    return [*labels, "KVM_SEV_SNP_LAUNCH_FINISH"]


def test_snp_sequence_types_gfns_and_launch_digest(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware, vcpus=2).plan()
    driver = AmdKvmDriver()
    result = Launcher(driver).run(plan)
    assert fake.labels() == snp_expected(plan)
    assert fake.named("KVM_GET_DEVICE_ATTR")[0].decoded()["attr"] == 1  # KVM_X86_SNP_POLICY_BITS
    assert fake.named("KVM_CREATE_VM")[0].arg == 4
    cap = fake.named("KVM_ENABLE_CAP")[0].decoded()  # KVM_CAP_EXIT_HYPERCALL 201, 1 << MAP_GPA_RANGE 12
    assert (cap["cap"], cap["args"][:8]) == (201, (1 << 12).to_bytes(8, "little"))
    init2 = fake.named("KVM_SEV_INIT2")[0]
    assert init2.sub_in == bytes(48)  # SNPActive stripped: KVM adds it (amd.md §5.5)
    assert fake.vms[0].vmsa_features == 1
    start = fake.named("KVM_SEV_SNP_LAUNCH_START")[0]
    assert start.sub_in == (0x30000).to_bytes(8, "little") + bytes(56)  # QEMU default policy (§4.4)
    # one update per op, in plan order, with the spec's page types and GFNs (amd.md §4.1, §4.2)
    updates = [c.decoded() for c in fake.named("KVM_SEV_SNP_LAUNCH_UPDATE")]
    assert [(u["gfn_start"], u["len"], u["type"]) for u in updates] == [
        (m.gpa >> 12, m.size, SNP_TYPES[m.kind.value]) for m in plan.memory
    ]
    assert [u["type"] for u in updates] == [1, 3, 3, 5, 6, 3, 3, 3]
    assert updates[0]["gfn_start"] == FW_GPA >> 12
    for c in fake.named("KVM_SEV_SNP_LAUNCH_UPDATE"):
        assert c.decoded(out=True)["len"] == 0
    # every update was preceded by private attributes on its range
    for a in fake.named("KVM_SET_MEMORY_ATTRIBUTES"):
        assert a.number == KVM_SET_MEMORY_ATTRIBUTES and a.decoded()["attributes"] == 8
    assert fake.named("KVM_CREATE_GUEST_MEMFD")[0].number == KVM_CREATE_GUEST_MEMFD
    region2 = fake.named("KVM_SET_USER_MEMORY_REGION2")[0]
    assert region2.number == KVM_SET_USER_MEMORY_REGION2 and region2.decoded()["flags"] == 4
    # the fake firmware's chain after the memory pages: the spec's checkpoint after KERNEL_HASHES (zero)
    chain = fake.vms[0].snp_ld.hex()
    assert chain.startswith("8e15fd17") and chain.endswith("b523")
    finish = fake.named("KVM_SEV_SNP_LAUNCH_FINISH")[0].decoded()
    assert (finish["id_block_en"], finish["auth_key_en"], finish["host_data"]) == (0, 0, bytes(32))
    labels = fake.labels()
    assert max(i for i, x in enumerate(labels) if x == "KVM_SET_REGS") < labels.index(
        "KVM_SEV_SNP_LAUNCH_FINISH"
    )
    assert result.measurement is None and len(result.vcpus) == 2
    with pytest.raises(ProtectedStateError):
        result.vcpus[1].get_regs()
    driver.close()


@pytest.mark.parametrize(
    ("vmm", "types"),
    [
        (Vmm.GCE, [1, 4, 4, 5, 6, 3, 4, 3]),  # SNP_SEC_MEM → UNMEASURED on gce (amd.md §4.2)
        (Vmm.EC2, [1, 3, 3, 5, 3, 3, 3, 6]),  # CPUID after all other sections on ec2
    ],
)
def test_snp_profiles_page_types(fake, firmware, vmm, types):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware, vmm=vmm).plan()
    launch(plan)
    updates = [c.decoded() for c in fake.named("KVM_SEV_SNP_LAUNCH_UPDATE")]
    assert [u["type"] for u in updates] == types
    assert [u["gfn_start"] for u in updates] == [m.gpa >> 12 for m in plan.memory]


def test_registers_are_the_vmsa(fake, firmware):  # type: ignore[no-untyped-def]
    """Every register the driver loads equals the VMSA field (APM vol. 2 §15.5.1 attribute layout)."""
    plan = AmdLaunch(Vendor.SNP, firmware, vcpus=2, vmm=Vmm.EC2).plan()
    launch(plan)
    for vcpu, op in zip(fake.named("KVM_SET_SREGS"), plan.vcpus, strict=True):
        f = parse_vmsa(op.state)
        sregs = vcpu.data_in
        for kvm_name, vmsa_name in [(n, n) for n in ("cs", "ds", "es", "fs", "gs", "ss", "tr")] + [
            ("ldt", "ldtr")
        ]:
            seg = f[vmsa_name]
            got = [
                get("kvm_sregs", sregs, f"{kvm_name}.{x}") for x in ("selector", "base", "limit", "type", "s")
            ]
            assert got == [seg.selector, seg.base, seg.limit, seg.attrib & 0xF, seg.attrib >> 4 & 1], kvm_name
            assert get("kvm_sregs", sregs, f"{kvm_name}.present") == seg.attrib >> 7 & 1
        for kvm_name, vmsa_name in (("gdt", "gdtr"), ("idt", "idtr")):
            assert get("kvm_sregs", sregs, f"{kvm_name}.base") == f[vmsa_name].base
            assert get("kvm_sregs", sregs, f"{kvm_name}.limit") == f[vmsa_name].limit
        for cr in ("cr0", "cr3", "cr4"):
            assert get("kvm_sregs", sregs, cr) == f[cr]
        assert get("kvm_sregs", sregs, "efer") == f["efer"] & ~0x1000  # without SVME
    for call, op in zip(fake.named("KVM_SET_REGS"), plan.vcpus, strict=True):
        f = parse_vmsa(op.state)
        regs = decode("kvm_regs", call.data_in)
        assert {k: regs[k] for k in ("rip", "rsp", "rflags", "rdx", "rax")} == {
            k: f[k] for k in ("rip", "rsp", "rflags", "rdx", "rax")
        }
    assert decode("kvm_regs", fake.named("KVM_SET_REGS")[0].data_in)["rdx"] == 0x600  # EC2 RDX (amd.md §3.4)


def test_snp_vmsa_pages_as_memory_are_refused(fake):  # type: ignore[no-untyped-def]
    plan = LaunchPlan.of(
        [Init(Vendor.SNP, policy=0x30000), AddMemory(0, 4096, PageKind.VMSA, data=bytes(4096))]
    )
    with pytest.raises(LayoutError, match="vmsa"), AmdKvmDriver() as driver:
        Launcher(driver).run(plan)


def test_snp_firmware_digest_matches_spec(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware).plan()
    fake.inject("KVM_SEV_SNP_LAUNCH_UPDATE", errno.EIO, fw_error=SEV_RET_INVALID_PARAM, skip=1)
    with pytest.raises(SevFirmwareError):
        launch(plan)
    assert fake.vms[0].snp_ld.hex() == DEBIAN_SNP_FW_LD  # "OVMF hash" (amd.md §4.2 step 1)


def test_snp_id_block_auth_and_host_data(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware).plan()
    id_block, id_auth, host = bytes(range(96)), bytes([7]) * 4096, bytes([0x11]) * 32
    ops = [*plan.ops[:-1], Finalize(id_block=id_block, id_auth=id_auth, host_data=host, auth_key_en=True)]
    launch(LaunchPlan.of(ops))
    finish = fake.vms[0].finish
    assert (finish["id_block_en"], finish["auth_key_en"], finish["host_data"]) == (1, 1, host)
    assert finish["id_block"] == id_block and finish["id_auth"] == id_auth


def test_snp_partial_updates_and_eagain(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware).plan()
    fake.snp_pages_per_call = 100  # the kernel advances gfn_start/uaddr/len by at most 100 pages
    fake.inject("KVM_SEV_SNP_LAUNCH_UPDATE", errno.EAGAIN, times=3, progress=2)
    fake.inject("KVM_SEV_SNP_LAUNCH_UPDATE", errno.EAGAIN, times=2, progress=0, skip=5)
    launch(plan)
    calls = fake.named("KVM_SEV_SNP_LAUNCH_UPDATE")
    fw_calls = [c for c in calls if get("kvm_sev_snp_launch_update", c.sub_in, "gfn_start") >= FW_GPA >> 12]
    assert len(fw_calls) > 1024 // 100
    for prev, nxt in itertools.pairwise(fw_calls):
        assert nxt.sub_in == prev.sub_out  # re-issued with the kernel-advanced structure
    assert sum(1 for c in calls if c.errno == errno.EAGAIN) == 5
    # same pages, same chain as an undisturbed launch (amd.md §4.2 checkpoint)
    chain = fake.vms[0].snp_ld.hex()
    assert chain.startswith("8e15fd17") and chain.endswith("b523")


def test_snp_eagain_retries_are_bounded(fake, firmware):  # type: ignore[no-untyped-def]
    fake.inject("KVM_SEV_SNP_LAUNCH_UPDATE", errno.EAGAIN, times=1000)
    with pytest.raises(KvmError) as exc:
        launch(AmdLaunch(Vendor.SNP, firmware).plan(), max_retries=5)
    assert exc.value.errno == errno.EAGAIN and not isinstance(exc.value, SevFirmwareError)
    assert len(fake.named("KVM_SEV_SNP_LAUNCH_UPDATE")) == 6


def test_snp_cpuid_page_invalid_param(fake, firmware):  # type: ignore[no-untyped-def]
    fake.inject(
        "KVM_SEV_SNP_LAUNCH_UPDATE", errno.EIO, fw_error=SEV_RET_INVALID_PARAM, when=lambda d: d["type"] == 6
    )
    with pytest.raises(SevFirmwareError) as exc:
        launch(AmdLaunch(Vendor.SNP, firmware).plan())
    assert (exc.value.op, exc.value.fw_name) == ("KVM_SEV_SNP_LAUNCH_UPDATE", "SEV_RET_INVALID_PARAM")


def test_snp_finish_bad_measurement(fake, firmware):  # type: ignore[no-untyped-def]
    fake.inject("KVM_SEV_SNP_LAUNCH_FINISH", errno.EIO, fw_error=SEV_RET_BAD_MEASUREMENT)
    with pytest.raises(SevFirmwareError, match="SEV_RET_BAD_MEASUREMENT"):
        launch(AmdLaunch(Vendor.SNP, firmware).plan())


def test_snp_policy_without_bit_17_is_refused(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware, policy=0x10000).plan()
    with pytest.raises(FeatureError, match="bit 17"):
        launch(plan)
    assert "KVM_CREATE_VM" not in fake.labels()


def test_snp_ram_region_and_page_digest_plans(fake, firmware):  # type: ignore[no-untyped-def]
    plan = AmdLaunch(Vendor.SNP, firmware).plan()
    launch(plan, ram_size=0x1000000)  # 16 MiB of RAM at 0 holds every metadata section
    assert len(fake.named("KVM_CREATE_GUEST_MEMFD")) == 2  # RAM + firmware
    assert fake.labels().index("KVM_SET_MEMORY_ATTRIBUTES") < fake.labels().index("KVM_SEV_SNP_LAUNCH_UPDATE")
    digest_plan = LaunchPlan.of(
        [Init(Vendor.SNP, policy=0x30000), AddMemory(0, 4096, PageKind.NORMAL, page_digests=(bytes(48),))]
    )
    with pytest.raises(LayoutError, match="contents"), AmdKvmDriver() as driver:
        Launcher(driver).run(digest_plan)


# -- the fake enforces the kernel's rules (so a driver bug would show) -------------------------------
def test_fake_kernel_rules(fake):  # type: ignore[no-untyped-def]
    import ctypes

    from pvmkit.kvm import DeviceFd
    from pvmkit.uapi import sev as s

    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        vm = kvm.create_vm(3)
        vm.create_vcpu(0)
        init = s.kvm_sev_init()
        cmd = s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(init), sev_fd=sev.fileno())
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)  # INIT2 after a vCPU
        vm = kvm.create_vm(4)
        bad = s.kvm_sev_init(flags=1)
        cmd = s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(bad), sev_fd=sev.fileno())
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)  # flags must be 0
        snp_active = s.kvm_sev_init(vmsa_features=1)
        cmd = s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(snp_active), sev_fd=sev.fileno())
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)  # SNPActive is not a host feature
        ok = s.kvm_sev_init()
        vm.memory_encrypt_op(
            s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(ok), sev_fd=sev.fileno())
        )
        start = s.kvm_sev_snp_launch_start(policy=0x30000)
        vm.memory_encrypt_op(
            s.kvm_sev_cmd(id=s.KVM_SEV_SNP_LAUNCH_START, data=ctypes.addressof(start), sev_fd=sev.fileno())
        )
        mem = vm.add_memory(0, 0, 0x2000)  # plain memslot: not guest_memfd, not private
        upd = s.kvm_sev_snp_launch_update(gfn_start=0, uaddr=mem.host_addr, len=0x1000, type=1)
        cmd = s.kvm_sev_cmd(id=s.KVM_SEV_SNP_LAUNCH_UPDATE, data=ctypes.addressof(upd), sev_fd=sev.fileno())
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)
        legacy = s.kvm_sev_cmd(id=s.KVM_SEV_LAUNCH_START, sev_fd=sev.fileno())
        assert vm.memory_encrypt_op_raw(legacy)[:2] == (-1, errno.EPERM)  # ids < 100 on an SNP VM
    assert fake.fired == [  # tests/support/kernel_rules.json
        "sev.init.no-vcpus",
        "sev.init.flags",
        "sev.init.vmsa-features",
        "snp.update.gmem-slot",
        "sev.snp-only-snp-commands",
    ]


def test_fake_kernel_knows_only_header_numbers():  # type: ignore[no-untyped-def]
    from pvmkit.kvm import OsBoundary, os_boundary

    fake = FakeKernel()
    with installed(fake):
        assert os_boundary() is fake
        with Kvm.open() as kvm:
            assert kvm.ioctl_raw(0xC008AEBB, None) == (-1, errno.ENOTTY)  # not a number in layouts.json
    assert fake.violations == ["ioctl number 0xc008aebb is not in layouts.json"]
    assert type(os_boundary()) is OsBoundary  # the real OS is back


def test_driver_refuses_non_amd_vendors(fake):  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError), AmdKvmDriver() as driver:
        Launcher(driver).init(Init(Vendor.TDX))
    init = dataclasses.replace(Init(Vendor.SEV_ES), vm_type=4)
    with pytest.raises(FeatureError, match="VM type"), AmdKvmDriver() as driver:
        Launcher(driver).init(init)


# -- SEV_PLATFORM_STATUS -----------------------------------------------------------------------------
def test_platform_status_on_the_drivers_sev_fd(fake, firmware):  # type: ignore[no-untyped-def]
    from pvmkit.errors import LaunchStateError

    with AmdKvmDriver() as driver:
        with pytest.raises(LaunchStateError):
            driver.platform_status()  # no /dev/sev before INIT
        result = Launcher(driver).run(AmdLaunch(Vendor.SEV, firmware).plan())
        status = driver.platform_status()
        fake.inject("SEV_ISSUE_CMD", errno.EPERM)
        with pytest.raises(KvmError) as exc:
            driver.platform_status()
    assert (status.api_major, status.api_minor, status.build) == fake.api  # the fake firmware's (1, 55, 21)
    assert status.guest_count == 1  # the launched VM
    assert exc.value.errno == errno.EPERM and not isinstance(exc.value, SevFirmwareError)
    [call] = fake.named("SEV_PLATFORM_STATUS")  # the failed one stopped at the ioctl, before decoding
    assert call.kind == "sev" and get("sev_issue_cmd", call.data_in, "cmd") == CONST["SEV_PLATFORM_STATUS"]
    # the blob checks with the status the firmware reported (amd.md §2.2)
    assert result.measurement is not None
    check_launch_measure(
        result.measurement, fake.tik, bytes.fromhex(DEBIAN_SHA256), policy=1,
        api_major=status.api_major, api_minor=status.api_minor, build=status.build,
    )  # fmt: skip


# -- SecureTSC: desired_tsc_khz comes from the VM's TSC frequency (Linux sev.c snp_launch_start) -------
def _secure_tsc_plan() -> LaunchPlan:
    from pvmkit.features import SevFeature
    from pvmkit.plan import AddVcpu
    from pvmkit.vendors.amd.vmsa import reset_vmsa

    init = Init(Vendor.SNP, policy=0x30000, vmsa_features=int(SevFeature.SECURE_TSC))
    memory = AddMemory(0, 0x1000, PageKind.NORMAL, data=bytes(0x1000))
    return LaunchPlan.of([init, memory, AddVcpu(0, reset_vmsa(sev_features=init.sev_features)), Finalize()])


@pytest.mark.parametrize(("tsc_khz", "desired"), [(1_800_000, 1_800_000), (None, 2_400_000)])
def test_snp_secure_tsc_desired_frequency(tsc_khz, desired):  # type: ignore[no-untyped-def]
    """With SecureTSC the firmware's desired_tsc_khz is the VM's TSC frequency: the driver's
    ``tsc_khz`` (KVM_SET_TSC_KHZ on the VM fd, before any vCPU) or the host's (2.4 GHz on the fake)."""
    fake = FakeKernel(vmsa_features=0x220)  # DebugSwap | SecureTSC
    with installed(fake), AmdKvmDriver(tsc_khz=tsc_khz) as driver:
        Launcher(driver).run(_secure_tsc_plan())
        assert fake.vms[0].desired_tsc_khz == desired
        assert len(fake.named("KVM_SET_TSC_KHZ")) == (tsc_khz is not None)
        with pytest.raises(KvmError) as exc:  # once a vCPU exists the VM's frequency is fixed
            driver.vm.set_tsc_khz(1_000_000)
        assert exc.value.errno == errno.EINVAL and fake.fired[-1] == "vm-tsc.vcpus"


def test_secure_tsc_needs_snp_and_a_frequency() -> None:
    fake = FakeKernel(vmsa_features=0x220)
    with installed(fake), Kvm.open() as kvm:  # SecureTSC on an SEV-ES VM: INIT2 refuses it
        import ctypes

        from pvmkit.kvm import DeviceFd
        from pvmkit.uapi import sev as s

        with DeviceFd.open("/dev/sev") as sev:
            vm = kvm.create_vm(3)
            init = s.kvm_sev_init(vmsa_features=0x200)
            cmd = s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(init), sev_fd=sev.fileno())
            assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)
    assert fake.fired == ["sev.init.vmsa-features"]
    with pytest.raises(FeatureError, match="tsc_khz"):
        AmdKvmDriver(tsc_khz=0)


# -- LAUNCH_SECRET between LAUNCH_MEASURE and LAUNCH_FINISH (Linux sev.c sev_launch_secret) -------------
@pytest.mark.parametrize("vendor", [Vendor.SEV, Vendor.SEV_ES])
def test_launch_secret_between_measure_and_finish(fake, vendor):  # type: ignore[no-untyped-def]
    """With finish=False FINALIZE stops after LAUNCH_MEASURE (QEMU's order: the secret goes in while
    the guest is in LSECRET); launch_secret passes header, transport data and the guest address, and
    launch_finish ends the launch; a second secret after it is refused before any ioctl."""
    from pvmkit.errors import LaunchStateError
    from pvmkit.plan import AddVcpu
    from pvmkit.vendors.amd.vmsa import reset_vmsa

    init = Init(vendor, policy=0x5 if vendor is Vendor.SEV_ES else 0x1)
    vcpus = [AddVcpu(0, reset_vmsa(sev_features=init.sev_features))] if vendor is Vendor.SEV_ES else []
    plan = LaunchPlan.of(
        [init, AddMemory(0, 0x2000, PageKind.NORMAL, data=bytes(0x2000)), *vcpus, Finalize()]
    )
    header, secret = bytes(range(52)), b"\x5a" * 64
    with AmdKvmDriver(finish=False) as driver:
        result = Launcher(driver).run(plan)
        assert result.measurement is not None and fake.named("KVM_SEV_LAUNCH_FINISH") == []
        driver.launch_secret(header, secret, 0x1800)
        driver.launch_finish()
        with pytest.raises(LaunchStateError):
            driver.launch_secret(header, secret, 0x1800)
    (call,) = fake.named("KVM_SEV_LAUNCH_SECRET")
    d = call.decoded()
    assert (d["hdr_len"], d["trans_len"], d["guest_len"]) == (52, 64, 64)
    assert fake.vms[0].secrets[0][:2] == (header, secret)
    assert fake.labels()[-2:] == ["KVM_SEV_LAUNCH_SECRET", "KVM_SEV_LAUNCH_FINISH"]


def test_launch_secret_rules(fake):  # type: ignore[no-untyped-def]
    """The kernel's LAUNCH_SECRET checks through the raw twin: before LAUNCH_MEASURE the firmware
    refuses (INVALID_GUEST_STATE, EIO); an empty transport buffer is EINVAL."""
    import ctypes

    from pvmkit.kvm import DeviceFd
    from pvmkit.uapi import sev as s

    with Kvm.open() as kvm, DeviceFd.open("/dev/sev") as sev:
        vm = kvm.create_vm(2)
        fd = sev.fileno()
        init = s.kvm_sev_init()
        vm.memory_encrypt_op(s.kvm_sev_cmd(id=s.KVM_SEV_INIT2, data=ctypes.addressof(init), sev_fd=fd))
        start = s.kvm_sev_launch_start(policy=1)
        vm.memory_encrypt_op(
            s.kvm_sev_cmd(id=s.KVM_SEV_LAUNCH_START, data=ctypes.addressof(start), sev_fd=fd)
        )
        mem = vm.add_memory(0, 0, 0x1000)
        blob = (ctypes.c_uint8 * 64)()
        params = s.kvm_sev_launch_secret(
            hdr_uaddr=ctypes.addressof(blob), hdr_len=52, guest_uaddr=mem.host_addr, guest_len=64,
            trans_uaddr=ctypes.addressof(blob), trans_len=64,
        )  # fmt: skip
        cmd = s.kvm_sev_cmd(id=s.KVM_SEV_LAUNCH_SECRET, data=ctypes.addressof(params), sev_fd=fd)
        assert vm.memory_encrypt_op_raw(cmd) == (-1, errno.EIO, CONST["SEV_RET_INVALID_GUEST_STATE"])
        params.trans_len = 0
        assert vm.memory_encrypt_op_raw(cmd)[:2] == (-1, errno.EINVAL)
    assert fake.fired == ["sev.fw.lsecret", "sev.secret.blobs"]
