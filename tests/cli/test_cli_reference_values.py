"""``pvmkit reference-values``: every combination of a fleet's shape, in Trustee's and pvmkit's formats.

Oracles: sev-snp-measure 0.0.13 (PyPI peer, its library entry ``calc_launch_digest``) for every SNP
combination; the MRTD of the Debian ``OVMF.inteltdx.ms.fd`` from spec tdx.md §1.5 / Intel td-shim's
``td_shim_tee_info_hash.py`` (tests/vectors/README.md "TDX MRTD/RTMR"); Trustee's RVPS message layout
(``rvps/src/lib.rs``) and the base64/JSON standard libraries for decoding.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from support.cli import run
from support.fixtures import fixture_path, import_peer

MRTD = "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08"


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def ovmf() -> str:
    return str(fixture_path("firmware/OVMF.amdsev.fd"))


@pytest.fixture(scope="module")
def tdvf() -> str:
    return str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))


def test_snp_matrix_matches_the_peer_for_every_combination(
    ovmf: str, capsys: pytest.CaptureFixture[str]
) -> None:
    peer = import_peer("sevsnpmeasure.guest")
    from sevsnpmeasure.sev_mode import SevMode
    from sevsnpmeasure.vcpu_types import CPU_SIGS
    from sevsnpmeasure.vmm_types import VMMType

    code, out, _ = run(
        [
            "reference-values", "--vendor", "snp", "--ovmf", ovmf, "--vcpus", "1-3,8", "--vcpus", "16",
            "--vcpu-type", "EPYC-v4,EPYC-Milan", "--vmm-type", "qemu,ec2", "--vmm-type", "gce",
            "--vmsa-features", "0x0", "--vmsa-features", "0x20", "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.reference-values/1"
    assert doc["combinations"] == 5 * 2 * 3 * 2
    by_combination = {}
    for entry in doc["values"]["snp_launch_measurement"]:
        for origin in entry["from"]:
            key = (origin["vcpus"], origin["vcpu_type"], origin["vmm"], origin["vmsa_features"])
            assert key not in by_combination
            by_combination[key] = entry["value"]
            assert origin["firmware_sha256"] == hashlib.sha256(Path(ovmf).read_bytes()).hexdigest()
    assert len(by_combination) == 60
    vmm_types = {"qemu": VMMType.QEMU, "ec2": VMMType.ec2, "gce": VMMType.gce}
    for n, vcpu_type, vmm, features in itertools.product(
        (1, 2, 3, 8, 16), ("EPYC-v4", "EPYC-Milan"), ("qemu", "ec2", "gce"), ("0x0", "0x20")
    ):
        expected = peer.calc_launch_digest(
            SevMode.SEV_SNP,
            n,
            CPU_SIGS[vcpu_type],
            ovmf,
            "",
            "",
            "",
            int(features, 16) | 1,
            vmm_type=vmm_types[vmm],
        ).hex()
        assert by_combination[(n, vcpu_type, vmm, features)] == expected, (n, vcpu_type, vmm, features)
    # ec2/gce VMSAs carry no vCPU signature: one value per (count, features) for both types
    gce = [e for e in doc["values"]["snp_launch_measurement"] if e["from"][0]["vmm"] == "gce"]
    assert all(len(e["from"]) == 2 for e in gce)


def test_trustee_message_and_provenance(ovmf: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["reference-values", "--vendor", "snp", "--ovmf", ovmf, "--vcpus", "1-4", "--vcpu-type", "EPYC-v4"]
    code, out, _ = run([*argv, "--format", "trustee"], capsys)
    assert code == 0
    message = json.loads(out)
    assert set(message) == {"version", "type", "payload"}  # rvps/src/lib.rs Message
    assert message["version"] == "0.1.0" and message["type"] == "sample"
    provenance = json.loads(base64.b64decode(message["payload"], validate=True))
    code, out, _ = run([*argv, "--format", "trustee-provenance"], capsys)
    assert json.loads(out) == provenance
    values = provenance["snp_launch_measurement"]
    assert isinstance(values, list) and len(values) == 4 == len(set(values))
    assert all(v == v.lower() and len(v) == 96 for v in values)


def test_tdx_mrtd_and_literal_values(tdvf: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "reference-values", "--vendor", "tdx", "--firmware", tdvf, "--format", "trustee-provenance",
            "--value", "xfam=e742060000000000", "--value", "tdvfkernel=" + "ab" * 48,
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    provenance = json.loads(out)
    assert provenance == {"mr_td": [MRTD], "xfam": ["e742060000000000"], "tdvfkernel": "ab" * 48}


def test_equality_names_refuse_several_values(tdvf: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [
            "reference-values", "--vendor", "tdx", "--firmware", tdvf,
            "--value", "tdvfkernel=" + "ab" * 48, "--value", "tdvfkernel=" + "cd" * 48,
        ],
        capsys,
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "tdvfkernel: 2 distinct values" in one_error_line(err)


def test_bad_input_leaves_no_output_file(
    ovmf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "rv.json"
    base = [
        "reference-values",
        "--vendor",
        "snp",
        "--ovmf",
        ovmf,
        "--vcpu-type",
        "EPYC-v4",
        "-o",
        str(target),
    ]
    code, _, err = run([*base, "--value", "snp_measurement=00"], capsys)
    assert code == 2 and "unknown reference-value name 'snp_measurement'" in one_error_line(err)
    code, _, err = run([*base, "--value", "snp_launch_measurement=00"], capsys)
    assert code == 2 and "48 bytes" in one_error_line(err)  # a value outside the option's range
    code, _, err = run([*base, "--value", "cca.realm.cca-realm-personalization-value=" + "00" * 65], capsys)
    assert code == 2 and "1 to 64 bytes, got 65" in one_error_line(err)
    code, _, err = run([*base, "--vcpu-type", "EPYC-v4,Skylake"], capsys)
    assert code == 2 and "unknown vCPU type 'Skylake'" in one_error_line(err)
    code, _, err = run([*base, "--vmsa-features", "0x1", "--vmsa-features", "zz"], capsys)
    assert code == 2 and "--vmsa-features: unknown SEV feature name 'zz'" in one_error_line(err)
    code, _, err = run([*base, "--vcpus", "1-512", "--max-combinations", "100"], capsys)
    assert code == 1 and "512 combinations exceed the limit of 100" in one_error_line(err)
    code, _, err = run([*base, "--vmm-type", "xen"], capsys)
    assert code == 2 and "unknown VMM type" in one_error_line(err)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    code, _, _ = run([*base, "--vcpus", "2"], capsys)
    assert code == 0 and json.loads(target.read_text())["type"] == "sample"


def test_cca_rim(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.write_bytes(b"\x01" * 5000)
    common = ["--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4", "--load", f"0x80000000:{image}"]
    code, out, _ = run(["measure", "--vendor", "cca", *common, "--pc", "0x80000000"], capsys)
    rim = bytes.fromhex(out.strip())
    code, out, _ = run(
        [
            "reference-values",
            "--vendor",
            "cca",
            *common,
            "--pc",
            "0x80000000",
            "--format",
            "trustee-provenance",
        ],
        capsys,
    )
    assert code == 0
    # Trustee's CCA claims are base64 STANDARD (deps/verifier/src/cca/mod.rs)
    assert json.loads(out) == {"cca.realm.cca-realm-initial-measurement": [base64.b64encode(rim).decode()]}


#: cca-realm-measurements' published kvmtool vector (tests/cmdline.rs: `lkvm run --realm -m 512M -c 1`,
#: no kernel), the one tests/cli/test_cli_measure_cca.py reproduces with measure
KVMTOOL_512M_1CPU = "998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4599aa8671791d4d0"
CCA = ["--vendor", "cca", "--num-bps", "6", "--num-wps", "6"]


def test_cca_vmm_layout_with_a_vcpu_set(capsys: pytest.CaptureFixture[str]) -> None:
    """With --vmm-type the DTB lists the CPUs, so each count of --vcpus is its own RIM."""
    base = [*CCA, "--vmm-type", "kvmtool", "--memory", "512M"]
    code, out, err = run(["reference-values", *base, "--vcpus", "1,2", "--json"], capsys)
    assert (code, err) == (0, "")
    entries = json.loads(out)["values"]["cca.realm.cca-realm-initial-measurement"]
    by_count = {o["vcpus"]: e["value"] for e in entries for o in e["from"]}
    assert by_count[1] == KVMTOOL_512M_1CPU
    assert all(o["vmm"] == "kvmtool" for e in entries for o in e["from"])
    code, out, _ = run(["measure", *base, "--vcpus", "2"], capsys)
    assert code == 0 and by_count[2] == out.strip() != KVMTOOL_512M_1CPU
    # without a VMM the RECs are not measured: every count gives one value, traced to each count
    flat = [*CCA, "--ipa-bits", "40", "--vcpus", "1-3", "--json"]
    code, out, _ = run(["reference-values", *flat], capsys)
    (entry,) = json.loads(out)["values"]["cca.realm.cca-realm-initial-measurement"]
    assert code == 0 and sorted(o["vcpus"] for o in entry["from"]) == [1, 2, 3]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vmm-type", "kvmtool"], "--vmm-type kvmtool needs --memory"),
        ([], "--ipa-bits is required without --vmm-type"),
        (["--vmm-type", "kvmtool", "--memory", "512M", "--vcpus", "1,,2"], "empty item"),
        (["--vmm-type", "kvmtool", "--memory", "512M", "--vcpus", "600"], "outside 1..512"),
    ],
)
def test_cca_usage_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Usage errors (exit 2, one line) where a traceback was before (no --ipa-bits, no --vmm-type)."""
    code, out, err = run(["reference-values", *CCA, *extra], capsys)
    assert (code, out) == (2, "") and message in one_error_line(err)


