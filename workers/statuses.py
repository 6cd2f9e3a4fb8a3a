"""Flows: project an Environment onto GitHub (deployment statuses and the sticky comment).

`publish_status` is what the reconciler triggers on every status change (and resync on a
schedule). It re-derives the head commit's state from the CR, posts it only when GitHub does not
already show it, never posts for a superseded commit, and sets older commits `inactive` once the
head is `success` (those that never got a status too, and strays GitHub lists that no CR
recorded, see `workers.deployments`). When the CR is gone it finishes teardown: every deployment
`inactive`, deleted with the environment when the App has Administration write, and the comment
says so.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from core import checks, naming, projection
from core.clients.budget import WriteKind
from core.clients.github import GitHubInstallation
from core.errors import NotFound, TemporaryError, WriteDeferred
from core.model import Environment, Project
from workers import checkruns, comments, locks
from workers.bookkeeping import Bookkeeping, TeardownRecord
from workers.context import Context
from workers.deployments import DeploymentRef, ensure_deployment
from workers.environments import update_environment
from workers.projects import installation_id_of
from workers.teardowns import forget_teardown, load_teardown

log = logging.getLogger("catalyst.worker.statuses")
PUBLISH_LOCK = locks.LockSpec(ttl=10.0, wait=3.0, retry_delay=2.0)
MARKER_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class TeardownHint:
    """What a caller knows about a deleted Environment (used when Redis lost the record)."""

    repository: str
    installation_id: int
    project: str
    pr_number: int | None
    github_environment: str
    final: bool = False  # sent as the reconciler releases the CR: wait for it to go


async def publish_status(
    ctx: Context,
    namespace: str,
    name: str,
    *,
    hint: TeardownHint | None = None,
    follow_up: bool = False,
) -> None:
    """Converge GitHub to the Environment `namespace/name` (or to its absence).

    A `follow_up` (a later publish for put-off progress writes, `workers.followups`) of an
    Environment that is gone does nothing: finishing its teardown is the reconciler's publish.
    Raises `LockBusy` (a TemporaryError) when another worker keeps publishing it too long.
    """
    async with _publishing(ctx, namespace, name) as verify:
        env = ctx.kube.get_environment(namespace, name)
        if (env is None or _released(env)) and follow_up:
            return
        if env is None or _released(env):
            await finish_teardown(ctx, namespace, name, hint=hint)
            return
        if hint is not None and hint.final:
            # Queued just before the finalizer is dropped: retry until the CR is released.
            raise TemporaryError(f"Environment {namespace}/{name} is not released yet")
        if env.spec.github is None:
            log.info(
                "Environment %s/%s has no GitHub reference: nothing to publish", namespace, name
            )
            return
        gh = ctx.github.installation(env.spec.github.installation_id)
        await _publish_fresh(ctx, gh, env, verify=verify)


def _released(env: Environment) -> bool:
    """Deleting and no longer held by the reconciler (another controller's finalizer may stay)."""
    finalizers = env.metadata.finalizers or []
    return bool(env.metadata.deletion_timestamp) and naming.FINALIZER not in finalizers


async def publish_environment(ctx: Context, gh: GitHubInstallation, env: Environment) -> None:
    """Post the head commit's state and refresh the comment; save bookkeeping if it changed.

    Raises `LockBusy` (a TemporaryError) when another worker keeps publishing it too long.
    """
    namespace, name = env.metadata.namespace or "", env.metadata.name
    async with _publishing(ctx, namespace, name) as verify:
        await _publish_fresh(ctx, gh, env, verify=verify)


@asynccontextmanager
async def _publishing(ctx: Context, namespace: str, name: str) -> AsyncIterator[bool]:
    """One publisher per Environment at a time; yields whether bookkeeping may be stale.

    Publishing reads the bookkeeping, writes to GitHub, then saves the bookkeeping: two runs at
    once would both see the old state and both post the new one. A marker set for the run and
    cleared once it saved outlives a publisher killed in between, and tells the next one to ask
    GitHub before each write instead of trusting the bookkeeping.
    """
    marker = f"catalyst:publishing:{namespace}/{name}"
    async with locks.renewed_lock(ctx.redis, f"catalyst:publish:{namespace}/{name}", PUBLISH_LOCK):
        stale = bool(await ctx.redis.set(marker, "1", ex=MARKER_SECONDS, get=True))
        yield stale
        await ctx.redis.delete(marker)


async def _publish_fresh(
    ctx: Context, gh: GitHubInstallation, env: Environment, *, verify: bool
) -> None:
    """Publish from the CR as stored now, retrying a save that lost a race.

    The CR is read again first: a caller's copy may predate bookkeeping another step saved, and
    stale bookkeeping would repeat writes GitHub already shows. A lost save keeps what this run
    already told GitHub (the reconciler writing status meanwhile must not make us repeat it).
    """
    namespace, name = env.metadata.namespace or "", env.metadata.name
    told: dict[str, str] = {}  # bookkeeping this run changed but has not saved yet
    lost: list[tuple[Environment, Bookkeeping]] = []  # the attempt whose save lost the race

    async def mutate(fresh: Environment | None) -> Environment | None:
        if lost:
            told.update(_changed(*lost.pop()))
        if fresh is None:
            return None
        book = await _publish_once(ctx, gh, _with_told(fresh, told), verify=verify)
        lost.append((fresh, book))
        return _saved(fresh, book)

    await update_environment(ctx.kube, namespace, name, mutate)


async def _publish_once(
    ctx: Context, gh: GitHubInstallation, env: Environment, *, verify: bool
) -> Bookkeeping:
    book = Bookkeeping.of(env, default_environment=_default_environment(env))
    if not env.metadata.deletion_timestamp:
        await _publish_deployment(ctx, gh, env, book, verify=verify)
        await _or_later(ctx, env, checkruns.sync_check_runs(ctx, gh, env, book, verify=verify))
    else:
        await _retire_check_runs(gh, env, book)
    await _or_later(ctx, env, comments.sync_environment_comment(ctx, gh, env, book, verify=verify))
    return book


async def _or_later(ctx: Context, env: Environment, step: Awaitable[None]) -> None:
    """Run a publishing step; a progress write it put off makes the task publish again later.

    The bookkeeping keeps what was written, so the later run writes only what is still missing.
    """
    try:
        await step
    except WriteDeferred as exc:
        ctx.follow_ups.note(env.metadata.namespace or "", env.metadata.name, exc.delay or 1.0)


async def _retire_check_runs(gh: GitHubInstallation, env: Environment, book: Bookkeeping) -> None:
    assert env.spec.github is not None
    await checkruns.retire_check_runs(
        gh,
        env.spec.github.repository,
        book,
        name=checks.check_name(env.spec.project_ref.name),
        ext_id=checks.external_id(env.metadata.namespace or "", env.metadata.name),
    )


def _with_told(env: Environment, told: dict[str, str]) -> Environment:
    if not told:
        return env
    updated = env.model_copy(deep=True)
    updated.metadata.annotations = {**(env.metadata.annotations or {}), **told}
    return updated


def _changed(env: Environment, book: Bookkeeping) -> dict[str, str]:
    stored = env.metadata.annotations or {}
    return {k: v for k, v in book.annotations().items() if stored.get(k) != v}


def _default_environment(env: Environment) -> str:
    if env.spec.type == "development":
        return naming.github_environment(env.spec.project_ref.name, env.metadata.name)
    return env.metadata.name


def _saved(env: Environment, book: Bookkeeping) -> Environment | None:
    """`env` with the bookkeeping written onto it, or None when it already carries it."""
    updated = env.model_copy(deep=True)
    return updated if book.apply_to(updated) else None


async def _publish_deployment(
    ctx: Context, gh: GitHubInstallation, env: Environment, book: Bookkeeping, *, verify: bool
) -> None:
    assert env.spec.github is not None
    repository = env.spec.github.repository
    wanted = projection.project_status(env, log_url_template=ctx.log_url_template)
    ref = DeploymentRef(
        repository,
        wanted.sha,
        book.github_environment,
        env.spec.type == "development",
        env.metadata.namespace or "",
        env.metadata.name,
    )
    book.deployments[wanted.sha] = await ensure_deployment(ctx, gh, ref, book)
    await _post_if_changed(gh, repository, book, wanted, verify=verify)
    if wanted.state == "success":
        await _inactivate_older(gh, repository, book, keep=wanted.sha, verify=verify)


async def _post_if_changed(
    gh: GitHubInstallation,
    repository: str,
    book: Bookkeeping,
    wanted: projection.StatusProjection,
    *,
    verify: bool,
) -> None:
    deployment_id = book.deployments[wanted.sha]
    # Nobody would see a `queued` that `in_progress` follows as soon as the reconciler picks the
    # commit up: it is a progress write, skipped (not put off) when the budget is at its reserve.
    kind = status_write_kind(wanted.state)
    if kind is WriteKind.PROGRESS and await gh.progress_wait() > 0:
        return
    shown = book.published.get(wanted.sha)
    if shown is None or (verify and shown != wanted.state):
        # Bookkeeping lost, or a publisher died between posting and saving: ask GitHub once.
        shown = await gh.latest_deployment_state(repository, deployment_id)
    if shown != wanted.state:
        try:
            await gh.create_deployment_status(
                repository,
                deployment_id,
                state=wanted.state,
                description=wanted.description,
                environment_url=wanted.environment_url,
                log_url=wanted.log_url,
                kind=kind,
            )
        except WriteDeferred:
            return
    book.published[wanted.sha] = wanted.state


def status_write_kind(state: str) -> WriteKind:
    """`queued` is progress, `in_progress` a commit's first status, the rest end a rollout."""
    if state == "queued":
        return WriteKind.PROGRESS
    return WriteKind.FIRST if state == "in_progress" else WriteKind.FINAL


async def _inactivate_older(
    gh: GitHubInstallation, repository: str, book: Bookkeeping, *, keep: str, verify: bool
) -> None:
    for sha, deployment_id in list(book.deployments.items()):
        if sha == keep or book.published.get(sha) == "inactive":
            continue
        # Nothing posted by us, or a stray adopted from GitHub's listing: ask what it shows.
        unknown = verify or sha not in book.published
        shown = await gh.latest_deployment_state(repository, deployment_id) if unknown else None
        if shown != "inactive":
            await _set_inactive(gh, repository, deployment_id, f"Superseded by {keep[:7]}")
        book.published[sha] = "inactive"


async def _set_inactive(
    gh: GitHubInstallation, repository: str, deployment_id: int, description: str
) -> None:
    try:
        await gh.create_deployment_status(
            repository, deployment_id, state="inactive", description=description
        )
    except NotFound:
        return


# --- teardown, once the CR is gone -----------------------------------------------------------


async def finish_teardown(
    ctx: Context, namespace: str, name: str, *, hint: TeardownHint | None
) -> None:
    """Inactivate (and, with Administration write, delete) every deployment; edit the comment."""
    record = await load_teardown(ctx.redis, namespace, name)
    facts = hint or _facts_from_record(record) or await _facts_from_projects(ctx, namespace, name)
    if facts is None:
        log.warning("Environment %s/%s is gone and no Project owns its namespace", namespace, name)
        return
    gh = ctx.github.installation(facts.installation_id)
    await _retire_deployments(gh, facts)
    if record is not None:
        name_of_check = checks.check_name(facts.project)
        ext_id = checks.external_id(namespace, name)
        await checkruns.retire_check_runs(
            gh,
            facts.repository,
            record.bookkeeping(),
            name=name_of_check,
            ext_id=ext_id,
            verify=True,
        )
    if facts.pr_number is not None:
        sha = record.sha if record else ""
        await comments.sync_torn_down_comment(
            ctx, gh, facts.repository, facts.pr_number, project=facts.project, sha=sha
        )
    # GitHub shows the teardown now: the record is no longer a pending repair for the resync.
    await forget_teardown(ctx.redis, namespace, name)


def _facts_from_record(record: TeardownRecord | None) -> TeardownHint | None:
    if record is None:
        return None
    return TeardownHint(
        record.repository,
        record.installation_id,
        record.project,
        record.pr_number,
        record.bookkeeping().github_environment,
    )


async def _facts_from_projects(ctx: Context, namespace: str, name: str) -> TeardownHint | None:
    """Rebuild the facts from the Project owning `namespace` (Redis was flushed)."""
    for project, _source, repository in ctx.projects.all():
        team = project.metadata.namespace or "default"
        if naming.project_namespace(team, project.metadata.name) != namespace:
            continue
        preview = naming.preview_of(project, name)
        # A preview's repository is the PR's; a tracked Environment's, the primary source's.
        repository = preview[0] if preview else naming.primary_repository(project) or repository
        installation_id = await installation_id_of(ctx.github, project, repository)
        number = preview[1] if preview else None
        environment = (
            naming.github_environment(project.metadata.name, name)
            if number is not None
            else _tracked_environment(project, name)
        )
        return TeardownHint(repository, installation_id, project.metadata.name, number, environment)
    return None


def _tracked_environment(project: Project, name: str) -> str:
    for tracked in project.spec.tracked_branches or []:
        if naming.hashed_name(tracked.environment) == name:
            return tracked.environment
    return name


async def _retire_deployments(gh: GitHubInstallation, facts: TeardownHint) -> None:
    # GitHub's own listing is the truth: it includes ids whose bookkeeping was lost and leaves
    # out the ones already deleted.
    listed = await gh.find_deployments(facts.repository, environment=facts.github_environment)
    ids = sorted(d.id for d in listed)
    for deployment_id in ids:
        if await gh.latest_deployment_state(facts.repository, deployment_id) != "inactive":
            await _set_inactive(gh, facts.repository, deployment_id, "Preview torn down")
    if (await gh.permissions()).get("administration") != "write":
        return
    for deployment_id in ids:
        await gh.delete_deployment(facts.repository, deployment_id)
    if ids:
        await gh.delete_environment(facts.repository, facts.github_environment)
