"""Test support: start a process, scrape its metrics endpoint, read its JSON log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from cli.main import main; main(sys.argv[1:])"


def process_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's CATALYST_* settings, plus `extra`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    keep.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**keep, "PYTHONPATH": str(ROOT), **extra}


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`catalyst-preview <args>` with stdout and stderr in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CLI, *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, keyed by name and sorted labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(port: int, name: str, **labels: str) -> float | None:
    """One sample of `/metrics` (None when absent or the endpoint does not answer)."""
    try:
        return samples(port).get((name, tuple(sorted(labels.items()))))
    except httpx.HTTPError:
        return None


def metrics_up(port: int) -> bool:
    """Whether `/metrics` answers 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    """Poll `check` until true; fail with the process's output when it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"rc={proc.poll()}; output:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM and wait (kill when it does not stop)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines of the output; only Python warnings may be plain text.

    (Celery warns on stderr before logging starts when the tests run as root.)
    """
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    plain = [line for line in lines if not line.startswith("{")]
    assert not [line for line in plain if "Task " in line or '"msg"' in line], plain
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed
