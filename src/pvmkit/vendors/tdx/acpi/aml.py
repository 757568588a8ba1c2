"""AML (ACPI Machine Language) encoding primitives with QEMU's byte choices.

Every function returns the encoded bytes of one term; terms compose by passing bytes as arguments,
so ``scope("\\_SB", device("PCI0", name("_HID", eisaid("PNP0A08"))))`` is the AML of the ASL
``Scope (\\_SB) { Device (PCI0) { Name (_HID, EisaId ("PNP0A08")) } }``.

The grammar is ACPI 6.5 chapter 20 ("ACPI Machine Language (AML) Specification"): §20.2.2 name
objects, §20.2.3 data objects, §20.2.4 package length, §20.2.5 terms (named objects, statements,
expressions); resource descriptors are §6.4 ("Resource Data Types for ACPI"). Where the grammar
allows several encodings, these functions make the choice QEMU's ``hw/acpi/aml-build.c`` makes, so
that a table composed here equals QEMU's byte for byte:

* integers: ``ZeroOp``/``OneOp`` for 0/1, else the shortest of the ``Byte``/``Word``/``DWord``/
  ``QWord`` prefixes (``build_append_int``); ``OnesOp`` is never chosen for all-ones values;
* package lengths: the shortest encoding that holds the length including its own bytes
  (``build_prepend_package_length``);
* name strings: segments padded with ``_`` to four characters, ``DualNamePrefix`` for two segments,
  ``MultiNamePrefix`` for more, ``NullName`` for the root alone (``build_append_namestring``);
* a ``Target`` that is not given is ``NullName`` (0x00), as in QEMU's ``aml_and(a, b, NULL)``;
* resource templates end with an End Tag whose checksum byte is 0 (``aml_resource_template``).
"""

from __future__ import annotations

import struct
from typing import Protocol

from pvmkit.errors import InputError

# ACPI 6.5 §20.3 (AML byte stream byte values)
ZERO_OP, ONE_OP = 0x00, 0x01
NULL_NAME = b"\x00"
_BYTE_PREFIX, _WORD_PREFIX, _DWORD_PREFIX, _STRING_PREFIX, _QWORD_PREFIX = 0x0A, 0x0B, 0x0C, 0x0D, 0x0E
_DUAL_NAME_PREFIX, _MULTI_NAME_PREFIX = 0x2E, 0x2F
_EXT = 0x5B  # ExtOpPrefix
_LEAD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _LEAD_CHARS | frozenset("0123456789")

# §20.2.6.1/2: Arg0..Arg6, Local0..Local7; §20.2.6.3 Debug
ARGS = tuple(bytes([0x68 + i]) for i in range(7))
LOCALS = tuple(bytes([0x60 + i]) for i in range(8))
DEBUG = bytes([_EXT, 0x31])

# OperationRegion address spaces (ACPI 6.5 Generic Address Structure address space IDs)
SYSTEM_MEMORY, SYSTEM_IO, PCI_CONFIG = 0x00, 0x01, 0x02

# Field access types, lock and update rules (§20.2.5.2 FieldFlags)
ANY_ACC, BYTE_ACC, WORD_ACC, DWORD_ACC, QWORD_ACC = 0, 1, 2, 3, 4
NO_LOCK, LOCK = 0, 1
PRESERVE, WRITE_AS_ONES, WRITE_AS_ZEROS = 0, 1, 2


# --- data objects -------------------------------------------------------------------------------


def integer(value: int) -> bytes:
    """ComputationalData for an integer, QEMU's encoding (``build_append_int``)."""
    if value < 0 or value > 0xFFFFFFFFFFFFFFFF:
        raise InputError(f"AML integer {value} is outside 0..2^64-1")
    if value == 0:
        return b"\x00"
    if value == 1:
        return b"\x01"
    if value <= 0xFF:
        return bytes((_BYTE_PREFIX, value))
    if value <= 0xFFFF:
        return struct.pack("<BH", _WORD_PREFIX, value)
    if value <= 0xFFFFFFFF:
        return struct.pack("<BI", _DWORD_PREFIX, value)
    return struct.pack("<BQ", _QWORD_PREFIX, value)


