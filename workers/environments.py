"""Flows: the Environment CR primitives: targets, create/move, delete, conflict-safe updates.

`update_environment(kube, namespace, name, mutate)` is the one read-modify-write of a CR: a
conflict (409) reads it again and asks `mutate` again. `apply_target` creates the CR or moves it
to the target's head (with its GitHub deployment); the newest head wins and a commit already
superseded on this Environment never comes back. `delete_target` deletes the CR, keeping its
bookkeeping for the teardown. Publishing to GitHub is the callers' job (`workers.admission`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core import naming
from core.clients.github import GitHubInstallation
from core.clients.kube import EnvironmentStore
from core.errors import Conflict, TemporaryError
from core.github_values import PullRequest
from core.model import (
    Environment,
    EnvironmentSource,
    EnvironmentSpec,
    EnvironmentType,
    GitHubRef,
    ObjectMeta,
    Project,
    ProjectRef,
    ProjectSource,
)
from workers.bookkeeping import Bookkeeping, TeardownRecord
from workers.context import Context
from workers.deployments import DeploymentRef, ensure_deployment
from workers.teardowns import forget_teardown, save_teardown

log = logging.getLogger("catalyst.worker.environments")

CONFLICT_ATTEMPTS = 5
DELETING_RETRY_DELAY = 15.0


@dataclass(frozen=True, slots=True)
class Target:
    """One Environment as the flows want it to be."""

    project: Project
    source: ProjectSource
    name: str
    type: EnvironmentType
    sha: str
    branch: str
    repository: str
    installation_id: int
    pr_number: int | None = None
    fork: bool = False
    github_environment: str = ""

    @property
    def team(self) -> str:
        """The team: the namespace the Project lives in."""
        return self.project.metadata.namespace or "default"

    @property
    def namespace(self) -> str:
        """The project namespace the Environment lives in."""
        return naming.project_namespace(self.team, self.project.metadata.name)


def pr_target(
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
    *,
    repository: str,
    installation_id: int,
) -> Target:
    """The preview Environment `pr-<n>` for a pull request."""
    name = naming.environment_name(pr.number)
    return Target(
        project,
        source,
        name,
        "development",
        pr.head_sha,
        pr.head_ref,
        repository,
        installation_id,
        pr.number,
        pr.is_fork,
        naming.github_environment(project.metadata.name, name),
    )


# --- the one read-modify-write -------------------------------------------------------------------

# What an Environment should become, from the CR as stored now (None: absent); None: leave it.
Mutate = Callable[[Environment | None], Awaitable[Environment | None]]


async def update_environment(
    kube: EnvironmentStore, namespace: str, name: str, mutate: Mutate
) -> Environment | None:
    """Read the CR, write what `mutate` makes of it (create when absent); a 409 starts over.

    Returns the CR as written, or as stored when `mutate` leaves it alone.
    """
    for attempt in range(CONFLICT_ATTEMPTS):
        current = kube.get_environment(namespace, name)
        desired = await mutate(current)
        if desired is None:
            return current
        try:
            if current is None:
                return kube.create_environment(desired)
            return kube.replace_environment(desired)
        except Conflict:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# --- create, move, delete ------------------------------------------------------------------------


async def apply_target(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    """Create the Environment or move it to `target.sha`, with its GitHub deployment."""

    async def mutate(current: Environment | None) -> Environment | None:
        return await _moved_or_new(ctx, gh, target, current)

    env = await update_environment(ctx.kube, target.namespace, target.name, mutate)
    assert env is not None  # mutate creates an absent CR
    return env


async def _moved_or_new(
    ctx: Context, gh: GitHubInstallation, target: Target, current: Environment | None
) -> Environment | None:
    if current is not None and current.metadata.deletion_timestamp:
        # A reopened PR waits until the reconciler has finished the old teardown.
        raise TemporaryError(f"{target.name} is still being torn down", delay=DELETING_RETRY_DELAY)
    book = _bookkeeping(current, target)
    if current is not None and not _moves_forward(current, book, target.sha):
        return None
    book.deployments[target.sha] = await ensure_deployment(ctx, gh, target_to_ref(target), book)
    if current is None:
        await forget_teardown(ctx.redis, target.namespace, target.name)
        return _new_environment(target, book)
    return _moved_environment(current, target, book)


def _bookkeeping(current: Environment | None, target: Target) -> Bookkeeping:
    if current is None:
        return Bookkeeping(github_environment=target.github_environment)
    return Bookkeeping.of(current, default_environment=target.github_environment)


def _moves_forward(current: Environment, book: Bookkeeping, sha: str) -> bool:
    """False when `sha` is already the head or was superseded here (an out-of-order event)."""
    head = current.primary_source.commit_sha
    if sha == head:
        return sha not in book.deployments
    return sha not in book.superseded


def target_to_ref(target: Target) -> DeploymentRef:
    """What creating a GitHub deployment for `target` needs."""
    return DeploymentRef(
        repository=target.repository,
        sha=target.sha,
        environment=target.github_environment,
        transient=target.type == "development",
        namespace=target.namespace,
        name=target.name,
    )


def _new_environment(target: Target, book: Bookkeeping) -> Environment:
    labels = naming.standard_labels(target.team, target.project.metadata.name, target.name)
    if target.type == "deployment":
        labels[naming.LABEL_BRANCH] = naming.sanitize_label_value(target.branch)
    env = Environment(
        metadata=ObjectMeta(name=target.name, namespace=target.namespace, labels=labels),
        spec=EnvironmentSpec(
            project_ref=ProjectRef(name=target.project.metadata.name),
            type=target.type,
            sources=[_source(target)],
            github=GitHubRef(installation_id=target.installation_id, repository=target.repository),
        ),
    )
    book.apply_to(env)
    return env


def _moved_environment(current: Environment, target: Target, book: Bookkeeping) -> Environment:
    env = current.model_copy(deep=True)
    old = env.primary_source.commit_sha
    if old != target.sha and old not in book.superseded:
        book.superseded.append(old)
    env.spec.sources = [_source(target), *env.spec.sources[1:]]
    env.spec.github = GitHubRef(
        installation_id=target.installation_id, repository=target.repository
    )
    book.apply_to(env)
    return env


def _source(target: Target) -> EnvironmentSource:
    return EnvironmentSource(
        name=target.source.name,
        commit_sha=target.sha,
        branch=target.branch,
        pr_number=target.pr_number,
        fork=target.fork,
    )


# --- delete ------------------------------------------------------------------------------------


async def delete_target(ctx: Context, gh: GitHubInstallation, target: Target) -> None:
    """Delete the CR, keeping its bookkeeping in Redis for the teardown (absent: nothing to do)."""
    current = ctx.kube.get_environment(target.namespace, target.name)
    if current is None:
        return
    book = Bookkeeping.of(current, default_environment=target.github_environment)
    record = TeardownRecord(
        target.repository,
        gh.installation_id,
        target.project.metadata.name,
        target.pr_number,
        current.primary_source.commit_sha,
        book.__dict__.copy(),
    )
    await save_teardown(ctx.redis, target.namespace, target.name, record)
    ctx.kube.delete_environment(target.namespace, target.name)
