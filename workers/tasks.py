"""Shell: the worker's Celery tasks, one thin wrapper per task name in core.jobs.

Each task takes primitive ids, builds the adapters, runs one flow with `asyncio.run` (then
queues the later publishes its put-off progress writes asked for, `workers.followups`) and
translates the outcome: `TemporaryError` is retried with its own delay (rate limits, a busy
lock) or capped exponential backoff with full jitter, never by sleeping; `PermanentError` and
exhausted retries are logged and counted (visible failure), not retried. Tasks are `acks_late`
and idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from celery import Task
from prometheus_client import Counter
from redis.asyncio import Redis

from core import jobs
from core.backoff import full_jitter
from core.clients.github import GitHubApp
from core.clients.githubauth import AppCredentials
from core.clients.kube import KubeEnvironments, KubePods, new_api_client
from core.clients.queue import CeleryEnqueuer
from core.errors import CatalystError, PermanentError, RateLimited, TemporaryError
from workers import comments, followups, statuses, tracked
from workers import resync as resync_flow
from workers.admission import handle_pull_request
from workers.celery_app import app, worker_settings
from workers.context import Context
from workers.locks import LockBusy
from workers.projects import ProjectIndex

log = logging.getLogger("catalyst.worker.tasks")

MAX_RETRIES = 8
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0
MAX_COUNTDOWN = 3000.0  # below the broker's visibility timeout (3600 s)
FAILURES = Counter("catalyst_worker_task_failures_total", "Tasks given up on", ["task", "kind"])
_process: dict[str, Any] = {}


def backoff_delay(retries: int, *, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**n)], at least 1 s."""
    return full_jitter(retries, base=BACKOFF_BASE, cap=BACKOFF_CAP, floor=1.0, rand=rand)


def retry_countdown(exc: TemporaryError, retries: int) -> float:
    """The rate limit's own delay (plus a little jitter), else the backoff."""
    if exc.delay is not None:
        return min(MAX_COUNTDOWN, exc.delay + random.uniform(0, 1))
    return min(MAX_COUNTDOWN, backoff_delay(retries))


def _kube() -> KubeEnvironments:
    if "kube" not in _process:
        api_client = new_api_client()
        _process["kube"] = KubeEnvironments(api_client)
        _process["pods"] = KubePods(api_client)
        _process["projects"] = ProjectIndex(_process["kube"])
    return _process["kube"]  # type: ignore[no-any-return]


async def _with_context(flow: Callable[[Context], Awaitable[None]]) -> None:
    settings = worker_settings()
    kube = _kube()
    credentials = AppCredentials(settings.github_app_id or 0, settings.private_key())
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    async with httpx.AsyncClient() as http:
        try:
            github = GitHubApp(
                credentials,
                http=http,
                redis=redis,
                base_url=settings.github_api_url,
                slug=settings.github_app_slug,
            )
            ctx = Context(
                github,
                kube,
                redis,
                _process["projects"],
                log_url_template=settings.log_url_template,
                dashboard_url=settings.dashboard_url,
                pods=_process["pods"],
            )
            await flow(ctx)
            await followups.schedule(redis, ctx.follow_ups, CeleryEnqueuer(app))
        finally:
            await redis.aclose()


GiveUpHook = Callable[[str], Awaitable[None]]


def run_flow(
    task: Task[Any, Any],
    name: str,
    flow: Callable[[Context], Awaitable[None]],
    *,
    report: Callable[[Context, str], Awaitable[None]] | None = None,
) -> None:
    """Run a flow with real adapters (see `execute`); `report` tells the PR when it gives up."""
    on_give_up = None if report is None else _reporter(report)
    execute(task, name, lambda: _with_context(flow), on_give_up=on_give_up)


def _reporter(report: Callable[[Context, str], Awaitable[None]]) -> GiveUpHook:
    async def run(reason: str) -> None:
        await _with_context(lambda ctx: report(ctx, reason))

    return run


