"""Flows: our check run's Redeploy / Rebuild buttons and Re-run (the TASK_CHECK_ACTION task).

A button press or Re-run is checked like the comment command it stands for (`redeploy` or
`rebuild`, the Project's permission levels, the collaborator-permission API), and only acts on
the preview of the commit it was pressed on: an old commit's run moves nothing. A refusal gets
one PR reply, except for users below read access, who get no App write at all. The effect is
the command's: a nonce on the Environment (`workers.rollouts`), derived from the delivery id so
a retried task asks for one rollout.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from core import checks, jobs, naming
from core.clients.github import GitHubInstallation
from core.model import Environment, Project
from core.policy import has_permission, is_bot, required_permission
from workers import commands, rollouts
from workers.celery_app import app, worker_settings
from workers.context import Context
from workers.tasks import run_flow

log = logging.getLogger("catalyst.worker.check_actions")


async def handle_check_action(
    ctx: Context, job: jobs.CheckActionJob, *, app_slug: str | None
) -> None:
    """Apply one button press or Re-run to the previews it names."""
    verb = checks.ACTION_VERBS.get(
        job.identifier if job.action == "requested_action" else job.action
    )
    if verb is None or is_bot(job.sender, job.sender_type, app_slug):
        return
    gh = ctx.github.installation(job.installation_id)
    for project, env in _previews(ctx, job):
        await _apply(ctx, gh, job, project, env, verb=verb)


def _previews(ctx: Context, job: jobs.CheckActionJob) -> list[tuple[Project, Environment]]:
    """The (Project, Environment) pairs the run or suite reports on, at the pressed commit."""
    named = checks.parse_external_id(job.external_id)
    found: list[tuple[Project, Environment]] = []
    for project, _source in ctx.projects.pull_request_sources(job.repository):
        namespace = naming.project_namespace(
            project.metadata.namespace or "default", project.metadata.name
        )
        names = [named[1]] if named and named[0] == namespace else []
        if not named:
            names = [
                naming.preview_environment_name(project, job.repository, n) for n in job.pr_numbers
            ]
        for name in names:
            env = ctx.kube.get_environment(namespace, name)
            if env is not None and env.primary_source.commit_sha == job.head_sha:
                found.append((project, env))
    return found


async def _apply(
    ctx: Context,
    gh: GitHubInstallation,
    job: jobs.CheckActionJob,
    project: Project,
    env: Environment,
    *,
    verb: rollouts.Request,
) -> None:
    required = required_permission(verb, project.spec.previews)
    actual = await commands.permission_of(ctx, gh, job.repository, job.sender)
    if not has_permission(actual, required):
        await _refuse(ctx, gh, job, env, verb=verb, required=required, actual=actual)
        return
    if not rollouts.can_request(env):
        log.info("%s pressed on %s, which is not running", verb, env.metadata.name)
        return
    nonce = f"check-{job.delivery_id}"
    await rollouts.request_rollout(ctx, gh, env, what=verb, nonce=nonce)


async def _refuse(
    ctx: Context,
    gh: GitHubInstallation,
    job: jobs.CheckActionJob,
    env: Environment,
    *,
    verb: str,
    required: str,
    actual: str,
) -> None:
    number = env.primary_source.pr_number
    if number is None or not has_permission(actual, "read"):
        return  # below read access: not a word from the App
    text = (
        f"@{job.sender} the check run's **{verb}** needs **{required}** access to "
        f"{job.repository}; your access is **{actual}**, so nothing was changed."
    )
    await commands.once(
        ctx,
        f"check-refused:{job.repository}:{job.delivery_id}:{env.metadata.name}",
        lambda: gh.create_comment(job.repository, number, text),
    )


@app.task(name=jobs.TASK_CHECK_ACTION, bind=True, acks_late=True)
def check_action_task(self: Task[Any, Any], /, **kwargs: Any) -> None:
    """Apply one check run button press or Re-run."""
    job = jobs.CheckActionJob.from_kwargs(kwargs)
    slug = worker_settings().github_app_slug
    run_flow(self, jobs.TASK_CHECK_ACTION, lambda ctx: handle_check_action(ctx, job, app_slug=slug))
