"""Fixtures for the e2e suite: the four real processes against real Redis, a real control plane
and the fake GitHub.

`Stack` owns everything one scenario needs: a private `redis-server` (stoppable), the session's
real control plane (kube-apiserver, etcd, kube-controller-manager, simulated nodes) with this
service's chart installed by helm, so the worker and reconciler run with tokens of their own
ServiceAccounts and a verb the chart forgot is a real 403; the fake GitHub HTTP server in this
process (state inspectable, App JWTs verified against a fresh key); and the
`catalyst-preview web|worker|reconciler|beat` subprocesses, each in its own process group so a
kill reaches its children and teardown leaves no orphans, even when a test fails. Each stack
gets a team of its own (`acme-stack<N>`), purged at the end. Only off CI, on a machine without the
control-plane binaries, the stack falls back to the fake API server (`tests/kubefake`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import naming
from core.model import GROUP_VERSION
from tests.e2e import payloads
from tests.kubefake import KubeFake
from tests.kubefake.fixtures import REPO_CRDS
from tests.support import control_plane as cp
from tests.support.fake_github_server import FakeGitHubServer, state_view
from tests.support.github import generate_app_key, signed_delivery
from tests.support.kube_rest import KubeRest
from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("catalyst-preview"))
SECRET = "e2e-secret"
REPO = "acme/shop"
INSTALLATION = 42
PROJECT = "shop"
DOMAIN = cp.PREVIEW_DOMAIN
PROCESSES = ("web", "worker", "reconciler", "beat")
Kube = KubeFake | KubeRest


def project_object(team: str) -> dict[str, Any]:
    """A docker-template Project with one Kaniko build, for REPO, in the team namespace."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Project",
        "metadata": {"name": PROJECT, "namespace": team},
        "spec": {
            "sources": [{"name": "app", "repositoryUrl": f"https://github.com/{REPO}"}],
            "templates": {
                "development": {
                    "type": "docker",
                    "sourceRef": "app",
                    "builds": [{"name": "web", "sourceRef": "app", "dockerfile": "Dockerfile"}],
                    "config": {"ports": [{"containerPort": 8080}]},
                }
            },
        },
    }


