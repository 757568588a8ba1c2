"""One flipped bit in evidence, for tests that a verifier refuses it (its caches warm or not).

The certificate helpers flip a bit near the end of a certificate, inside its signature, so that the
result still parses and only the signature check can catch it; the texts keep their length and
layout (a PEM base64 digit is replaced by the one whose value differs in its lowest bit).
"""

from __future__ import annotations

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def flip(data: bytes, pos: int) -> bytes:
    """``data`` with the lowest bit of byte ``pos`` inverted."""
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def flip_certificate(certs: bytes, index: int) -> bytes:
    """One bit flipped in the signature of the ``index``-th certificate of a PEM text or of
    concatenated DER certificates."""
    if b"-----BEGIN" not in certs:
        return _flip_der_certificate(certs, index)
    end = -1
    for _ in range(index + 1):
        end = certs.index(b"-----END CERTIFICATE-----", end + 1)
    pos, digits = end - 1, 0
    while digits < 8 or certs[pos] not in _B64:  # 8 base64 digits (6 bytes) before the end
        if certs[pos] in _B64:
            digits += 1
        pos -= 1
    return certs[:pos] + bytes([_B64[_B64.index(certs[pos]) ^ 1]]) + certs[pos + 1 :]


def _flip_der_certificate(der: bytes, index: int) -> bytes:
    start = last = 0
    for _ in range(index + 1):
        assert der[start] == 0x30 and der[start + 1] == 0x82  # SEQUENCE, two length bytes (X.690)
        last = start + 4 + int.from_bytes(der[start + 2 : start + 4], "big")
        start = last
    return flip(der, last - 3)  # inside the signature BIT STRING, which ends the certificate
