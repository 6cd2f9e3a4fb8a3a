"""`python -m reconciler` end to end: fake API server, real redis-server, SIGTERM shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubefake import KubeFake
from tests.reconciler.support import ENV_NS, PROJECT_NS, environment_obj, seed
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def eventually(check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")[-3000:]
            raise AssertionError(f"reconciler did not get there (rc={proc.returncode}):\n{out}")
        time.sleep(0.05)


def start_reconciler(
    kubefake: KubeFake, kubeconfig: Path, redis_server: RedisServer
) -> subprocess.Popen[bytes]:
    """`python -m reconciler` against the fake (short Lease timings for takeover tests)."""
    if kubefake.get("namespaces", "default") is None:
        kubefake.put_object(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        )
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "CATALYST_REDIS_URL": redis_server.url,
        "CATALYST_WEBHOOK_SECRET": "test-secret",
        "CATALYST_LOG_FORMAT": "console",
        "CATALYST_LEADER_LEASE_SECONDS": "2",
        "CATALYST_LEADER_RENEW_SECONDS": "1.5",
        "CATALYST_LEADER_RETRY_SECONDS": "0.3",
        "POD_NAMESPACE": "default",
    }
    for key in ("CATALYST_GITHUB_APP_ID", "CATALYST_GITHUB_PRIVATE_KEY"):
        env.pop(key, None)
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def reconciler_process(
    kubefake: KubeFake, kubefake_kubeconfig: Path, redis_server: RedisServer
) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_reconciler(kubefake, kubefake_kubeconfig, redis_server)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def phase(kubefake: KubeFake) -> Any:
    env = kubefake.get("environments", "pr-1", PROJECT_NS)
    return ((env or {}).get("status") or {}).get("phase")


def test_runtime_deploys_tears_down_and_stops_on_sigterm(
    kubefake: KubeFake, reconciler_process: subprocess.Popen[bytes]
) -> None:
    seed(kubefake, builds=False)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.put_object(environment_obj())
    eventually(lambda: phase(kubefake) == "Ready", 30, reconciler_process)
    project: Any = kubefake.get("projects", "shop", "acme")
    assert project["status"]["namespace"] == PROJECT_NS
    lease: Any = kubefake.get("leases", "catalyst-reconciler", "default")
    assert lease["spec"]["holderIdentity"]
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    eventually(
        lambda: kubefake.get("environments", "pr-1", PROJECT_NS) is None, 30, reconciler_process
    )
    assert kubefake.get("namespaces", ENV_NS) is None
    reconciler_process.send_signal(signal.SIGTERM)
    assert reconciler_process.wait(timeout=20) == 0
    lease = kubefake.get("leases", "catalyst-reconciler", "default")
    assert not lease["spec"].get("holderIdentity")


def test_bad_settings_stop_the_process_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    env["CATALYST_REDIS_URL"] = "http://nope"
    result = subprocess.run(
        [sys.executable, "-m", "reconciler"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "CATALYST_REDIS_URL" in lines[0]


def test_two_replicas_one_leader_and_the_standby_takes_over(
    kubefake: KubeFake, kubefake_kubeconfig: Path, redis_server: RedisServer
) -> None:
    seed(kubefake, builds=False)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    first = start_reconciler(kubefake, kubefake_kubeconfig, redis_server)
    second = start_reconciler(kubefake, kubefake_kubeconfig, redis_server)
    try:
        kubefake.put_object(environment_obj())
        eventually(lambda: phase(kubefake) == "Ready", 30, first)
        creates = [
            r for r in kubefake.requests() if r.method == "POST" and r.resource == "deployments"
        ]
        assert len(creates) == 1  # one reconcile at a time per Environment across replicas
        holder = lease_holder(kubefake)
        leader, standby = (first, second) if holder.endswith(f"-{first.pid}") else (second, first)
        assert holder.endswith(f"-{leader.pid}")
        leader.kill()  # no clean shutdown: the Lease must expire
        leader.wait(timeout=10)
        killed = time.monotonic()
        eventually(lambda: lease_holder(kubefake).endswith(f"-{standby.pid}"), 20, standby)
        assert time.monotonic() - killed < 10
        env: Any = kubefake.get("environments", "pr-1", PROJECT_NS)
        env["spec"]["redeployNonce"] = "after-failover"
        env["metadata"]["generation"] += 1
        kubefake.put_object(env)
        eventually(lambda: redeployed(kubefake), 30, standby)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def lease_holder(kubefake: KubeFake) -> str:
    lease = kubefake.get("leases", "catalyst-reconciler", "default") or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def redeployed(kubefake: KubeFake) -> bool:
    env = kubefake.get("environments", "pr-1", PROJECT_NS) or {}
    status = env.get("status") or {}
    return status.get("redeployNonce") == "after-failover" and status.get("phase") == "Ready"
