"""Pure: GitHub webhook signatures (`X-Hub-Signature-256`), computed and checked (no I/O)."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(body: bytes, secret: bytes) -> str:
    """The `X-Hub-Signature-256` header value GitHub sends for `body`."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def matches_any(body: bytes, header: str | None, secrets: list[bytes]) -> bool:
    """True when `header` is a well-formed sha256 signature of `body` under one of `secrets`.

    Every secret is compared in constant time, and all are tried even after a match, so timing
    does not reveal which secret (or whether any) matched.
    """
    if not header or not header.startswith(PREFIX):
        return False
    digest = header[len(PREFIX) :]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return False
    results = [hmac.compare_digest(sign(body, s), header) for s in secrets]
    return any(results)
