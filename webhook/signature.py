"""Pure: checking a delivery's `X-Hub-Signature-256` and naming why it failed (no I/O).

The receiver answers every failure with the same bare 401; the reason only feeds the
verification-failure metric, so an attacker learns nothing from the response. The digest is
computed with `hmac.digest` (one C call, same result as core.signing.sign) because this runs once
per delivery on the event loop.
"""

from __future__ import annotations

import hashlib
import hmac

from core.signing import PREFIX

_HEX = frozenset("0123456789abcdef")


def failure_reason(body: bytes, header: str | None, secrets: list[bytes]) -> str | None:
    """None when `header` signs `body` under one of `secrets`, else a short metric label.

    Every secret is compared in constant time, and all are tried even after a match, so timing
    does not reveal which secret (or whether any) matched.
    """
    if not header:
        return "missing"
    if not header.startswith(PREFIX):
        return "malformed"
    digest = header[len(PREFIX) :]
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return "malformed"
    expected = bytes.fromhex(digest)
    results = [
        hmac.compare_digest(hmac.digest(secret, body, hashlib.sha256), expected)
        for secret in secrets
    ]
    return None if any(results) else "mismatch"