class Stack:
    """The running system for one test module's scenarios."""

    def __init__(
        self,
        workdir: Path,
        redis: RedisServer,
        github: FakeGitHubServer,
        *,
        cluster: Cluster,
    ) -> None:
        self.workdir = workdir
        self.redis = redis
        self.cluster = cluster
        self.kube: Kube = cluster.kube
        self.team = cluster.team
        self.project_ns = naming.project_namespace(self.team, PROJECT)
        self.github = github
        self.web_port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = self._environment()
        self._deliveries = 0

    def env_namespace(self, number: int) -> str:
        """The preview namespace of PR `number`."""
        return naming.environment_namespace(self.team, PROJECT, f"pr-{number}")

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
        env.pop("KUBECONFIG", None)
        env.update(
            TMPDIR=str(self.workdir),  # beat's schedule file stays private to this stack
            # the processes run this checkout's code (the venv's editable install may point at
            # another worktree)
            PYTHONPATH=str(ROOT),
            HOST="127.0.0.1",
            PORT=str(self.web_port),
            POD_NAMESPACE=self.cluster.lease_namespace,
            CATALYST_WEBHOOK_SECRET=SECRET,
            CATALYST_REDIS_URL=self.redis.url,
            CATALYST_GITHUB_APP_ID="1",
            CATALYST_GITHUB_APP_SLUG="catalyst-preview",
            CATALYST_GITHUB_PRIVATE_KEY_FILE=str(self.workdir / "app-key.pem"),
            CATALYST_GITHUB_API_URL=self.github.url,
            CATALYST_PREVIEW_DOMAIN=DOMAIN,
            # the chart's deployer ClusterRole, bound in each preview namespace (issue 13)
            CATALYST_DEPLOYER_CLUSTER_ROLE=f"{cp.RELEASE}-catalyst-preview-deployer",
            # the worker reads pods and logs of preview namespaces through this binding (issue 16)
            CATALYST_POD_READER_CLUSTER_ROLE=f"{cp.RELEASE}-catalyst-preview-pod-reader",
            CATALYST_WORKER_SERVICE_ACCOUNT=f"{cp.RELEASE}-catalyst-preview-worker",
            CATALYST_WORKER_SERVICE_ACCOUNT_NAMESPACE=cp.RELEASE_NAMESPACE,
            CATALYST_RESYNC_INTERVAL_SECONDS="10",
            CATALYST_LEADER_LEASE_SECONDS="2",
            CATALYST_LEADER_RENEW_SECONDS="1.5",
            CATALYST_LEADER_RETRY_SECONDS="0.3",
            CATALYST_LOG_FORMAT="console",
        )
        return env

    # --- processes --------------------------------------------------------------------------

    def start(self, name: str) -> None:
        """Start (or restart) one process, logging to `<workdir>/<name>.log`."""
        env = {**self.env, "KUBECONFIG": str(self.cluster.kubeconfigs[name])}
        with open(self.workdir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [CLI, name],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """SIGKILL a process and every child of it (no clean shutdown, nothing handed back)."""
        proc = self.procs[name]
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """SIGTERM every process group, then SIGKILL whatever is still there after 5 s."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until web answers /readyz and the reconciler holds the Lease."""
        self.eventually(self._web_ready, timeout, "web /readyz")
        self.eventually(self._has_leader, timeout, "a reconciler leader")

    def _web_ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.web_port}/readyz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def _has_leader(self) -> bool:
        lease = self.kube.get("leases", "catalyst-reconciler", self.cluster.lease_namespace) or {}
        return bool((lease.get("spec") or {}).get("holderIdentity"))

    # --- GitHub side ------------------------------------------------------------------------

    def deliver(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        """Post a signed delivery to the web process (as GitHub would)."""
        self._deliveries += 1
        headers, body = signed_delivery(
            event, payload, SECRET, delivery_id=f"e2e-{os.getpid()}-{self._deliveries}"
        )
        return httpx.post(
            f"http://127.0.0.1:{self.web_port}/webhook", content=body, headers=headers, timeout=5
        )

    def open_pull(self, number: int, sha: str) -> httpx.Response:
        """GitHub: PR `number` opened at `sha`, and its `opened` delivery."""
        with self.github.lock:
            self.github.state.open_pull(REPO, number, sha, branch=f"feature/pr-{number}")
        return self.deliver("pull_request", self._pr("opened", number, sha))

    def push(self, number: int, old: str, new: str) -> httpx.Response:
        """GitHub: a push moves PR `number` from `old` to `new`, and its `synchronize` delivery."""
        with self.github.lock:
            self.github.state.push_pull(REPO, number, new)
        return self.deliver("pull_request", self._pr("synchronize", number, new, before=old))

    def close_pull(self, number: int, sha: str) -> httpx.Response:
        """GitHub: PR `number` closed, and its `closed` delivery."""
        with self.github.lock:
            self.github.state.close_pull(REPO, number)
        return self.deliver("pull_request", self._pr("closed", number, sha))

    def command(self, number: int, body: str, *, author: str = "octocat") -> httpx.Response:
        """GitHub: `author` comments `body` on PR `number`, and its `issue_comment` delivery."""
        with self.github.lock:
            state = self.github.state
            state.collaborators[(REPO, author)] = "write"
            comment_id = state.add_comment(REPO, number, body, author=author)
        payload = payloads.issue_comment(
            body,
            repo=REPO,
            installation=INSTALLATION,
            number=number,
            comment_id=comment_id,
            author=author,
        )
        return self.deliver("issue_comment", payload)

    def _pr(self, action: str, number: int, sha: str, **extra: Any) -> dict[str, Any]:
        return payloads.pull_request(
            action, repo=REPO, installation=INSTALLATION, number=number, sha=sha, **extra
        )

    # --- what a user sees -------------------------------------------------------------------

    def deployments(self, number: int) -> list[dict[str, Any]]:
        """GitHub deployments of PR `number` (oldest first), each with its status states."""
        environment = f"{PROJECT}/pr-{number}"

        def view(state: Any) -> list[dict[str, Any]]:
            found = state.deployments_of(REPO, environment)
            return [{**d, "states": state.states_of(d["id"])} for d in found]

        return self.github.read(view)

    def latest_status(self, deployment_id: int) -> dict[str, Any]:
        """The newest status posted to a deployment."""
        return dict(self.github.read(lambda s: s.statuses[deployment_id][-1]))

    def bot_comments(self, number: int) -> list[str]:
        """Bodies of the bot's comments on PR `number` (those with the hidden marker)."""
        bodies = self.github.read(lambda s: [c["body"] for c in s.comments_on(REPO, number)])
        return [b for b in bodies if "<!--" in b]

    def environment(self, number: int) -> dict[str, Any] | None:
        """The PR's Environment CR, as stored in the fake cluster."""
        return self.kube.get("environments", f"pr-{number}", self.project_ns)

    def namespace_exists(self, number: int) -> bool:
        """Whether the PR's environment namespace is still there."""
        return self.kube.get("namespaces", self.env_namespace(number)) is not None

    def eventually(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `check` until true; on timeout fail with the processes' log tails."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                shown = json.dumps(self.github.read(state_view), indent=1)[-4000:]
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what}\n{self.logs()}\n{shown}"
                )
            time.sleep(0.1)

    def logs(self, tail: int = 2500) -> str:
        """The end of every process log, for failure messages."""
        parts = []
        for name in self.procs:
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
            rc = self.procs[name].poll()
            parts.append(f"--- {name} (rc={rc}) ---\n{text[-tail:]}")
        return "\n".join(parts)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def seed_cluster(kube: Kube, team: str) -> None:
    """The team namespace with its registry pull secret, and the Project."""
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}})
    kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry-credentials", "namespace": team},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    kube.put_object(project_object(team))


