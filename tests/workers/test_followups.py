"""Later publishes of Environments whose progress writes were put off: one queued per due time."""

from __future__ import annotations

from core import jobs
from core.errors import TemporaryError
from tests.support.queue import RecordingEnqueuer
from tests.workers.conftest import REPO, Harness
from workers import followups
from workers.context import Context, FollowUps


def schedule(harness: Harness, queue: RecordingEnqueuer, due: dict[tuple[str, str], float]) -> int:
    async def flow(ctx: Context) -> int:
        return await followups.schedule(ctx.redis, FollowUps(dict(due)), queue)

    return harness.run(flow)


def test_each_environment_gets_one_later_publish_due_when_asked(harness: Harness) -> None:
    queue = RecordingEnqueuer()
    assert schedule(harness, queue, {("ns", "pr-1"): 3.0, ("ns", "pr-2"): 0.0}) == 2
    assert sorted((kw["name"], countdown) for _, kw, countdown in queue.sent) == [
        ("pr-1", 3.0),
        ("pr-2", followups.MIN_DELAY),  # never straight back into the same empty budget
    ]
    assert {task for task, _, _ in queue.sent} == {jobs.TASK_PUBLISH_STATUS}
    assert all(kw["namespace"] == "ns" for _, kw, _ in queue.sent)


def test_another_put_off_write_before_it_is_due_queues_nothing_more(harness: Harness) -> None:
    queue = RecordingEnqueuer()
    schedule(harness, queue, {("ns", "pr-1"): 30.0})
    assert schedule(harness, queue, {("ns", "pr-1"): 5.0, ("ns", "pr-3"): 5.0}) == 1
    assert [kw["name"] for _, kw, _ in queue.sent] == ["pr-1", "pr-3"]


def test_a_refused_enqueue_lets_the_next_put_off_write_try_again(harness: Harness) -> None:
    queue = RecordingEnqueuer()
    queue.failure = TemporaryError("broker unavailable")
    assert schedule(harness, queue, {("ns", "pr-1"): 30.0}) == 0
    queue.failure = None
    assert schedule(harness, queue, {("ns", "pr-1"): 30.0}) == 1


def test_the_longest_delay_asked_for_wins() -> None:
    due = FollowUps()
    due.note("ns", "pr-1", 2.0)
    due.note("ns", "pr-1", 7.0)
    due.note("ns", "pr-1", 1.0)
    assert due.due == {("ns", "pr-1"): 7.0}


def test_a_follow_up_of_an_environment_that_is_gone_asks_github_nothing(harness: Harness) -> None:
    from tests.support.fake_github import sha_of
    from tests.workers.test_pull_requests import deliver
    from tests.workers.test_statuses import opened

    opened(harness, sha_of("A"))
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", sha_of("A"))
    assert harness.environment("pr-7") is None
    before = len(harness.github.log)
    harness.follow_ups[(harness.project_ns, "pr-7")] = harness.clock.now
    assert harness.run_follow_ups() == 1
    assert harness.github.log[before:] == []  # finishing the teardown is the reconciler's call
