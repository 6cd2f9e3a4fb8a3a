"""Pure: why a rollout cannot succeed, read from the new revision's pods as a kubelet reports them.

A Deployment's progress deadline (10 minutes by default) is far too late to tell a PR that its
image cannot be pulled. The pods of the new revision say it at once: a container waiting in
CrashLoopBackOff, ImagePullBackOff, ErrImagePull, InvalidImageName or
CreateContainerConfigError, one OOMKilled again and again, or an init container that keeps
failing. Only the new revision counts (the old ReplicaSet's pods keep serving meanwhile):

* Deployment: the ReplicaSets it owns (by uid) whose `deployment.kubernetes.io/revision` equals
  its own, once its status has observed its generation; their pods (owned by uid).
* StatefulSet: its pods whose `controller-revision-hash` label is `status.updateRevision`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

Manifest = dict[str, Any]
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_LABEL = "controller-revision-hash"
WAITING_FAILURES = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
    }
)
NO_LOGS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
OOM_RESTARTS = 2  # OOMKilled this often is not a blip


@dataclass(frozen=True)
class PodFailure:
    """One container of the new revision that cannot run, and what the kubelet says about it."""

    workload: str  # "Deployment/web"
    pod: str
    container: str
    reason: str
    message: str
    init: bool = False
    restarts: int = 0

    @property
    def has_logs(self) -> bool:
        """Whether the container ever ran (an image that was never pulled has no log)."""
        return self.reason not in NO_LOGS and self.reason != "CreateContainerConfigError"

    def describe(self) -> str:
        """One line for the status and the PR comment: what failed, where, and how to retry."""
        kind = "init container" if self.init else "container"
        detail = f": {self.message}" if self.message else ""
        again = f" (restarted {self.restarts}x)" if self.restarts else ""
        return (
            f"{self.workload}: {kind} {self.container} of pod {self.pod} is in "
            f"{self.reason}{again}{detail}. The previous pods keep serving; push a fix, or "
            "comment `/catalyst redeploy` once the cause outside the code is fixed."
        )


def _meta(obj: Manifest) -> Manifest:
    return obj.get("metadata") or {}


def _owned_by(obj: Manifest, uid: Any) -> bool:
    return any(r.get("uid") == uid for r in _meta(obj).get("ownerReferences") or [])


def new_revision_pods(workload: Manifest, owned: Iterable[Manifest]) -> list[Manifest]:
    """The pods of the newest revision of a Deployment or StatefulSet (see module docstring).

    `owned` holds the namespace's ReplicaSets and Pods (any order, any owner).
    """
    objects = list(owned)
    pods = [o for o in objects if o.get("kind") == "Pod"]
    meta, status = _meta(workload), workload.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return []  # the controller has not acted on the new template yet
    if workload.get("kind") == "StatefulSet":
        revision = status.get("updateRevision")
        return [
            p
            for p in pods
            if _owned_by(p, meta.get("uid"))
            and (_meta(p).get("labels") or {}).get(REVISION_LABEL) == revision
        ]
    revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    sets = [
        rs
        for rs in objects
        if rs.get("kind") == "ReplicaSet"
        and _owned_by(rs, meta.get("uid"))
        and (_meta(rs).get("annotations") or {}).get(REVISION_ANNOTATION) == revision
    ]
    uids = {_meta(rs).get("uid") for rs in sets}
    return [p for p in pods if any(_owned_by(p, uid) for uid in uids)]


def container_failure(pod: Manifest) -> PodFailure | None:
    """The first container (init containers first) of `pod` that cannot run, if any."""
    status = pod.get("status") or {}
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for row in status.get(key) or []:
            found = _row_failure(row)
            if found is not None:
                reason, message = found
                return PodFailure(
                    workload="",
                    pod=str(_meta(pod).get("name")),
                    container=str(row.get("name")),
                    reason=reason,
                    message=message,
                    init=init,
                    restarts=int(row.get("restartCount") or 0),
                )
    return None


def _row_failure(row: Manifest) -> tuple[str, str] | None:
    state, last = row.get("state") or {}, row.get("lastState") or {}
    waiting = state.get("waiting") or {}
    terminated = last.get("terminated") or state.get("terminated") or {}
    restarts = int(row.get("restartCount") or 0)
    if terminated.get("reason") == "OOMKilled" and restarts >= OOM_RESTARTS:
        return "OOMKilled", "killed for using more memory than its limit"
    if waiting.get("reason") in WAITING_FAILURES:
        return str(waiting["reason"]), str(waiting.get("message") or "").strip()
    return None


def rollout_failure(
    workloads: Mapping[tuple[str, str], Manifest], owned: Iterable[Manifest]
) -> PodFailure | None:
    """The first failing container of any workload's new revision (workloads in name order)."""
    objects = list(owned)
    for (kind, name), workload in sorted(workloads.items()):
        if kind not in ("Deployment", "StatefulSet"):
            continue
        for pod in sorted(new_revision_pods(workload, objects), key=lambda p: _meta(p)["name"]):
            failure = container_failure(pod)
            if failure is not None:
                return replace(failure, workload=f"{kind}/{name}")
    return None
