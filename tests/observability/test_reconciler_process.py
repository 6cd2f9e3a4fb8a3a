"""`python -m reconciler` with CATALYST_METRICS_PORT: scrape-time state, counters, health, logs."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kubefake import KubeFake
from tests.observability.support import (
    ROOT,
    json_lines,
    process_env,
    stop,
    value,
    wait_for,
)
from tests.reconciler.support import PROJECT_NS, environment_obj, seed
from tests.support.github import private_key_pem
from tests.support.redis_server import RedisServer, free_port


class TokenMint(BaseHTTPRequestHandler):
    """The GitHub calls the reconciler makes: minting a build's token and revoking it after."""

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_POST(self) -> None:
        body = json.dumps({"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def github_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenMint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def start(
    kubeconfig: Path, redis_url: str, github_api: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = process_env(
        CATALYST_GITHUB_APP_ID="7",
        CATALYST_GITHUB_PRIVATE_KEY=private_key_pem(),
        CATALYST_GITHUB_API_URL=github_api,
        KUBECONFIG=str(kubeconfig),
        CATALYST_REDIS_URL=redis_url,
        CATALYST_WEBHOOK_SECRET="s",
        CATALYST_METRICS_PORT=str(port),
        CATALYST_LEADER_RETRY_SECONDS="0.3",
        POD_NAMESPACE="default",
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def phase(kubefake: KubeFake) -> Any:
    env = kubefake.get("environments", "pr-1", PROJECT_NS) or {}
    return (env.get("status") or {}).get("phase")


def test_reconciler_serves_phases_leader_builds_reconciles_and_health(
    kubefake: KubeFake,
    kubefake_kubeconfig: Path,
    redis_server: RedisServer,
    github_api: str,
    tmp_path: Path,
) -> None:
    kubefake.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    seed(kubefake, builds=True)
    # Jobs finish only once Building was seen: a build that completes between two passes of one
    # reconcile never shows that phase, and the log line under test would be a matter of timing.
    kubefake.controllers.enable("deployments", "namespaces")
    port, log = free_port(), tmp_path / "reconciler.log"
    proc = start(kubefake_kubeconfig, redis_server.url, github_api, port, log)
    try:
        wait_for(lambda: value(port, "catalyst_reconciler_leader") == 1.0, proc, log)
        assert value(port, "catalyst_environments", phase="Ready") == 0.0
        kubefake.put_object(environment_obj())
        wait_for(lambda: phase(kubefake) == "Building", proc, log)
        kubefake.controllers.enable("jobs")
        wait_for(lambda: phase(kubefake) == "Ready", proc, log)
        wait_for(lambda: value(port, "catalyst_environments", phase="Ready") == 1.0, proc, log)
        assert value(port, "catalyst_builds_total", outcome="succeeded") == 1.0
        success = value(port, "catalyst_reconciles_total", kind="environment", outcome="success")
        assert success is not None and success >= 1
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok\n")
    finally:
        assert stop(proc) == 0
    lines = json_lines(log)
    changes = [
        line for line in lines if "phase" in line and line["logger"] == "reconciler.reconcile"
    ]
    phases = [line["phase"] for line in changes]
    assert phases[-1] == "Ready" and "Building" in phases, changes
    assert all(a != b for a, b in itertools.pairwise(phases))  # one line per change
    for line in changes:
        assert line["environment"] == f"{PROJECT_NS}/pr-1" and line["commit"] != "-"
        assert line["reason"] and line["phase"] in line["msg"]
    # a successful reconcile is not logged by itself (at INFO): only its phase changes are
    assert not [line for line in lines if "succeeded in" in line["msg"]]
