"""VMM profiles: who builds the initial vCPU state and in which order pages are added (spec §3.4).

=============  ========  ===================  ========
field          QEMU      ec2                  gce
=============  ========  ===================  ========
CS attrib      0x9B      0x9A BSP / 0x9B AP   0x9B
SS attrib      0x93      0x92                 0x93
TR attrib      0x8B      0x83                 0x8B
RDX            vCPU sig  0x600                0x600
MXCSR / FCW    per init  0 / 0                0 / 0
G_PAT          PAT dflt  PAT dflt             0x70106
SNP_SEC_MEM    ZERO      ZERO                 UNMEASURED
CPUID page     in order  after all sections   in order
=============  ========  ===================  ========

"per init": QEMU's state goes through KVM, which writes MXCSR 0x1F80 / FCW 0x37F only for INIT2 VM
types (spec §3.3). ec2 and gce are SNP platforms; their SEV-ES variants exist only for
sev-snp-measure compatibility.
"""

from __future__ import annotations

from pvmkit.plan import PageKind, Vmm

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost of `pvmkit measure`)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from pvmkit._coldstart.namedtuple import NamedTuple

__all__ = ["BSP_EIP", "PAT_DEFAULT", "PROFILES", "VmmProfile", "profile"]

BSP_EIP = 0xFFFFFFF0
PAT_DEFAULT = 0x0007040600070406


class VmmProfile(NamedTuple):
    vmm: Vmm
    cs_attrib: int = 0x9B
    cs_attrib_bsp: int | None = None  #: CS attrib when the vCPU starts at the BSP reset vector
    ss_attrib: int = 0x93
    tr_attrib: int = 0x8B
    rdx: int | None = None  #: None: the vCPU signature
    fpu_from_kvm: bool = True  #: MXCSR/FCW follow the KVM init path (else always 0)
    g_pat: int = PAT_DEFAULT
    sec_mem_kind: PageKind = PageKind.ZERO
    cpuid_last: bool = False


PROFILES: dict[Vmm, VmmProfile] = {
    Vmm.QEMU: VmmProfile(Vmm.QEMU),
    Vmm.EC2: VmmProfile(
        Vmm.EC2,
        cs_attrib_bsp=0x9A,
        ss_attrib=0x92,
        tr_attrib=0x83,
        rdx=0x600,
        fpu_from_kvm=False,
        cpuid_last=True,
    ),
    Vmm.GCE: VmmProfile(
        Vmm.GCE, rdx=0x600, fpu_from_kvm=False, g_pat=0x00070106, sec_mem_kind=PageKind.UNMEASURED
    ),
}


def profile(vmm: Vmm | str) -> VmmProfile:
    return PROFILES[Vmm(vmm)]
