"""Flows: create, move and tear down Environment CRs for pull requests and tracked branches.

Level-triggered and idempotent: every flow refetches the PR (or branch) from GitHub, because
webhook payloads arrive out of order, and converges the CR to it. The newest head wins; a commit
already superseded on this Environment never comes back; a closed PR never gets a preview.
Conflicts (409) are retried on a fresh read. `converge_pull_request` is the entry point other
flows (comment commands, resync) call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core import naming
from core.clients.github import GitHubInstallation
from core.errors import Conflict, TemporaryError
from core.github_values import PullRequest
from core.jobs import PullRequestJob
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
from workers import statuses
from workers.bookkeeping import Bookkeeping, TeardownRecord, forget_teardown, save_teardown
from workers.context import Context
from workers.deployments import DeploymentRef, ensure_deployment

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


# --- entry points ------------------------------------------------------------------------------


async def handle_pull_request(ctx: Context, job: PullRequestJob) -> None:
    """A pull_request event: refetch the PR and converge every Project's Environment to it."""
    matches = ctx.projects.for_repository(job.repository)
    if not matches:
        return
    gh = ctx.github.installation(job.installation_id)
    pr = await gh.get_pull(job.repository, job.pr_number)
    for project, source in matches:
        await converge_pull_request(ctx, gh, project, source, pr, repository=job.repository)


async def converge_pull_request(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
    *,
    repository: str,
) -> Environment | None:
    """Preview an open PR the policy allows; tear down anything else. Safe to run twice."""
    if ctx.admission is not None:
        return await ctx.admission(ctx, gh, project, source, pr, repository)
    target = pr_target(
        project, source, pr, repository=repository, installation_id=gh.installation_id
    )
    decision = ctx.policy(project, pr) if pr.is_open else None
    if decision is None or not decision.preview:
        why = decision.reason if decision else "pull request is closed"
        log.info("no preview for %s#%s (%s): %s", repository, pr.number, target.name, why)
        await teardown_environment(ctx, gh, target)
        return None
    return await upsert_environment(ctx, gh, target)


async def upsert_environment(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    """Create or move the Environment to `target.sha`, with its deployment, then publish."""
    env = await _apply_with_retries(ctx, gh, target)
    await statuses.publish_environment(ctx, gh, env)
    return env


async def _apply_with_retries(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return await _apply_once(ctx, gh, target)
        except Conflict:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _apply_once(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    current = ctx.kube.get_environment(target.namespace, target.name)
    if current is not None and current.metadata.deletion_timestamp:
        # A reopened PR waits until the reconciler has finished the old teardown.
        raise TemporaryError(f"{target.name} is still being torn down", delay=DELETING_RETRY_DELAY)
    book = _bookkeeping(current, target)
    if current is not None and not _moves_forward(current, book, target.sha):
        return current
    book.deployments[target.sha] = await ensure_deployment(ctx, gh, target_to_ref(target), book)
    if current is None:
        await forget_teardown(ctx.redis, target.namespace, target.name)
        return ctx.kube.create_environment(_new_environment(target, book))
    return ctx.kube.replace_environment(_moved_environment(current, target, book))


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


# --- teardown ----------------------------------------------------------------------------------


async def teardown_environment(ctx: Context, gh: GitHubInstallation, target: Target) -> None:
    """Delete the CR (keeping its bookkeeping), or finish GitHub's side when it is gone."""
    current = ctx.kube.get_environment(target.namespace, target.name)
    if current is not None:
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
    await statuses.publish_status(ctx, target.namespace, target.name, hint=_hint(target))


def _hint(target: Target) -> statuses.TeardownHint:
    return statuses.TeardownHint(
        repository=target.repository,
        installation_id=target.installation_id,
        project=target.project.metadata.name,
        pr_number=target.pr_number,
        github_environment=target.github_environment,
    )


async def request_teardown(
    ctx: Context,
    *,
    installation_id: int,
    repository: str,
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
) -> None:
    """Tear a PR's preview down on request (comment command); a later push does not revive it
    unless the policy allows it again."""
    gh = ctx.github.installation(installation_id)
    target = pr_target(project, source, pr, repository=repository, installation_id=installation_id)
    await teardown_environment(ctx, gh, target)
