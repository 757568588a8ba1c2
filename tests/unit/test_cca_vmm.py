"""Arm CCA realms as kvmtool lays them out (``pvmkit.vendors.cca.kvmtool``) and the DTB writer.

Vectors: veraison/cca-realm-measurements ``tests/cmdline.rs`` (``kvmtool_params``: ``--num-wps 6
--num-bps 6 kvmtool --realm -c 1 -m 512M`` prints a RIM containing ``998dfdf6…d4d``;
``kvmtool_measurements``: the same with ``--firmware`` holding ``FW CONTENT`` prints RIM
``cf37146f…7bf5``), and rust-vmm vm-fdt ``src/writer.rs`` test ``minimal`` (the DTB of an empty root
node). Placement expectations are computed in the tests from kvmtool's rules as its source states
them (arm/kvm.c, arm/aarch64/kvm.c), not from pvmkit. See tests/vectors/README.md "Arm CCA VMM layouts".
"""

from __future__ import annotations

import struct

import pytest

from pvmkit.errors import FormatError, InputError, LayoutError, TruncatedError
from pvmkit.formats.arm64_image import parse_arm64_image
from pvmkit.formats.fdt import FdtWriter
from pvmkit.vendors.cca.kvmtool import KvmtoolConfig, kvmtool_dtb, kvmtool_layout
from pvmkit.vendors.cca.measure import measure_rim
from pvmkit.vendors.cca.vmm_layout import Blob, VmmLayout, plan_of

MIB = 1 << 20
PEER_NO_KERNEL = "998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4599aa8671791d4d"  # a prefix (contains)
PEER_FIRMWARE = "cf37146fce0ad50e1be1a04580c1024e5449b430b0dd96b6ef5c9a2b73767bf5"


def image(text_offset: int = 0, image_size: int = 0x200000, body: bytes = b"") -> bytes:
    """An arm64 Image header (booting.rst): branch, text_offset, image_size, flags, magic at 0x38."""
    head = struct.pack("<IIQQQQQQII", 0x14000000, 0, text_offset, image_size, 0xA, 0, 0, 0, 0x644D5241, 0)
    return head + body


def rim(config: KvmtoolConfig, **kw: object) -> str:
    layout = kvmtool_layout(config)
    return measure_rim(plan_of(layout, num_bps=6, num_wps=6, vcpus=config.vcpus, **kw)).hex()  # type: ignore[arg-type]


def test_peer_vector_no_kernel() -> None:
    assert rim(KvmtoolConfig(ram_size=512 * MIB, vcpus=1)).startswith(PEER_NO_KERNEL)


def test_peer_vector_firmware() -> None:
    assert rim(KvmtoolConfig(ram_size=512 * MIB, vcpus=1, firmware=b"FW CONTENT")) == PEER_FIRMWARE


def test_vm_fdt_minimal_vector() -> None:
    f = FdtWriter()
    f.begin_node("")
    f.end_node()
    expected = bytes.fromhex(
        "d00dfeed 00000048 00000038 00000048 00000028 00000011 00000010 00000000 00000000 00000010"
        "00000000 00000000 00000000 00000000 00000001 00000000 00000002 00000009".replace(" ", "")
    )
    assert f.finish() == expected


def test_fdt_writer_refuses_bad_structure() -> None:
    f = FdtWriter()
    with pytest.raises(InputError, match="outside a node"):
        f.prop_u32("x", 1)
    f.begin_node("")
    with pytest.raises(InputError, match="NUL"):
        f.prop_strings("bootargs", "a\0b")
    with pytest.raises(InputError, match="not ended"):
        f.finish()


