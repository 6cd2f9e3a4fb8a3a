"""The dashboard end to end in headless Chromium (Playwright), as a person uses it.

The real `catalyst-preview dashboard` process runs against the fake GitHub's OAuth (an HTTP
server in this process) and the real control plane, with the token of the chart's own dashboard
ServiceAccount: every Environment, Project, pod, pod log and event it shows is read, and every
shell opened (pods/exec), with exactly the rights the chart grants it. Each test seeds its own
world there (`dashboard_world.seed_control_plane`, names unique to the test): Environments with
their status written through the status subresource, pods kwok runs on the simulated node (logs
from kwok's log file, exec a local shell on a pty in its exec folder), events.

Nothing here runs on kubefake: the real plane produces all of it on demand. What it does not
serve is `metrics.k8s.io` (no metrics-server), so the page's one clear line about that is what
this tier shows. The view unit tests (`test_views.py`, `test_workloads.py`) stay on kubefake.

Each page is saved as a screenshot under `test-artefacts/dashboard/` (gitignored); the
environment page's is the one in docs/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import browser as browsers
from tests.support import dashboard_world as world
from tests.support.browser import Browser
from tests.support.control_plane import ChartRelease, ClusterScope, ControlPlane
from tests.support.dashboard_world import Scene
from tests.support.fake_github_server import FakeGitHubServer
from tests.support.kube_rest import KubeRest, KubeRestError
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("catalyst-preview"))
ARTEFACTS = ROOT / "test-artefacts" / "dashboard"
SIZE = re.compile(r"size=(\d+) (\d+)\.")  # `stty size` of the shell: rows, columns

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browsers.missing() is not None, reason=str(browsers.missing())),
]


@dataclass
class Live:
    """The running dashboard, the fake GitHub and the control plane behind it."""

    url: str
    plane: ControlPlane
    github: FakeGitHubServer
    log: Path
    token: str  # the dashboard ServiceAccount's, as the process holds it

    def sign_in(self, browser: Browser, login: str) -> None:
        """Through the sign-in button and GitHub's (fake) authorize page, as `login`."""
        with self.github.lock:
            self.github.state.oauth_user = login
        browser.goto(self.url + "/")
        browser.call("click", selector="#signin")
        browser.wait_text("h1", "Environments")

    def as_dashboard(self) -> KubeRest:
        """The API server as the dashboard process sees it (its own token)."""
        return self.plane.rest(self.token)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90  # generous: the process imports kubernetes and starlette
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            try:  # wait for the process to exit (a failure) or 0.1 s, whichever comes first
                proc.wait(timeout=0.1)
                raise AssertionError(f"dashboard exited: {log.read_text()[-2000:]}")
            except subprocess.TimeoutExpired:
                continue
    raise AssertionError(f"dashboard never answered /healthz: {log.read_text()[-2000:]}")


