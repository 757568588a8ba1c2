"""The SEV-ES/SNP VMSA page (``struct sev_es_save_area``, AMD APM vol. 2 table B-4; spec amd.md §3.2).

Three levels:

* :data:`LAYOUT`: the field table (name, size, kind), the single source of the layout.
  :class:`SaveArea` / :class:`Segment` (module :mod:`pvmkit.vendors.amd.vmsa_struct`, loaded on first
  use) are strict little-endian ctypes mirrors generated from it (:class:`pvmkit._cstruct.LEStruct`),
  so a misspelt field name (``fcw`` for ``x87_fcw``) raises ``TypeError`` instead of being dropped.
* :func:`build_vmsa` / :func:`parse_vmsa`: a 4096-byte page from / to a dict of field values, for any
  custom initial state (the software-protected VM turns a parsed VMSA into KVM registers). They pack
  the page from :data:`LAYOUT` directly (no ctypes on the measurement path: ``pvmkit measure`` stays
  cheap to start) and refuse unknown field names just as the structures do; the tests check both
  produce the same bytes.
* :func:`reset_state` / :func:`reset_vmsa` / :func:`svsm_state`: the initial states VMMs build
  (QEMU/ec2/gce reset state, spec §3.4; Coconut SVSM, spec §4.3).

Segments are given as a :class:`Seg` (or any 4-tuple ``(selector, attrib, limit, base)``, or a dict
with those keys); ``fpreg_*`` arrays as bytes; everything else as integers.
"""

from __future__ import annotations

from pvmkit.errors import FormatError, InputError, TruncatedError
from pvmkit.plan import PAGE_SIZE, Vmm
from pvmkit.vendors.amd.profiles import BSP_EIP, PAT_DEFAULT, profile

TYPE_CHECKING = False  # typing/collections.abc are not imported at run time (`pvmkit measure` start-up)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, NamedTuple
else:
    from pvmkit._coldstart.namedtuple import NamedTuple

__all__ = [
    "BSP_EIP",
    "FCW_INIT",
    "FIELDS",
    "LAYOUT",
    "MXCSR_INIT",
    "SEGMENTS",
    "VMSA_SIZE",
    "Seg",
    "build_vmsa",
    "field_offset",
    "parse_vmsa",
    "reset_state",
    "reset_vmsa",
    "svsm_state",
    "svsm_vmsa",
]

VMSA_SIZE = PAGE_SIZE
MXCSR_INIT = 0x1F80  #: written by KVM's FPU sync for INIT2 VM types only
FCW_INIT = 0x037F


class Seg(NamedTuple):
    """A segment register as stored in the VMSA (``struct vmcb_seg``, 16 bytes)."""

    selector: int
    attrib: int
    limit: int
    base: int


SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr")

