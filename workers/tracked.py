"""Flows: tracked branches (e.g. `main` → `staging`), kept deployed as `deployment` Environments.

A push is only a hint: the branch head is refetched from GitHub (pushes arrive out of order) and
the Environment named after the tracked environment converges to it. A deleted branch tears it
down. Deployments go to the named GitHub environment, non-transient.

Tracked branches are branches of the Project's primary (first) source: a push to a same-named
branch of another source's repository never moves them (nor makes that source their primary).
A push to the `branch` another source follows moves that source, in every Environment of the
Project that builds it as another source, to the new head (`follow_branch`): tracked
Environments and previews of pull requests of the other repositories alike.
"""

from __future__ import annotations

from core import naming
from core.clients.github import GitHubInstallation
from core.jobs import PushJob
from core.model import Project, ProjectSource, TrackedBranch
from workers.admission import teardown_environment, upsert_environment
from workers.context import Context
from workers.environments import Target, follow_branch


def tracked_target(
    project: Project,
    source: ProjectSource,
    tracked: TrackedBranch,
    *,
    sha: str,
    repository: str,
    installation_id: int,
) -> Target:
    """The `deployment` Environment that follows `tracked.branch`."""
    name = naming.hashed_name(tracked.environment)
    return Target(
        project,
        source,
        name,
        "deployment",
        sha,
        tracked.branch,
        repository,
        installation_id,
        github_environment=tracked.environment,
    )


def tracked_branches(project: Project, branch: str) -> list[TrackedBranch]:
    """The Project's tracked entries for `branch`."""
    return [t for t in project.spec.tracked_branches or [] if t.branch == branch]


async def handle_push(ctx: Context, job: PushJob) -> None:
    """A push (or branch deletion): converge every tracked Environment of that branch, and move
    the pushed source wherever another Environment follows that branch."""
    gh = ctx.github.installation(job.installation_id)
    for project, source in ctx.projects.for_repository(job.repository):
        if source == project.primary_source:
            for tracked in tracked_branches(project, job.branch):
                await converge_tracked(ctx, gh, project, source, tracked, repository=job.repository)
        if source.branch == job.branch:
            await follow_branch(ctx, gh, project, source)


async def converge_tracked(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    tracked: TrackedBranch,
    *,
    repository: str,
) -> None:
    """Move the tracked Environment to the branch head, or tear it down if the branch is gone."""
    head = await gh.branch_head(repository, tracked.branch)
    target = tracked_target(
        project,
        source,
        tracked,
        sha=head or "0" * 40,
        repository=repository,
        installation_id=gh.installation_id,
    )
    if head is None:
        await teardown_environment(ctx, gh, target)
    else:
        await upsert_environment(ctx, gh, target)
