"""The SEV-ES/SNP VMSA page (``struct sev_es_save_area``, AMD APM vol. 2 table B-4; spec amd.md §3.2).

Three levels:

* :class:`SaveArea` / :class:`Segment`: strict little-endian structures (:class:`pvmkit._cstruct.LEStruct`),
  so a misspelt field name (``fcw`` for ``x87_fcw``) raises ``TypeError`` instead of being dropped.
* :func:`build_vmsa` / :func:`parse_vmsa`: a 4096-byte page from / to a dict of field values, for any
  custom initial state (the software-protected VM turns a parsed VMSA into KVM registers).
* :func:`reset_state` / :func:`reset_vmsa` / :func:`svsm_state`: the initial states VMMs build
  (QEMU/ec2/gce reset state, spec §3.4; Coconut SVSM, spec §4.3).

Segments are given as a :class:`Seg` (or any 4-tuple ``(selector, attrib, limit, base)``, or a dict
with those keys); ``fpreg_*`` arrays as bytes; everything else as integers.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from typing import Any, NamedTuple

from pvmkit._cstruct import LEStruct, field_names
from pvmkit.errors import FormatError, InputError, TruncatedError
from pvmkit.plan import PAGE_SIZE, Vmm
from pvmkit.vendors.amd.profiles import BSP_EIP, PAT_DEFAULT, profile

__all__ = [
    "BSP_EIP",
    "FCW_INIT",
    "MXCSR_INIT",
    "SEGMENTS",
    "VMSA_SIZE",
    "SaveArea",
    "Seg",
    "Segment",
    "build_vmsa",
    "parse_vmsa",
    "reset_state",
    "reset_vmsa",
    "svsm_state",
    "svsm_vmsa",
]

VMSA_SIZE = PAGE_SIZE
MXCSR_INIT = 0x1F80  #: written by KVM's FPU sync for INIT2 VM types only
FCW_INIT = 0x037F

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class Segment(LEStruct):
    """``struct vmcb_seg``: 16 bytes."""

    _pack_ = 1
    _fields_ = [("selector", u16), ("attrib", u16), ("limit", u32), ("base", u64)]  # noqa: RUF012


class Seg(NamedTuple):
    selector: int
    attrib: int
    limit: int
    base: int


SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr")


class SaveArea(LEStruct):
    """The VMSA page. Offsets in the comments; reserved areas are named ``reserved_<offset>``."""

    _pack_ = 1
    _fields_ = [  # noqa: RUF012
        *[(name, Segment) for name in SEGMENTS],  # 0x000..0x0A0
        ("vmpl0_ssp", u64),  # 0x0A0
        ("vmpl1_ssp", u64),
        ("vmpl2_ssp", u64),
        ("vmpl3_ssp", u64),
        ("u_cet", u64),  # 0x0C0
        ("reserved_0c8", u8 * 2),
        ("vmpl", u8),  # 0x0CA
        ("cpl", u8),  # 0x0CB
        ("reserved_0cc", u8 * 4),
        ("efer", u64),  # 0x0D0
        ("reserved_0d8", u8 * 104),
        ("xss", u64),  # 0x140
        ("cr4", u64),  # 0x148
        ("cr3", u64),  # 0x150
        ("cr0", u64),  # 0x158
        ("dr7", u64),  # 0x160
        ("dr6", u64),  # 0x168
        ("rflags", u64),  # 0x170
        ("rip", u64),  # 0x178
        ("dr0", u64),  # 0x180
        ("dr1", u64),
        ("dr2", u64),
        ("dr3", u64),
        ("dr0_addr_mask", u64),  # 0x1A0
        ("dr1_addr_mask", u64),
        ("dr2_addr_mask", u64),
        ("dr3_addr_mask", u64),
        ("reserved_1c0", u8 * 24),
        ("rsp", u64),  # 0x1D8
        ("s_cet", u64),
        ("ssp", u64),
        ("isst_addr", u64),
        ("rax", u64),  # 0x1F8
        ("star", u64),
        ("lstar", u64),
        ("cstar", u64),
        ("sfmask", u64),
        ("kernel_gs_base", u64),
        ("sysenter_cs", u64),
        ("sysenter_esp", u64),
        ("sysenter_eip", u64),
        ("cr2", u64),  # 0x240
        ("reserved_248", u8 * 32),
        ("g_pat", u64),  # 0x268
        ("dbgctl", u64),
        ("br_from", u64),
        ("br_to", u64),
        ("last_excp_from", u64),
        ("last_excp_to", u64),
        ("reserved_298", u8 * 80),
        ("pkru", u32),  # 0x2E8
        ("tsc_aux", u32),  # 0x2EC
        ("reserved_2f0", u8 * 24),
        ("rcx", u64),  # 0x308
        ("rdx", u64),  # 0x310
        ("rbx", u64),  # 0x318
        ("reserved_320", u64),
        ("rbp", u64),  # 0x328
        ("rsi", u64),
        ("rdi", u64),
        ("r8", u64),  # 0x340
        ("r9", u64),
        ("r10", u64),
        ("r11", u64),
        ("r12", u64),
        ("r13", u64),
        ("r14", u64),
        ("r15", u64),  # 0x378
        ("reserved_380", u8 * 16),
        ("guest_exit_info_1", u64),  # 0x390
        ("guest_exit_info_2", u64),
        ("guest_exit_int_info", u64),
        ("guest_nrip", u64),
        ("sev_features", u64),  # 0x3B0
        ("vintr_ctrl", u64),
        ("guest_exit_code", u64),
        ("virtual_tom", u64),  # 0x3C8
        ("tlb_id", u64),
        ("pcpu_id", u64),
        ("event_inj", u64),
        ("xcr0", u64),  # 0x3E8
        ("reserved_3f0", u8 * 16),
        ("x87_dp", u64),  # 0x400
        ("mxcsr", u32),  # 0x408
        ("x87_ftw", u16),  # 0x40C
        ("x87_fsw", u16),  # 0x40E
        ("x87_fcw", u16),  # 0x410
        ("x87_fop", u16),  # 0x412
        ("x87_ds", u16),
        ("x87_cs", u16),
        ("x87_rip", u64),  # 0x418
        ("fpreg_x87", u8 * 80),  # 0x420
        ("fpreg_xmm", u8 * 256),  # 0x470
        ("fpreg_ymm", u8 * 256),  # 0x570
        ("reserved_670", u8 * (VMSA_SIZE - 0x670)),
    ]


assert ctypes.sizeof(SaveArea) == VMSA_SIZE
assert SaveArea.rdx.offset == 0x310 and SaveArea.sev_features.offset == 0x3B0
assert SaveArea.x87_fcw.offset == 0x410 and SaveArea.g_pat.offset == 0x268

_ALL_FIELDS = field_names(SaveArea)
#: public field names (reserved areas excluded), in layout order
FIELDS = tuple(n for n in _ALL_FIELDS if not n.startswith("reserved_"))
_SIZES: dict[str, int] = {entry[0]: ctypes.sizeof(entry[1]) for entry in SaveArea._fields_}
_OFFSETS: dict[str, int] = {name: getattr(SaveArea, name).offset for name in _ALL_FIELDS}
_ARRAYS = {n: size for n, size in _SIZES.items() if n.startswith("fpreg_")}


def _segment(name: str, value: Any) -> Segment:
    if isinstance(value, Segment):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - set(Seg._fields)
        if unknown:
            raise InputError(f"VMSA segment {name}: unknown key(s) {', '.join(sorted(unknown))}")
        value = Seg(**{k: int(value.get(k, 0)) for k in Seg._fields})
    try:
        selector, attrib, limit, base = value
    except (TypeError, ValueError):
        raise InputError(
            f"VMSA segment {name} must be (selector, attrib, limit, base), got {value!r}"
        ) from None
    for what, v, bits in (
        ("selector", selector, 16),
        ("attrib", attrib, 16),
        ("limit", limit, 32),
        ("base", base, 64),
    ):
        if not 0 <= int(v) < 1 << bits:
            raise InputError(f"VMSA segment {name}.{what} {v:#x} does not fit in {bits} bits")
    return Segment(selector=selector, attrib=attrib, limit=limit, base=base)


def build_vmsa(state: Mapping[str, Any] | None = None, /, **fields: Any) -> bytes:
    """A 4096-byte VMSA page from field values; fields not given are 0.

    ``state`` (e.g. from :func:`reset_state` or :func:`parse_vmsa`) is applied first, then ``fields``.
    Field names are :data:`FIELDS` (kernel ``struct sev_es_save_area`` names: ``es``..``tr``,
    ``efer``, ``cr0``, ``cr4``, ``rip``, ``rsp``, ``rflags``, ``rax``..``r15``, ``g_pat``,
    ``sev_features``, ``xcr0``, ``mxcsr``, ``x87_fcw``, ...). An unknown name raises
    :class:`~pvmkit.errors.InputError`; so does a value that does not fit its field.
    """
    values: dict[str, Any] = dict(state or {})
    values.update(fields)
    area = SaveArea()
    for name, value in values.items():
        if name not in FIELDS:
            raise InputError(f"VMSA has no field {name!r}")
        if name in SEGMENTS:
            setattr(area, name, _segment(name, value))
        elif name in _ARRAYS:
            data = bytes(value)
            if len(data) > _ARRAYS[name]:
                raise InputError(f"VMSA {name} holds {_ARRAYS[name]} bytes, got {len(data)}")
            ctypes.memmove(ctypes.addressof(area) + _OFFSETS[name], data, len(data))
        else:
            size = _SIZES[name]
            v = int(value)
            if not 0 <= v < 1 << (8 * size):
                raise InputError(f"VMSA {name} value {v:#x} does not fit in {8 * size} bits")
            setattr(area, name, v)
    return area.to_bytes()


def parse_vmsa(page: bytes | bytearray | memoryview) -> dict[str, Any]:
    """A VMSA page → {field: value} for every public field (segments as :class:`Seg`, arrays as bytes).

    ``build_vmsa(parse_vmsa(p)) == p`` for any page whose reserved areas are zero; a page with
    non-zero reserved bytes raises :class:`~pvmkit.errors.FormatError` (it is not a valid VMSA).
    """
    if len(page) != VMSA_SIZE:
        if len(page) < VMSA_SIZE:
            raise TruncatedError(f"a VMSA is {VMSA_SIZE} bytes, got {len(page)}", what="VMSA", offset=0)
        raise FormatError(f"a VMSA is {VMSA_SIZE} bytes, got {len(page)}", what="VMSA", offset=VMSA_SIZE)
    area = SaveArea.from_bytes(page)
    out: dict[str, Any] = {}
    for name in _ALL_FIELDS:
        value = getattr(area, name)
        offset = _OFFSETS[name]
        if name.startswith("reserved_"):
            if any(bytes(page[offset : offset + _SIZES[name]])):
                raise FormatError(f"VMSA reserved field {name} is not zero", what="VMSA", offset=offset)
            continue
        if name in SEGMENTS:
            out[name] = Seg(value.selector, value.attrib, value.limit, value.base)
        elif name in _ARRAYS:
            out[name] = bytes(value)
        else:
            out[name] = int(value)
    return out


def reset_state(
    eip: int = BSP_EIP,
    *,
    vcpu_sig: int = 0,
    sev_features: int = 0,
    vmm: Vmm | str = Vmm.QEMU,
    fpu_init: bool = True,
) -> dict[str, Any]:
    """The x86 reset state a VMM gives a vCPU starting at ``eip`` (spec §3.2, §3.4).

    ``eip`` is :data:`BSP_EIP` for the BSP, the SEV-ES reset block address for APs (CS.base = eip
    & 0xffff0000, RIP = eip & 0xffff). ``fpu_init``: the VM uses an INIT2 VM type, so KVM writes MXCSR
    0x1F80 and FCW 0x37F (legacy ``KVM_SEV_ES_INIT``: both 0). ec2/gce never write them.
    """
    p = profile(vmm)
    cs_attrib = p.cs_attrib_bsp if (p.cs_attrib_bsp is not None and eip == BSP_EIP) else p.cs_attrib
    fpu = fpu_init and p.fpu_from_kvm
    data = Seg(0, 0x93, 0xFFFF, 0)
    return {
        "es": data,
        "cs": Seg(0xF000, cs_attrib, 0xFFFF, eip & 0xFFFF0000),
        "ss": Seg(0, p.ss_attrib, 0xFFFF, 0),
        "ds": data,
        "fs": data,
        "gs": data,
        "gdtr": Seg(0, 0, 0xFFFF, 0),
        "ldtr": Seg(0, 0x82, 0xFFFF, 0),
        "idtr": Seg(0, 0, 0xFFFF, 0),
        "tr": Seg(0, p.tr_attrib, 0xFFFF, 0),
        "efer": 0x1000,  # SVME, set by KVM
        "cr4": 0x40,  # MCE, set by KVM
        "cr0": 0x10,  # ET
        "dr7": 0x400,
        "dr6": 0xFFFF0FF0,
        "rflags": 0x2,
        "rip": eip & 0xFFFF,
        "g_pat": p.g_pat,
        "rdx": vcpu_sig if p.rdx is None else p.rdx,
        "sev_features": sev_features,
        "xcr0": 0x1,
        "mxcsr": MXCSR_INIT if fpu else 0,
        "x87_fcw": FCW_INIT if fpu else 0,
    }


def reset_vmsa(
    eip: int = BSP_EIP,
    *,
    vcpu_sig: int = 0,
    sev_features: int = 0,
    vmm: Vmm | str = Vmm.QEMU,
    fpu_init: bool = True,
) -> bytes:
    """The VMSA page of :func:`reset_state`."""
    return build_vmsa(
        reset_state(eip, vcpu_sig=vcpu_sig, sev_features=sev_features, vmm=vmm, fpu_init=fpu_init)
    )


def svsm_state(
    entry: int,
    *,
    vcpu_sig: int = 0,
    sev_features: int = 0x1,
    mxcsr: int = MXCSR_INIT,
    x87_fcw: int = 0,
) -> dict[str, Any]:
    """The 32-bit protected-mode state Coconut SVSM's QEMU gives every vCPU (spec §4.3).

    ``x87_fcw`` defaults to 0: that is what the hardware-derived SVSM measurements (peer fixtures,
    Coconut QEMU 0e64fb84 stack) imply, whatever a KVM FPU sync would write. Pass 0x37F for a stack
    that syncs the FPU.
    """
    flat = Seg(0x10, 0xC93, 0xFFFFFFFF, 0)
    return {
        "es": flat,
        "cs": Seg(0x8, 0xC9B, 0xFFFFFFFF, 0),
        "ss": flat,
        "ds": flat,
        "fs": flat,
        "gs": Seg(0, 0x93, 0xFFFF, 0),
        "gdtr": Seg(0, 0, 0xFFFF, 0),
        "ldtr": Seg(0, 0x82, 0xFFFF, 0),
        "idtr": Seg(0, 0, 0xFFFF, 0),
        "tr": Seg(0, 0x8B, 0xFFFF, 0),
        "efer": 0x1000,
        "cr4": 0x40,
        "cr0": 0x11,  # PE | ET
        "dr7": 0x400,
        "dr6": 0xFFFF0FF0,
        "rflags": 0x2,
        "rip": entry,
        "g_pat": PAT_DEFAULT,
        "rdx": vcpu_sig,
        "sev_features": sev_features,
        "xcr0": 0x1,
        "mxcsr": mxcsr,
        "x87_fcw": x87_fcw,
    }


def svsm_vmsa(
    entry: int, *, vcpu_sig: int = 0, sev_features: int = 0x1, mxcsr: int = MXCSR_INIT, x87_fcw: int = 0
) -> bytes:
    """The VMSA page of :func:`svsm_state`."""
    return build_vmsa(
        svsm_state(entry, vcpu_sig=vcpu_sig, sev_features=sev_features, mxcsr=mxcsr, x87_fcw=x87_fcw)
    )
