"""E2e faults: a worker SIGKILLed mid-task and Redis restarted mid-run lose nothing.

Which mechanism proves "nothing lost": beat's periodic resync (every 10 s here). A worker killed
with SIGKILL (its whole process group, so neither the pool child nor the main process can hand
the message back) leaves the task's message unacknowledged in Redis; Celery would redeliver it
only after the broker's visibility timeout (3600 s), and a Redis restart without persistence drops
queued messages outright. Neither is waited for: every flow is level-triggered, so the next resync
reads GitHub's open PRs and converges the Environment CR, the deployment statuses and the comment
from what is true now. The tests assert that end state (and no duplicate comment).
"""

from __future__ import annotations

import time

from tests.e2e.conftest import REPO, Stack
from tests.e2e.test_pull_request_life import (
    TIMEOUT,
    assert_ready_and_shown,
    superseded_retired,
)
from tests.support.fake_github import sha_of


def test_worker_killed_mid_task_then_restarted(stack: Stack) -> None:
    sha = sha_of("killed-1")
    # killed while fetching the PR: before the Project's admission lock is taken (a kill inside
    # it would make every PR of the Project wait for the lock's 60 s expiry first)
    slow = stack.github.slow("GET", rf"^/repos/{REPO}/pulls/3$", 6.0)
    assert stack.open_pull(3, sha).status_code == 202
    stack.eventually(lambda: slow.times == 0, TIMEOUT, "the worker inside the slow GitHub call")
    stack.kill("worker")
    time.sleep(0.5)
    stack.start("worker")
    assert_ready_and_shown(stack, 3, sha)
    assert len(stack.bot_comments(3)) == 1


def test_redis_restarted_mid_run(stack: Stack) -> None:
    first, second = sha_of("redis-1"), sha_of("redis-2")
    assert stack.open_pull(4, first).status_code == 202
    stack.redis.stop()  # whatever was queued is gone with it (no persistence)
    with stack.github.lock:
        stack.github.state.deliveries.append({"id": 77, "guid": "push-while-down", "status": "502"})
    assert stack.push(4, first, second).status_code == 503  # never a 2xx that was not enqueued
    time.sleep(1.0)
    stack.redis.start()
    assert_ready_and_shown(stack, 4, second)
    # The first commit's deployment may exist without any status (created by a worker that lost
    # its CR write with Redis, or never): once the second is live it is retired or absent. It is
    # posted after the success, so wait for it rather than read once.
    stack.eventually(lambda: superseded_retired(stack, 4, first), TIMEOUT, "first retired")
    assert len(stack.bot_comments(4)) == 1
    stack.eventually(
        lambda: 77 in stack.github.read(lambda s: s.redelivered), TIMEOUT, "failed one redelivered"
    )