#: The save area, in order: (field, size in bytes, "seg" | "int" | "bytes"). Reserved areas are named
#: ``reserved_<offset>``. :class:`SaveArea` (the ctypes mirror) is generated from this table.
LAYOUT: tuple[tuple[str, int, str], ...] = (
    *[(name, 16, "seg") for name in SEGMENTS],  # 0x000..0x0A0
    ("vmpl0_ssp", 8, "int"),  # 0x0A0
    ("vmpl1_ssp", 8, "int"),
    ("vmpl2_ssp", 8, "int"),
    ("vmpl3_ssp", 8, "int"),
    ("u_cet", 8, "int"),  # 0x0C0
    ("reserved_0c8", 2, "bytes"),
    ("vmpl", 1, "int"),  # 0x0CA
    ("cpl", 1, "int"),  # 0x0CB
    ("reserved_0cc", 4, "bytes"),
    ("efer", 8, "int"),  # 0x0D0
    ("reserved_0d8", 104, "bytes"),
    ("xss", 8, "int"),  # 0x140
    ("cr4", 8, "int"),  # 0x148
    ("cr3", 8, "int"),  # 0x150
    ("cr0", 8, "int"),  # 0x158
    ("dr7", 8, "int"),  # 0x160
    ("dr6", 8, "int"),  # 0x168
    ("rflags", 8, "int"),  # 0x170
    ("rip", 8, "int"),  # 0x178
    ("dr0", 8, "int"),  # 0x180
    ("dr1", 8, "int"),
    ("dr2", 8, "int"),
    ("dr3", 8, "int"),
    ("dr0_addr_mask", 8, "int"),  # 0x1A0
    ("dr1_addr_mask", 8, "int"),
    ("dr2_addr_mask", 8, "int"),
    ("dr3_addr_mask", 8, "int"),
    ("reserved_1c0", 24, "bytes"),
    ("rsp", 8, "int"),  # 0x1D8
    ("s_cet", 8, "int"),
    ("ssp", 8, "int"),
    ("isst_addr", 8, "int"),
    ("rax", 8, "int"),  # 0x1F8
    ("star", 8, "int"),
    ("lstar", 8, "int"),
    ("cstar", 8, "int"),
    ("sfmask", 8, "int"),
    ("kernel_gs_base", 8, "int"),
    ("sysenter_cs", 8, "int"),
    ("sysenter_esp", 8, "int"),
    ("sysenter_eip", 8, "int"),
    ("cr2", 8, "int"),  # 0x240
    ("reserved_248", 32, "bytes"),
    ("g_pat", 8, "int"),  # 0x268
    ("dbgctl", 8, "int"),
    ("br_from", 8, "int"),
    ("br_to", 8, "int"),
    ("last_excp_from", 8, "int"),
    ("last_excp_to", 8, "int"),
    ("reserved_298", 80, "bytes"),
    ("pkru", 4, "int"),  # 0x2E8
    ("tsc_aux", 4, "int"),  # 0x2EC
    ("reserved_2f0", 24, "bytes"),
    ("rcx", 8, "int"),  # 0x308
    ("rdx", 8, "int"),  # 0x310
    ("rbx", 8, "int"),  # 0x318
    ("reserved_320", 8, "int"),
    ("rbp", 8, "int"),  # 0x328
    ("rsi", 8, "int"),
    ("rdi", 8, "int"),
    ("r8", 8, "int"),  # 0x340
    ("r9", 8, "int"),
    ("r10", 8, "int"),
    ("r11", 8, "int"),
    ("r12", 8, "int"),
    ("r13", 8, "int"),
    ("r14", 8, "int"),
    ("r15", 8, "int"),  # 0x378
    ("reserved_380", 16, "bytes"),
    ("guest_exit_info_1", 8, "int"),  # 0x390
    ("guest_exit_info_2", 8, "int"),
    ("guest_exit_int_info", 8, "int"),
    ("guest_nrip", 8, "int"),
    ("sev_features", 8, "int"),  # 0x3B0
    ("vintr_ctrl", 8, "int"),
    ("guest_exit_code", 8, "int"),
    ("virtual_tom", 8, "int"),  # 0x3C8
    ("tlb_id", 8, "int"),
    ("pcpu_id", 8, "int"),
    ("event_inj", 8, "int"),
    ("xcr0", 8, "int"),  # 0x3E8
    ("reserved_3f0", 16, "bytes"),
    ("x87_dp", 8, "int"),  # 0x400
    ("mxcsr", 4, "int"),  # 0x408
    ("x87_ftw", 2, "int"),  # 0x40C
    ("x87_fsw", 2, "int"),  # 0x40E
    ("x87_fcw", 2, "int"),  # 0x410
    ("x87_fop", 2, "int"),  # 0x412
    ("x87_ds", 2, "int"),
    ("x87_cs", 2, "int"),
    ("x87_rip", 8, "int"),  # 0x418
    ("fpreg_x87", 80, "bytes"),  # 0x420
    ("fpreg_xmm", 256, "bytes"),  # 0x470
    ("fpreg_ymm", 256, "bytes"),  # 0x570
    ("reserved_670", VMSA_SIZE - 0x670, "bytes"),
)

_OFFSETS: dict[str, int] = {}
_SIZES: dict[str, int] = {}
_KINDS: dict[str, str] = {}
_pos = 0
for _name, _size, _kind in LAYOUT:
    _OFFSETS[_name], _SIZES[_name], _KINDS[_name] = _pos, _size, _kind
    _pos += _size
assert _pos == VMSA_SIZE, _pos
assert _OFFSETS["rdx"] == 0x310 and _OFFSETS["sev_features"] == 0x3B0 and _OFFSETS["x87_fcw"] == 0x410
assert _OFFSETS["g_pat"] == 0x268 and _OFFSETS["mxcsr"] == 0x408 and _OFFSETS["xcr0"] == 0x3E8
del _pos, _name, _size, _kind

#: public field names (reserved areas excluded), in layout order
FIELDS = tuple(name for name, _, _ in LAYOUT if not name.startswith("reserved_"))
_PUBLIC = frozenset(FIELDS)
_RESERVED = tuple((_OFFSETS[n], _SIZES[n], n) for n, _, _ in LAYOUT if n.startswith("reserved_"))


def field_offset(name: str) -> int:
    """Byte offset of a VMSA field."""
    try:
        return _OFFSETS[name]
    except KeyError:
        raise InputError(f"VMSA has no field {name!r}") from None


