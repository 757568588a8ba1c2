"""The edk2 release of an OVMF image, and the tag from which OVMF measures QEMU's fw_cfg items.

Oracles: Debian's own package versions. The fixture ``firmware/OVMF.inteltdx.ms.fd`` is package
``ovmf-inteltdx`` 2026.08+ds-2 (fixtures README); ``PVMKIT_OVMF_TPM``/``_2025_02``/``_2022_11`` are
Debian's ``ovmf-generic`` 2026.08, trixie's ``ovmf`` 2025.02 and bookworm's 2022.11
(tools/fetch_peers.py; the directory names carry the package versions). The fw_cfg measurement
(tianocore/edk2 pull request 6522) logs the event text "QEMU FW CFG" (edk2
OvmfPkg/Library/QemuFwCfgLib/QemuFwCfgCacheInit.c, ``FW_CFG_EVENT``): a build with the code has
the text, one without does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pvmkit.vendors.tdx.ovmf_release import image_release
from pvmkit.vendors.tdx.rtmr import FW_CFG_MEASURED_SINCE
from pvmkit.vendors.tdx.smbios_ovmf import _lzma_volumes
from support.fixtures import missing, read_fixture

FW_CFG_EVENT_TEXT = b"QEMU FW CFG"


def _peer_image(variable: str) -> tuple[bytes, str]:
    where = os.environ.get(variable)
    if not where:
        missing(f"{variable} not set", "tools/fetch_peers.py fetches Debian's OVMF builds")
    code = sorted(Path(where).glob("OVMF_CODE*.fd"))[0]
    version = next(p.name for p in code.parents if p.name.startswith("root-")).removeprefix("root-")
    return code.read_bytes(), version


def _has_fw_cfg_measurement(image: bytes) -> bool:
    return any(FW_CFG_EVENT_TEXT in part for part in (image, *_lzma_volumes(image)))


def test_the_fixture_image_names_its_release() -> None:
    assert image_release(read_fixture("firmware/OVMF.inteltdx.ms.fd")) == (2026, 8)  # 2026.08+ds-2


@pytest.mark.parametrize(
    ("variable", "release"),
    [("PVMKIT_OVMF_TPM", (2026, 8)), ("PVMKIT_OVMF_2025_02", (2025, 2))],
)
def test_debian_images_name_their_package_release(variable: str, release: tuple[int, int]) -> None:
    image, version = _peer_image(variable)
    assert version.startswith(f"{release[0]}.{release[1]:02d}")  # the package version
    assert image_release(image) == release


def test_an_image_without_a_release_string_names_none() -> None:
    image, _version = _peer_image("PVMKIT_OVMF_2022_11")  # no type 0 version string pvmkit reads
    assert image_release(image) is None


def test_fw_cfg_measurement_came_after_2025_02() -> None:
    """The rule's tag: absent from edk2 2025.02 (so not stable202411, as once assumed), present in
    2026.08 of both the generic and the IntelTdx builds; stable202505 is the first tag after."""
    old, _ = _peer_image("PVMKIT_OVMF_2025_02")
    new, _ = _peer_image("PVMKIT_OVMF_TPM")
    assert not _has_fw_cfg_measurement(old)
    assert _has_fw_cfg_measurement(new)
    assert _has_fw_cfg_measurement(read_fixture("firmware/OVMF.inteltdx.ms.fd"))
    assert (2025, 2) < FW_CFG_MEASURED_SINCE <= (2025, 5)
