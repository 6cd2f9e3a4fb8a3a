"""The receiver under real uvicorn: concurrent copies, outages, slow bodies, a real worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.testclient import TestClient

from core.clients.queue import CeleryEnqueuer, make_celery_app
from tests.support.github import load_example, signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer, free_port
from tests.support.serving import serve
from tests.webhook import worker_tasks
from tests.webhook.conftest import SECRET, make_settings
from webhook.app import create_app
from webhook.ledger import delivery_key
from webhook.receiver import Limits

OPENED = load_example("pull_request.opened.2.json")
ROOT = Path(__file__).resolve().parents[2]


def opened(delivery_id: str) -> tuple[dict[str, str], bytes]:
    return signed_delivery("pull_request", OPENED, SECRET, delivery_id=delivery_id)


def post_copies(url: str, delivery_id: str, copies: int) -> list[int]:
    """Post `copies` identical deliveries at once; their statuses."""
    headers, body = opened(delivery_id)
    statuses: list[int] = []

    async def one(client: httpx.AsyncClient) -> None:
        response = await client.post(f"{url}/webhook", content=body, headers=headers)
        statuses.append(response.status_code)

    async def all_at_once() -> None:
        async with httpx.AsyncClient(timeout=5) as client, anyio.create_task_group() as tg:
            for _ in range(copies):
                tg.start_soon(one, client)

    anyio.run(all_at_once)
    return sorted(statuses)


def test_five_concurrent_copies_enqueue_once(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer)
    with serve(app) as url:
        statuses = post_copies(url, "concurrent-1", 5)
    assert statuses == [200, 200, 200, 200, 202]
    assert [kwargs["delivery_id"] for _, kwargs in enqueuer.jobs] == ["concurrent-1"]


def timed_post(client: TestClient, delivery_id: str) -> tuple[int, float]:
    headers, body = opened(delivery_id)
    started = time.monotonic()
    status = client.post("/webhook", content=body, headers=headers).status_code
    return int(status), time.monotonic() - started


def test_redis_down_answers_503_within_a_second_then_recovers(
    own_redis_server: RedisServer,
) -> None:
    app = create_app(make_settings(own_redis_server.url))  # real ledger and CeleryEnqueuer
    with TestClient(app) as client:
        assert timed_post(client, "before")[0] == 202
        own_redis_server.stop()
        status, elapsed = timed_post(client, "during")
        assert status == 503
        assert elapsed < 1.0
        own_redis_server.start()
        assert timed_post(client, "during")[0] == 202
    assert own_redis_server.command("LLEN", "github") == b":1\r\n"
    assert own_redis_server.command("EXISTS", delivery_key("during")) == b":1\r\n"


def test_broker_down_with_ledger_up_answers_503_and_releases(redis_server: RedisServer) -> None:
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    enqueuer = CeleryEnqueuer(make_celery_app(dead_broker))
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer)
    with TestClient(app) as client:
        status, elapsed = timed_post(client, "no-broker")
    assert (status, elapsed < 1.0) == (503, True)
    assert redis_server.command("EXISTS", delivery_key("no-broker")) == b":0\r\n"


def test_slow_body_is_cut_by_the_read_timeout(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    app = create_app(
        make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits(read_timeout=0.3)
    )
    headers, body = opened("slow-body")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    with (
        serve(app) as url,
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as conn,
    ):
        conn.settimeout(3)
        conn.sendall(request.encode() + body[:100])
        started = time.monotonic()
        answer = conn.recv(1024)
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 2
    assert enqueuer.jobs == []


@pytest.fixture
def worker(redis_server: RedisServer) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker subprocess consuming the `github` queue of the test Redis."""
    argv = [sys.executable, "-m", "celery", "-A", "tests.webhook.worker_tasks:app", "worker"]
    argv += ["-P", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    argv += ["-Q", "github", "-l", "WARNING"]
    env = {**os.environ, "CATALYST_TEST_REDIS_URL": redis_server.url}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


def received(redis_server: RedisServer, timeout: float = 30.0) -> list[dict[str, object]]:
    """What the worker recorded (waits for the first entry)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = redis_server.command("LRANGE", worker_tasks.RECEIVED, "0", "-1")
        if not reply.startswith(b"*0"):
            return [json.loads(line) for line in reply.split(b"\r\n") if line.startswith(b"{")]
        time.sleep(0.1)
    return []


def test_posted_delivery_reaches_a_real_worker(
    redis_server: RedisServer, worker: subprocess.Popen[bytes]
) -> None:
    app = create_app(make_settings(redis_server.url))
    with serve(app) as url:
        headers, body = opened("to-worker-1")
        assert httpx.post(f"{url}/webhook", content=body, headers=headers).status_code == 202
    [entry] = received(redis_server)
    assert entry == {
        "task": "catalyst.github.pull_request",
        "kwargs": {
            "delivery_id": "to-worker-1",
            "installation_id": 1,
            "repository": "Codertocat/Hello-World",
            "pr_number": 2,
            "action": "opened",
            "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "label": None,
            "merged": False,
        },
    }