def string(text: str) -> bytes:
    """``String``: StringPrefix, ASCII characters (1..0x7F), NUL (§20.2.3)."""
    raw = text.encode("ascii")
    if 0 in raw:
        raise InputError("an AML string cannot contain NUL")
    return bytes((_STRING_PREFIX,)) + raw + b"\x00"


def eisaid(text: str) -> bytes:
    """``EisaId ("PNP0A08")``: the compressed 32-bit EISA ID as a DWord constant (ACPI 6.5, ASL
    ``EISAID``: three letters of 5 bits each (letter - 0x40), then four hex digits, stored big-endian)."""
    if len(text) != 7 or not text[:3].isalpha() or not text[:3].isupper():
        raise InputError(f"EISA ID {text!r} is not three capital letters and four hex digits")
    try:
        product = int(text[3:], 16)
    except ValueError:
        raise InputError(f"EISA ID {text!r} is not three capital letters and four hex digits") from None
    vendor = 0
    for ch in text[:3]:
        vendor = vendor << 5 | (ord(ch) - 0x40)
    return bytes((_DWORD_PREFIX,)) + struct.pack(">HH", vendor, product)


def pkg_length(length: int) -> bytes:
    """PkgLength for ``length`` bytes of content that follow it, counting its own bytes (§20.2.4)."""
    for size in (1, 2, 3, 4):
        total = length + size
        if size == 1 and total < 0x40:
            return bytes((total,))
        if size > 1 and total < 1 << (4 + 8 * (size - 1)):
            lead = (size - 1) << 6 | (total & 0x0F)
            return bytes((lead,)) + (total >> 4).to_bytes(size - 1, "little")
    raise InputError(f"AML package of {length} bytes exceeds PkgLength's 2^28 - 1")


def _field_length(bits: int) -> bytes:
    """The PkgLength of a field element: a bit count, not counting its own bytes (§20.2.5.2)."""
    if bits < 0x40:
        return bytes((bits,))
    for size in (2, 3, 4):
        if bits < 1 << (4 + 8 * (size - 1)):
            return bytes(((size - 1) << 6 | (bits & 0x0F),)) + (bits >> 4).to_bytes(size - 1, "little")
    raise InputError(f"AML field of {bits} bits is too long")


def _name_seg(seg: str) -> bytes:
    if not 1 <= len(seg) <= 4 or seg[0] not in _LEAD_CHARS or any(c not in _NAME_CHARS for c in seg):
        raise InputError(f"AML name segment {seg!r} is not 1-4 characters of A-Z, 0-9, _")
    return seg.ljust(4, "_").encode("ascii")


def name_string(path: str) -> bytes:
    """NameString: optional ``\\`` or ``^`` prefixes, then dot-separated segments (§20.2.2)."""
    prefix = b""
    rest = path
    if rest.startswith("\\"):
        prefix, rest = b"\\", rest[1:]
    else:
        while rest.startswith("^"):
            prefix, rest = prefix + b"^", rest[1:]
    if not rest:
        return prefix + NULL_NAME
    segs = [_name_seg(s) for s in rest.split(".")]
    if len(segs) == 1:
        return prefix + segs[0]
    if len(segs) == 2:
        return prefix + bytes((_DUAL_NAME_PREFIX,)) + segs[0] + segs[1]
    if len(segs) > 255:
        raise InputError("an AML name path has at most 255 segments")
    return prefix + bytes((_MULTI_NAME_PREFIX, len(segs))) + b"".join(segs)


def buffer(data: bytes) -> bytes:
    """``Buffer () {data}``: BufferOp PkgLength BufferSize ByteList (§20.2.5.4 DefBuffer)."""
    content = integer(len(data)) + data
    return b"\x11" + pkg_length(len(content)) + content


def package(*elements: bytes, count: int | None = None) -> bytes:
    """``Package (n) {elements}``: PackageOp PkgLength NumElements PackageElementList; ``count`` may
    declare more elements than given (the rest uninitialized), as in ``Package (0xFF) {}``."""
    n = len(elements) if count is None else count
    if not len(elements) <= n <= 0xFF:
        raise InputError(f"an AML Package holds 0..255 elements, not {n}")
    content = bytes((n,)) + b"".join(elements)
    return b"\x12" + pkg_length(len(content)) + content


