"""Test support: a small world for the dashboard and the `env` CLI.

`seed_cluster(kf)` puts the CRDs, a project namespace, Environments (a same-repo PR preview and
a fork preview) with their namespaces, pods (one with a restarted container), events and logs
into a KubeFake (the view, workload and CLI unit tests). `seed_control_plane(scope, plane)` puts
the same world on the real control plane under names unique to the test (the browser tests):
Environment statuses through the status subresource, pods run by kwok on the simulated node,
their log lines in kwok's log file. `seed_github(state)` registers the App's OAuth client and
people with roles on the repository: `writer` (write), `reader` (read), `maintainer` (maintain),
`outsider` (none on the private repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.kubefake import KubeFake
from tests.support.control_plane import ClusterScope, ControlPlane
from tests.support.fake_github import GitHubState, sha_of
from tests.support.kube_rest import KubeRest
from tests.support.waiting import wait_for

REPO = "acme/shop"
PROJECT_NS = "acme-shop"
ENV_NAME, ENV_NS = "pr-1", "acme-shop-pr-1"
FORK_NAME, FORK_NS = "pr-2", "acme-shop-pr-2"
POD, CONTAINER = "web-7d9f-abcde", "web"
IMAGE = "registry.local/shop:abc"
CLIENT_ID, CLIENT_SECRET = "Iv1.dashboardtest", "oauth-client-secret"
SESSION_KEY = "k" * 40
USERS = {"writer": "write", "reader": "read", "maintainer": "maintain", "admin": "admin"}
FIRST_LOG = "server listening on :8080\nGET / 200\n"
CRD_DIR = "crds"


def environment(
    name: str,
    *,
    pr: int,
    fork: bool = False,
    namespace: str | None = None,
    project_ns: str = PROJECT_NS,
) -> Any:
    """An Environment CR of project `shop` in `project_ns`, Ready, its workloads in `namespace`."""
    sha = sha_of(f"{name}-head")
    source = {"name": "app", "commitSha": sha, "branch": "feature", "prNumber": pr, "fork": fork}
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "RolloutComplete",
        "message": "1/1 pods ready",
        "lastTransitionTime": "2026-12-03T10:00:00Z",
    }
    return {
        "apiVersion": "catalyst.catalyst.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {
            "name": name,
            "namespace": project_ns,
            "labels": {"catalyst.dev/project": "shop"},
        },
        "spec": {
            "projectRef": {"name": "shop"},
            "type": "development",
            "sources": [source],
            "github": {"installationId": 42, "repository": REPO},
        },
        "status": {
            "phase": "Ready",
            "url": f"http://{namespace or ENV_NS}.preview.localhost",
            "namespace": namespace,
            "commitSha": sha,
            "targetCommitSha": sha,
            "conditions": [condition],
        },
    }


def pod(name: str, namespace: str, *, restarts: int = 0) -> Any:
    """A running pod with one container (`web`), optionally restarted after an OOM kill."""
    status: dict[str, Any] = {"name": CONTAINER, "ready": True, "restartCount": restarts}
    status |= {"image": IMAGE, "imageID": "registry.local/shop@sha256:1"}
    status["state"] = {"running": {"startedAt": "2026-12-03T10:00:00Z"}}
    if restarts:
        status["lastState"] = oom_killed()
    return {
        **pod_spec(name, namespace),
        "status": {"phase": "Running", "containerStatuses": [status]},
    }


def pod_spec(name: str, namespace: str) -> Any:
    """The pod without a status: what a ReplicaSet would create (the node reports the rest)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": CONTAINER, "image": IMAGE}]},
    }


def oom_killed() -> dict[str, Any]:
    """A container's `lastState` after the kernel killed it for memory."""
    return {"terminated": {"reason": "OOMKilled", "exitCode": 137}}


def event(namespace: str, reason: str, message: str, *, at: str) -> Any:
    """A core/v1 Event about the pod."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{POD}.{reason.lower()}", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": POD, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": "Warning" if reason == "BackOff" else "Normal",
        "lastTimestamp": at,
        "count": 1,
    }


def namespace(name: str) -> Any:
    """A Namespace object."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def seed_cluster(kf: KubeFake) -> None:
    """The CRDs, two previews with namespaces, pods, events and a log."""
    kf.register_crds([CRD_DIR])
    for ns in (PROJECT_NS, ENV_NS, FORK_NS):
        kf.put_object(namespace(ns))
    kf.put_object(environment(ENV_NAME, pr=1, namespace=ENV_NS))
    kf.put_object(environment(FORK_NAME, pr=2, fork=True, namespace=FORK_NS))
    kf.put_object(pod(POD, ENV_NS, restarts=2))
    kf.put_object(pod(POD, FORK_NS))
    kf.put_object(event(ENV_NS, "Pulled", "image pulled", at="2026-12-03T10:00:00Z"))
    kf.put_object(event(ENV_NS, "BackOff", "back-off restarting", at="2026-12-03T10:05:00Z"))
    kf.api.pod_logs[(ENV_NS, POD)] = FIRST_LOG
    kf.api.pod_logs[(FORK_NS, POD)] = FIRST_LOG


