"""Arm CCA realm measurement structures (spec cca_igvm.md §A1): RealmParams, REC params, the
measurement descriptors that extend the RIM, RIPAS splitting and the REM extend.

Everything here is pure: bytes and integers in, bytes out.

* RIM₀ = H(4096-byte RealmParams image holding only the measured fields) (§A1.2);
* every later step: RIM = H(0x100-byte descriptor embedding the current RIM) (§A1.3): DATA (type 0,
  per 4 KiB granule; content hash of the granule, or zeros when not measured), REC (type 1, only
  RUNNABLE RECs; content hash of the RecParams image with MPIDR zeroed), RIPAS (type 2, RMM 1.0 only,
  one per RTT entry walked);
* REM[i] = H(REM[i][:hash size] ‖ value[:size]) (§A1.4).

H is SHA-256, SHA-512 or (RMM 2.0) SHA-384; measurement slots are 64 bytes, zero-padded.
"""

from __future__ import annotations

import hashlib

from pvmkit.errors import InputError, LayoutError

__all__ = [
    "DESCRIPTOR_SIZE",
    "GRANULE",
    "HASH_ALGOS",
    "PARAMS_SIZE",
    "REALM_FLAG_LPA2",
    "REALM_FLAG_PMU",
    "REALM_FLAG_SVE",
    "REC_FLAG_RUNNABLE",
    "SLOT_SIZE",
    "data_descriptor",
    "hash_size",
    "realm_params_page",
    "rec_descriptor",
    "rec_params_page",
    "rem_extend",
    "ripas_descriptor",
    "ripas_entries",
    "rtt_block_sizes",
]

GRANULE = 4096
PARAMS_SIZE = 4096  #: RmiRealmParams and RmiRecParams are one granule each
DESCRIPTOR_SIZE = 0x100
SLOT_SIZE = 64  #: RIM/REM slots and the descriptors' hash fields are 64 bytes, zero-padded

#: RmiHashAlgorithm (§A1.1): name → (RMI encoding, hashlib name). SHA-384 exists only in RMM 2.0.
HASH_ALGOS = {"sha256": (0, "sha256"), "sha512": (1, "sha512"), "sha384": (2, "sha384")}

#: RmiRealmFlags (flags0) bits (§A1.2)
REALM_FLAG_LPA2 = 1 << 0
REALM_FLAG_SVE = 1 << 1
REALM_FLAG_PMU = 1 << 2

#: RmiRecFlags bit 0 (§A1.3): only runnable RECs are measured
REC_FLAG_RUNNABLE = 1 << 0

_DESC_DATA, _DESC_REC, _DESC_RIPAS = 0, 1, 2
_RMI_MEASURE_CONTENT = 1


def hash_size(algo: str) -> int:
    return hashlib.new(_hashlib_name(algo)).digest_size


def _hashlib_name(algo: str) -> str:
    try:
        return HASH_ALGOS[algo][1]
    except KeyError:
        raise InputError(f"unknown realm hash algorithm {algo!r} (sha256, sha512, sha384)") from None


def _h(algo: str, data: bytes) -> bytes:
    return hashlib.new(_hashlib_name(algo), data).digest()


def _slot(value: bytes) -> bytes:
    if len(value) > SLOT_SIZE:
        raise LayoutError(f"a measurement is at most {SLOT_SIZE} bytes, got {len(value)}")
    return value.ljust(SLOT_SIZE, b"\0")


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def realm_params_page(
    *, flags: int, s2sz: int, sve_vl: int, num_bps: int, num_wps: int, pmu_num_ctrs: int, hash_algo: str
) -> bytes:
    """The RmiRealmParams image RMI_REALM_CREATE hashes: only the measured fields, each in its own
    8-byte slot (flags @0x0, s2sz @0x8, sve_vl @0x10, num_bps @0x18, num_wps @0x20, pmu_num_ctrs
    @0x28, hash_algo @0x30), all other bytes zero (§A1.2). Fields are given in RMI encoding:
    ``sve_vl`` = VQ − 1, ``num_bps``/``num_wps`` = count − 1."""
    _hashlib_name(hash_algo)  # InputError for an unknown name
    named = {"flags": flags, "s2sz": s2sz, "sve_vl": sve_vl, "num_bps": num_bps, "num_wps": num_wps,
             "pmu_num_ctrs": pmu_num_ctrs}  # fmt: skip
    for name, value in named.items():
        if not 0 <= value < 1 << 64:
            raise LayoutError(f"realm parameter {name} = {value} does not fit in 64 bits")
    fields = (*named.values(), HASH_ALGOS[hash_algo][0])
    return b"".join(_u64(v) for v in fields).ljust(PARAMS_SIZE, b"\0")


