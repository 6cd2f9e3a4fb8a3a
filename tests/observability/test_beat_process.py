"""`catalyst-preview beat` with CATALYST_METRICS_PORT: health, published tasks, JSON logs."""

from __future__ import annotations

from pathlib import Path

import httpx

from core import jobs
from tests.observability.support import json_lines, process_env, start_cli, stop, value, wait_for
from tests.support.redis_server import RedisServer, free_port

PUBLISHED = "catalyst_tasks_published_total"


def test_beat_serves_health_and_counts_the_resync_it_publishes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "beat.log"
    env = process_env(
        CATALYST_WEBHOOK_SECRET="s",
        # No GitHub App settings: beat only schedules, and the chart mounts no key in its pod.
        CATALYST_REDIS_URL=redis_server.url,
        CATALYST_METRICS_PORT=str(port),
        CATALYST_RESYNC_INTERVAL_SECONDS="10",
        TMPDIR=str(tmp_path),
    )
    proc = start_cli(["beat"], env, log)
    try:
        wait_for(lambda: (value(port, PUBLISHED, task=jobs.TASK_RESYNC) or 0) >= 1, proc, log, 40)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok\n")
    finally:
        assert stop(proc) == 0
    lines = json_lines(log)
    assert any(line["logger"].startswith("celery.beat") for line in lines), lines
