"""`python -m reconciler` end to end: real redis-server, SIGTERM shutdown.

A preview's life runs on the real control plane; the two-replica takeover counts the Deployment
creates in ``tests/kubefake``'s request log.
"""

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
from tests.reconciler.support import PROJECT_NS, Live, environment_obj, seed
from tests.support.control_plane import PREVIEW_DOMAIN
from tests.support.kube_rest import KubeView
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def eventually(check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            out = output_of(proc)[-3000:]
            raise AssertionError(f"reconciler did not get there (rc={proc.returncode}):\n{out}")
        time.sleep(0.05)


def start_reconciler(
    kube: KubeView,
    kubeconfig: Path,
    redis_server: RedisServer,
    *,
    log: Path,
    lease_namespace: str = "default",
) -> subprocess.Popen[bytes]:
    """`python -m reconciler` (short Lease timings for takeover tests)."""
    if kube.get("namespaces", lease_namespace) is None:
        kube.put_object(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": lease_namespace}}
        )
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "CATALYST_REDIS_URL": redis_server.url,
        "CATALYST_WEBHOOK_SECRET": "test-secret",
        "CATALYST_LOG_FORMAT": "console",
        "CATALYST_PREVIEW_DOMAIN": PREVIEW_DOMAIN,  # what the chart's admission policy admits
        "CATALYST_LEADER_LEASE_SECONDS": "2",
        "CATALYST_LEADER_RENEW_SECONDS": "1.5",
        "CATALYST_LEADER_RETRY_SECONDS": "0.3",
        "POD_NAMESPACE": lease_namespace,
    }
    for key in ("CATALYST_GITHUB_APP_ID", "CATALYST_GITHUB_PRIVATE_KEY"):
        env.pop(key, None)
    with log.open("wb") as out:  # a file: a pipe nobody reads fills up and blocks the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _LOGS[proc.pid] = log
    return proc


_LOGS: dict[int, Path] = {}


def output_of(proc: subprocess.Popen[bytes]) -> str:
    return _LOGS[proc.pid].read_text(errors="replace")


@pytest.fixture
def reconciler_process(
    live: Live, redis_server: RedisServer, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    kubeconfig = live.plane.write_kubeconfig(tmp_path / "kubeconfig")
    # Its Lease in the test's team namespace: no other test's reconciler contends for it.
    proc = start_reconciler(
        live.kube,
        kubeconfig,
        redis_server,
        log=tmp_path / "reconciler.log",
        lease_namespace=live.names.team,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def phase(kube: KubeView, project_ns: str = PROJECT_NS) -> Any:
    env = kube.get("environments", "pr-1", project_ns)
    return ((env or {}).get("status") or {}).get("phase")


def test_runtime_deploys_tears_down_and_stops_on_sigterm(
    live: Live, reconciler_process: subprocess.Popen[bytes]
) -> None:
    live.seed(builds=False)
    project_ns, team = live.names.project_ns, live.names.team
    live.kube.put_object(live.environment())
    eventually(lambda: phase(live.kube, project_ns) == "Ready", 60, reconciler_process)
    project: Any = live.kube.get("projects", "shop", team)
    assert project["status"]["namespace"] == project_ns
    lease: Any = live.kube.get("leases", "catalyst-reconciler", team)
    assert lease["spec"]["holderIdentity"]
    live.kube.delete("environments", "pr-1", project_ns)
    eventually(
        lambda: live.kube.get("environments", "pr-1", project_ns) is None, 60, reconciler_process
    )
    assert live.kube.get("namespaces", live.env_ns()) is None  # the namespace controller finished
    reconciler_process.send_signal(signal.SIGTERM)
    assert reconciler_process.wait(timeout=20) == 0
    lease = live.kube.get("leases", "catalyst-reconciler", team)
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
    kubefake: KubeFake, kubefake_kubeconfig: Path, redis_server: RedisServer, tmp_path: Path
) -> None:
    seed(kubefake, builds=False)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    first = start_reconciler(
        kubefake, kubefake_kubeconfig, redis_server, log=tmp_path / "first.log"
    )
    second = start_reconciler(
        kubefake, kubefake_kubeconfig, redis_server, log=tmp_path / "second.log"
    )
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
                proc.wait()


def lease_holder(kubefake: KubeFake) -> str:
    lease = kubefake.get("leases", "catalyst-reconciler", "default") or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def redeployed(kubefake: KubeFake) -> bool:
    env = kubefake.get("environments", "pr-1", PROJECT_NS) or {}
    status = env.get("status") or {}
    return status.get("redeployNonce") == "after-failover" and status.get("phase") == "Ready"
