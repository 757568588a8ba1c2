"""The vCPU topology of a QEMU x86 machine: ``-smp`` as QEMU reads it, and the APIC IDs it gives.

* :class:`SmpOptions`: the keys of a ``-smp`` option as written (absent keys are ``None``);
* :class:`CpuTopology`: the resolved topology, with QEMU's defaults filled in and its validity rules
  applied, and the APIC ID of every possible vCPU.

Sources: QEMU ``hw/core/machine-smp.c`` ``machine_parse_smp_config`` (zero values refused; levels the
machine lacks may only be 1; omitted keys computed preferring cores over sockets over threads for
machine types from 6.2 on; the product of the levels must equal ``maxcpus``, which defaults to the
vCPU count and may not be below it), ``hw/i386/pc.c`` ``pc_machine_class_init`` (the PC machines
have dies and, from QEMU 9.1, modules: upstream "hw/i386/pc: Support smp.modules for x86 PC
machine"; no clusters, books or drawers), ``hw/i386/pc_q35.c`` (``max_cpus`` 4096),
``include/hw/i386/topology.h`` (``x86_topo_ids_from_idx``, ``x86_apicid_from_topo_ids``: each
level's ID packed into a bit field as wide as its count needs, rounded up to a power of two) and
``hw/i386/x86.c`` ``x86_possible_cpu_arch_ids`` (possible vCPU ``i`` has the APIC ID of topology
index ``i``; vCPUs ``0..cpus-1`` exist at start, the rest are hot-pluggable).

This module is QEMU's PC machine topology only; it does not import the ACPI generator, so other
parts that depend on the topology (SMBIOS type 4, say) can use it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields

from pvmkit.errors import InputError

__all__ = ["MAX_CPUS", "MODULES_FROM", "SMP_KEYS", "CpuTopology", "SmpOptions", "smp_of_words"]

#: QEMU q35's ``max_cpus`` (``hw/i386/pc_q35.c``, ``pc_q35_machine_options``).
MAX_CPUS = 4096
#: The first QEMU version whose PC machines accept ``modules`` above 1.
MODULES_FROM = (9, 1)

#: ``-smp`` keys QEMU knows (``qapi/machine.json`` ``SMPConfiguration``), in the order pvmkit prints
#: them. ``clusters``, ``books`` and ``drawers`` are levels the PC machines do not have: QEMU accepts
#: them only as 1.
SMP_KEYS = (
    "cpus",
    "sockets",
    "dies",
    "modules",
    "cores",
    "threads",
    "maxcpus",
    "clusters",
    "books",
    "drawers",
)
_ABSENT_LEVELS = ("clusters", "books", "drawers")


@dataclass(frozen=True)
class SmpOptions:
    """A ``-smp`` option's keys as given (``None``: not given)."""

    cpus: int | None = None
    sockets: int | None = None
    dies: int | None = None
    modules: int | None = None
    cores: int | None = None
    threads: int | None = None
    maxcpus: int | None = None
    clusters: int | None = None
    books: int | None = None
    drawers: int | None = None

    @classmethod
    def parse(cls, text: str, what: str = "-smp") -> SmpOptions:
        """``[cpus=]N[,key=value...]`` (QEMU ``-smp``: the first value may omit ``cpus=``)."""
        values: dict[str, int] = {}
        for n, part in enumerate(text.split(",")):
            key, eq, value = part.partition("=")
            if not eq and n == 0:
                key, value = "cpus", part
            elif not eq:
                raise InputError(f"{what} {text}: {part!r} is not key=value")
            if key not in SMP_KEYS:
                raise InputError(f"{what} {text}: {key!r} is not an -smp key (keys: {', '.join(SMP_KEYS)})")
            if key in values:
                raise InputError(f"{what} {text}: {key} given twice")
            if not value.isdigit():
                raise InputError(f"{what} {text}: {key}={value!r} is not a number")
            values[key] = int(value)
        return cls(**values)

    def given(self) -> dict[str, int]:
        """The keys given, in :data:`SMP_KEYS` order."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def text(self) -> str:
        """The ``-smp`` value of these keys (``key=value`` each, comma separated)."""
        return ",".join(f"{k}={v}" for k, v in self.given().items())

    def merged(self, later: SmpOptions) -> SmpOptions:
        """These keys with ``later``'s given keys replacing them (QEMU merges repeated ``-smp``)."""
        return SmpOptions(**{**self.given(), **later.given()})

    def resolve(self, qemu_version: tuple[int, int] = (10, 0)) -> CpuTopology:
        """The topology QEMU ``qemu_version`` makes of these keys on a PC machine, or
        :class:`InputError` (one line) where QEMU refuses them."""
        given = self.given()
        if any(v == 0 for v in given.values()):
            raise InputError(f"-smp {self.text()}: CPU topology parameters must be greater than zero")
        for level in _ABSENT_LEVELS:
            if given.get(level, 1) > 1:
                raise InputError(
                    f"-smp {self.text()}: {level} > 1 not supported by the PC machines' CPU topology"
                )
        if self.modules is not None and qemu_version < MODULES_FROM:
            major, minor = qemu_version
            raise InputError(
                f"-smp {self.text()}: QEMU {major}.{minor} has no modules level (QEMU 9.1 added it)"
            )
        dies = self.dies or 1
        modules = self.modules or 1
        sockets, cores, threads = self.sockets or 0, self.cores or 0, self.threads or 0
        cpus, maxcpus = self.cpus or 0, self.maxcpus or 0
        if cpus == 0 and maxcpus == 0:
            sockets, cores, threads = sockets or 1, cores or 1, threads or 1
        else:
            maxcpus = maxcpus or cpus
            # machine types from 6.2 on prefer cores over sockets over threads
            if cores == 0:
                sockets, threads = sockets or 1, threads or 1
                cores = maxcpus // (sockets * dies * modules * threads)
            elif sockets == 0:
                threads = threads or 1
                sockets = maxcpus // (dies * modules * cores * threads)
            if threads == 0:
                threads = maxcpus // (sockets * dies * modules * cores)
        product = sockets * dies * modules * cores * threads
        maxcpus = maxcpus or product
        cpus = cpus or maxcpus
        levels = {"sockets": sockets, "dies": dies, "modules": modules, "cores": cores, "threads": threads}
        hierarchy = " * ".join(f"{name} ({count})" for name, count in levels.items())
        if product != maxcpus:
            raise InputError(
                f"-smp {self.text()}: the product of the hierarchy must match maxcpus: "
                f"{hierarchy} != {maxcpus}"
            )
        if maxcpus < cpus:
            raise InputError(f"-smp {self.text()}: maxcpus ({maxcpus}) is below the vCPU count ({cpus})")
        if maxcpus > MAX_CPUS:
            raise InputError(
                f"-smp {self.text()}: {maxcpus} possible vCPUs; QEMU's q35 machine takes at most {MAX_CPUS}"
            )
        return CpuTopology(cpus, sockets, dies, modules, cores, threads, maxcpus)


