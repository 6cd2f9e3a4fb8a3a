"""Adapter: taking a routed delivery's job durably, once per `X-GitHub-Delivery` (redis.asyncio).

`RedisIntake` (production) claims the delivery and publishes its Celery message in one Redis
script, so the two cannot come apart: a delivery is either claimed *and* queued, or neither (no
claim is ever left `accepted-pending` by a Redis outage between the two steps). Concurrent
submissions share round trips: while one batch is in flight the next ones gather and go as one
pipeline. `EnqueuerIntake` keeps the three-step path (claim, `Enqueuer` in a worker thread, mark)
for an injected `Enqueuer` (tests, or a broker that is not the ledger's Redis).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.to_thread
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from core.clients.queue import Enqueuer
from core.errors import TemporaryError
from webhook.ledger import (
    ENQUEUED,
    RETENTION_SECONDS,
    Failure,
    Ledger,
    LedgerUnavailable,
    RedisLedger,
    delivery_key,
)
from webhook.messages import TaskMessages

# KEYS: delivery key, queue list. ARGV: state, retention seconds, message. 1 = new, 0 = duplicate.
# A failed push undoes the claim, so a redelivery is not mistaken for a duplicate.
CLAIM_AND_PUBLISH = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  local pushed = redis.pcall('LPUSH', KEYS[2], ARGV[3])
  if type(pushed) == 'table' and pushed.err then
    redis.call('DEL', KEYS[1])
    return pushed
  end
  return 1
end
return 0
"""
MAX_BATCH = 256
logger = logging.getLogger("webhook.intake")


class Intake(Protocol):
    """What the receiver needs to hand over a routed delivery."""

    async def submit(self, delivery_id: str, task: str, kwargs: Mapping[str, Any]) -> bool:
        """True when the job is now durably queued, False for a duplicate delivery.

        Raises TemporaryError when it could not be taken (the receiver answers 503).
        """
        ...

    async def record_failure(self, failure: Failure) -> None:
        """Index a delivery that was not taken, for the resync sweep."""
        ...

    async def ping(self) -> bool:
        """True when the intake's store answers."""
        ...


@dataclass(slots=True)
class Submission:
    """One delivery waiting for the next round trip."""

    args: tuple[str, str, str, int, bytes]
    result: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RedisIntake:
    """Claim and publish in one atomic script; concurrent submissions pipelined together."""

    def __init__(self, redis: Redis, messages: TaskMessages) -> None:
        self._redis = redis
        self._ledger = RedisLedger(redis)
        self._messages = messages
        self._waiting: list[Submission] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, delivery_id: str, task: str, kwargs: Mapping[str, Any]) -> bool:
        """Queue the job unless this delivery was already taken (see Intake.submit)."""
        message = self._messages.encode(task, kwargs)
        key = delivery_key(delivery_id)
        submission = Submission(
            (key, self._messages.queue(task), ENQUEUED, RETENTION_SECONDS, message)
        )
        self._waiting.append(submission)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_waiting())
        # A caller that gives up cancels only its own future; the shared round trip goes on.
        return await submission.result

    async def record_failure(self, failure: Failure) -> None:
        """Index the failure; any claim stays (it only exists if the job was queued with it)."""
        await self._ledger.record_failure(failure)

    async def ping(self) -> bool:
        """True when Redis answers."""
        return await self._ledger.ping()

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._send(batch)
        finally:
            self._sender = None

    async def _send(self, batch: list[Submission]) -> None:
        try:
            replies = await self._run(batch)
        except (RedisError, OSError) as exc:
            replies = [exc] * len(batch)
        for submission, reply in zip(batch, replies, strict=True):
            settle(submission.result, reply)

    async def _run(self, batch: list[Submission]) -> list[Any]:
        if len(batch) == 1:
            return [await self._redis.eval(CLAIM_AND_PUBLISH, 2, *batch[0].args)]
        pipe = self._redis.pipeline(transaction=False)
        for submission in batch:
            pipe.eval(CLAIM_AND_PUBLISH, 2, *submission.args)
        return list(await pipe.execute(raise_on_error=False))


def settle(result: asyncio.Future[bool], reply: Any) -> None:
    """Resolve one submission from its script reply (1, 0 or an error)."""
    if result.done():
        return
    if isinstance(reply, (RedisError, OSError)):
        result.set_exception(LedgerUnavailable(f"ledger unavailable: {reply}"))
    elif isinstance(reply, ResponseError):
        result.set_exception(LedgerUnavailable(f"ledger refused: {reply}"))
    else:
        result.set_result(reply == 1)


class EnqueuerIntake:
    """Claim in the ledger, send through an `Enqueuer` off the event loop, then mark enqueued."""

    def __init__(
        self, ledger: Ledger, enqueuer: Enqueuer, *, threads: int, mark_timeout: float
    ) -> None:
        self._ledger = ledger
        self._enqueuer = enqueuer
        self._threads = anyio.CapacityLimiter(threads)
        self._mark_timeout = mark_timeout

    async def submit(self, delivery_id: str, task: str, kwargs: Mapping[str, Any]) -> bool:
        """Claim, send, mark (see Intake.submit); a failed send leaves the claim to release."""
        if not await self._ledger.claim(delivery_id):
            return False
        send = functools.partial(self._enqueuer, task, dict(kwargs))
        # Abandoning the thread on timeout keeps the answer within the deadline; if the publish
        # still lands later the job runs once more at worst, and every task is idempotent.
        await anyio.to_thread.run_sync(send, abandon_on_cancel=True, limiter=self._threads)
        await self._mark(delivery_id)
        return True

    async def record_failure(self, failure: Failure) -> None:
        """Forget the claim (so GitHub's redelivery is taken) and index the failure."""
        await self._ledger.release_failed(failure)

    async def ping(self) -> bool:
        """True when the ledger answers."""
        return await self._ledger.ping()

    async def _mark(self, delivery_id: str) -> None:
        # The job is already durable: a failure here only loses bookkeeping, never the 202.
        with anyio.move_on_after(self._mark_timeout, shield=True):
            try:
                await self._ledger.mark_enqueued(delivery_id)
            except TemporaryError as exc:
                logger.warning("could not mark delivery %s enqueued: %s", delivery_id, exc)
