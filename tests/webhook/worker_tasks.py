"""Test-only Celery app: a worker that records each task it receives into Redis.

Started as `celery -A tests.webhook.worker_tasks:app worker ...` by the integration test, which
passes the Redis URL in `CATALYST_TEST_REDIS_URL` (read here, at import, because the Celery CLI
imports this module to find the app).
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis

from core import jobs
from core.clients.queue import make_celery_app

REDIS_URL = os.environ.get("CATALYST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RECEIVED = "test:received"
app = make_celery_app(REDIS_URL, name="catalyst-test-worker")


def record(task: str, kwargs: dict[str, Any]) -> None:
    """Append what the worker received to the `test:received` list."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.rpush(RECEIVED, json.dumps({"task": task, "kwargs": kwargs}))
    finally:
        client.close()


@app.task(name=jobs.TASK_PULL_REQUEST)
def pull_request(**kwargs: Any) -> None:
    """Record a pull_request job."""
    record(jobs.TASK_PULL_REQUEST, kwargs)
