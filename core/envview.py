"""Pure: what people are shown about environments and their pods (no I/O).

The dashboard and the CLI both summarise Environment CRs and the raw pod, event and metrics
objects the cluster returns; these functions decide the rows once so both shells agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.model import Environment, EnvironmentStatus
from core.naming import short_sha

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EnvironmentRow:
    """One line of the environments list."""

    namespace: str
    name: str
    project: str
    repository: str | None
    pr_number: int | None
    phase: str
    url: str | None
    commit: str
    created: str | None
    fork: bool

    @property
    def key(self) -> str:
        """`NAMESPACE/NAME`, the handle the CLI and the dashboard's URLs use."""
        return f"{self.namespace}/{self.name}"


def environment_row(env: Environment) -> EnvironmentRow:
    """The list row of one Environment."""
    status = env.status or EnvironmentStatus()
    source = env.primary_source
    phase = "Deleting" if env.metadata.deletion_timestamp else status.phase.value
    return EnvironmentRow(
        namespace=env.metadata.namespace or "",
        name=env.metadata.name,
        project=env.spec.project_ref.name,
        repository=env.spec.github.repository if env.spec.github else None,
        pr_number=source.pr_number,
        phase=phase,
        url=status.url,
        commit=short_sha(status.commit_sha or source.commit_sha),
        created=env.metadata.creation_timestamp,
        fork=source.fork,
    )


def pr_link(web_base: str, row: EnvironmentRow) -> str | None:
    """The pull request's page on GitHub (or GHES), when the row is a PR preview."""
    if row.repository is None or row.pr_number is None:
        return None
    return f"{web_base.rstrip('/')}/{row.repository}/pull/{row.pr_number}"


def filter_rows(
    rows: Sequence[EnvironmentRow], *, project: str | None = None, phase: str | None = None
) -> list[EnvironmentRow]:
    """The rows of one project and/or one phase (empty filters keep everything)."""
    return [
        r for r in rows if (not project or r.project == project) and (not phase or r.phase == phase)
    ]


def parse_time(stamp: str | None) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp, or None when absent or malformed."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(stamp: str | None, now: datetime) -> str:
    """`kubectl`-style age: 42s, 7m, 3h, 2d (or `-` when unknown)."""
    then = parse_time(stamp)
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def utcnow() -> datetime:
    """The current time, timezone-aware (callers pass it in so views stay testable)."""
    return datetime.now(UTC)


# --- pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodRow:
    """One pod as people need to see it."""

    name: str
    phase: str
    ready: str
    restarts: int
    last_state: str
    containers: tuple[str, ...]
    created: str | None


def pod_row(pod: Obj) -> PodRow:
    """Phase, `ready/total`, restarts and the last termination of a pod's containers."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    names = tuple(c.get("name", "") for c in spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    return PodRow(
        name=meta.get("name", ""),
        phase=_pod_phase(status, statuses, deleting=bool(meta.get("deletionTimestamp"))),
        ready=f"{ready}/{len(names)}",
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        last_state=_last_state(statuses),
        containers=names,
        created=meta.get("creationTimestamp"),
    )


def _pod_phase(status: Obj, statuses: Sequence[Obj], *, deleting: bool) -> str:
    # A waiting reason (CrashLoopBackOff, ImagePullBackOff) says more than "Running/Pending".
    if deleting:
        return "Terminating"
    for c in statuses:
        reason = ((c.get("state") or {}).get("waiting") or {}).get("reason")
        if reason and reason != "ContainerCreating":
            return str(reason)
    return str(status.get("phase") or "Unknown")


def _last_state(statuses: Sequence[Obj]) -> str:
    parts = []
    for c in statuses:
        term = (c.get("lastState") or {}).get("terminated")
        if term:
            reason = term.get("reason") or "Terminated"
            parts.append(f"{c.get('name')}: {reason} (exit {term.get('exitCode')})")
    return "; ".join(parts) or "-"


# --- events and metrics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    """One recent Kubernetes event of the environment's namespace."""

    when: str | None
    type: str
    reason: str
    object: str
    message: str
    count: int


