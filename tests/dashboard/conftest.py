"""Fixtures for the dashboard's view tests: the app on the fake cluster and the fake GitHub.

The kubefake world is module-scoped and named `fake_world`, so that `cluster` stays the real
control plane's per-test fixture in this folder (the browser tests run there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.testclient import TestClient

from core.clients.workloads import Workloads
from core.settings import load_settings
from dashboard.app import make_app
from tests.kubefake import KubeFake
from tests.support import dashboard_world as world
from tests.support.fake_github import FakeGitHub

GITHUB = "http://github.test"
DASHBOARD = "http://dash.test"


@dataclass
class Dash:
    """A dashboard app under test with the fakes behind it."""

    client: TestClient
    github: FakeGitHub
    kf: KubeFake

    def sign_in(self, login: str) -> None:
        """The whole OAuth round trip as `login` (GitHub approves, the callback sets a cookie)."""
        self.github.state.oauth_user = login
        to_github = self.client.get("/login", follow_redirects=False)
        assert to_github.status_code == 303
        back = self.github.handle(httpx.Request("GET", to_github.headers["location"]))
        assert back.status_code == 302, back.text
        done = self.client.get(back.headers["location"], follow_redirects=False)
        assert done.status_code == 303, done.text

    def csrf(self) -> str:
        """The session's CSRF token, as the page's meta tag carries it."""
        page = self.client.get("/").text
        marker = '<meta name="csrf-token" content="'
        return str(page.split(marker, 1)[1].split('"', 1)[0])


@pytest.fixture(scope="module")
def fake_world() -> Iterator[KubeFake]:
    with KubeFake() as kf:
        world.seed_cluster(kf)
        yield kf


@pytest.fixture
def dash(fake_world: KubeFake) -> Iterator[Dash]:
    github = FakeGitHub(time.time, base_url=GITHUB)
    world.seed_github(github.state)
    env = world.dashboard_env(github_url=GITHUB, dashboard_url=DASHBOARD)
    settings = load_settings(**{k.removeprefix("CATALYST_").lower(): v for k, v in env.items()})
    http = httpx.AsyncClient(transport=httpx.MockTransport(github.handle))
    app = make_app(settings, workloads=Workloads(fake_world.api_client()), http=http)
    with TestClient(app, base_url=DASHBOARD) as client:
        yield Dash(client, github, fake_world)
