"""AMD launch-digest measurers: :class:`pvmkit.launch.Backend` implementations (spec amd.md §2–§4).

* :class:`SnpMeasurer` — the SEV-SNP PAGE_INFO SHA-384 chain (§4.1); also ``Vendor.SW``, which is
  measured exactly like SNP. Per 4 KiB page: ``LD = SHA-384(PAGE_INFO(LD, contents, type, gpa))``;
  NORMAL/VMSA pages contribute SHA-384(page), ZERO/UNMEASURED/SECRETS/CPUID 48 zero bytes; vCPUs
  (``AddVcpu``) are VMSA pages at GPA 0xFFFFFFFFF000, in the order they are added. ``Init.seed``
  resumes from a given digest (e.g. sev-snp-measure's ``snp:ovmf-hash``).
* :class:`SevMeasurer` / :class:`SevEsMeasurer` — SHA-256 over the bytes given to LAUNCH_UPDATE_DATA
  in call order (NORMAL memory; only ``AddMemory.data_span`` of a range when set, which is how a plan
  expresses QEMU's 176-byte kernel-hashes table), then (SEV-ES) each vCPU's 4096-byte VMSA. ZERO and
  UNMEASURED memory is not passed to the firmware and so not hashed; SNP-only page kinds (SECRETS,
  CPUID, VMSA) raise :class:`~pvmkit.errors.MeasurementError`.

All three expose ``digest`` (the digest so far) and ``copy()`` (an independent measurer in the same
state), so a prefix (the firmware) is measured once and extended per vCPU count.
"""

from __future__ import annotations

import _thread
import os

from pvmkit._coldstart.sha import sha384
from pvmkit.errors import MeasurementError
from pvmkit.launch import Launcher
from pvmkit.plan import PAGE_SIZE, AddMemory, AddVcpu, ByteData, Finalize, Init, LaunchPlan, PageKind, Vendor

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost of `pvmkit measure`)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LD_SIZE",
    "SNP_PAGE_TYPES",
    "VMSA_GPA",
    "SevEsMeasurer",
    "SevMeasurer",
    "SnpMeasurer",
    "measure_plan",
    "measurer_for",
    "page_sha384s",
    "snp_page_info",
]

LD_SIZE = 48
#: GPA KVM measures SNP VMSAs at: (u64)-1, page aligned, bits above 51 cleared (KVM INITIAL_VMSA_GPA)
VMSA_GPA = 0xFFFFFFFFF000
_ZERO48 = bytes(LD_SIZE)

#: SNP_LAUNCH_UPDATE page types (SNP firmware ABI 56860)
SNP_PAGE_TYPES: dict[PageKind, int] = {
    PageKind.NORMAL: 1,
    PageKind.VMSA: 2,
    PageKind.ZERO: 3,
    PageKind.UNMEASURED: 4,
    PageKind.SECRETS: 5,
    PageKind.CPUID: 6,
}

# PAGE_INFO bytes 0x60..0x68: LENGTH u16 = 0x70, PAGE_TYPE u8, IMI_PAGE, VMPL3/2/1 perms, reserved
_INFO_HEAD = {t: b"\x70\x00" + bytes((t, 0, 0, 0, 0, 0)) for t in range(256)}


def snp_page_info(ld: bytes, contents_digest: bytes, page_type: int, gpa: int) -> bytes:
    """The 112-byte PAGE_INFO structure (SNP ABI 56860, SNP_LAUNCH_UPDATE): current LD, contents
    digest, LENGTH 0x70, PAGE_TYPE, IMI_PAGE 0, VMPL3..1 permissions 0, reserved 0, GPA."""
    if len(ld) != LD_SIZE or len(contents_digest) != LD_SIZE:
        raise MeasurementError("PAGE_INFO needs a 48-byte launch digest and a 48-byte contents digest")
    if not 0 <= page_type <= 0xFF or not 0 <= gpa < 1 << 64:
        raise MeasurementError(f"PAGE_INFO page type {page_type} / GPA {gpa:#x} out of range")
    return bytes(ld) + bytes(contents_digest) + _INFO_HEAD[page_type] + gpa.to_bytes(8, "little")