def touuid(text: str) -> bytes:
    """``ToUUID ("...")``: a 16-byte buffer, the first three fields little-endian (ACPI 6.5, ASL
    ``ToUUID``)."""
    import uuid

    try:
        return buffer(uuid.UUID(text).bytes_le)
    except ValueError:
        raise InputError(f"{text!r} is not a UUID") from None


# --- named objects and namespace modifiers -----------------------------------------------------


def _block(op: bytes, *parts: bytes) -> bytes:
    """``op PkgLength parts``: the shape of every term with a package length right after its op."""
    content = b"".join(parts)
    return op + pkg_length(len(content)) + content


def scope(path: str, *body: bytes) -> bytes:
    return _block(b"\x10", name_string(path), *body)


def name(path: str, value: bytes) -> bytes:
    return b"\x08" + name_string(path) + value


def device(path: str, *body: bytes) -> bytes:
    return _block(bytes((_EXT, 0x82)), name_string(path), *body)


def processor(path: str, proc_id: int, *body: bytes, pblk_address: int = 0, pblk_length: int = 0) -> bytes:
    """``Processor (name, id, PBlk address, PBlk length) {body}`` (§20.2.5.2 DefProcessor)."""
    header = name_string(path) + struct.pack("<BIB", proc_id, pblk_address, pblk_length)
    return _block(bytes((_EXT, 0x83)), header, *body)


def method(path: str, arg_count: int, *body: bytes, serialized: bool = False, sync_level: int = 0) -> bytes:
    """``Method (name, n, Serialized|NotSerialized) {body}``; MethodFlags bits 0-2 the argument count,
    bit 3 serialized, bits 4-7 the sync level (§20.2.5.2 DefMethod)."""
    if not 0 <= arg_count <= 7 or not 0 <= sync_level <= 15:
        raise InputError("an AML method takes 0..7 arguments and sync level 0..15")
    flags = arg_count | (0x08 if serialized else 0) | sync_level << 4
    return _block(b"\x14", name_string(path), bytes((flags,)), *body)


def mutex(path: str, sync_level: int = 0) -> bytes:
    return bytes((_EXT, 0x01)) + name_string(path) + bytes((sync_level,))


def operation_region(path: str, space: int, offset: int, length: int) -> bytes:
    """``OperationRegion (name, space, offset, length)`` (§20.2.5.2 DefOpRegion)."""
    return bytes((_EXT, 0x80)) + name_string(path) + bytes((space,)) + integer(offset) + integer(length)


def named_field(seg: str, bits: int) -> bytes:
    """A NamedField of a Field's list: ``NAME, bits``."""
    return _name_seg(seg) + _field_length(bits)


def reserved_field(bits: int) -> bytes:
    """A ReservedField: ``Offset (...)`` in ASL is a run of reserved bits (§20.2.5.2)."""
    return b"\x00" + _field_length(bits)


def field(region: str, access: int, lock: int, update: int, *elements: bytes) -> bytes:
    """``Field (region, access, lock, update) {elements}``; FieldFlags bits 0-3 access type, bit 4
    lock rule, bits 5-6 update rule (§20.2.5.2 DefField)."""
    flags = access | lock << 4 | update << 5
    return _block(bytes((_EXT, 0x81)), name_string(region), bytes((flags,)), *elements)


def create_dword_field(source: bytes, index: bytes, path: str) -> bytes:
    return b"\x8a" + source + index + name_string(path)


# --- statements ---------------------------------------------------------------------------------


def if_(predicate: bytes, *body: bytes) -> bytes:
    return _block(b"\xa0", predicate, *body)


def else_(*body: bytes) -> bytes:
    return _block(b"\xa1", *body)


def while_(predicate: bytes, *body: bytes) -> bytes:
    return _block(b"\xa2", predicate, *body)


def return_(value: bytes) -> bytes:
    return b"\xa4" + value


BREAK = b"\xa5"


