"""The Arm CCA Realm Initial Measurement (RIM) of a launch plan: a :class:`pvmkit.launch.Backend`.

Ops map onto RMI calls as the KVM CCA series and kvmtool issue them (spec cca_igvm.md §A1.6):

* ``Init`` (vendor cca, :class:`~pvmkit.plan.CcaParams`) → RMI_REALM_CREATE: RIM₀ = H(RealmParams);
  on RMM 1.0 with ``ripas_first``, RMI_RTT_INIT_RIPAS over every ``ripas`` range right away;
* ``AddMemory`` → RMI_DATA_CREATE per 4 KiB granule in ascending IPA order: NORMAL measures the
  contents (zeros when the op has no data), UNMEASURED extends with flags 0 and a zero content hash,
  ZERO is RMI_DATA_CREATE_UNKNOWN (no extension); SECRETS, CPUID and VMSA pages do not exist in CCA;
* ``AddVcpu`` (state: a 4096-byte RmiRecParams image) → RMI_REC_CREATE, measured only when the REC is
  RUNNABLE (KVM makes vCPU 0 runnable), hashing the image with MPIDR and the auxiliary granules zeroed;
* ``Finalize`` → (RMM 1.0 without ``ripas_first``: INIT_RIPAS now, as KVM v12 does at activation)
  RMI_REALM_ACTIVATE; returns the RIM, hash-size bytes.
"""

from __future__ import annotations

import hashlib

from pvmkit.errors import MeasurementError
from pvmkit.launch import Launcher
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, CcaParams, Finalize, Init, LaunchPlan, PageKind, Vendor
from pvmkit.vendors.cca.realm import (
    data_descriptor,
    realm_params_page,
    rec_descriptor,
    rem_extend,
    ripas_descriptor,
    ripas_entries,
    rtt_block_sizes,
)

__all__ = ["CcaMeasurer", "measure_rim", "realm_params_of", "rem_extend"]

_MPIDR = slice(0x100, 0x108)
_AUX = slice(0x800, PAGE_SIZE)


def realm_params_of(params: CcaParams) -> bytes:
    """The RmiRealmParams image RMI_REALM_CREATE hashes for these parameters (RMI encodings)."""
    return realm_params_page(
        flags=params.flags,
        s2sz=params.ipa_bits,
        sve_vl=0 if params.sve_vl is None else params.sve_vl // 128 - 1,
        num_bps=params.num_bps - 1,
        num_wps=params.num_wps - 1,
        pmu_num_ctrs=params.pmu_num_ctrs or 0,
        hash_algo=params.hash_algo,
    )


class CcaMeasurer:
    """RIM after each op (``digest``, hash-size bytes); ``descriptors`` counts the extensions."""

    def __init__(self) -> None:
        self.params: CcaParams | None = None
        self._rim = b""
        self.descriptors = 0

    @property
    def digest(self) -> bytes:
        return self._rim

    def _hash(self, data: bytes) -> bytes:
        assert self.params is not None
        return hashlib.new(self.params.hash_algo, data).digest()

    def _extend(self, descriptor: bytes) -> None:
        self._rim = self._hash(descriptor)
        self.descriptors += 1

    def _init_ripas(self) -> None:
        assert self.params is not None
        if self.params.rmm != "1.0":
            return  # RMM 2.0 does not measure RMI_RTT_INIT_RIPAS (TF-RMM bdb07f46)
        sizes = rtt_block_sizes(self.params.ipa_bits)
        for base, top in sorted(self.params.ripas):
            for entry_base, entry_top in ripas_entries(base, top, sizes):
                self._extend(ripas_descriptor(self._rim, entry_base, entry_top))

    # -- Backend ------------------------------------------------------------------------------
    def init(self, op: Init) -> None:
        if op.vendor is not Vendor.CCA or op.cca is None:
            raise MeasurementError(f"CcaMeasurer measures cca realms, not {op.vendor.value}")
        self.params = op.cca
        self._rim = self._hash(realm_params_of(op.cca))
        self.descriptors = 0
        if op.cca.ripas_first:
            self._init_ripas()

    def add_memory(self, op: AddMemory) -> None:
        kind = op.kind
        if kind is PageKind.ZERO:
            return  # RMI_DATA_CREATE_UNKNOWN: no source, no extension
        if kind not in (PageKind.NORMAL, PageKind.UNMEASURED):
            raise MeasurementError(f"a CCA realm has no {kind.value} pages ({op.label or 'memory'})")
        for i in range(op.pages):
            content = self._hash(op.page(i)) if kind is PageKind.NORMAL else None
            self._extend(data_descriptor(self._rim, op.gpa + i * PAGE_SIZE, content))

    def add_vcpu(self, op: AddVcpu) -> None:
        if not op.state[0] & 1:
            return  # not RUNNABLE: RMI_REC_CREATE does not measure it
        image = bytearray(op.state)
        image[_MPIDR] = bytes(8)
        image[_AUX] = bytes(PAGE_SIZE - _AUX.start)
        self._extend(rec_descriptor(self._rim, self._hash(bytes(image))))

    def finalize(self, op: Finalize) -> bytes:
        assert self.params is not None
        if not self.params.ripas_first:
            self._init_ripas()
        return self._rim


def measure_rim(plan: LaunchPlan) -> bytes:
    """The RIM of a cca plan, its ops checked by the :class:`~pvmkit.launch.Launcher`."""
    return Launcher(CcaMeasurer()).run(plan)
