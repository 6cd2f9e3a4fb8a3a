"""The Celery shell: retry policy (never sleeping), final failures, and start-up settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core import jobs
from core.errors import PermanentError, RateLimited, TemporaryError
from workers import celery_app, tasks

ROOT = Path(__file__).resolve().parents[2]


class Retry(Exception):
    """What Celery's `Task.retry` raises."""


class FakeRequest:
    def __init__(self, retries: int) -> None:
        self.retries = retries


class FakeTask:
    """Records how the shell asked Celery to retry."""

    def __init__(self, retries: int = 0) -> None:
        self.request = FakeRequest(retries)
        self.retried: list[dict[str, Any]] = []

    def retry(self, **kwargs: Any) -> Retry:
        self.retried.append(kwargs)
        return Retry()


def failing(exc: Exception) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        raise exc

    return run


def test_rate_limit_retries_with_its_own_delay_without_a_retry_cap() -> None:
    task = FakeTask(retries=50)
    with pytest.raises(Retry):
        tasks.execute(task, "t", failing(RateLimited("slow down", delay=90)))  # type: ignore[arg-type]
    [retry] = task.retried
    assert 90 <= retry["countdown"] <= 91 and retry["max_retries"] is None


def test_temporary_error_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    delays = []
    for attempt in range(12):
        task = FakeTask(retries=min(attempt, tasks.MAX_RETRIES - 1))
        with pytest.raises(Retry):
            tasks.execute(task, "t", failing(TemporaryError("502")))  # type: ignore[arg-type]
        delays.append(task.retried[0]["countdown"])
    assert all(1.0 <= d <= tasks.BACKOFF_CAP for d in delays)
    assert tasks.backoff_delay(3, rand=lambda: 1.0) == 40.0
    assert tasks.backoff_delay(30, rand=lambda: 1.0) == tasks.BACKOFF_CAP
    assert tasks.backoff_delay(30, rand=lambda: 0.0) == 1.0


def test_exhausted_retries_and_permanent_errors_fail_visibly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = tasks.FAILURES.labels(task="t", kind="retries-exhausted")._value.get()
    task = FakeTask(retries=tasks.MAX_RETRIES)
    tasks.execute(task, "t", failing(TemporaryError("still 502")))  # type: ignore[arg-type]
    tasks.execute(FakeTask(), "t", failing(PermanentError("bad")))  # type: ignore[arg-type]
    assert task.retried == []
    assert tasks.FAILURES.labels(task="t", kind="retries-exhausted")._value.get() == before + 1
    assert "still 502" in caplog.text and "bad" in caplog.text


def test_tasks_are_registered_late_acking_under_the_contract_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("CATALYST_GITHUB_APP_ID", "7")
    monkeypatch.setenv("CATALYST_GITHUB_PRIVATE_KEY", "pem")
    registered = celery_app.app.tasks
    for name in (
        jobs.TASK_PULL_REQUEST,
        jobs.TASK_PUSH,
        jobs.TASK_PUBLISH_STATUS,
        jobs.TASK_RESYNC,
        jobs.TASK_INSTALLATION,
    ):
        assert registered[name].acks_late is True


def _worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_worker_stops_at_start_with_one_clear_line_on_bad_settings(tmp_path: Path) -> None:
    code = "import workers.tasks; from workers.celery_app import app; print(app.conf.broker_url)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_worker_env(CATALYST_WEBHOOK_SECRET="s"),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CATALYST_GITHUB_APP_ID is missing" in lines[0]


def test_worker_reads_broker_and_beat_schedule_from_settings(tmp_path: Path) -> None:
    code = (
        "from workers.celery_app import app; c = app.conf; "
        "print(c.broker_url, c.beat_schedule['resync']['schedule'], 'workers.tasks' in c.include)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_worker_env(
            CATALYST_WEBHOOK_SECRET="s",
            CATALYST_GITHUB_APP_ID="7",
            CATALYST_GITHUB_PRIVATE_KEY="pem",
            CATALYST_REDIS_URL="redis://127.0.0.1:6399/3",
            CATALYST_RESYNC_INTERVAL_SECONDS="120",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["redis://127.0.0.1:6399/3", "120.0", "True"]


def test_giving_up_runs_the_report_hook_and_survives_its_failure() -> None:
    reported: list[str] = []

    async def report(reason: str) -> None:
        reported.append(reason)

    async def broken_report(reason: str) -> None:
        raise TemporaryError("GitHub is down too")

    task: Any = FakeTask()
    tasks.execute(task, "t", failing(PermanentError("no Project namespace")), on_give_up=report)
    tasks.execute(task, "t", failing(PermanentError("x")), on_give_up=broken_report)
    assert reported == ["no Project namespace"]
