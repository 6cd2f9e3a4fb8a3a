"""Test support: serve an ASGI app with real uvicorn on loopback from a daemon thread.

One implementation for every in-process test server (the fake Kubernetes API server, the fake
GitHub, receivers under test). The listening socket is pre-bound with `IPPROTO_TCP`: with a
plain `socket.socket()` asyncio does not set TCP_NODELAY and every keep-alive request stalls
about 40 ms on delayed ACKs. Shutdown is fast: listeners close, open connections (watches,
keep-alives) get half a second, then their tasks are cancelled.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

Lifespan = Literal["auto", "on", "off"]


def bind_socket(host: str = "127.0.0.1", port: int = 0, backlog: int = 256) -> socket.socket:
    """A listening TCP socket (`IPPROTO_TCP`, so TCP_NODELAY gets set)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


async def fast_shutdown(server: Any, grace: float = 0.5) -> None:
    """Close listeners and connections, wait up to `grace` s for requests, cancel the rest."""
    for listener in server.servers:
        listener.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while (server.server_state.connections or server.server_state.tasks) and loop.time() < deadline:
        await asyncio.sleep(0.005)
    for task in list(server.server_state.tasks):
        task.cancel()
    for listener in server.servers:
        await listener.wait_closed()


class ThreadedServer:
    """uvicorn serving `app` on `host:port` (0: a free port) until `stop()`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "test-server",
        lifespan: Lifespan = "off",
    ) -> None:
        self._app, self._host, self._name, self._lifespan = app, host, name, lifespan
        self._sock = bind_socket(host, port)
        self.port = int(self._sock.getsockname()[1])
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """`http://<host>:<port>`."""
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        """Serve from a daemon thread; return once requests are accepted."""
        config = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan=self._lifespan
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, name=f"{self._name}:{self.port}", daemon=True
        )
        self._thread.start()
        self._wait_started(timeout)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        finally:
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        server = self._server
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        self._exit = asyncio.Event()
        self._loop = loop
        await server.startup(sockets=[self._sock])
        await self._exit.wait()
        await fast_shutdown(server)
        await server.lifespan.shutdown()

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self._server.started and self._exit is not None):
            if self._thread is None or not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.002)

    def stop(self) -> None:
        """Stop serving, join the thread and close the socket (idempotent)."""
        if self._loop is not None and self._exit is not None:
            self._loop.call_soon_threadsafe(self._exit.set)
            self._exit = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serve(app: ASGIApp, *, lifespan: Lifespan = "on") -> Iterator[str]:
    """Run `app` under uvicorn until the block ends; yields its base URL."""
    with ThreadedServer(app, lifespan=lifespan) as server:
        yield server.url


def wait_until_terminated() -> None:
    """Block until SIGTERM or Ctrl-C: how a test server run as a command stays up."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