def _token_of(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


@pytest.fixture(scope="module")
def live(
    control_plane: ControlPlane,
    chart_release: ChartRelease,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("dashboard-e2e")
    kubeconfig = chart_release.kubeconfig_for("dashboard")
    with FakeGitHubServer() as github:
        with github.lock:
            world.seed_github(github.state, signed_in=None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **world.dashboard_env(github_url=github.url, dashboard_url=url)}
        env |= {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        env |= {
            "CATALYST_LOG_FORMAT": "console",
            "CATALYST_DASHBOARD_PERMISSION_CACHE_SECONDS": "0",
        }
        log = tmp / "dashboard.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [CLI, "dashboard", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_healthy(url, proc, log)
            yield Live(url, control_plane, github, log, _token_of(kubeconfig))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def writer(live: Live) -> Iterator[Browser]:
    with Browser() as browser:
        live.sign_in(browser, "writer")
        yield browser


@pytest.fixture
def scene(cluster: ClusterScope, control_plane: ControlPlane) -> Scene:
    """This test's Environments, namespaces, pods, events and log lines on the control plane."""
    return world.seed_control_plane(cluster, control_plane)


def row(namespace: str, name: str) -> str:
    """The list's row of one Environment."""
    return f'#rows tr[data-key="{namespace}/{name}"]'


def test_sign_in_and_the_list_updates_live(live: Live, writer: Browser, scene: Scene) -> None:
    writer.goto(live.url + "/")
    writer.wait_text(row(scene.project_ns, world.ENV_NAME), world.ENV_NAME)
    writer.wait_text(row(scene.project_ns, world.ENV_NAME), "acme/shop#1")
    writer.wait_text(row(scene.project_ns, world.FORK_NAME), "fork")
    writer.wait_text("#live", "live")
    new_ns = scene.project_ns + "-pr-5"
    live.plane.rest().put_object(
        world.environment("pr-5", pr=5, namespace=new_ns, project_ns=scene.project_ns)
    )
    writer.wait_text(row(scene.project_ns, "pr-5"), "acme/shop#5")  # through the watch, no reload
    writer.screenshot(ARTEFACTS / "environments.png")


def test_environment_page_and_a_log_line_arriving_live(
    live: Live, writer: Browser, scene: Scene
) -> None:
    assert writer.goto(live.url + scene.env_path) == 200
    writer.wait_text("#conditions", "RolloutComplete")
    writer.wait_text("#pods", "OOMKilled (exit 137)")
    writer.wait_text("#events", "back-off restarting")
    writer.wait_text("#metrics", "does not serve metrics.k8s.io")
    writer.wait_text("#log", scene.first_log[-1])
    fresh = f"GET /checkout 201 from-the-live-stream {scene.marker}"
    live.plane.append_log(fresh)  # the container writes a line; kwok's followed log sends it
    writer.wait_text("#log", fresh)
    shot = writer.screenshot(ARTEFACTS / "environment.png")
    if os.environ.get("CATALYST_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "dashboard-environment.png")


def test_terminal_runs_a_command_in_the_pod(live: Live, writer: Browser, scene: Scene) -> None:
    # A file only kwok's exec folder holds: its content on screen means the command ran there.
    (live.plane.exec_dir / f"{scene.marker}.txt").write_text(f"served-by-kwok-{scene.marker}\n")
    assert writer.goto(live.url + scene.terminal_path) == 200
    writer.wait_text("#terminal-status", "connected")
    writer.wait_text("#terminal", "$")
    writer.call("click", selector="#terminal")
    writer.call("type", text=f'cat {scene.marker}.txt; echo "tty=$(tty) size=$(stty size)."')
    writer.call("press", key="Enter")
    writer.wait_text("#terminal", f"served-by-kwok-{scene.marker}")
    writer.wait_text("#terminal", "tty=/dev/pts/")  # an interactive shell on a terminal
    shown = wait_for("the pty's size", lambda: SIZE.search(writer.text("#terminal")))
    rows = writer.call(
        "evaluate", expression="document.querySelectorAll('.xterm-rows > div').length"
    )
    assert int(shown[1]) == rows > 0 and int(shown[2]) > 0, "the terminal reported its size"
    writer.screenshot(ARTEFACTS / "terminal.png")


def test_a_missing_environment_page(live: Live, writer: Browser, scene: Scene) -> None:
    assert writer.goto(live.url + f"/environments/{scene.project_ns}/pr-404") == 404
    writer.wait_text("#gone", "is not there")
    assert "torn down when its pull request was closed" in writer.text("main")
    writer.screenshot(ARTEFACTS / "missing-environment.png")


def test_a_forged_csrf_token_is_refused(live: Live, writer: Browser) -> None:
    writer.goto(live.url + "/")
    status = writer.call(
        "evaluate",
        expression="fetch('/logout', {method: 'POST', headers: {'X-CSRF-Token': 'forged'}})"
        ".then(r => r.status)",
    )
    assert status == 403
    writer.call(
        "evaluate",
        expression="document.querySelector('form.signout input[name=csrf]').value = 'forged'",
    )
    writer.call("click", selector="form.signout button")
    writer.wait_text("#refusal", "security token is missing or wrong")
    writer.screenshot(ARTEFACTS / "forged-csrf.png")
    writer.goto(live.url + "/")
    writer.wait_text("h1", "Environments")  # still signed in: the forged sign-out did nothing


def test_a_reader_is_refused_a_shell(live: Live, scene: Scene) -> None:
    with Browser() as reader:
        live.sign_in(reader, "reader")
        assert reader.goto(live.url + scene.env_path) == 200
        reader.wait_text("#shell-refusal", "A shell needs write permission")
        assert reader.goto(live.url + scene.terminal_path) == 403
        reader.wait_text("#refusal", "you have read")
        reader.screenshot(ARTEFACTS / "reader-refused.png")


def test_the_dashboards_own_token_reads_what_it_shows_and_never_a_secret(
    live: Live, scene: Scene, cluster: ClusterScope
) -> None:
    cluster.rest.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "app-creds", "namespace": scene.env_ns},
            "stringData": {"password": "hunter2"},
        }
    )
    dashboard = live.as_dashboard()
    assert dashboard.get("environments", world.ENV_NAME, scene.project_ns) is not None
    assert dashboard.list("projects", scene.project_ns) == []  # allowed, and none seeded
    assert [p["metadata"]["name"] for p in dashboard.list("pods", scene.env_ns)] == [world.POD]
    assert {e["reason"] for e in dashboard.list("events", scene.env_ns)} >= {"Pulled", "BackOff"}
    log = dashboard.http.get(dashboard.path("pods", scene.env_ns, world.POD) + "/log")
    assert log.status_code == 200 and scene.first_log[-1] in log.text
    refused: dict[str, Callable[[], object]] = {
        "get a Secret": lambda: dashboard.get("secrets", "app-creds", scene.env_ns),
        "list Secrets": lambda: dashboard.list("secrets", scene.env_ns),
        "delete a pod": lambda: dashboard.delete("pods", world.POD, scene.env_ns),
    }
    for what, call in refused.items():
        with pytest.raises(KubeRestError) as denied:
            call()
        assert denied.value.status == 403, what
    assert cluster.rest.get("pods", world.POD, scene.env_ns) is not None
