"""Flows: exactly one GitHub deployment per (environment, commit), found before it is created.

The id is looked up in the CR's bookkeeping first, then on GitHub (a create that timed out after
GitHub stored it, or bookkeeping lost with a recreated CR), and only then created, under a Redis
lock so two workers do not both create it.

GitHub's listing of the environment is also how deployments the bookkeeping never heard of are
found: a worker that created one and then lost the CR write (Redis gone mid-task, a failed
create) leaves a deployment no CR records, and nothing would ever retire it. The ones found are
adopted into the bookkeeping without a known state, so the head's success retires them after
asking GitHub what they show.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.clients.github import GitHubInstallation
from core.github_values import Deployment
from workers import locks
from workers.bookkeeping import MAX_REMEMBERED, Bookkeeping
from workers.context import Context

CREATE_LOCK = locks.LockSpec()
RECENT = 100  # deployments of an environment read in one call (GitHub's page size limit)


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
    """The id of `ref.sha`'s deployment in `ref.environment`, creating it at most once.

    Deployments of other commits that GitHub lists and `book` does not know are added to
    `book.deployments` (see `strays`), to be retired like any superseded one.
    """
    known = book.deployments.get(ref.sha)
    if known is not None:
        return known
    key = f"catalyst:deploy:{ref.repository}:{ref.environment}:{ref.sha}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        recent = await gh.find_deployments(
            ref.repository, environment=ref.environment, newest=RECENT
        )
        for stray in strays(recent, book, head=ref.sha):
            book.deployments[stray.sha] = stray.id
        found = await _existing(gh, ref, recent)
        if found is not None:
            return found
        payload = {"catalyst": {"namespace": ref.namespace, "environment": ref.name}}
        return await gh.create_deployment(
            ref.repository,
            sha=ref.sha,
            environment=ref.environment,
            transient=ref.transient,
            payload=payload,
        )


async def _existing(
    gh: GitHubInstallation, ref: DeploymentRef, recent: list[Deployment]
) -> int | None:
    """`ref.sha`'s deployment among the recent ones, or further back in a longer history."""
    found = [d.id for d in recent if d.sha == ref.sha]
    if not found and len(recent) >= RECENT:
        older = await gh.find_deployments(ref.repository, environment=ref.environment, sha=ref.sha)
        found = [d.id for d in older]
    return max(found) if found else None


def strays(listed: list[Deployment], book: Bookkeeping, *, head: str) -> list[Deployment]:
    """Deployments of other commits GitHub has and `book` lacks, oldest first.

    Only those newer than the oldest one `book` remembers: older ones were dropped from it on
    purpose (`MAX_REMEMBERED`) after they were retired. A book that knows none (a new CR) takes
    the newest few; more than that were retired by the teardown of an earlier CR.
    """
    known_ids = set(book.deployments.values())
    known = set(book.deployments) | {head}
    unknown = [d for d in listed if d.sha not in known and d.id not in known_ids]
    if known_ids:
        unknown = [d for d in unknown if d.id > min(known_ids)]
    newest = sorted(unknown, key=lambda d: d.id)[-(MAX_REMEMBERED - 1) :]
    return _one_per_commit(newest)


def _one_per_commit(deployments: list[Deployment]) -> list[Deployment]:
    by_sha = {d.sha: d for d in deployments}  # ascending ids: the newest of a commit wins
    return sorted(by_sha.values(), key=lambda d: d.id)
