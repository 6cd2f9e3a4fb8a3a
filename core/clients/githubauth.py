"""Adapter core: the GitHub App's identity, its JWT and GitHub's rate-limit rules.

One implementation for both GitHub clients: the workers' async `core.clients.github` and the
reconciler's build-token minter (`reconciler.tokens`). `make_app_jwt` signs the App JWT (RS256,
`iat` backdated 60 s against clock drift, `exp` under 10 minutes); `rate_limit_delay` reads a
response as GitHub documents it (`retry-after`, then `x-ratelimit-remaining: 0` with
`x-ratelimit-reset`, then the secondary limit) and says how long to wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jwt as pyjwt

SECONDARY_LIMIT_DEFAULT = 60.0


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The GitHub App's identity."""

    app_id: int
    private_key: str


def make_app_jwt(credentials: AppCredentials, *, now: float) -> str:
    """An RS256 App JWT: `iat` 60 s in the past absorbs clock drift, `exp` under 10 minutes."""
    claims = {"iat": int(now) - 60, "exp": int(now) + 540, "iss": str(credentials.app_id)}
    return pyjwt.encode(claims, credentials.private_key, algorithm="RS256")


def rate_limit_delay(
    status: int, headers: Mapping[str, str], body: bytes, now: float
) -> float | None:
    """Seconds to wait when a response is a rate limit, else None (GitHub's documented rules)."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(float(headers["x-ratelimit-reset"]) - now, 0.0) + 1.0
        except ValueError:
            return SECONDARY_LIMIT_DEFAULT
    if status == 429 or b"secondary rate limit" in body.lower():
        return SECONDARY_LIMIT_DEFAULT
    return None
