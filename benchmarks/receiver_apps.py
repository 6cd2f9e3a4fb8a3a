"""Benchmark apps for `uvicorn --factory`: a bare 202 endpoint, and the receiver two ways.

Configured through `BENCH_REDIS_URL` and `BENCH_SECRET` (set by benchmarks/receiver.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
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
