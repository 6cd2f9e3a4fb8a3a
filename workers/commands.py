"""Flows: `/catalyst` PR comment commands (the TASK_COMMENT task and its flow).

Order: ignore bots (ourselves first) → parse (core.commands) → 👀 reaction → per-verb permission
from GitHub's collaborator-permission API (cached briefly in Redis) → effect through the
Environment CR → at most one reply, only when a verb produces text (help, status, usage,
refusals). Effects are CR writes the reconciler acts on, so they survive restarts: new
`redeployNonce` / `rebuildNonce` values, `spec.suspended`, and the fork approval annotation.
Nonces derive from the comment id, so a retried task repeats the same request instead of
asking for a second rollout; Redis markers keep the reaction and the reply to one each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, assert_never

from celery import Task

from core import jobs, pods, projection
from core.clients.github import GitHubInstallation
from core.commands import (
    LOG_LINES_DEFAULT,
    Command,
    NotACommand,
    UsageReply,
    Verb,
    canonical_verb,
    echo,
    help_text,
    parse_comment,
)
from core.errors import Invalid, NotFound, PermanentError
from core.github_values import PullRequest, parse_timestamp
from core.model import Environment, Phase, Project, ProjectSource
from core.policy import (
    Action,
    command_permissions,
    has_permission,
    is_bot,
    required_permission,
)
from workers import admission, rollouts, statuses
from workers.celery_app import app, worker_settings
from workers.context import Context
from workers.environments import Target, pr_target
from workers.tasks import run_flow

log = logging.getLogger("catalyst.worker.commands")

REACTION = "eyes"
PERMISSION_TTL = 60
MARKER_TTL = 7 * 24 * 3600
# Commands per author per repository and per PR in RATE_WINDOW seconds; beyond, no App write.
AUTHOR_LIMIT = 10
PR_LIMIT = 20
RATE_WINDOW = 600


@dataclass(frozen=True, slots=True)
class Run:
    """One command about to run against one Project's preview of the PR."""

    ctx: Context
    gh: GitHubInstallation
    job: jobs.CommentJob
    command: Command
    project: Project
    source: ProjectSource
    pr: PullRequest
    target: Target


Effect = Callable[[Run], Awaitable[str | None]]


# --- entry point --------------------------------------------------------------------------------


async def handle_comment(ctx: Context, job: jobs.CommentJob, *, app_slug: str | None) -> None:
    """Run the commands of one newly created PR comment."""
    if is_bot(job.author, job.author_type, app_slug):
        return  # never answer a bot, least of all ourselves: two bots can never loop
    parsed = parse_comment(job.body)
    if isinstance(parsed, NotACommand):
        return
    matches = ctx.projects.pull_request_sources(job.repository)
    if not matches:
        return  # not onboarded: the App stays silent there
    gh = ctx.github.installation(job.installation_id)
    if not has_permission(await permission_of(ctx, gh, job.repository, job.author), "read"):
        return  # below read access: no App write at all (a flood costs nothing)
    if not await within_rate_limits(ctx, job):
        log.warning(
            "%s on %s#%s: command rate limit hit", job.author, job.repository, job.pr_number
        )
        return
    await once(ctx, f"reacted:{job.repository}:{job.comment_id}", lambda: _react(gh, job))
    if isinstance(parsed, UsageReply):
        await reply_once(ctx, gh, job, [parsed.text])
        return
    pr = await gh.get_pull(job.repository, job.pr_number)
    texts = [
        text
        for command in parsed.commands
        for project, source in matches
        if (text := await run_command(ctx, gh, job, command, project, source, pr))
    ]
    await reply_once(ctx, gh, job, texts)


async def run_command(
    ctx: Context,
    gh: GitHubInstallation,
    job: jobs.CommentJob,
    command: Command,
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
) -> str | None:
    """Check the author's permission, then apply one command; returns reply text, if any."""
    required = required_permission(command.verb, project.spec.previews)
    actual = await permission_of(ctx, gh, job.repository, job.author)
    if not has_permission(actual, required):
        return (
            f"`/catalyst {command.verb}` needs **{required}** access to {job.repository}; "
            f"your access is **{actual}**, so nothing was changed."
        )
    target = pr_target(
        project, source, pr, repository=job.repository, installation_id=job.installation_id
    )
    run = Run(ctx, gh, job, command, project, source, pr, target)
    return await effect_of(command.verb)(run)


async def permission_of(ctx: Context, gh: GitHubInstallation, repository: str, user: str) -> str:
    """The user's repository permission, cached for PERMISSION_TTL seconds."""
    key = f"catalyst:permission:{repository.lower()}:{user.lower()}"
    cached = await ctx.redis.get(key)
    if cached is not None:
        return cached.decode() if isinstance(cached, bytes) else str(cached)
    level = await gh.collaborator_permission(repository, user)
    await ctx.redis.set(key, level, ex=PERMISSION_TTL)
    return level


