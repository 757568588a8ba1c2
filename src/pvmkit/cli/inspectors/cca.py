"""Arm CCA attestation tokens and bare platform tokens for ``pvmkit inspect`` (claims shown; signatures
not verified)."""

from __future__ import annotations

from typing import Any

from pvmkit.cli.inspectors.registry import Inspector, register

__all__: list[str] = []


def _cca_token(data: bytes) -> Any:
    from pvmkit.formats.cca_token import parse_token

    return parse_token(data)


def _cca_token_json(token: Any) -> dict[str, Any]:
    return {
        "generation": token.generation,
        "collection_tag": token.tag,
        "platform": {"alg": token.platform.alg_name, "claims": token.platform_claims.to_json()},
        "realm": {"alg": token.realm.alg_name, "claims": token.realm_claims.to_json()},
        "warnings": list(token.warnings),
    }


register(
    Inspector(
        "cca-token",
        "Arm CCA attestation token (platform and realm claims; signatures not verified)",
        # tag 399 (d9 01 8f) or 907 (d9 03 8b) around a 2-entry map (draft-ffm-rats-cca-token)
        lambda data: data[:4] in (b"\xd9\x01\x8f\xa2", b"\xd9\x03\x8b\xa2"),
        _cca_token,
        None,
        _cca_token_json,
    ),
    rank=50,
)


def _cca_platform_token(data: bytes) -> Any:
    from pvmkit.formats.cca_token import parse_platform_token

    return parse_platform_token(data)


register(
    Inspector(
        "cca-platform-token",
        "Arm CCA platform token alone, a tagged COSE_Sign1 (claims; signature not verified)",
        lambda data: data[:2] == b"\xd2\x84",  # tag 18 around a 4-item array (RFC 9052 §4.2)
        _cca_platform_token,
        None,
        lambda parsed: {"alg": parsed[0].alg_name, "claims": parsed[1].to_json()},
    ),
    rank=55,
)
