"""Test support: a small world for the dashboard and the `env` CLI.

`seed_cluster(kf)` puts the CRDs, a project namespace, Environments (a same-repo PR preview and
a fork preview) with their namespaces, pods (one with a restarted container), events and logs
into a KubeFake. `seed_github(state)` registers the App's OAuth client and people with roles on
the repository: `writer` (write), `reader` (read), `maintainer` (maintain), `outsider` (none on
the private repository). The same world serves the unit tests and the browser tests.
"""

from __future__ import annotations

from typing import Any

from tests.kubefake import KubeFake
from tests.support.fake_github import GitHubState, sha_of

REPO = "acme/shop"
PROJECT_NS = "acme-shop"
ENV_NAME, ENV_NS = "pr-1", "acme-shop-pr-1"
FORK_NAME, FORK_NS = "pr-2", "acme-shop-pr-2"
POD, CONTAINER = "web-7d9f-abcde", "web"
CLIENT_ID, CLIENT_SECRET = "Iv1.dashboardtest", "oauth-client-secret"
SESSION_KEY = "k" * 40
USERS = {"writer": "write", "reader": "read", "maintainer": "maintain", "admin": "admin"}
FIRST_LOG = "server listening on :8080\nGET / 200\n"
CRD_DIR = "crds"


def environment(name: str, *, pr: int, fork: bool = False, namespace: str | None = None) -> Any:
    """An Environment CR of project `shop`, Ready, its workloads in `namespace`."""
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
            "namespace": PROJECT_NS,
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
    status |= {"image": "registry.local/shop:abc", "imageID": "registry.local/shop@sha256:1"}
    status["state"] = {"running": {"startedAt": "2026-12-03T10:00:00Z"}}
    if restarts:
        status["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": CONTAINER, "image": "registry.local/shop:abc"}]},
        "status": {"phase": "Running", "containerStatuses": [status]},
    }


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