def notify(obj: bytes, value: bytes) -> bytes:
    return b"\x86" + obj + value


def acquire(mutex_path: str, timeout: int) -> bytes:
    """``Acquire (mutex, timeout)``: the timeout is a raw WordData (§20.2.5.4 DefAcquire)."""
    return bytes((_EXT, 0x23)) + name_string(mutex_path) + struct.pack("<H", timeout)


def release(mutex_path: str) -> bytes:
    return bytes((_EXT, 0x27)) + name_string(mutex_path)


# --- expressions --------------------------------------------------------------------------------


def ref(path: str) -> bytes:
    """A reference to a named object (its NameString), e.g. a field as an operand or target."""
    return name_string(path)


def call(path: str, *args: bytes) -> bytes:
    """A method invocation: the method's NameString followed by its arguments."""
    return name_string(path) + b"".join(args)


def store(source: bytes, target: bytes) -> bytes:
    return b"\x70" + source + target


class _BinaryOp(Protocol):
    def __call__(self, a: bytes, b: bytes, target: bytes = NULL_NAME) -> bytes: ...


def _binary(op: int) -> _BinaryOp:
    """An ``Operand Operand Target`` expression; the target defaults to NullName (QEMU's NULL)."""

    def encode(a: bytes, b: bytes, target: bytes = NULL_NAME) -> bytes:
        return bytes((op,)) + a + b + target

    return encode


add, subtract = _binary(0x72), _binary(0x74)
shift_left, shift_right = _binary(0x79), _binary(0x7A)
and_, or_ = _binary(0x7B), _binary(0x7D)


def increment(target: bytes) -> bytes:
    return b"\x75" + target


def decrement(target: bytes) -> bytes:
    return b"\x76" + target


def land(a: bytes, b: bytes) -> bytes:
    return b"\x90" + a + b


def lor(a: bytes, b: bytes) -> bytes:
    return b"\x91" + a + b


def lnot(a: bytes) -> bytes:
    return b"\x92" + a


def lequal(a: bytes, b: bytes) -> bytes:
    return b"\x93" + a + b


def lgreater(a: bytes, b: bytes) -> bytes:
    return b"\x94" + a + b


def lless(a: bytes, b: bytes) -> bytes:
    return b"\x95" + a + b


def lnot_equal(a: bytes, b: bytes) -> bytes:
    """``a != b``: LNotOp LEqualOp (§20.2.5.4 DefLNotEqual)."""
    return lnot(lequal(a, b))


def sizeof(obj: bytes) -> bytes:
    return b"\x87" + obj


def deref_of(obj: bytes) -> bytes:
    return b"\x83" + obj


def index(source: bytes, idx: bytes, target: bytes = NULL_NAME) -> bytes:
    return b"\x88" + source + idx + target


def to_buffer(operand: bytes, target: bytes = NULL_NAME) -> bytes:
    return b"\x96" + operand + target


def to_hex_string(operand: bytes, target: bytes = NULL_NAME) -> bytes:
    return b"\x98" + operand + target


# --- resource descriptors (ACPI 6.5 §6.4) -------------------------------------------------------

# General flags of the address space descriptors (§6.4.3.5.1-3, byte 4) and QEMU's enum values
POS_DECODE, SUB_DECODE = 0, 1 << 1
MIN_FIXED, MAX_FIXED = 1 << 2, 1 << 3
# Memory type-specific flags (byte 5): read/write bit 0, cacheability bits 1-2
READ_ONLY, READ_WRITE = 0, 1
NON_CACHEABLE, CACHEABLE, WRITE_COMBINING, PREFETCHABLE = 0, 1, 2, 3
# I/O type-specific flags: ISA range bits 0-1
NON_ISA_ONLY_RANGES, ISA_ONLY_RANGES, ENTIRE_RANGE = 1, 2, 3
_MEMORY_RANGE, _IO_RANGE, _BUS_NUMBER_RANGE = 0, 1, 2
# IO descriptor decode (§6.4.2.5)
DECODE10, DECODE16 = 0, 1
# Extended interrupt descriptor flags (§6.4.3.6)
CONSUMER_PRODUCER, CONSUMER = 0, 1
LEVEL, EDGE = 0, 1
ACTIVE_HIGH, ACTIVE_LOW = 0, 1
EXCLUSIVE, SHARED = 0, 1


