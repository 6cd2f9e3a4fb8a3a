"""Adapter: the Redis store of teardowns whose GitHub side is not finished (redis.asyncio).

The Environment CR, and the bookkeeping on its annotations, is gone before GitHub's last status is
posted; its `TeardownRecord` waits here (a cache with a TTL: GitHub is the fallback after a flush)
and the resync finishes every teardown still listed.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from redis.asyncio import Redis

from workers.bookkeeping import TeardownRecord

TEARDOWN_TTL = 7 * 24 * 3600


def _teardown_key(namespace: str, name: str) -> str:
    return f"catalyst:teardown:{namespace}/{name}"


async def save_teardown(redis: Redis, namespace: str, name: str, record: TeardownRecord) -> None:
    """Keep the bookkeeping of a deleted Environment (a cache; GitHub is the fallback)."""
    await redis.set(_teardown_key(namespace, name), json.dumps(asdict(record)), ex=TEARDOWN_TTL)


async def load_teardown(redis: Redis, namespace: str, name: str) -> TeardownRecord | None:
    """The saved record, or None after a Redis flush."""
    raw = await redis.get(_teardown_key(namespace, name))
    if raw is None:
        return None
    try:
        return TeardownRecord(**json.loads(raw))
    except (ValueError, TypeError):
        return None


async def forget_teardown(redis: Redis, namespace: str, name: str) -> None:
    """Drop the record when the Environment is recreated."""
    await redis.delete(_teardown_key(namespace, name))


async def pending_teardowns(redis: Redis) -> list[tuple[str, str]]:
    """(namespace, name) of every teardown whose GitHub side has not been finished yet."""
    prefix = _teardown_key("", "").removesuffix("/")
    found: list[tuple[str, str]] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        text = key.decode() if isinstance(key, bytes) else str(key)
        namespace, _, name = text.removeprefix(prefix).partition("/")
        if namespace and name:
            found.append((namespace, name))
    return sorted(found)
