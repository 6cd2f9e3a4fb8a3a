"""Simulated controllers, off by default and switchable per test.

* ``jobs``: a Job becomes active, then Complete (``succeeded=1``) or, when its name matches a
  failing :meth:`Controllers.job_outcome` rule, Failed (``failed=1`` with reason/message). A
  failing Job leaves a Pod (``<job>-<5 chars>``, labels ``job-name``,
  ``batch.kubernetes.io/job-name`` and the ``controller-uid`` ones, the Job as its controller
  ownerReference, phase Failed) whose ``/log`` serves the rule's ``log`` text. A test leaves
  such a Pod in any phase itself with :meth:`Controllers.job_pod_ended` (``jobs`` on or off).
* ``deployments``: Deployments and StatefulSets report every replica ready/available/updated,
  ``observedGeneration = generation`` and (Deployments) Available/Progressing conditions. A
  Deployment running an image that matches an :meth:`Controllers.unavailable_images` pattern
  (fnmatch) instead reports a failed rollout: no replica available and ``Progressing=False``
  with reason ``ProgressDeadlineExceeded``, as when an image cannot be pulled.
* ``pods``: ReplicaSets and pods of Deployments/StatefulSets judged as a kubelet would (missing
  Secrets, unpullable images, crash loops; see :mod:`.kubelet`); it then owns their status.
* ``namespaces``: DELETE on a namespace marks it Terminating; the controller deletes what is in
  it, waits for finalizers, then removes the namespace. (Off: DELETE removes the namespace and
  everything in it at once.)

A daemon thread runs :meth:`Controllers.step` whenever the store changes and every
``interval`` seconds (20 ms by default). ``step()`` may also be called directly.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import objects as o
from .api import Api
from .errors import ApiError
from .kubelet import PodSimulator
from .resources import NAMESPACE_KEY, GroupKind

Obj = dict[str, Any]
KINDS = ("jobs", "deployments", "namespaces", "pods")
JOBS: GroupKind = ("batch", "jobs")
DEPLOYMENTS: GroupKind = ("apps", "deployments")
STATEFULSETS: GroupKind = ("apps", "statefulsets")
POD_KEY: GroupKind = ("", "pods")
UPDATED = "lastUpdateTime"


@dataclass(frozen=True)
class JobOutcome:
    """How Jobs whose name matches ``pattern`` (fnmatch) end, and after how long."""

    pattern: str
    succeed: bool = True
    reason: str = "BackoffLimitExceeded"
    message: str = "Job has reached the specified backoff limit"
    delay: float = 0.0
    log: str = ""


def _condition(
    kind: str, reason: str, message: str, when: str, probe: str = "lastProbeTime"
) -> Obj:
    """A true condition; Jobs stamp ``lastProbeTime``, Deployments ``lastUpdateTime``."""
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        probe: when,
        "lastTransitionTime": when,
    }


def job_finished(job: Obj) -> bool:
    """Whether a Job has a true Complete or Failed condition."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def job_final_status(job: Obj, outcome: JobOutcome) -> Obj:
    """The status of a Job that just ended as ``outcome`` says."""
    when = o.now()
    status = dict(job.get("status") or {})
    status.pop("active", None)
    status.setdefault("startTime", when)
    if outcome.succeed:
        done = _condition(
            "Complete", "CompletionsReached", "Reached expected number of succeeded pods", when
        )
        return {**status, "succeeded": 1, "completionTime": when, "conditions": [done]}
    failed = _condition("Failed", outcome.reason, outcome.message, when)
    return {**status, "failed": 1, "conditions": [failed]}


def job_pod(job: Obj) -> Obj:
    """The Pod of a Job: its template, labelled with the Job's name and uid, the Job its owner."""
    md, template = o.meta(job), (job.get("spec") or {}).get("template") or {}
    name, uid = o.name_of(job), str(md.get("uid"))
    labels = {
        **((template.get("metadata") or {}).get("labels") or {}),
        "job-name": name,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "batch.kubernetes.io/controller-uid": uid,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-{uid[:5]}",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        "spec": template.get("spec") or {"containers": [{"name": "main", "image": "busybox"}]},
    }


