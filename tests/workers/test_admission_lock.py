"""The per-Project admission lock: a killed holder stalls a Project briefly, a live one keeps it.

The lock's timings are shortened here (the real ones are checked in test_locks) so the
scenarios take a second or two; everything else is the real flow against the fakes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from redis import Redis as SyncRedis

from core.errors import TemporaryError
from tests.support.fake_github import sha_of
from tests.support.redis_server import RedisServer
from tests.workers.conftest import PROJECT, REPO, Harness, kubefake_of
from tests.workers.test_commands import open_pr, pr_event, set_previews, sticky
from workers import admission
from workers.locks import LockBusy, LockSpec

SHORT = LockSpec(ttl=0.8, wait=0.2, retry_delay=0.3, max_hold=30.0)


def lock_key(harness: Harness) -> str:
    return f"catalyst:admission:{harness.project_ns}:{PROJECT}"


@pytest.fixture
def short_lock(monkeypatch: pytest.MonkeyPatch) -> LockSpec:
    monkeypatch.setattr(admission, "ADMISSION_LOCK", SHORT)
    return SHORT


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[SyncRedis]:
    client = SyncRedis.from_url(redis_server.url)
    yield client
    client.close()


def run_like_celery(harness: Harness, number: int) -> float:
    """Converge PR `number`, rescheduling after each `LockBusy` as the task shell does;
    returns the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            pr_event(harness, "opened", number)
            return time.monotonic() - started
        except LockBusy as busy:
            assert busy.delay is not None and busy.delay <= SHORT.retry_delay
            time.sleep(busy.delay)


def test_a_killed_holder_delays_the_projects_prs_by_at_most_the_ttl(
    harness: Harness, redis: SyncRedis, short_lock: LockSpec
) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    redis.set(lock_key(harness), "worker SIGKILLed while admitting", px=int(short_lock.ttl * 1000))
    took = run_like_celery(harness, 7)
    assert harness.environment("pr-7") is not None
    assert took < short_lock.ttl + short_lock.wait + short_lock.retry_delay + 0.5


def test_a_holder_running_longer_than_the_ttl_keeps_the_slot_to_itself(
    fake_harness: Harness, redis: SyncRedis, short_lock: LockSpec
) -> None:
    harness = fake_harness  # the delayed create is injected by the fake
    set_previews(harness, maxEnvironments=1)
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    harness.github.state.open_pull(REPO, 8, sha_of("B"))
    # PR 7's Environment create hangs for 2.5 TTLs, blocking its worker (and its event loop).
    kubefake_of(harness).fault(
        status=None, delay=short_lock.ttl * 2.5, method="POST", resource="environments"
    )
    first = threading.Thread(target=run_like_celery, args=(harness, 7))
    first.start()
    deadline = time.monotonic() + 30
    while not redis.exists(lock_key(harness)) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(short_lock.ttl * 1.5)  # past the TTL: only renewal keeps PR 7's lock alive
    try:
        with pytest.raises(LockBusy):
            pr_event(harness, "opened", 8)
    finally:
        first.join(timeout=30)
    run_like_celery(harness, 8)
    assert harness.environment("pr-7") is not None
    assert harness.environment("pr-8") is None
    assert "number **1** in the queue" in sticky(harness, 8)


def test_lock_busy_is_a_temporary_error_with_a_short_delay(
    harness: Harness, redis: SyncRedis, short_lock: LockSpec
) -> None:
    open_pr(harness, number=7)
    redis.set(lock_key(harness), "another worker", px=60_000)
    started = time.monotonic()
    with pytest.raises(TemporaryError) as busy:
        pr_event(harness, "synchronize", 7)
    assert time.monotonic() - started < short_lock.wait + 0.5
    assert busy.value.delay == short_lock.retry_delay