def rec_params_page(*, pc: int, gprs: tuple[int, ...] = (), runnable: bool = True) -> bytes:
    """The RmiRecParams image a REC descriptor hashes: flags @0x0 (bit 0 RUNNABLE), pc @0x200,
    gprs[0..7] @0x300; MPIDR (@0x100) and the auxiliary granules are zero when measured (§A1.3)."""
    if len(gprs) > 8:
        raise LayoutError(f"a REC takes x0..x7 (8 registers), got {len(gprs)}")
    for value in (pc, *gprs):
        if not 0 <= value < 1 << 64:
            raise LayoutError(f"REC register value {value:#x} does not fit in 64 bits")
    page = bytearray(PARAMS_SIZE)
    page[0:8] = _u64(REC_FLAG_RUNNABLE if runnable else 0)
    page[0x200:0x208] = _u64(pc)
    for i, value in enumerate(gprs):
        page[0x300 + 8 * i : 0x308 + 8 * i] = _u64(value)
    return bytes(page)


def _descriptor(kind: int, rim: bytes, body: bytes) -> bytes:
    head = bytes([kind]) + bytes(7) + _u64(DESCRIPTOR_SIZE) + _slot(rim)
    return (head + body).ljust(DESCRIPTOR_SIZE, b"\0")


def data_descriptor(rim: bytes, ipa: int, content_hash: bytes | None) -> bytes:
    """RmmMeasurementDescriptorData (type 0): one DATA granule at ``ipa``; ``content_hash`` None means
    RMI_NO_MEASURE_CONTENT (flags 0, zero content), which still extends the RIM (§A1.3)."""
    flags = 0 if content_hash is None else _RMI_MEASURE_CONTENT
    return _descriptor(_DESC_DATA, rim, _u64(ipa) + _u64(flags) + _slot(content_hash or b""))


def rec_descriptor(rim: bytes, rec_hash: bytes) -> bytes:
    """RmmMeasurementDescriptorRec (type 1): ``rec_hash`` = H(RecParams image)."""
    return _descriptor(_DESC_REC, rim, _slot(rec_hash))


def ripas_descriptor(rim: bytes, base: int, top: int) -> bytes:
    """RmmMeasurementDescriptorRipas (type 2, RMM 1.0 only): one RTT entry [base, top)."""
    return _descriptor(_DESC_RIPAS, rim, _u64(base) + _u64(top))


def rtt_block_sizes(ipa_bits: int) -> tuple[int, ...]:
    """The sizes one stage-2 RTT entry can map with 4 KiB granules, largest first: one per level from
    the start level to level 3. The start level assumes, as KVM does, that an initial table of 16 or
    fewer entries is concatenated away (cca-realm-measurements' model; spec §A1.3)."""
    if not 32 <= ipa_bits <= 52:
        raise InputError(f"IPA width {ipa_bits} bits is outside 32..52")
    table_bits = ipa_bits - 12
    levels = -(-table_bits // 9)
    if table_bits - 9 * (levels - 1) <= 4:
        levels -= 1
    levels = min(levels, 4)
    return tuple(GRANULE << (9 * (3 - level)) for level in range(4 - levels, 4))


def ripas_entries(base: int, top: int, block_sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """Split [base, top) into RTT entries: at each address the largest block that is aligned there
    and fits (one INIT_RIPAS descriptor each on RMM 1.0)."""
    if base % GRANULE or top % GRANULE or top <= base:
        raise LayoutError(f"RIPAS range {base:#x}..{top:#x} is not a non-empty 4 KiB-aligned range")
    out = []
    addr = base
    while addr < top:
        size = next(s for s in block_sizes if addr % s == 0 and addr + s <= top)
        out.append((addr, addr + size))
        addr += size
    return out


def rem_extend(rem: bytes, value: bytes, algo: str) -> bytes:
    """RSI_MEASUREMENT_EXTEND: REM ← H(REM[:hash size] ‖ value), ``value`` at most 64 bytes, not
    padded (§A1.4; cca-realm-measurements does this differently and is not an oracle here)."""
    if len(value) > SLOT_SIZE:
        raise InputError(f"a REM extend takes at most {SLOT_SIZE} bytes, got {len(value)}")
    return _h(algo, rem[: hash_size(algo)] + value)
