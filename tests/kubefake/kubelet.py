"""The ``pods`` controller: ReplicaSets and pods of workloads, judged the way a kubelet would.

Switched on with ``controllers.enable("pods")`` (it then owns Deployment and StatefulSet status
instead of the ``deployments`` controller):

* a Deployment gets one ReplicaSet per pod template (``<name>-<hash>``, label
  ``pod-template-hash``, annotation ``deployment.kubernetes.io/revision`` on both, as the real
  controller writes them) and its pods; the old ReplicaSet and its pods stay until every new pod
  is ready, so the previous revision keeps serving while a broken one fails;
* a StatefulSet gets pods ``<name>-<i>`` labelled ``controller-revision-hash`` with its
  ``status.updateRevision``, replaced one revision at a time;
* a container whose env/envFrom names a missing Secret (or key) waits in
  ``CreateContainerConfigError``; one whose image matches ``Controllers.unavailable_images``
  waits in ``ImagePullBackOff``; one whose command line contains a ``failing_commands`` marker
  crash-loops (``CrashLoopBackOff``, rising ``restartCount``, ``lastState.terminated``), and its
  log serves ``crash_log``; a failing init container leaves the pod Pending the same way.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from . import objects as o

if TYPE_CHECKING:
    from .controllers import Controllers

Obj = dict[str, Any]
REPLICASETS = ("apps", "replicasets")
PODS = ("", "pods")
SECRETS = ("", "secrets")
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
REVISION_LABEL = "controller-revision-hash"
RESTART_EVERY = 0.2  # seconds between simulated crash restarts


def template_hash(template: Obj) -> str:
    """A stable short hash of a pod template (the real controller's is FNV; any stable one does)."""
    raw = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def owner_ref(owner: Obj) -> Obj:
    """A controller owner reference to ``owner``."""
    return {
        "apiVersion": owner.get("apiVersion", "apps/v1"),
        "kind": owner.get("kind"),
        "name": o.name_of(owner),
        "uid": o.meta(owner).get("uid"),
        "controller": True,
    }


def owned_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``obj`` has an owner reference to ``owner``'s uid."""
    uid = o.meta(owner).get("uid")
    return any(r.get("uid") == uid for r in o.meta(obj).get("ownerReferences") or [])


class PodSimulator:
    """The ``pods`` controller of one server (see module docstring)."""

    def __init__(self, controllers: Controllers) -> None:
        self.controllers = controllers
        self.api = controllers.api
        self.failing_commands: set[str] = set()
        self.crash_log = "starting\nfatal: the app crashed\n"
        self._started: dict[str, float] = {}

    # --- store helpers ---------------------------------------------------------------

    def _all(self, key: tuple[str, str], namespace: str | None = None) -> list[Obj]:
        entries, _ = self.api.store.select(key, namespace)
        return [e.obj for e in entries]

    def _create(self, plural: str, namespace: str, body: Obj) -> Obj:
        group, version = ("apps", "v1") if plural == "replicasets" else ("", "v1")
        rtype = self.api.registry.lookup(group, version, plural)
        assert rtype is not None
        return self.api.create(rtype, namespace, body)

    def _put(self, key: tuple[str, str], obj: Obj) -> None:
        store = self.api.store
        with store.lock:
            current = store.entry(key, o.meta(obj).get("namespace"), o.name_of(obj))
            if current is not None and current.obj != obj:
                store.commit(key, obj, current.obj)

    def _remove(self, key: tuple[str, str], obj: Obj) -> None:
        self.api.store.remove(key, obj)

    # --- the loop --------------------------------------------------------------------

    def step(self) -> None:
        """Converge every Deployment's ReplicaSets and every workload's pods once."""
        for deployment in self._all(("apps", "deployments")):
            self._deployment(deployment)
        for statefulset in self._all(("apps", "statefulsets")):
            self._statefulset(statefulset)

    def _deployment(self, deployment: Obj) -> None:
        ns, name = str(o.meta(deployment).get("namespace")), o.name_of(deployment)
        template = (deployment.get("spec") or {}).get("template") or {}
        digest = template_hash(template)
        sets = [rs for rs in self._all(REPLICASETS, ns) if owned_by(rs, deployment)]
        current = next((rs for rs in sets if o.name_of(rs) == f"{name}-{digest}"), None)
        if current is None:
            revision = 1 + max((_revision(rs) for rs in sets), default=0)
            current = self._new_replica_set(deployment, template, digest, revision)
            meta = o.meta(deployment)
            annotations = {**(meta.get("annotations") or {}), REVISION: str(revision)}
            self._put(
                ("apps", "deployments"),
                {**deployment, "metadata": {**meta, "annotations": annotations}},
            )
            return  # the next step sees the annotated Deployment
        new_pods = self._ensure_pods(current, _replicas(deployment), f"{o.name_of(current)}-")
        ready_new = [p for p in new_pods if _ready(p)]
        old_sets = [rs for rs in sets if rs is not current and o.name_of(rs) != o.name_of(current)]
        old_pods = [p for rs in old_sets for p in self._all(PODS, ns) if owned_by(p, rs)]
        if len(ready_new) == len(new_pods):
            for obj in old_pods:
                self._remove(PODS, obj)
            for rs in old_sets:
                self._remove(REPLICASETS, rs)
            old_pods = []
        ready = len(ready_new) + len([p for p in old_pods if _ready(p)])
        self._workload_status(
            ("apps", "deployments"),
            deployment,
            {
                "replicas": len(new_pods) + len(old_pods),
                "updatedReplicas": len(new_pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
            },
        )

    def _new_replica_set(self, deployment: Obj, template: Obj, digest: str, revision: int) -> Obj:
        ns, name = str(o.meta(deployment).get("namespace")), o.name_of(deployment)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest}
        pod_template = {
            **template,
            "metadata": {**(template.get("metadata") or {}), "labels": labels},
        }
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{digest}",
                "labels": labels,
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_ref(deployment)],
            },
            "spec": {
                "replicas": _replicas(deployment),
                "selector": {"matchLabels": labels},
                "template": pod_template,
            },
        }
        return self._create("replicasets", ns, body)

    def _statefulset(self, statefulset: Obj) -> None:
        name = o.name_of(statefulset)
        template = (statefulset.get("spec") or {}).get("template") or {}
        revision = f"{name}-{template_hash(template)}"
        pods = []
        for i in range(_replicas(statefulset)):
            pod = self._pod(statefulset, template, f"{name}-{i}", {REVISION_LABEL: revision})
            pods.append(pod)
        ready = len([p for p in pods if _ready(p)])
        status = {
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "currentReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updateRevision": revision,
            "currentRevision": revision,
        }
        self._workload_status(("apps", "statefulsets"), statefulset, status)

    def _workload_status(self, key: tuple[str, str], obj: Obj, status: Obj) -> None:
        generation = o.meta(obj).get("generation", 1)
        wanted = {**(obj.get("status") or {}), **status, "observedGeneration": generation}
        if obj.get("status") != wanted:
            self._put(key, {**obj, "status": wanted})

    # --- pods ------------------------------------------------------------------------

    def _ensure_pods(self, replica_set: Obj, count: int, prefix: str) -> list[Obj]:
        template = (replica_set.get("spec") or {}).get("template") or {}
        return [self._pod(replica_set, template, f"{prefix}{i}", {}) for i in range(count)]

    def _pod(self, owner: Obj, template: Obj, name: str, extra_labels: dict[str, str]) -> Obj:
        ns = str(o.meta(owner).get("namespace"))
        current = self.api.store.entry(PODS, ns, name)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), **extra_labels}
        pod = current.obj if current is not None else None
        if pod is not None and (o.meta(pod).get("labels") or {}) != labels:
            self._remove(PODS, pod)  # a StatefulSet replaces its pods revision by revision
            pod = None
        if pod is None:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": (template.get("metadata") or {}).get("annotations") or {},
                    "ownerReferences": [owner_ref(owner)],
                },
                "spec": template.get("spec") or {},
            }
            pod = self._create("pods", ns, body)
        status = self._judge(pod)
        if pod.get("status") != status:
            self._put(PODS, {**pod, "status": status})
        return {**pod, "status": status}

    def _judge(self, pod: Obj) -> Obj:
        spec, ns = pod.get("spec") or {}, str(o.meta(pod).get("namespace"))
        started = self._started.setdefault(str(o.meta(pod).get("uid")), time.monotonic())
        restarts = 1 + int((time.monotonic() - started) / RESTART_EVERY)
        inits = [self._row(c, ns, pod, restarts) for c in spec.get("initContainers") or []]
        blocked = any(not r["ready"] for r in inits)
        rows = [
            self._row(c, ns, pod, restarts)
            if not blocked
            else _waiting_row(c, "PodInitializing", "", 0)
            for c in spec.get("containers") or []
        ]
        ready = not blocked and all(r["ready"] for r in rows)
        for row in inits:  # an init container that finished is terminated, not ready
            if row["ready"]:
                row["ready"] = False
                row["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        status: Obj = {
            "phase": "Running" if not blocked else "Pending",
            "conditions": [condition],
            "containerStatuses": rows,
        }
        if inits:
            status["initContainerStatuses"] = inits
        return status

    def _row(self, container: Obj, ns: str, pod: Obj, restarts: int) -> Obj:
        missing = self._missing_secret(container, ns)
        if missing:
            return _waiting_row(container, "CreateContainerConfigError", missing, 0)
        image = str(container.get("image") or "")
        if self.controllers.image_unavailable(image):
            message = f'Back-off pulling image "{image}"'
            return _waiting_row(container, "ImagePullBackOff", message, 0)
        command = " ".join(
            map(str, [*(container.get("command") or []), *(container.get("args") or [])])
        )
        if any(marker in command for marker in self.failing_commands):
            self.api.pod_logs[(ns, o.name_of(pod))] = self.crash_log
            row = _waiting_row(
                container, "CrashLoopBackOff", "back-off restarting failed container", restarts
            )
            row["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
            return row
        return {
            "name": container.get("name"),
            "image": image,
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": o.meta(pod).get("creationTimestamp")}},
        }

    def _missing_secret(self, container: Obj, ns: str) -> str:
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                problem = self._secret_problem(ns, str(ref.get("name")), str(ref.get("key")))
                if problem:
                    return problem
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref and not ref.get("optional"):
                problem = self._secret_problem(ns, str(ref.get("name")), None)
                if problem:
                    return problem
        return ""

    def _secret_problem(self, ns: str, name: str, key: str | None) -> str:
        entry = self.api.store.entry(SECRETS, ns, name)
        if entry is None:
            return f'secret "{name}" not found'
        data = {**(entry.obj.get("data") or {}), **(entry.obj.get("stringData") or {})}
        if key is not None and key not in data:
            return f"couldn't find key {key} in Secret {ns}/{name}"
        return ""


def _waiting_row(container: Obj, reason: str, message: str, restarts: int) -> Obj:
    return {
        "name": container.get("name"),
        "image": container.get("image"),
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def _revision(obj: Obj) -> int:
    value = str((o.meta(obj).get("annotations") or {}).get(REVISION) or "0")
    return int(value) if value.isdigit() else 0


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
