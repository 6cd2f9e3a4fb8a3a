"""Flows: the periodic resync (beat): converge every onboarded repository to GitHub's truth.

For each Project source: open PRs get their preview (missed webhooks), previews of PRs no longer
open are torn down, tracked branches (of the primary source) are converged, and every
Environment's GitHub projection is refreshed (a no-op when nothing changed). Converging an
Environment resolves the Project's other sources to their branch heads again, so a missed push to
another source's branch is caught up here too. Teardowns whose final publish was lost (the enqueue
failed as the finalizer went, or GitHub was down through every retry) are finished from their
pending-teardown record. Then GitHub's failed webhook deliveries are redelivered, each at most once.
"""

from __future__ import annotations

import logging

from core import naming
from core.clients.github import GitHubInstallation
from core.errors import CatalystError
from core.github_values import PullRequest
from core.model import Project, ProjectSource
from core.policy import is_idle_expired
from workers import admission, statuses
from workers.context import Context
from workers.environments import pr_target
from workers.projects import installation_id_of
from workers.teardowns import pending_teardowns
from workers.tracked import converge_tracked

log = logging.getLogger("catalyst.worker.resync")
REDELIVERED_TTL = 30 * 24 * 3600


async def resync(ctx: Context) -> None:
    """One full pass; one repository's failure is logged and does not stop the others."""
    ctx.projects.refresh()
    seen: set[tuple[str | None, str, str]] = set()
    for project, source, repository in ctx.projects.all():
        key = (project.metadata.namespace, project.metadata.name, repository)
        if key in seen:
            continue  # a second source of the same repository: its PRs are the first one's
        seen.add(key)
        try:
            await resync_repository(ctx, project, source, repository)
        except CatalystError as exc:
            log.warning(
                "resync of %s for project %s failed: %s", repository, project.metadata.name, exc
            )
    await repair_lost_teardowns(ctx)
    await redeliver_failed_deliveries(ctx)


async def repair_lost_teardowns(ctx: Context) -> int:
    """Finish GitHub's side of every recorded teardown whose Environment is gone; how many."""
    repaired = 0
    for namespace, name in await pending_teardowns(ctx.redis):
        if ctx.kube.get_environment(namespace, name) is not None:
            continue  # still being torn down: its own publishes will finish it
        try:
            await statuses.publish_status(ctx, namespace, name)
            repaired += 1
        except CatalystError as exc:
            log.warning("finishing the teardown of %s/%s failed: %s", namespace, name, exc)
    return repaired


async def resync_repository(
    ctx: Context, project: Project, source: ProjectSource, repository: str
) -> None:
    """Converge one Project source's previews, tracked branches and statuses."""
    gh = ctx.github.installation(await installation_id_of(ctx.github, project, repository))
    open_prs = await gh.list_open_pulls(repository)
    for pr in open_prs:
        await admission.converge(ctx, gh, project, source, pr, repository)
    await expire_idle_previews(ctx, gh, project, source, repository, open_prs)
    await _teardown_closed(ctx, gh, project, source, repository, {pr.number for pr in open_prs})
    if source != project.primary_source:
        return  # tracked branches are the primary source's (`workers.tracked`)
    for tracked in project.spec.tracked_branches or []:
        await converge_tracked(ctx, gh, project, source, tracked, repository=repository)


async def expire_idle_previews(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    repository: str,
    open_prs: list[PullRequest],
) -> int:
    """Suspend previews of PRs idle longer than the Project's `previews.ttl`; returns how many.

    Activity is GitHub's `updated_at` of the PR (pushes, comments, labels), so it survives a Redis
    flush. A suspended preview comes back on the next push or `/catalyst deploy`, as after
    `/catalyst teardown`; its freed slot goes to the longest-waiting PR.
    """
    ttl, now = project.spec.previews.ttl, ctx.github.clock.time()
    expired = [pr for pr in open_prs if is_idle_expired(ttl, last_activity=pr.updated_at, now=now)]
    suspended = 0
    for pr in expired:
        target = pr_target(
            project, source, pr, repository=repository, installation_id=gh.installation_id
        )
        env = ctx.kube.get_environment(target.namespace, target.name)
        if env is None or env.spec.suspended or env.metadata.deletion_timestamp:
            continue
        log.info("%s#%s idle longer than %s: suspending its preview", repository, pr.number, ttl)
        await statuses.publish_environment(ctx, gh, await admission.mark(ctx, env, suspended=True))
        suspended += 1
    if suspended:
        await admission.admit_waiting(ctx, gh, project, source, repository=repository)
    return suspended


async def _teardown_closed(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    repository: str,
    open_numbers: set[int],
) -> None:
    namespace = naming.project_namespace(
        project.metadata.namespace or "default", project.metadata.name
    )
    for env in ctx.kube.list_environments(namespace):
        number = env.primary_source.pr_number
        if env.spec.type != "development" or number is None or number in open_numbers:
            continue
        if env.spec.github is None or env.spec.github.repository.lower() != repository.lower():
            continue
        if env.metadata.deletion_timestamp:
            await statuses.publish_status(ctx, namespace, env.metadata.name)
            continue
        pr = await gh.get_pull(repository, number)
        await admission.converge(ctx, gh, project, source, pr, repository)


async def redeliver_failed_deliveries(ctx: Context) -> int:
    """Ask GitHub to redeliver each failed delivery once (by GUID); returns how many."""
    count = 0
    for delivery in await ctx.github.failed_deliveries():
        guid = str(delivery.get("guid") or delivery.get("id"))
        if await ctx.redis.set(f"catalyst:redelivered:{guid}", "1", nx=True, ex=REDELIVERED_TTL):
            await ctx.github.redeliver(int(delivery["id"]))
            count += 1
    return count
