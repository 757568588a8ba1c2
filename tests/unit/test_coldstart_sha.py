"""pvmkit._coldstart.sha.sha384 (CPython's own SHA-384, loaded without libcrypto) gives SHA-384."""

from __future__ import annotations

import hashlib
import os

from pvmkit._coldstart.sha import sha384

#: FIPS 180-2, Appendix D.1 (SHA-384 example, one-block message "abc")
ABC_SHA384 = bytes.fromhex(
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
)


def test_published_vector() -> None:
    assert sha384(b"abc").digest() == ABC_SHA384


def test_equal_to_openssl_on_pages_and_page_info_sizes() -> None:
    """hashlib (OpenSSL here) as the oracle, on the sizes the SNP chain hashes (112-byte PAGE_INFO,
    4 KiB pages, a 4 KiB VMSA) and on a memoryview, as the measurer passes them."""
    for size in (0, 1, 111, 112, 113, 4096, 3 * 4096 + 5):
        data = os.urandom(size)
        assert sha384(data).digest() == hashlib.sha384(data).digest(), size
        assert sha384(memoryview(data)).digest() == hashlib.sha384(data).digest(), size
