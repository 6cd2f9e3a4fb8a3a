"""Adapter: Celery's logging goes through core.logs, and every task run binds its log context.

Celery configures logging itself unless a `setup_logging` receiver exists; ours calls the
process's own setup, so Celery's lines (worker start, task received/succeeded, errors) come out
in our JSON or console format. Around each task run of the instrumented app, the task name and
the job fields of its keyword arguments (delivery id, repository, PR, environment) are bound with
`core.logs.log_context`, so every line the flow logs carries them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from celery import Celery, signals

from core import jobs
from core.logs import log_context

_PROJECT_TASKS = frozenset({jobs.TASK_RECONCILE_PROJECT})


def task_fields(task: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The log context of one task run, from its name and keyword arguments."""
    fields: dict[str, Any] = {
        "task": task,
        "delivery_id": kwargs.get("delivery_id"),
        "repository": kwargs.get("repository"),
        "pr": kwargs.get("pr_number"),
    }
    namespace, name = kwargs.get("namespace"), kwargs.get("name")
    if namespace and name:
        fields["project" if task in _PROJECT_TASKS else "environment"] = f"{namespace}/{name}"
    return {k: v for k, v in fields.items() if v not in (None, "")}


def route_celery_logging(configure: Callable[[], None]) -> None:
    """Make Celery call `configure` instead of setting up its own handlers."""

    def on_setup_logging(**_: Any) -> None:
        configure()

    signals.setup_logging.connect(on_setup_logging, weak=False, dispatch_uid="catalyst-logging")


class TaskLogContext:
    """Binds `task_fields` for the duration of each task run of one app (in the running thread)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._open: dict[str, AbstractContextManager[None]] = {}

    def connect(self) -> None:
        """Connect the prerun/postrun receivers (idempotent per app)."""
        uid = f"catalyst-logctx-{id(self.app)}"
        signals.task_prerun.connect(self.on_prerun, weak=False, dispatch_uid=uid)
        signals.task_postrun.connect(self.on_postrun, weak=False, dispatch_uid=uid)

    def on_prerun(
        self, sender: Any = None, task_id: str = "", kwargs: Any = None, **_: Any
    ) -> None:
        if getattr(sender, "app", None) is not self.app:
            return
        bound = log_context(**task_fields(str(sender.name), kwargs or {}))
        bound.__enter__()
        self._open[task_id] = bound

    def on_postrun(self, sender: Any = None, task_id: str = "", **_: Any) -> None:
        bound = self._open.pop(task_id, None)
        if bound is not None:
            bound.__exit__(None, None, None)


def install_task_log_context(app: Celery) -> TaskLogContext:
    """Bind the log context around every task run of `app`."""
    context = TaskLogContext(app)
    context.connect()
    return context
