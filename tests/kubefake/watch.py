"""Watch plumbing: change events, per-watch subscribers and the streaming response.

The store appends every change to a bounded history and offers it to each
:class:`Subscriber`. A subscriber lives on the server's event loop; the store (which may run
on any thread) hands events over with ``loop.call_soon_threadsafe``. Label/field selectors
are applied per event the way the real server does: an object that stops matching is sent
as ``DELETED``, one that starts matching as ``ADDED``.

:class:`WatchResponse` streams newline-delimited JSON events, ends after ``timeoutSeconds``
(sending a ``BOOKMARK`` first when ``allowWatchBookmarks`` was asked for), and stops early
when the client disconnects or the server shuts down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .resources import GroupKind

Obj = dict[str, Any]
Item = tuple[str, Obj] | None  # (event type, object) or None = stop


@dataclass(frozen=True)
class Event:
    """One committed change."""

    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    key: GroupKind
    obj: Obj
    old: Obj | None = None


class Subscriber:
    """One open watch: which objects it wants and where to deliver them."""

    def __init__(
        self,
        key: GroupKind,
        namespace: str | None,
        matcher: Callable[[Obj], bool],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.key = key
        self.namespace = namespace
        self.matcher = matcher
        self.loop = loop
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    def _wants(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.matcher(obj)

    def translate(self, event: Event) -> Item:
        """The event as this watcher sees it, or ``None`` when it is filtered out."""
        if event.key != self.key:
            return None
        now, before = self._wants(event.obj), self._wants(event.old)
        if event.type == "MODIFIED" and now != before:
            return ("ADDED" if now else "DELETED", event.obj)
        return (event.type, event.obj) if now else None

    def offer(self, event: Event) -> None:
        """Deliver ``event`` if wanted (safe to call from any thread)."""
        item = self.translate(event)
        if item is not None:
            self._put(item)

    def close(self) -> None:
        """End the watch stream."""
        self._put(None)

    def _put(self, item: Item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the server's loop is already closed
            pass


def encode_event(event_type: str, obj: Obj) -> bytes:
    """One NDJSON line of a watch stream."""
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


class WatchResponse(Response):
    """Chunked NDJSON watch stream over a :class:`Subscriber`."""

    def __init__(
        self,
        initial: list[bytes],
        subscriber: Subscriber,
        timeout: float,
        render: Callable[[str, Obj], bytes],
        bookmark: Callable[[], bytes] | None,
        on_close: Callable[[], None],
    ) -> None:
        super().__init__(media_type="application/json")
        self.initial = initial
        self.subscriber = subscriber
        self.timeout = timeout
        self.encode = render
        self.bookmark = bookmark
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await self._stream(send, disconnected)
        finally:
            disconnected.cancel()
            self.on_close()

    async def _stream(self, send: Send, disconnected: asyncio.Future[None]) -> None:
        for line in self.initial:
            await _send_body(send, line)
        completed = await self._pump(send, disconnected)
        if completed and self.bookmark is not None:
            await _send_body(send, self.bookmark())
        if not disconnected.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Send, disconnected: asyncio.Future[None]) -> bool:
        """Forward events until timeout (True), shutdown or disconnect (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (remaining := deadline - loop.time()) > 0:
            item = await _next_item(self.subscriber.queue, disconnected, remaining)
            if item is _TIMEOUT:
                return True
            if item is None or isinstance(item, _Sentinel):
                return False
            await _send_body(send, self.encode(*item))
        return True


class _Sentinel:
    pass


_TIMEOUT = _Sentinel()
_GONE = _Sentinel()


async def _next_item(
    queue: asyncio.Queue[Item], disconnected: asyncio.Future[None], timeout: float
) -> Item | _Sentinel:
    if not queue.empty():
        return queue.get_nowait()
    getter: asyncio.Future[Item] = asyncio.ensure_future(queue.get())
    waiting: set[asyncio.Future[Any]] = {getter, disconnected}
    done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    return _GONE if disconnected in done else _TIMEOUT


async def _send_body(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
