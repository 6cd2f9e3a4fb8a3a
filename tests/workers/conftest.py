"""Fixtures for worker flow tests: fake GitHub (respx), the fake API server, real Redis."""

from __future__ import annotations

import asyncio
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
from core.model import Environment
from tests.kubefake import KubeFake
from tests.support.fake_github import FakeGitHub
from tests.support.github import private_key_pem
from tests.support.redis_server import RedisServer
from workers.context import Context
from workers.projects import ProjectIndex

T = TypeVar("T")
REPO = "octo/shop"
INSTALLATION = 42
TEAM = "acme"
PROJECT = "shop"
PROJECT_NS = naming.project_namespace(TEAM, PROJECT)


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
    *, tracked: list[dict[str, str]] | None = None, previews: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Project CR for REPO in team TEAM."""
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
        "metadata": {"name": PROJECT, "namespace": TEAM},
        "spec": spec,
    }


class Harness:
    """Runs worker flows against the fakes, one event loop per call (like a task)."""

    def __init__(
        self,
        kube: KubeFake,
        redis: RedisServer,
        github: FakeGitHub,
        clock: FakeClock,
        private_key: str,
    ) -> None:
        self.kubefake = kube
        self.redis_url = redis.url
        self.github = github
        self.clock = clock
        self.credentials = AppCredentials(7, private_key)
        self.store = KubeEnvironments(kube.api_client())
        self.pods = KubePods(kube.api_client())
        self.projects = ProjectIndex(self.store, ttl=0.0)
        self.log_url_template: str | None = "https://logs.example/{namespace}/{job}"

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
                return await flow(ctx)
        finally:
            await redis.aclose()

    def environment(self, name: str) -> Environment | None:
        """The Environment CR as stored now."""
        return self.store.get_environment(PROJECT_NS, name)

    def set_status(self, name: str, status: dict[str, Any]) -> None:
        """Write an Environment's status as the reconciler would."""
        obj = self.kubefake.get("environments", name, PROJECT_NS)
        assert obj is not None
        obj["status"] = status
        self.kubefake.put_object(obj)


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
        yield fake


@pytest.fixture
def harness(
    kubefake: KubeFake,
    redis_server: RedisServer,
    github: FakeGitHub,
    clock: FakeClock,
    private_key: str,
) -> Harness:
    """Flows wired to the fakes, with one Project onboarded for REPO."""
    for namespace in (TEAM, PROJECT_NS):
        kubefake.put_object(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    kubefake.put_object(project_object(tracked=[{"branch": "main", "environment": "staging"}]))
    return Harness(kubefake, redis_server, github, clock, private_key)
