"""Adapter: GitHub as the signed-in person sees it (the App's OAuth user-to-server flow).

The dashboard sends people to GitHub's authorize page, exchanges the returned code for a user
access token, reads who they are, and asks what they may do on a repository (`permissions` of
`GET /repos/{owner}/{repo}` for the token's user). GitHub Enterprise Server works through the
API URL and the web base URL. Every call has a timeout; failures are `core.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from core.access import Role, role_from_permissions
from core.errors import NotFound, PermanentError, TemporaryError

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ACCEPT = "application/vnd.github+json"


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The App's OAuth client and where GitHub's pages and API live."""

    client_id: str
    client_secret: str
    web_url: str
    api_url: str

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """GitHub's authorize page for this client (the user comes back with `code`)."""
        query = urlencode(
            {"client_id": self.client_id, "redirect_uri": redirect_uri, "state": state}
        )
        return f"{self.web_url}/login/oauth/authorize?{query}"


@dataclass(frozen=True, slots=True)
class GitHubUser:
    """Who signed in, and their user access token."""

    login: str
    token: str


class OAuthError(PermanentError):
    """GitHub refused the code exchange (expired or reused code, wrong client)."""


class SignInExpired(PermanentError):
    """GitHub no longer accepts the user's token (expired or revoked): sign in again."""


async def exchange_code(
    http: httpx.AsyncClient, app: OAuthApp, *, code: str, redirect_uri: str
) -> str:
    """The user access token for an authorization code (GitHub answers errors with 200)."""
    body = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    data = await _send(http, "POST", f"{app.web_url}/login/oauth/access_token", json=body)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise OAuthError(f"GitHub refused the sign-in: {data.get('error', 'no token returned')}")
    return token


async def current_user(http: httpx.AsyncClient, app: OAuthApp, token: str) -> GitHubUser:
    """The token's user."""
    data = await _send(http, "GET", f"{app.api_url}/user", token=token)
    return GitHubUser(login=str(data["login"]), token=token)


async def repository_role(http: httpx.AsyncClient, app: OAuthApp, token: str, repo: str) -> Role:
    """The user's role on `owner/name`; NONE when GitHub hides the repository from them."""
    try:
        data = await _send(http, "GET", f"{app.api_url}/repos/{repo}", token=token)
    except NotFound:
        return Role.NONE
    return role_from_permissions(data.get("permissions"))


async def _send(
    http: httpx.AsyncClient, method: str, url: str, *, token: str | None = None, **kw: Any
) -> dict[str, Any]:
    headers = {"Accept": "application/json" if "/login/oauth/" in url else ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = await http.request(method, url, headers=headers, timeout=TIMEOUT, **kw)
    except httpx.HTTPError as exc:
        raise TemporaryError(f"GitHub unreachable: {exc or type(exc).__name__}") from exc
    if response.status_code == 404:
        raise NotFound(f"GitHub {method} {httpx.URL(url).path}: 404")
    if response.status_code == 401:
        raise SignInExpired(f"GitHub {method} {httpx.URL(url).path}: 401")
    if response.status_code == 403:
        raise PermanentError(f"GitHub {method} {httpx.URL(url).path}: {response.status_code}")
    if response.status_code >= 400:
        raise TemporaryError(f"GitHub {method} {httpx.URL(url).path}: {response.status_code}")
    data = response.json()
    return data if isinstance(data, dict) else {}
