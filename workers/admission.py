"""Flows: admit a pull request's preview under the Project's trust policy and capacity.

The one owner of the pull-request flow: `handle_pull_request` (the webhook's task) and `converge`
(comment commands, resync) decide and apply a PR's preview, `upsert_environment` and
`teardown_environment` write the CR (`workers.environments`) and publish it. `converge` gathers
the facts (`core.policy.PrFacts`) from GitHub's PR, the Environment CR and the capacity queue,
asks `core.policy.preview_decision`, and applies the answer. State lives where it survives restarts:
fork approval and command opt-in as CR annotations, teardown-by-command as `spec.suspended`, the
capacity queue as a Redis sorted set (score: when the PR started waiting). A short Redis lock per
Project, renewed while held, keeps two workers from both taking the last slot (`workers.locks`);
a deployed preview is published to GitHub after that lock is released, so the Project's other
PRs are decided while this one's statuses wait for the write budget.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Literal

from core import checks, naming, projection
from core.clients.github import GitHubInstallation
from core.errors import Conflict
from core.github_values import PullRequest
from core.jobs import PullRequestJob
from core.model import Environment, Project, ProjectSource
from core.policy import Action, Decision, PrFacts, preview_decision
from workers import checkruns, comments, locks, statuses
from workers.context import Context
from workers.environments import Target, apply_target, delete_target, pr_target, update_environment
from workers.projects import installation_id_of

log = logging.getLogger("catalyst.worker.admission")

APPROVED_SHA = "catalyst.dev/approved-sha"
HEADS_TTL = 30 * 24 * 3600
OPTED_IN = "catalyst.dev/opted-in"
# Short-lived and renewed: a killed holder stalls the Project's PRs for at most `ttl`.
ADMISSION_LOCK = locks.LockSpec(ttl=10.0, wait=3.0, retry_delay=2.0)
INTENT_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Intent:
    """A `/catalyst deploy` waiting for the policy to admit it (then moved onto the CR)."""

    opted_in: bool = False
    approved_sha: str | None = None
    resume: bool = False


# --- Redis keys ---------------------------------------------------------------------------------


def queue_key(target: Target) -> str:
    """The Project's capacity queue (sorted set of `queue_member`s)."""
    return f"catalyst:queue:{target.namespace}:{target.project.metadata.name}"


def queue_member(target: Target) -> str:
    """A PR's entry in its Project's queue: the number for the primary repository's PRs (as
    before multi-source Projects), the Environment name for another repository's."""
    number = target.pr_number or 0
    return str(number) if target.name == naming.environment_name(number) else target.name


def queued_pr(project: Project, member: str) -> tuple[str, int] | None:
    """(repository, PR number) of a queue entry (None: one no longer of this Project)."""
    if member.isdigit():
        primary = naming.primary_repository(project)
        return (primary, int(member)) if primary else None
    return naming.preview_of(project, member)


def _intent_key(target: Target) -> str:
    return f"catalyst:intent:{target.namespace}:{target.name}"


def _lock_key(target: Target) -> str:
    return f"catalyst:admission:{target.namespace}:{target.project.metadata.name}"


async def save_intent(ctx: Context, target: Target, intent: Intent) -> None:
    """Remember a deploy/approval until the Environment exists to carry it."""
    data = json.dumps(
        {"opted_in": intent.opted_in, "approved_sha": intent.approved_sha, "resume": intent.resume}
    )
    await ctx.redis.set(_intent_key(target), data, ex=INTENT_SECONDS)


async def load_intent(ctx: Context, target: Target) -> Intent:
    """The recorded intent (none recorded: an empty one)."""
    raw = await ctx.redis.get(_intent_key(target))
    try:
        data = json.loads(raw) if raw is not None else {}
    except ValueError:
        log.warning("unreadable deploy intent for %s: ignored", target.name)
        return Intent()
    if not isinstance(data, dict):
        return Intent()
    return Intent(bool(data.get("opted_in")), data.get("approved_sha"), bool(data.get("resume")))


