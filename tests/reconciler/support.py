"""Test support for the reconciler: sample CRs, fakes for the token source and the queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import naming
from core.model import GROUP_VERSION
from reconciler.cluster import Cluster
from reconciler.modes import ModeSettings
from reconciler.reads import LiveReads, Reads
from reconciler.reconcile import Outcome, Reconciler
from reconciler.tokens import TokenSource
from tests.kubefake import KubeFake

SHA1 = "a" * 40
SHA2 = "b" * 40
TEAM = "acme"
PROJECT = "shop"
PROJECT_NS = naming.project_namespace(TEAM, PROJECT)
ENV_NS = naming.environment_namespace(TEAM, PROJECT, "pr-1")
SETTINGS = ModeSettings(
    registry="registry.local:5000",
    builder_image="gcr.io/kaniko-project/executor:v1.23.2",
    preview_domain="preview.example.com",
    ingress_class="nginx",
    ingress_namespace="ingress-nginx",
    tls_secret="wildcard-tls",
    build_egress_cidrs=("10.0.0.0/8",),
    build_egress_ports=(443, 5000),
)


class FakeTokens:
    """Hands out numbered tokens, remembers who asked, and which are live (not revoked)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.live: set[str] = set()
        self.public: set[str] = set()

    def installation_token(self, installation_id: int, repository: str | None) -> str:
        self.calls.append((installation_id, repository))
        return f"ghs_token{len(self.calls)}"

    def build_token(self, installation_id: int, repository: str) -> str | None:
        if repository in self.public:
            return None
        token = self.installation_token(installation_id, repository)
        self.live.add(token)
        return token

    def revoke(self, token: str) -> None:
        self.live.discard(token)


@dataclass
class RecordingEnqueuer:
    """An Enqueuer that keeps what was sent."""

    sent: list[tuple[str, dict[str, Any], float | None]] = field(default_factory=list)

    def __call__(
        self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None
    ) -> None:
        self.sent.append((task, kwargs, countdown))


def project_obj(template_type: str = "docker", *, builds: bool = True) -> dict[str, Any]:
    """A Project CR in the team namespace."""
    template: dict[str, Any] = {
        "type": template_type,
        "config": {
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "MODE", "value": "preview"}, {"name": "LOG", "value": "info"}],
        },
    }
    if builds:
        template["builds"] = [
            {"name": "app", "sourceRef": "main", "path": "services/app", "dockerfile": "Dockerfile"}
        ]
    else:
        template["config"]["image"] = "nginx:1.27"
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Project",
        "metadata": {"name": PROJECT, "namespace": TEAM, "labels": {naming.LABEL_TEAM: TEAM}},
        "spec": {
            "sources": [{"name": "main", "repositoryUrl": "https://github.com/acme/shop"}],
            "templates": {"development": template},
            "resources": {"development": {"limitsCpu": "6", "pods": 30}},
        },
    }


def environment_obj(sha: str = SHA1, name: str = "pr-1", **spec: Any) -> dict[str, Any]:
    """An Environment CR in the project namespace."""
    labels = {
        naming.LABEL_TEAM: TEAM,
        naming.LABEL_PROJECT: PROJECT,
        naming.LABEL_ENVIRONMENT: name,
    }
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Environment",
        "metadata": {"name": name, "namespace": PROJECT_NS, "labels": labels},
        "spec": {
            "projectRef": {"name": PROJECT},
            "type": "development",
            "sources": [{"name": "main", "commitSha": sha, "branch": "feature/x", "prNumber": 1}],
            "config": {"env": [{"name": "LOG", "value": "debug"}]},
            "github": {"installationId": 42, "repository": "acme/shop"},
            **spec,
        },
    }


def seed(kf: KubeFake, *, template_type: str = "docker", builds: bool = True) -> None:
    """Team and project namespaces, the team pull secret and the Project."""
    for ns in (TEAM, PROJECT_NS):
        kf.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kf.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry-credentials", "namespace": TEAM},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    kf.put_object(project_obj(template_type, builds=builds))


@dataclass
class Rig:
    """A reconciler wired to a kubefake server, with its fakes."""

    kf: KubeFake
    cluster: Cluster
    reconciler: Reconciler
    tokens: FakeTokens
    enqueued: RecordingEnqueuer

    def env(self, name: str = "pr-1") -> dict[str, Any] | None:
        return self.kf.get("environments", name, PROJECT_NS)

    def status(self, name: str = "pr-1") -> dict[str, Any]:
        found = self.env(name)
        return dict((found or {}).get("status") or {})

    def run(self, name: str = "pr-1") -> Outcome:
        return self.reconciler.reconcile(PROJECT_NS, name)

    def run_until(
        self, check: Callable[[], bool], *, name: str = "pr-1", timeout: float = 60.0
    ) -> None:
        """Reconcile repeatedly (as the queue would) until `check()` holds."""
        deadline = time.monotonic() + timeout
        self.run(name)
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; status: {self.status(name)}")
            time.sleep(0.02)
            self.run(name)

    def phase_is(self, phase: str, name: str = "pr-1") -> Callable[[], bool]:
        return lambda: self.status(name).get("phase") == phase


def make_rig(
    kf: KubeFake,
    reads: Reads | None = None,
    *,
    settings: ModeSettings = SETTINGS,
    tokens: TokenSource | None = None,
) -> Rig:
    """A Rig over `kf` with live reads (or the given ones), fake tokens unless given."""
    cluster = Cluster(kf.api_client())
    fake_tokens, enqueued = FakeTokens(), RecordingEnqueuer()
    reconciler = Reconciler(
        cluster=cluster,
        reads=reads or LiveReads(cluster),
        settings=settings,
        tokens=tokens or fake_tokens,
        enqueue=enqueued,
    )
    return Rig(kf, cluster, reconciler, fake_tokens, enqueued)


def ready_image_rig(kf: KubeFake) -> Rig:
    """pr-1 of a docker Project running a ready-made image (no builds), reconciled to Ready."""
    seed(kf, builds=False)
    kf.controllers.enable("deployments", "namespaces")
    kf.put_object(environment_obj())
    rig = make_rig(kf)
    rig.run_until(rig.phase_is("Ready"))
    return rig
