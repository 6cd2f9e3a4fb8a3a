"""Fixtures for worker flow tests: fake GitHub (respx), a Kubernetes API, real Redis.

``harness`` runs the flows against the real control plane (the session's kube-apiserver), with
a team namespace unique to the test; ``fake_harness`` runs them against ``tests/kubefake`` for
the tests that need what only the fake does on demand (injected faults, delays, request logs).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import respx
from redis.asyncio import Redis

from core import naming
from core.clients.github import GitHubApp
from core.clients.githubauth import AppCredentials
from core.clients.kube import KubeEnvironments, KubePods
from core.errors import RateLimited
from core.jobs import PushJob
from core.model import Environment, Project
from tests.kubefake import KubeFake
from tests.support.control_plane import ClusterScope, ControlPlane
from tests.support.fake_github import FakeGitHub
from tests.support.github import private_key_pem
from tests.support.kube_rest import KubeView
from tests.support.redis_server import RedisServer
from workers import followups
from workers.context import Context
from workers.projects import ProjectIndex
from workers.statuses import publish_status
from workers.tracked import handle_push

T = TypeVar("T")
REPO = "octo/shop"
INSTALLATION = 42
PROJECT = "shop"


class FakeClock:
    """Simulated time: `sleep` advances it instantly."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture(scope="session")
def private_key() -> str:
    """A throwaway RSA key for the App."""
    return private_key_pem()


