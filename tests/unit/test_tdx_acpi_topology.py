"""vCPU topology (``-smp N,sockets=,dies=,modules=,cores=,threads=,maxcpus=``) in pvmkit's QEMU ACPI
generator (pvmkit.vendors.tdx.acpi.topology, the MADT, the DSDT's processor objects) against QEMU.

Oracle: Debian's QEMU 10.0.2 (``PVMKIT_QEMU``) under qtest, given the ``-smp`` keys exactly as a user
writes them (QEMU merges them into the dumper's ``-smp N`` and fills in what is omitted itself), so
QEMU's own ``machine_parse_smp_config`` and APIC ID packing decide; all three ACPI blobs must be
byte-equal. The same keys must be refused by pvmkit exactly where QEMU refuses them. The QEMU 8.2 and
9.2 profiles are checked by turning QEMU 10.0.2's tables into theirs with the documented differences
(tests/support/qemu_acpi_versions.py, proven on real captures in test_tdx_qemu_acpi_versions.py).
"""

from __future__ import annotations

import random
import shlex

import pytest

from pvmkit.errors import InputError
from pvmkit.vendors.tdx.acpi.build import ACPI_FILES, acpi_blobs
from pvmkit.vendors.tdx.acpi.qemu_args import parse_qemu_args
from pvmkit.vendors.tdx.acpi.topology import CpuTopology, SmpOptions
from pvmkit.vendors.tdx.acpi.versions import acpi_profile
from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, QemuAcpiDumper
from support.fixtures import fixture_path
from support.qemu import DSTACK_DEVICES, qemu_binary
from support.qemu_acpi_versions import transform_blobs

GIB = 1 << 30

# (vCPUs, -smp keys, pic): each samples one rule.
TOPOLOGIES = [
    (6, "sockets=2,cores=3", False),  # non-power-of-two cores: a gap in the APIC IDs (3 -> 4)
    (8, "sockets=2,threads=2", True),  # cores computed (2), threads=2
    (12, "sockets=2,dies=2,cores=3", False),  # dies
    (12, "dies=2,modules=3,cores=2", False),  # modules (QEMU >= 9.1), between cores and dies
    (2, "maxcpus=9", False),  # hot-pluggable vCPUs; FADT cluster model from maxcpus, not the count
    (5, "sockets=2,cores=3,maxcpus=12", True),  # threads computed (2); absent vCPUs disabled in the MADT
    (4, "sockets=4,cores=65,maxcpus=260", False),  # absent vCPUs past APIC ID 254: x2APIC entries
    (195, "sockets=3,cores=65", False),  # fewer than 255 vCPUs, APIC IDs from 256: x2APIC present
]

# -smp keys QEMU 10.0.2 refuses for the vCPU count (machine_parse_smp_config).
REFUSED = [
    (4, "sockets=2,cores=3"),  # the product is not maxcpus
    (7, "maxcpus=6"),  # maxcpus below the count
    (4, "dies=0"),  # zero
    (4, "clusters=2"),  # a level the PC machines lack
    (4, "books=2"),
    (1, "maxcpus=4097"),  # beyond q35's max_cpus
]


def _dumper(keys: str) -> QemuAcpiDumper:
    """QEMU with the keys as written; the dumper gives the CPU model x2APIC where a present vCPU's
    APIC ID reaches 255 (QEMU apic_common_set_id refuses the machine otherwise)."""
    firmware = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    return QemuAcpiDumper(qemu_binary(), firmware, (*shlex.split(DSTACK_DEVICES), "-smp", keys))


@pytest.mark.parametrize(("vcpus", "keys", "pic"), TOPOLOGIES)
def test_generator_equals_qemu(vcpus: int, keys: str, pic: bool) -> None:
    machine = parse_qemu_args(["-smp", keys, *shlex.split(DSTACK_DEVICES)]).machine(
        (10, 0), vcpus, 2 * GIB, pic
    )
    topology = machine.cpu_topology
    assert topology.cpus == vcpus and not topology.is_plain
    qemu = _dumper(keys).dump(AcpiShape(vcpus, 2 * GIB, pic))
    ours = acpi_blobs(machine)
    for name in ACPI_FILES:
        assert ours[name] == qemu[name], name


@pytest.mark.parametrize(("vcpus", "keys"), REFUSED)
def test_refused_where_qemu_refuses(vcpus: int, keys: str) -> None:
    with pytest.raises(InputError, match="QEMU refused the machine"):
        _dumper(keys).dump(AcpiShape(vcpus, 2 * GIB, False))
    with pytest.raises(InputError, match=f"--vcpus {vcpus}: -smp "):
        parse_qemu_args(["-smp", keys, *shlex.split(DSTACK_DEVICES)]).machine((10, 0), vcpus, 2 * GIB, False)


def _sampled_smp(seed: int) -> tuple[int, str]:
    """A vCPU count and -smp keys drawn at random (each key present with probability 0.45): most are
    refused by QEMU, the rest resolved by its own rules."""
    rng = random.Random(seed)
    keys = [f"{k}={rng.randint(1, hi)}" for k, hi in _SAMPLED_KEYS if rng.random() < 0.45]
    return rng.randint(1, 16), ",".join(keys) or "sockets=1"


