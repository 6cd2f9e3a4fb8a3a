"""Adapter: per-key queue discipline in Redis, shared by every reconciler replica.

* De-duplicated while queued: a key is sent to the queue only when it is not already waiting
  to run at the same time or earlier (an earlier due time still gets through).
* Serialised while running: a reconcile holds a per-key lock (token + TTL, released only by its
  owner), so one Environment is never reconciled twice at once across any number of workers.
* Per-key exponential backoff with full jitter and a cap, reset on success.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from core.errors import TemporaryError

PREFIX = "catalyst:reconcile"
LOCK_TTL = 120.0
# A marker outlives its due time by this much at most: a task lost with a dead worker (ETA
# tasks sit in the worker that reserved them) blocks new sends of its key no longer than that.
QUEUED_GRACE = 60
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0

# KEYS[1] queued marker; ARGV[1] due (epoch s), ARGV[2] ttl (s). 1 = send, 0 = already queued.
_MARK_QUEUED = """
local due = tonumber(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) <= due + 0.05 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# KEYS[1] lock; ARGV[1] token. Delete only our own lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class KeyGate:
    """Dedup, lock and backoff bookkeeping for reconcile keys."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = PREFIX,
        lock_ttl: float = LOCK_TTL,
        base: float = BACKOFF_BASE,
        cap: float = BACKOFF_CAP,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.prefix, self.lock_ttl = client, prefix, lock_ttl
        self.base, self.cap, self.rand, self.clock = base, cap, rand, clock

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{key}"

    def mark_queued(self, key: str, delay: float = 0.0) -> bool:
        """True when `key` should be sent now (not already queued to run as early)."""
        due = self.clock() + max(delay, 0.0)
        ttl = int(max(delay, 0.0) + QUEUED_GRACE)
        result = self._call(self.client.eval, _MARK_QUEUED, 1, self._key("queued", key), due, ttl)
        return bool(result)

    def unmark_queued(self, key: str) -> None:
        """Forget the queued marker (the task started, or its send failed)."""
        self._call(self.client.delete, self._key("queued", key))

    def clear_queued(self) -> int:
        """Forget every queued marker (a new leader starts from a full resync); how many."""
        pattern = self._key("queued", "*")
        names = list(self._call(self.client.scan_iter, match=pattern, count=1000))
        if names:
            self._call(self.client.delete, *names)
        return len(names)

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        """Hold the running lock of `key`; yields False when another worker holds it."""
        token = uuid.uuid4().hex
        name = self._key("lock", key)
        held = bool(self._call(self.client.set, name, token, nx=True, px=int(self.lock_ttl * 1000)))
        try:
            yield held
        finally:
            if held:
                self._call(self.client.eval, _RELEASE, 1, name, token)

    def is_locked(self, key: str) -> bool:
        """Whether some worker runs `key` right now."""
        return bool(self._call(self.client.exists, self._key("lock", key)))

    def failure_delay(self, key: str) -> float:
        """Record one more failure and return the backoff: full jitter of base * 2^n, capped."""
        failures = int(self._call(self.client.incr, self._key("failures", key)))
        self._call(self.client.expire, self._key("failures", key), int(self.cap * 4))
        ceiling = min(self.cap, self.base * 2 ** min(failures - 1, 30))
        return float(max(0.05, ceiling * (0.5 + self.rand() / 2)))

    def succeeded(self, key: str) -> None:
        """Reset the backoff of `key`."""
        self._call(self.client.delete, self._key("failures", key))

    @staticmethod
    def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise TemporaryError(f"redis unavailable: {exc}") from exc
