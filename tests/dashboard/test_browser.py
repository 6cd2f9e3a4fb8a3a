"""The dashboard end to end in headless Chromium (Playwright), as a person uses it.

The real `catalyst-preview dashboard` process runs against the fake GitHub's OAuth (HTTP server
in this process) and the fake Kubernetes API server (in this process: pod logs, followed logs,
pods/exec). Each page is saved as a screenshot under `test-artefacts/dashboard/` (gitignored);
the environment page's is the one in docs/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.kubefake import KubeFake
from tests.support import browser as browsers
from tests.support import dashboard_world as world
from tests.support.browser import Browser
from tests.support.fake_github_server import FakeGitHubServer
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("catalyst-preview"))
ARTEFACTS = ROOT / "test-artefacts" / "dashboard"
ENV_PATH = f"/environments/{world.PROJECT_NS}/{world.ENV_NAME}"
TERMINAL_PATH = ENV_PATH + f"/terminal?pod={world.POD}&container={world.CONTAINER}"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browsers.missing() is not None, reason=str(browsers.missing())),
]


@dataclass
class Live:
    """The running dashboard and the fakes behind it."""

    url: str
    kf: KubeFake
    github: FakeGitHubServer
    log: Path

    def sign_in(self, browser: Browser, login: str) -> None:
        """Through the sign-in button and GitHub's (fake) authorize page, as `login`."""
        with self.github.lock:
            self.github.state.oauth_user = login
        browser.goto(self.url + "/")
        browser.call("click", selector="#signin")
        browser.wait_text("h1", "Environments")


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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("dashboard-e2e")
    with KubeFake() as kf, FakeGitHubServer() as github:
        world.seed_cluster(kf)
        with github.lock:
            world.seed_github(github.state, signed_in=None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **world.dashboard_env(github_url=github.url, dashboard_url=url)}
        env |= {"KUBECONFIG": str(kf.write_kubeconfig(tmp / "kubeconfig")), "PYTHONUNBUFFERED": "1"}
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
            yield Live(url, kf, github, log)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def writer(live: Live) -> Iterator[Browser]:
    with Browser() as browser:
        live.sign_in(browser, "writer")
        yield browser


def test_sign_in_and_the_list_updates_live(live: Live, writer: Browser) -> None:
    writer.goto(live.url + "/")
    writer.wait_text("#rows", world.ENV_NAME)
    writer.wait_text("#rows", "acme/shop#1")
    writer.wait_text("#live", "live")
    live.kf.put_object(world.environment("pr-5", pr=5, namespace="acme-shop-pr-5"))
    writer.wait_text("#rows", "pr-5")  # arrived through the watch, without a reload
    writer.screenshot(ARTEFACTS / "environments.png")


def test_environment_page_and_a_log_line_arriving_live(live: Live, writer: Browser) -> None:
    assert writer.goto(live.url + ENV_PATH) == 200
    writer.wait_text("#conditions", "RolloutComplete")
    writer.wait_text("#pods", "OOMKilled (exit 137)")
    writer.wait_text("#events", "back-off restarting")
    writer.wait_text("#metrics", "does not serve metrics.k8s.io")
    writer.wait_text("#log", "GET / 200")
    world.append_log(live.kf, "GET /checkout 201 from-the-live-stream\n")
    writer.wait_text("#log", "from-the-live-stream")
    shot = writer.screenshot(ARTEFACTS / "environment.png")
    if os.environ.get("CATALYST_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "dashboard-environment.png")


def test_terminal_runs_a_command_in_the_pod(live: Live, writer: Browser) -> None:
    assert writer.goto(live.url + TERMINAL_PATH) == 200
    writer.wait_text("#terminal-status", "connected")
    writer.wait_text("#terminal", "$")
    writer.call("click", selector="#terminal")
    writer.call("type", text="hostname")
    writer.call("press", key="Enter")
    writer.wait_text("#terminal", f"hostname{world.POD}")  # the command's echo, then its output
    writer.screenshot(ARTEFACTS / "terminal.png")
    session = live.kf.api.exec_log[-1]
    assert session.lines[-1] == "hostname" and session.tty
    assert session.resizes, "the terminal reported its size"


def test_a_missing_environment_page(live: Live, writer: Browser) -> None:
    assert writer.goto(live.url + f"/environments/{world.PROJECT_NS}/pr-404") == 404
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


def test_a_reader_is_refused_a_shell(live: Live) -> None:
    with Browser() as reader:
        live.sign_in(reader, "reader")
        assert reader.goto(live.url + ENV_PATH) == 200
        reader.wait_text("#shell-refusal", "A shell needs write permission")
        assert reader.goto(live.url + TERMINAL_PATH) == 403
        reader.wait_text("#refusal", "you have read")
        reader.screenshot(ARTEFACTS / "reader-refused.png")
