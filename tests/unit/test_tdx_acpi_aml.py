"""AML encoding primitives (pvmkit.vendors.tdx.acpi.aml) against the ACPI 6.5 AML grammar (chapter 20)
and against pieces of the DSDT QEMU 10.0.2 builds (tests/vectors/README.md, "ACPI generator")."""

from __future__ import annotations

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi import aml
from support.qemu_machine import qemu_dsdt_body


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),  # ZeroOp
        (1, "01"),  # OneOp
        (2, "0a02"),  # BytePrefix
        (0xFF, "0aff"),
        (0x100, "0b0001"),  # WordPrefix, little-endian
        (0xFFFF, "0bffff"),
        (0x10000, "0c00000100"),  # DWordPrefix
        (0xFFFFFFFF, "0cffffffff"),  # QEMU never uses OnesOp
        (0x380000000000, "0e0000000000380000"),  # QWordPrefix
    ],
)
def test_integer(value: int, encoded: str) -> None:
    assert aml.integer(value).hex() == encoded


def test_integer_range() -> None:
    with pytest.raises(InputError):
        aml.integer(-1)
    with pytest.raises(InputError):
        aml.integer(1 << 64)


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "01"),
        (62, "3f"),  # 63 bytes with itself: the largest one-byte PkgLength (§20.2.4)
        (63, "4104"),  # 65 = 0x41: low nibble in byte 0 bits 0-3, the rest in byte 1
        (4093, "4fff"),  # 4095: the largest two-byte length
        (4094, "810001"),  # 4097 = 0x1001 needs three bytes
        (0xFFFFC, "8fffff"),  # 2^20 - 1
        (0xFFFFD, "c1000001"),  # 2^20 + 1 needs four
    ],
)
def test_pkg_length(length: int, encoded: str) -> None:
    assert aml.pkg_length(length).hex() == encoded


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("\\", b"\\\x00"),  # RootChar NullName
        ("DBG", b"DBG_"),  # padded with '_' (§20.2.2 NameSeg)
        ("_SB.PCI0", b"\x2e_SB_PCI0"),  # DualNamePrefix
        ("\\_SB.PCI0.PRES", b"\\\x2f\x03_SB_PCI0PRES"),  # MultiNamePrefix, 3 segments
        ("^^C000", b"^^C000"),  # ParentPrefixChar
    ],
)
def test_name_string(path: str, encoded: bytes) -> None:
    assert aml.name_string(path) == encoded


@pytest.mark.parametrize("bad", ["TOOLONG", "1ABC", "a.b", "\\_SB..X"])
def test_bad_name(bad: str) -> None:
    with pytest.raises(InputError, match="name segment"):
        aml.name_string(bad)


def test_eisaid() -> None:
    # ACPI 6.5, ASL EISAID: "PNP0303" is the 32-bit 0x0303D041 (stored little-endian)
    assert aml.eisaid("PNP0303") == bytes.fromhex("0c41d00303")
    assert aml.eisaid("PNP0A08") == bytes.fromhex("0c41d00a08")
    with pytest.raises(InputError, match="EISA ID"):
        aml.eisaid("PNP0A0G")


def test_touuid() -> None:
    # ACPI 6.5, ASL ToUUID: the first three fields are stored little-endian, the last two as written
    got = aml.touuid("33db4d5b-1ff7-401c-9657-7441c03dd766")
    assert got == bytes.fromhex("11130a105b4ddb33f71f1c4096577441c03dd766")


def test_buffer_package_and_string() -> None:
    assert aml.buffer(b"\x00") == bytes.fromhex("11030100")  # BufferOp PkgLength BufferSize ByteList
    assert aml.package(aml.integer(0), aml.string("")) == bytes.fromhex("120502000d00")
    assert aml.package(count=0xFF) == bytes.fromhex("1202ff")  # Package (0xFF) {}
    assert aml.string("PNP0C01") == b"\x0dPNP0C01\x00"


def test_method_flags() -> None:
    # MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag (§20.2.5.2)
    assert aml.method("_OST", 3, serialized=True)[-1] == 0x0B
    assert aml.method("DBUG", 1)[-1] == 0x01


def test_field_flags_and_elements() -> None:
    got = aml.field("PRST", aml.BYTE_ACC, aml.NO_LOCK, aml.WRITE_AS_ZEROS, aml.reserved_field(32))
    assert got == bytes.fromhex("5b8108") + b"PRST" + bytes([0x41, 0x00, 0x20])
    assert aml.reserved_field(64) == bytes.fromhex("004004")  # two-byte length of 64 bits


def test_resource_descriptors() -> None:
    # ACPI 6.5 §6.4.2.5 I/O Port Descriptor and §6.4.2.1 IRQ Descriptor (no information byte)
    assert aml.io(aml.DECODE16, 0x3F8, 0x3F8, 0, 8) == bytes.fromhex("4701f803f8030008")
    assert aml.irq_no_flags(12) == bytes.fromhex("220010")
    # §6.4.3.6 Extended Interrupt Descriptor: consumer, level, active high, shared
    got = aml.interrupt(aml.CONSUMER, aml.LEVEL, aml.ACTIVE_HIGH, aml.SHARED, 5)
    assert got == bytes.fromhex("890600090105000000")
    with pytest.raises(InputError):
        aml.irq_no_flags(16)


def test_pieces_of_qemus_dsdt() -> None:
    """Terms composed with these primitives occur verbatim in QEMU 10.0.2's DSDT (the whole DSDT is
    compared in test_tdx_acpi_dsdt.py)."""
    body = qemu_dsdt_body()
    one, zero = aml.integer(1), aml.integer(0)
    assert aml.name("_S3", aml.package(one, one, zero, zero)) in body
    assert aml.name("_HID", aml.eisaid("PNP0A08")) + aml.name("_CID", aml.eisaid("PNP0A03")) in body
    fixed = aml.POS_DECODE | aml.MIN_FIXED | aml.MAX_FIXED
    mmconfig = (0, 0xE0000000, 0xEFFFFFFF, 0, 0x10000000)
    assert aml.memory_range(32, fixed, aml.NON_CACHEABLE, aml.READ_WRITE, *mmconfig) in body
    assert aml.method("_PIC", 1, aml.store(aml.ARGS[0], aml.ref("PICF"))) in body
