"""pvmkit.refvalues: the names Trustee's policies query, the RVPS formats, and reading every format back.

Independent sources: Trustee's default CPU policy and its CCA test policy, read from the fixtures
(``trustee/attestation-service/src/ear_token/ear_default_policy_cpu.rego``,
``trustee/deps/verifier/test_data/cca/conf/default.rego``): each name and whether the policy tests it
with ``in`` (a list) or ``==`` (one bare value) is parsed from the Rego text itself. Values here are
arbitrary byte patterns; what is checked is the encoding (hex, base64, lists) and the round trip.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from pvmkit.errors import FormatError, InputError
from pvmkit.refvalues import RefValueSet, load_expectations, read_reference_values, trustee
from pvmkit.refvalues.names import NAMES
from pvmkit.refvalues.setjson import parse_set_json, set_json
from support.fixtures import read_fixture

POLICY = "trustee/attestation-service/src/ear_token/ear_default_policy_cpu.rego"
QUERY = re.compile(r'input\.(snp|tdx)[.\w]*\s+(in|==)\s+query_reference_value\("([^"]+)"\)')
EVENT = re.compile(r'digest\.digest\s+(==)\s+query_reference_value\("([^"]+)"\)')


def test_names_and_operators_of_trustees_default_policy() -> None:
    rego = "\n".join(line.split("#", 1)[0] for line in read_fixture(POLICY).decode().splitlines())
    found = {name: op for _tee, op, name in QUERY.findall(rego)}
    found.update({name: op for op, name in EVENT.findall(rego)})
    assert len(found) >= 16
    for name, op in found.items():
        assert name in NAMES, name
        assert NAMES[name].single == (op == "=="), name


def test_cca_name_of_trustees_cca_policy() -> None:
    rego = read_fixture("trustee/deps/verifier/test_data/cca/conf/default.rego").decode()
    names = set(re.findall(r'input\.cca\.realm\["[^"]+"\]\s+in\s+data\.reference\["([^"]+)"\]', rego))
    assert names == {"cca.realm.cca-realm-initial-measurement"}
    assert not NAMES["cca.realm.cca-realm-initial-measurement"].single


def sample_set() -> RefValueSet:
    rvs = RefValueSet()
    rvs.add("snp_launch_measurement", b"\xaa" * 48, {"vcpus": 1})
    rvs.add("snp_launch_measurement", b"\xbb" * 48, {"vcpus": 2})
    rvs.add("snp_launch_measurement", b"\xaa" * 48, {"vcpus": 3})
    rvs.add("snp_smt_enabled", True, {"source": "literal"})
    rvs.add("snp_bootloader", 3, {"source": "literal"})
    rvs.add("cca.realm.cca-realm-initial-measurement", b"\x01" * 32, {"source": "literal"})
    return rvs


def test_provenance_encodings() -> None:
    prov = trustee.provenance(sample_set())
    assert prov == {
        "snp_launch_measurement": ["aa" * 48, "bb" * 48],
        "snp_bootloader": [3],
        "snp_smt_enabled": True,
        "cca.realm.cca-realm-initial-measurement": [base64.b64encode(b"\x01" * 32).decode()],
    }
    message = trustee.message(sample_set())
    assert json.loads(base64.b64decode(message["payload"])) == prov


def test_every_format_reads_back() -> None:
    rvs = sample_set()
    expected = {
        "snp_launch_measurement": frozenset({b"\xaa" * 48, b"\xbb" * 48}),
        "cca.realm.cca-realm-initial-measurement": frozenset({b"\x01" * 32}),
    }
    for doc in (
        trustee.message(rvs),
        trustee.provenance(rvs),
        set_json(rvs, vendor="snp", combinations=3),
    ):
        back = read_reference_values(json.dumps(doc).encode(), "test")
        assert back.expectations() == expected
        assert back.distinct("snp_smt_enabled") == [True]
    again = parse_set_json(set_json(rvs, vendor="snp", combinations=3), "x")
    assert again.origins("snp_launch_measurement", b"\xaa" * 48) == [{"vcpus": 1}, {"vcpus": 3}]


def test_measure_json_lines_are_a_set(tmp_path: Path) -> None:
    lines = "".join(
        json.dumps({"vendor": "snp", "vcpus": n, "digest": f"{n:02x}" * 48}) + "\n" for n in (1, 2, 3)
    )
    (tmp_path / "m.jsonl").write_text(lines)
    (tmp_path / "t.json").write_text(json.dumps({"schema": "pvmkit.measure-tdx/1", "mrtd": "cc" * 48}))
    got = load_expectations([str(tmp_path / "m.jsonl"), str(tmp_path / "t.json")])
    assert got == {
        "snp_launch_measurement": frozenset(bytes([n]) * 48 for n in (1, 2, 3)),
        "mr_td": frozenset({b"\xcc" * 48}),
    }


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"snp_launch_measurement": "aa" * 48}, "needs a non-empty list"),
        ({"tdvfkernel": ["aa" * 48]}, "needs one bare value"),
        ({"mr_td": ["zz"]}, "is not hex"),
        ({"mr_td": ["aa" * 47]}, "48 bytes"),
        ({"version": "0.2.0", "type": "sample", "payload": ""}, "version '0.2.0'"),
        ({"version": "0.1.0", "type": "swid", "payload": ""}, "type 'swid'"),
        ({"vendor": "sev", "vcpus": 1, "digest": "00" * 32}, "sev/sev-es launch digests"),
    ],
)
def test_malformed_input_is_refused(doc: object, message: str) -> None:
    with pytest.raises(FormatError, match=re.escape(message)):
        read_reference_values(json.dumps(doc).encode(), "f")


def test_unknown_name_and_multi_valued_equality_name() -> None:
    with pytest.raises(InputError, match=r"^f: unknown reference-value name 'mrtd'"):  # names the file
        read_reference_values(json.dumps({"mrtd": ["aa" * 48]}).encode(), "f")
    with pytest.raises(FormatError, match="neither JSON, JSON lines nor CBOR"):
        read_reference_values(b"root:x:0:0:root:/root:/bin/bash\n", "f")  # text, not JSON
    for empty in (b"", b"\n", b"  \n\n"):
        with pytest.raises(FormatError, match=r"^f: empty$"):
            read_reference_values(empty, "f")
    rvs = RefValueSet()
    rvs.add("snp_guest_abi_major", 1, {})
    rvs.add("snp_guest_abi_major", 2, {})
    with pytest.raises(InputError, match="compares it with =="):
        trustee.provenance(rvs)
