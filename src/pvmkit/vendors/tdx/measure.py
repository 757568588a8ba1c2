"""The TDX MRTD measurer: a :class:`pvmkit.launch.Backend` whose FINALIZE returns MRTD (spec tdx.md §1.3–1.4).

MRTD is **one running SHA-384** (not a chain) over 128-byte records the TDX module writes:

* ``TDH.MEM.PAGE.ADD``: ``"MEM.PAGE.ADD"`` (12 bytes) | 4 zero bytes | GPA u64 LE | 104 zero bytes;
* ``TDH.MR.EXTEND``: ``"MR.EXTEND"`` (9 bytes) | 7 zero bytes | chunk GPA u64 LE | 104 zero bytes,
  immediately followed by the 256 chunk bytes.

How plan ops map onto records (one :class:`~pvmkit.plan.AddMemory` = one TDVF section = one
``KVM_TDX_INIT_MEM_REGION``):

==========================  ====================================================================
``AddMemory.kind``           records
==========================  ====================================================================
``NORMAL``                   PAGE.ADD and 16 MR.EXTEND per page (the MEASURE flag)
``UNMEASURED`` / ``ZERO``    PAGE.ADD only (CFV, TD HOB, TempMem: contents never reach MRTD)
anything else                :class:`~pvmkit.errors.MeasurementError` (no TDX meaning)
==========================  ====================================================================

The record order comes from ``Init.tdx.order`` (:class:`~pvmkit.plan.PageOrder`):

* ``INTERLEAVED`` ("kvm-upstream", KVM ≥ 6.16): per page, PAGE.ADD then its 16 EXTENDs;
* ``TWO_PASS`` ("legacy-two-pass", Canonical QEMU 8.2 / dstack QEMU 8.x stacks): per section (per
  ``AddMemory`` op) all PAGE.ADDs, then all EXTENDs. The backend gets the whole section in one call,
  so it emits the two passes inside that call; sections never mix.

vCPUs (``AddVcpu``, carrying only the TD HOB GPA in ``rcx``), the TD attributes, XFAM and the three
MR* config fields do not enter MRTD. Pages given only as ``page_digests`` cannot be measured (TDX
extends raw bytes): :class:`~pvmkit.errors.MeasurementError`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pvmkit.errors import InputError, MeasurementError
from pvmkit.launch import Launcher
from pvmkit.plan import (
    PAGE_SIZE,
    AddMemory,
    AddVcpu,
    Finalize,
    Init,
    LaunchPlan,
    PageKind,
    PageOrder,
    TdxParams,
    Vendor,
)

if TYPE_CHECKING:
    from pvmkit.formats.tdx_quote import TdInfo

__all__ = [
    "CHUNK_SIZE",
    "MrtdMeasurer",
    "measure_mrtd",
    "mr_extend_record",
    "page_add_record",
    "predict_td_info",
]

CHUNK_SIZE = 256
_CHUNKS = PAGE_SIZE // CHUNK_SIZE
_ADD = struct.Struct("<12s4xQ104x")
_EXTEND = struct.Struct("<9s7xQ104x")
_EXTENDS16 = struct.Struct("<" + "9s7xQ104x256s" * 16)  # one page's 16 MR.EXTEND records with their chunks
_E = b"MR.EXTEND"


def _page_extends(gpa: int, pg: bytes) -> bytes:
    """The 16 MR.EXTEND records (each followed by its chunk) of the 4 KiB page ``pg`` at ``gpa``.

    Unrolled: one struct call per page is the hot path of MRTD (≈15 % faster than 32 updates).
    """
    return _EXTENDS16.pack(
        _E, gpa, pg[0:256], _E, gpa + 256, pg[256:512], _E, gpa + 512, pg[512:768],
        _E, gpa + 768, pg[768:1024], _E, gpa + 1024, pg[1024:1280], _E, gpa + 1280, pg[1280:1536],
        _E, gpa + 1536, pg[1536:1792], _E, gpa + 1792, pg[1792:2048], _E, gpa + 2048, pg[2048:2304],
        _E, gpa + 2304, pg[2304:2560], _E, gpa + 2560, pg[2560:2816], _E, gpa + 2816, pg[2816:3072],
        _E, gpa + 3072, pg[3072:3328], _E, gpa + 3328, pg[3328:3584], _E, gpa + 3584, pg[3584:3840],
        _E, gpa + 3840, pg[3840:4096],
    )  # fmt: skip


def page_add_record(gpa: int) -> bytes:
    """The 128-byte ``TDH.MEM.PAGE.ADD`` record for ``gpa``."""
    return _ADD.pack(b"MEM.PAGE.ADD", gpa)


def mr_extend_record(gpa: int) -> bytes:
    """The 128-byte ``TDH.MR.EXTEND`` record for the 256-byte chunk at ``gpa`` (the chunk follows it)."""
    return _EXTEND.pack(b"MR.EXTEND", gpa)


class MrtdMeasurer:
    """Backend computing MRTD. ``finalize`` returns the 48-byte digest.

    ``records`` counts the PAGE.ADD and MR.EXTEND records emitted (for reports and benchmarks).
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha384()
        self.order = PageOrder.INTERLEAVED
        self.page_adds = 0
        self.extends = 0

    def init(self, op: Init) -> None:
        if op.vendor is not Vendor.TDX:
            raise MeasurementError(f"the MRTD measurer takes TDX plans, not {op.vendor.value}")
        if op.tdx is not None:
            self.order = op.tdx.order

    def add_memory(self, op: AddMemory) -> None:
        if op.kind is PageKind.NORMAL:
            if op.page_digests is not None:
                raise MeasurementError(
                    f"{op.label or 'memory'} at {op.gpa:#x}: TDX MR.EXTEND hashes raw bytes; page digests "
                    "cannot be measured"
                )
            self._add_measured(op)
        elif op.kind in (PageKind.UNMEASURED, PageKind.ZERO):
            self._add_only(op.gpa, op.pages)
        else:
            raise MeasurementError(f"{op.label or 'memory'}: TDX has no {op.kind.value} pages")

    def add_vcpu(self, op: AddVcpu) -> None:
        """No measurement effect (``KVM_TDX_INIT_VCPU`` only sets RCX)."""

    def finalize(self, op: Finalize) -> bytes:
        return self._hash.digest()

    # -- records ----------------------------------------------------------------------------------
    def _add_only(self, gpa: int, pages: int) -> None:
        update, pack = self._hash.update, _ADD.pack
        for p in range(pages):
            update(pack(b"MEM.PAGE.ADD", gpa + p * PAGE_SIZE))
        self.page_adds += pages

    def _add_measured(self, op: AddMemory) -> None:
        zero = bytes(PAGE_SIZE)
        data = memoryview(op.data).cast("B") if op.data is not None else None

        def page(p: int) -> bytes:
            return zero if data is None else bytes(data[p * PAGE_SIZE : (p + 1) * PAGE_SIZE])

        update = self._hash.update
        if self.order is PageOrder.TWO_PASS:
            self._add_only(op.gpa, op.pages)
            for p in range(op.pages):
                update(_page_extends(op.gpa + p * PAGE_SIZE, page(p)))
        else:
            pack = _ADD.pack
            for p in range(op.pages):
                gpa = op.gpa + p * PAGE_SIZE
                update(pack(b"MEM.PAGE.ADD", gpa))
                update(_page_extends(gpa, page(p)))
            self.page_adds += op.pages
        self.extends += op.pages * _CHUNKS


