"""workers.locks on a real redis-server: bounded waits, renewal past the TTL, dead holders."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import RedisServer
from tests.workers.test_tasks import FakeTask, Retry
from workers import locks, tasks
from workers.locks import LockBusy, LockSpec, renewed_lock, sync_client_like

T = TypeVar("T")
KEY = "catalyst:test:lock"
FAST = LockSpec(ttl=0.6, wait=0.2, retry_delay=1.5, max_hold=30.0)


def with_redis(url: str, flow: Callable[[Redis], Awaitable[T]]) -> T:
    """Run `flow` on a fresh client and event loop, as one task run does."""

    async def run() -> T:
        client = Redis.from_url(url)
        try:
            return await flow(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def another_worker_gets_it(url: str) -> bool:
    """Whether a worker in another thread (its own loop and client) can take `KEY` now."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(with_redis, url, try_lock).result()


async def try_lock(client: Redis, spec: LockSpec = FAST) -> bool:
    """True when `KEY` could be taken (and was released again), False when busy."""
    try:
        async with renewed_lock(client, KEY, spec):
            return True
    except LockBusy:
        return False


def test_a_dead_holders_lock_stops_others_for_at_most_its_ttl(redis_server: RedisServer) -> None:
    async def flow(client: Redis) -> float:
        await client.set(KEY, "a killed worker", px=int(FAST.ttl * 1000))
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            async with renewed_lock(client, KEY, FAST):
                pass
        waited = time.monotonic() - started
        assert FAST.wait <= waited < FAST.wait + 0.3  # a bounded wait, then reschedule
        assert busy.value.delay == FAST.retry_delay
        while not await try_lock(client):
            pass
        return time.monotonic() - started

    assert with_redis(redis_server.url, flow) < FAST.ttl + FAST.wait + 0.3


def test_a_holder_keeps_the_lock_past_its_ttl_even_with_a_blocked_event_loop(
    redis_server: RedisServer,
) -> None:
    async def flow(client: Redis) -> None:
        async with renewed_lock(client, KEY, FAST):
            time.sleep(FAST.ttl * 2.5)  # a slow blocking Kubernetes call in the flow
            assert another_worker_gets_it(redis_server.url) is False
            await asyncio.sleep(FAST.ttl * 1.5)
            assert another_worker_gets_it(redis_server.url) is False
        assert await client.exists(KEY) == 0
        assert await try_lock(client)

    with_redis(redis_server.url, flow)


def test_released_lock_is_not_renewed_again(redis_server: RedisServer) -> None:
    async def flow(client: Redis) -> None:
        async with renewed_lock(client, KEY, FAST):
            pass
        await client.set(KEY, "the next holder", px=int(FAST.ttl * 1000))
        await asyncio.sleep(FAST.ttl * 1.5)  # nobody extends the next holder's lock
        assert await client.exists(KEY) == 0

    with_redis(redis_server.url, flow)


def test_a_hung_holder_loses_the_lock_after_max_hold(redis_server: RedisServer) -> None:
    spec = LockSpec(ttl=0.3, wait=0.1, retry_delay=1.0, max_hold=0.5)

    async def flow(client: Redis) -> None:
        async with renewed_lock(client, KEY, spec):
            await asyncio.sleep(spec.max_hold + spec.ttl * 2)
            assert await client.exists(KEY) == 0

    with_redis(redis_server.url, flow)


def test_a_lock_taken_over_meanwhile_is_reported_and_left_to_its_new_holder(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def flow(client: Redis) -> None:
        async with renewed_lock(client, KEY, FAST):
            await client.set(KEY, "someone else", px=5000)
        assert await client.get(KEY) == b"someone else"

    with caplog.at_level(logging.WARNING, logger="catalyst.worker.locks"):
        with_redis(redis_server.url, flow)
    assert any("expired while held" in r.getMessage() for r in caplog.records)


def test_the_renewer_talks_to_the_same_database(redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/3"

    async def flow(client: Redis) -> None:
        other = sync_client_like(client)
        try:
            other.set("catalyst:test:db", "3")
        finally:
            other.close()
        assert await client.get("catalyst:test:db") == b"3"
        await client.delete("catalyst:test:db")

    with_redis(url, flow)


def test_a_busy_lock_reschedules_the_task_after_its_delay_without_a_retry_cap() -> None:
    task = FakeTask(retries=tasks.MAX_RETRIES + 5)

    async def busy() -> None:
        raise LockBusy("held", delay=2.0)

    with pytest.raises(Retry):
        tasks.execute(task, "t", busy)  # type: ignore[arg-type]
    [retry] = task.retried
    assert 2.0 <= retry["countdown"] <= 3.0 and retry["max_retries"] is None


def test_worker_locks_are_short_and_waiters_never_wait_long() -> None:
    from workers import admission, comments, deployments, statuses

    for spec in (
        admission.ADMISSION_LOCK,
        statuses.PUBLISH_LOCK,
        comments.CREATE_LOCK,
        deployments.CREATE_LOCK,
    ):
        assert spec.ttl <= 10 and spec.wait <= 5 and spec.retry_delay <= 5
    assert locks.POLL_SECONDS < 0.2