_SAMPLED_KEYS = (("sockets", 4), ("dies", 3), ("modules", 3), ("cores", 7), ("threads", 3), ("maxcpus", 30))


@pytest.mark.parametrize("seed", range(32))
def test_sampled_keys_agree_with_qemu(seed: int) -> None:
    """Random -smp keys (fixed seeds): pvmkit refuses exactly what QEMU 10.0.2 refuses, and where both
    accept, the three blobs are byte-equal."""
    vcpus, keys = _sampled_smp(seed)
    try:
        ours: dict[str, bytes] | None = acpi_blobs(
            parse_qemu_args(["-smp", keys, *shlex.split(DSTACK_DEVICES)]).machine((10, 0), vcpus, GIB, False)
        )
    except InputError:
        ours = None
    try:
        qemu: dict[str, bytes] | None = _dumper(keys).dump(AcpiShape(vcpus, GIB, False))
    except InputError as e:
        assert "QEMU refused the machine" in str(e)
        qemu = None
    assert (ours is None) == (qemu is None), (vcpus, keys)
    if ours is not None and qemu is not None:
        for name in ACPI_FILES:
            assert ours[name] == qemu[name], (vcpus, keys, name)


@pytest.mark.parametrize("version", [(8, 2, 2), (9, 2, 1)])
def test_older_profiles_with_a_topology(version: tuple[int, int, int]) -> None:
    """QEMU 10.0.2's tables of a hot-pluggable topology, turned into the older version's by the
    documented differences, equal the generator's for that version (CSCN's scan bound is maxcpus)."""
    vcpus, keys = 5, "sockets=2,cores=3,maxcpus=12"
    pic = version < (9, 0, 0)
    machine = parse_qemu_args(["-smp", keys, *shlex.split(DSTACK_DEVICES)]).machine(
        version[:2], vcpus, 2 * GIB, pic
    )
    qemu = _dumper(keys).dump(AcpiShape(vcpus, 2 * GIB, pic))
    expected = transform_blobs(qemu, acpi_profile(version), machine.cpu_topology.maxcpus)
    ours = acpi_blobs(machine)
    for name in ACPI_FILES:
        assert ours[name] == expected[name], name


# --- without QEMU: the model's own rules ------------------------------------------------------------


def test_plain_smp_is_one_socket_of_cores() -> None:
    """machine_parse_smp_config, cores preferred (machine types >= 6.2): -smp N is 1 socket x N cores."""
    t = CpuTopology.plain(6)
    assert (t.sockets, t.dies, t.modules, t.cores, t.threads, t.maxcpus) == (1, 1, 1, 6, 1, 6)
    assert t.apic_ids == tuple(range(6)) and t.is_plain


def test_apic_ids_by_hand() -> None:
    """include/hw/i386/topology.h by hand: 2 sockets x 3 cores x 2 threads: thread bit 0, cores in
    bits 1-2 (3 rounded up to 4), the socket from bit 3."""
    t = SmpOptions.parse("12,sockets=2,cores=3,threads=2").resolve()
    assert t.apic_ids == (0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)
    assert (t.cores_per_socket, t.threads_per_socket) == (3, 6)


def test_keys_only_smp_takes_the_count_from_vcpus_and_merges() -> None:
    launch = parse_qemu_args(["-smp", "sockets=2,cores=8", "-smp", "cores=3", *shlex.split(DSTACK_DEVICES)])
    assert launch.smp == SmpOptions(sockets=2, cores=3)
    assert launch.topology((10, 0), 6).to_json() == {
        "cpus": 6, "sockets": 2, "dies": 1, "modules": 1, "cores": 3, "threads": 1, "maxcpus": 6
    }  # fmt: skip
    plain = parse_qemu_args(["-smp", "sockets=1", *shlex.split(DSTACK_DEVICES)]).machine(
        (10, 0), 4, GIB, False
    )
    assert plain.topology is None  # the same machine as without -smp
    assert plain == parse_qemu_args(shlex.split(DSTACK_DEVICES)).machine((10, 0), 4, GIB, False)


@pytest.mark.parametrize(
    ("argv", "vcpus", "version", "message"),
    [
        (["-smp", "4,sockets=2"], 6, (10, 0), "contradicts --vcpus 6"),
        (["-smp", "sockets=2,foo=1"], 4, (10, 0), "'foo' is not an -smp key"),
        (["-smp", "sockets=two"], 4, (10, 0), "is not a number"),
        (["-smp", "sockets=2,sockets=1"], 4, (10, 0), "sockets given twice"),
        (["-smp", "4,cores"], 4, (10, 0), "is not key=value"),
        (["-smp", "modules=2,cores=2"], 4, (8, 2), "QEMU 8.2 has no modules level"),
        (["-m", "2G"], 4, (10, 0), "give the shape with --memory"),
    ],
)
def test_refused_smp(argv: list[str], vcpus: int, version: tuple[int, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_qemu_args([*argv, *shlex.split(DSTACK_DEVICES)]).machine(version, vcpus, GIB, False)
