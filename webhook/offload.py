"""Shell: a verified body parsed and routed to a `Digest`, inline or in a helper process.

`parse_and_route` is what the receiver does with every verified body. JSON parsers hold the GIL
for the whole document: a 25 MiB payload of many small objects takes a few hundred milliseconds
to parse, and a worker thread would stall every other delivery for that long. So above
`Limits.offload_bytes` the receiver hands the raw bytes to one spawned helper process
(`HelperPool`) that runs the same `parse_and_route` and sends back only the outcome: the task and
job, or the rejection, plus the action and repository for the log line.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from webhook.payloads import Payload, PayloadError
from webhook.routers import Route, Router
from webhook.routing import build_router

# A helper that parsed many big documents may hold on to their memory; a fresh one starts after.
TASKS_PER_HELPER = 32
PARENT_CHECK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Digest:
    """What routing a delivery's body found: a route (or none), or a rejection outcome."""

    route: Route | None = None
    rejected: str | None = None
    ping: bool = False
    action: str | None = None
    repository: str | None = None


class OffloadUnavailable(Exception):
    """The helper process died; the delivery should be retried (the receiver answers 503)."""


def summarize(payload: Payload) -> tuple[str | None, str | None]:
    """The action and repository name (when present and sane), for the log line and metrics."""
    action = payload.get("action")
    repository = payload.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return (
        action[:100] if isinstance(action, str) else None,
        name[:200] if isinstance(name, str) else None,
    )


class NotJson(ValueError):
    """The body is not a JSON document."""


def loads(body: bytes) -> Any:
    """Parse JSON with orjson; the standard library decides what orjson refuses.

    orjson rejects a few documents `json` accepts (integers beyond 64 bits, NaN), so those keep
    the answer they always had. Raises NotJson for anything that is not JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise NotJson from None


def parse_and_route(router: Router, body: bytes, event: str, delivery_id: str) -> Digest:
    """Parse a verified body and route it: the outcome the receiver answers with."""
    try:
        value = loads(body)
    except NotJson:
        return Digest(rejected="bad-json")
    if not isinstance(value, dict):
        return Digest(rejected="bad-json")
    action, repository = summarize(value)
    if event == "ping":
        return Digest(ping=True, action=action, repository=repository)
    try:
        route = router.route(event, value, delivery_id)
    except PayloadError:
        return Digest(rejected="bad-payload", action=action, repository=repository)
    return Digest(route=route, action=action, repository=repository)


@cache
def _helper_router() -> Router:
    return build_router()


def _exit_with_parent(parent: int) -> None:
    """In the helper process: exit as soon as the web process is gone, however it ended."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _warm_up() -> None:
    """In the helper process: build the router (and import what routing needs)."""
    _helper_router()


def digest_body(body: bytes, event: str, delivery_id: str) -> Digest:
    """In the helper process: parse `body` and route it."""
    return parse_and_route(_helper_router(), body, event, delivery_id)


class HelperPool:
    """One spawned helper process, started on demand (or ahead: `start`), replaced if it dies."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the helper now (and let it import its modules) instead of on the first use."""
        self._pool().submit(_warm_up)

    async def digest(self, body: bytes, event: str, delivery_id: str) -> Digest:
        """Parse and route `body` in the helper; OffloadUnavailable if the helper died."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), digest_body, body, event, delivery_id)
        except BrokenProcessPool as exc:
            self.close()
            raise OffloadUnavailable(str(exc)) from exc

    def close(self, *, wait: bool = False) -> None:
        """Stop the helper (the next use starts a new one); `wait` until it has exited."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=wait, cancel_futures=True)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=TASKS_PER_HELPER,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._executor