def project_object(
    team: str,
    *,
    tracked: list[dict[str, str]] | None = None,
    previews: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Project CR for REPO in namespace `team`."""
    spec: dict[str, Any] = {
        "sources": [{"name": "app", "repositoryUrl": f"https://github.com/{REPO}.git"}],
        "templates": {"development": {"type": "docker", "sourceRef": "app"}},
    }
    if tracked:
        spec["trackedBranches"] = tracked
    if previews:
        spec["previews"] = previews
    return {
        "apiVersion": "catalyst.catalyst.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": PROJECT, "namespace": team},
        "spec": spec,
    }


class TeamEnvironments(KubeEnvironments):
    """The product's store, seeing only the Projects of one team.

    The session's cluster is shared by every test, and teams of earlier tests may still be
    terminating; a cluster holding just this test's team is what the flows would see.
    """

    def __init__(self, api_client: Any, team: str) -> None:
        super().__init__(api_client)
        self.team = team

    def list_projects(self) -> list[Project]:
        return [p for p in super().list_projects() if p.metadata.namespace == self.team]


async def _publish(ctx: Context, *, key: tuple[str, str]) -> None:
    await publish_status(ctx, *key, follow_up=True)


class Harness:
    """Runs worker flows against one Kubernetes API, one event loop per call (like a task)."""

    def __init__(
        self,
        kube: KubeView,
        api_client: Any,
        *,
        team: str,
        redis: RedisServer,
        github: FakeGitHub,
        clock: FakeClock,
        private_key: str,
    ) -> None:
        self.kube = kube
        self.team = team
        self.project_ns = naming.project_namespace(team, PROJECT)
        self.redis_url = redis.url
        self.github = github
        self.clock = clock
        self.credentials = AppCredentials(7, private_key)
        self.store = TeamEnvironments(api_client, team)
        self.pods = KubePods(api_client)
        self.projects = ProjectIndex(self.store, ttl=0.0)
        self.log_url_template: str | None = "https://logs.example/{namespace}/{job}"
        # Later publishes the flows asked for (put-off progress writes): (ns, name) -> due at.
        self.follow_ups: dict[tuple[str, str], float] = {}

    def run(self, flow: Callable[[Context], Awaitable[T]]) -> T:
        """Run `flow` with a fresh Context, as a task would."""
        return asyncio.run(self._run(flow))

    async def _run(self, flow: Callable[[Context], Awaitable[T]]) -> T:
        redis = Redis.from_url(self.redis_url)
        try:
            async with httpx.AsyncClient() as http:
                app = GitHubApp(
                    self.credentials,
                    http=http,
                    redis=redis,
                    base_url=self.github.base_url,
                    clock=self.clock,
                )
                ctx = Context(
                    app,
                    self.store,
                    redis,
                    self.projects,
                    log_url_template=self.log_url_template,
                    pods=self.pods,
                )
                result = await flow(ctx)
                self._note_follow_ups(ctx)
                return result
        finally:
            await redis.aclose()

    def _note_follow_ups(self, ctx: Context) -> None:
        """Keep the later publishes a flow asked for, as the task shell queues them."""
        for key, delay in ctx.follow_ups.due.items():
            due = self.clock.now + max(delay, followups.MIN_DELAY)
            self.follow_ups.setdefault(key, due)

    def run_follow_ups(self, *, until: float | None = None) -> int:
        """Run the later publishes due by `until` (default: all, moving the clock to each)."""
        ran = 0
        while self.follow_ups:
            key, due = min(self.follow_ups.items(), key=lambda item: item[1])
            if until is not None and due > until:
                break
            del self.follow_ups[key]
            self.clock.now = max(self.clock.now, due)
            try:
                self.run(functools.partial(_publish, key=key))
            except RateLimited as exc:  # retried after the delay it names, as Celery would
                self.follow_ups[key] = self.clock.now + (exc.delay or 1.0)
                continue
            ran += 1
        return ran

    def environment(self, name: str) -> Environment | None:
        """The Environment CR as stored now."""
        return self.store.get_environment(self.project_ns, name)

    def env_obj(self, name: str) -> Any:
        """The Environment CR as the API server stores it (a plain dict), or None."""
        return self.kube.get("environments", name, self.project_ns)

    def set_status(self, name: str, status: dict[str, Any]) -> None:
        """Write an Environment's status as the reconciler would."""
        obj = self.env_obj(name)
        assert obj is not None
        obj["status"] = status
        self.kube.put_object(obj)

    def put_project(self, **spec: Any) -> None:
        """Replace this team's Project (`project_object` options)."""
        self.kube.put_object(project_object(self.team, **spec))

    def seed(self) -> Harness:
        """The team and project namespaces and a Project with a tracked branch."""
        for namespace in (self.team, self.project_ns):
            self.kube.put_object(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        self.put_project(tracked=[{"branch": "main", "environment": "staging"}])
        return self

    def release(self) -> None:
        """Let the namespaces go: no reconciler runs here to clear Environment finalizers."""
        for env in self.kube.list("environments", self.project_ns):
            if env["metadata"].get("finalizers"):
                self.kube.remove_finalizers(
                    "environments", env["metadata"]["name"], self.project_ns
                )


@pytest.fixture
def clock() -> FakeClock:
    """Simulated time shared by the App client and the fake GitHub."""
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGitHub]:
    """The fake GitHub mounted on respx; nothing escapes to the network."""
    fake = FakeGitHub(clock.time)
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        router.route(host="127.0.0.1").pass_through()  # the API server the tests read through
        yield fake


@pytest.fixture
def harness(
    control_plane: ControlPlane,
    cluster: ClusterScope,
    redis_server: RedisServer,
    github: FakeGitHub,
    clock: FakeClock,
    private_key: str,
) -> Iterator[Harness]:
    """Flows on the real control plane, one Project onboarded for REPO in a team of this test."""
    team = cluster.name("acme")
    made = Harness(
        control_plane.rest(),
        control_plane.api_client(),
        team=team,
        redis=redis_server,
        github=github,
        clock=clock,
        private_key=private_key,
    )
    for namespace in (team, made.project_ns):
        cluster.track(namespace)
    yield made.seed()
    made.release()


@pytest.fixture
def fake_harness(
    kubefake: KubeFake,
    redis_server: RedisServer,
    github: FakeGitHub,
    clock: FakeClock,
    private_key: str,
) -> Harness:
    """Flows on ``tests/kubefake``, for faults and delays injected on demand."""
    made = Harness(
        kubefake,
        kubefake.api_client(),
        team="acme",
        redis=redis_server,
        github=github,
        clock=clock,
        private_key=private_key,
    )
    return made.seed()


def kubefake_of(harness: Harness) -> KubeFake:
    """The fake API server behind a ``fake_harness`` (its faults and request log)."""
    assert isinstance(harness.kube, KubeFake), "this test needs fake_harness"
    return harness.kube


def push_branch(
    harness: Harness,
    sha: str,
    *,
    repository: str = REPO,
    branch: str = "main",
    deleted: bool = False,
) -> None:
    """Deliver a `push` of `branch` (to `sha`, or its deletion) and run the worker's flow."""
    job = PushJob(
        delivery_id=f"p-{repository}-{branch}-{sha[:4]}",
        installation_id=INSTALLATION,
        repository=repository,
        branch=branch,
        after_sha=sha,
        deleted=deleted,
    )
    harness.run(lambda ctx: handle_push(ctx, job))
