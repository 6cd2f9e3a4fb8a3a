"""Runtime: the reconciler's Prometheus metrics and health (served on `CATALYST_METRICS_PORT`).

* Reconciles by kind (environment/project) and outcome, with their durations.
* Builds by outcome: counted when the Job informer sees a build Job turn Complete or Failed
  (only on the leader, so replicas sharing the same cache do not count twice).
* Environments by phase and leader status: computed from the informer cache and the elector
  at scrape time, never tracked beside them.
* `/healthz` turns 503 when the election thread or an informer/resync thread has died, so the
  liveness probe restarts a process that would otherwise keep answering but do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from celery import Celery
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.clients.metrics import (
    DURATION_BUCKETS,
    MetricsServer,
    install_celery_metrics,
    serve_metrics,
)
from core.clients.tasklogs import install_task_log_context, route_celery_logging
from core.logs import configure_logging
from core.model import Phase
from core.settings import Settings
from reconciler.cluster import Manifest
from reconciler.lease import LeaderElector
from reconciler.manifests import LABEL_JOB_TYPE
from reconciler.watch import Handler, Informer, Watcher

RECONCILES = Counter("catalyst_reconciles", "Reconciles by kind and outcome", ["kind", "outcome"])
RECONCILE_SECONDS = Histogram(
    "catalyst_reconcile_duration_seconds",
    "Reconcile duration by kind and outcome",
    ["kind", "outcome"],
    buckets=DURATION_BUCKETS,
)
BUILDS = Counter("catalyst_builds", "Finished build Jobs by outcome", ["outcome"])
_BUILD_REASONS = {"DeadlineExceeded": "deadline_exceeded", "BackoffLimitExceeded": "failed"}


def kind_of(key: str) -> str:
    """`environment` or `project` from a reconcile key (`project:` prefix)."""
    return "project" if key.startswith("project:") else "environment"


def record_reconcile(key: str, outcome: str, started: float | None = None) -> None:
    """Count one reconcile (and its duration when it ran)."""
    kind = kind_of(key)
    RECONCILES.labels(kind, outcome).inc()
    if started is not None:
        RECONCILE_SECONDS.labels(kind, outcome).observe(time.perf_counter() - started)


# --- builds ----------------------------------------------------------------------------------


def build_outcome(job: Manifest | None) -> str | None:
    """`succeeded`, `failed` or `deadline_exceeded` for a finished Job; None while it runs."""
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "succeeded"
        if cond.get("type") == "Failed":
            return _BUILD_REASONS.get(str(cond.get("reason")), "failed")
    return None


def count_finished_builds(informer: Informer, is_leader: Callable[[], bool]) -> None:
    """Count a build Job when an event shows it finishing (the cache had it unfinished)."""
    forward: Handler = informer.on_event

    def on_event(type_: str, obj: Manifest, old: Manifest | None) -> None:
        outcome = build_outcome(obj)
        if old is not None and outcome and build_outcome(old) is None and _is_build(obj):
            if type_ != "DELETED" and is_leader():
                BUILDS.labels(outcome).inc()
        forward(type_, obj, old)

    informer.on_event = on_event


def _is_build(job: Manifest) -> bool:
    labels = (job.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(LABEL_JOB_TYPE) == "build")


# --- scrape-time state -----------------------------------------------------------------------


class RuntimeCollector(Collector):
    """Environments by phase (from the informer cache), leader status, informer sync."""

    def __init__(self, watcher: Watcher, elector: LeaderElector) -> None:
        self.watcher, self.elector = watcher, elector

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield self._leader()
        yield self._synced()
        environments = self.watcher.informers.get("Environment")
        if environments is not None and environments.synced.is_set():
            yield self._phases(environments.items())

    def _leader(self) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "catalyst_reconciler_leader", "1 while this replica holds the Lease, else 0"
        )
        gauge.add_metric([], 1.0 if self.elector.is_leader() else 0.0)
        return gauge

    def _synced(self) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "catalyst_reconciler_informer_synced",
            "1 when the informer of a kind has listed at least once",
            labels=["kind"],
        )
        for kind, informer in sorted(self.watcher.informers.items()):
            gauge.add_metric([kind], 1.0 if informer.synced.is_set() else 0.0)
        return gauge

    @staticmethod
    def _phases(items: list[Manifest]) -> GaugeMetricFamily:
        counts = dict.fromkeys((p.value for p in Phase), 0)
        for env in items:
            phase = str(((env.get("status") or {}).get("phase")) or Phase.PENDING.value)
            key = phase if phase in counts else "Unknown"
            counts[key] = counts.get(key, 0) + 1
        gauge = GaugeMetricFamily(
            "catalyst_environments", "Environments by phase (informer cache)", labels=["phase"]
        )
        for phase, count in counts.items():
            gauge.add_metric([phase], float(count))
        return gauge


def health(watcher: Watcher, elector: LeaderElector) -> list[str]:
    """Problems that make this process useless: dead election, informer or resync threads."""
    problems = [] if elector.campaigning() else ["leader election thread stopped"]
    dead = [t.name for t in watcher.threads if not t.is_alive()]
    if dead and not watcher.stop_event.is_set():
        problems.append("threads stopped: " + ", ".join(sorted(dead)))
    return problems


@dataclass
class RuntimeMetrics:
    """What `observe_process` set up; `close()` undoes it."""

    collector: RuntimeCollector
    server: MetricsServer | None

    def close(self) -> None:
        """Stop serving and unregister the scrape-time collector."""
        if self.server is not None:
            self.server.stop()
        REGISTRY.unregister(self.collector)


def observe_process(
    app: Celery, watcher: Watcher, elector: LeaderElector, settings: Settings
) -> RuntimeMetrics:
    """Logging through core.logs, task log context, metrics; serve them when a port is set."""
    route_celery_logging(lambda: configure_logging(settings.log_level, settings.log_format))
    install_task_log_context(app)
    install_celery_metrics(app, lambda: None)  # task runs; the server is started here instead
    count_finished_builds(watcher.informers["Job"], elector.is_leader)
    collector = RuntimeCollector(watcher, elector)
    REGISTRY.register(collector)
    port = settings.metrics_port
    server = None
    if port is not None:
        server = serve_metrics(port, health=lambda: health(watcher, elector))
    return RuntimeMetrics(collector, server)
