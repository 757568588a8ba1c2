"""SHA-384 without loading OpenSSL: CPython's own implementation when it is there.

``hashlib`` imports ``_hashlib``, which loads libcrypto: about 2 ms of a cold ``pvmkit measure``.
CPython also ships its own SHA-384 (module ``_sha512`` up to 3.11, ``_sha2`` from 3.12), which
loads in about 0.2 ms and gives the same digests (FIPS 180-4); it hashes 4 KiB pages about a third
slower than OpenSSL and, unlike OpenSSL's, does not release the GIL, so work large enough to pay
for libcrypto (``vendors.amd.measure._hash_pages`` with threads) takes ``hashlib.sha384`` instead.
A Python built without these modules falls back to ``hashlib``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost of `pvmkit measure`)
if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

    from _typeshed import ReadableBuffer

__all__ = ["sha384"]


def _builtin_sha384() -> Callable[[ReadableBuffer], _Hash]:
    import sys

    names = ("_sha2", "_sha512") if sys.version_info >= (3, 12) else ("_sha512", "_sha2")
    for name in names:  # the module's name from CPython 3.12 on, and up to 3.11
        try:
            found: Callable[[ReadableBuffer], _Hash] = __import__(name).sha384
            return found
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha384


#: ``sha384(data).digest()``: SHA-384 as ``hashlib.sha384``, loaded without libcrypto where possible
sha384 = _builtin_sha384()