def test_placement_follows_kvmtool() -> None:
    """arm/kvm.c kvm__arch_load_kernel_image: kernel at RAM + text_offset; DTB at
    ALIGN(RAM + min(RAM, 256M) - 1 - 64K - 2M, 2M); initrd at ALIGN(DTB - size - 4, 4)."""
    kernel = image(text_offset=0x80000, body=b"K" * 5000)
    initrd = b"I" * 12345
    layout = kvmtool_layout(KvmtoolConfig(ram_size=1024 * MIB, vcpus=4, kernel=kernel, initrd=initrd))
    dtb = 0x8FE00000
    initrd_at = (dtb - len(initrd) - 4 + 3) // 4 * 4
    assert layout.dtb_gpa == dtb and layout.pc == 0x80080000 and layout.gprs[0] == dtb
    assert {b.label: b.gpa for b in layout.blobs} == {"kernel": 0x80080000, "initrd": initrd_at, "dtb": dtb}
    assert layout.ipa_bits == 33 and len(layout.dtb) == 0x10000
    # less than 256 MiB of RAM: the DTB goes 2 MiB (aligned) below the end of RAM
    small = kvmtool_layout(KvmtoolConfig(ram_size=64 * MIB, vcpus=1))
    assert small.dtb_gpa == (0x80000000 + 64 * MIB - 1 - 0x10000 - 0x200000 + 0x1FFFFF) // 0x200000 * 0x200000
    # 4 GiB of RAM needs 34 IPA bits for RAM (last IPA 0x17fffffff) + 1 for the unprotected alias
    assert kvmtool_layout(KvmtoolConfig(ram_size=4096 * MIB, vcpus=1)).ipa_bits == 34


def test_initrd_and_kernel_change_the_rim() -> None:
    base = KvmtoolConfig(ram_size=512 * MIB, vcpus=2, kernel=image(body=b"k" * 100))
    with_initrd = KvmtoolConfig(ram_size=512 * MIB, vcpus=2, kernel=image(body=b"k" * 100), initrd=b"i" * 7)
    assert len({rim(base), rim(with_initrd), rim(KvmtoolConfig(ram_size=512 * MIB, vcpus=2))}) == 3
    # the DTB carries the initrd range: a different initrd size is a different DTB
    a = kvmtool_dtb(base, (0x8FDFFFF0, 7))
    b = kvmtool_dtb(base, (0x8FDFFFF0, 8))
    assert a != b and len(a) == len(b) == 0x10000


def test_dtb_given_is_measured_as_given() -> None:
    config = KvmtoolConfig(ram_size=512 * MIB, vcpus=1)
    generated = kvmtool_layout(config).dtb
    size = struct.unpack_from(">I", generated, 4)[0]  # the header's totalsize
    assert kvmtool_layout(config, generated[:size]).dtb == generated  # kvmtool pads it to 64 KiB
    empty = FdtWriter()
    empty.begin_node("")
    empty.end_node()
    other = measure_rim(plan_of(kvmtool_layout(config, empty.finish()), num_bps=6, num_wps=6, vcpus=1)).hex()
    assert other != rim(config)
    with pytest.raises(InputError, match="more than kvmtool's 65536"):
        kvmtool_layout(config, generated + bytes(1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xd0\x0d\xfe\xed", "too short"),
        (bytes(64), "not a device tree blob"),
        (
            struct.pack(">10I", 0xD00DFEED, 0x1000, 56, 60, 40, 17, 16, 0, 0, 4) + bytes(16),
            "more than the 56 bytes",
        ),
        (
            struct.pack(">10I", 0xD00DFEED, 56, 56, 60, 40, 17, 16, 0, 0, 40) + bytes(16),
            "structure block lies outside",
        ),
        (struct.pack(">10I", 0xD00DFEED, 56, 56, 56, 40, 1, 1, 0, 0, 0) + bytes(16), "version 1 is older"),
    ],
)
def test_dtb_given_must_be_a_dtb(data: bytes, message: str) -> None:
    from pvmkit.errors import FormatError

    for layout in (kvmtool_layout, qemu_layout):
        with pytest.raises(FormatError, match=message):
            layout(
                KvmtoolConfig(ram_size=512 * MIB, vcpus=1) if layout is kvmtool_layout else QemuConfig(), data
            )  # type: ignore[operator]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (KvmtoolConfig(ram_size=3 * MIB, vcpus=1), "multiple of 2 MiB"),
        (KvmtoolConfig(ram_size=512 * MIB, vcpus=0), "outside 1..512"),
        (
            KvmtoolConfig(ram_size=512 * MIB, vcpus=1, firmware=b"x", firmware_address=0x40000000),
            "not in RAM",
        ),
        (KvmtoolConfig(ram_size=4 * MIB, vcpus=1, kernel=image(image_size=8 * MIB)), "overlap the kernel"),
    ],
)
def test_bad_layouts(config: KvmtoolConfig, message: str) -> None:
    with pytest.raises(InputError, match=message):
        kvmtool_layout(config)