def resource_template(*descriptors: bytes) -> bytes:
    """``ResourceTemplate () {...}``: a Buffer of descriptors closed by an End Tag with checksum 0."""
    return buffer(b"".join(descriptors) + b"\x79\x00")


def io(decode: int, minimum: int, maximum: int, alignment: int, length: int) -> bytes:
    """I/O Port Descriptor (§6.4.2.5), small item 0x47."""
    return struct.pack("<BBHHBB", 0x47, decode, minimum, maximum, alignment, length)


def irq_no_flags(irq: int) -> bytes:
    """``IRQNoFlags () {irq}``: IRQ Descriptor without the information byte (§6.4.2.1), 0x22."""
    if not 0 <= irq <= 15:
        raise InputError(f"IRQ {irq} is not an ISA IRQ (0..15)")
    return struct.pack("<BH", 0x22, 1 << irq)


def irq_level_low_shared(irq: int) -> bytes:
    """``IRQ (Level, ActiveLow, Shared) {irq}``: IRQ Descriptor with its information byte (§6.4.2.1),
    0x23; information bit 0 clear (level-triggered), bit 3 set (active-low), bit 4 set (shared)."""
    if not 0 <= irq <= 15:
        raise InputError(f"IRQ {irq} is not an ISA IRQ (0..15)")
    return struct.pack("<BHB", 0x23, 1 << irq, 0x18)


def interrupt(consumer: int, level: int, polarity: int, sharing: int, *irqs: int) -> bytes:
    """Extended Interrupt Descriptor (§6.4.3.6), large item 0x89, without a resource source."""
    if not 1 <= len(irqs) <= 255:
        raise InputError("an Interrupt descriptor holds 1..255 interrupts")
    flags = consumer | level << 1 | polarity << 2 | sharing << 3
    body = struct.pack("<BB", flags, len(irqs)) + b"".join(struct.pack("<I", i) for i in irqs)
    return struct.pack("<BH", 0x89, len(body)) + body


def _address_space(
    tag: int, fmt: str, kind: int, general: int, specific: int, values: tuple[int, int, int, int, int]
) -> bytes:
    body = struct.pack("<BBB", kind, general, specific) + struct.pack("<" + fmt * 5, *values)
    return struct.pack("<BH", tag, len(body)) + body


def word_bus_number(
    general: int, granularity: int, minimum: int, maximum: int, translation: int, length: int
) -> bytes:
    """``WordBusNumber`` (Word Address Space Descriptor, §6.4.3.5.3, 0x88, bus number range)."""
    values = (granularity, minimum, maximum, translation, length)
    return _address_space(0x88, "H", _BUS_NUMBER_RANGE, general, 0, values)


def word_io(
    general: int, isa_ranges: int, granularity: int, minimum: int, maximum: int, translation: int, length: int
) -> bytes:
    """``WordIO`` (Word Address Space Descriptor, I/O range; TypeStatic, DenseTranslation)."""
    values = (granularity, minimum, maximum, translation, length)
    return _address_space(0x88, "H", _IO_RANGE, general, isa_ranges, values)


def memory_range(
    width: int,
    general: int,
    cacheable: int,
    read_write: int,
    granularity: int,
    minimum: int,
    maximum: int,
    translation: int,
    length: int,
) -> bytes:
    """``DWordMemory`` (``width`` 32: DWord Address Space Descriptor, §6.4.3.5.2, 0x87) or
    ``QWordMemory`` (64: QWord Address Space Descriptor, §6.4.3.5.1, 0x8A); AddressRangeMemory,
    TypeStatic."""
    if width not in (32, 64):
        raise InputError(f"a memory range descriptor is 32 or 64 bits wide, not {width}")
    tag, fmt = (0x87, "I") if width == 32 else (0x8A, "Q")
    values = (granularity, minimum, maximum, translation, length)
    return _address_space(tag, fmt, _MEMORY_RANGE, general, cacheable << 1 | read_write, values)