class SnpMeasurer:
    """The SNP launch-digest chain as a launch backend. ``Launcher(SnpMeasurer()).run(plan)`` → 48 bytes."""

    def __init__(self, ld: bytes | None = None) -> None:
        self._ld = bytes(ld) if ld is not None else _ZERO48
        self._ld_memory = self._ld  # the chain over memory pages only
        self._vmsa_digests: list[bytes] = []  # SHA-384 of each vCPU's VMSA, in vCPU order
        self.vendor: Vendor | None = None
        self.pages = 0  #: PAGE_INFO updates so far

    # -- state --------------------------------------------------------------------------------
    @property
    def digest(self) -> bytes:
        """The launch digest if the launch finished now (48 bytes): the memory pages so far, then the
        VMSAs of the vCPUs added so far (KVM measures every VMSA in SNP_LAUNCH_FINISH, after all
        SNP_LAUNCH_UPDATE pages, whatever order the VMM created vCPUs and memory in; spec amd.md §4.2)."""
        return self._ld

    def copy(self) -> SnpMeasurer:
        other = SnpMeasurer(self._ld)
        other._ld_memory = self._ld_memory
        other._vmsa_digests = list(self._vmsa_digests)
        other.vendor = self.vendor
        other.pages = self.pages
        return other

    def _chain(self, ld: bytes, contents_digest: bytes, page_type: int, gpa: int) -> bytes:
        return sha384(snp_page_info(ld, contents_digest, page_type, gpa)).digest()

    def _memory_changed(self, ld_memory: bytes) -> None:
        """Memory was added: replay the pending VMSAs after it (normally there are none yet)."""
        self._ld_memory = ld = ld_memory
        for digest in self._vmsa_digests:
            ld = self._chain(ld, digest, SNP_PAGE_TYPES[PageKind.VMSA], VMSA_GPA)
        self._ld = ld

    def extend(self, page_type: int, gpa: int, contents_digest: bytes) -> bytes:
        """One SNP_LAUNCH_UPDATE page: chain a PAGE_INFO; returns the new LD."""
        self._memory_changed(self._chain(self._ld_memory, contents_digest, page_type, gpa))
        self.pages += 1
        return self._ld

    # -- Backend ------------------------------------------------------------------------------
    def init(self, op: Init) -> None:
        if not op.vendor.snp_like:
            raise MeasurementError(f"SnpMeasurer measures snp and sw guests, not {op.vendor.value}")
        self.vendor = op.vendor
        self._ld = self._ld_memory = bytes(op.seed) if op.seed is not None else _ZERO48
        self._vmsa_digests = []
        self.pages = 0

    def add_memory(self, op: AddMemory) -> None:
        kind = op.kind
        page_type = SNP_PAGE_TYPES[kind]
        head = _INFO_HEAD[page_type]
        ld = self._ld_memory
        gpa = op.gpa
        n = op.pages
        if kind.measured_contents:
            if op.page_digests is not None:
                digests: Any = op.page_digests
            elif op.data is None:
                digests = [_zero_page_sha384()] * n
            else:
                digests = page_sha384s(op.data, n)
            for i, contents in enumerate(digests):
                if len(contents) != LD_SIZE:
                    raise MeasurementError(f"page digest {i} of {op.label or 'memory'} is not 48 bytes")
                ld = sha384(ld + contents + head + (gpa + i * PAGE_SIZE).to_bytes(8, "little")).digest()
        else:
            tail = _ZERO48 + head
            for i in range(n):
                ld = sha384(ld + tail + (gpa + i * PAGE_SIZE).to_bytes(8, "little")).digest()
        self._memory_changed(ld)
        self.pages += n

    def add_vcpu(self, op: AddVcpu) -> None:
        digest = sha384(op.state).digest()
        self._vmsa_digests.append(digest)
        self._ld = self._chain(self._ld, digest, SNP_PAGE_TYPES[PageKind.VMSA], VMSA_GPA)
        self.pages += 1

    def finalize(self, op: Finalize) -> bytes:
        return self._ld


