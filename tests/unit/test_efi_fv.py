"""The FFS files of OVMF images (pvmkit.formats.efi_fv) against virt-firmware's volume dumper
(virt.firmware.dump, Gerd Hoffmann's, a peer in the test extra) as the oracle: the same files, in the
same order, with the same types and user-interface names."""

from __future__ import annotations

from typing import Any

import pytest

from pvmkit.errors import FormatError
from pvmkit.formats.efi_fv import FV_FILETYPE_APPLICATION, FV_FILETYPE_DRIVER, firmware_files
from support.fixtures import import_peer, read_fixture
from support.ovmf_boot import generic_ovmf_code

SHELL = "7c04a583-9e3e-4f1c-ad65-e05268d0b4d1"  # ShellPkg.dec gUefiShellFileGuid
UIAPP = "462caa21-7614-4503-836e-8ab6f4662331"  # MdeModulePkg UiApp.inf FILE_GUID
DXEFV = "7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1"  # OvmfPkg DXEFV FvNameGuid
NCCFV = "ae047c6d-bce9-426c-ae03-a68e3b8a0488"  # OvmfPkg/IntelTdx NCCFV FvNameGuid


File = tuple[str, int, str | None, str | None]  # name, type, UI name, volume name


def _oracle(image: bytes) -> list[File]:
    dump = import_peer("virt.firmware.dump")
    ucs16 = import_peer("virt.firmware.efi.ucs16")
    out: list[File] = []

    def walk(item: Any, volume: str | None) -> None:
        if isinstance(item, dump.Edk2Volume):
            volume = str(item.name) if item.name is not None else None
        if isinstance(item, dump.Edk2FfsFile) and item.typeid != 0xF0:
            ui = ucs16.from_ucs16(item.secname.blob, 0) if item.secname is not None else None
            out.append((str(item.guid), item.typeid, str(ui) if ui is not None else None, volume))
        if isinstance(item, list) or hasattr(item, "data"):
            for child in item:
                walk(child, volume)

    walk(dump.Edk2Image(name="image", data=image), None)
    return out


def _ours(image: bytes) -> list[File]:
    # virt-firmware reads no sections of freeform (0x02) and combined (0x08) files: compare names there
    return [
        (f.name, f.type, f.ui if f.type not in (0x02, 0x08) else None, f.volume)
        for f in firmware_files(image)
    ]


def test_tdx_image_files_equal_the_oracle() -> None:
    image = read_fixture("firmware/OVMF.inteltdx.ms.fd")
    files = _ours(image)
    assert files == _oracle(image)
    drivers = {ui for _n, t, ui, _v in files if t == FV_FILETYPE_DRIVER}
    apps = {n for n, t, _ui, _v in files if t == FV_FILETYPE_APPLICATION}
    # the lead's reading of the TDX build: block drivers, no network stack, no Shell application
    assert {"VirtioBlkDxe", "VirtioScsiDxe", "NvmExpressDxe", "AtaAtapiPassThruDxe"} <= drivers
    assert not {"VirtioNetDxe", "UefiPxeBcDxe", "HttpBootDxe"} & drivers
    assert SHELL not in apps
    # the IntelTdx build keeps UiApp in its non-CC volume (not dispatched in a TD), outside DXEFV
    assert (UIAPP, FV_FILETYPE_APPLICATION, "UiApp", NCCFV) in files


def test_generic_image_files_equal_the_oracle() -> None:
    image = generic_ovmf_code().read_bytes()
    files = _ours(image)
    assert files == _oracle(image)
    assert (SHELL, FV_FILETYPE_APPLICATION, "Shell", DXEFV) in files
    drivers = {ui for _n, t, ui, _v in files if t == FV_FILETYPE_DRIVER}
    assert {"VirtioNetDxe", "UefiPxeBcDxe", "HttpBootDxe", "VirtioBlkDxe"} <= drivers


def test_overrunning_file_is_a_format_error() -> None:
    image = bytearray(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    files_at = image.find(bytes.fromhex("78e58c8c3d8a1c4f9935896185c32dd3"))  # the first FFS2 volume
    assert files_at > 0
    header = int.from_bytes(image[files_at + 32 : files_at + 34], "little")
    first_file = files_at - 16 + header
    image[first_file + 20 : first_file + 23] = b"\xff\xff\x7f"  # a size past the volume's end
    with pytest.raises(FormatError, match="overruns"):
        firmware_files(bytes(image))
