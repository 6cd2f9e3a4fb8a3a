"""Benchmark: a full resync of N Ready Environments, and one change to its first status write.

The fake API server runs in this (driver) process, filled directly with N converged `docker`
Environments and all their children. The reconciler under test runs in a child process: its
informers list+watch, then it reconciles every Environment once (what a resync queues), and
the same again reading live from the API (the baseline, no watch cache). It reports requests
per Environment, writes, wall time and its peak RSS; then one Environment's spec changes and
the time from the watch event to its first status write is measured.

Usage: .venv/bin/python -m benchmarks.reconciler_resync [--environments 1000]
Goals: zero writes; <= 1 read per Environment beyond the watch cache; resync < 30 s;
RSS < 250 MB per process; first status write < 1 s after the change is observed.
"""

from __future__ import annotations

import argparse
import json
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from core import jobs, naming
from core.model import Environment, Project
from reconciler import plan as planner
from reconciler.actions import ModeApply
from reconciler.cluster import Cluster
from reconciler.context import Observed, build_context
from reconciler.drift import key_of
from reconciler.infra import infra_objects, namespace_manifest
from reconciler.modes.docker import DockerMode
from reconciler.reads import LiveReads
from reconciler.reconcile import Reconciler
from reconciler.watch import CachedReads, Informer, Watcher
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    PROJECT_NS,
    SETTINGS,
    FakeTokens,
    environment_obj,
    seed,
)
from tests.support.queue import RecordingEnqueuer

ROOT = Path(__file__).resolve().parents[1]


# --- driver: fill the fake with converged Environments -------------------------------------------


def rolled_out(deployment: dict[str, Any]) -> dict[str, Any]:
    status = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}
    status.update(readyReplicas=1, availableReplicas=1)
    return {**deployment, "status": status}


def converge_one(kf: KubeFake, project: Project, secret: dict[str, Any], name: str) -> None:
    raw = environment_obj(name=name)
    raw["metadata"]["finalizers"] = [naming.FINALIZER]
    env = Environment.model_validate(kf.put_object(raw))
    obs = Observed(env, project, SETTINGS, team_pull_secret=secret)
    ctx, _ = build_context(obs)
    objects = [*infra_objects(ctx, obs), *DockerMode().desired_objects(ctx)]
    ns = kf.put_object(namespace_manifest(ctx))
    stored = [kf.put_object(rolled_out(o) if o["kind"] == "Deployment" else o) for o in objects]
    children = {key_of(o): o for o in stored}
    obs = Observed(
        env,
        project,
        SETTINGS,
        namespaces={ctx.namespace: ns},
        children=children,
        children_read=True,
        team_pull_secret=secret,
    )
    for _ in range(2):  # second round: Ready with the fast-path fingerprint recorded
        plan = planner.plan(obs)
        assert all(isinstance(a, ModeApply) for a in plan.actions), plan.actions
        env = env.model_copy(update={"status": plan.status})
        obs = Observed(**{**obs.__dict__, "environment": env})
    kf.put_object({**kf.get("environments", name, PROJECT_NS), "status": env.status.to_wire()})  # type: ignore[union-attr,dict-item]


def fill(kf: KubeFake, count: int) -> None:
    seed(kf, builds=False)
    project = Project.model_validate(kf.get("projects", "shop", "acme"))
    secret = kf.get("secrets", "registry-credentials", "acme") or {}
    for i in range(count):
        converge_one(kf, project, secret, f"pr-{i + 1}")


# --- child: the reconciler under test ------------------------------------------------------------


class Counting(Cluster):
    """A Cluster that counts its requests (watches apart)."""

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        self.reads = 0
        self.writes = 0

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if not kwargs.get("stream"):
            if method == "GET":
                self.reads += 1
            else:
                self.writes += 1
        return super().request(method, path, **kwargs)


def resync_pass(rec: Reconciler, cluster: Counting, keys: list[tuple[str, str]]) -> dict[str, Any]:
    cluster.reads = cluster.writes = 0
    started = time.perf_counter()
    for namespace, name in keys:
        rec.reconcile(namespace, name)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "reads": cluster.reads, "writes": cluster.writes}


def change_latency(watcher: Watcher, rec: Reconciler, kf_url: str) -> float:
    """Seconds from the watch event of a spec change to the first status write."""
    work: queue.Queue[tuple[str, str, float]] = queue.Queue()

    def enqueue(task: str, kwargs: dict[str, Any], *, countdown: float | None = None) -> None:
        if task == jobs.TASK_RECONCILE:
            work.put((kwargs["namespace"], kwargs["name"], time.perf_counter()))

    watcher.feeder.enqueue = enqueue
    watcher.is_leader = lambda: True
    time.sleep(1.0)  # becoming leader queues a full resync first: let it pass, then drain it
    while not work.empty():
        work.get_nowait()
    watcher.feeder.gate.client.flushdb()
    print("READY-FOR-CHANGE", flush=True)
    namespace, name, observed = work.get(timeout=30)
    outcome = rec.reconcile(namespace, name)
    assert outcome.status_written, (namespace, name, outcome)
    return time.perf_counter() - observed


