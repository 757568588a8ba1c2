"""SNP appraisal (pvmkit.attest.snp_validate through pvmkit.attest.verify.verify_snp): every rule of
go-sev-guest's ``validate`` on the real go-sev-guest report, under a policy that passes and one that
fails, one test per rule; software-signed reports where the real report cannot exercise a rule (its
MIGRATE_MA is clear, its firmware is not provisional). Provenance of the expected values:
tests/vectors/README.md "SNP appraisal"."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from pvmkit.attest.snp_report import SnpReport
from pvmkit.attest.snp_validate import SnpExpected
from pvmkit.attest.software_ca import SoftwareAttestationKeys
from pvmkit.attest.verify import CACHE, EndorsementCache, SnpVerification, verify_snp
from pvmkit.errors import InputError
from support.fixtures import read_fixture

G = "go-sev-guest/"
AT = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def real() -> dict[str, bytes]:
    return {
        "report": read_fixture(G + "attestation.bin"),
        "vcek": read_fixture(G + "vcek.testcer"),
        "milan": read_fixture(G + "milan.testcer"),
    }


def raw_field(raw: bytes, offset: int, size: int) -> int:
    """A little-endian field read straight from the report bytes at its AMD ABI offset (not through
    pvmkit's parser), so that expected values do not come from the code under test."""
    return int.from_bytes(raw[offset : offset + size], "little")


# The real report's fields, from its bytes (offsets: AMD SEV-SNP ABI, ATTESTATION_REPORT).
POLICY, VMPL, PLATFORM_INFO = 0x08, 0x30, 0x40
MEASUREMENT, HOST_DATA, REPORT_ID_MA, REPORTED_TCB = 0x90, 0xC0, 0x160, 0x180
CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR = 0x1E8, 0x1E9, 0x1EA


def appraise(real: dict[str, bytes], **expected: Any) -> SnpVerification:
    """The real report under SnpExpected(**expected), DEBUG allowed unless the test says otherwise."""
    expected.setdefault("guest_policy", 0xB0000)
    return verify_snp(real["report"], real["vcek"], real["milan"], at=AT, expected=SnpExpected(**expected))


def status(res: SnpVerification, name: str) -> str | None:
    check = res.checks.get(name)
    return check.status if check is not None else None


def failed(res: SnpVerification) -> list[str]:
    return [c.name for c in res.checks.failures]


@pytest.fixture(scope="module")
def sw(tmp_path_factory: pytest.TempPathFactory) -> SoftwareAttestationKeys:
    return SoftwareAttestationKeys.create(str(tmp_path_factory.mktemp("appraise") / "k"), rsa_bits=2048)


def sw_appraise(sw: SoftwareAttestationKeys, report: SnpReport, **expected: Any) -> SnpVerification:
    signed = sw.sign_report(report)
    return verify_snp(signed, sw.vcek_pem, sw.chain_pem, trusted_ark_sha256=sw.ark_sha256,
                      expected=SnpExpected(**expected))  # fmt: skip


def test_the_real_report_passes_a_policy_that_fits_it(real: dict[str, bytes]) -> None:
    raw = real["report"]
    assert raw_field(raw, POLICY, 8) == 0xB0000
    res = appraise(
        real,
        measurement=frozenset({raw[MEASUREMENT : MEASUREMENT + 48], bytes(48)}),
        host_data=bytes(32),
        report_id_ma=b"\xff" * 32,
        vmpl=0,
        min_reported_tcb=raw_field(raw, REPORTED_TCB, 8),
        min_build=raw_field(raw, CURRENT_BUILD, 1),
        min_version=(raw_field(raw, CURRENT_MAJOR, 1), raw_field(raw, CURRENT_MINOR, 1)),
        platform_info=raw_field(raw, PLATFORM_INFO, 8),
    )
    assert res.ok, failed(res)
    assert status(res, "expected.measurement") == "passed"


def test_debug_is_refused_by_default(real: dict[str, bytes]) -> None:
    res = verify_snp(real["report"], real["vcek"], real["milan"], at=AT)  # SnpExpected() defaults
    assert failed(res) == ["policy.debug"]
    assert res.checks.get("policy.debug").actual is True  # type: ignore[union-attr]
    assert appraise(real).ok  # guest_policy 0xb0000 allows it


def test_smt_allowed_only_where_the_policy_allows_it(real: dict[str, bytes]) -> None:
    assert status(appraise(real, guest_policy=0xB0000), "policy.smt") == "passed"
    assert failed(appraise(real, guest_policy=0xA0000)) == ["policy.smt"]


def test_migrate_ma_refused_unless_allowed(sw: SoftwareAttestationKeys) -> None:
    report = SnpReport(policy=0x70000)  # MIGRATE_MA (bit 18)
    assert failed(sw_appraise(sw, report)) == ["policy.migrate_ma"]
    assert sw_appraise(sw, report, guest_policy=0x70000).ok


def test_cxl_refused_unless_allowed(sw: SoftwareAttestationKeys) -> None:
    report = SnpReport(policy=0x230000)  # CXL_ALLOW (bit 21)
    assert failed(sw_appraise(sw, report)) == ["policy.cxl_allow"]
    assert sw_appraise(sw, report, guest_policy=0x230000).ok


def test_minimum_abi_version(real: dict[str, bytes]) -> None:
    assert status(appraise(real, guest_policy=0xB0000), "policy.abi") == "passed"  # 0.0 >= 0.0
    res = appraise(real, guest_policy=0xB0100)  # ABI 1.0 required, the guest asks 0.0
    assert failed(res) == ["policy.abi"]


@pytest.mark.parametrize(
    ("bit", "name"),
    [
        (20, "single_socket"),
        (22, "mem_aes_256_xts"),
        (23, "rapl_dis"),
        (24, "ciphertext_hiding"),
        (25, "page_swap_disable"),
    ],
)
def test_required_policy_bits(
    real: dict[str, bytes], sw: SoftwareAttestationKeys, bit: int, name: str
) -> None:
    assert failed(appraise(real, guest_policy=0xB0000 | 1 << bit)) == [f"policy.{name}"]
    assert sw_appraise(sw, SnpReport(policy=0x30000 | 1 << bit), guest_policy=0x30000 | 1 << bit).ok


def test_reserved_policy_bits(sw: SoftwareAttestationKeys) -> None:
    assert failed(sw_appraise(sw, SnpReport(policy=0x10000))) == ["policy.reserved"]  # bit 17 clear
    assert failed(sw_appraise(sw, SnpReport(policy=0x30000 | 1 << 40))) == ["policy.reserved"]


def test_exact_policy_and_bit_masks(real: dict[str, bytes]) -> None:
    assert appraise(real, policy=0xB0000, policy_bits_clear=1 << 20, policy_bits_set=1 << 16).ok
    assert failed(appraise(real, policy=0x30000)) == ["expected.policy"]
    assert failed(appraise(real, policy_bits_clear=1 << 16)) == ["policy.bits_clear"]
    assert failed(appraise(real, policy_bits_set=1 << 20)) == ["policy.bits_set"]


@pytest.mark.parametrize("which", ["reported", "current", "committed", "launch"])
def test_minimum_tcbs(real: dict[str, bytes], which: str) -> None:
    """All four TCBs of the real report are 0x4405000000000002 (bootloader 2, tee 0, snp 5,
    microcode 0x44, the VCEK's SPL extensions as AMD's KDS wrote them)."""
    value = raw_field(real["report"], REPORTED_TCB, 8)
    assert value == 0x4405000000000002
    name = f"min_{which}_tcb"
    for ok in (value, {"bootloader": 2, "snp": 5, "microcode": 0x44}, 0):
        assert status(appraise(real, **{name: ok}), f"tcb.minimum.{which}") == "passed"
    for bad in (value + 1, {"snp": 6}, 0x4505000000000002):  # bootloader 3; snp 6; microcode 0x45
        res = appraise(real, **{name: bad})
        assert failed(res) == [f"tcb.minimum.{which}"]
    with pytest.raises(InputError, match="no TCB component 'fmc' in a milan report"):
        appraise(real, **{name: {"fmc": 1}})


def test_provisional_firmware(sw: SoftwareAttestationKeys) -> None:
    """COMMITTED below CURRENT (TCB, build, version) is refused unless provisional firmware is
    permitted; COMMITTED above CURRENT is refused either way."""
    lower = SnpReport(current_tcb=sw.tcb, reported_tcb=sw.tcb, launch_tcb=sw.tcb, committed_tcb=sw.tcb - 1,
                      current_build=5, committed_build=4, current_major=1, current_minor=55,
                      committed_major=1, committed_minor=51)  # fmt: skip
    assert sw.tcb & 0xFF, "the software TCB's bootloader SPL must be non-zero for this test"
    assert failed(sw_appraise(sw, lower)) == ["tcb.committed", "firmware.committed"]
    assert sw_appraise(sw, lower, permit_provisional_firmware=True).ok
    higher = dataclasses.replace(lower, committed_tcb=sw.tcb + 1, committed_build=6)
    res = sw_appraise(sw, higher, permit_provisional_firmware=True)
    assert failed(res) == ["tcb.committed", "firmware.committed"]


def test_reported_tcb_not_above_current(sw: SoftwareAttestationKeys) -> None:
    report = dataclasses.replace(SnpReport(), current_tcb=sw.tcb - 1, committed_tcb=sw.tcb - 1)
    assert failed(sw_appraise(sw, report)) == ["tcb.reported"]


def test_minimum_firmware_build_and_version(real: dict[str, bytes]) -> None:
    raw = real["report"]
    build = raw_field(raw, CURRENT_BUILD, 1)
    version = (raw_field(raw, CURRENT_MAJOR, 1), raw_field(raw, CURRENT_MINOR, 1))
    assert (build, version) == (3, (1, 49))
    assert appraise(real, min_build=3, min_version=(1, 49)).ok
    assert appraise(real, min_version=(0, 255)).ok
    assert failed(appraise(real, min_build=4)) == ["firmware.minimum_build"]
    assert failed(appraise(real, min_version=(1, 50))) == ["firmware.minimum_version"]
    assert failed(appraise(real, min_version=(2, 0))) == ["firmware.minimum_version"]


def test_platform_info(real: dict[str, bytes], sw: SoftwareAttestationKeys) -> None:
    """The real report's PLATFORM_INFO is 0x1 (SMT_EN)."""
    assert raw_field(real["report"], PLATFORM_INFO, 8) == 1
    assert appraise(real, platform_info=0x3).ok  # SMT_EN and TSME_EN allowed
    assert failed(appraise(real, platform_info=0x0)) == ["platform_info.smt_en"]
    assert failed(appraise(real, platform_info=0x5)) == ["platform_info.ecc_en"]  # ECC required
    assert failed(appraise(real, platform_info=0x21)) == ["platform_info.alias_check_complete"]
    assert failed(sw_appraise(sw, SnpReport(platform_info=0x2), platform_info=0x0)) == [
        "platform_info.tsme_en"
    ]
    assert failed(sw_appraise(sw, SnpReport(platform_info=0x40), platform_info=0x0)) == [
        "platform_info.reserved"
    ]
    assert status(appraise(real), "platform_info.smt_en") is None  # unchecked unless asked
    assert status(appraise(real, platform_info=0x3), "platform_info.reserved") == "passed"


def test_vmpl(real: dict[str, bytes]) -> None:
    assert raw_field(real["report"], VMPL, 4) == 0
    assert appraise(real, vmpl=0).ok
    assert failed(appraise(real, vmpl=1)) == ["expected.vmpl"]


def test_measurement_sets(real: dict[str, bytes]) -> None:
    m = real["report"][MEASUREMENT : MEASUREMENT + 48]
    assert m.hex().startswith("b07af962")
    assert appraise(real, measurement=m).ok
    assert appraise(real, measurement=frozenset({bytes(48), m})).ok
    res = appraise(real, measurement=frozenset({bytes(48), b"\1" * 48}))
    assert failed(res) == ["expected.measurement"]
    check = res.checks.get("expected.measurement")
    assert check is not None and check.expected == ["00" * 48, "01" * 48] and check.actual == m.hex()
    assert status(appraise(real), "expected.measurement") == "not_performed"


@pytest.mark.parametrize(
    ("name", "offset", "size"),
    [
        ("host_data", HOST_DATA, 32),
        ("report_data", 0x50, 64),
        ("report_id_ma", REPORT_ID_MA, 32),
        ("report_id", 0x140, 32),
        ("family_id", 0x10, 16),
        ("image_id", 0x20, 16),
        ("chip_id", 0x1A0, 64),
        ("id_key_digest", 0xE0, 48),
        ("author_key_digest", 0x110, 48),
    ],
)
def test_verbatim_fields(real: dict[str, bytes], name: str, offset: int, size: int) -> None:
    value = real["report"][offset : offset + size]
    other = bytes(b ^ 0xFF for b in value)
    assert appraise(real, **{name: value}).ok
    assert appraise(real, **{name: frozenset({other, value})}).ok
    assert failed(appraise(real, **{name: other})) == [f"expected.{name}"]


def test_guest_svn_and_version(real: dict[str, bytes]) -> None:
    assert appraise(real, min_guest_svn=0, version=2, guest_svn=0).ok
    assert failed(appraise(real, min_guest_svn=1)) == ["guest_svn.minimum"]
    assert failed(appraise(real, version=3)) == ["expected.version"]


def test_id_block_keys(real: dict[str, bytes], sw: SoftwareAttestationKeys) -> None:
    """go-sev-guest validateKeys: a required ID block passes with a trusted ID key or a trusted,
    enabled author key; a required author key needs AUTHOR_KEY_EN and a trusted digest."""
    id_key, author = b"\x11" * 48, b"\x22" * 48
    assert failed(appraise(real, require_id_block=True, trusted_id_keys=frozenset({id_key}))) == [
        "id_block.trusted"
    ]
    res = appraise(real, require_author_key=True, trusted_author_keys=frozenset({author}))
    assert failed(res) == ["id_block.author_key", "id_block.trusted"]  # AUTHOR_KEY_EN is 0
    with_id = SnpReport(id_key_digest=id_key)
    assert sw_appraise(sw, with_id, require_id_block=True, trusted_id_keys=frozenset({id_key})).ok
    with_author = SnpReport(id_key_digest=b"\x33" * 48, author_key_digest=author, author_key_en=True)
    assert sw_appraise(sw, with_author, require_author_key=True, trusted_author_keys=frozenset({author})).ok
    assert sw_appraise(sw, with_author, require_id_block=True, trusted_author_keys=frozenset({author})).ok
    disabled = dataclasses.replace(with_author, author_key_en=False)
    res = sw_appraise(sw, disabled, require_id_block=True, trusted_author_keys=frozenset({author}))
    assert failed(res) == ["id_block.trusted"]


def test_every_failure_is_reported(real: dict[str, bytes]) -> None:
    """Not the first mismatch: all of them, with the values compared."""
    res = verify_snp(real["report"], real["vcek"], real["milan"], at=dt.datetime(2030, 1, 1),
                     expected=SnpExpected(measurement=bytes(48), vmpl=2, min_build=9))  # fmt: skip
    assert failed(res) == [
        "chain.validity",
        "policy.debug",
        "expected.vmpl",
        "expected.measurement",
        "firmware.minimum_build",
    ]
    assert not res.ok and res.to_dict()["ok"] is False
    vmpl = res.checks.get("expected.vmpl")
    assert vmpl is not None and (vmpl.expected, vmpl.actual) == (2, 0)


def test_masked_or_zero_chip_id_is_not_compared(sw: SoftwareAttestationKeys) -> None:
    res = sw_appraise(sw, SnpReport(mask_chip_key=True))
    assert res.ok and status(res, "vcek.chip_id") == "not_performed"


def test_endorsements_are_cached_by_content(real: dict[str, bytes]) -> None:
    cache = EndorsementCache(size=2)
    first = cache.get(real["vcek"], real["milan"], None)
    assert cache.get(bytes(real["vcek"]), bytes(real["milan"]), None) is first
    assert cache.get(real["vcek"], real["milan"], "vcek") is not first  # another claim, another entry
    # validity is checked per call, not cached: a cached endorsement still fails at 2030
    args = (real["report"], real["vcek"], real["milan"])
    CACHE.clear()
    assert verify_snp(*args, at=AT, expected=None).ok
    assert failed(verify_snp(*args, at=dt.datetime(2030, 1, 1), expected=None)) == ["chain.validity"]


def test_product_lines_agree(real: dict[str, bytes], sw: SoftwareAttestationKeys) -> None:
    """The chain's product (ASK ``SEV-Milan``), the VCEK's productName extension (``Milan-B0`` in the
    real VCEK, as AMD KDS wrote it) and, from version 3, the report's CPUID family/model agree."""
    res = appraise(real)
    check = res.checks.get("vcek.product")
    assert check is not None and check.status == "passed" and check.actual == "Milan-B0"
    assert status(res, "report.product") == "not_performed"  # version 2: no CPUID fields
    assert status(sw_appraise(sw, SnpReport()), "report.product") == "passed"  # family 0x19 model 0x01
    genoa = sw_appraise(sw, SnpReport(cpuid_mod_id=0x11))  # a Genoa CPUID under a Milan chain
    assert failed(genoa) == ["report.product"]


def test_mitigation_vectors(real: dict[str, bytes], sw: SoftwareAttestationKeys) -> None:
    """Version 5 reports carry LAUNCH_MIT_VECTOR (0x1F8) and CURRENT_MIT_VECTOR (0x200): every bit of
    a minimum must be set; the real version 2 report has none and fails any non-zero minimum."""
    v5 = SnpReport(version=5, launch_mit_vector=0b1011, current_mit_vector=0b0011)
    assert sw_appraise(sw, v5, min_launch_mit_vector=0b1001, min_current_mit_vector=0b0011).ok
    assert failed(sw_appraise(sw, v5, min_launch_mit_vector=0b0100)) == ["mitigations.launch"]
    assert failed(sw_appraise(sw, v5, min_current_mit_vector=0b1000)) == ["mitigations.current"]
    assert failed(appraise(real, min_current_mit_vector=1)) == ["mitigations.current"]
    assert appraise(real, min_current_mit_vector=0).ok


def test_one_cache_serves_threads(real: dict[str, bytes]) -> None:
    """Threads sharing one EndorsementCache (a verification service) all get correct results."""
    from concurrent.futures import ThreadPoolExecutor

    cache = EndorsementCache(size=1)  # size 1: entries are evicted and rebuilt while others read
    other = read_fixture(G + "trust/ask_ark_genoa.pem")  # a wrong chain: its endorsement fails

    def one(i: int) -> bool:
        chain = real["milan"] if i % 2 else other
        res = verify_snp(real["report"], real["vcek"], chain, at=AT, expected=None, cache=cache)
        return res.ok == bool(i % 2)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(one, range(24)))
