"""Test support: the kubelet-visible part of the simulated nodes of the real control plane.

kwok runs the happy path of every pod on the simulated node (Running and Ready, Job pods
Succeeded, deletion) and serves pod logs and exec. What a kubelet would *refuse* to run is
decided here, before a pod is bound, the way a real kubelet decides it:

* a container whose env/envFrom names a Secret or ConfigMap (or a key in one) that does not exist
  waits in ``CreateContainerConfigError``; a volume naming a missing one leaves the pod
  ``ContainerCreating``; both start once the object appears, as on a real node;
* an image a test marks missing waits in ``ErrImagePull`` then ``ImagePullBackOff``
  (``InvalidImageName`` for an unparseable reference);
* a container whose command line contains a string a test marks failing crash-loops
  (``CrashLoopBackOff``, rising ``restartCount``, ``lastState.terminated``); an init container
  that fails keeps the pod in ``Init:CrashLoopBackOff``;
* a run-to-completion pod (Job) matched by a failing rule ends ``Failed``.

Pods with such an outcome carry the annotation ``sim.catalyst.dev/outcome`` and kwok's stages
leave them alone; this simulator writes their status. Rules are registered by tests through
:class:`KubeletRules` and removed again after each test.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.kube_rest import KubeRest, KubeRestError

OUTCOME_ANNOTATION = "sim.catalyst.dev/outcome"
NODE_NAME = "sim-node-0"
_IMAGE_RE = re.compile(r"^[a-z0-9]+([._\-/:@][a-zA-Z0-9_.\-]+)*$")


@dataclass
class Verdict:
    """What the node does with a pod: its outcome and the container that causes it."""

    outcome: str
    container: str
    message: str
    init: bool = False


@dataclass
class KubeletRules:
    """Test-controlled failures: images that cannot be pulled, commands that crash, failed Jobs."""

    missing_images: set[str] = field(default_factory=set)
    failing_commands: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def image_missing(self, image: str) -> Iterator[None]:
        """Pods using `image` (exact, or a prefix ending in ``/`` or ``:``) never pull it."""
        with self.lock:
            self.missing_images.add(image)
        try:
            yield
        finally:
            with self.lock:
                self.missing_images.discard(image)

    @contextmanager
    def command_failing(self, marker: str) -> Iterator[None]:
        """Containers whose command line contains `marker` exit 1 at once (crash loop or Failed)."""
        with self.lock:
            self.failing_commands.add(marker)
        try:
            yield
        finally:
            with self.lock:
                self.failing_commands.discard(marker)

    def image_is_missing(self, image: str) -> bool:
        with self.lock:
            return any(_image_matches(image, rule) for rule in self.missing_images)

    def command_fails(self, container: dict[str, Any]) -> bool:
        line = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
        line = f"{container.get('image', '')} {line}"
        with self.lock:
            return any(marker in line for marker in self.failing_commands)


def _image_matches(image: str, rule: str) -> bool:
    return image == rule or (rule[-1:] in "/:" and image.startswith(rule))


class ObjectLookup:
    """Answers 'does this Secret/ConfigMap (and key) exist' for one pod evaluation."""

    def __init__(self, rest: KubeRest, namespace: str) -> None:
        self.rest = rest
        self.namespace = namespace
        self.cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def data(self, kind: str, name: str) -> dict[str, Any] | None:
        if (kind, name) not in self.cache:
            self.cache[(kind, name)] = self._read(kind, name)
        return self.cache[(kind, name)]

    def _read(self, kind: str, name: str) -> dict[str, Any] | None:
        resource = "secrets" if kind == "Secret" else "configmaps"
        obj = self.rest.get(resource, name, self.namespace)
        if obj is None:
            return None
        return {**(obj.get("data") or {}), **(obj.get("binaryData") or {})}


def _ref_problem(lookup: ObjectLookup, kind: str, ref: dict[str, Any], key: str | None) -> str:
    if ref.get("optional"):
        return ""
    name = ref.get("name", "")
    data = lookup.data(kind, name)
    if data is None:
        return f'{kind.lower() if kind == "Secret" else "configmap"} "{name}" not found'
    if key is not None and key not in data:
        return f"couldn't find key {key} in {kind} {lookup.namespace}/{name}"
    return ""


def _env_problem(lookup: ObjectLookup, container: dict[str, Any]) -> str:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for kind, field_name in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = source.get(field_name)
            if ref and (problem := _ref_problem(lookup, kind, ref, ref.get("key"))):
                return problem
    for env_from in container.get("envFrom") or []:
        for kind, field_name in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            ref = env_from.get(field_name)
            if ref and (problem := _ref_problem(lookup, kind, ref, None)):
                return problem
    return ""


def _volume_problem(lookup: ObjectLookup, pod: dict[str, Any]) -> str:
    for volume in pod["spec"].get("volumes") or []:
        secret = volume.get("secret")
        if secret and (
            problem := _ref_problem(
                lookup, "Secret", {"name": secret.get("secretName"), **secret}, None
            )
        ):
            return f"MountVolume.SetUp failed for volume {volume['name']!r}: {problem}"
        config_map = volume.get("configMap")
        if config_map and (problem := _ref_problem(lookup, "ConfigMap", config_map, None)):
            return f"MountVolume.SetUp failed for volume {volume['name']!r}: {problem}"
    return ""


def _image_verdict(rules: KubeletRules, container: dict[str, Any], init: bool) -> Verdict | None:
    image = container.get("image") or ""
    if not _IMAGE_RE.match(image):
        return Verdict(
            "InvalidImageName",
            container["name"],
            f'Failed to apply default image tag "{image}"',
            init,
        )
    if rules.image_is_missing(image):
        message = f'Back-off pulling image "{image}": not found'
        return Verdict("ImagePullBackOff", container["name"], message, init)
    return None


def judge(pod: dict[str, Any], rules: KubeletRules, lookup: ObjectLookup) -> Verdict | None:
    """The verdict a kubelet would reach for `pod`, or None when it simply runs."""
    spec = pod["spec"]
    if problem := _volume_problem(lookup, pod):
        return Verdict("ContainerCreating", "", problem)
    groups = [(c, True) for c in spec.get("initContainers") or []]
    groups += [(c, False) for c in spec.get("containers") or []]
    for container, init in groups:
        if verdict := _image_verdict(rules, container, init):
            return verdict
        if problem := _env_problem(lookup, container):
            return Verdict("CreateContainerConfigError", container["name"], problem, init)
        if rules.command_fails(container):
            return Verdict("CrashLoopBackOff", container["name"], "exit code 1", init)
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _waiting(container: dict[str, Any], reason: str, message: str, restarts: int) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}},
    }
    if reason == "CrashLoopBackOff":
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": _now(),
                "finishedAt": _now(),
            }
        }
    return status


def _running(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": _now()}},
    }


def _container_rows(pod: dict[str, Any], verdict: Verdict, restarts: int) -> list[dict[str, Any]]:
    rows = []
    for container in pod["spec"].get("containers") or []:
        if verdict.init or verdict.outcome == "ContainerCreating":
            reason = "PodInitializing" if verdict.init else "ContainerCreating"
            rows.append(_waiting(container, reason, "", 0))
        elif container["name"] == verdict.container:
            rows.append(_waiting(container, verdict.outcome, verdict.message, restarts))
        else:
            rows.append(_running(container))
    return rows


def _init_rows(pod: dict[str, Any], verdict: Verdict, restarts: int) -> list[dict[str, Any]]:
    rows = []
    for container in pod["spec"].get("initContainers") or []:
        if verdict.init and container["name"] == verdict.container:
            rows.append(_waiting(container, verdict.outcome, verdict.message, restarts))
        else:
            rows.append(_waiting(container, "PodInitializing", "", 0))
    return rows


def failure_status(pod: dict[str, Any], verdict: Verdict, restarts: int) -> dict[str, Any]:
    """The pod status a kubelet reports for `verdict` (restarts counted for crash loops)."""
    run_once = pod["spec"].get("restartPolicy") == "Never"
    if verdict.outcome == "CrashLoopBackOff" and run_once and not verdict.init:
        return _failed_status(pod)
    ready = {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
    status: dict[str, Any] = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}, ready],
        "containerStatuses": _container_rows(pod, verdict, restarts),
        "hostIP": "127.0.0.1",
        "startTime": pod.get("status", {}).get("startTime") or _now(),
    }
    if verdict.init:
        status["initContainerStatuses"] = _init_rows(pod, verdict, restarts)
    return status


def _failed_status(pod: dict[str, Any]) -> dict[str, Any]:
    terminated = {"exitCode": 1, "reason": "Error", "startedAt": _now(), "finishedAt": _now()}
    return {
        "phase": "Failed",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodFailed"}],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
            for c in pod["spec"].get("containers") or []
        ],
        "hostIP": "127.0.0.1",
        "startTime": _now(),
    }


class KubeletSimulator:
    """Binds pending pods to the simulated node and plays the failures a kubelet would show."""

    def __init__(self, rest: KubeRest, rules: KubeletRules, *, kubelet_port: int) -> None:
        self.rest = rest
        self.rules = rules
        self.kubelet_port = kubelet_port
        self.restarts: dict[str, tuple[int, float]] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet-sim", daemon=True)

    def start(self) -> None:
        self.register_node()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # start() may have failed before the thread ran
            self._thread.join(timeout=10)
        self.rest.close()

    def register_node(self) -> None:
        """Create the simulated Node and report it Ready with kwok's kubelet endpoint."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {"kubernetes.io/hostname": NODE_NAME, "type": "kwok"},
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
        }
        try:
            self.rest.create(node)
        except KubeRestError as exc:
            if exc.status != 409:
                raise
        self.rest.merge_patch(
            "nodes", NODE_NAME, None, {"status": self._node_status()}, subresource="status"
        )

    def _node_status(self) -> dict[str, Any]:
        resources = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        return {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kwok simulated node",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.2",
                "kubeProxyVersion": "",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "containerRuntimeVersion": "kwok",
                "bootID": "",
                "kernelVersion": "",
                "machineID": "",
                "osImage": "",
                "systemUUID": "",
            },
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # the simulator must outlive API hiccups, like a kubelet
                self.errors.append(repr(exc))
            self._stop.wait(0.2)

    def sync_once(self) -> None:
        """One pass over every pod: bind new ones, play or clear failures of held ones."""
        for pod in self.rest.list("pods"):
            self._sync_pod(pod)

    def _sync_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        held = OUTCOME_ANNOTATION in (meta.get("annotations") or {})
        if pod["spec"].get("nodeName") and not held:
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        verdict = judge(pod, self.rules, ObjectLookup(self.rest, meta["namespace"]))
        if verdict is None:
            self._release(pod, held)
        else:
            self._hold(pod, verdict, held)

    def _release(self, pod: dict[str, Any], held: bool) -> None:
        meta = pod["metadata"]
        if held:
            self._annotate(meta, None)
            self.restarts.pop(meta["uid"], None)
        if not pod["spec"].get("nodeName"):
            self._bind(meta)

    def _hold(self, pod: dict[str, Any], verdict: Verdict, held: bool) -> None:
        meta = pod["metadata"]
        if not held:
            self._annotate(meta, verdict.outcome)
        if not pod["spec"].get("nodeName"):
            self._bind(meta)
        restarts = self._restart_count(meta["uid"], verdict)
        status = failure_status(pod, verdict, restarts)
        if status["phase"] == "Failed" or _differs(pod.get("status", {}), status):
            self.rest.merge_patch(
                "pods", meta["name"], meta["namespace"], {"status": status}, subresource="status"
            )

    def _restart_count(self, uid: str, verdict: Verdict) -> int:
        """Crash loops restart about once a second (a kubelet backs off; tests need not wait)."""
        restarts, last = self.restarts.get(uid, (0, 0.0))
        if verdict.outcome == "CrashLoopBackOff" and time.monotonic() - last >= 1.0:
            restarts, last = restarts + 1, time.monotonic()
            self.restarts[uid] = (restarts, last)
        return restarts

    def _annotate(self, meta: dict[str, Any], outcome: str | None) -> None:
        body = {"metadata": {"annotations": {OUTCOME_ANNOTATION: outcome}}}
        self.rest.merge_patch("pods", meta["name"], meta["namespace"], body)

    def _bind(self, meta: dict[str, Any]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
        }
        path = self.rest.path("pods", meta["namespace"], meta["name"]) + "/binding"
        try:
            self.rest.post(path, body)
        except KubeRestError as exc:
            if exc.status not in (404, 409):
                raise


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when the reported waiting reasons or restart counts changed (avoid no-op writes)."""

    def shape(status: dict[str, Any]) -> list[tuple[str, str, int]]:
        rows = []
        for key in ("initContainerStatuses", "containerStatuses"):
            for item in status.get(key) or []:
                state = item.get("state") or {}
                reason = (state.get("waiting") or state.get("terminated") or {}).get("reason", "")
                rows.append((item.get("name", ""), reason, int(item.get("restartCount", 0))))
        return rows

    return shape(current) != shape(wanted) or current.get("phase") != wanted.get("phase")