async def clear_intent(ctx: Context, target: Target) -> None:
    """Forget a recorded deploy (torn down, or carried by the CR now)."""
    await ctx.redis.delete(_intent_key(target))


async def queued_prs(ctx: Context, target: Target) -> list[str]:
    """Queue entries (`queue_member`) of the PRs waiting for a slot, first come first."""
    members = await ctx.redis.zrange(queue_key(target), 0, -1)
    return [str(m.decode() if isinstance(m, bytes) else m) for m in members]


# --- entry points--------------------------------------------------------------------------------


async def handle_pull_request(ctx: Context, job: PullRequestJob) -> None:
    """A pull_request event: refetch the PR and converge every Project's Environment to it."""
    matches = ctx.projects.pull_request_sources(job.repository)
    if not matches:
        return
    gh = ctx.github.installation(job.installation_id)
    pr = await gh.get_pull(job.repository, job.pr_number)
    for project, source in matches:
        await converge(ctx, gh, project, source, pr, job.repository)


async def converge(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
    repository: str,
) -> Environment | None:
    """Decide and apply one PR's preview; a slot it frees goes to the longest-waiting PR."""
    _, env, freed = await _converge_one(ctx, gh, project, source, pr, repository)
    if freed:
        await admit_waiting(ctx, gh, project, source, repository=repository)
    return env


async def _converge_one(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    pr: PullRequest,
    repository: str,
) -> tuple[Decision, Environment | None, bool]:
    """The decision, the resulting Environment, and whether a slot was freed."""
    target = pr_target(
        project, source, pr, repository=repository, installation_id=gh.installation_id
    )
    async with locks.renewed_lock(ctx.redis, _lock_key(target), ADMISSION_LOCK):
        current = ctx.kube.get_environment(target.namespace, target.name)
        decision = await decide(ctx, target, pr, current)
        log.info("%s#%s %s: %s", repository, pr.number, decision.action, decision.reason)
        env = await _apply(ctx, gh, target, current, decision)
        if env is None and pr.is_open:
            await _show_policy_check(gh, target, decision)
    if env is not None and decision.action == Action.DEPLOY:
        # Outside the Project's lock: the other PRs' decisions need not wait for these GitHub
        # writes, and publishing reads the CR afresh under its own lock, so a later decision's
        # CR is what GitHub gets to see.
        await statuses.publish_environment(ctx, gh, env)
    freed = decision.action == Action.REMOVE and current is not None and _holds_slot(current)
    return decision, env, freed


async def decide(
    ctx: Context, target: Target, pr: PullRequest, current: Environment | None
) -> Decision:
    """The policy's decision for this PR now."""
    facts = await gather_facts(ctx, target, pr, current)
    return preview_decision(target.project.spec.previews, facts)


async def gather_facts(
    ctx: Context, target: Target, pr: PullRequest, current: Environment | None
) -> PrFacts:
    """Everything the pure decision needs."""
    if pr.is_fork:
        await head_seen_at(ctx, target, pr)  # remember when each fork commit first showed up
    annotations = (current.metadata.annotations or {}) if current else {}
    intent = await load_intent(ctx, target)
    waiting, member = await queued_prs(ctx, target), queue_member(target)
    ahead = waiting.index(member) if member in waiting else len(waiting)
    return PrFacts(
        open=pr.is_open,
        draft=pr.draft,
        labels=pr.labels,
        fork=pr.is_fork,
        head_sha=pr.head_sha,
        current_sha=current.primary_source.commit_sha if current else None,
        suspended=bool(current and current.spec.suspended),
        approved_sha=intent.approved_sha or annotations.get(APPROVED_SHA),  # newest first
        opted_in=annotations.get(OPTED_IN) == "true" or intent.opted_in,
        resume=intent.resume,
        active_previews=active_previews(ctx, target),
        waiting_ahead=ahead,
    )


