"""Shell: the worker's Celery app (`celery -A workers.celery_app:app worker -Q github`).

Nothing is read from the environment at import. The settings are loaded when Celery first reads
the app's configuration (worker or beat start): a missing or malformed setting stops the process
there with one clear line. The beat schedule runs the resync every `resync_interval_seconds`.
Configuring also routes Celery's logging through core.logs, binds each task's log context and
instruments the app (task metrics; `/metrics` on `CATALYST_METRICS_PORT` from the worker parent,
summing its prefork children, or from beat).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from celery import Celery

from core import jobs
from core.clients.metrics import install_celery_metrics
from core.clients.queue import make_celery_app
from core.clients.tasklogs import install_task_log_context, route_celery_logging
from core.logs import configure_logging
from core.settings import Settings, SettingsError, exit_on_bad_settings, load_settings

_UNCONFIGURED_BROKER = "redis://unconfigured.invalid:6379/0"

app: Celery = make_celery_app(_UNCONFIGURED_BROKER, name="catalyst-worker")
_state: dict[str, Settings] = {}


def task_modules() -> list[str]:
    """Task modules to import: ours, plus `workers.commands` once it exists."""
    found = ["workers.tasks"]
    if importlib.util.find_spec("workers.commands") is not None:
        found.append("workers.commands")
    found.append("workers.check_actions")
    return found


def worker_settings() -> Settings:
    """The settings loaded at start (loads them if Celery has not yet)."""
    if "settings" not in _state:
        _state["settings"] = _load_or_exit()
    return _state["settings"]


def _load_or_exit() -> Settings:
    # Beat only schedules tasks: it needs the broker, not the GitHub App's key.
    process = os.environ.get("CATALYST_PROCESS", "worker")
    try:
        settings = load_settings()
        if process != "beat":
            settings.require_github_app()
    except SettingsError as exc:
        exit_on_bad_settings(exc, process)
    return settings


def _configure_logging() -> None:
    settings = worker_settings()
    configure_logging(settings.log_level, settings.log_format)


def _observe(sender: Celery, settings: Settings) -> None:
    route_celery_logging(_configure_logging)
    install_task_log_context(sender)
    install_celery_metrics(sender, lambda: settings.metrics_port)


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    settings = worker_settings()
    _observe(sender, settings)
    sender.conf.update(broker_url=settings.redis_url)
    sender.conf.update(include=task_modules())
    sender.conf.beat_schedule = {
        "resync": {
            "task": jobs.TASK_RESYNC,
            "schedule": float(settings.resync_interval_seconds),
            "kwargs": {"delivery_id": "beat"},
            "options": {"queue": jobs.QUEUE_GITHUB},
        },
    }
