"""The production intake: one Redis script claims a delivery and queues its Celery message."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.testclient import TestClient

from core import jobs
from core.clients.queue import make_celery_app
from core.errors import TemporaryError
from tests.support.github import load_example, signed_delivery
from tests.support.redis_server import RedisServer
from tests.support.serving import serve
from tests.webhook.conftest import SECRET, make_settings
from tests.webhook.test_live import post_copies
from webhook.app import create_app
from webhook.intake import RedisIntake
from webhook.ledger import FAILED_INDEX, delivery_key, make_redis
from webhook.messages import TaskMessages, UnroutedTask, queues_for
from webhook.routing import build_router

OPENED = load_example("pull_request.opened.2.json")
KWARGS = {"delivery_id": "k-1", "installation_id": 7, "repository": "o/r", "pr_number": 3}


def opened(delivery_id: str, payload: dict[str, Any] = OPENED) -> tuple[dict[str, str], bytes]:
    return signed_delivery("pull_request", payload, SECRET, delivery_id=delivery_id)


def queued(redis_server: RedisServer, queue: str = "github") -> list[dict[str, Any]]:
    """The kombu envelopes on a queue list, oldest first."""
    reply = redis_server.command("LRANGE", queue, "0", "-1")
    return [json.loads(line) for line in reply.split(b"\r\n") if line.startswith(b"{")][::-1]


def task_call(envelope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The task name and keyword arguments a worker would run for a queued envelope."""
    args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    assert args == []
    return envelope["headers"]["task"], kwargs


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[TestClient]:
    """The production receiver (no injected enqueuer or ledger) on the shared Redis."""
    with TestClient(create_app(make_settings(redis_server.url))) as test_client:
        yield test_client


def test_accepted_delivery_is_queued_once_and_marked_enqueued(
    client: TestClient, redis_server: RedisServer
) -> None:
    statuses = [
        client.post("/webhook", content=b, headers=h).status_code for h, b in [opened("q-1")] * 2
    ]
    assert statuses == [202, 200]
    [envelope] = queued(redis_server)
    assert task_call(envelope) == (
        jobs.TASK_PULL_REQUEST,
        {
            "delivery_id": "q-1",
            "installation_id": 1,
            "repository": "Codertocat/Hello-World",
            "pr_number": 2,
            "action": "opened",
            "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "label": None,
            "merged": False,
        },
    )
    assert redis_server.command("GET", delivery_key("q-1")) == b"$8\r\nenqueued\r\n"
    assert int(redis_server.command("TTL", delivery_key("q-1"))[1:]) > 3 * 24 * 3600 - 60


def test_message_has_the_shape_celery_send_task_writes(redis_server: RedisServer) -> None:
    make_celery_app(redis_server.url).send_task(jobs.TASK_PULL_REQUEST, kwargs=KWARGS)
    [celery_made] = queued(redis_server)
    ours = json.loads(TaskMessages({jobs.TASK_PULL_REQUEST: "github"}).encode(
        jobs.TASK_PULL_REQUEST, KWARGS
    ))  # fmt: skip
    assert ours.keys() == celery_made.keys()
    assert ours["headers"].keys() == celery_made["headers"].keys()
    assert ours["properties"].keys() == celery_made["properties"].keys()
    same = ("content-type", "content-encoding")
    assert {k: ours[k] for k in same} == {k: celery_made[k] for k in same}
    for volatile in ("id", "root_id", "origin"):
        del ours["headers"][volatile], celery_made["headers"][volatile]
    assert ours["headers"] == celery_made["headers"]
    assert ours["properties"]["delivery_info"] == celery_made["properties"]["delivery_info"]
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(
        base64.b64decode(celery_made["body"])
    )


def test_queues_come_from_the_celery_routes() -> None:
    app = make_celery_app("redis://127.0.0.1:1/0")
    routed = queues_for(app, [jobs.TASK_PUSH, jobs.TASK_RECONCILE])
    assert routed == {jobs.TASK_PUSH: "github", jobs.TASK_RECONCILE: "reconcile"}
    assert set(queues_for(app, build_router().tasks()).values()) == {"github"}
    with pytest.raises(UnroutedTask):
        TaskMessages(routed).encode(jobs.TASK_COMMENT, KWARGS)


