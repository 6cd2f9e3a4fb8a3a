"""Adapter: Prometheus metrics of the worker, beat and reconciler processes (prometheus_client).

* `serve_metrics(port, ...)` serves `/metrics` (Prometheus text) and `/healthz` (a health check
  the process supplies) from a daemon thread.
* The Celery worker runs tasks in prefork children, so it uses prometheus_client's multiprocess
  mode: `prepare_multiprocess_dir` (called by `catalyst-preview worker` before Celery starts)
  points `PROMETHEUS_MULTIPROC_DIR` at a clean directory, each child writes its own files, and the
  parent serves the sum (`process_registry`). Prefork keeps crash isolation and
  `acks_late` + `reject_on_worker_lost` exactly as they are.
* `install_celery_metrics(app, port)` counts task runs by task and outcome with their duration
  (Celery signals, only for tasks of `app`) and starts the server in the worker parent or beat.
* GitHub requests by method/route template/status and the remaining rate limit per
  installation (`observe_github_response`), recorded by core.clients.github.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from celery import Celery, signals
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import generate_latest

log = logging.getLogger("catalyst.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
HealthCheck = Callable[[], list[str]]

TASK_RUNS = Counter(
    "catalyst_task_runs", "Celery task runs by task name and outcome", ["task", "outcome"]
)
TASK_SECONDS = Histogram(
    "catalyst_task_duration_seconds",
    "Celery task run time by task name",
    ["task"],
    buckets=DURATION_BUCKETS,
)
TASKS_PUBLISHED = Counter(
    "catalyst_tasks_published", "Tasks this process put on the queue, by task name", ["task"]
)
GITHUB_REQUESTS = Counter(
    "catalyst_github_requests",
    "GitHub API requests by method, route template and status (or timeout/error)",
    ["method", "route", "status"],
)
GITHUB_RATE_REMAINING = Gauge(
    "catalyst_github_rate_limit_remaining",
    "x-ratelimit-remaining of the latest GitHub response, per installation (`app` for the JWT)",
    ["installation"],
    multiprocess_mode="mostrecent",
)

_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry", "FAILURE": "failure"}
_KNOWN_OUTCOMES = frozenset({"rejected", "ignored", "revoked"})


# --- exposition ------------------------------------------------------------------------------


def process_registry() -> CollectorRegistry:
    """What this process serves: the sum over the prefork children in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def prepare_multiprocess_dir(environ: MutableMapping[str, str]) -> Path:
    """Point `PROMETHEUS_MULTIPROC_DIR` at a clean directory (a fresh temp dir unless set).

    Files of an earlier run would be summed into this one's counters, so they are removed.
    Call it before any process imports prometheus_client (the CLI does, before exec).
    """
    given = environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="catalyst-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    environ[MULTIPROC_ENV] = str(path)
    return path