def append_log(kf: KubeFake, text: str, *, ns: str = ENV_NS, pod_name: str = POD) -> None:
    """The container writes `text` (a followed log sends it)."""
    with kf.store.lock:
        kf.api.pod_logs[(ns, pod_name)] = kf.api.pod_logs.get((ns, pod_name), "") + text


def seed_github(state: GitHubState, *, signed_in: str | None = "writer") -> None:
    """The App's OAuth client, the private repository and the people with roles on it."""
    state.oauth_clients[CLIENT_ID] = CLIENT_SECRET
    state.private_repos.add(REPO)
    state.oauth_user = signed_in
    for login, role in USERS.items():
        state.collaborators[(REPO, login)] = role


def dashboard_env(*, github_url: str, dashboard_url: str) -> dict[str, str]:
    """The CATALYST_* settings a dashboard process needs against the fakes."""
    return {
        "CATALYST_WEBHOOK_SECRET": "unused-by-the-dashboard",
        "CATALYST_GITHUB_API_URL": github_url,
        "CATALYST_GITHUB_WEB_URL": github_url,
        "CATALYST_GITHUB_CLIENT_ID": CLIENT_ID,
        "CATALYST_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "CATALYST_DASHBOARD_URL": dashboard_url,
        "CATALYST_DASHBOARD_SESSION_KEY": SESSION_KEY,
        "CATALYST_DASHBOARD_INSECURE_HTTP": "true",
    }


# --- the same world on the real control plane -------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """The world of one test on the real control plane: its namespaces and log marker."""

    project_ns: str
    marker: str

    @property
    def env_ns(self) -> str:
        """The same-repo preview's namespace (its pod restarted twice)."""
        return f"{self.project_ns}-{ENV_NAME}"

    @property
    def fork_ns(self) -> str:
        """The fork preview's namespace."""
        return f"{self.project_ns}-{FORK_NAME}"

    @property
    def env_path(self) -> str:
        """The dashboard page of the same-repo preview."""
        return f"/environments/{self.project_ns}/{ENV_NAME}"

    @property
    def terminal_path(self) -> str:
        """The terminal page of the preview's `web` container."""
        return self.env_path + f"/terminal?pod={POD}&container={CONTAINER}"

    @property
    def first_log(self) -> list[str]:
        """The lines the container wrote before anyone looked (the marker makes them ours)."""
        return [f"server listening on :8080 {self.marker}", f"GET / 200 {self.marker}"]


def seed_control_plane(scope: ClusterScope, plane: ControlPlane) -> Scene:
    """`seed_cluster`'s world on the real control plane, under names unique to the test."""
    scene = Scene(project_ns=scope.name("acme") + "-shop", marker=scope.name("seed"))
    for ns in (scene.project_ns, scene.env_ns, scene.fork_ns):
        scope.namespace(ns)
    rest = scope.rest
    for name, pr, ns, fork in (
        (ENV_NAME, 1, scene.env_ns, False),
        (FORK_NAME, 2, scene.fork_ns, True),
    ):
        rest.put_object(
            environment(name, pr=pr, fork=fork, namespace=ns, project_ns=scene.project_ns)
        )
    for ns in (scene.env_ns, scene.fork_ns):
        create_pod(rest, ns)
    report_restarts(rest, scene.env_ns, restarts=2)
    rest.create(event(scene.env_ns, "Pulled", "image pulled", at="2026-12-03T10:00:00Z"))
    rest.create(event(scene.env_ns, "BackOff", "back-off restarting", at="2026-12-03T10:05:00Z"))
    plane.append_log(*scene.first_log)
    return scene


def create_pod(rest: KubeRest, namespace: str) -> dict[str, Any]:
    """Create the `web` pod (the node binds and runs it) and wait until kwok reports it Running.

    The ServiceAccount admission plugin refuses pods until the namespace's `default` account
    exists, which the controller manager creates just after the namespace.
    """
    wait_for(
        f"{namespace}'s default ServiceAccount",
        lambda: rest.get("serviceaccounts", "default", namespace),
    )
    rest.create(pod_spec(POD, namespace))
    return wait_for(f"{namespace}/{POD} running", lambda: _running(rest, namespace))


def _running(rest: KubeRest, namespace: str) -> dict[str, Any] | None:
    found = rest.get("pods", POD, namespace) or {}
    status = found.get("status") or {}
    return found if status.get("phase") == "Running" and status.get("containerStatuses") else None


def report_restarts(rest: KubeRest, namespace: str, *, restarts: int) -> None:
    """Report the running container as restarted after OOM kills, as its kubelet would.

    kwok only plays a pod's happy path and the simulator's crash loops end in exit 1, never an
    OOM kill, so the node's report is written here through the pods/status subresource; kwok's
    stages leave a Running pod's status alone.
    """
    current = rest.get("pods", POD, namespace)
    assert current is not None
    statuses = current["status"]["containerStatuses"]
    for status in statuses:
        status |= {"restartCount": restarts, "lastState": oom_killed()}
    body = {"status": {"containerStatuses": statuses}}
    rest.merge_patch("pods", POD, namespace, body, subresource="status")