def _heads_key(target: Target) -> str:
    return f"catalyst:heads:{target.namespace}/{target.name}"


async def head_seen_at(ctx: Context, target: Target, pr: PullRequest) -> float | None:
    """GitHub's `updated_at` of the PR when we first saw its current head (recorded if new).

    Both this and a comment's `created_at` are GitHub's clock, so an approval can be checked
    against the commit the writer could have seen: a head first seen after the comment was
    written was pushed after it.
    """
    if pr.updated_at is None:
        return None
    key = _heads_key(target)
    await ctx.redis.hsetnx(key, pr.head_sha, repr(pr.updated_at))
    await ctx.redis.expire(key, HEADS_TTL)
    raw = await ctx.redis.hget(key, pr.head_sha)
    return float(raw) if raw is not None else None


def active_previews(ctx: Context, target: Target) -> int:
    """Other PR previews of the Project that hold a slot (running, not suspended or deleting)."""
    selector = f"{naming.LABEL_PROJECT}={naming.sanitize_label_value(target.project.metadata.name)}"
    envs = ctx.kube.list_environments(target.namespace, label_selector=selector)
    return sum(1 for env in envs if _holds_slot(env) and env.metadata.name != target.name)


def _holds_slot(env: Environment) -> bool:
    return (
        env.spec.type == "development"
        and not env.spec.suspended
        and not env.metadata.deletion_timestamp
    )


# --- applying the decision ----------------------------------------------------------------------


async def _apply(
    ctx: Context,
    gh: GitHubInstallation,
    target: Target,
    current: Environment | None,
    decision: Decision,
) -> Environment | None:
    if decision.action == Action.WAIT:
        await _join_queue(ctx, target)
        await _post_notice(ctx, gh, target, "Waiting for a free preview slot", decision)
        return current
    await ctx.redis.zrem(queue_key(target), queue_member(target))
    if decision.action == Action.DEPLOY:
        return await _deploy(ctx, gh, target)
    if decision.awaiting_approval:
        # The running preview (if any) stays on the last approved commit meanwhile.
        await _post_notice(ctx, gh, target, "Awaiting approval", decision)
        return current
    if decision.action == Action.REMOVE:
        await teardown_environment(ctx, gh, target)
        await clear_intent(ctx, target)
        return None
    return current  # HOLD


async def _show_policy_check(gh: GitHubInstallation, target: Target, decision: Decision) -> None:
    """The head commit's check run when the policy gives it no Environment (yet)."""
    if decision.action == Action.WAIT:
        state: Literal["waiting", "approval", "skipped"] = "waiting"
    elif decision.awaiting_approval:
        state = "approval"
    elif decision.action == Action.REMOVE:
        state = "skipped"
    else:
        return
    why = (
        projection.admission_notice(decision)
        if state != "skipped"
        else f"No preview: {decision.reason}."
    )
    ext_id = checks.external_id(target.namespace, target.name)
    wanted = checks.policy_check(
        target.project.metadata.name, target.sha, ext_id=ext_id, state=state, why=why
    )
    await checkruns.show_policy_check(gh, target.repository, wanted)


async def _join_queue(ctx: Context, target: Target) -> None:
    # NX: a PR keeps its place however often it is re-examined.
    await ctx.redis.zadd(queue_key(target), {queue_member(target): time.time()}, nx=True)


