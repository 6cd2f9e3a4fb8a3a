"""Pure: what a preview's pods look like to a person on the PR (no I/O).

`pod_state` reads a Pod as the API returns it (ready containers, restarts, the reason a
container waits or died); `service_of` names the service a pod belongs to from the labels our
modes set; `render_pods` and `render_logs` make the `/catalyst status` table and the
`/catalyst logs` reply, every log line redacted and the block collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.redaction import redact_secrets

# Labels naming a pod's service, most specific first (compose, managed services, docker, Helm).
SERVICE_LABELS = (
    "catalyst.dev/compose-service",
    "catalyst.dev/managed-service",
    "app.kubernetes.io/component",
    "app.kubernetes.io/name",
    "app",
)
MAX_REPLY_CHARS = 60_000  # GitHub caps a comment at 65,536 characters


@dataclass(frozen=True, slots=True)
class PodState:
    """One pod as the kubelet reports it."""

    name: str
    service: str
    phase: str
    ready: int
    containers: int
    restarts: int
    reason: str = ""
    container_names: tuple[str, ...] = ()


def service_of(pod: dict[str, Any]) -> str:
    """The service a pod runs (its labels), else its own name."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for key in SERVICE_LABELS:
        if labels.get(key):
            return str(labels[key])
    return str((pod.get("metadata") or {}).get("name") or "")


def pod_state(pod: dict[str, Any]) -> PodState:
    """The state of one Pod object."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    names = tuple(str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or [])
    reasons = [_reason(c) for c in statuses if _reason(c)]
    return PodState(
        name=str((pod.get("metadata") or {}).get("name") or ""),
        service=service_of(pod),
        phase=str(status.get("phase") or "Unknown"),
        ready=sum(1 for c in statuses if c.get("ready")),
        containers=len(names) or len(statuses),
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        reason=reasons[0] if reasons else "",
        container_names=names,
    )


def _reason(container: dict[str, Any]) -> str:
    state = container.get("state") or {}
    for key in ("waiting", "terminated"):
        if state.get(key) and state[key].get("reason") not in (None, "Completed"):
            return str(state[key]["reason"])
    return ""


def render_pods(pods: list[PodState]) -> str:
    """A Markdown table of the pods (or a line saying there are none)."""
    if not pods:
        return "No pods are running."
    rows = ["| Pod | Service | Ready | Restarts | State |", "|---|---|---|---|---|"]
    for pod in sorted(pods, key=lambda p: p.name):
        state = pod.reason or pod.phase
        rows.append(
            f"| `{pod.name}` | {pod.service} | {pod.ready}/{pod.containers} | "
            f"{pod.restarts} | {state} |"
        )
    return "\n".join(rows)


def render_logs(project: str, logs: list[tuple[str, str]], *, lines: int) -> str:
    """The `/catalyst logs` reply: one collapsed block per pod/container, redacted."""
    if not logs:
        return f"**{project}**: no pods to show logs of."
    budget = MAX_REPLY_CHARS // len(logs)
    blocks = [f"**{project}**: last {lines} log lines"]
    for title, text in logs:
        safe = redact_secrets(text).replace("```", "'''")[-budget:].rstrip("\n") or "(empty)"
        blocks += [f"<details><summary>{title}</summary>\n", "```text", safe, "```", "</details>"]
    return "\n".join(blocks)
