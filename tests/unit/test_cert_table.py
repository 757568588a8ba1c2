"""The SEV-SNP extended report certificate table (pvmkit.attest.cert_table): layout from AMD's
sev-guest tools and the virtee sev crate (GUIDs in RFC 4122 byte order), with the real go-sev-guest
VCEK and Milan chain in it. Provenance: tests/vectors/README.md, "SNP attestation"."""

from __future__ import annotations

import struct
import uuid

import pytest

from pvmkit.attest.cert_table import CERT_GUIDS, build_cert_table, parse_cert_table
from pvmkit.attest.verify import load_certificates
from pvmkit.errors import FormatError, TruncatedError
from support.fixtures import read_fixture


def _der(cert) -> bytes:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return bytes(cert.public_bytes(Encoding.DER))


@pytest.fixture(scope="module")
def real() -> dict[str, bytes]:
    chain = {c.subject.rfc4514_string().split("CN=")[1].split(",")[0]: _der(c)
             for c in load_certificates(read_fixture("go-sev-guest/milan.testcer"))}  # fmt: skip
    return {
        "vcek": read_fixture("go-sev-guest/vcek.testcer"),
        "ask": chain["SEV-Milan"],
        "ark": chain["ARK-Milan"],
    }


def test_a_table_written_by_hand_parses(real: dict[str, bytes]) -> None:
    """Entries {guid[16], u32 offset, u32 length}, zero entry, then the certificates; an unknown GUID
    (e.g. a CRL) is kept under its text."""
    other = "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"
    items = [("vcek", real["vcek"]), ("ask", real["ask"]), ("ark", real["ark"]), (other, b"opaque")]
    head = 24 * (len(items) + 1)
    table, blobs = b"", b""
    for name, der in items:
        table += uuid.UUID(CERT_GUIDS.get(name, name)).bytes + struct.pack("<II", head + len(blobs), len(der))
        blobs += der
    raw = table + bytes(24) + blobs
    assert raw[:16].hex() == "63da758de6644564adc5f4b93be8accd"  # RFC 4122 order, not EFI's
    parsed = parse_cert_table(raw)
    assert parsed == dict(items)
    assert build_cert_table(dict(items)) == raw


def test_bad_tables(real: dict[str, bytes]) -> None:
    good = build_cert_table({"vcek": real["vcek"]})
    with pytest.raises(TruncatedError, match="no all-zero terminator"):  # one entry, then nothing
        parse_cert_table(uuid.UUID(CERT_GUIDS["vcek"]).bytes + struct.pack("<II", 0, 24))
    with pytest.raises(FormatError, match="not inside"):
        parse_cert_table(good[:16] + struct.pack("<II", 48, 1 << 20) + good[24:])
    with pytest.raises(FormatError, match="lists vcek twice"):
        parse_cert_table(good[:24] + good[:24] + bytes(24) + real["vcek"])
    with pytest.raises(FormatError, match="empty"):
        parse_cert_table(bytes(24))
