"""Server-sent events fed by blocking cluster streams (an Environment watch, a followed log).

The `kubernetes` client blocks, so each stream runs in its own daemon thread and hands items to
the event loop; when the browser goes away the generator is closed, which sets the thread's
stop event (seen at its next item or server-side watch timeout). A comment line every few
seconds keeps proxies from closing a quiet stream and notices a gone client.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from starlette.responses import StreamingResponse

from core.errors import CatalystError

KEEPALIVE_SECONDS = 10.0
_END = object()

Producer = Callable[[threading.Event], Iterator[str]]


def sse(event: str, data: str) -> str:
    """One server-sent event (multi-line data split as the format requires)."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


def event_stream(produce: Producer, *, event: str) -> StreamingResponse:
    """An SSE response relaying each item `produce` yields as one `event`."""
    return StreamingResponse(
        _relay(produce, event),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _relay(produce: Producer, event: str) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in produce(stop):
                loop.call_soon_threadsafe(queue.put_nowait, item)
                if stop.is_set():
                    break
        except CatalystError as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    threading.Thread(target=pump, name=f"sse-{event}", daemon=True).start()
    try:
        yield ": connected\n\n"
        async for chunk in _drain(queue, event):
            yield chunk
    finally:
        stop.set()


async def _drain(queue: asyncio.Queue[object], event: str) -> AsyncIterator[str]:
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            yield ": keepalive\n\n"
            continue
        if item is _END:
            yield sse("end", "stream ended")
            return
        if isinstance(item, CatalystError):
            yield sse("failure", json.dumps({"message": str(item)}))
            return
        yield sse(event, str(item))
