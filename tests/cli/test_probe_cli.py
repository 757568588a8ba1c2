"""``pvmkit probe`` through the dispatcher: JSON shape (docs/cli.md) on the real /dev/kvm, and the
one-line error for a missing device."""

from __future__ import annotations

import json
import os

import pytest

from pvmkit.cli.main import main

VENDORS = ("sev", "sev-es", "snp", "tdx")


def test_missing_device_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--device", "/nonexistent"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: ")
    assert "/nonexistent" in err and "ENOENT" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--bogus"]) == 2


@pytest.mark.kvm
def test_probe_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--json"]) == 0
    out, _err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.probe/1"
    assert doc["device"] == "/dev/kvm"
    assert doc["api_version"] == 12
    assert doc["vm_types"] & 1  # the default VM type is always there
    assert doc["vm_type_names"][0] == "KVM_X86_DEFAULT_VM"
    assert list(doc["vendors"]) == list(VENDORS)
    for key, v in doc["vendors"].items():
        assert set(v) == {"vendor", "vm_type", "vm_type_name", "available", "reasons"}
        assert v["vendor"] == key
        bit = bool(doc["vm_types"] >> v["vm_type"] & 1)
        # capability consistency: a vendor is never available when KVM does not enumerate its type
        assert v["available"] <= bit
        assert v["available"] == (not v["reasons"])
        if not bit:
            assert f"KVM_CAP_VM_TYPES={doc['vm_types']:#x} lacks {v['vm_type_name']}" in v["reasons"][0]
    for attr in ("sev_vmsa_features", "snp_policy_bits"):
        a = doc[attr]
        assert set(a) == {"group", "attr", "name", "available", "value", "names", "reason"}
        assert (a["value"] is None) != a["available"]
        assert (a["reason"] is None) == a["available"]
    assert set(doc["tdx_capabilities"]) == {
        "available",
        "reason",
        "supported_attrs",
        "supported_xfam",
        "cpuid_entries",
    }
    for key in ("guest_memfd", "memory_attributes", "max_vcpus", "nr_vcpus"):
        assert isinstance(doc[key], int) and doc[key] >= 0
    assert isinstance(doc["user_memory2"], bool) and isinstance(doc["sys_attributes"], bool)
    assert doc["sev_device"] == "/dev/sev"
    assert doc["sev_device_present"] == os.path.exists("/dev/sev")
    if not doc["sev_device_present"]:
        for key in ("sev", "sev-es", "snp"):
            assert "/dev/sev absent" in doc["vendors"][key]["reasons"]
    assert doc["capabilities"]["KVM_CAP_VM_TYPES"] in (0, doc["vm_types"])


@pytest.mark.kvm
def test_probe_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("KVM device")
    for label in ("SEV ", "SEV-ES", "SEV-SNP", "TDX ", "SEV VMSA features", "guest_memfd", "max vCPUs"):
        assert label in out


@pytest.mark.kvm
def test_probe_reports_the_software_protected_vendor(capsys: pytest.CaptureFixture[str]) -> None:
    from pvmkit.vendors.sw.rules import SW_SUPPORTED_VMSA_FEATURES

    assert main(["probe", "--json"]) == 0
    sw = json.loads(capsys.readouterr().out)["sw"]
    assert sw["available"] is True and sw["reason"] is None
    assert int(sw["vmsa_features"], 16) == SW_SUPPORTED_VMSA_FEATURES
    assert "SNP_ACTIVE" in sw["vmsa_features_names"]
    assert main(["probe"]) == 0
    assert "sw (software)         yes" in capsys.readouterr().out
