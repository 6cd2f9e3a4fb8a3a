"""The per-installation write budget: a token bucket in Redis shared by every worker.

Simulated time only: a write refused by the budget advances the clock by the delay it names,
as a Celery retry would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from core.clients.budget import HOUR, MINUTE
from core.errors import NotFound, RateLimited
from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, REPO, FakeClock, Harness
from tests.workers.test_github_client import opened
from workers.context import Context


def react(n: int) -> Callable[[Context], Awaitable[None]]:
    async def flow(ctx: Context) -> None:
        await ctx.github.installation(INSTALLATION).add_reaction(REPO, n, "eyes")

    return flow


def write_until_done(harness: Harness, clock: FakeClock, count: int) -> None:
    """Make `count` writes, waiting out every RateLimited as a task's retry would."""

    async def flow(ctx: Context) -> None:
        gh = ctx.github.installation(INSTALLATION)
        done = 0
        while done < count:
            try:
                await gh.add_reaction(REPO, done, "eyes")
                done += 1
            except RateLimited as exc:
                clock.advance(exc.delay or 1.0)

    harness.run(flow)


def most_in_window(times: list[float], seconds: float) -> int:
    """The most writes in any window of `seconds` (windows starting at a write)."""
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def test_buckets_stay_under_githubs_secondary_limits() -> None:
    assert MINUTE.most_in(60) < 80
    assert HOUR.most_in(3600) < 500


def test_a_burst_goes_out_at_once(harness: Harness, clock: FakeClock) -> None:
    start = clock.now
    write_until_done(harness, clock, 10)
    assert [r.at for r in harness.github.content_writes()] == [start] * 10


def test_a_long_flood_never_exceeds_80_a_minute_or_500_an_hour(
    harness: Harness, clock: FakeClock
) -> None:
    write_until_done(harness, clock, 700)
    times = [r.at for r in harness.github.content_writes()]
    assert len(times) == 700
    assert most_in_window(times, 60.0) <= 80
    assert most_in_window(times, 3600.0) <= 500


def test_writes_github_refused_cost_nothing(harness: Harness, clock: FakeClock) -> None:
    harness.github.fail("POST", r"/reactions$", 404, times=50, body={"message": "Not Found"})
    for n in range(50):
        with pytest.raises(NotFound):
            harness.run(react(n))
    start = clock.now
    write_until_done(harness, clock, int(MINUTE.burst))
    # The whole burst is still there: 50 refused attempts pushed nothing away.
    assert [r.at for r in harness.github.content_writes()][-int(MINUTE.burst) :] == [start] * int(
        MINUTE.burst
    )


class StalledClock(FakeClock):
    """Simulated time whose sleeps never end (a caller gives up while waiting)."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def test_a_write_abandoned_while_waiting_for_its_token_is_refunded(
    harness: Harness, clock: FakeClock
) -> None:
    write_until_done(harness, clock, int(MINUTE.burst))  # the burst is spent: next one waits
    left = harness.run(lambda ctx: ctx.github.installation(INSTALLATION).write_budget())
    harness.clock = StalledClock(clock.now)

    async def give_up(ctx: Context) -> None:
        gh = ctx.github.installation(INSTALLATION)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(gh.add_reaction(REPO, 1, "eyes"), timeout=0.2)

    harness.run(give_up)
    harness.clock = clock
    assert harness.run(lambda ctx: ctx.github.installation(INSTALLATION).write_budget()) == left
    assert len(harness.github.content_writes()) == int(MINUTE.burst)


def test_a_single_pr_posts_its_statuses_without_waiting(harness: Harness, clock: FakeClock) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    start = clock.now
    opened(harness)
    assert {r.at for r in harness.github.content_writes()} == {start}


def test_a_queued_status_nobody_would_see_is_skipped_when_the_budget_is_short(
    harness: Harness, clock: FakeClock
) -> None:
    from tests.workers.test_statuses import deployment_states, publish

    write_until_done(harness, clock, int(MINUTE.burst) - 4)  # 4 tokens left
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    while True:
        try:
            opened(harness)
            break
        except RateLimited as exc:
            clock.advance(exc.delay or 1.0)
    assert deployment_states(harness, sha_of("A")) == []
    harness.set_status("pr-7", {"phase": "Building", "targetCommitSha": sha_of("A")})
    clock.advance(60)
    publish(harness)
    assert deployment_states(harness, sha_of("A")) == ["in_progress"]
