"""publish_status under races: concurrent publishers, lost saves, killed publishers.

Each scenario must leave every deployment with each state posted exactly once, and GitHub never
told what it already showed (`FakeGitHub.redundant_writes()`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from core.errors import TemporaryError
from tests.support.fake_github import sha_of
from tests.workers.conftest import Harness, kubefake_of
from tests.workers.test_statuses import ENV, deployment_states, opened, publish
from workers.context import Context
from workers.locks import LockBusy
from workers.statuses import PUBLISH_LOCK, publish_status

LIFE = ("Building", "Deploying", "Ready")
SHOWN = ["queued", "in_progress", "success"]


def set_phase(harness: Harness, phase: str, sha: str) -> None:
    status: dict[str, Any] = {"phase": phase, "targetCommitSha": sha, "namespace": "ns"}
    if phase == "Ready":
        status.update(commitSha=sha, url="https://p.example/")
    harness.set_status(ENV, status)


def publish_twice_at_once_in_one_loop(harness: Harness) -> None:
    async def both(ctx: Context) -> None:
        await asyncio.gather(
            publish_status(ctx, harness.project_ns, ENV),
            publish_status(ctx, harness.project_ns, ENV),
        )

    harness.run(both)


def publish_twice_at_once_in_two_threads(harness: Harness) -> None:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            publish(harness)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []


@pytest.mark.parametrize(
    "publish_both", [publish_twice_at_once_in_one_loop, publish_twice_at_once_in_two_threads]
)
def test_two_publishers_at_once_post_each_state_exactly_once(
    harness: Harness, publish_both: Any
) -> None:
    a = sha_of("A")
    opened(harness, a)
    for phase in LIFE:
        set_phase(harness, phase, a)
        publish_both(harness)
    assert deployment_states(harness, a) == SHOWN
    assert harness.github.redundant_writes() == []


def lose_next_save(harness: Harness, status: int = 409, times: int = 1) -> None:
    """The next Environment replace fails, as when the reconciler wrote status meanwhile."""
    kubefake_of(harness).fault(
        status=status,
        method="PUT",
        resource="environments",
        namespace=harness.project_ns,
        times=times,
    )


def test_a_save_that_lost_a_race_to_a_status_write_repeats_nothing(fake_harness: Harness) -> None:
    harness = fake_harness
    a = sha_of("A")
    opened(harness, a)
    for phase in LIFE:
        set_phase(harness, phase, a)
        lose_next_save(harness)
        publish(harness)
        publish(harness)
    assert deployment_states(harness, a) == SHOWN
    assert harness.github.redundant_writes() == []
    env = harness.environment(ENV)
    assert env is not None and env.metadata.annotations is not None
    assert '"success"' in env.metadata.annotations["catalyst.dev/published"]


def test_a_publisher_killed_between_posting_and_saving_is_not_repeated(
    fake_harness: Harness,
) -> None:
    harness = fake_harness
    a = sha_of("A")
    opened(harness, a)
    set_phase(harness, "Ready", a)
    lose_next_save(harness, status=500, times=10)
    with pytest.raises(TemporaryError):
        publish(harness)  # posted success and edited the comment, then could not save
    kubefake_of(harness).clear_faults()
    publish(harness)
    publish(harness)
    assert deployment_states(harness, a) == ["queued", "success"]
    assert harness.github.redundant_writes() == []
    reads_after = len(harness.github.reads())
    publish(harness)  # bookkeeping saved again: nothing more is asked of GitHub
    assert len(harness.github.reads()) == reads_after


def test_a_publisher_that_holds_on_makes_the_next_one_reschedule_quickly(
    harness: Harness,
) -> None:
    a = sha_of("A")
    opened(harness, a)
    set_phase(harness, "Ready", a)

    async def held_elsewhere(ctx: Context) -> float:
        key = f"catalyst:publish:{harness.project_ns}/{ENV}"
        await ctx.redis.set(key, "another worker", px=60_000)
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            await publish_status(ctx, harness.project_ns, ENV)
        assert busy.value.delay == PUBLISH_LOCK.retry_delay
        return time.monotonic() - started

    assert harness.run(held_elsewhere) < PUBLISH_LOCK.wait + 1.0
    assert deployment_states(harness, a) == ["queued"]
