"""The web process keeps its memory when flooded with big unsigned bodies (issue 13).

Eight 24 MiB bodies at once, with a well-formed but wrong signature (the worst case: they must be
read to be judged) and without one, took the web process to 442 MiB against its 256 MiB limit.
This runs the real `uvicorn webhook.app:make_app` as a child process and reads its peak resident
set (VmHWM) from /proc afterwards: memory, not time, is what is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.support.redis_server import RedisServer, free_port
from tests.webhook.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 256 * 1024 * 1024
BODY = 24 * 1024 * 1024
BAD_SIGNATURE = "sha256=" + "0" * 64


def peak_rss(pid: int) -> int:
    """Peak resident set size of a process in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def web(redis_server: RedisServer) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "webhook.app:make_app", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    env = {
        **os.environ,
        "CATALYST_WEBHOOK_SECRET": SECRET,
        "CATALYST_REDIS_URL": redis_server.url,
        "CATALYST_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=20)


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"web process exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        anyio.run(anyio.sleep, 0.1)
    raise AssertionError("web process never became healthy")


def flood(url: str, signature: str | None, copies: int = 8) -> list[int]:
    statuses: list[int] = []
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    headers["X-GitHub-Delivery"] = "flood"
    if signature:
        headers["X-Hub-Signature-256"] = signature

    async def one(client: httpx.AsyncClient) -> None:
        try:
            response = await client.post(f"{url}/webhook", content=b"x" * BODY, headers=headers)
            statuses.append(response.status_code)
        except httpx.HTTPError:
            statuses.append(0)  # the server answered and closed before the upload finished

    async def all_at_once() -> None:
        async with httpx.AsyncClient(timeout=60) as client, anyio.create_task_group() as tg:
            for _ in range(copies):
                tg.start_soon(one, client)

    anyio.run(all_at_once)
    return statuses


def test_eight_unsigned_24_mib_bodies_keep_the_web_process_under_its_limit(
    web: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = web
    wrong = flood(url, BAD_SIGNATURE)
    unsigned = flood(url, None)
    assert set(wrong) <= {401, 503, 0} and 401 in wrong
    assert set(unsigned) <= {401, 0} and 401 in unsigned
    assert peak_rss(proc.pid) < LIMIT