def test_five_concurrent_copies_queue_one_message(redis_server: RedisServer) -> None:
    with serve(create_app(make_settings(redis_server.url))) as url:
        statuses = post_copies(url, "copies-1", 5)
        others = [post_copies(url, f"other-{i}", 1) for i in range(3)]
    assert statuses == [200, 200, 200, 200, 202]
    assert others == [[202]] * 3
    delivery_ids = sorted(task_call(e)[1]["delivery_id"] for e in queued(redis_server))
    assert delivery_ids == ["copies-1", "other-0", "other-1", "other-2"]


def test_refused_push_leaves_no_claim_and_is_indexed(
    client: TestClient, redis_server: RedisServer
) -> None:
    redis_server.command("SET", "github", "not-a-list")  # LPUSH now fails with WRONGTYPE
    headers, body = opened("refused-1")
    assert client.post("/webhook", content=body, headers=headers).status_code == 503
    assert redis_server.command("EXISTS", delivery_key("refused-1")) == b":0\r\n"
    assert redis_server.command("ZSCORE", FAILED_INDEX, "refused-1").startswith(b"$")
    redis_server.command("DEL", "github")
    assert client.post("/webhook", content=body, headers=headers).status_code == 202
    assert [task_call(e)[1]["delivery_id"] for e in queued(redis_server)] == ["refused-1"]


def test_redis_down_answers_503_and_claims_nothing(own_redis_server: RedisServer) -> None:
    with TestClient(create_app(make_settings(own_redis_server.url))) as client:
        own_redis_server.stop()
        headers, body = opened("down-1")
        assert client.post("/webhook", content=body, headers=headers).status_code == 503
        own_redis_server.start()
        assert own_redis_server.command("EXISTS", delivery_key("down-1")) == b":0\r\n"
        assert client.get("/readyz").status_code == 200
        assert client.post("/webhook", content=body, headers=headers).status_code == 202
    assert len(queued(own_redis_server)) == 1


def test_integers_beyond_64_bits_are_accepted_as_before(
    client: TestClient, redis_server: RedisServer
) -> None:
    headers, body = opened("big-int-1", {**OPENED, "sender_score": 2**70})
    assert client.post("/webhook", content=body, headers=headers).status_code == 202
    assert len(queued(redis_server)) == 1


async def submit_many(redis: Redis, ids: list[str]) -> list[bool | str]:
    """Submit every id at once through one intake; True/False, or the error class name."""
    intake = RedisIntake(redis, TaskMessages({jobs.TASK_PUSH: "github"}))

    async def one(delivery_id: str) -> bool | str:
        try:
            return await intake.submit(delivery_id, jobs.TASK_PUSH, {"delivery_id": delivery_id})
        except TemporaryError as exc:
            return type(exc).__name__

    return list(await asyncio.gather(*(one(i) for i in ids)))


def test_concurrent_submissions_share_round_trips_and_keep_their_answers(
    redis_server: RedisServer,
) -> None:
    ids = [f"batch-{i % 150}" for i in range(300)]

    async def run() -> list[bool | str]:
        redis = make_redis(redis_server.url)
        try:
            return await submit_many(redis, ids)
        finally:
            await redis.aclose()

    answers = asyncio.run(run())
    assert answers[:150] == [True] * 150
    assert answers[150:] == [False] * 150
    assert redis_server.command("LLEN", "github") == b":150\r\n"


def test_a_dead_redis_fails_every_waiting_submission(redis_server: RedisServer) -> None:
    async def run() -> list[bool | str]:
        redis = make_redis("redis://127.0.0.1:1/0")
        try:
            return await submit_many(redis, ["dead-1", "dead-2", "dead-3"])
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == ["LedgerUnavailable"] * 3
