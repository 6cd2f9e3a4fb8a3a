"""`catalyst-preview worker` for real: prefork children, metrics on its port, JSON logs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import jobs
from core.clients.queue import make_celery_app
from tests.observability.support import (
    json_lines,
    metrics_up,
    process_env,
    start_cli,
    stop,
    value,
    wait_for,
)
from tests.reconciler.support import Names, seed
from tests.support.control_plane import ChartRelease, ClusterScope, ControlPlane
from tests.support.github import private_key_pem
from tests.support.redis_server import RedisServer, free_port

JOB = jobs.PullRequestJob(
    delivery_id="d-obs-1",
    installation_id=42,
    repository="acme/shop",
    pr_number=7,
    action="opened",
    head_sha="a" * 40,
)
RUNS = "catalyst_task_runs_total"
GITHUB = "catalyst_github_requests_total"
RUN_LOGGERS = ("celery.app.trace", "catalyst.worker", "workers")
TASK = jobs.TASK_PULL_REQUEST


@pytest.fixture
def worker(
    control_plane: ControlPlane,
    cluster: ClusterScope,
    chart_release: ChartRelease,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """A worker with two prefork children and its chart ServiceAccount's token on the real
    control plane; GitHub is unreachable, so tasks retry."""
    names = Names(cluster.name("acme"))
    for namespace in names.namespaces:
        cluster.track(namespace)
    # a Project for acme/shop, so the flow calls GitHub
    seed(control_plane.rest(), builds=False, names=names)
    port, log = free_port(), tmp_path / "worker.log"
    env = process_env(
        CATALYST_WEBHOOK_SECRET="s",
        CATALYST_GITHUB_APP_ID="7",
        CATALYST_GITHUB_PRIVATE_KEY=private_key_pem(),
        CATALYST_GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
        CATALYST_REDIS_URL=redis_server.url,
        CATALYST_METRICS_PORT=str(port),
        KUBECONFIG=str(chart_release.kubeconfig_for("worker")),
        TMPDIR=str(tmp_path),
    )
    proc = start_cli(["worker", "--concurrency", "2"], env, log)
    yield proc, port, log
    stop(proc)


def send(redis_url: str, job: jobs.Job, task: str = TASK) -> None:
    make_celery_app(redis_url).send_task(task, kwargs=job.to_kwargs())


def test_worker_serves_task_runs_summed_over_its_children_and_logs_json_with_the_job(
    worker: tuple[subprocess.Popen[bytes], int, Path], redis_server: RedisServer
) -> None:
    proc, port, log = worker
    wait_for(lambda: b"ready." in log.read_bytes() and metrics_up(port), proc, log)
    assert value(port, RUNS, task=TASK, outcome="retry") is None
    send(redis_server.url, JOB)
    wait_for(lambda: (value(port, RUNS, task=TASK, outcome="retry") or 0) >= 1, proc, log)
    mint = "/app/installations/{}/access_tokens"
    assert (value(port, GITHUB, method="POST", route=mint, status="error") or 0) >= 1
    assert stop(proc) == 0
    lines = json_lines(log)
    # Lines of the task run (Celery's trace and our flows), logged in a prefork child.
    in_run = [line for line in lines if line["logger"].startswith(RUN_LOGGERS)]
    assert any("retry" in line["msg"] for line in in_run), lines
    for line in in_run:
        assert line["task"] == TASK
        assert (line["delivery_id"], line["repository"], line["pr"]) == ("d-obs-1", "acme/shop", 7)