def replicas_of(obj: Obj) -> int:
    """``spec.replicas`` with the API default of 1."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def deployment_status(obj: Obj) -> Obj:
    """A fully rolled-out Deployment status."""
    n, when, name = replicas_of(obj), o.now(), o.name_of(obj)
    progressed = f'ReplicaSet "{name}" has successfully progressed.'
    available = "Deployment has minimum availability."
    return {
        "observedGeneration": o.meta(obj).get("generation", 1),
        "replicas": n,
        "updatedReplicas": n,
        "readyReplicas": n,
        "availableReplicas": n,
        "conditions": [
            _condition("Available", "MinimumReplicasAvailable", available, when, UPDATED),
            _condition("Progressing", "NewReplicaSetAvailable", progressed, when, UPDATED),
        ],
    }


def stalled_deployment_status(obj: Obj) -> Obj:
    """The status of a Deployment whose pods never start (its image cannot be pulled)."""
    n, when, name = replicas_of(obj), o.now(), o.name_of(obj)
    stalled = {
        **_condition(
            "Progressing",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            when,
            UPDATED,
        ),
        "status": "False",
    }
    unavailable = {
        **_condition(
            "Available",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            when,
            UPDATED,
        ),
        "status": "False",
    }
    return {
        "observedGeneration": o.meta(obj).get("generation", 1),
        "replicas": n,
        "updatedReplicas": n,
        "unavailableReplicas": n,
        "conditions": [unavailable, stalled],
    }


def images_of(obj: Obj) -> list[str]:
    """Images of every container and init container of a workload's pod template."""
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    return [str(c.get("image", "")) for c in containers]