class Cluster:
    """Where a stack's processes run: the real control plane (own tokens) or the fake server."""

    def __init__(
        self, kube: Kube, team: str, kubeconfigs: dict[str, Path], lease_namespace: str
    ) -> None:
        self.kube = kube
        self.team = team
        self.kubeconfigs = kubeconfigs
        self.lease_namespace = lease_namespace
        self.real = isinstance(kube, KubeRest)


_stacks = iter(range(1, 10_000))


def _real_cluster(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Cluster]:
    plane: cp.ControlPlane = request.getfixturevalue("control_plane")
    release: cp.ChartRelease = request.getfixturevalue("chart_release")
    # not acme-t<N>: that is ClusterScope.name("acme") of the N-th test, a collision in a
    # session running e2e before other tests (its namespaces may still be terminating)
    team = f"acme-stack{next(_stacks)}"
    kubeconfigs = {name: release.kubeconfig_for(name) for name in PROCESSES}
    yield Cluster(plane.rest(), team, kubeconfigs, release.namespace)
    purge_team(plane.rest(), team)


def _fake_cluster(workdir: Path) -> Iterator[Cluster]:
    with KubeFake([REPO_CRDS], controllers=["jobs", "deployments", "namespaces"]) as kube:
        path = kube.write_kubeconfig(workdir / "kubeconfig")
        yield Cluster(kube, "acme", dict.fromkeys(PROCESSES, path), "default")


def purge_team(rest: KubeRest, team: str) -> None:
    """Remove a finished stack's objects: drop finalizers nobody will release, then namespaces."""
    for env in rest.list("environments"):
        if env["metadata"]["namespace"].startswith(f"{team}-"):
            meta = env["metadata"]
            rest.http.patch(
                rest.path("environments", meta["namespace"], meta["name"]),
                json={"metadata": {"finalizers": None}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
    for project in rest.list("projects", team):
        rest.http.patch(
            rest.path("projects", team, project["metadata"]["name"]),
            json={"metadata": {"finalizers": None}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
    for ns in rest.list("namespaces"):
        name = ns["metadata"]["name"]
        if name == team or name.startswith(f"{team}-"):
            rest.delete("namespaces", name)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """All four processes up against a private Redis and the cluster, for one test module."""
    workdir = tmp_path_factory.mktemp("e2e")
    private, public = generate_app_key()
    (workdir / "app-key.pem").write_text(private)
    redis = RedisServer()
    redis.start()
    use_real = not cp.missing_binaries() or os.environ.get("CI", "").lower() == "true"
    clusters = _real_cluster(request, workdir) if use_real else _fake_cluster(workdir)
    cluster = next(clusters)
    with FakeGitHubServer(app_public_key=public) as github:
        github.state.repo_installation[REPO] = INSTALLATION
        seed_cluster(cluster.kube, cluster.team)
        running = Stack(workdir, redis, github, cluster=cluster)
        try:
            for name in PROCESSES:
                running.start(name)
            running.wait_ready()
            yield running
        finally:
            running.stop_all()
            redis.cleanup()
            next(clusters, None)
