"""QEMU 8.2 / 9.2 ACPI blobs of a TDX q35 guest, derived from QEMU 10.0's by the documented differences.

Evidence for docs/tdx-measure.md "QEMU versions", not the product: tests/unit/test_tdx_qemu_acpi_versions.py
applies the differences below to what Debian's QEMU 10.0.2 serves (``QemuAcpiDumper``) and compares the
three digests with real dstack captures. Each difference is a flag of the generator's version profile
(:class:`pvmkit.vendors.tdx.acpi.versions.QemuAcpiProfile`, which cites the QEMU change behind it), so
the captures prove those profiles:

* ``queued_cpu_eject`` off: ``hw/acpi/cpu.c`` ``build_cpus_aml``, method ``CSCN``, as before QEMU 10.0
  (upstream 8aa35bebeeae): a remove event notified at once in an ``Else`` of the insert check; no
  ``CEJL`` eject list, ``Local5`` counter or second notify loop.
* ``pci_dsm_label_only_with_index`` off: ``hw/acpi/pcihp.c`` ``aml_pci_pdsm``, method ``PDSM``, as
  before upstream 0b053391985a (QEMU 10.0; stable 7.2.16, 8.2.9, 9.2.1): ``_DSM`` function 7 returns
  ``Package {Zero, ""}`` with the index stored unconditionally.
* ``edge_triggered_interrupts`` on: the pre-upstream TDX series' "hw/i386: add option to forcibly
  report edge trigger in acpi tables" (``hw/i386/acpi-common.c`` ``acpi_build_madt``: an override
  for every ISA IRQ 0-15, IRQ0 -> GSI 2, flags active-high/edge 5, instead of IRQ0 -> 2 (flags 0)
  and IRQs 5, 9, 10, 11 (flags 0xD); ``hw/i386/acpi-build.c`` ``build_link_dev``,
  ``build_gsi_link_dev``, ``build_iqcr_method``: the link interrupts edge-triggered).
* ``madt_pcat_compat_always`` on: the MADT flags PCAT_COMPAT whatever ``pic`` is, as before upstream
  292dd287e78e (QEMU 9.1, ``hw/i386/acpi-common.c`` ``acpi_build_madt``).

The AML written here is the small part those changes touch, written from QEMU's source with pvmkit's
encoder (:mod:`pvmkit.vendors.tdx.acpi.aml`); it reproduces QEMU 10.0's own ``CSCN`` and ``PDSM`` byte
for byte before it writes the older forms (the tests check that too). The generator's DSDT parts are
not used: this module is their oracle.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pvmkit.vendors.tdx.acpi import aml
from pvmkit.vendors.tdx.acpi.versions import QemuAcpiProfile

__all__ = ["cscn_method", "find_method", "pdsm_method", "transform_blobs"]


# --- AML: pvmkit's encoder (pvmkit.vendors.tdx.acpi.aml), and reading PkgLengths back -------------


def decode_pkg_length(table: bytes, at: int) -> tuple[int, int]:
    """(PkgLength value, bytes it occupies) at ``table[at]`` (ACPI 6.5 section 20.2.4)."""
    lead = table[at]
    extra = lead >> 6
    if extra == 0:
        return lead & 0x3F, 1
    value = lead & 0xF
    for i in range(extra):
        value |= table[at + 1 + i] << (4 + 8 * i)
    return value, 1 + extra


ZERO, ONE = aml.integer(0), aml.integer(1)
L, A = aml.LOCALS, aml.ARGS


# --- the methods that changed -----------------------------------------------------------------------

_RES = "\\_SB.PCI0.PRES"


def cscn_method(cpu_count: int, queued_eject: bool) -> bytes:
    """``Method (CSCN)`` of ``hw/acpi/cpu.c`` ``build_cpus_aml``: QEMU >= 10.0 when ``queued_eject``,
    the form before "cpuhp: make sure that remove events are handled within the same SCI" otherwise."""
    lock = f"{_RES}.CPLK"
    csel, ccmd, cdat = (aml.ref(f"{_RES}.{f}") for f in ("CSEL", "CCMD", "CDAT"))
    cins, crmv = aml.ref(f"{_RES}.CINS"), aml.ref(f"{_RES}.CRMV")
    has_event, num_added, cpu_idx, uid, has_job, num_ej = L[:6]
    max_per_pass = aml.integer(255)
    added_full = aml.lequal(num_added, max_per_pass)
    batch_full = aml.lor(added_full, aml.lequal(num_ej, max_per_pass)) if queued_eject else added_full
    inserted = aml.if_(
        aml.lequal(cins, ONE),
        aml.store(uid, aml.index(aml.ref("CNEW"), num_added)),
        aml.increment(num_added),
        aml.store(ONE, has_event),
    )
    if queued_eject:
        removed = aml.if_(
            aml.lequal(crmv, ONE),
            aml.store(uid, aml.index(aml.ref("CEJL"), num_ej)),
            aml.increment(num_ej),
            aml.store(ONE, has_event),
        )
    else:
        removed = aml.else_(
            aml.if_(
                aml.lequal(crmv, ONE),
                aml.call("CTFY", uid, aml.integer(3)),
                aml.store(ONE, crmv),
                aml.store(ONE, has_event),
            )
        )
    scan = aml.while_(
        aml.land(aml.lequal(has_event, ONE), aml.lless(uid, aml.integer(cpu_count))),
        aml.store(ZERO, has_event),
        aml.store(uid, csel),
        aml.store(ZERO, ccmd),
        aml.if_(aml.lless(cdat, uid), aml.BREAK),
        aml.if_(batch_full, aml.store(ONE, has_job), aml.BREAK),
        aml.store(cdat, uid),
        inserted,
        removed,
        aml.increment(uid),
    )
    notify_added = aml.while_(
        aml.lless(cpu_idx, num_added),
        aml.store(aml.deref_of(aml.index(aml.ref("CNEW"), cpu_idx)), uid),
        aml.call("CTFY", uid, ONE),
        aml.store(uid, aml.DEBUG),
        aml.store(uid, csel),
        aml.store(ONE, cins),
        aml.increment(cpu_idx),
    )
    notify_removed = b""
    if queued_eject:
        notify_removed = aml.store(ZERO, cpu_idx) + aml.while_(
            aml.lless(cpu_idx, num_ej),
            aml.store(aml.deref_of(aml.index(aml.ref("CEJL"), cpu_idx)), uid),
            aml.call("CTFY", uid, aml.integer(3)),
            aml.store(uid, csel),
            aml.store(ONE, crmv),
            aml.increment(cpu_idx),
        )
    job = aml.while_(
        aml.lequal(has_job, ONE),
        aml.store(ZERO, has_job),
        aml.store(ONE, has_event),
        aml.store(ZERO, num_added),
        aml.store(ZERO, num_ej) if queued_eject else b"",
        scan,
        aml.store(ZERO, cpu_idx),
        notify_added,
        notify_removed,
    )
    lists = aml.name("CNEW", aml.package(count=255))
    if queued_eject:
        lists += aml.name("CEJL", aml.package(count=255))
    return aml.method(
        "CSCN",
        0,
        aml.acquire(lock, 0xFFFF),
        lists,
        aml.store(ZERO, uid),
        aml.store(ONE, has_job),
        job,
        aml.release(lock),
        serialized=True,
    )


def pdsm_method(empty_label_unless_indexed: bool) -> bytes:
    """``Method (PDSM)`` of ``hw/acpi/pcihp.c`` ``aml_pci_pdsm``: QEMU >= 10.0 (and the January 2025
    stable releases) when ``empty_label_unless_indexed``, the older function-7 form otherwise."""
    aidx = aml.store(
        aml.call("AIDX", aml.deref_of(aml.index(A[4], ZERO)), aml.deref_of(aml.index(A[4], ONE))), L[2]
    )
    no_index = (aml.lequal(L[2], ZERO), aml.lequal(L[2], aml.integer(0xFFFFFFFF)))
    query = aml.if_(
        aml.lequal(A[2], ZERO),
        aml.store(aml.buffer(b"\x00"), L[0]),
        aml.if_(
            aml.lnot(aml.lequal(A[0], aml.touuid("e5c937d0-3553-4d7a-9117-ea4d19c3434d"))), aml.return_(L[0])
        ),
        aml.if_(aml.lless(A[1], aml.integer(2)), aml.return_(L[0])),
        aml.store(ZERO, L[1]),
        aidx,
        aml.if_(
            aml.lnot(aml.or_(*no_index)),
            aml.or_(L[1], ONE, L[1]),
            aml.or_(L[1], aml.shift_left(ONE, aml.integer(7)), L[1]),
        ),
        aml.store(L[1], aml.index(L[0], ZERO)),
        aml.return_(L[0]),
    )
    if empty_label_unless_indexed:
        label = aml.if_(
            aml.lequal(A[2], aml.integer(7)),
            aidx,
            aml.store(aml.package(count=2), L[0]),
            aml.if_(
                aml.lnot(aml.lor(*no_index)),
                aml.store(L[2], aml.index(L[0], ZERO)),
                aml.store(aml.string(""), aml.index(L[0], ONE)),
            ),
            aml.return_(L[0]),
        )
    else:
        label = aml.if_(
            aml.lequal(A[2], aml.integer(7)),
            aml.store(aml.package(ZERO, aml.string("")), L[0]),
            aidx,
            aml.store(L[2], aml.index(L[0], ZERO)),
            aml.return_(L[0]),
        )
    return aml.method("PDSM", 5, query, label, serialized=True)


# --- splicing into a table --------------------------------------------------------------------------

_NAMED_CONTAINERS = (b"\x10", b"\x14", b"\x5b\x82")  # Scope, Method, Device: opcode PkgLength NameString


@dataclass(frozen=True)
class _Container:
    start: int  # opcode offset
    op_len: int
    len_bytes: int
    end: int  # first byte after the object


def _name_ok(table: bytes, at: int) -> bool:
    while at < len(table) and table[at] in b"\\^":
        at += 1
    if at >= len(table):
        return False
    lead = table[at]
    if lead == 0x2E:
        count, at = 2, at + 1
    elif lead == 0x2F:
        count, at = table[at + 1], at + 2
    else:
        count = 1
    chunk = table[at : at + 4 * count]
    if len(chunk) != 4 * count or count == 0:
        return False
    allowed = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
    return all(chunk[i] in allowed for i in range(len(chunk))) and all(
        chunk[i] not in b"0123456789" for i in range(0, len(chunk), 4)
    )


def _enclosing(table: bytes, start: int, end: int, lower: int) -> list[_Container]:
    """Named containers (Scope/Method/Device) after ``lower`` whose body holds ``table[start:end]``,
    outermost first; each nested in the previous one."""
    found: list[_Container] = []
    for p in range(lower, start):
        for op in _NAMED_CONTAINERS:
            if table[p : p + len(op)] != op:
                continue
            length, nbytes = decode_pkg_length(table, p + len(op))
            obj_end = p + len(op) + length
            if obj_end >= end and obj_end <= len(table) and _name_ok(table, p + len(op) + nbytes):
                found.append(_Container(p, len(op), nbytes, obj_end))
    nested = [
        c for c in found if all(o.start <= c.start and c.end <= o.end for o in found if o.start < c.start)
    ]
    return nested


def find_method(table: bytes, name: str) -> tuple[int, int]:
    """(offset, end) of ``Method (name)`` in an SDT; exactly one must exist."""
    hits = []
    needle = aml.name_string(name)
    at = table.find(needle)
    while at != -1:
        for back in (2, 3, 4, 5):
            p = at - back
            if p >= 36 and table[p] == 0x14:
                length, nbytes = decode_pkg_length(table, p + 1)
                if nbytes == back - 1 and p + 1 + length <= len(table):
                    hits.append((p, p + 1 + length))
        at = table.find(needle, at + 1)
    if len(hits) != 1:
        raise ValueError(f"Method {name}: {len(hits)} candidates")
    return hits[0]


def splice(table: bytes, start: int, end: int, new: bytes) -> bytes:
    """Replace ``table[start:end]`` by ``new`` in an SDT, rewriting the PkgLength of every enclosing
    Scope/Method/Device and the header length. QEMU leaves every checksum zero in the blob (the
    table-loader's ADD_CHECKSUM commands have the firmware compute them), so no checksum is written."""
    delta = len(new) - (end - start)
    out = bytearray(table[:start] + new + table[end:])
    # innermost first, so that a PkgLength growing by a byte moves nothing already rewritten
    for c in reversed(_enclosing(table, start, end, 36)):
        body_len = c.end - (c.start + c.op_len + c.len_bytes) + delta
        encoded = aml.pkg_length(body_len)
        out[c.start + c.op_len : c.start + c.op_len + c.len_bytes] = encoded
        delta += len(encoded) - c.len_bytes
    struct.pack_into("<I", out, 4, len(out))
    return bytes(out)


# --- MADT and the link interrupts -------------------------------------------------------------------

_ISO_LEN = 10  # ACPI MADT Interrupt Source Override


def madt_edge_triggered(madt: bytes) -> bytes:
    """The MADT with every ISA IRQ 0-15 overridden active-high/edge (the TDX series' ``acpi_build_madt``)."""
    entries = bytearray()
    off = 44
    isos_at = None
    while off < len(madt):
        kind, length = madt[off], madt[off + 1]
        if kind == 2:  # an override of QEMU 10.0's form: dropped, rewritten below
            if isos_at is None:
                isos_at = len(entries)
        else:
            entries += madt[off : off + length]
        off += length
    if isos_at is None:
        raise ValueError("the MADT has no interrupt source overrides to replace")
    isos = b"".join(
        struct.pack("<BBBBIH", 2, _ISO_LEN, 0, irq, 2 if irq == 0 else irq, 0x5) for irq in range(16)
    )
    out = bytearray(madt[:44] + bytes(entries[:isos_at]) + isos + bytes(entries[isos_at:]))
    struct.pack_into("<I", out, 4, len(out))
    return bytes(out)


def links_edge_triggered(dsdt: bytes) -> bytes:
    """Every Extended Interrupt descriptor (ACPI 6.5 6.4.3.6: 0x89) consumer/level/high/shared becomes
    consumer/edge/high/shared (flags bit 1), as ``build_link_dev``, ``build_gsi_link_dev`` and
    ``build_iqcr_method`` emit them with ``level_trigger_unsupported``."""
    out = bytearray(dsdt)
    count = 0
    at = out.find(b"\x89")
    while at != -1:
        length = int.from_bytes(out[at + 1 : at + 3], "little")
        flags, interrupts = out[at + 3], out[at + 4]
        if flags == 0x09 and interrupts and length == 2 + 4 * interrupts:
            out[at + 3] = 0x0B
            count += 1
        at = out.find(b"\x89", at + 1)
    if count == 0:
        raise ValueError("no level-triggered link interrupts found")
    return bytes(out)


# --- whole blobs --------------------------------------------------------------------------------------


def _tables(blob: bytes) -> list[tuple[bytes, int, int]]:
    out = []
    off = 0
    while off + 8 <= len(blob) and blob[off : off + 4] != bytes(4):
        sig = blob[off : off + 4]
        length = struct.unpack_from("<I", blob, off + 4)[0]
        out.append((sig, off, length))
        off += length
    return out


def transform_blobs(files: dict[str, bytes], profile: QemuAcpiProfile, cpu_count: int) -> dict[str, bytes]:
    """QEMU 10.0's three fw_cfg blobs turned into those of the QEMU ``profile`` describes: the tables
    changed, re-laid in QEMU's order, and the table-loader's offsets and lengths moved with them."""
    blob = files["etc/acpi/tables"]
    tables = _tables(blob)
    new_tables: list[tuple[bytes, bytes]] = []
    for sig, off, length in tables:
        data = blob[off : off + length]
        if sig == b"DSDT":
            if not profile.queued_cpu_eject:
                s, e = find_method(data, "CSCN")
                if data[s:e] != cscn_method(cpu_count, queued_eject=True):
                    raise ValueError("QEMU 10.0's CSCN is not the one this module models")
                data = splice(data, s, e, cscn_method(cpu_count, queued_eject=False))
            if not profile.pci_dsm_label_only_with_index:
                s, e = find_method(data, "PDSM")
                if data[s:e] != pdsm_method(empty_label_unless_indexed=True):
                    raise ValueError("QEMU 10.0's PDSM is not the one this module models")
                data = splice(data, s, e, pdsm_method(empty_label_unless_indexed=False))
            if profile.edge_triggered_interrupts:
                data = links_edge_triggered(data)
        elif sig == b"APIC":
            if profile.edge_triggered_interrupts:
                data = madt_edge_triggered(data)
            if profile.madt_pcat_compat_always:
                data = data[:40] + struct.pack("<I", 1) + data[44:]  # flags: PCAT_COMPAT
        new_tables.append((sig, data))
    return _relay(files, tables, new_tables)


def _relay(
    files: dict[str, bytes], old: list[tuple[bytes, int, int]], new: list[tuple[bytes, bytes]]
) -> dict[str, bytes]:
    """Lay the tables out again, moving every table-loader offset and length (QEMU
    ``hw/acpi/bios-linker-loader.c``: ALLOCATE 1, ADD_POINTER 2, ADD_CHECKSUM 3) and the pointers the
    tables hold (FADT FIRMWARE_CTRL/DSDT/X_DSDT, RSDT entries, RSDP's RSDT address) with them."""
    old_start = {sig: off for sig, off, _ in old}
    moved: dict[int, int] = {}
    layout: dict[bytes, tuple[int, int]] = {}
    pos = 0
    for sig, data in new:
        layout[sig] = (pos, len(data))
        moved[old_start[sig]] = pos
        pos += len(data)
    used = pos

    def move(old_off: int) -> int:
        for sig, start, length in old:
            if start <= old_off < start + length:
                return layout[sig][0] + (old_off - start)
        raise ValueError(f"table-loader offset {old_off:#x} outside every table")

    blob = bytearray(len(files["etc/acpi/tables"]))
    for sig, data in new:
        start, _ = layout[sig]
        table = bytearray(data)
        if sig in (b"FACP", b"RSDT"):
            _repoint(table, sig, moved)
        blob[start : start + len(table)] = table
    if used > len(blob):
        raise ValueError("the tables outgrew QEMU's blob")

    loader = bytearray(files["etc/table-loader"])
    tables_file = b"etc/acpi/tables".ljust(56, b"\0")
    for e in range(0, len(loader), 128):
        command = struct.unpack_from("<I", loader, e)[0]
        if command == 2 and loader[e + 4 : e + 60] == tables_file:  # pointer inside the tables
            struct.pack_into("<I", loader, e + 116, move(struct.unpack_from("<I", loader, e + 116)[0]))
        elif command == 3 and loader[e + 4 : e + 60] == tables_file:
            cks, start, length = struct.unpack_from("<III", loader, e + 60)
            for sig, old_off, old_len in old:
                if old_off == start and old_len == length:
                    new_off, new_len = layout[sig]
                    struct.pack_into("<III", loader, e + 60, move(cks), new_off, new_len)
                    break
            else:
                raise ValueError(f"ADD_CHECKSUM over {start:#x}+{length:#x} is not one table")
    rsdp = bytearray(files["etc/acpi/rsdp"])
    struct.pack_into("<I", rsdp, 16, moved[struct.unpack_from("<I", rsdp, 16)[0]])
    return {"etc/table-loader": bytes(loader), "etc/acpi/rsdp": bytes(rsdp), "etc/acpi/tables": bytes(blob)}


def _repoint(table: bytearray, sig: bytes, moved: dict[int, int]) -> None:
    """Table-relative pointers QEMU leaves in the blob for the loader to relocate."""
    if sig == b"FACP":
        fields = [(36, 4), (40, 4), (140, 8)]  # FIRMWARE_CTRL, DSDT, X_DSDT (ACPI 6.5 table 5.9)
    else:
        fields = [(off, 4) for off in range(36, len(table), 4)]
    for off, size in fields:
        fmt = "<I" if size == 4 else "<Q"
        value = struct.unpack_from(fmt, table, off)[0]
        if value or (off == 36 and sig == b"FACP"):
            if value not in moved:
                raise ValueError(f"{sig.decode()} pointer {value:#x} is not a table start")
            struct.pack_into(fmt, table, off, moved[value])
