"""AMD Key Distribution Service conventions, offline: where a report's VCEK, its ASK+ARK chain and the
ARK's CRL are published, and where an offline store in Trustee's layout keeps the VCEK.

pvmkit never fetches anything: :func:`kds_location` gives the URLs for the user's own fetcher, and
:func:`read_vcek_store` reads a directory filled beforehand (an air-gapped verifier).

URLs (virtee/snpguest ``src/fetch.rs``; AMD's KDS interface):

* chain ``https://kdsintf.amd.com/vcek/v1/{product}/cert_chain`` (ASK then ARK, PEM), CRL
  ``…/vcek/v1/{product}/crl`` (DER); VLEK chains and CRLs under ``/vlek/v1/`` instead;
* VCEK ``…/vcek/v1/{product}/{hwid}?blSPL=BL&teeSPL=TEE&snpSPL=SNP&ucodeSPL=UCODE``, and on Turin
  ``?fmcSPL=FMC&blSPL=…`` (FMC first); SPLs from REPORTED_TCB, decimal, two digits at least;
* ``hwid``: CHIP_ID in lower-case hex, all 64 bytes on Milan and Genoa, the first 8 on Turin;
* ``product``: ``Milan``, ``Genoa`` (also for Bergamo and Siena, which share Genoa's KDS path),
  ``Turin``.

The ASK+ARK chain, which Trustee builds in, may sit in the store under the KDS URL's path,
``{store}/vcek/v1/{product}/cert_chain`` (pvmkit's convention: a mirror of KDS; ``v1`` is no hex
hardware ID, so the two never meet).

Offline store (Trustee ``OfflineStore``, its ``amd-offline-certificate-cache.md``): first
``{store}/vcek/{hwid}/{prefix}_vcek.der`` with ``prefix`` =
``bl{BL:02}_tee{TEE:02}_snp{SNP:02}_ucode{UCODE:02}`` and on Turin ``_fmc{FMC:02}`` appended (FMC last
here, first in the URL), then the legacy
``{store}/vcek/{hwid}/vcek.der``. A file that is there but cannot be read is an error, not a reason
to fall back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pvmkit.attest.snp_report import SIGNING_KEY_VLEK, SnpReport, TcbVersion
from pvmkit.errors import InputError

__all__ = [
    "KDS_BASE",
    "PRODUCTS",
    "KdsLocation",
    "kds_location",
    "kds_product",
    "read_chain_store",
    "read_vcek_store",
]

KDS_BASE = "https://kdsintf.amd.com"
#: Product names accepted (case-insensitive) → the KDS path segment.
PRODUCTS = {"milan": "Milan", "genoa": "Genoa", "bergamo": "Genoa", "siena": "Genoa", "turin": "Turin"}


@dataclass(frozen=True)
class KdsLocation:
    """Where the certificates of one report live on AMD's KDS and in an offline store."""

    product: str
    #: how the product was found: ``report`` (CPUID fields), ``chip_id`` (a version 2 report's
    #: Turin-shaped CHIP_ID), ``given`` or ``assumed`` (:func:`kds_product`)
    product_from: str
    signing_key: str
    hwid: str
    spls: dict[str, int]
    vcek_url: str | None
    cert_chain_url: str
    crl_url: str
    store_prefix: str

    def store_paths(self, store: str) -> tuple[str, str]:
        """The offline store's two candidate files, in the order they are tried."""
        directory = os.path.join(store, "vcek", self.hwid)
        return os.path.join(directory, f"{self.store_prefix}_vcek.der"), os.path.join(directory, "vcek.der")

    def chain_path(self, store: str) -> str:
        """Where a store keeps the ASK+ARK: the KDS URL's path under the store (pvmkit's convention;
        Trustee builds its chains in): ``{store}/vcek/v1/{product}/cert_chain``."""
        return os.path.join(store, self.cert_chain_url.removeprefix(KDS_BASE + "/"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "product_from": self.product_from,
            "signing_key": self.signing_key,
            "hwid": self.hwid,
            "reported_tcb": dict(self.spls),
            "vcek_url": self.vcek_url,
            "cert_chain_url": self.cert_chain_url,
            "crl_url": self.crl_url,
            "store_files": [
                os.path.join("vcek", self.hwid, f"{self.store_prefix}_vcek.der"),
                os.path.join("vcek", self.hwid, "vcek.der"),
            ],
            "store_chain": self.chain_path(""),
        }


def kds_product(report: SnpReport, given: str | None = None) -> tuple[str, str]:
    """(KDS product segment, how it was found): ``given`` (any of :data:`PRODUCTS`) wins; else the
    report's CPUID family/model (version 3 and later); else a version 2 report whose CHIP_ID uses
    only its first 8 bytes is Turin (as snpguest guesses); else Milan is ``assumed`` (go-sev-guest's
    default product): a version 2 report does not say whether it is Milan or Genoa, whose hwid,
    SPLs and store names are the same — only the URL's product segment differs."""
    if given is not None:
        product = PRODUCTS.get(given.strip().lower())
        if product is None:
            raise InputError(f"unknown AMD product {given!r} (Milan, Genoa, Bergamo, Siena or Turin)")
        return product, "given"
    if report.product is not None:
        return report.product, "report"
    if report.tcb_layout == "turin":
        return "Turin", "chip_id"
    return "Milan", "assumed"


def kds_location(report: SnpReport, product: str | None = None) -> KdsLocation:
    """The KDS URLs and offline-store names for ``report`` (module docstring). InputError for a
    masked (all-zero) CHIP_ID, which cannot be looked up, or an unknown product."""
    name, found = kds_product(report, product)
    if not any(report.chip_id):
        raise InputError("CHIP_ID is all zero (MASK_CHIP_ID): a VCEK cannot be looked up by hardware ID")
    layout = "turin" if name == "Turin" else "milan"
    tcb = TcbVersion.decode(report.reported_tcb, layout).components()
    hwid = (report.chip_id[:8] if name == "Turin" else report.chip_id).hex()
    params = "&".join(f"{key}SPL={tcb[part]:02}" for key, part in _URL_ORDER if part in tcb)
    prefix = "_".join(f"{key}{tcb[part]:02}" for key, part in _STORE_ORDER if part in tcb)
    kind = "vlek" if report.signing_key == SIGNING_KEY_VLEK else "vcek"
    return KdsLocation(
        product=name,
        product_from=found,
        signing_key=kind,
        hwid=hwid,
        spls=tcb,
        # A VLEK is issued to a cloud provider, not served to the public by hardware ID.
        vcek_url=f"{KDS_BASE}/vcek/v1/{name}/{hwid}?{params}" if kind == "vcek" else None,
        cert_chain_url=f"{KDS_BASE}/{kind}/v1/{name}/cert_chain",
        crl_url=f"{KDS_BASE}/{kind}/v1/{name}/crl",
        store_prefix=prefix,
    )


_URL_ORDER = (("fmc", "fmc"), ("bl", "bootloader"), ("tee", "tee"), ("snp", "snp"), ("ucode", "microcode"))
_STORE_ORDER = (("bl", "bootloader"), ("tee", "tee"), ("snp", "snp"), ("ucode", "microcode"), ("fmc", "fmc"))


def read_vcek_store(store: str, location: KdsLocation) -> tuple[bytes, str]:
    """(VCEK bytes, the file read) from an offline store in Trustee's layout. A file that exists but
    cannot be read raises its OSError; when neither file exists, InputError names both and the URL."""
    paths = location.store_paths(store)
    for path in paths:
        try:
            with open(path, "rb") as f:
                return f.read(1 << 20), path
        except FileNotFoundError:
            continue
    raise InputError(
        f"--kds-cache {store}: no VCEK for this report: neither {paths[0]} nor {paths[1]} exists "
        f"(fetch {location.vcek_url} into the first)"
    )


def read_chain_store(store: str, location: KdsLocation) -> tuple[bytes, str]:
    """(ASK+ARK bytes, the file read) from ``{store}/vcek/v1/{product}/cert_chain`` (a mirror of the
    KDS path; ``vlek`` for VLEK-signed reports). InputError naming the file and the URL when absent."""
    path = location.chain_path(store)
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20), path
    except FileNotFoundError:
        raise InputError(
            f"--kds-cache {store}: no chain at {path} "
            f"(fetch {location.cert_chain_url} there, or give --chain)"
        ) from None
