"""Benchmark apps for `uvicorn --factory`: a bare 202 endpoint, the receiver two ways, and two
fair baselines: (d) the floor (read, HMAC, orjson, 202) and (e) the receiver a Python team would
write with the named libraries (Starlette, `gidgethub.sansio.Event.from_http`, Celery
`send_task`).

Configured through `BENCH_REDIS_URL` and `BENCH_SECRET` (set by benchmarks/receiver.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

import orjson
from celery import Celery
from gidgethub import BadRequest, ValidationFailure
from gidgethub.sansio import Event
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.settings import Settings
from webhook.app import create_app
from webhook.ledger import Failure


def settings() -> Settings:
    """Settings from the benchmark's environment variables."""
    return Settings(
        webhook_secret=SecretStr(os.environ["BENCH_SECRET"]),
        redis_url=os.environ["BENCH_REDIS_URL"],
        _env_file=None,
    )


def bare() -> Starlette:
    """(a) A Starlette endpoint that reads nothing and answers 202."""

    async def accept(request: Request) -> Response:
        return Response(status_code=202)

    return Starlette(routes=[Route("/webhook", accept, methods=["POST"])])


class NoIntake:
    """Takes every delivery as new and records nothing (no Redis, no thread)."""

    async def submit(self, delivery_id: str, task: str, kwargs: Mapping[str, Any]) -> bool:
        return True

    async def record_failure(self, failure: Failure) -> None:
        return None

    async def ping(self) -> bool:
        return True


def verify_only() -> Starlette:
    """(b) The receiver with verification, parsing and routing, but no Redis and no enqueue."""
    return create_app(settings(), intake=NoIntake(), start_helper=True)


def full() -> Starlette:
    """(c) The real receiver as `make_app` builds it: Redis intake, helper process started."""
    return create_app(settings(), start_helper=True)


def floor() -> Starlette:
    """(d) The least any honest receiver does: read, verify (HMAC-SHA256), parse (orjson), 202."""
    secret = os.environ["BENCH_SECRET"].encode()

    async def accept(request: Request) -> Response:
        body = await request.body()
        wanted = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(wanted, request.headers.get("x-hub-signature-256", "")):
            return Response(status_code=401)
        orjson.loads(body)
        return Response(status_code=202)

    return Starlette(routes=[Route("/webhook", accept, methods=["POST"])])


def straightforward() -> Starlette:
    """(e) Starlette + gidgethub's `Event.from_http` + Celery `send_task` (in the thread pool)."""
    secret = os.environ["BENCH_SECRET"]
    celery = Celery(broker=os.environ["BENCH_REDIS_URL"])

    async def accept(request: Request) -> Response:
        body = await request.body()
        try:
            event = Event.from_http(request.headers, body, secret=secret)
        except ValidationFailure:
            return Response(status_code=401)
        except BadRequest:
            return Response(status_code=400)
        pr = event.data.get("pull_request") or {}
        kwargs = {
            "delivery_id": event.delivery_id,
            "repository": event.data["repository"]["full_name"],
            "pr_number": pr.get("number"),
            "action": event.data.get("action"),
        }
        await run_in_threadpool(
            celery.send_task, "catalyst.github.pull_request", kwargs=kwargs, queue="github"
        )
        return Response(status_code=202)

    return Starlette(routes=[Route("/webhook", accept, methods=["POST"])])
