"""Launch plans for flat binaries on the software-protected VM (docs/sw-vm.md "Plans").

:func:`flat_binary_plan` turns a flat binary + load address + entry point (+ mode) into::

    Init(Vendor.SW, vmsa_features, policy)
    AddMemory(stack page,   ZERO)        GPA bound into the digest, contents zero
    AddMemory(code pages,   NORMAL)      the binary, zero padded to whole pages: measured
    AddMemory(shared page,  UNMEASURED)  host-writable: nonce in, attestation request/response
    AddVcpu(i, VMSA)                     for each vCPU (all get the same VMSA), measured at GPA 0xFFFFFFFFF000
    Finalize(host_data, id_block, id_auth)

Initial state (the VMSA): ``protected32`` (default) is 32-bit flat protected mode (CS 0x08 base 0
limit 4 GiB, data 0x10; CR0 = PE|ET; paging off); ``real16`` is real mode with CS.base = entry &
0xF0000. Both: EIP = entry, ESI = shared page GPA, ESP = top of the stack page, RFLAGS = 0x2,
EFER = SVME and CR4 = MCE as KVM sets them for SEV-ES/SNP, MXCSR/FCW as KVM's INIT2 FPU sync writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pvmkit.errors import InputError, LayoutError
from pvmkit.guest import NONCE_OFFSET, NONCE_SIZE, attest_guest
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, Finalize, Init, LaunchPlan, Op, PageKind, Vendor
from pvmkit.vendors.amd.vmsa import Seg, build_vmsa
from pvmkit.vendors.sw.rules import SW_DEFAULT_POLICY

__all__ = [
    "DEFAULT_LOAD_ADDRESS",
    "MODES",
    "SwGuestPlan",
    "bundled_guest_plan",
    "flat_binary_plan",
    "sw_vmsa",
]

DEFAULT_LOAD_ADDRESS = 0x10000
DEFAULT_STACK_GPA = 0x8000
MODES = ("protected32", "real16")


@dataclass(frozen=True)
class SwGuestPlan:
    """A plan plus where things are (for the caller's information; the plan is self-contained)."""

    plan: LaunchPlan
    load_address: int
    entry: int
    code_size: int
    stack_gpa: int
    shared_gpa: int
    mode: str


def _align_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def sw_vmsa(*, entry: int, esp: int, esi: int, sev_features: int, mode: str = "protected32") -> bytes:
    """The VMSA page of a vCPU starting at ``entry`` (see the module docstring)."""
    common: dict[str, Any] = {
        "gdtr": Seg(0, 0, 0xFFFF, 0),
        "ldtr": Seg(0, 0x82, 0xFFFF, 0),
        "idtr": Seg(0, 0, 0xFFFF, 0),
        "tr": Seg(0, 0x8B, 0xFFFF, 0),
        "efer": 0x1000,
        "cr4": 0x40,
        "dr7": 0x400,
        "dr6": 0xFFFF0FF0,
        "rflags": 0x2,
        "rsp": esp,
        "rsi": esi,
        "g_pat": 0x0007040600070406,
        "sev_features": sev_features,
        "xcr0": 0x1,
        "mxcsr": 0x1F80,
        "x87_fcw": 0x037F,
    }
    if mode == "protected32":
        flat = Seg(0x10, 0xC93, 0xFFFFFFFF, 0)
        state = {
            "es": flat, "cs": Seg(0x08, 0xC9B, 0xFFFFFFFF, 0), "ss": flat, "ds": flat, "fs": flat, "gs": flat,
            "cr0": 0x11, "rip": entry,
        }  # fmt: skip
    elif mode == "real16":
        data = Seg(0, 0x93, 0xFFFF, 0)
        base = entry & 0xF0000
        state = {
            "es": data, "cs": Seg(base >> 4, 0x9B, 0xFFFF, base), "ss": data, "ds": data, "fs": data,
            "gs": data, "cr0": 0x10, "rip": entry & 0xFFFF,
        }  # fmt: skip
    else:
        raise InputError(f"unknown guest mode {mode!r} (choose from {', '.join(MODES)})")
    return build_vmsa({**common, **state})


def flat_binary_plan(
    binary: bytes,
    *,
    load_address: int = DEFAULT_LOAD_ADDRESS,
    entry: int | None = None,
    mode: str = "protected32",
    vcpus: int = 1,
    vmsa_features: int = 0,
    policy: int = SW_DEFAULT_POLICY,
    host_data: bytes = bytes(32),
    nonce: bytes | None = None,
    stack_gpa: int = DEFAULT_STACK_GPA,
    shared_gpa: int | None = None,
    id_block: bytes | None = None,
    id_auth: bytes | None = None,
    auth_key_en: bool = False,
) -> SwGuestPlan:
    """A sw launch plan for a flat binary (see the module docstring). ``entry`` defaults to the load
    address; ``shared_gpa`` to the page after the code. The nonce (32 bytes) goes to offset 0xF00 of
    the shared page (not measured)."""
    if not binary:
        raise InputError("the guest binary is empty")
    if load_address < 0 or load_address % PAGE_SIZE:
        raise LayoutError(f"load address {load_address:#x} is not 4 KiB aligned")
    if mode not in MODES:
        raise InputError(f"unknown guest mode {mode!r} (choose from {', '.join(MODES)})")
    if vcpus < 1:
        raise LayoutError(f"a sw VM needs at least one vCPU, got {vcpus}")
    entry = load_address if entry is None else entry
    code_size = _align_up(len(binary))
    if not load_address <= entry < load_address + len(binary):
        raise LayoutError(f"entry {entry:#x} is outside the binary at {load_address:#x}+{len(binary):#x}")
    shared = load_address + code_size if shared_gpa is None else shared_gpa
    limit = 1 << 20 if mode == "real16" else 1 << 32
    for what, gpa in (("stack", stack_gpa), ("shared page", shared), ("code", load_address)):
        if gpa % PAGE_SIZE or gpa < 0:
            raise LayoutError(f"{what} GPA {gpa:#x} is not 4 KiB aligned")
    if load_address + code_size > limit or shared + PAGE_SIZE > limit or stack_gpa + PAGE_SIZE > limit:
        raise LayoutError(f"{mode} guests must lie below {limit:#x}")
    if mode == "real16" and (shared + PAGE_SIZE > 0x10000 or stack_gpa + PAGE_SIZE > 0x10000):
        raise LayoutError(
            "real16 guests address the stack and shared page with 16-bit offsets: keep both below 64 KiB"
        )
    shared_page = bytearray(PAGE_SIZE)
    if nonce is not None:
        if len(nonce) != NONCE_SIZE:
            raise InputError(f"the nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        shared_page[NONCE_OFFSET : NONCE_OFFSET + NONCE_SIZE] = nonce
    init = Init(Vendor.SW, vmsa_features=vmsa_features, policy=policy)
    vmsa = sw_vmsa(
        entry=entry, esp=stack_gpa + PAGE_SIZE, esi=shared, sev_features=init.sev_features, mode=mode
    )
    ops: list[Op] = [
        init,
        AddMemory(stack_gpa, PAGE_SIZE, PageKind.ZERO, label="stack"),
        AddMemory(
            load_address, code_size, PageKind.NORMAL, data=bytes(binary).ljust(code_size, b"\0"), label="code"
        ),
        AddMemory(shared, PAGE_SIZE, PageKind.UNMEASURED, data=bytes(shared_page), label="shared"),
        *(AddVcpu(i, vmsa) for i in range(vcpus)),
        Finalize(id_block=id_block, id_auth=id_auth, host_data=bytes(host_data), auth_key_en=auth_key_en),
    ]
    return SwGuestPlan(
        plan=LaunchPlan.of(ops),
        load_address=load_address,
        entry=entry,
        code_size=code_size,
        stack_gpa=stack_gpa,
        shared_gpa=shared,
        mode=mode,
    )


def bundled_guest_plan(
    *,
    nonce: bytes | None = None,
    vmsa_features: int = 0,
    policy: int = SW_DEFAULT_POLICY,
    host_data: bytes = bytes(32),
    vcpus: int = 1,
    id_block: bytes | None = None,
    id_auth: bytes | None = None,
    auth_key_en: bool = False,
) -> SwGuestPlan:
    """The plan of pvmkit's bundled attestation guest (:mod:`pvmkit.guest`) at the default layout."""
    return flat_binary_plan(
        attest_guest(),
        nonce=nonce,
        vmsa_features=vmsa_features,
        policy=policy,
        host_data=host_data,
        vcpus=vcpus,
        id_block=id_block,
        id_auth=id_auth,
        auth_key_en=auth_key_en,
    )
