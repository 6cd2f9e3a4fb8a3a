"""Flows: short Redis locks, renewed while their holder runs; a busy lock reschedules the task.

A lock lives `ttl` seconds and a renewer extends it every third of that while its holder runs,
so a holder that dies (SIGKILL, lost node) blocks the others for at most `ttl`, while a live one
keeps it however long it works (up to `max_hold`, a bound on a hung holder). The renewer is a
thread with its own connection because flows make blocking Kubernetes calls that can stall the
event loop longer than `ttl`. A waiter polls for at most `wait` seconds, then raises `LockBusy`,
a `TemporaryError` with a short delay: the Celery task is rescheduled, a worker never sleeps long.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis
import redis.connection
from redis.asyncio import Redis

from core.errors import TemporaryError

log = logging.getLogger("catalyst.worker.locks")

POLL_SECONDS = 0.05
# Only what a URL configures is copied to the renewer's own connection.
_URL_SETTINGS = ("host", "port", "path", "db", "username", "password")
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class LockSpec:
    """How long a lock lives unrenewed, how long a waiter waits, and when it retries."""

    ttl: float = 10.0
    wait: float = 3.0
    retry_delay: float = 2.0
    max_hold: float = 300.0


class LockBusy(TemporaryError):
    """Another worker holds the lock; retry after `delay` seconds."""


@asynccontextmanager
async def renewed_lock(client: Redis, key: str, spec: LockSpec) -> AsyncIterator[None]:
    """Hold `key` while the body runs, renewed in the background; `LockBusy` if still held
    by someone else after `spec.wait` seconds. Not reentrant."""
    token = uuid.uuid4().hex
    if not await _acquire(client, key, token, spec):
        raise LockBusy(f"{key} is held by another worker", delay=spec.retry_delay)
    renewer = Renewer(client, key, token, spec)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop()
        await _release(client, key, token, lost=renewer.lost)


async def _acquire(client: Redis, key: str, token: str, spec: LockSpec) -> bool:
    deadline = time.monotonic() + spec.wait
    while not await client.set(key, token, nx=True, px=_millis(spec.ttl)):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


async def _release(client: Redis, key: str, token: str, *, lost: bool) -> None:
    released = await client.eval(_RELEASE, 1, key, token)
    if lost or not released:
        # Someone else may have run the same section meanwhile; the flows stay idempotent.
        log.warning("lock %s expired while held (renewal failed)", key)


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class Renewer:
    """Extends a held lock every `ttl / 3` from its own thread until stopped."""

    def __init__(self, source: Redis, key: str, token: str, spec: LockSpec) -> None:
        self._client = sync_client_like(source)
        self._key = key
        self._token = token
        self._spec = spec
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"renew {key}", daemon=True)
        self.lost = False

    def start(self) -> None:
        """Begin renewing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the caller releases the lock)."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        until = time.monotonic() + self._spec.max_hold
        while not self._stopped.wait(self._spec.ttl / 3) and time.monotonic() < until:
            if not self._renew_once():
                self.lost = True
                return

    def _renew_once(self) -> bool:
        try:
            return bool(
                self._client.eval(_RENEW, 1, self._key, self._token, _millis(self._spec.ttl))
            )
        except redis.RedisError as exc:
            # Redis is briefly away: keep trying while the lock may still be ours.
            log.warning("could not renew lock %s: %s", self._key, exc)
            return True


def sync_client_like(source: Redis) -> redis.Redis:
    """A blocking client to the same server and database as `source` (for another thread)."""
    pool = source.connection_pool
    settings = {
        k: v
        for k, v in pool.connection_kwargs.items()
        if k in _URL_SETTINGS or (k.startswith("ssl_") and isinstance(v, str | bool | None))
    }
    settings.update(socket_timeout=2.0, socket_connect_timeout=2.0)
    kind = getattr(redis.connection, pool.connection_class.__name__, redis.connection.Connection)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=kind, **settings))