async def within_rate_limits(ctx: Context, job: jobs.CommentJob) -> bool:
    """False once the author or the PR sent too many commands in the window.

    Counted per comment once (a retried task is not a new command).
    """
    if not await ctx.redis.set(
        f"catalyst:command:counted:{job.repository}:{job.comment_id}", "1", nx=True, ex=MARKER_TTL
    ):
        return True
    scopes = (
        (f"author:{job.repository.lower()}:{job.author.lower()}", AUTHOR_LIMIT),
        (f"pr:{job.repository.lower()}:{job.pr_number}", PR_LIMIT),
    )
    within = True
    for scope, limit in scopes:
        key = f"catalyst:command:rate:{scope}"
        count = int(await ctx.redis.incr(key))
        if count == 1:
            await ctx.redis.expire(key, RATE_WINDOW)
        within = within and count <= limit
    return within


# --- acknowledgement and the one reply ----------------------------------------------------------


async def _react(gh: GitHubInstallation, job: jobs.CommentJob) -> None:
    await gh.add_reaction(job.repository, job.comment_id, REACTION)


async def once(ctx: Context, marker: str, action: Callable[[], Awaitable[object]]) -> None:
    """Run `action` unless a previous attempt of this task already did it."""
    key = f"catalyst:command:{marker}"
    if not await ctx.redis.set(key, "1", nx=True, ex=MARKER_TTL):
        return
    try:
        await action()
    except BaseException:
        await ctx.redis.delete(key)  # not done: let the retry do it
        raise


async def reply_once(
    ctx: Context, gh: GitHubInstallation, job: jobs.CommentJob, texts: list[str]
) -> None:
    """Post the single reply of this comment (texts joined, duplicates dropped), if any."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return
    body = f"@{job.author} " + "\n\n".join(unique)
    await once(
        ctx,
        f"replied:{job.repository}:{job.comment_id}",
        lambda: gh.create_comment(job.repository, job.pr_number, body),
    )


# --- effects ------------------------------------------------------------------------------------


async def do_help(run: Run) -> str:
    """The command reference, with this Project's permission levels."""
    levels = command_permissions(run.project.spec.previews)
    only = canonical_verb(run.command.args[0]) if run.command.args else None
    return help_text(levels, only=only)


async def do_status(run: Run) -> str:
    """Phase, URL, commit and last failure of the preview (or why there is none)."""
    env = _environment(run)
    name = run.project.metadata.name
    if env is None:
        decision = await admission.decide(run.ctx, run.target, run.pr, None)
        return f"**{name}**: no preview for this pull request ({decision.reason})."
    view = projection.comment_view(env, log_url_template=run.ctx.log_url_template)
    phase = "Suspended (torn down by command)" if env.spec.suspended else view.phase
    lines = [f"**{name}**: {phase} at `{view.sha[:7]}`"]
    status_url = env.status.url if env.status else None
    if status_url:
        lines.append(f"URL: {status_url}")
    reason = projection.failure_reason(env.status) if env.status else None
    if env.status and env.status.phase == Phase.FAILED and reason:
        lines.append(f"Last failure: {projection.short_description(reason)}")
    states = _pod_states(run, env)
    if states is not None:
        lines += ["", pods.render_pods(states)]
    return "\n".join(lines)


def _pod_states(run: Run, env: Environment) -> list[pods.PodState] | None:
    """The preview's pods, or None when there is no namespace (yet) or no pod reader."""
    namespace = env.status.namespace if env.status else None
    if run.ctx.pods is None or not namespace:
        return None
    try:
        return [pods.pod_state(p) for p in run.ctx.pods.list_pods(namespace)]
    except NotFound:
        return []
    except PermanentError as exc:
        # Typically RBAC: the worker may not read pods here. Say so instead of failing the task.
        log.warning("cannot read the pods of %s: %s", namespace, exc)
        return None


async def do_logs(run: Run) -> str:
    """The last lines of each pod's containers (or of one service's pods), redacted, collapsed."""
    service, lines = run.command.args or ("", str(LOG_LINES_DEFAULT))
    env = _environment(run)
    name = run.project.metadata.name
    states = _pod_states(run, env) if env is not None else None
    if env is None or states is None:
        return f"**{name}**: no running preview whose pods can be read for this pull request."
    chosen = [s for s in states if not service or s.service.lower() == service]
    if service and not chosen:
        known = ", ".join(sorted({s.service for s in states})) or "none"
        return f"**{name}** has no service `{echo(service)}` (services: {known})."
    namespace = env.status.namespace if env.status else ""
    logs = [
        (
            f"{pod.name} / {container}",
            _log_of(run, namespace or "", pod.name, container, int(lines)),
        )
        for pod in chosen
        for container in pod.container_names
    ]
    return pods.render_logs(name, logs, lines=int(lines))


