"""Flows: which Projects a repository belongs to (a short-TTL cached index over Project CRs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core import naming
from core.clients.github import GitHubApp
from core.clients.kube import EnvironmentStore
from core.model import Project, ProjectSource

log = logging.getLogger("catalyst.worker.projects")

DEFAULT_TTL = 30.0


class ProjectIndex:
    """Projects by repository, re-listed from the cluster when older than `ttl` seconds."""

    def __init__(
        self,
        store: EnvironmentStore,
        *,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._monotonic = monotonic
        self._loaded_at: float | None = None
        self._by_repo: dict[str, list[tuple[Project, ProjectSource]]] = {}
        self._ignored: set[str] = set()

    def refresh(self) -> None:
        """Re-list Projects now."""
        by_repo: dict[str, list[tuple[Project, ProjectSource]]] = {}
        for project in self._store.list_projects():
            for source in project.spec.sources:
                repo = naming.repository_slug(source.repository_url)
                if repo:
                    by_repo.setdefault(repo, []).append((project, source))
        self._by_repo, self._loaded_at = by_repo, self._monotonic()

    def all(self) -> list[tuple[Project, ProjectSource, str]]:
        """Every (Project, source, repository) onboarded."""
        self._refresh_if_stale()
        return [(p, s, repo) for repo, items in self._by_repo.items() for p, s in items]

    def for_repository(self, repository: str) -> list[tuple[Project, ProjectSource]]:
        """The Projects (with the matching source) fed by `repository`; logs once when none."""
        self._refresh_if_stale()
        found = self._by_repo.get(repository.lower(), [])
        if not found and repository.lower() not in self._ignored:
            self._ignored.add(repository.lower())
            log.info("no Project for repository %s: events ignored", repository)
        return list(found)

    def pull_request_sources(self, repository: str) -> list[tuple[Project, ProjectSource]]:
        """`for_repository`, one entry per Project: its first source of `repository` is the one
        its PRs are previewed with (two sources of one repository must not take turns)."""
        return first_per_project(self.for_repository(repository))

    def _refresh_if_stale(self) -> None:
        if self._loaded_at is None or self._monotonic() - self._loaded_at > self._ttl:
            self.refresh()


def first_per_project(
    matches: list[tuple[Project, ProjectSource]],
) -> list[tuple[Project, ProjectSource]]:
    """The first (Project, source) of each Project, in order."""
    seen: set[tuple[str | None, str]] = set()
    first = []
    for project, source in matches:
        key = (project.metadata.namespace, project.metadata.name)
        if key not in seen:
            seen.add(key)
            first.append((project, source))
    return first


async def installation_id_of(app: GitHubApp, project: Project, repository: str) -> int:
    """The installation to act on `repository` with: the Project's, else the one GitHub says
    covers the repository."""
    return project.spec.github_installation_id or await app.installation_id_for(repository)
