"""Flows: the Environment CR primitives: targets, create/move, delete, conflict-safe updates.

`update_environment(kube, namespace, name, mutate)` is the one read-modify-write of a CR: a
conflict (409) reads it again and asks `mutate` again. `apply_target` creates the CR or moves it
to the target's head (with its GitHub deployment); the newest head wins and a commit already
superseded on this Environment never comes back. `delete_target` deletes the CR, keeping its
bookkeeping for the teardown. Publishing to GitHub is the callers' job (`workers.admission`).

Multi-source Projects: `spec.sources[0]` is the target's own source (the PR's repository at the
PR head, or the tracked branch's head); every other Project source follows, at the head of its
`branch` resolved through the GitHub API when the Environment is written (`resolve_heads`), and
again on a push to that branch (`follow_branch`) and on every resync. A source whose branch or
repository cannot be read gets no entry: it is named, with the reason, in the
`catalyst.dev/unresolved-sources` annotation, and the reconciler reports it as a condition when
a template or build needs it; it is never built at another source's commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from core import naming
from core.clients.github import GitHubInstallation
from core.clients.kube import EnvironmentStore
from core.errors import Conflict, PermanentError, TemporaryError
from core.github_values import PullRequest
from core.model import (
    Environment,
    EnvironmentSource,
    EnvironmentType,
    GitHubRef,
    Project,
    ProjectSource,
)
from core.previews import new_environment, unresolved_sources
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
    """The preview Environment of a pull request (`naming.preview_environment_name`)."""
    name = naming.preview_environment_name(project, repository, pr.number)
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
    """Create the Environment or move it to `target.sha`, with its GitHub deployment; the
    Project's other sources go to the heads of their branches as GitHub has them now."""
    heads = await resolve_heads(gh, other_sources(target.project, target.source.name))

    async def mutate(current: Environment | None) -> Environment | None:
        return await _moved_or_new(ctx, gh, target, current, heads)

    env = await update_environment(ctx.kube, target.namespace, target.name, mutate)
    assert env is not None  # mutate creates an absent CR
    return env


async def _moved_or_new(
    ctx: Context,
    gh: GitHubInstallation,
    target: Target,
    current: Environment | None,
    heads: SourceHeads,
) -> Environment | None:
    if current is not None and current.metadata.deletion_timestamp:
        # A reopened PR waits until the reconciler has finished the old teardown.
        raise TemporaryError(f"{target.name} is still being torn down", delay=DELETING_RETRY_DELAY)
    book = _bookkeeping(current, target)
    if current is not None and not _moves_forward(current, book, target.sha):
        # The head stays; another source's branch may have moved (no new GitHub deployment).
        return refreshed(current, target.project, heads)
    book.deployments[target.sha] = await ensure_deployment(ctx, gh, target_to_ref(target), book)
    if current is None:
        await forget_teardown(ctx.redis, target.namespace, target.name)
        return _new_environment(target, book, heads)
    return _moved_environment(current, target, book, heads)


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


def _new_environment(target: Target, book: Bookkeeping, heads: SourceHeads) -> Environment:
    env = new_environment(
        project=target.project,
        name=target.name,
        type=target.type,
        source=_source(target),
        repository=target.repository,
        installation_id=target.installation_id,
    )
    book.apply_to(env)
    with_other_sources(env, target.project, heads)
    return env


def _moved_environment(
    current: Environment, target: Target, book: Bookkeeping, heads: SourceHeads
) -> Environment:
    env = current.model_copy(deep=True)
    old = env.primary_source.commit_sha
    if old != target.sha and old not in book.superseded:
        book.superseded.append(old)
    env.spec.sources = [_source(target), *env.spec.sources[1:]]
    env.spec.github = GitHubRef(
        installation_id=target.installation_id, repository=target.repository
    )
    book.apply_to(env)
    with_other_sources(env, target.project, heads)
    return env


def _source(target: Target) -> EnvironmentSource:
    return EnvironmentSource(
        name=target.source.name,
        commit_sha=target.sha,
        branch=target.branch,
        pr_number=target.pr_number,
        fork=target.fork,
    )


# --- the other sources of a multi-source Project ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceHeads:
    """Project sources at the heads of their branches, and why the others could not be read."""

    commits: dict[str, EnvironmentSource] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def other_sources(project: Project, own: str) -> list[ProjectSource]:
    """The Project's sources besides the Environment's own (named `own`), in Project order."""
    return [s for s in project.spec.sources if s.name != own]