def _log_of(run: Run, namespace: str, pod: str, container: str, lines: int) -> str:
    assert run.ctx.pods is not None
    try:
        return run.ctx.pods.pod_log(namespace, pod, container=container, tail_lines=lines)
    except NotFound:
        return "(the pod is gone)"
    except Invalid:
        return "(no log yet: the container has not started)"
    except PermanentError:
        return "(the worker may not read this pod's log)"


async def do_redeploy(run: Run) -> str | None:
    """Ask the reconciler to roll the current commit out again."""
    return await _bump(run, "redeploy")


async def do_rebuild(run: Run) -> str | None:
    """Ask the reconciler for a fresh build of the current commit (the old Job is replaced)."""
    return await _bump(run, "rebuild")


async def _bump(run: Run, what: rollouts.Request) -> str | None:
    env = _environment(run)
    if env is None or not rollouts.can_request(env):
        return f"There is no running **{run.project.metadata.name}** preview to {what}."
    nonce = f"comment-{run.job.comment_id}"
    await rollouts.request_rollout(run.ctx, run.gh, env, what=what, nonce=nonce)
    return None


async def do_teardown(run: Run) -> str | None:
    """Suspend the preview (the CR stays) until the next push or `/catalyst deploy`."""
    await run.ctx.redis.zrem(admission.queue_key(run.target), admission.queue_member(run.target))
    await admission.clear_intent(run.ctx, run.target)
    env = _environment(run)
    if env is None or env.spec.suspended:
        return None
    env = await admission.mark(run.ctx, env, suspended=True)
    await statuses.publish_environment(run.ctx, run.gh, env)
    await admission.admit_waiting(
        run.ctx, run.gh, run.project, run.source, repository=run.job.repository
    )
    return None


async def do_deploy(run: Run) -> str | None:
    """Opt the PR in (and approve a fork PR's current head commit), then converge it."""
    policy = run.project.spec.previews
    if run.pr.is_fork and policy.fork_policy == "never":
        return f"**{run.project.metadata.name}** does not preview pull requests from forks."
    if run.pr.is_fork and not await _head_predates_comment(run):
        return (
            f"The head of this pull request moved to `{run.pr.head_sha[:7]}` after your comment; "
            "review that commit and comment `/catalyst deploy` again to approve it."
        )
    approved = run.pr.head_sha if run.pr.is_fork else None
    intent = admission.Intent(opted_in=True, approved_sha=approved, resume=True)
    # Recorded, not applied: the policy (capacity above all) decides when it takes effect.
    await admission.save_intent(run.ctx, run.target, intent)
    await admission.converge(run.ctx, run.gh, run.project, run.source, run.pr, run.job.repository)
    decision = await admission.decide(run.ctx, run.target, run.pr, _environment(run))
    if decision.action == Action.REMOVE:
        return f"**{run.project.metadata.name}** was not deployed: {decision.reason}."
    return None


async def _head_predates_comment(run: Run) -> bool:
    """False when the fork's current head was first seen after the comment was written."""
    seen = await admission.head_seen_at(run.ctx, run.target, run.pr)
    written = parse_timestamp(run.job.created_at) if run.job.created_at else None
    return seen is None or written is None or seen <= written


def effect_of(verb: Verb) -> Effect:
    """What running `verb` does (exhaustive: a verb added to `core.commands.Verb` without an
    effect here fails the type check)."""
    match verb:
        case "help":
            return do_help
        case "status":
            return do_status
        case "logs":
            return do_logs
        case "redeploy":
            return do_redeploy
        case "rebuild":
            return do_rebuild
        case "deploy":
            return do_deploy
        case "teardown":
            return do_teardown
        case _:
            assert_never(verb)


def _environment(run: Run) -> Environment | None:
    return run.ctx.kube.get_environment(run.target.namespace, run.target.name)


# --- the task -----------------------------------------------------------------------------------


@app.task(name=jobs.TASK_COMMENT, bind=True, acks_late=True)
def comment_task(self: Task[Any, Any], /, **kwargs: Any) -> None:
    """Run the `/catalyst` commands of one new PR comment."""
    job = jobs.CommentJob.from_kwargs(kwargs)
    slug = worker_settings().github_app_slug
    run_flow(self, jobs.TASK_COMMENT, lambda ctx: handle_comment(ctx, job, app_slug=slug))
