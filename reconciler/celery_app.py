"""Process wiring: the Celery app of the reconciler and its two tasks on queue `reconcile`.

Tasks are thin: they find the process runtime (installed by `python -m reconciler`) and call
`run_environment` / `run_project`, which apply the key discipline (lock while running, backoff
on failure, requeue after the delay the reconcile asked for) around the reconcile flows. A task
that finds its key busy puts itself back (always, past the queued-marker dedup) and never just
completes: the holder may be a dead process whose lock is about to expire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery

from core import jobs
from core.clients.queue import make_celery_app
from core.errors import CatalystError, TemporaryError
from core.logs import log_context
from reconciler.feeder import Feeder, env_key
from reconciler.keys import KeyGate
from reconciler.metrics import record_reconcile
from reconciler.projects import ProjectReconciler
from reconciler.reconcile import Reconciler

log = logging.getLogger(__name__)
LOCKED_RETRY = 0.5


@dataclass
class Runtime:
    """What the tasks of one reconciler process use."""

    reconciler: Reconciler
    projects: ProjectReconciler
    gate: KeyGate
    feeder: Feeder
    resync: Callable[[], int] | None = None


_runtime: Runtime | None = None


def install_runtime(runtime: Runtime | None) -> None:
    """Make `runtime` the one the tasks of this process use."""
    global _runtime
    _runtime = runtime


def current_runtime() -> Runtime:
    """The installed runtime; RuntimeError when the process did not install one."""
    if _runtime is None:
        raise RuntimeError("reconciler runtime not installed (start with `python -m reconciler`)")
    return _runtime


@dataclass(frozen=True)
class Ran:
    """What one task did with its key: the requeue delay, and whether the key was busy."""

    delay: float | None
    busy: bool = False


def run_environment(rt: Runtime, namespace: str, name: str) -> float | None:
    """Reconcile one Environment under its key lock; returns the requeue delay it scheduled."""
    key = env_key(namespace, name)
    with log_context(environment=key):
        ran = _locked(rt, key, lambda: rt.reconciler.reconcile(namespace, name).requeue_after)
    if ran.delay is not None:
        rt.feeder.environment(namespace, name, ran.delay, force=ran.busy)
    return ran.delay


def run_project(rt: Runtime, namespace: str, name: str) -> float | None:
    """Reconcile one Project under its key lock."""
    key = "project:" + env_key(namespace, name)
    ran = _locked(rt, key, lambda: rt.projects.reconcile(namespace, name))
    if ran.delay is not None:
        rt.feeder.project(namespace, name, ran.delay, force=ran.busy)
    return ran.delay


def _locked(rt: Runtime, key: str, work: Callable[[], float | None]) -> Ran:
    rt.gate.unmark_queued(key)
    with rt.gate.lock(key) as held:
        if not held:
            record_reconcile(key, "locked")
            # Another worker runs this key, or a dead one held it and its lock is expiring.
            log.debug(
                "reconcile %s busy (held by %s): again in %ss", key, _holder(rt, key), LOCKED_RETRY
            )
            return Ran(LOCKED_RETRY, busy=True)
        return Ran(_attempt(rt, key, work))


def _holder(rt: Runtime, key: str) -> str | None:
    try:
        return rt.gate.holder(key)
    except TemporaryError:
        return None


def _attempt(rt: Runtime, key: str, work: Callable[[], float | None]) -> float | None:
    started = time.perf_counter()
    try:
        delay = work()
    except TemporaryError as exc:
        record_reconcile(key, "temporary_error", started)
        backoff = rt.gate.failure_delay(key)
        log.info("reconcile %s: %s; retrying in %.1fs", key, exc, exc.delay or backoff)
        return exc.delay if exc.delay is not None else backoff
    except CatalystError as exc:
        record_reconcile(key, "error", started)
        log.warning("reconcile %s failed: %s", key, exc)
        return rt.gate.failure_delay(key)
    except Exception:
        record_reconcile(key, "crash", started)
        log.exception("reconcile %s crashed", key)
        return rt.gate.failure_delay(key)
    record_reconcile(key, "success", started)
    rt.gate.succeeded(key)
    return delay


def create_app(redis_url: str) -> Celery:
    """The reconciler's Celery app with its tasks registered (routed to queue `reconcile`)."""
    app = make_celery_app(redis_url, name="catalyst-reconciler")

    @app.task(name=jobs.TASK_RECONCILE, ignore_result=True)
    def reconcile_environment_task(namespace: str, name: str, **_: Any) -> None:
        run_environment(current_runtime(), namespace, name)

    @app.task(name=jobs.TASK_RECONCILE_PROJECT, ignore_result=True)
    def reconcile_project_task(namespace: str, name: str, **_: Any) -> None:
        run_project(current_runtime(), namespace, name)

    @app.task(name=jobs.TASK_CLUSTER_RESYNC, ignore_result=True)
    def cluster_resync_task(**_: Any) -> None:
        resync = current_runtime().resync
        if resync is not None:  # any replica may take it: queueing is de-duplicated per key
            log.info("cluster resync queued %d keys", resync())

    del reconcile_environment_task, reconcile_project_task, cluster_resync_task
    return app
