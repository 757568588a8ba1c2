"""Cross-check pvmkit's EFI variable store parser (``pvmkit.formats.efi_varstore``, used for the TDX
RTMR0 Secure Boot events) against virt-firmware (PyPI ``virt-firmware``, the parser behind
``virt-fw-vars``), an independent implementation, on the real Debian ``OVMF.inteltdx.ms.fd``."""

from __future__ import annotations

import pytest

from pvmkit.formats.efi_varstore import parse_signature_lists, parse_varstore

pytestmark = pytest.mark.crosscheck
TDX_IMAGE = "firmware/OVMF.inteltdx.ms.fd"
VARSTORE_SIZE = 0x84000  # the image's leading variable-store FV (its CFV, spec tdx.md §2.2)


def test_variables_and_signature_lists_agree(fixture_file) -> None:  # type: ignore[no-untyped-def]
    from virt.firmware.varstore import edk2

    path = fixture_file(TDX_IMAGE)
    theirs = edk2.Edk2VarStore(str(path)).get_varlist()
    ours = parse_varstore(path.read_bytes()[:VARSTORE_SIZE])
    assert sorted((v.guid, v.name) for v in ours.variables.values()) == sorted(
        (str(var.guid), name) for name, var in theirs.items()
    )
    assert len(theirs) == 4  # PK, KEK, db, dbx: a Secure Boot image with Microsoft's keys
    for (_guid, name), var in ours.variables.items():
        peer = theirs[name]
        assert (var.attributes, var.data) == (peer.attr, bytes(peer.data)), name
        lists = parse_signature_lists(var.data)
        peer_lists = list(peer.sigdb)
        assert [(sl.type, len(sl.signatures)) for sl in lists] == [
            (str(p.guid), len(p)) for p in peer_lists
        ], name
        for sl, peer_sl in zip(lists, peer_lists, strict=True):
            assert [(s.owner, s.data) for s in sl.signatures] == [
                (str(e["guid"]), bytes(e["data"])) for e in peer_sl
            ], name
