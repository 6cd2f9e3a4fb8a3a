"""Test support: a real `redis-server` (Debian package) on loopback, run by fixtures.

`RedisServer` picks a free port, runs without persistence, and can be stopped and started again on
the same port so tests can simulate a broker outage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on 127.0.0.1:<port>, restartable on the same port."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run scripts/bootstrap.sh")
        self.binary = binary
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="catalyst-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Redis URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        argv = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.dir), "--maxmemory-policy", "noeviction"]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until(ready=True)

    def stop(self) -> None:
        """Stop the server and wait until the port is closed."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
        self._wait_until(ready=False)

    def flush(self) -> None:
        """Delete every key (between tests sharing one server)."""
        self.command("FLUSHALL")

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall((" ".join(args) + "\r\n").encode())
            return conn.recv(65536)

    def _wait_until(self, *, ready: bool, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers() == ready:
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"redis-server on port {self.port} did not {'start' if ready else 'stop'}"
        )

    def _answers(self) -> bool:
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def cleanup(self) -> None:
        """Stop the server (if running) and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server_session() -> Iterator[RedisServer]:
    """One redis-server for the whole test session."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_server(redis_server_session: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, emptied before each test (restarted if a test stopped it)."""
    if not redis_server_session._answers():
        redis_server_session.start()
    redis_server_session.flush()
    yield redis_server_session
    if not redis_server_session._answers():
        redis_server_session.start()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A private redis-server a test may stop and restart (broker-outage tests)."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()