_ZERO_PAGE_SHA384: bytes | None = None
_PARALLEL_MIN_PAGES = 256


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def page_sha384s(data: ByteData, n: int) -> list[bytes]:
    """SHA-384 of each of the ``n`` 4 KiB pages of ``data``.

    A page equal to the page before it reuses that page's digest: comparing two pages is a memcmp,
    far cheaper than hashing one, and firmware images are mostly such runs (in an OVMF build 843 of
    the 1024 pages are the 0xFF padding after the compressed volume). The distinct pages of a large
    input are split between two threads: hashlib releases the GIL while it hashes, so on a machine
    with two or more CPUs this halves what remains.
    """
    starts: list[int] = []  # first index of each run of identical pages
    unique: list[bytes] = []  # the page at each start
    page = b""
    if isinstance(data, bytes):
        for i in range(n):  # bytes.startswith compares in place: only distinct pages are copied
            offset = i * PAGE_SIZE
            if not (page and data.startswith(page, offset, offset + PAGE_SIZE)):
                page = data[offset : offset + PAGE_SIZE]
                starts.append(i)
                unique.append(page)
    elif hasattr(data, "find"):  # an mmap of the image (the CLI) or a bytearray: compare in place
        find = data.find  # a window exactly one page long matches only at its start
        for i in range(n):
            offset = i * PAGE_SIZE
            if not (page and find(page, offset, offset + PAGE_SIZE) == offset):
                page = bytes(data[offset : offset + PAGE_SIZE])
                starts.append(i)
                unique.append(page)
    else:  # a memoryview: compare page copies
        view = memoryview(data).cast("B")
        for i in range(n):
            current = view[i * PAGE_SIZE : (i + 1) * PAGE_SIZE].tobytes()
            if current != page:
                page = current
                starts.append(i)
                unique.append(page)
    digests = _hash_pages(unique)
    out: list[bytes] = []
    bounds = [*starts[1:], n]
    for run, digest in enumerate(digests):
        out += [digest] * (bounds[run] - starts[run])
    return out


def _hash_pages(pages: list[bytes]) -> list[bytes]:
    """SHA-384 of each page; two threads when there are many and two CPUs (OpenSSL's SHA-384 then:
    it releases the GIL while it hashes, and the work pays for loading it; ``_coldstart.sha``)."""
    m = len(pages)
    if m < _PARALLEL_MIN_PAGES or _cpus() < 2:
        return [sha384(p).digest() for p in pages]
    import hashlib

    openssl_sha384 = hashlib.sha384
    half = m // 2
    out: list[bytes] = [b""] * m
    done = _thread.allocate_lock()
    done.acquire()

    def upper() -> None:
        try:
            for k in range(half, m):
                out[k] = openssl_sha384(pages[k]).digest()
        finally:
            done.release()

    _thread.start_new_thread(upper, ())
    for k in range(half):
        out[k] = openssl_sha384(pages[k]).digest()
    done.acquire()
    for k in range(half, m):  # the worker thread did not finish (it cannot fail on bytes): finish here
        if not out[k]:
            out[k] = openssl_sha384(pages[k]).digest()
    return out


def _zero_page_sha384() -> bytes:
    global _ZERO_PAGE_SHA384
    if _ZERO_PAGE_SHA384 is None:
        _ZERO_PAGE_SHA384 = sha384(bytes(PAGE_SIZE)).digest()
    return _ZERO_PAGE_SHA384


