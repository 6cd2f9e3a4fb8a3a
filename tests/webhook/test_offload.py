"""Big bodies are parsed and routed in the helper process, with the same answers as inline."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core import jobs
from tests.support.github import load_example, signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.webhook.conftest import SECRET, make_settings
from webhook.app import create_app
from webhook.offload import HelperPool, parse_and_route
from webhook.receiver import Limits
from webhook.routing import build_router

OPENED = load_example("pull_request.opened.2.json")
PUSH = load_example("push.event.5.json")
ROOT = Path(__file__).resolve().parents[2]
OFFLOAD_ABOVE = 1024  # every example is bigger, so each goes through the helper


@pytest.fixture
def offloading(redis_server: RedisServer, enqueuer: RecordingEnqueuer) -> Iterator[TestClient]:
    """The receiver with a started helper process that takes every body over 1 KiB."""
    limits = Limits(offload_bytes=OFFLOAD_ABOVE)
    app = create_app(
        make_settings(redis_server.url), enqueuer=enqueuer, limits=limits, start_helper=True
    )
    with TestClient(app) as client:
        yield client


def post(client: TestClient, event: str, body: bytes, delivery_id: str) -> int:
    headers, body = signed_delivery(event, body, SECRET, delivery_id=delivery_id)
    return int(client.post("/webhook", content=body, headers=headers).status_code)


def test_big_deliveries_get_the_contract_answers(
    offloading: TestClient, enqueuer: RecordingEnqueuer
) -> None:
    without_head = {**OPENED, "pull_request": {"number": 2, "pad": "x" * 2048}}
    answers = [
        post(offloading, "pull_request", json.dumps(OPENED).encode(), "big-1"),
        post(offloading, "pull_request", json.dumps(OPENED).encode(), "big-1"),
        post(offloading, "push", json.dumps(PUSH).encode(), "big-2"),
        post(offloading, "ping", json.dumps(OPENED).encode(), "big-3"),
        post(offloading, "pull_request", b"{" * 2048, "big-4"),
        post(offloading, "pull_request", json.dumps([OPENED]).encode(), "big-5"),
        post(offloading, "pull_request", json.dumps(without_head).encode(), "big-6"),
        post(offloading, "gollum", json.dumps(OPENED).encode(), "big-7"),
    ]
    assert answers == [202, 200, 202, 200, 400, 400, 400, 202]
    assert [(task, kwargs["delivery_id"]) for task, kwargs in enqueuer.jobs] == [
        (jobs.TASK_PULL_REQUEST, "big-1"),
        (jobs.TASK_PUSH, "big-2"),
    ]


def test_helper_digest_equals_the_inline_one() -> None:
    bodies = [
        ("pull_request", json.dumps(OPENED).encode()),
        ("push", json.dumps(PUSH).encode()),
        ("pull_request", json.dumps({**OPENED, "big": 2**70}).encode()),
        ("pull_request", b"\xff\xfe{}"),
    ]
    pool = HelperPool()

    async def in_helper() -> list[object]:
        return [await pool.digest(body, event, "same-1") for event, body in bodies]

    try:
        found = asyncio.run(in_helper())
    finally:
        pool.close()
    router = build_router()
    assert found == [parse_and_route(router, body, event, "same-1") for event, body in bodies]


def test_a_dead_helper_answers_503_and_is_replaced(
    offloading: TestClient, enqueuer: RecordingEnqueuer
) -> None:
    body = json.dumps(OPENED).encode()
    assert post(offloading, "pull_request", body, "dead-0") == 202
    for child in multiprocessing.active_children():
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(5)
    assert post(offloading, "pull_request", body, "dead-1") == 503
    assert post(offloading, "pull_request", body, "dead-1") == 202
    assert [kwargs["delivery_id"] for _, kwargs in enqueuer.jobs] == ["dead-0", "dead-1"]


def test_the_helper_stops_with_the_app(redis_server: RedisServer) -> None:
    app = create_app(make_settings(redis_server.url), start_helper=True)
    with TestClient(app):
        assert len(multiprocessing.active_children()) == 1
    assert multiprocessing.active_children() == []


ORPHAN = """
import multiprocessing, os, sys
from webhook.offload import HelperPool
pool = HelperPool()
pool.start()
while not multiprocessing.active_children():
    pass
print(multiprocessing.active_children()[0].pid, flush=True)
os._exit(0)
"""


def helper_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_helper_exits_when_the_web_process_dies_abruptly() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    helper = int(done.stdout.split()[0])
    deadline = time.monotonic() + 30
    while helper_alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not helper_alive(helper)
