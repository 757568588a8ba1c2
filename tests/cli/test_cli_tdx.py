"""``pvmkit tdx replay`` through the dispatcher (exit codes 0 / 1 / 2 / 3, one-line errors)."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import pytest

from pvmkit.cli.main import main
from pvmkit.formats.ccel import TCG_ALG_SHA384, Digest, EventLog
from support.fixtures import fixture_path, read_fixture

TABLE = "go-tdx-guest/ccel/ccel_table.dat"
DATA = "go-tdx-guest/ccel/ccel_data.dat"
QUOTE = "go-tdx-guest/ccel/cos-113-tdx-quote.dat"
RTMR0 = "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["tdx", "replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _base() -> list[str]:
    return ["--ccel-table", str(fixture_path(TABLE)), "--ccel-data", str(fixture_path(DATA))]


def test_replay_matches_the_quote(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *_base(), "--quote", str(fixture_path(QUOTE)))
    assert code == 0 and err == ""
    assert f"RTMR0 {RTMR0}  match" in out
    assert "RTMR3 " + "00" * 48 + "  match" in out
    assert "OK: the event log replays to the RTMRs of the quote (v4)" in out
    assert "note: not performed: the evidence's signature and certificate chain" in out
    assert "43 events (12 external, 31 verified)" in out


def test_replay_without_quote_prints_rtmrs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--ccel-data", str(fixture_path(DATA)))
    assert code == 0 and f"RTMR0 {RTMR0}\n" in out and "match" not in out


def test_verbose_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_base(), "--verbose")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["#", "MR", "type", "rule", "status", "sha384"]
    assert "EV_EFI_VARIABLE_BOOT" in lines[12] and "variable-data" in lines[12] and "BootOrder" in lines[12]


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_base(), "--quote", str(fixture_path(QUOTE)), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "pvmkit.tdx-replay/1"
    assert doc["result"] == "match" and doc["first_difference"] is None
    assert doc["rtmrs"]["rtmr0"] == RTMR0
    assert doc["evidence"]["kind"] == "quote" and doc["evidence"]["version"] == 4
    assert doc["evidence"]["signature_checked"] is False
    assert all(doc["evidence"]["matches"].values())
    assert doc["ccel_table"]["cc_type"] == "TDX"
    assert len(doc["events"]) == 43 and doc["events"][11]["rule"] == "variable-data"


def _mutated_log(
    tmp_path: Path, index: int, *, digest_byte: int | None = None, data_byte: int | None = None
) -> str:
    log = EventLog.parse(read_fixture(DATA))
    e = log.event(index)
    if digest_byte is not None:
        d = bytearray(e.digest() or b"")
        d[digest_byte] ^= 0xFF
        e = dataclasses.replace(e, digests=(Digest(TCG_ALG_SHA384, bytes(d)),))
    if data_byte is not None:
        d = bytearray(e.event_data)
        d[data_byte] ^= 0x01
        e = dataclasses.replace(e, event_data=bytes(d))
    path = tmp_path / "ccel_data.dat"
    path.write_bytes(log.with_event(e).to_bytes())
    return str(path)


def test_mismatch_names_the_event_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = _mutated_log(tmp_path, 13, data_byte=60)  # Boot0001's variable data
    code, out, err = _run(capsys, "--ccel-data", data, "--quote", str(fixture_path(QUOTE)))
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("pvmkit: error: ")
    assert "event 13 (MR 1 = RTMR0, EV_EFI_VARIABLE_BOOT)" in err
    # the digests are as logged, so the registers still match: the event data is what is wrong
    assert "30 verified, 1 mismatch" in out and f"RTMR0 {RTMR0}  match" in out


def test_external_digest_change_named_through_the_quote(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = _mutated_log(tmp_path, 10, digest_byte=2)  # an ACPI digest
    code, out, err = _run(capsys, "--ccel-data", data, "--quote", str(fixture_path(QUOTE)), "--json")
    assert code == 3
    doc = json.loads(out)
    diff = doc["first_difference"]
    assert (diff["event"], diff["mr_index"], diff["type"]) == (10, 1, "EV_PLATFORM_CONFIG_FLAGS")
    assert diff["field"] == "event 10"
    assert "event 10" in err and err.count("\n") == 1


def test_reference_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = _mutated_log(tmp_path, 2, data_byte=5)  # CFV description: not measured
    ref = str(fixture_path(DATA))
    code, out, _ = _run(capsys, "--ccel-data", data, "--quote", str(fixture_path(QUOTE)), "--reference", ref)
    assert code == 0
    assert "note: event 2 (MR 1 = RTMR0, EV_EFI_PLATFORM_FIRMWARE_BLOB2)" in out


def test_reference_alone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without a quote the log is compared with the reference log's own registers and events."""
    ref = str(fixture_path(DATA))
    unmeasured = _mutated_log(tmp_path, 2, data_byte=5)  # CFV description: not measured
    code, out, _ = _run(capsys, "--ccel-data", unmeasured, "--reference", ref)
    assert code == 0
    assert f"RTMR0 {RTMR0}  match" in out
    assert "OK: the event log replays to the RTMRs of the reference log" in out
    assert "note: event 2 (MR 1 = RTMR0, EV_EFI_PLATFORM_FIRMWARE_BLOB2)" in out
    assert "no --quote or --tdreport" in out  # says that no evidence was compared

    changed = _mutated_log(tmp_path, 10, digest_byte=2)  # an ACPI digest: external data
    code, out, err = _run(capsys, "--ccel-data", changed, "--reference", ref, "--json")
    assert code == 3 and "event 10" in err and err.count("\n") == 1
    doc = json.loads(out)
    assert doc["evidence"]["kind"] == "reference" and doc["result"] == "mismatch"
    assert doc["evidence"]["rtmrs"]["rtmr0"] == RTMR0  # the reference's register: the quote's value
    assert doc["evidence"]["matches"] == {"rtmr0": False, "rtmr1": True, "rtmr2": True, "rtmr3": True}
    assert (doc["first_difference"]["kind"], doc["first_difference"]["event"]) == ("reference", 10)