def _segment(name: str, value: Any) -> bytes:
    if not isinstance(value, tuple):  # (a tuple is never a Mapping: checked first, without imports)
        from collections.abc import Mapping

        if isinstance(value, Mapping):
            unknown = set(value) - set(Seg._fields)
            if unknown:
                raise InputError(f"VMSA segment {name}: unknown key(s) {', '.join(sorted(unknown))}")
            value = Seg(**{k: int(value.get(k, 0)) for k in Seg._fields})
        else:  # e.g. a vmsa_struct.Segment
            try:
                value = (value.selector, value.attrib, value.limit, value.base)
            except AttributeError:
                raise InputError(f"VMSA segment {name} must be (selector, attrib, limit, base)") from None
    if len(value) != 4:
        raise InputError(f"VMSA segment {name} must be (selector, attrib, limit, base), got {value!r}")
    out = b""
    for what, v, size in zip(("selector", "attrib", "limit", "base"), value, (2, 2, 4, 8), strict=True):
        v = int(v)
        if not 0 <= v < 1 << (8 * size):
            raise InputError(f"VMSA segment {name}.{what} {v:#x} does not fit in {8 * size} bits")
        out += v.to_bytes(size, "little")
    return out


def build_vmsa(state: Mapping[str, Any] | None = None, /, **fields: Any) -> bytes:
    """A 4096-byte VMSA page from field values; fields not given are 0.

    ``state`` (e.g. from :func:`reset_state` or :func:`parse_vmsa`) is applied first, then ``fields``.
    Field names are :data:`FIELDS` (kernel ``struct sev_es_save_area`` names: ``es``..``tr``,
    ``efer``, ``cr0``, ``cr4``, ``rip``, ``rsp``, ``rflags``, ``rax``..``r15``, ``g_pat``,
    ``sev_features``, ``xcr0``, ``mxcsr``, ``x87_fcw``, ...). Segments are :class:`Seg`, 4-tuples or
    dicts; ``fpreg_*`` are bytes (at most the field size, zero-filled). An unknown name, or a value
    that does not fit its field, raises :class:`~pvmkit.errors.InputError`.
    """
    values: dict[str, Any] = dict(state or {})
    values.update(fields)
    page = bytearray(VMSA_SIZE)
    for name, value in values.items():
        if name not in _PUBLIC:
            raise InputError(f"VMSA has no field {name!r}")
        off, size, kind = _OFFSETS[name], _SIZES[name], _KINDS[name]
        if kind == "seg":
            page[off : off + 16] = _segment(name, value)
        elif kind == "bytes":
            data = bytes(value)
            if len(data) > size:
                raise InputError(f"VMSA {name} holds {size} bytes, got {len(data)}")
            page[off : off + len(data)] = data
        else:
            v = int(value)
            if not 0 <= v < 1 << (8 * size):
                raise InputError(f"VMSA {name} value {v:#x} does not fit in {8 * size} bits")
            page[off : off + size] = v.to_bytes(size, "little")
    return bytes(page)


def parse_vmsa(page: bytes | bytearray | memoryview) -> dict[str, Any]:
    """A VMSA page → {field: value} for every public field (segments as :class:`Seg`, arrays as bytes).

    ``build_vmsa(parse_vmsa(p)) == p`` for any page whose reserved areas are zero; a page with
    non-zero reserved bytes raises :class:`~pvmkit.errors.FormatError` (it is not a valid VMSA).
    """
    if len(page) != VMSA_SIZE:
        if len(page) < VMSA_SIZE:
            raise TruncatedError(f"a VMSA is {VMSA_SIZE} bytes, got {len(page)}", what="VMSA", offset=0)
        raise FormatError(f"a VMSA is {VMSA_SIZE} bytes, got {len(page)}", what="VMSA", offset=VMSA_SIZE)
    data = bytes(page)
    for off, size, name in _RESERVED:
        if any(data[off : off + size]):
            raise FormatError(f"VMSA reserved field {name} is not zero", what="VMSA", offset=off)
    out: dict[str, Any] = {}
    for name in FIELDS:
        off, size, kind = _OFFSETS[name], _SIZES[name], _KINDS[name]
        if kind == "seg":
            out[name] = Seg(
                int.from_bytes(data[off : off + 2], "little"),
                int.from_bytes(data[off + 2 : off + 4], "little"),
                int.from_bytes(data[off + 4 : off + 8], "little"),
                int.from_bytes(data[off + 8 : off + 16], "little"),
            )
        elif kind == "bytes":
            out[name] = data[off : off + size]
        else:
            out[name] = int.from_bytes(data[off : off + size], "little")
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


def __getattr__(name: str) -> Any:
    """``SaveArea`` and ``Segment`` (ctypes) are loaded on first use."""
    if name in ("SaveArea", "Segment"):
        from pvmkit.vendors.amd import vmsa_struct

        return getattr(vmsa_struct, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
