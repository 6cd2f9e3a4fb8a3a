"""Pure: checking a delivery's `X-Hub-Signature-256` and naming why it failed (no I/O).

The receiver answers every failure with the same bare 401; the reason only feeds the
verification-failure metric, so an attacker learns nothing from the response.
"""

from __future__ import annotations

from core.signing import PREFIX, matches_any

_HEX = frozenset("0123456789abcdef")


def failure_reason(body: bytes, header: str | None, secrets: list[bytes]) -> str | None:
    """None when `header` signs `body` under one of `secrets`, else a short metric label.

    Every secret is compared in constant time (see core.signing.matches_any).
    """
    if not header:
        return "missing"
    if not header.startswith(PREFIX):
        return "malformed"
    digest = header[len(PREFIX) :]
    if len(digest) != 64 or not set(digest) <= _HEX:
        return "malformed"
    return None if matches_any(body, header, secrets) else "mismatch"
