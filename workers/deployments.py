"""Flows: exactly one GitHub deployment per (environment, commit), found before it is created.

The id is looked up in the CR's bookkeeping first, then on GitHub (a create that timed out after
GitHub stored it, or bookkeeping lost with a recreated CR), and only then created, under a Redis
lock so two workers do not both create it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.clients.github import GitHubInstallation
from workers import locks
from workers.bookkeeping import Bookkeeping
from workers.context import Context

CREATE_LOCK = locks.LockSpec()


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    """Where a commit's deployment lives and what its payload names."""

    repository: str
    sha: str
    environment: str
    transient: bool
    namespace: str
    name: str


async def ensure_deployment(
    ctx: Context, gh: GitHubInstallation, ref: DeploymentRef, book: Bookkeeping
) -> int:
    """The id of `ref.sha`'s deployment in `ref.environment`, creating it at most once."""
    known = book.deployments.get(ref.sha)
    if known is not None:
        return known
    key = f"catalyst:deploy:{ref.repository}:{ref.environment}:{ref.sha}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        found = await gh.find_deployments(ref.repository, environment=ref.environment, sha=ref.sha)
        if found:
            return found[0].id
        payload = {"catalyst": {"namespace": ref.namespace, "environment": ref.name}}
        return await gh.create_deployment(
            ref.repository,
            sha=ref.sha,
            environment=ref.environment,
            transient=ref.transient,
            payload=payload,
        )