def event_rows(events: Sequence[Obj], *, limit: int = 20) -> list[EventRow]:
    """The newest `limit` events, newest first."""
    rows = [_event_row(e) for e in events]
    rows.sort(key=lambda r: r.when or "", reverse=True)
    return rows[:limit]


def _event_row(event: Obj) -> EventRow:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    when = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    return EventRow(
        when=when or (event.get("metadata") or {}).get("creationTimestamp"),
        type=str(event.get("type") or "Normal"),
        reason=str(event.get("reason") or ""),
        object=f"{involved.get('kind', '')}/{involved.get('name', '')}",
        message=str(event.get("message") or event.get("note") or ""),
        count=int(event.get("count") or 1),
    )


@dataclass(frozen=True, slots=True)
class PodUsage:
    """CPU (millicores) and memory (MiB) of one pod, summed over its containers."""

    pod: str
    cpu_millicores: int
    memory_mib: int


def pod_usage(item: Obj) -> PodUsage:
    """A `metrics.k8s.io/v1beta1` PodMetrics item as totals."""
    containers = item.get("containers") or []
    cpu = sum(parse_cpu(str((c.get("usage") or {}).get("cpu", "0"))) for c in containers)
    mem = sum(parse_memory(str((c.get("usage") or {}).get("memory", "0"))) for c in containers)
    return PodUsage(str((item.get("metadata") or {}).get("name", "")), cpu, mem // (1024 * 1024))


def parse_cpu(quantity: str) -> int:
    """A CPU quantity (`250m`, `1`, `12345678n`, `500u`) in millicores."""
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity and quantity[-1] in units:
        return int(float(quantity[:-1]) * units[quantity[-1]])
    return int(float(quantity or 0) * 1000)


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6}
_MEMORY_UNITS |= {"G": 10**9, "T": 10**12}


def parse_memory(quantity: str) -> int:
    """A memory quantity (`128974848`, `123Mi`, `1G`) in bytes."""
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * _MEMORY_UNITS[suffix])
    return int(float(quantity or 0))


# --- a missing environment (FR-ENV-001) ----------------------------------------------------------

GONE_CAUSES = (
    "it was deleted (by `/catalyst teardown`, kubectl or another tool)",
    "it was torn down when its pull request was closed or merged",
    "its time to live (the Project's `previews.ttl`) ran out",
    "it has not been reconciled yet: a preview that was just requested appears within a minute",
)


@dataclass(frozen=True, slots=True)
class Gone:
    """What is missing and why it might be: shown instead of an environment that is not there."""

    what: str
    key: str
    causes: tuple[str, ...] = GONE_CAUSES


def environment_gone(namespace: str, name: str) -> Gone:
    """The Environment CR itself does not exist."""
    return Gone("Environment", f"{namespace}/{name}")


def namespace_gone(namespace: str) -> Gone:
    """The Environment exists but its namespace does not (torn down or not created yet)."""
    return Gone("Namespace", namespace)


# --- which container a command means ----------------------------------------------------------


def is_build_pod(pod: Obj) -> bool:
    """A build Job's pod (not part of the running preview)."""
    return "job-name" in ((pod.get("metadata") or {}).get("labels") or {})


def pick_container(pods: Sequence[Obj], service: str | None) -> tuple[str, str] | None:
    """(pod, container) of the preview's workload: the first running pod with a container or
    `app` label named `service`, or without a service the first running pod's first container."""
    running = [p for p in pods if not is_build_pod(p)]
    running.sort(key=lambda p: (p.get("status") or {}).get("phase") != "Running")
    for pod in running:
        row = pod_row(pod)
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if service is None and row.containers:
            return row.name, row.containers[0]
        if service in row.containers:
            return row.name, service
        if service and service in (labels.get("app"), labels.get("app.kubernetes.io/name")):
            return row.name, row.containers[0]
    return None
