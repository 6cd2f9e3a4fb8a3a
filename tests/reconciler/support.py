"""Test support for the reconciler: sample CRs, fakes for the token source and the queue.

Every helper takes the team (and so the namespaces) as a parameter: on the shared real control
plane each test uses its own (``Names(cluster.name("acme"))``); the module constants are the
defaults for pure tests and for the ``tests/kubefake`` tier, where each test has a server of
its own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import naming
from core.model import GROUP_VERSION
from reconciler.cluster import Cluster
from reconciler.modes import ModeSettings
from reconciler.modes.registry import ModeRegistry
from reconciler.reads import LiveReads, Reads
from reconciler.reconcile import Outcome, Reconciler
from reconciler.tokens import TokenSource
from tests.kubefake import KubeFake
from tests.support.control_plane import PREVIEW_DOMAIN, ControlPlane
from tests.support.kube_rest import KubeRest, KubeView
from tests.support.queue import RecordingEnqueuer

SHA1 = "a" * 40
SHA2 = "b" * 40
TEAM = "acme"
PROJECT = "shop"
PROJECT_NS = naming.project_namespace(TEAM, PROJECT)
ENV_NS = naming.environment_namespace(TEAM, PROJECT, "pr-1")


@dataclass(frozen=True)
class Names:
    """The team of one test and the namespaces that follow from it."""

    team: str = TEAM
    project: str = PROJECT

    @property
    def project_ns(self) -> str:
        return naming.project_namespace(self.team, self.project)

    def env_ns(self, env: str = "pr-1") -> str:
        return naming.environment_namespace(self.team, self.project, env)

    @property
    def namespaces(self) -> tuple[str, str, str]:
        """Team, project and the pr-1 environment namespace."""
        return (self.team, self.project_ns, self.env_ns())


DEFAULT = Names()
# The chart's deployer ClusterRole, as install_deployer_role applies it (the setting's default).
TEST_DEPLOYER = "catalyst-preview-deployer"
SETTINGS = ModeSettings(
    registry="registry.local:5000",
    builder_image="gcr.io/kaniko-project/executor:v1.23.2",
    preview_domain=PREVIEW_DOMAIN,  # what the chart's admission policy admits
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


def project_obj(
    template_type: str = "docker", *, builds: bool = True, names: Names = DEFAULT
) -> dict[str, Any]:
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
        "metadata": {
            "name": names.project,
            "namespace": names.team,
            "labels": {naming.LABEL_TEAM: names.team},
        },
        "spec": {
            "sources": [{"name": "main", "repositoryUrl": "https://github.com/acme/shop"}],
            "templates": {"development": template},
            "resources": {"development": {"limitsCpu": "6", "pods": 30}},
        },
    }


def environment_obj(
    sha: str = SHA1, name: str = "pr-1", *, names: Names = DEFAULT, **spec: Any
) -> dict[str, Any]:
    """An Environment CR in the project namespace."""
    labels = {
        naming.LABEL_TEAM: names.team,
        naming.LABEL_PROJECT: names.project,
        naming.LABEL_ENVIRONMENT: name,
    }
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Environment",
        "metadata": {"name": name, "namespace": names.project_ns, "labels": labels},
        "spec": {
            "projectRef": {"name": names.project},
            "type": "development",
            "sources": [{"name": "main", "commitSha": sha, "branch": "feature/x", "prNumber": 1}],
            "config": {"env": [{"name": "LOG", "value": "debug"}]},
            "github": {"installationId": 42, "repository": "acme/shop"},
            **spec,
        },
    }


def seed(
    kf: KubeView, *, template_type: str = "docker", builds: bool = True, names: Names = DEFAULT
) -> None:
    """Team and project namespaces, the team pull secret and the Project."""
    for ns in (names.team, names.project_ns):
        kf.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kf.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry-credentials", "namespace": names.team},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    kf.put_object(project_obj(template_type, builds=builds, names=names))


@dataclass
class Rig:
    """A reconciler wired to an API server (real or kubefake), with its fakes."""

    kf: KubeView
    cluster: Cluster
    reconciler: Reconciler
    tokens: FakeTokens
    enqueued: RecordingEnqueuer
    names: Names = DEFAULT

    def env(self, name: str = "pr-1") -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.kf.get("environments", name, self.names.project_ns)
        return found

    def status(self, name: str = "pr-1") -> dict[str, Any]:
        found = self.env(name)
        return dict((found or {}).get("status") or {})

    def run(self, name: str = "pr-1") -> Outcome:
        return self.reconciler.reconcile(self.names.project_ns, name)

    def run_until(
        self, check: Callable[[], bool], *, name: str = "pr-1", timeout: float = 60.0
    ) -> None:
        """Reconcile repeatedly (as the queue would) until `check()` holds."""
        deadline = time.monotonic() + timeout
        self.run(name)
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; status: {self.status(name)}")
            time.sleep(0.05)
            self.run(name)

    def phase_is(self, phase: str, name: str = "pr-1") -> Callable[[], bool]:
        return lambda: self.status(name).get("phase") == phase


def make_rig(
    kf: KubeView,
    reads: Reads | None = None,
    *,
    api_client: Any = None,
    names: Names = DEFAULT,
    settings: ModeSettings = SETTINGS,
    tokens: TokenSource | None = None,
    modes: ModeRegistry | None = None,
) -> Rig:
    """A Rig over `kf` with live reads (or the given ones), fake tokens unless given.

    `api_client` is the reconciler's client (default: ``kf.api_client()``, a KubeFake's).
    """
    cluster = Cluster(api_client if api_client is not None else kf.api_client())  # type: ignore[attr-defined]
    fake_tokens, enqueued = FakeTokens(), RecordingEnqueuer()
    reconciler = Reconciler(
        cluster=cluster,
        reads=reads or LiveReads(cluster),
        settings=settings,
        tokens=tokens or fake_tokens,
        enqueue=enqueued,
        modes=modes,
    )
    return Rig(kf, cluster, reconciler, fake_tokens, enqueued, names)


@dataclass
class Live:
    """One test's team on the shared real control plane (fixture ``live``)."""

    plane: ControlPlane
    kube: KubeRest
    names: Names

    def seed(self, *, template_type: str = "docker", builds: bool = True) -> None:
        seed(self.kube, template_type=template_type, builds=builds, names=self.names)

    def environment(self, sha: str = SHA1, name: str = "pr-1", **spec: Any) -> dict[str, Any]:
        """The sample Environment of this test's team."""
        return environment_obj(sha, name, names=self.names, **spec)

    def project(self, template_type: str = "docker", *, builds: bool = True) -> dict[str, Any]:
        return project_obj(template_type, builds=builds, names=self.names)

    def rig(
        self,
        reads: Reads | None = None,
        *,
        settings: ModeSettings = SETTINGS,
        modes: ModeRegistry | None = None,
    ) -> Rig:
        """A reconciler with an admin client of the control plane (and `modes`, else the
        process's registry without a source fetcher)."""
        return make_rig(
            self.kube,
            reads,
            api_client=self.plane.api_client(),
            names=self.names,
            settings=dataclasses.replace(settings, deployer_cluster_role=TEST_DEPLOYER),
            modes=modes,
        )

    def env_ns(self, env: str = "pr-1") -> str:
        return self.names.env_ns(env)

    def set_spec(self, name: str = "pr-1", **changes: Any) -> None:
        """Change an Environment's spec as a worker would (the server bumps generation)."""
        env: Any = self.kube.get("environments", name, self.names.project_ns)
        env["spec"].update(changes)
        self.kube.put_object(env)

    def build_marker(self, build: str = "app") -> str:
        """A string only this team's build Job of `build` has on its command line."""
        return f"/{self.names.team}/{self.names.project}/{build}:"

    def release(self) -> None:
        """Let this test's namespaces go: no reconciler is left to clear the finalizers."""
        for resource, ns in (
            ("environments", self.names.project_ns),
            ("projects", self.names.team),
        ):
            for obj in self.kube.list(resource, ns):
                if obj["metadata"].get("finalizers"):
                    self.kube.remove_finalizers(resource, obj["metadata"]["name"], ns)


def ready_image_rig(kf: KubeFake) -> Rig:
    """pr-1 of a docker Project running a ready-made image (no builds), reconciled to Ready."""
    seed(kf, builds=False)
    kf.controllers.enable("deployments", "namespaces")
    kf.put_object(environment_obj())
    rig = make_rig(kf)
    rig.run_until(rig.phase_is("Ready"))
    return rig
