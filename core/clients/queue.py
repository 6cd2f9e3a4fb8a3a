"""Adapter: the Celery-on-Redis queue shared by every process (app factory and enqueue seam).

Producers (web, reconciler) and consumers (worker, reconciler) build the same Celery app here, so
reliability settings live in one place: late acks with requeue on worker loss (tasks are
idempotent), prefetch 1, JSON only, and broker publishes that give up fast so the receiver can
answer 503 within a second when Redis is down.
"""

from __future__ import annotations

from typing import Any, Protocol

from celery import Celery
from kombu.exceptions import OperationalError

from core import jobs
from core.errors import TemporaryError

VISIBILITY_TIMEOUT = 3600


class Enqueuer(Protocol):
    """Sends a named task; raises TemporaryError when the broker did not take it."""

    def __call__(
        self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None
    ) -> None: ...


def make_celery_app(redis_url: str, *, name: str = "catalyst") -> Celery:
    """A Celery app bound to `redis_url` with the project's reliability settings."""
    app = Celery(name, broker=redis_url, backend=None, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=1.0,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_timeout": 1.0,
            "socket_connect_timeout": 0.5,
            "max_retries": 1,
        },
        task_default_queue=jobs.QUEUE_GITHUB,
        task_routes={"catalyst.cluster.*": {"queue": jobs.QUEUE_RECONCILE}},
    )
    return app


class CeleryEnqueuer:
    """Enqueue by task name through `send_task` (no import of the consuming package)."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def __call__(
        self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None
    ) -> None:
        try:
            self._app.send_task(
                task,
                kwargs=kwargs,
                countdown=countdown,
                retry=True,
                retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
            )
        except (OperationalError, OSError) as exc:
            raise TemporaryError(f"broker unavailable: {exc}") from exc
