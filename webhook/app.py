"""Shell: the web process's Starlette app (`POST /webhook`, `/healthz`, `/readyz`, `/metrics`).

`create_app` builds everything from the settings it is given; nothing is read from the environment
at import. `make_app` is the `uvicorn --factory webhook.app:make_app` entry point: it loads the
settings (one clear line and exit 2 when they are bad) and configures logging.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core.clients.queue import CeleryEnqueuer, Enqueuer, make_celery_app
from core.logs import configure_logging
from core.settings import Settings, SettingsError, exit_on_bad_settings, load_settings
from webhook.intake import EnqueuerIntake, Intake, RedisIntake
from webhook.ledger import Ledger, RedisLedger, make_redis
from webhook.messages import TaskMessages, queues_for
from webhook.metrics import ReceiverMetrics
from webhook.offload import HelperPool
from webhook.receiver import Limits, Receiver
from webhook.routers import Router
from webhook.routing import build_router

READY_TIMEOUT = 0.5
Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    settings: Settings,
    *,
    intake: Intake | None = None,
    enqueuer: Enqueuer | None = None,
    redis: Redis | None = None,
    ledger: Ledger | None = None,
    limits: Limits | None = None,
    start_helper: bool = False,
) -> Starlette:
    """The receiver app; collaborators not given are built from `settings` (see build_intake).

    A Redis client passed in stays the caller's to close; one built here is closed at shutdown.
    The helper process for big bodies starts on first use, or with the app if `start_helper`.
    """
    limits = limits or Limits()
    router = build_router()
    owned_redis = None
    if intake is None:
        owned_redis = make_redis(settings.redis_url) if redis is None and ledger is None else None
        client = redis or owned_redis
        intake = build_intake(settings, router, limits, client, enqueuer=enqueuer, ledger=ledger)
    metrics = ReceiverMetrics()
    helpers = HelperPool()
    receiver = Receiver(
        secrets=settings.webhook_secrets,
        router=router,
        intake=intake,
        metrics=metrics,
        limits=limits,
        helpers=helpers,
    )
    routes = [
        Route("/webhook", receiver.receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness(intake), methods=["GET"]),
        Route("/metrics", metrics_endpoint(metrics), methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan(owned_redis, helpers, start=start_helper))


def build_intake(
    settings: Settings,
    router: Router,
    limits: Limits,
    redis: Redis | None,
    *,
    enqueuer: Enqueuer | None,
    ledger: Ledger | None,
) -> Intake:
    """The receiver's intake: RedisIntake on `redis`, or EnqueuerIntake for an enqueuer or ledger.

    Production gives neither: jobs go straight onto the Celery queues of `redis`, claimed and
    queued in one script. Given an enqueuer or a ledger, the receiver claims in the ledger and
    sends through the enqueuer.
    """
    if enqueuer is None and ledger is None and redis is not None:
        return RedisIntake(redis, task_messages(settings.redis_url, router))
    return EnqueuerIntake(
        ledger or RedisLedger(redis or make_redis(settings.redis_url)),
        enqueuer or CeleryEnqueuer(make_celery_app(settings.redis_url)),
        threads=limits.enqueue_threads,
        mark_timeout=limits.release_timeout,
    )


def task_messages(redis_url: str, router: Router) -> TaskMessages:
    """Celery messages for every task the router sends, on the queues Celery routes them to."""
    return TaskMessages(queues_for(make_celery_app(redis_url), router.tasks()))


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


def readiness(intake: Intake) -> Endpoint:
    """Readiness: Redis (ledger and broker) answers within half a second."""

    async def readyz(request: Request) -> Response:
        with anyio.move_on_after(READY_TIMEOUT):
            if await intake.ping():
                return PlainTextResponse("ready")
        return PlainTextResponse("redis unreachable", status_code=503)

    return readyz


def metrics_endpoint(metrics: ReceiverMetrics) -> Endpoint:
    """Prometheus exposition of this app's registry."""

    async def serve_metrics(request: Request) -> Response:
        text, content_type = metrics.render()
        return Response(text, media_type=content_type)

    return serve_metrics


def lifespan(
    redis: Redis | None, helpers: HelperPool, *, start: bool
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Start the helper process (if `start`); at shutdown stop it and close our Redis client."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        if start:
            helpers.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(functools.partial(helpers.close, wait=True))
            if redis is not None:
                await redis.aclose()

    return run


def make_app() -> Starlette:
    """Entry point for `uvicorn --factory webhook.app:make_app` (settings from the environment)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        exit_on_bad_settings(exc, "web")
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, start_helper=True)