def child(kubeconfig: str, redis_url: str) -> None:
    import redis
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from reconciler.feeder import Feeder
    from reconciler.keys import KeyGate

    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    cluster = Counting(k8s.ApiClient(configuration))
    feeder = Feeder(KeyGate(redis.Redis.from_url(redis_url)), RecordingEnqueuer())
    watcher = Watcher(cluster, feeder, is_leader=lambda: False, resync_seconds=3600)
    started = time.perf_counter()
    watcher.start()
    assert watcher.wait_synced(120)
    sync_seconds = time.perf_counter() - started
    informer: Informer = watcher.informers["Environment"]
    keys = sorted(planner_key(e) for e in informer.items())

    def reconciler(reads: Any) -> Reconciler:
        return Reconciler(
            cluster=cluster,
            reads=reads,
            settings=SETTINGS,
            tokens=FakeTokens(),
            enqueue=RecordingEnqueuer(),
        )

    cached = resync_pass(reconciler(CachedReads(cluster, watcher.informers)), cluster, keys)
    live = resync_pass(reconciler(LiveReads(cluster)), cluster, keys)
    latency = change_latency(watcher, reconciler(CachedReads(cluster, watcher.informers)), "")
    result = {
        "environments": len(keys),
        "cache_sync_seconds": sync_seconds,
        "cached": cached,
        "live": live,
        "change_to_status_seconds": latency,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(result), flush=True)
    watcher.stop()


def planner_key(env: dict[str, Any]) -> tuple[str, str]:
    return env["metadata"]["namespace"], env["metadata"]["name"]


# --- report --------------------------------------------------------------------------------------


def report(result: dict[str, Any], server_writes: int, fill_seconds: float) -> None:
    n = result["environments"]
    cached, live = result["cached"], result["live"]
    rows = [
        ("writes during the resync (client)", cached["writes"], "0", cached["writes"] == 0),
        ("writes seen by the API server", server_writes, "0", server_writes == 0),
        (
            "reads per Environment (cached)",
            round(cached["reads"] / n, 2),
            "<= 1",
            cached["reads"] <= n,
        ),
        ("full resync wall time, s", round(cached["seconds"], 2), "< 30", cached["seconds"] < 30),
        (
            "reconciler peak RSS, MB",
            round(result["peak_rss_mb"], 1),
            "< 250",
            result["peak_rss_mb"] < 250,
        ),
        (
            "change -> first status write, s",
            round(result["change_to_status_seconds"], 3),
            "< 1",
            result["change_to_status_seconds"] < 1,
        ),
    ]
    sync = result["cache_sync_seconds"]
    print(f"\n{n} Ready Environments (fill {fill_seconds:.1f} s; cache sync {sync:.2f} s)")
    print(f"baseline (live reads): {live['reads'] / n:.2f} reads/env, {live['seconds']:.2f} s")
    print(f"cached:                {cached['reads'] / n:.2f} reads/env, {cached['seconds']:.2f} s")
    print(
        f"ratio cached/live: reads {cached['reads'] / max(live['reads'], 1):.2f}, "
        f"time {cached['seconds'] / max(live['seconds'], 1e-9):.2f}\n"
    )
    for name, value, goal, met in rows:
        print(f"  {name:<38} {value!s:>10}  goal {goal:<6} {'met' if met else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("KUBECONFIG", "REDIS_URL"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from tests.support.redis_server import RedisServer

    redis_server = RedisServer()
    redis_server.start()
    with KubeFake([ROOT / "crds"]) as kf, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fill(kf, args.environments)
        fill_seconds = time.perf_counter() - started
        kubeconfig = kf.write_kubeconfig(Path(tmp) / "kubeconfig")
        kf.clear_requests()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.reconciler_resync",
                "--child",
                str(kubeconfig),
                redis_server.url,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        result: dict[str, Any] = {}
        for line in proc.stdout:
            if line.startswith("READY-FOR-CHANGE"):
                server_writes = len([r for r in kf.writes()])
                threading.Timer(0.2, change_spec, args=(kf,)).start()
            elif line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
        proc.wait(timeout=60)
    redis_server.cleanup()
    report(result, server_writes, fill_seconds)


def change_spec(kf: KubeFake) -> None:
    env: Any = kf.get("environments", "pr-1", PROJECT_NS)
    env["spec"]["config"] = {"env": [{"name": "LOG", "value": "trace"}]}
    env["metadata"]["generation"] += 1
    kf.put_object(env)


if __name__ == "__main__":
    main()
