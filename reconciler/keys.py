"""Adapter: per-key queue discipline in Redis, shared by every reconciler replica.

* De-duplicated while queued: a key is sent to the queue only when it is not already waiting
  to run at the same time or earlier (an earlier due time still gets through).
  A marker overdue by more than `QUEUED_STALE` no longer blocks: its message was lost with a
  dead worker (ETA tasks sit in the worker that reserved them until the visibility timeout).
* Serialised while running: a reconcile holds a per-key lock, so one Environment is never
  reconciled twice at once across any number of workers. The lock (the one Redis lock,
  `core.clients.redislock`) names its owner (process identity + token, released only by that
  owner) and has a short TTL that a renewer thread extends while the work runs: a SIGKILLed
  holder stops renewing, so its lock is gone within `LOCK_TTL` instead of blocking the key for
  minutes.
* Per-key exponential backoff with full jitter and a cap, reset on success.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from core.backoff import full_jitter
from core.clients import redislock
from core.errors import TemporaryError

log = logging.getLogger(__name__)
PREFIX = "catalyst:reconcile"
# Short, renewed every LOCK_TTL / 3 while held: how long a dead holder can block its key.
LOCK_TTL = 10.0
# A healthy queue starts a task within seconds of its due time; a marker this overdue belongs to
# a message that died with its worker, so it stops blocking new sends of its key.
QUEUED_STALE = 30.0
# Markers are deleted by Redis this long after their due time (housekeeping only).
QUEUED_GRACE = 60
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0

# KEYS[1] queued marker; ARGV[1] due (epoch s), ARGV[2] ttl (s), ARGV[3] stale-before (epoch s).
# 1 = send, 0 = already queued to run as early (and not overdue: its message is alive).
_MARK_QUEUED = """
local due = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '')
if current and current <= due + 0.05 and current >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def process_identity() -> str:
    """`<hostname>-<pid>`: who holds a lock, as the Lease names its holder."""
    return f"{socket.gethostname()}-{os.getpid()}"


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
        owner: str | None = None,
    ) -> None:
        self.client, self.prefix, self.lock_ttl = client, prefix, lock_ttl
        self.owner = owner or process_identity()
        self.base, self.cap, self.rand, self.clock = base, cap, rand, clock

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{key}"

    def mark_queued(self, key: str, delay: float = 0.0, *, force: bool = False) -> bool:
        """True when `key` should be sent now (not already queued to run as early).

        `force` always sends (and records the new due time): a task putting itself back.
        """
        now = self.clock()
        due = now + max(delay, 0.0)
        ttl = int(max(delay, 0.0) + QUEUED_GRACE)
        if force:
            self._call(self.client.set, self._key("queued", key), due, ex=ttl)
            return True
        name, stale_before = self._key("queued", key), now - QUEUED_STALE
        return bool(self._call(self.client.eval, _MARK_QUEUED, 1, name, due, ttl, stale_before))

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
        """Hold the running lock of `key`, renewed while held; False when another holds it."""
        value = f"{self.owner} {uuid.uuid4().hex}"
        name = self._key("lock", key)
        held = bool(self._call(redislock.try_acquire, self.client, name, value, self.lock_ttl))
        renewer = redislock.Renewer(self.client, name, value, ttl=self.lock_ttl) if held else None
        if renewer is not None:
            renewer.start()
        try:
            yield held
        finally:
            if renewer is not None:
                renewer.stop()
                self._call(redislock.release, self.client, name, value)

    def is_locked(self, key: str) -> bool:
        """Whether some worker runs `key` right now."""
        return bool(self._call(self.client.exists, self._key("lock", key)))

    def holder(self, key: str) -> str | None:
        """The process identity holding the lock of `key`, if any (for logs and health)."""
        raw = self._call(self.client.get, self._key("lock", key))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text.rpartition(" ")[0] or None

    def failure_delay(self, key: str) -> float:
        """Record one more failure and return the backoff (`core.backoff.full_jitter`)."""
        failures = int(self._call(self.client.incr, self._key("failures", key)))
        self._call(self.client.expire, self._key("failures", key), int(self.cap * 4))
        # Never sooner than half the base: a failing key does not spin the queue.
        floor = max(0.05, self.base / 2)
        return full_jitter(failures - 1, base=self.base, cap=self.cap, floor=floor, rand=self.rand)

    def succeeded(self, key: str) -> None:
        """Reset the backoff of `key`."""
        self._call(self.client.delete, self._key("failures", key))

    @staticmethod
    def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise TemporaryError(f"redis unavailable: {exc}") from exc
