"""Adapter: the async face of the one Redis lock (`core.clients.redislock`); busy reschedules.

A lock lives `ttl` seconds and a renewer extends it every third of that while its holder runs,
so a holder that dies (SIGKILL, lost node) blocks the others for at most `ttl`, while a live one
keeps it however long it works (up to `max_hold`, a bound on a hung holder). The renewer is
`redislock.Renewer`, a thread with its own connection, because flows make blocking Kubernetes
calls that can stall the event loop longer than `ttl`. A waiter polls for at most `wait` seconds,
then raises `LockBusy`, a `TemporaryError` with a short delay: the Celery task is rescheduled, a
worker never sleeps long.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis
import redis.connection
from redis.asyncio import Redis

from core.clients import redislock
from core.errors import TemporaryError

log = logging.getLogger("catalyst.worker.locks")

POLL_SECONDS = 0.05
# Only what a URL configures is copied to the renewer's own connection.
_URL_SETTINGS = ("host", "port", "path", "db", "username", "password")


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
    renewer_client = sync_client_like(client)
    renewer = redislock.Renewer(renewer_client, key, token, ttl=spec.ttl, max_hold=spec.max_hold)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop()
        renewer_client.close()
        await _release(client, key, token, lost=renewer.lost)


async def _acquire(client: Redis, key: str, token: str, spec: LockSpec) -> bool:
    deadline = time.monotonic() + spec.wait
    while not await client.set(key, token, nx=True, px=redislock.millis(spec.ttl)):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


async def _release(client: Redis, key: str, token: str, *, lost: bool) -> None:
    released = await client.eval(redislock.RELEASE_SCRIPT, 1, key, token)
    if lost or not released:
        # Someone else may have run the same section meanwhile; the flows stay idempotent.
        log.warning("lock %s expired while held (renewal failed)", key)


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