def measure_mrtd(plan: LaunchPlan) -> bytes:
    """MRTD of a TDX launch plan (run through :class:`~pvmkit.launch.Launcher`, so it is validated)."""
    return Launcher(MrtdMeasurer()).run(plan)


def predict_td_info(plan: LaunchPlan, rtmrs: Sequence[bytes] | None = None) -> TdInfo:
    """The TDINFO a TD launched from ``plan`` reports (spec tdx.md §2.6, §5b).

    MRTD is measured from the plan; ATTRIBUTES is ``Init.policy`` (the TD attributes), XFAM and the three
    MR* config fields come from ``Init.tdx`` verbatim — the TDX module's fixed-1 bits are *not* added
    (pass the values the host really gives ``KVM_TDX_INIT_VM``). ``rtmrs`` defaults to the boot value
    of all four (zeros). ``hashlib.sha384(info.to_bytes())`` is the report's TEE_INFO_HASH.
    """
    from pvmkit.formats.tdx_quote import TdInfo  # lazy: the MRTD path does not need it

    init = plan.init
    if init.vendor is not Vendor.TDX:
        raise MeasurementError(f"TDINFO is TDX-only, the plan is {init.vendor.value}")
    regs = tuple(rtmrs) if rtmrs is not None else (bytes(48),) * 4
    if len(regs) != 4 or any(len(r) != 48 for r in regs):
        raise InputError("TDINFO takes four 48-byte RTMRs")
    params = init.tdx if init.tdx is not None else TdxParams()
    return TdInfo(
        attributes=init.policy,
        xfam=params.xfam,
        mr_td=measure_mrtd(plan),
        mr_config_id=params.mrconfigid,
        mr_owner=params.mrowner,
        mr_owner_config=params.mrownerconfig,
        rtmr0=regs[0],
        rtmr1=regs[1],
        rtmr2=regs[2],
        rtmr3=regs[3],
        servtd_hash=bytes(48),
        reserved=bytes(64),
    )
