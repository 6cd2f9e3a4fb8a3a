"""Adapter: the Redis delivery ledger (redis.asyncio), keyed by `X-GitHub-Delivery`.

Key `delivery:<id>` holds a delivery's state for 3 days (longer than GitHub's redelivery window).
The production receiver writes it as `enqueued` in the same script that queues the job (see
webhook.intake); the step-by-step path uses `claim` (SET NX, `accepted-pending`) → enqueue →
`mark_enqueued`, and on a failed enqueue `release_failed` deletes the claim (so GitHub's redelivery
is not taken for a duplicate). Failures are indexed in `deliveries:failed` (sorted by time) with
details under `delivery-failed:<id>`, for the resync sweep. Redis errors become LedgerUnavailable
(a TemporaryError); nothing here blocks the loop.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Protocol, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import TemporaryError

RETENTION_SECONDS = 3 * 24 * 3600
PENDING = "accepted-pending"
ENQUEUED = "enqueued"
FAILED_INDEX = "deliveries:failed"


class LedgerUnavailable(TemporaryError):
    """Redis did not answer; the delivery must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A delivery whose work could not be enqueued."""

    delivery_id: str
    event: str
    action: str | None
    reason: str
    at: float


class Ledger(Protocol):
    """What the receiver needs from a delivery ledger."""

    async def claim(self, delivery_id: str) -> bool: ...
    async def mark_enqueued(self, delivery_id: str) -> None: ...
    async def release_failed(self, failure: Failure) -> None: ...
    async def ping(self) -> bool: ...


def delivery_key(delivery_id: str) -> str:
    """The Redis key holding one delivery's state."""
    return f"delivery:{delivery_id}"


def failure_key(delivery_id: str) -> str:
    """The Redis key holding one failed delivery's details."""
    return f"delivery-failed:{delivery_id}"


def make_redis(url: str, *, timeout: float = 0.5) -> Redis:
    """An asyncio Redis client that gives up fast (the receiver answers 503 within a second)."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class RedisLedger:
    """The ledger on a redis.asyncio client (shared with /readyz)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, delivery_id: str) -> bool:
        """True when this is the first copy of the delivery (atomic set-if-absent)."""
        try:
            stored = await self._redis.set(
                delivery_key(delivery_id), PENDING, nx=True, ex=RETENTION_SECONDS
            )
        except (RedisError, OSError) as exc:
            raise LedgerUnavailable(f"ledger unavailable: {exc}") from exc
        return bool(stored)

    async def mark_enqueued(self, delivery_id: str) -> None:
        """Record that the delivery's job is on the queue (keeps the retention TTL)."""
        try:
            await self._redis.set(delivery_key(delivery_id), ENQUEUED, xx=True, keepttl=True)
        except (RedisError, OSError) as exc:
            raise LedgerUnavailable(f"ledger unavailable: {exc}") from exc

    async def release_failed(self, failure: Failure) -> None:
        """Forget the claim and index the failure for the resync sweep (one transaction)."""
        await self._index_failure(failure, release=True)

    async def record_failure(self, failure: Failure) -> None:
        """Index the failure for the resync sweep, leaving any claim as it is."""
        await self._index_failure(failure, release=False)

    async def _index_failure(self, failure: Failure, *, release: bool) -> None:
        details = json.dumps(
            {"event": failure.event, "action": failure.action, "reason": failure.reason}
        )
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if release:
                    pipe.delete(delivery_key(failure.delivery_id))
                pipe.set(failure_key(failure.delivery_id), details, ex=RETENTION_SECONDS)
                pipe.zadd(FAILED_INDEX, {failure.delivery_id: failure.at})
                pipe.zremrangebyscore(FAILED_INDEX, 0, failure.at - RETENTION_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise LedgerUnavailable(f"ledger unavailable: {exc}") from exc

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def failed_since(self, since: float) -> list[Failure]:
        """Failed deliveries recorded at or after `since` (for the resync sweep and tests)."""
        found = await self._redis.zrangebyscore(FAILED_INDEX, since, "+inf", withscores=True)
        entries = cast(list[tuple[bytes, float]], found)
        failures = []
        for member, score in entries:
            delivery_id = member.decode() if isinstance(member, bytes) else str(member)
            raw = await self._redis.get(failure_key(delivery_id))
            details = json.loads(raw) if raw else {}
            failures.append(
                Failure(
                    delivery_id,
                    details.get("event", ""),
                    details.get("action"),
                    details.get("reason", ""),
                    float(score),
                )
            )
        return failures


def now() -> float:
    """Wall-clock seconds (scores in the failed index)."""
    return time.time()
