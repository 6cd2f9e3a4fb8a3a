"""The per-installation write budget: a token bucket in Redis shared by every worker.

Simulated time only: a write refused by the budget advances the clock by the delay it names,
as a Celery retry would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from redis import Redis as SyncRedis

from core.clients.budget import (
    FINAL_RESERVE,
    HOUR,
    MINUTE,
    PROGRESS_RESERVE,
    Bucket,
    WriteBudget,
    WriteKind,
)
from core.errors import NotFound, RateLimited
from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, FakeClock, Harness
from tests.workers.test_github_client import opened
from tests.workers.test_pull_requests import deliver
from workers.context import Context
from workers.statuses import publish_status


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


def tokens_left(harness: Harness) -> float:
    """Tokens the installation's budget holds now, in its emptier bucket."""

    async def read(ctx: Context) -> float:
        budget = WriteBudget(ctx.redis)
        return await budget.remaining(str(INSTALLATION), now=harness.clock.time())

    return harness.run(read)


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
    left = tokens_left(harness)
    harness.clock = StalledClock(clock.now)

    async def give_up(ctx: Context) -> None:
        gh = ctx.github.installation(INSTALLATION)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(gh.add_reaction(REPO, 1, "eyes"), timeout=0.2)

    harness.run(give_up)
    harness.clock = clock
    assert tokens_left(harness) == left
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


def spend_down_to(harness: Harness, clock: FakeClock, tokens: float) -> None:
    """Spend write tokens (reactions) until `tokens` are left, without refill."""
    write_until_done(harness, clock, int(tokens_left(harness) - tokens))


def publish_noting_follow_ups(harness: Harness) -> dict[tuple[str, str], float]:
    """Publish the preview as the task would; the later publishes it asked for (due at)."""
    harness.follow_ups.clear()
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, "pr-7"))
    return {key: due - harness.clock.now for key, due in harness.follow_ups.items()}


def comment_body(harness: Harness) -> str:
    [comment] = harness.github.state.comments_on(REPO, 7)
    return str(comment["body"])


def pushed_and_deploying(harness: Harness) -> tuple[str, str]:
    """PR 7 served `A` (success), then pushed to `B`, which is rolling out now."""
    from tests.workers.test_statuses import opened as opened_at
    from tests.workers.test_statuses import publish, ready

    a, b = sha_of("A"), sha_of("B")
    opened_at(harness, a)
    ready(harness, a)
    publish(harness)
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    harness.set_status("pr-7", {"phase": "Deploying", "targetCommitSha": b, "commitSha": a})
    publish(harness)
    return a, b


def test_final_writes_go_at_once_when_only_the_reserve_is_left(
    harness: Harness, clock: FakeClock
) -> None:
    from tests.workers.test_statuses import deployment_states, ready

    a, b = pushed_and_deploying(harness)
    spend_down_to(harness, clock, PROGRESS_RESERVE)
    before, start = len(harness.github.content_writes()), clock.now
    ready(harness, b)
    follow_ups = publish_noting_follow_ups(harness)
    assert deployment_states(harness, b)[-1] == "success"
    assert deployment_states(harness, a)[-1] == "inactive"
    [run] = harness.github.state.check_runs_of(REPO, b)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert {r.at for r in harness.github.content_writes()[before:]} == {start}  # none waited
    # The comment (a progress write, overwritten by the next one anyway) waits for the budget,
    # and the task is told to publish again once a progress write may go.
    assert "Ready" not in comment_body(harness)
    assert list(follow_ups) == [(harness.project_ns, "pr-7")]
    assert follow_ups[(harness.project_ns, "pr-7")] > 0


def test_the_put_off_comment_is_written_by_the_later_publish_and_nothing_twice(
    harness: Harness, clock: FakeClock
) -> None:
    from tests.workers.test_statuses import ready

    _, b = pushed_and_deploying(harness)
    spend_down_to(harness, clock, PROGRESS_RESERVE)
    ready(harness, b)
    assert publish_noting_follow_ups(harness)
    assert harness.run_follow_ups() == 1
    assert harness.follow_ups == {}
    assert "Ready" in comment_body(harness) and b[:7] in comment_body(harness)
    assert [r for r in harness.github.redundant_writes() if "/reactions" not in r.path] == []


def test_an_old_commits_run_waits_for_the_budget_while_the_new_heads_run_does_not(
    harness: Harness, clock: FakeClock
) -> None:
    from tests.workers.test_statuses import opened as opened_at
    from tests.workers.test_statuses import publish, ready

    a, b = sha_of("A"), sha_of("B")
    opened_at(harness, a)
    ready(harness, a)
    publish(harness)
    spend_down_to(harness, clock, PROGRESS_RESERVE)
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    [older] = harness.github.state.check_runs_of(REPO, a)
    assert harness.github.state.check_runs_of(REPO, b)  # the new head's run: at once
    assert older["conclusion"] == "success"  # "superseded" waits for the budget
    assert list(harness.follow_ups) == [(harness.project_ns, "pr-7")]
    harness.run_follow_ups()
    assert (older["conclusion"], older["output"]["title"]) == (
        "cancelled",
        f"Superseded by {b[:7]}",
    )
    assert [r for r in harness.github.redundant_writes() if "/reactions" not in r.path] == []


