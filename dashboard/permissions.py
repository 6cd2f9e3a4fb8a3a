"""What the signed-in user may do on each repository, asked of GitHub and cached briefly.

GitHub is the authority (a removed collaborator loses access within the cache time); the cache
keeps a page with many environments from asking GitHub once per row on every refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import httpx

from core.access import Role
from core.clients.github_user import OAuthApp, repository_role
from dashboard.sessions import Session


class PermissionCache:
    """(login, repository) -> Role for `ttl` seconds."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        app: OAuthApp,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http, self._app, self._ttl, self._clock = http, app, ttl, clock
        self._roles: dict[tuple[str, str], tuple[Role, float]] = {}

    async def role(self, session: Session, repo: str) -> Role:
        """The user's role on `repo` (from the cache while fresh)."""
        key = (session.login, repo.lower())
        cached = self._roles.get(key)
        if cached and cached[1] > self._clock():
            return cached[0]
        role = await repository_role(self._http, self._app, session.token, repo)
        self._roles[key] = (role, self._clock() + self._ttl)
        return role

    async def roles(self, session: Session, repos: Iterable[str]) -> dict[str, Role]:
        """Roles on several repositories, asked concurrently."""
        unique = sorted(set(repos))
        found = await asyncio.gather(*(self.role(session, r) for r in unique))
        return dict(zip(unique, found, strict=True))

    def forget(self, login: str) -> None:
        """Drop a user's cached roles (sign-out)."""
        for key in [k for k in self._roles if k[0] == login]:
            del self._roles[key]