def execute(
    task: Task[Any, Any],
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    on_give_up: GiveUpHook | None = None,
) -> None:
    """Run a coroutine; turn its errors into a Celery retry or a visible, final failure."""
    try:
        asyncio.run(_as_coroutine(run))
    except TemporaryError as exc:
        retries = int(task.request.retries or 0)
        # Waiting for GitHub's rate limit or a peer's short lock is not failing: no retry cap.
        limit = None if isinstance(exc, (RateLimited, LockBusy)) else MAX_RETRIES
        if limit is not None and retries >= limit:
            _give_up(name, "retries-exhausted", exc, on_give_up)
            return
        countdown = retry_countdown(exc, retries)
        raise task.retry(exc=exc, countdown=countdown, max_retries=limit) from exc
    except PermanentError as exc:
        _give_up(name, "permanent", exc, on_give_up)


async def _as_coroutine(run: Callable[[], Awaitable[None]]) -> None:
    await run()


def _give_up(name: str, kind: str, exc: Exception, on_give_up: GiveUpHook | None) -> None:
    FAILURES.labels(task=name, kind=kind).inc()
    log.error("task %s failed for good (%s): %s", name, kind, exc)
    if on_give_up is None:
        return
    try:
        asyncio.run(_as_coroutine(lambda: on_give_up(str(exc))))
    except CatalystError as report_exc:
        # GitHub or the cluster is what failed: the log line and the metric must do.
        log.warning("could not report the failure of %s on GitHub: %s", name, report_exc)


@app.task(name=jobs.TASK_PULL_REQUEST, bind=True, acks_late=True)
def pull_request_task(self: Task[Any, Any], /, **kwargs: Any) -> None:
    """Converge the previews of one pull request."""
    job = jobs.PullRequestJob.from_kwargs(kwargs)
    run_flow(
        self,
        jobs.TASK_PULL_REQUEST,
        lambda ctx: handle_pull_request(ctx, job),
        report=lambda ctx, reason: comments.report_failure(ctx, job, reason),
    )


@app.task(name=jobs.TASK_PUSH, bind=True, acks_late=True)
def push_task(self: Task[Any, Any], /, **kwargs: Any) -> None:
    """Converge the tracked-branch Environments of one branch."""
    job = jobs.PushJob.from_kwargs(kwargs)
    run_flow(self, jobs.TASK_PUSH, lambda ctx: tracked.handle_push(ctx, job))


@app.task(name=jobs.TASK_PUBLISH_STATUS, bind=True, acks_late=True)
def publish_status_task(
    self: Task[Any, Any], /, *, namespace: str, name: str, **kwargs: Any
) -> None:
    """Project one Environment (or its absence) onto GitHub."""
    hint, follow_up = _hint(kwargs), bool(kwargs.get("follow_up"))
    run_flow(
        self,
        jobs.TASK_PUBLISH_STATUS,
        lambda ctx: statuses.publish_status(ctx, namespace, name, hint=hint, follow_up=follow_up),
    )


def _hint(kwargs: dict[str, Any]) -> statuses.TeardownHint | None:
    keys = ("repository", "installation_id", "project", "github_environment")
    if not all(kwargs.get(k) for k in keys):
        return None
    return statuses.TeardownHint(
        str(kwargs["repository"]),
        int(kwargs["installation_id"]),
        str(kwargs["project"]),
        kwargs.get("pr_number"),
        str(kwargs["github_environment"]),
        final=bool(kwargs.get("final")),
    )


@app.task(name=jobs.TASK_RESYNC, bind=True, acks_late=True)
def resync_task(self: Task[Any, Any], /, **_: Any) -> None:
    """Converge every onboarded repository (beat)."""
    run_flow(self, jobs.TASK_RESYNC, resync_flow.resync)


@app.task(name=jobs.TASK_INSTALLATION, bind=True, acks_late=True)
def installation_task(self: Task[Any, Any], /, **kwargs: Any) -> None:
    """Forget a removed or suspended installation's token; new repositories wait for resync."""
    job = jobs.InstallationJob.from_kwargs(kwargs)

    async def flow(ctx: Context) -> None:
        if job.action in ("deleted", "suspend"):
            await ctx.github.tokens.drop(job.installation_id)
        ctx.projects.refresh()

    run_flow(self, jobs.TASK_INSTALLATION, flow)
