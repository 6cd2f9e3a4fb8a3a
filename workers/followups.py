"""Adapter (Redis and the queue): publish again, a little later, the Environments whose
progress writes were put off.

When the write budget is down to its reserve, a comment edit or a check run's progress update
waits (`core.errors.WriteDeferred`) so that first and final statuses go at once. The flow that
put it off notes the Environment (`Context.follow_ups`); once the flow is done the task shell
queues one `publish_status` for it, due when the budget allows a progress write again. One
Redis key per Environment, living until that time, keeps further put-off writes from queuing
more: the one queued publishes the newest state anyway.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from core import jobs
from core.clients.queue import Enqueuer
from core.errors import TemporaryError
from workers.context import FollowUps

log = logging.getLogger("catalyst.worker.followups")
_KEY = "catalyst:follow-up"
MIN_DELAY = 0.5  # a budget refilling as we speak: do not come back within the same breath


async def schedule(redis: Redis, follow_ups: FollowUps, enqueue: Enqueuer) -> int:
    """Queue one later publish per noted Environment unless one is due already; how many."""
    queued = 0
    for (namespace, name), delay in sorted(follow_ups.due.items()):
        due_in = max(delay, MIN_DELAY)
        key = f"{_KEY}:{namespace}/{name}"
        if not await redis.set(key, "1", nx=True, px=int(due_in * 1000)):
            continue
        queued += await _enqueue(redis, enqueue, key, (namespace, name), due_in)
    return queued


async def _enqueue(
    redis: Redis, enqueue: Enqueuer, key: str, env: tuple[str, str], due_in: float
) -> int:
    namespace, name = env
    kwargs = {
        "namespace": namespace,
        "name": name,
        "delivery_id": f"follow-up:{namespace}/{name}",
        "follow_up": True,  # nothing to do once the Environment is gone
    }
    try:
        enqueue(jobs.TASK_PUBLISH_STATUS, kwargs, countdown=due_in)
    except TemporaryError as exc:
        await redis.delete(key)  # the next put-off write tries again; resync catches up anyway
        log.warning("follow-up publish of %s/%s not queued: %s", namespace, name, exc)
        return 0
    return 1