def test_malformed_inputs_name_their_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Several files are read: the one-line error says which one is malformed."""
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 40)
    data, quote = str(fixture_path(DATA)), str(fixture_path(QUOTE))
    for argv in (
        ["--ccel-data", data, "--quote", str(bad)],
        ["--ccel-data", data, "--quote", quote, "--reference", str(bad)],
        ["--ccel-data", data, "--tdreport", str(bad)],
        ["--ccel-data", data, "--ccel-table", str(bad)],
    ):
        code, out, err = _run(capsys, *argv)
        assert (code, out) == (1, "") and err.count("\n") == 1
        assert err.startswith(f"pvmkit: error: {bad}: "), err


def test_tdreport_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *_base(), "--tdreport", str(fixture_path("go-tdx-guest/report.dat")))
    assert code == 3 and "RTMR0" in err and "DIFFERS" in out


def test_truncated_log_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = read_fixture(DATA)
    log = EventLog.parse(raw)
    cut = log.event(7).offset + 100
    path = tmp_path / "short.dat"
    path.write_bytes(raw[:cut])
    code, out, err = _run(capsys, "--ccel-data", str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert f"event 7 (at offset {log.event(7).offset:#x})" in err and "needs" in err


def test_unknown_quote_version_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = bytearray(read_fixture(QUOTE))
    raw[0:2] = struct.pack("<H", 7)
    path = tmp_path / "quote.dat"
    path.write_bytes(bytes(raw))
    code, out, err = _run(capsys, "--ccel-data", str(fixture_path(DATA)), "--quote", str(path))
    assert code == 1 and out == ""
    assert (
        err == f"pvmkit: error: {path}: unsupported TDX quote version 7 (pvmkit reads versions 4 and 5) "
        "(at offset 0x0)\n"
    )


def test_wrong_table_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = bytearray(read_fixture(TABLE))
    bad[36] = 1  # CcType SEV
    path = tmp_path / "table.dat"
    path.write_bytes(bytes(bad))
    code, _, err = _run(capsys, "--ccel-table", str(path), "--ccel-data", str(fixture_path(DATA)))
    assert code == 1 and "not TDX" in err
    code, _, err = _run(capsys, "--ccel-data", str(tmp_path / "nope"))
    assert code == 1 and "nope" in err and err.count("\n") == 1


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tdx", "replay"]) == 2
    assert "usage error" in capsys.readouterr().err
    assert main(["tdx", "frobnicate"]) == 2
    assert main(["tdx", "--help"]) == 0
    assert "replay" in capsys.readouterr().out
