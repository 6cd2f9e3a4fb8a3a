"""Adapter: short-lived GitHub installation tokens for build Jobs (our only GitHub use).

`TokenSource` is the seam the reconciler depends on; tests inject a fake. `GitHubAppTokens` mints
tokens with the App JWT (POST /app/installations/{id}/access_tokens, limited to the one
repository) and caches each until five minutes before it expires. The JWT and the reading of
GitHub's rate limits (`retry-after`, `x-ratelimit-reset`, secondary limits) are the workers' own,
from `core.clients.githubauth`.
"""

from __future__ import annotations

import calendar
import threading
import time
from typing import Protocol

import httpx

from core.clients.githubauth import AppCredentials, make_app_jwt, rate_limit_delay
from core.errors import NotFound, PermanentError, RateLimited, TemporaryError

REFRESH_MARGIN = 300.0


class TokenSource(Protocol):
    """Gives a git token able to read `repository` through installation `installation_id`."""

    def installation_token(self, installation_id: int, repository: str | None) -> str: ...


class GitHubAppTokens:
    """Installation tokens from the GitHub REST API, cached per installation and repository."""

    def __init__(
        self, *, app_id: int, private_key: str, api_url: str, client: httpx.Client | None = None
    ) -> None:
        self._app_id, self._key, self._api = app_id, private_key, api_url.rstrip("/")
        self._client = client or httpx.Client(timeout=10.0)
        self._cache: dict[tuple[int, str | None], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def installation_token(self, installation_id: int, repository: str | None) -> str:
        """A cached token, or a freshly minted one."""
        key = (installation_id, repository)
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[1] - REFRESH_MARGIN > time.time():
                return cached[0]
        token, expires = self._mint(installation_id, repository)
        with self._lock:
            self._cache[key] = (token, expires)
        return token

    def _jwt(self) -> str:
        return make_app_jwt(AppCredentials(self._app_id, self._key), now=time.time())

    def _mint(self, installation_id: int, repository: str | None) -> tuple[str, float]:
        body = {"repositories": [repository.split("/", 1)[1]]} if repository else {}
        headers = {
            "Authorization": f"Bearer {self._jwt()}",
            "Accept": "application/vnd.github+json",
        }
        url = f"{self._api}/app/installations/{installation_id}/access_tokens"
        try:
            response = self._client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"GitHub unreachable: {exc}") from exc
        _raise_for(response)
        data = response.json()
        return str(data["token"]), _expiry(str(data.get("expires_at", "")))


def _raise_for(response: httpx.Response) -> None:
    code = response.status_code
    if code < 300:
        return
    if code == 404:
        raise NotFound(f"installation not found ({code})")
    delay = rate_limit_delay(code, response.headers, response.content, time.time())
    if delay is not None:
        raise RateLimited(f"GitHub rate limit ({code})", delay=delay)
    if code >= 500:
        raise TemporaryError(f"GitHub answered {code}")
    raise PermanentError(f"GitHub refused the token request ({code})")


def _expiry(stamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return time.time() + 3000.0
