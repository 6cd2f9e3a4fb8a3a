"""Adapter: short-lived GitHub installation tokens for sources and builds (our only GitHub use).

`TokenSource` is the seam the reconciler depends on; tests inject a fake. `GitHubAppTokens` mints
tokens with the App JWT (POST /app/installations/{id}/access_tokens), always limited to the one
repository and to `contents: read` (+ `metadata: read`), never the App's full permissions.
The reconciler's own token (source tarballs) is cached until five minutes before it expires. A
build's token is minted for that build alone (a PR's code runs in the build container and can
read it), never cached or shared, `None` for a public repository (nothing to authenticate), and
revoked (DELETE /installation/token) when the build ends or is superseded. The JWT and the
reading of GitHub's rate limits (`retry-after`, `x-ratelimit-reset`, secondary limits) are the
workers' own, from `core.clients.githubauth`.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from typing import Any, Protocol

import httpx

from core.clients.githubauth import AppCredentials, make_app_jwt, rate_limit_delay
from core.errors import NotFound, PermanentError, RateLimited, TemporaryError

log = logging.getLogger(__name__)
REFRESH_MARGIN = 300.0
READ_ONLY = {"contents": "read", "metadata": "read"}


class TokenSource(Protocol):
    """Git tokens able to read `repository` through installation `installation_id`."""

    def installation_token(self, installation_id: int, repository: str | None) -> str: ...

    def build_token(self, installation_id: int, repository: str) -> str | None: ...

    def revoke(self, token: str) -> None: ...


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

    def build_token(self, installation_id: int, repository: str) -> str | None:
        """A fresh read-only token for one build; None when the repository is public."""
        data = self._mint_raw(installation_id, repository)
        token = str(data["token"])
        repositories = data.get("repositories") or []
        if repositories and repositories[0].get("private") is False:
            self.revoke(token)  # a public repository is cloned without credentials
            return None
        return token

    def revoke(self, token: str) -> None:
        """Revoke an installation token, best effort: one already expired or revoked is fine.

        A failure is logged, never raised: the token expires within the hour anyway, and a
        GitHub outage must not hold up the preview whose build just ended.
        """
        headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        try:
            response = self._client.delete(f"{self._api}/installation/token", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("could not revoke a build token (it expires within the hour): %s", exc)
            return
        if response.status_code not in (204, 401):
            log.warning(
                "GitHub answered %s revoking a build token (it expires within the hour)",
                response.status_code,
            )

    def _mint(self, installation_id: int, repository: str | None) -> tuple[str, float]:
        data = self._mint_raw(installation_id, repository)
        return str(data["token"]), _expiry(str(data.get("expires_at", "")))

    def _mint_raw(self, installation_id: int, repository: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"permissions": READ_ONLY}
        if repository:
            body["repositories"] = [repository.split("/", 1)[1]]
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
        return dict(response.json())


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