def test_with_budget_to_spare_nothing_is_put_off(harness: Harness, clock: FakeClock) -> None:
    from tests.workers.test_statuses import ready

    _, b = pushed_and_deploying(harness)
    clock.advance(60)  # the minute bucket is full again
    ready(harness, b)
    assert publish_noting_follow_ups(harness) == {}
    assert "Ready" in comment_body(harness)


class LockWatchingClock(FakeClock):
    """Simulated time that notes, whenever a write waits for its token, whether `key` is held."""

    def __init__(self, now: float, *, redis_url: str, key: str) -> None:
        super().__init__(now)
        self.redis, self.key = SyncRedis.from_url(redis_url), key
        self.held_while_waiting: list[bool] = []

    async def sleep(self, seconds: float) -> None:
        self.held_while_waiting.append(bool(self.redis.exists(self.key)))
        await super().sleep(seconds)


def test_a_pr_waiting_for_the_budget_does_not_hold_its_projects_admission_lock(
    harness: Harness, clock: FakeClock
) -> None:
    """Other PRs of the Project are decided while this one's check run waits for a token."""
    # The deployment leaves the final writes their reserve; the check run then waits for a token.
    spend_down_to(harness, clock, FINAL_RESERVE + 1)
    lock = f"catalyst:admission:{harness.project_ns}:{PROJECT}"
    watching = LockWatchingClock(clock.now, redis_url=harness.redis_url, key=lock)
    harness.clock = watching
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    deliver(harness, "opened", sha_of("A"))
    assert harness.github.state.check_runs_of(REPO, sha_of("A"))  # written after its wait
    assert watching.held_while_waiting == [False]


def test_first_writes_leave_the_final_reserve_and_wait_for_a_token_beyond_it(
    harness: Harness, clock: FakeClock
) -> None:
    from tests.workers.test_statuses import deployment_states, ready

    a, b = pushed_and_deploying(harness)
    spend_down_to(harness, clock, FINAL_RESERVE)
    start, before = clock.now, len(harness.github.content_writes())
    ready(harness, b)
    publish_noting_follow_ups(harness)  # success, inactive and the conclusion: the reserve
    assert (deployment_states(harness, b)[-1], deployment_states(harness, a)[-1]) == (
        "success",
        "inactive",
    )
    assert {r.at for r in harness.github.content_writes()[before:]} == {start}
    c = sha_of("C")
    harness.github.state.push_pull(REPO, 7, c)
    while True:  # as Celery retries a task after the delay its RateLimited names
        try:
            deliver(harness, "synchronize", c)
            break
        except RateLimited as exc:
            clock.advance(exc.delay or 1.0)
    [created] = [r for r in harness.github.content_writes() if r.path.endswith("/deployments")][-1:]
    # The budget was empty: C's deployment went once FINAL_RESERVE + 1 tokens were back.
    assert created.body["ref"] == c
    assert created.at >= start + (FINAL_RESERVE + 1) / MINUTE.per_second - 1e-6


def test_once_the_hour_is_drained_first_writes_no_longer_leave_a_reserve(harness: Harness) -> None:
    """The final reserve is the minute bucket's: a drained hour gives each token to the next
    write, first or final alike, while progress edits still wait in both buckets."""
    minute, hour = Bucket(burst=20.0, per_second=1.0), Bucket(burst=2.0, per_second=0.001)

    async def grants(ctx: Context) -> list[bool]:
        budget = WriteBudget(ctx.redis, minute=minute, hour=hour)
        kinds = (WriteKind.PROGRESS, WriteKind.FIRST, WriteKind.FIRST, WriteKind.FINAL)
        return [(await budget.reserve("drained", now=0.0, keep=k.keep)).granted for k in kinds]

    # The minute bucket is full (20), the hour bucket holds 2: progress waits, the two first
    # writes take both, and the final write after them is told to wait.
    assert harness.run(grants) == [False, True, True, False]


def test_a_first_write_reserves_ahead_only_from_the_bucket_without_a_reserve(
    harness: Harness,
) -> None:
    """Short of hour tokens a first write reserves the next one, as a final write does; short of
    minute tokens (the final writes' reserve) it takes nothing and is told how long to wait."""
    minute, hour = Bucket(burst=5.0, per_second=1.0), Bucket(burst=1.0, per_second=1.0)

    async def grants(ctx: Context) -> list[tuple[bool, float]]:
        budget = WriteBudget(ctx.redis, minute=minute, hour=hour)
        out = []
        for _ in range(2):  # the first empties the hour bucket, the second reserves ahead
            grant = await budget.reserve("ahead", now=0.0, keep=WriteKind.FIRST.keep)
            out.append((grant.granted, round(grant.wait, 6)))
        # 3 minute tokens left, 3 must stay: nothing taken; the answer names the longer wait
        # (the hour bucket's, 2 s: it owes the token reserved ahead).
        grant = await budget.reserve("ahead", now=0.0, keep=WriteKind.FIRST.keep)
        return [*out, (grant.granted, round(grant.wait, 6))]

    assert harness.run(grants) == [(True, 0.0), (True, 1.0), (False, 2.0)]