async def resolve_heads(gh: GitHubInstallation, sources: Iterable[ProjectSource]) -> SourceHeads:
    """Each source at the commit its branch points at now, read with the installation's token.

    A missing branch or repository, or one the App may not read, is a problem to report, not an
    error: the Environment is written without that source. GitHub being down or rate limiting
    raises (the task retries).
    """
    heads = SourceHeads()
    for source in sources:
        found = await _head_of(gh, source)
        if isinstance(found, str):
            heads.problems[source.name] = found
        else:
            heads.commits[source.name] = found
    return heads


async def _head_of(gh: GitHubInstallation, source: ProjectSource) -> EnvironmentSource | str:
    repository = naming.repository_slug(source.repository_url)
    if repository is None:
        return f"source {source.name!r}: {source.repository_url!r} is not a GitHub repository"
    try:
        sha = await gh.branch_head(repository, source.branch)
    except PermanentError as exc:  # e.g. 403: the installation may not read that repository
        return f"source {source.name!r}: GitHub refused to read {repository}: {exc}"
    if sha is None:
        return (
            f"source {source.name!r}: branch {source.branch!r} of {repository} was not found "
            "(deleted or renamed, or the repository is not in the App's installation)"
        )
    return EnvironmentSource(name=source.name, commit_sha=sha, branch=source.branch)


def with_other_sources(env: Environment, project: Project, heads: SourceHeads) -> None:
    """Set the entries after `env`'s own source from `heads`, in Project order.

    A source `heads` does not cover keeps its entry; one it could not resolve loses it and is
    named in the unresolved-sources annotation; sources gone from the Project are dropped.
    """
    own, kept = env.spec.sources[0], {s.name: s for s in env.spec.sources[1:]}
    problems = unresolved_sources(env)
    others: list[EnvironmentSource] = []
    for source in other_sources(project, own.name):
        if source.name in heads.commits:
            others.append(heads.commits[source.name])
            problems.pop(source.name, None)
        elif source.name in heads.problems:
            problems[source.name] = heads.problems[source.name]
        elif source.name in kept:
            others.append(kept[source.name])
    env.spec.sources = [own, *others]
    names = {s.name for s in other_sources(project, own.name)}
    _set_unresolved(env, {k: v for k, v in problems.items() if k in names})


def refreshed(current: Environment, project: Project, heads: SourceHeads) -> Environment | None:
    """A copy of `current` with its other sources from `heads`; None when nothing changes."""
    env = current.model_copy(deep=True)
    with_other_sources(env, project, heads)
    same = env.spec.sources == current.spec.sources
    return None if same and env.metadata.annotations == current.metadata.annotations else env


def _set_unresolved(env: Environment, problems: dict[str, str]) -> None:
    notes = dict(env.metadata.annotations or {})
    notes.pop(naming.ANNOTATION_UNRESOLVED_SOURCES, None)
    if problems:
        notes[naming.ANNOTATION_UNRESOLVED_SOURCES] = json.dumps(problems, sort_keys=True)
    env.metadata.annotations = notes or None


async def follow_branch(
    ctx: Context, gh: GitHubInstallation, project: Project, source: ProjectSource
) -> list[str]:
    """Move `source` to its branch's head in every Environment of `project` that builds it as
    another source (a push to that branch); returns the names of the Environments changed."""
    heads = await resolve_heads(gh, [source])
    namespace = naming.project_namespace(
        project.metadata.namespace or "default", project.metadata.name
    )
    changed = []
    for env in ctx.kube.list_environments(namespace):
        if env.spec.project_ref.name != project.metadata.name:
            continue
        if env.primary_source.name == source.name or env.metadata.deletion_timestamp:
            continue
        if await _follow(ctx, namespace, env.metadata.name, project, heads):
            changed.append(env.metadata.name)
    return changed


async def _follow(
    ctx: Context, namespace: str, name: str, project: Project, heads: SourceHeads
) -> bool:
    wrote = False

    async def mutate(current: Environment | None) -> Environment | None:
        nonlocal wrote
        if current is None or current.metadata.deletion_timestamp:
            return None
        updated = refreshed(current, project, heads)
        wrote = updated is not None
        return updated

    await update_environment(ctx.kube, namespace, name, mutate)
    return wrote


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