class _Sha256Measurer:
    """SHA-256 over LAUNCH_UPDATE_DATA bytes (and, for SEV-ES, LAUNCH_UPDATE_VMSA pages)."""

    _vendors: tuple[Vendor, ...] = ()

    def __init__(self) -> None:
        import hashlib  # here: the SNP path does not load libcrypto (start-up; _coldstart.sha)

        self._h = hashlib.sha256()  # LAUNCH_UPDATE_DATA bytes only
        self._vmsas: list[bytes] = []  # LAUNCH_UPDATE_VMSA pages, in vCPU order
        self._full: Any = None  # cached: _h followed by the VMSAs
        self.vendor: Vendor | None = None

    def _with_vmsas(self) -> Any:
        """The stream as LAUNCH_MEASURE sees it: all data first, then every VMSA (QEMU issues one
        LAUNCH_UPDATE_VMSA after the last LAUNCH_UPDATE_DATA; spec amd.md §3.1, §5.7)."""
        if self._full is None:
            self._full = self._h.copy()
            for page in self._vmsas:
                self._full.update(page)
        return self._full

    @property
    def digest(self) -> bytes:
        """SHA-256 of everything measured so far (32 bytes)."""
        return bytes(self._with_vmsas().digest())

    def copy(self) -> Any:
        other = type(self)()
        other._h = self._h.copy()
        other._vmsas = list(self._vmsas)
        other._full = None if self._full is None else self._full.copy()
        other.vendor = self.vendor
        return other

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the stream (one LAUNCH_UPDATE_DATA)."""
        self._h.update(data)
        self._full = None

    def init(self, op: Init) -> None:
        if op.vendor not in self._vendors:
            raise MeasurementError(f"{type(self).__name__} does not measure {op.vendor.value} guests")
        if op.seed is not None:
            raise MeasurementError("SEV/SEV-ES digests cannot be resumed from a seed")
        self.vendor = op.vendor
        import hashlib

        self._h = hashlib.sha256()
        self._vmsas = []
        self._full = None

    def add_memory(self, op: AddMemory) -> None:
        if op.kind in (PageKind.ZERO, PageKind.UNMEASURED):
            return  # not given to LAUNCH_UPDATE_DATA
        if op.kind is not PageKind.NORMAL:
            raise MeasurementError(
                f"{op.kind.value} pages are SNP-only; {op.label or 'memory'} cannot be measured"
            )
        if op.page_digests is not None:
            raise MeasurementError("SEV/SEV-ES digests are a byte stream: per-page digests cannot be used")
        off, length = op.data_span if op.data_span is not None else (0, op.size)
        if op.data is None:
            self.update(bytes(length))
        else:
            self.update(memoryview(op.data).cast("B")[off : off + length])

    def add_vcpu(self, op: AddVcpu) -> None:
        if op.state:
            self._vmsas.append(bytes(op.state))
            if self._full is not None:
                self._full.update(op.state)

    def finalize(self, op: Finalize) -> bytes:
        return self.digest


class SevMeasurer(_Sha256Measurer):
    """SEV launch digest GCTX.LD (32 bytes): SHA-256 of the LAUNCH_UPDATE_DATA stream."""

    _vendors = (Vendor.SEV,)

    def copy(self) -> SevMeasurer:
        result: SevMeasurer = super().copy()
        return result


class SevEsMeasurer(_Sha256Measurer):
    """SEV-ES launch digest (32 bytes): the SEV stream followed by every vCPU's VMSA page."""

    _vendors = (Vendor.SEV_ES,)

    def copy(self) -> SevEsMeasurer:
        result: SevEsMeasurer = super().copy()
        return result


Measurer = SnpMeasurer | SevMeasurer | SevEsMeasurer


def measurer_for(vendor: Vendor) -> Measurer:
    """A fresh measurer for a vendor: snp and sw → SNP chain, sev → SHA-256, sev-es → SHA-256 + VMSAs."""
    if vendor.snp_like:
        return SnpMeasurer()
    if vendor is Vendor.SEV:
        return SevMeasurer()
    if vendor is Vendor.SEV_ES:
        return SevEsMeasurer()
    raise MeasurementError(f"no AMD measurer for {vendor.value}")


def measure_plan(plan: LaunchPlan) -> bytes:
    """The launch digest of a plan, with the backend picked from ``plan.init.vendor``."""
    measurer = measurer_for(plan.init.vendor)
    result: bytes = Launcher(measurer).run(plan)
    return result
