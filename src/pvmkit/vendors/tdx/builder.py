"""TDVF image → TDX :class:`~pvmkit.plan.LaunchPlan`, in QEMU + KVM ≥ 6.16 order (spec tdx.md §0, §5b).

::

    Init(vendor=TDX, tdx=TdxParams(order=…))
    AddVcpu(i, rcx=TD HOB GPA)        for i in range(vcpus)   (KVM_TDX_INIT_VCPU; no measurement effect)
    AddMemory(section)                for each TDVF section, in metadata order (KVM_TDX_INIT_MEM_REGION)
    Finalize()                                                (KVM_TDX_FINALIZE_VM)

vCPUs come before memory because KVM takes ``KVM_TDX_INIT_MEM_REGION`` on a vCPU fd after every vCPU
had ``KVM_TDX_INIT_VCPU``; MRTD does not depend on where they sit.

Section → ``AddMemory``:

=======================  =============  ====================================================
section                  ``kind``       ``data``
=======================  =============  ====================================================
``MR.EXTEND`` set (BFV)  ``NORMAL``     the image bytes at ``DataOffset`` (a view, no copy)
CFV                      ``UNMEASURED`` the image bytes at ``DataOffset`` (the varstore)
TD_HOB                   ``UNMEASURED`` the HOB given by the caller (zero-padded), or zeros
TempMem and others       ``UNMEASURED`` zeros
``PAGE.AUG`` set         not added (the guest accepts these pages later; QEMU rejects such types)
=======================  =============  ====================================================

pvmkit uses ``PageKind.UNMEASURED`` for every PAGE.ADD-only section (never ``ZERO``), because CFV and
the TD HOB carry non-zero contents that the TD sees but MRTD does not cover. The measurer accepts
``ZERO`` too, with the same meaning.

A measured section whose ``MemoryDataSize`` exceeds ``RawDataSize`` is refused
(:class:`~pvmkit.errors.MeasurementError`): QEMU would extend whatever image bytes follow, td-shim
zeros, and no OVMF build has one.
"""

from __future__ import annotations

import dataclasses
import mmap

from pvmkit.errors import InputError, MeasurementError
from pvmkit.formats.tdvf import TdvfMetadata, TdvfSection, TdvfSectionType, parse_tdvf
from pvmkit.plan import (
    AddMemory,
    AddVcpu,
    Finalize,
    Init,
    LaunchPlan,
    Op,
    PageKind,
    PageOrder,
    TdxParams,
    Vendor,
)
from pvmkit.vendors.tdx.td_hob import build_td_hob

__all__ = ["build_tdvf_plan", "section_op"]


def _zero_padded(data: bytes | memoryview, size: int) -> mmap.mmap:
    """``data`` followed by zeros up to ``size`` bytes, in an anonymous mapping: the kernel zero-fills
    its pages lazily, so only the pages holding ``data`` (and those a consumer reads) cost memory. The
    parser bounds ``size`` (:data:`pvmkit.formats.tdvf.MAX_SECTION_MEMORY`)."""
    out = mmap.mmap(-1, size)
    out[: len(data)] = data
    return out


def section_op(
    image: bytes | bytearray | memoryview,
    meta: TdvfMetadata,
    section: TdvfSection,
    td_hob: bytes | None = None,
    *,
    zero_pad_measured: bool = False,
) -> AddMemory | None:
    """The ``AddMemory`` for one TDVF section (None for a PAGE.AUG section).

    ``zero_pad_measured`` extends a measured section's bytes beyond ``RawDataSize`` with zeros (td-shim's
    rule); by default such a section is refused.
    """
    if section.page_aug:
        return None
    label = f"{section.type_name}#{section.index}"
    size = section.memory_data_size
    if section.mr_extend:
        if zero_pad_measured and section.memory_data_size != section.raw_data_size:
            padded = _zero_padded(meta.raw_data(image, section), size)
            return AddMemory(section.memory_address, size, PageKind.NORMAL, padded, label=label)
        if section.memory_data_size != section.raw_data_size:
            raise MeasurementError(
                f"{label}: measured section with MemoryDataSize {size:#x} ≠ RawDataSize "
                f"{section.raw_data_size:#x} (QEMU and td-shim extend different bytes); not supported"
            )
        return AddMemory(
            section.memory_address, size, PageKind.NORMAL, meta.raw_data(image, section), label=label
        )
    data: bytes | memoryview | mmap.mmap | None = None
    if section.raw_data_size:
        raw = meta.raw_data(image, section)
        data = raw if section.raw_data_size == size else _zero_padded(raw, size)
    elif section.type == TdvfSectionType.TD_HOB and td_hob is not None:
        if len(td_hob) > size:
            raise InputError(f"TD HOB of {len(td_hob)} bytes does not fit the {size:#x}-byte TD_HOB section")
        data = _zero_padded(td_hob, size)
    return AddMemory(section.memory_address, size, PageKind.UNMEASURED, data, label=label)


def build_tdvf_plan(
    image: bytes | bytearray | memoryview,
    *,
    order: PageOrder = PageOrder.INTERLEAVED,
    vcpus: int = 1,
    tdx: TdxParams | None = None,
    td_hob: bytes | None = None,
    metadata: TdvfMetadata | None = None,
    qemu: bool = True,
    memory_size: int | None = None,
    zero_pad_measured: bool = False,
) -> LaunchPlan:
    """The launch plan of a TDVF firmware image (OVMF or td-shim).

    ``order`` sets ``TdxParams.order`` (it overrides the order of a given ``tdx``); ``td_hob`` is the
    HOB to place in the TD_HOB section (e.g. :func:`pvmkit.vendors.tdx.td_hob.build_td_hob`) — it does
    not change MRTD; with ``memory_size`` (and no ``td_hob``) the plan carries the HOB QEMU would build
    for that RAM size. ``qemu=False`` accepts td-shim section types and ``zero_pad_measured`` follows
    td-shim for measured sections bigger than their data. Every vCPU gets RCX = TD HOB GPA (0 when the
    image has no TD_HOB section).
    """
    if vcpus < 1:
        raise InputError(f"a TD needs at least one vCPU, got {vcpus}")
    meta = metadata if metadata is not None else parse_tdvf(image, qemu=qemu)
    params = TdxParams(order=order) if tdx is None else dataclasses.replace(tdx, order=order)
    if td_hob is None and memory_size is not None:
        td_hob = build_td_hob(meta, memory_size)
    hob = meta.td_hob
    rcx = hob.memory_address if hob is not None else 0
    ops: list[Op] = [Init(vendor=Vendor.TDX, tdx=params)]
    ops += [AddVcpu(i, rcx=rcx) for i in range(vcpus)]
    for section in meta.sections:
        op = section_op(image, meta, section, td_hob, zero_pad_measured=zero_pad_measured)
        if op is not None:
            ops.append(op)
    ops.append(Finalize())
    return LaunchPlan.of(ops)