def statefulset_status(obj: Obj) -> Obj:
    """A fully rolled-out StatefulSet status."""
    n, revision = replicas_of(obj), f"{o.name_of(obj)}-{o.meta(obj).get('generation', 1)}"
    return {
        "observedGeneration": o.meta(obj).get("generation", 1),
        "replicas": n,
        "readyReplicas": n,
        "currentReplicas": n,
        "updatedReplicas": n,
        "availableReplicas": n,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def rolled_out(obj: Obj) -> bool:
    """Whether the status already reports the current generation fully available."""
    status = obj.get("status") or {}
    n = replicas_of(obj)
    return (
        status.get("observedGeneration") == o.meta(obj).get("generation", 1)
        and status.get("availableReplicas") == n
        and status.get("readyReplicas") == n
        and status.get("updatedReplicas") == n
    )


class Controllers:
    """The switchable controllers of one server."""

    def __init__(self, api: Api, interval: float = 0.02) -> None:
        self.api = api
        self.interval = interval
        self.enabled: set[str] = set()
        self.outcomes: list[JobOutcome] = []
        self.unavailable: list[str] = []
        self._seen: dict[str, float] = {}
        self.pods = PodSimulator(self)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        api.store.listeners.append(self._wake.set)

    def enable(self, *names: str) -> None:
        """Turn on ``"jobs"``, ``"deployments"``, ``"namespaces"``, ``"pods"`` (none = the first
        three: ``pods`` changes how workloads roll out, so a test asks for it by name)."""
        for name in names or KINDS[:3]:
            if name not in KINDS:
                raise ValueError(f"unknown controller {name!r}; choose from {KINDS}")
            self.enabled.add(name)
        self.api.namespace_controller = "namespaces" in self.enabled
        self._wake.set()

    def disable(self, *names: str) -> None:
        """Turn controllers off (none = all)."""
        self.enabled.difference_update(names or KINDS)
        self.api.namespace_controller = "namespaces" in self.enabled

    def job_outcome(
        self,
        pattern: str,
        *,
        succeed: bool = False,
        reason: str = "BackoffLimitExceeded",
        message: str = "Job has reached the specified backoff limit",
        delay: float = 0.0,
        log: str = "",
    ) -> None:
        """Jobs named like ``pattern`` end this way (later rules win). Default rule: succeed.

        A failing Job's Pod serves ``log`` as its container log.
        """
        self.outcomes.insert(0, JobOutcome(pattern, succeed, reason, message, delay, log))

    def unavailable_images(self, *patterns: str) -> None:
        """Deployments running an image matching one of ``patterns`` (fnmatch) fail to roll out."""
        self.unavailable.extend(patterns)
        self._wake.set()

    def failing_commands(self, *markers: str) -> None:
        """Containers whose command line contains one of ``markers`` crash-loop (``pods``)."""
        self.pods.failing_commands.update(markers)
        self._wake.set()

    def image_unavailable(self, image: str) -> bool:
        """Whether ``image`` matches an :meth:`unavailable_images` pattern."""
        return any(fnmatch.fnmatchcase(image, p) for p in self.unavailable)

    def outcome_for(self, name: str) -> JobOutcome:
        """The rule that decides Job ``name``."""
        return next(
            (r for r in self.outcomes if fnmatch.fnmatchcase(name, r.pattern)), JobOutcome("*")
        )

    # --- running -------------------------------------------------------------------

    def start(self) -> None:
        """Run the controllers in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kubefake-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for the current step)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self.enabled and not self._stop.is_set():
                self.step()

    def step(self) -> None:
        """One pass of every enabled controller."""
        steps: dict[str, Callable[[], None]] = {
            "jobs": self._step_jobs,
            "deployments": self._step_workloads,
            "namespaces": self._step_namespaces,
            "pods": self.pods.step,
        }
        for name in KINDS:
            if name in self.enabled:
                steps[name]()

    # --- jobs ------------------------------------------------------------------------

    def _step_jobs(self) -> None:
        entries, _ = self.api.store.select(JOBS, None)
        for entry in entries:
            job = entry.obj
            if not job_finished(job) and not (job.get("spec") or {}).get("suspend"):
                self._advance_job(job)

    def _advance_job(self, job: Obj) -> None:
        outcome = self.outcome_for(o.name_of(job))
        uid = str(o.meta(job).get("uid"))
        first = self._seen.setdefault(uid, time.monotonic())
        if time.monotonic() - first >= outcome.delay:
            self._set_status(JOBS, job, job_final_status(job, outcome))
            if not outcome.succeed:
                self.job_pod_ended(job, "Failed", outcome.log)
        elif not (job.get("status") or {}).get("active"):
            self._set_status(
                JOBS, job, {**(job.get("status") or {}), "active": 1, "startTime": o.now()}
            )

    def job_pod_ended(self, job: Obj, phase: str = "Succeeded", log: str = "") -> None:
        """Leave the Pod of ``job`` (see :func:`job_pod`) ended in ``phase``, as a kubelet reports
        it, serving ``log``; the Job's own status is untouched (the ``jobs`` controller's)."""
        pods = self.api.registry.lookup("", "v1", "pods")
        assert pods is not None
        namespace = o.meta(job).get("namespace")
        try:
            pod = self.api.create(pods, namespace, job_pod(job))
        except ApiError:  # already there (the Job failed before) or its namespace is closing
            return
        self.api.pod_logs[(str(namespace), o.name_of(pod))] = log
        self._set_status(POD_KEY, pod, {"phase": phase, "startTime": o.now()})

    # --- deployments / statefulsets ----------------------------------------------------

    def _step_workloads(self) -> None:
        if "pods" in self.enabled:
            return  # the pod simulator owns workload status
        for key, status_of in (
            (DEPLOYMENTS, deployment_status),
            (STATEFULSETS, statefulset_status),
        ):
            entries, _ = self.api.store.select(key, None)
            for entry in entries:
                if key == DEPLOYMENTS and any(map(self.image_unavailable, images_of(entry.obj))):
                    self._stall(entry.obj)
                elif not rolled_out(entry.obj):
                    self._set_status(key, entry.obj, status_of(entry.obj))

    def _stall(self, obj: Obj) -> None:
        status = obj.get("status") or {}
        if status.get("observedGeneration") != o.meta(obj).get("generation", 1) or (
            status.get("availableReplicas")
        ):
            self._set_status(DEPLOYMENTS, obj, stalled_deployment_status(obj))

    def _set_status(self, key: GroupKind, obj: Obj, status: Obj) -> None:
        store = self.api.store
        with store.lock:
            current = store.entry(key, o.meta(obj).get("namespace"), o.name_of(obj))
            if current is not None and current.obj is obj:
                store.commit(key, {**obj, "status": status}, obj)

    # --- namespaces --------------------------------------------------------------------

    def _step_namespaces(self) -> None:
        entries, _ = self.api.store.select(NAMESPACE_KEY, None)
        for entry in entries:
            if o.is_deleting(entry.obj):
                self._finalize_namespace(entry.obj)

    def _finalize_namespace(self, namespace: Obj) -> None:
        store, name = self.api.store, o.name_of(namespace)
        remaining = list(store.in_namespace(name))
        for key, obj in remaining:
            rtype = self.api.registry.for_key(key)
            if rtype is None:
                store.remove(key, obj)
            elif not o.is_deleting(obj):
                store.delete(rtype, obj)
        if not remaining and not o.finalizers(namespace):
            store.remove(NAMESPACE_KEY, namespace)