def smp_of_words(words: Sequence[str], what: str = "-smp") -> SmpOptions:
    """The ``-smp`` keys of a QEMU command line (split into words), merged as QEMU merges them."""
    smp = SmpOptions()
    for option, value in itertools.pairwise(words):
        if option.lstrip("-") == "smp":
            smp = smp.merged(SmpOptions.parse(value, what))
    return smp


def _bit_width(count: int) -> int:
    """Bits for IDs 0..count-1 (``apicid_bitwidth_for_count``)."""
    return (count - 1).bit_length()


@dataclass(frozen=True)
class CpuTopology:
    """A resolved PC machine topology: ``cpus`` vCPUs present of ``maxcpus`` possible ones, each
    possible vCPU at one (socket, die, module, core, thread) position."""

    cpus: int  #: vCPUs present at start (QEMU ``smp.cpus``)
    sockets: int
    dies: int  #: per socket
    modules: int  #: per die
    cores: int  #: per module
    threads: int  #: per core
    maxcpus: int  #: possible vCPUs (QEMU ``smp.max_cpus``): the present ones and the hot-pluggable rest

    def __post_init__(self) -> None:
        levels = (self.sockets, self.dies, self.modules, self.cores, self.threads)
        if (
            min(levels) < 1
            or self.sockets * self.dies * self.modules * self.cores * self.threads != self.maxcpus
        ):
            raise InputError(f"{self}: the levels' product is not maxcpus")
        if not 1 <= self.cpus <= self.maxcpus <= MAX_CPUS:
            raise InputError(f"{self.cpus} vCPUs of {self.maxcpus}: QEMU's q35 machine takes 1..{MAX_CPUS}")

    @staticmethod
    def plain(cpus: int) -> CpuTopology:
        """``-smp N``: one socket of N single-threaded cores, all present."""
        return _plain(cpus)

    @property
    def is_plain(self) -> bool:
        """Whether this is what ``-smp N`` alone gives (APIC IDs 0..N-1, no hot-pluggable vCPUs)."""
        return self == CpuTopology.plain(self.cpus)

    def apic_id(self, index: int) -> int:
        """The APIC ID of possible vCPU ``index`` (``x86_apicid_from_cpu_idx``)."""
        thread = index % self.threads
        core = index // self.threads % self.cores
        module = index // (self.threads * self.cores) % self.modules
        die = index // (self.threads * self.cores * self.modules) % self.dies
        socket = index // (self.threads * self.cores * self.modules * self.dies)
        core_offset = _bit_width(self.threads)
        module_offset = core_offset + _bit_width(self.cores)
        die_offset = module_offset + _bit_width(self.modules)
        socket_offset = die_offset + _bit_width(self.dies)
        return (
            (socket << socket_offset)
            | (die << die_offset)
            | (module << module_offset)
            | (core << core_offset)
            | thread
        )

    @property
    def apic_ids(self) -> tuple[int, ...]:
        """The APIC IDs of the ``maxcpus`` possible vCPUs, by index."""
        return _apic_ids(self)

    @property
    def cores_per_socket(self) -> int:
        """Cores in one socket (``machine_topo_get_cores_per_socket``)."""
        return self.dies * self.modules * self.cores

    @property
    def threads_per_socket(self) -> int:
        """Threads in one socket (``machine_topo_get_threads_per_socket``)."""
        return self.cores_per_socket * self.threads

    def smp_value(self) -> str:
        """This topology as a complete ``-smp`` value."""
        return (
            f"{self.cpus},sockets={self.sockets},dies={self.dies},modules={self.modules},cores={self.cores},"
            f"threads={self.threads},maxcpus={self.maxcpus}"
        )

    def to_json(self) -> dict[str, int]:
        """The levels and counts, for JSON documents."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@functools.lru_cache(maxsize=512)
def _plain(cpus: int) -> CpuTopology:
    return SmpOptions(cpus=cpus).resolve()


@functools.lru_cache(maxsize=64)
def _apic_ids(topology: CpuTopology) -> tuple[int, ...]:
    return tuple(topology.apic_id(i) for i in range(topology.maxcpus))