# -- reading the exports back: pvmkit verify --expect on real quotes ----------------------------------

TDX_AT = "2026-06-01T00:00:00Z"  # inside every go-tdx-guest PCK chain's validity
QUOTES = ("ccel/cos-113-tdx-quote.dat", "tdx_prod_quote_SPR_E4.dat", "quote_v5_sample.dat")


def flip(hex_value: str) -> str:
    raw = bytearray.fromhex(hex_value)
    raw[-1] ^= 1
    return raw.hex()


@pytest.mark.parametrize("quote_name", QUOTES)
@pytest.mark.parametrize("fmt", ["trustee", "trustee-provenance", "json"])
def test_real_tdx_quotes_verify_against_exported_sets(
    quote_name: str, fmt: str, tdvf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A set exported by pvmkit that holds the quote's MRTD, RTMR1/2 and XFAM (published with --value,
    beside the Debian image's predicted MRTD) passes; the same set without them, or with one bit of
    any of them changed, fails with exit 3."""
    from pvmkit.formats.tdx_quote import Quote

    quote = str(fixture_path("go-tdx-guest/" + quote_name))
    body = Quote.parse(Path(quote).read_bytes()).body
    values = {
        "mr_td": body.mr_td.hex(),
        "rtmr_1": body.rtmrs[1].hex(),
        "rtmr_2": body.rtmrs[2].hex(),
        "xfam": body.xfam.to_bytes(8, "little").hex(),
    }

    def export(name: str, literals: dict[str, str]) -> str:
        path = tmp_path / name
        argv = ["reference-values", "--vendor", "tdx", "--firmware", tdvf, "--format", fmt, "-o", str(path)]
        for key, value in literals.items():
            argv += ["--value", f"{key}={value}"]
        assert main(argv) == 0
        return str(path)

    verify = ["verify", "--quote", quote, "--at", TDX_AT, "--expect"]
    good = export("good", values)
    code, out, _ = run([*verify, good], capsys)
    assert code == 0
    assert "matched        xfam, mr_td, rtmr1, rtmr2" in out
    assert "expect         mr_td is one of 2 values of mr_td" in out
    code, out, _ = run([*verify, good, "--json"], capsys)
    assert json.loads(out)["expect"]["matched"]["rtmr_1"] == {"field": "rtmr1", "values": 1}
    code, _, err = run([*verify, export("without", {})], capsys)
    assert code == 3 and "mr_td (quote offset" in one_error_line(err)
    for name in values:
        bad = export(f"bad-{name}", {**values, name: flip(values[name])})
        code, _, err = run([*verify, bad], capsys)
        assert code == 3, name
        assert "mismatch" in one_error_line(err)


def test_real_gce_quote_against_signed_and_unsigned_corims(
    tdvf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from pvmkit.formats.tdx_quote import Quote

    quote = str(fixture_path("go-tdx-guest/ccel/cos-113-tdx-quote.dat"))
    body = Quote.parse(Path(quote).read_bytes()).body
    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    values = ["--value", f"mr_td={body.mr_td.hex()}", "--value", f"rtmr_1={body.rtmrs[1].hex()}"]
    base = ["reference-values", "--vendor", "tdx", "--firmware", tdvf, *values]
    assert main([*base, "--format", "corim", "-o", str(tmp_path / "u.cbor")]) == 0
    signed = [*base, "--format", "corim-signed", "--signing-key", str(tmp_path / "key.pem")]
    assert main([*signed, "--not-after", "2026-07-01T00:00:00Z", "-o", str(tmp_path / "s.cbor")]) == 0
    verify = ["verify", "--quote", quote, "--at", TDX_AT, "--expect"]
    code, out, _ = run([*verify, str(tmp_path / "u.cbor")], capsys)
    assert code == 0 and "matched        mr_td, rtmr1" in out
    code, out, _ = run([*verify, str(tmp_path / "s.cbor"), "--corim-key", str(tmp_path / "pub.pem")], capsys)
    assert code == 0 and "expect         rtmr1 is one of 1 value of rtmr_1" in out
    code, _, err = run([*verify, str(tmp_path / "s.cbor")], capsys)
    assert code == 1 and "give the signer's public key (--corim-key FILE)" in one_error_line(err)
    code, _, err = run([*verify[:-1], "--corim-key", str(tmp_path / "pub.pem")], capsys)  # verifies nothing
    assert code == 2 and "give --expect FILE" in one_error_line(err)
    late = ["verify", "--quote", quote, "--at", "2026-08-01T00:00:00Z", "--expect", str(tmp_path / "s.cbor")]
    code, _, err = run([*late, "--corim-key", str(tmp_path / "pub.pem")], capsys)
    assert code == 3 and "outside the CoRIM's signature-validity" in one_error_line(err)
    code, _, err = run([*base, "--format", "corim", "--value", "xfam=e700060000000000"], capsys)
    assert code == 1 and "cannot carry xfam" in one_error_line(err)
    code, _, err = run([*base, "--format", "corim-signed"], capsys)
    assert code == 2 and "--signing-key go together" in one_error_line(err)
    # a key file that is no usable PEM key: one pvmkit line, no cryptography text or FAQ link
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    bad_keys = {
        b"not a key": "is not PEM (no '-----BEGIN' line)",
        encrypted: "is encrypted: give an unencrypted PEM private key",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": "does not load as a PEM",
    }
    for data, problem in bad_keys.items():
        (tmp_path / "bad.pem").write_bytes(data)
        bad = [*base, "--format", "corim-signed", "--signing-key", str(tmp_path / "bad.pem")]
        code, _, err = run(bad, capsys)
        line = one_error_line(err)
        assert code == 1 and f"the CoRIM signing key {problem}" in line and "http" not in line, line


def test_cca_json_carries_the_rust_ccatoken_realm_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The entry has the keys of Trustee's rvstore.json realm entries (rust-ccatoken's store schema)."""
    image = tmp_path / "image"
    image.write_bytes(b"\x02" * 4096)
    code, out, _ = run(
        [
            "reference-values", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4",
            "--load", f"0x80000000:{image}", "--pc", "0x80000000", "--json",
            "--value", "cca.realm.cca-realm-personalization-value=" + "00" * 64,
            *(f"--value=cca.realm.cca-realm-extensible-measurements-{i}=" + "00" * 32 for i in range(4)),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    (entry,) = json.loads(out)["rust_ccatoken"]["realm"]
    trustee = json.loads(fixture_path("trustee/deps/verifier/test_data/cca/conf/rvstore.json").read_text())
    assert set(entry) == set(trustee["realm"][0])
    assert entry["personalization-value"] == "00" * 64 and entry["rak-hash-algorithm"] == "sha-256"


def test_cbor_output_of_the_command(tmp_path: Path) -> None:
    from pvmkit.refvalues import read_reference_values

    out = tmp_path / "rv.corim"
    tdvf = str(fixture_path("firmware/OVMF.inteltdx.ms.fd"))
    assert (
        main(["reference-values", "--vendor", "tdx", "--firmware", tdvf, "--format", "corim", "-o", str(out)])
        == 0
    )
    rvs = read_reference_values(out.read_bytes(), "rv")
    assert [v.hex() for v in rvs.distinct("mr_td")] == [
        "a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08"
    ]  # tdx.md §1.5 / td-shim (tests/vectors/README.md)


SNP_AT = "2025-06-01T00:00:00Z"  # inside the go-sev-guest certificates' validity


@pytest.mark.parametrize("fmt", ["trustee", "trustee-provenance", "corim", "json"])
def test_real_snp_report_verifies_against_exported_sets(
    fmt: str, ovmf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """go-sev-guest's real report (its MEASUREMENT published with --value beside the 8 predicted
    values of the Debian image) passes; the predicted values alone, or its value with one bit
    changed, fail with exit 3. The result names the matched reference-value name."""
    from pvmkit.attest.snp_report import SnpReport

    def real(name: str) -> str:
        return str(fixture_path("go-sev-guest/" + name))

    measurement = SnpReport.parse(Path(real("attestation.bin")).read_bytes()).measurement.hex()
    base = ["reference-values", "--vendor", "snp", "--ovmf", ovmf, "--vcpus", "1-8", "--vcpu-type", "EPYC-v4"]
    base += ["--format", fmt]
    good, without, bad = (str(tmp_path / n) for n in ("good", "without", "bad"))
    assert main([*base, "--value", f"snp_launch_measurement={measurement}", "-o", good]) == 0
    assert main([*base, "-o", without]) == 0
    assert main([*base, "--value", f"snp_launch_measurement={flip(measurement)}", "-o", bad]) == 0
    verify = ["verify", "--report", real("attestation.bin"), "--vcek", real("vcek.testcer")]
    verify += ["--chain", real("milan.testcer"), "--at", SNP_AT, "--allow-debug", "--expect"]
    code, out, _ = run([*verify, good], capsys)
    assert code == 0
    assert "expect       measurement is one of 9 values of snp_launch_measurement" in out
    code, out, _ = run([*verify, good, "--json"], capsys)
    assert json.loads(out)["expect"]["matched"] == {
        "snp_launch_measurement": {"field": "measurement", "values": 9}
    }
    for path in (without, bad):
        code, _, err = run([*verify, path], capsys)
        assert code == 3 and "expected.measurement" in err


def test_igvm_files_and_loaders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The IGVM regression file's digests (spec cca_igvm.md §B2.6, tests/vectors/README.md "IGVM"):
    one value per loader, and MRTD for TDX."""
    from support.igvm_vectors import SNP, TDX_MRTD, igvm_file

    snp_file, tdx_file = tmp_path / "snp.igvm", tmp_path / "tdx.igvm"
    snp_file.write_bytes(igvm_file(platform_type=2))
    tdx_file.write_bytes(igvm_file(platform_type=3))
    code, out, _ = run(
        [
            "reference-values", "--vendor", "snp", "--igvm", str(snp_file),
            "--igvm-loader", "igvmmeasure,igvm-crate", "--format", "json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    entries = json.loads(out)["values"]["snp_launch_measurement"]
    assert {e["value"]: e["from"][0]["loader"] for e in entries} == {
        SNP["igvmmeasure"]: "igvmmeasure",
        SNP["igvm-crate"]: "igvm-crate",
    }
    tdx_argv = ["reference-values", "--vendor", "tdx", "--igvm", str(tdx_file), "--igvm-loader", "igvm-crate"]
    code, out, _ = run([*tdx_argv, "--format", "trustee-provenance"], capsys)
    assert code == 0 and json.loads(out) == {"mr_td": [TDX_MRTD]}


def test_tdx_rtmrs_and_direct_boot_event_digests(
    tdvf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --rtmr, the export carries what ``measure --rtmr`` predicts: RTMR0-2 for each kernel and
    command line, and the digests of the kernel and LoadOptions events under Trustee's names (one
    bare value each; with two kernels tdvfkernel is left out with a note, the RTMRs stay lists)."""
    from support.pe import make_pe

    kernels = []
    for i in (1, 2):
        kernel = tmp_path / f"vmlinuz{i}"
        kernel.write_bytes(make_pe(0x2000 * i))
        kernels.append(str(kernel))
    common = ["--firmware", tdvf, "--rtmr", "-m", "4G", "--secure-boot", "off", "--smbios-digest", "00" * 48]
    common += ["--linux-version", "6.12", "--cmdline", "console=ttyS0"]
    code, out, _ = run(["measure", "--vendor", "tdx", *common, "--kernel", kernels[0], "--json"], capsys)
    predicted = json.loads(out)
    events = {e["what"]: e["digest"] for e in predicted["events"]}
    code, out, _ = run(
        [
            "reference-values",
            "--vendor",
            "tdx",
            *common,
            "--kernel",
            kernels[0],
            "--format",
            "trustee-provenance",
        ],
        capsys,
    )
    assert code == 0
    provenance = json.loads(out)
    shape = predicted["shapes"][0]
    assert provenance["rtmr_1"] == [shape["rtmr1"]] and provenance["rtmr_2"] == [shape["rtmr2"]]
    assert provenance["tdvfkernel"] == events["kernel (Authenticode)"]
    assert provenance["tdvfkernelparams"] == events["kernel LoadOptions"]
    two = ["--kernel", kernels[0], "--kernel", kernels[1]]
    code, out, err = run(
        ["reference-values", "--vendor", "tdx", *common, *two, "--format", "trustee-provenance"], capsys
    )
    assert code == 0 and "tdvfkernel not exported: 2 values" in err
    provenance = json.loads(out)
    assert (
        len(provenance["rtmr_1"]) == 2 and "tdvfkernel" not in provenance and "tdvfkernelparams" in provenance
    )


def test_sev_and_sw(ovmf: str, capsys: pytest.CaptureFixture[str]) -> None:
    """SEV: the launch digest of the Debian image without kernel hashes is the SHA-256 of the image
    (amd.md §2.1: LAUNCH_UPDATE_DATA over the whole firmware), whatever the vCPU count; sw is measured
    exactly like SNP (docs/sw-vm.md), so its set equals SNP's."""
    code, out, _ = run(
        [
            "reference-values",
            "--vendor",
            "sev",
            "--ovmf",
            ovmf,
            "--vcpus",
            "1-4",
            "--format",
            "trustee-provenance",
        ],
        capsys,
    )
    assert code == 0
    assert json.loads(out) == {"sev_launch_digest": [hashlib.sha256(Path(ovmf).read_bytes()).hexdigest()]}
    shape = ["--ovmf", ovmf, "--vcpus", "1-3", "--vcpu-type", "EPYC-v4", "--format", "trustee-provenance"]
    _, snp, _ = run(["reference-values", "--vendor", "snp", *shape], capsys)
    _, sw, _ = run(["reference-values", "--vendor", "sw", *shape], capsys)
    assert json.loads(sw) == json.loads(snp) and len(json.loads(snp)["snp_launch_measurement"]) == 3


def test_help_and_usage_errors_name_this_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["reference-values", "--vendor", "tdx", "--help"], capsys)
    assert code == 0 and "--format {trustee," in out and "The options of 'pvmkit measure --vendor tdx'" in out
    assert "--rtmr" in out  # measure's own option table
    missing = str(tmp_path / "absent.fd")  # unknown options are refused before any file is read
    for vendor in ("snp", "tdx"):
        code, _, err = run(["reference-values", "--vendor", vendor, "--firmware", missing, "--bogus"], capsys)
        assert (
            code == 2
            and one_error_line(err) == "pvmkit reference-values: usage error: unrecognized arguments: --bogus"
        )


@pytest.mark.parametrize("corim", [[], ["--cca-legacy"]], ids=["cca-realm-2025", "cca-realm-legacy"])
def test_real_cca_token_against_exported_corims(
    corim: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The draft CCA token (rust-ccatoken ``cca-token-draft-ffm-00.cbor``, RIM ``311314ab…0d49`` as the
    CCA endorsements draft's own realm-refval example gives it) verifies against a CoRIM pvmkit wrote
    holding its RIM beside a predicted one, and fails with one bit of it changed."""
    from support.cca_tokens import CPAK_PUB, G2_TOKEN

    rim = "311314ab73620350cf758834ae5c65d9e8c2dc7febe6e7d9654bbe864e300d49"
    image = tmp_path / "image"
    image.write_bytes(b"\x03" * 4096)
    base = ["reference-values", "--vendor", "cca", "--ipa-bits", "40", "--num-bps", "6", "--num-wps", "4"]
    base += ["--load", f"0x80000000:{image}", "--pc", "0x80000000", "--format", "corim", *corim]
    good, bad = tmp_path / "good.cbor", tmp_path / "bad.cbor"
    name = "cca.realm.cca-realm-initial-measurement"
    assert main([*base, "--value", f"{name}={rim}", "-o", str(good)]) == 0
    assert main([*base, "--value", f"{name}={flip(rim)}", "-o", str(bad)]) == 0
    verify = ["verify", "--cca-token", str(fixture_path(G2_TOKEN)), "--cpak", str(fixture_path(CPAK_PUB))]
    code, out, _ = run([*verify, "--expect", str(good)], capsys)
    assert code == 0 and f"rim is one of 2 values of {name}" in out
    code, _, err = run([*verify, "--expect", str(bad)], capsys)
    assert code == 3 and "expected.rim" in err


def test_expired_signed_corim_verifies_a_cca_token_at_an_explicit_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: a signed CoRIM whose validity has ended verifies with an explicit --at, for CCA tokens
    too (--at is otherwise refused with --cca-token: a token has no certificates to date)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from support.cca_tokens import CPAK_PUB, G2_TOKEN

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(public)
    rim = "311314ab73620350cf758834ae5c65d9e8c2dc7febe6e7d9654bbe864e300d49"  # the draft token's RIM
    signed = tmp_path / "s.cbor"
    argv = [
        "reference-values",
        *CCA,
        "--ipa-bits",
        "40",
        "--value",
        f"cca.realm.cca-realm-initial-measurement={rim}",
    ]
    argv += [
        "--format",
        "corim-signed",
        "--signing-key",
        str(tmp_path / "key.pem"),
        "--not-after",
        "2021-01-01T00:00:00Z",
    ]
    assert main([*argv, "-o", str(signed)]) == 0
    verify = ["verify", "--cca-token", str(fixture_path(G2_TOKEN)), "--cpak", str(fixture_path(CPAK_PUB))]
    verify += ["--expect", str(signed)]
    code, _, err = run([*verify, "--corim-key", str(tmp_path / "pub.pem")], capsys)  # now: expired
    assert code == 3 and "outside the CoRIM's signature-validity" in one_error_line(err)
    code, out, _ = run(
        [*verify, "--corim-key", str(tmp_path / "pub.pem"), "--at", "2020-06-01T00:00:00Z"], capsys
    )
    assert code == 0 and "rim is one of" in out
    code, _, err = run(
        [*verify, "--at", "2020-06-01T00:00:00Z"], capsys
    )  # no signed CoRIM key: --at means nothing
    assert code == 2 and "--at cannot be used with --cca-token" in one_error_line(err)