class MetricsServer:
    """`/metrics` and `/healthz` on a port, served by a daemon thread."""

    def __init__(
        self, port: int, registry: CollectorRegistry, health: HealthCheck, addr: str
    ) -> None:
        handler = _handler_class(registry, health)
        self._server = ThreadingHTTPServer((addr, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _healthy() -> list[str]:
    return []


def serve_metrics(
    port: int,
    *,
    registry: CollectorRegistry | None = None,
    health: HealthCheck = _healthy,
    addr: str = "0.0.0.0",
) -> MetricsServer | None:
    """Start serving; a port that cannot be bound is logged (the process keeps working)."""
    try:
        server = MetricsServer(port, registry or process_registry(), health, addr)
    except OSError as exc:
        log.error("metrics: cannot listen on port %s: %s", port, exc)
        return None
    log.info("metrics: serving /metrics and /healthz on port %s", server.port)
    return server


def _handler_class(
    registry: CollectorRegistry, health: HealthCheck
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                problems = health()
                text = "unhealthy: " + "; ".join(problems) if problems else "ok"
                self._reply(503 if problems else 200, text.encode() + b"\n", "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the process's own lines

    return Handler


# --- Celery ----------------------------------------------------------------------------------


def outcome_of(state: str | None) -> str:
    """A bounded outcome label for a Celery task state."""
    if state in _OUTCOMES:
        return _OUTCOMES[state]
    lowered = (state or "").lower()
    return lowered if lowered in _KNOWN_OUTCOMES else "other"


class CeleryMetrics:
    """Task runs, failures and durations of one Celery app; the server of its worker or beat."""

    def __init__(self, app: Celery, port: Callable[[], int | None]) -> None:
        self.app, self._port = app, port
        self._started: dict[str, float] = {}
        self.server: MetricsServer | None = None

    def connect(self) -> None:
        """Connect the signal receivers (idempotent per app)."""
        uid = f"catalyst-metrics-{id(self.app)}"
        signals.task_prerun.connect(self.on_prerun, weak=False, dispatch_uid=uid)
        signals.task_postrun.connect(self.on_postrun, weak=False, dispatch_uid=uid)
        signals.after_task_publish.connect(self.on_published, weak=False, dispatch_uid=uid)
        signals.worker_ready.connect(self.on_process_ready, weak=False, dispatch_uid=uid)
        signals.beat_init.connect(self.on_process_ready, weak=False, dispatch_uid=uid)
        signals.worker_process_shutdown.connect(self.on_child_exit, weak=False, dispatch_uid=uid)

    def _ours(self, sender: Any) -> bool:
        return getattr(sender, "app", None) is self.app

    def on_prerun(self, sender: Any = None, task_id: str = "", **_: Any) -> None:
        if self._ours(sender):
            self._started[task_id] = time.perf_counter()

    def on_postrun(
        self, sender: Any = None, task_id: str = "", state: str | None = None, **_: Any
    ) -> None:
        if not self._ours(sender):
            return
        name = str(getattr(sender, "name", "unknown"))
        TASK_RUNS.labels(name, outcome_of(state)).inc()
        started = self._started.pop(task_id, None)
        if started is not None:
            TASK_SECONDS.labels(name).observe(time.perf_counter() - started)

    def on_published(self, sender: Any = None, **_: Any) -> None:
        if isinstance(sender, str) and sender.startswith("catalyst."):
            TASKS_PUBLISHED.labels(sender).inc()

    def on_process_ready(self, sender: Any = None, **_: Any) -> None:
        """Worker parent (after the pool forked, so children do not inherit the socket) or beat."""
        port = self._port()
        if self._ours(sender) and port is not None and self.server is None:
            self.server = serve_metrics(port)

    def on_child_exit(self, pid: int | None = None, **_: Any) -> None:
        """A prefork child leaves: drop its live gauges (its counters keep counting)."""
        if os.environ.get(MULTIPROC_ENV):
            multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


def install_celery_metrics(app: Celery, port: Callable[[], int | None]) -> CeleryMetrics:
    """Instrument `app`; `port` is read when the worker or beat is ready (None: no server)."""
    metrics = CeleryMetrics(app, port)
    metrics.connect()
    return metrics


# --- GitHub ----------------------------------------------------------------------------------

_REPO_PREFIX = re.compile(r"^/repos/[^/]+/[^/]+")
_STATIC_SEGMENTS = frozenset(
    "app installations access_tokens hook deliveries attempts installation pulls git ref refs "
    "heads deployments statuses environments issues comments reactions collaborators permission "
    "branches commits check-runs contents user repos".split()
)


def _static(segment: str) -> bool:
    return not segment or segment in _STATIC_SEGMENTS or segment.startswith("{")


def route_template(path: str) -> str:
    """A bounded route label: `/repos/o/r/pulls/7` → `/repos/{owner}/{repo}/pulls/{}`."""
    path = _REPO_PREFIX.sub("/repos/{owner}/{repo}", path.split("?", 1)[0])
    parts = [p if _static(p) else "{}" for p in path.split("/")]
    route = "/".join(parts)
    # Names (branches, environments) may contain slashes: collapse runs of parameters.
    return re.sub(r"(/\{\})+", "/{}", route)


def observe_github_response(
    method: str, path: str, status: str, installation: str, remaining: str | None
) -> None:
    """Count one GitHub request; remember the installation's remaining rate limit."""
    GITHUB_REQUESTS.labels(method, route_template(path), status).inc()
    if remaining is not None and remaining.strip().isdigit():
        GITHUB_RATE_REMAINING.labels(installation).set(int(remaining))