async def _deploy(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    """The CR at the target with its deployment, resumed, with the PR's intent; the caller
    publishes it once the Project's lock is released."""
    env = await apply_target(ctx, gh, target)
    intent = await load_intent(ctx, target)
    env = await mark(ctx, env, suspended=False, intent=intent)
    await clear_intent(ctx, target)
    return env


async def mark(
    ctx: Context, env: Environment, *, suspended: bool | None = None, intent: Intent | None = None
) -> Environment:
    """Write `spec.suspended` and the intent's annotations onto the CR (retrying conflicts)."""
    namespace, name = env.metadata.namespace or "", env.metadata.name

    async def mutate(current: Environment | None) -> Environment | None:
        if current is None:
            raise Conflict(f"environment {namespace}/{name} is gone")
        return _marked(current, suspended, intent)

    marked = await update_environment(ctx.kube, namespace, name, mutate)
    assert marked is not None  # mutate refuses an absent CR
    return marked


def _marked(env: Environment, suspended: bool | None, intent: Intent | None) -> Environment | None:
    """A copy with the changes applied, or None when there is nothing to change."""
    changed = env.model_copy(deep=True)
    annotations = dict(changed.metadata.annotations or {})
    if intent and intent.opted_in:
        annotations[OPTED_IN] = "true"
    if intent and intent.approved_sha:
        annotations[APPROVED_SHA] = intent.approved_sha
    changed.metadata.annotations = annotations or None
    if suspended is not None:
        changed.spec.suspended = suspended
    same = changed.metadata.annotations == env.metadata.annotations
    return None if same and changed.spec.suspended == env.spec.suspended else changed


async def _post_notice(
    ctx: Context, gh: GitHubInstallation, target: Target, phase: str, decision: Decision
) -> None:
    """The sticky comment for a PR without a running preview, saying why and what next."""
    if target.pr_number is None:
        return
    name = target.project.metadata.name
    notice = projection.admission_notice(decision)
    view = projection.CommentView(name, phase, target.sha, None, None, None, "", notice=notice)
    body = projection.render_section(view)
    await comments.upsert_comment(
        ctx, gh, target.repository, target.pr_number, project=name, body=body, known_id=None
    )


async def admit_waiting(
    ctx: Context,
    gh: GitHubInstallation,
    project: Project,
    source: ProjectSource,
    *,
    repository: str,
) -> None:
    """Give free slots to waiting PRs, longest-waiting first; the rest see their new position.

    The queue is the Project's: a waiting PR of another of its repositories is read from that
    repository (through its installation) and converged with that repository's source.
    """
    placeholder = Target(project, source, "", "development", "", "", repository, 0)
    for member in await queued_prs(ctx, placeholder):
        found = queued_pr(project, member)
        waiting_source = _source_of(project, found[0]) if found else None
        if found is None or waiting_source is None:
            log.warning(
                "queue entry %r names no PR of project %s: dropped", member, project.metadata.name
            )
            await ctx.redis.zrem(queue_key(placeholder), member)
            continue
        owner, repo = gh, repository
        if found[0] != (naming.repository_slug(repository) or repository.lower()):
            repo = found[0]
            owner = ctx.github.installation(await installation_id_of(ctx.github, project, repo))
        pr = await owner.get_pull(repo, found[1])
        await _converge_one(ctx, owner, project, waiting_source, pr, repo)


def _source_of(project: Project, repository: str) -> ProjectSource | None:
    """The Project's (first) source of `repository` (`owner/name`, lowercase)."""
    return next(
        (s for s in project.spec.sources if naming.repository_slug(s.repository_url) == repository),
        None,
    )


# --- writing and publishing ---------------------------------------------------------------------


async def upsert_environment(ctx: Context, gh: GitHubInstallation, target: Target) -> Environment:
    """Create or move the Environment to `target.sha`, with its deployment, then publish."""
    env = await apply_target(ctx, gh, target)
    await statuses.publish_environment(ctx, gh, env)
    return env


async def teardown_environment(ctx: Context, gh: GitHubInstallation, target: Target) -> None:
    """Delete the CR (keeping its bookkeeping), or finish GitHub's side when it is gone."""
    await delete_target(ctx, gh, target)
    await statuses.publish_status(ctx, target.namespace, target.name, hint=_hint(target))


def _hint(target: Target) -> statuses.TeardownHint:
    return statuses.TeardownHint(
        repository=target.repository,
        installation_id=target.installation_id,
        project=target.project.metadata.name,
        pr_number=target.pr_number,
        github_environment=target.github_environment,
    )