def test_host_limits() -> None:
    layout = kvmtool_layout(KvmtoolConfig(ram_size=512 * MIB, vcpus=1))
    with pytest.raises(InputError, match="needs 33 IPA bits, the host offers 32"):
        plan_of(layout, num_bps=6, num_wps=6, vcpus=1, host_ipa_bits=32)


def test_images_sharing_a_granule_are_refused() -> None:
    blobs = (Blob(0x80000000, b"a", "a"), Blob(0x80000800, b"b", "b"))
    layout = VmmLayout("x", ((0x80000000, 2 * MIB),), blobs, 0, (0,) * 8, 0x80000000, b"", 33)
    with pytest.raises(LayoutError, match="shares a 4 KiB granule"):
        plan_of(layout, num_bps=2, num_wps=2, vcpus=1)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"\x1f\x8b" + bytes(100), FormatError, "gzip"),
        (b"\x7fELF" + bytes(100), FormatError, "ELF"),
        (bytes(64), FormatError, "not an arm64 Image"),
        (bytes(10), TruncatedError, "too short"),
    ],
)
def test_not_an_arm64_image(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_arm64_image(data)
    with pytest.raises(error):
        kvmtool_layout(KvmtoolConfig(ram_size=512 * MIB, vcpus=1, kernel=data))


def test_image_header_fields() -> None:
    head = parse_arm64_image(image(text_offset=0x80000, image_size=0x1234000))
    assert (head.text_offset, head.image_size, head.big_endian) == (0x80000, 0x1234000, False)
    # kvm__arch_get_kern_offset: an image size of 0 (pre-3.17 kernels) means TEXT_OFFSET 0x80000
    layout = kvmtool_layout(
        KvmtoolConfig(ram_size=512 * MIB, vcpus=1, kernel=image(text_offset=0, image_size=0))
    )
    assert layout.pc == 0x80080000


# -- QEMU (cca-realm-measurements tests/cmdline.rs qemu_params / qemu_measurements) ------------------
from pvmkit.vendors.cca.qemu import QemuConfig, qemu_dtb, qemu_layout  # noqa: E402


def qemu_rim(config: QemuConfig, algo: str, counters: int | None = None) -> str:
    plan = plan_of(qemu_layout(config), num_bps=6, num_wps=6, vcpus=config.vcpus, hash_algo=algo,
                   pmu_num_ctrs=counters, host_ipa_bits=52)  # fmt: skip
    return measure_rim(plan).hex()


# --num-wps 6 --num-bps 6 --ipa-bits 52 --pmu-num-ctrs 6 qemu [args]: the tool's QEMU default is SHA-512,
# -m 128M, one vCPU; with pmu=on the PMU counters are the host's 6 (or num-pmu-counters=2)
QEMU_NO_ARGS = (
    "cf409055d866eea6c8d5e7862b540ff1cac9b11f125d088587d5ae97a0e33416"
    "67cf8fb3983e7377bca5c01d037bd97081ebf3b4dcb648442149749f4d65eeb0"
)
QEMU_PMU_ON = (
    "8120ef921a987a3f8b9d4bb5e40f8489e2b4fc69c5e1b17b1a9b040884a1211d"
    "99b2bddc3fddcc99ec99f4244743fe3dcd3d9020583b47f7b66a2ec66bb897b9"
)
QEMU_PMU_2 = (
    "ef4e6f78ea9630f66146b33a405a07b669ef94dd9aca6935d4fd23fea32f98f9"
    "64241a2f9a9c20c9fcd74e20031c51c4beb8e577873e0348e891ee2d727e2807"
)
# rme-guest,measurement-algorithm=sha256 -smp 2 -m 1G -bios firmware (FW CONTENT) [-kernel Image]
# [-append root=/dev/vda2]
QEMU_BIOS = "cbf533a94009dfa6b83016a89b428d1d910fb3593856bb386d7b2bd07a1bc834"
QEMU_BIOS_APPEND = "fd3ce1072c3e95cd3a4d1a07729756564f260f9f7e95014418b416673a268b7a"


def test_qemu_published_vectors() -> None:
    assert qemu_rim(QemuConfig(), "sha512") == QEMU_NO_ARGS
    assert qemu_rim(QemuConfig(pmu=True), "sha512", 6) == QEMU_PMU_ON
    assert qemu_rim(QemuConfig(pmu=True), "sha512", 2) == QEMU_PMU_2
    bios = QemuConfig(ram_size=1024 * MIB, vcpus=2, firmware=b"FW CONTENT")
    assert qemu_rim(bios, "sha256") == QEMU_BIOS
    # with -bios the kernel goes through fw_cfg: the RIM does not change
    with_kernel = QemuConfig(
        ram_size=1024 * MIB, vcpus=2, firmware=b"FW CONTENT", kernel=image(body=b"k" * 64)
    )
    assert qemu_rim(with_kernel, "sha256") == QEMU_BIOS
    appended = QemuConfig(ram_size=1024 * MIB, vcpus=2, firmware=b"FW CONTENT", bootargs="root=/dev/vda2")
    assert qemu_rim(appended, "sha256") == QEMU_BIOS_APPEND


def test_qemu_direct_boot_placement() -> None:
    """hw/arm/boot.c: kernel at RAM + text_offset, initrd at ALIGN(max(RAM + min(RAM/2, 128M), kernel
    end), 4K), DTB at the next 2 MiB after the initrd; PC at the kernel, x0 the DTB."""
    kernel = image(text_offset=0, image_size=0x3000000)
    initrd = b"i" * 5000
    layout = qemu_layout(QemuConfig(ram_size=1024 * MIB, vcpus=4, kernel=kernel, initrd=initrd))
    initrd_at = 0x40000000 + 128 * MIB
    dtb_at = (initrd_at + len(initrd) + 0x1FFFFF) // 0x200000 * 0x200000
    assert {b.label: b.gpa for b in layout.blobs} == {
        "kernel": 0x40000000,
        "initrd": initrd_at,
        "dtb": dtb_at,
    }
    assert (layout.pc, layout.gprs[0], layout.ipa_bits) == (0x40000000, dtb_at, 41)
    # a big kernel pushes the initrd up; a small RAM halves the initrd offset
    big = qemu_layout(QemuConfig(ram_size=1024 * MIB, kernel=image(image_size=200 * MIB), initrd=initrd))
    assert {b.label: b.gpa for b in big.blobs}["initrd"] == 0x40000000 + 200 * MIB
    small = qemu_layout(QemuConfig(ram_size=64 * MIB, kernel=kernel[:64], initrd=initrd))
    assert {b.label: b.gpa for b in small.blobs}["initrd"] == max(
        0x40000000 + 32 * MIB, 0x40000000 + 0x3000000
    )
    with pytest.raises(InputError, match="initrd only with a kernel"):
        qemu_layout(QemuConfig(initrd=b"x"))
    with pytest.raises(InputError, match="up to 255 GiB"):
        qemu_layout(QemuConfig(ram_size=256 << 30))
    with pytest.raises(InputError, match="needs 41 IPA bits"):
        plan_of(qemu_layout(QemuConfig()), num_bps=2, num_wps=2, vcpus=1, host_ipa_bits=40)


def test_qemu_dtb_high_redistributors() -> None:
    """virt.c: 123 GICv3 redistributors fit the low region; more need the high one."""
    low = qemu_dtb(QemuConfig(vcpus=123), None)
    high = qemu_dtb(QemuConfig(vcpus=124), None)
    assert b"#redistributor-regions" in low and struct.pack(">QQ", 0x40_00000000, 64 * MIB) in high
    assert struct.pack(">QQ", 0x40_00000000, 64 * MIB) not in low
