"""Benchmark: the webhook receiver under real uvicorn on loopback, against a bare Starlette 202.

Runs, one server process at a time: (a) a bare endpoint answering 202, (b) the receiver with
verification but no enqueue, (c) the full receiver on a real redis-server. For each: closed-loop
throughput with signed 20 KB `pull_request` deliveries, p50/p99 latency; then for (c) p99 at a
fixed 200 deliveries/s, and a 25 MiB delivery posted while that stream runs. Prints the numbers,
the ratios against (a) and the targets, and writes benchmarks/RESULTS.md.

Usage: .venv/bin/python -m benchmarks.receiver [--seconds 4] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.signing import sign
from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret"
EXAMPLE = ROOT / "tests" / "fixtures" / "github" / "webhooks" / "pull_request.opened.2.json"
BIG_BYTES = 25 * 1024 * 1024 - 1024
NOTES = """
Notes: the load generator (Python asyncio, raw HTTP/1.1) shares the 2 cores with the server,
and other work on the machine moves single runs by 30 % or more (p99 at 200/s ranged 2.7 to
42 ms across runs). uvicorn runs without httptools/uvloop (not project dependencies). The bare
baseline does not read the body; the body is the real octokit `pull_request.opened` example.
"""


@dataclass
class Result:
    """Latencies (seconds) and the wall time they were collected in."""

    latencies: list[float]
    seconds: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def payload_20kb() -> dict[str, object]:
    """A real `pull_request.opened` payload padded to about 20 KB."""
    payload: dict[str, object] = json.loads(EXAMPLE.read_text())
    size = len(json.dumps(payload))
    payload["pull_request"]["body"] = "x" * max(0, 20_000 - size)  # type: ignore[index]
    return payload


def request_bytes(body: bytes, port: int) -> bytes:
    """One signed HTTP/1.1 POST /webhook with a fresh delivery id."""
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {uuid.uuid4()}\r\n"
        f"X-Hub-Signature-256: {sign(body, SECRET.encode())}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    """Send one request on a keep-alive connection and read its (small) response."""
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return status


async def closed_loop(port: int, body: bytes, *, seconds: float, connections: int) -> Result:
    """As many requests as `connections` keep-alive clients can push in `seconds`."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status = await exchange(reader, writer, request_bytes(body, port))
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return Result(latencies, time.perf_counter() - started, statuses)


async def open_loop(port: int, body: bytes, *, rate: float, seconds: float) -> Result:
    """Requests started at a fixed `rate`, each on a pooled connection, latency per request."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(16):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def one(data: bytes) -> None:
        started = time.perf_counter()
        conn = await pool.get()
        status = await exchange(*conn, data)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(conn)

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(request_bytes(body, port))))
    await asyncio.gather(*tasks)
    return Result(latencies, time.perf_counter() - begin, statuses)


async def big_during_stream(port: int, body: bytes) -> tuple[float, int, Result]:
    """A 25 MiB delivery posted while small ones arrive at 200/s: its latency, status, the rest."""
    big = json.dumps({**json.loads(body), "padding": "y" * (BIG_BYTES - len(body))}).encode()
    stream = asyncio.create_task(open_loop(port, body, rate=200, seconds=2.0))
    await asyncio.sleep(0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = request_bytes(big, port)
    started = time.perf_counter()
    status = await exchange(reader, writer, data)
    big_latency = time.perf_counter() - started
    writer.close()
    return big_latency, status, await stream


@contextmanager
def server(factory: str, redis_url: str) -> Iterator[int]:
    """One uvicorn process serving `benchmarks.receiver_apps:<factory>`; yields its port."""
    port = free_port()
    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_SECRET": SECRET}
    argv = [sys.executable, "-m", "uvicorn", f"benchmarks.receiver_apps:{factory}", "--factory"]
    argv += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def line(name: str, result: Result) -> str:
    return (
        f"| {name} | {result.rate:,.0f} | {result.percentile(0.5) * 1000:.1f} | "
        f"{result.percentile(0.99) * 1000:.1f} | {dict(sorted(result.statuses.items()))} |"
    )


def run(seconds: float, connections: int) -> str:
    """Run every scenario; the Markdown report."""
    body = json.dumps(payload_20kb()).encode()
    redis = RedisServer()
    redis.start()
    try:
        results: dict[str, Result] = {}
        for name in ("bare", "verify_only", "full"):
            with server(name, redis.url) as port:
                asyncio.run(closed_loop(port, body, seconds=0.5, connections=connections))
                results[name] = asyncio.run(
                    closed_loop(port, body, seconds=seconds, connections=connections)
                )
                if name == "full":
                    paced = asyncio.run(open_loop(port, body, rate=200, seconds=seconds))
                    big = asyncio.run(big_during_stream(port, body))
            redis.flush()
    finally:
        redis.cleanup()
    return report(results, paced, big, seconds=seconds, connections=connections, size=len(body))


def report(
    results: dict[str, Result],
    paced: Result,
    big: tuple[float, int, Result],
    *,
    seconds: float,
    connections: int,
    size: int,
) -> str:
    """Numbers, ratios and targets as Markdown."""
    bare, verify, full = results["bare"], results["verify_only"], results["full"]
    big_latency, big_status, during = big
    ratio = full.rate / bare.rate
    checks = [
        ("(c) throughput ≥ 60% of (a)", f"{ratio:.0%}", ratio >= 0.6),
        ("(c) ≥ 1,000 deliveries/s", f"{full.rate:,.0f}/s", full.rate >= 1000),
        ("(c) p99 < 25 ms at 200/s", f"{paced.percentile(0.99) * 1000:.1f} ms",
         paced.percentile(0.99) < 0.025),
        ("25 MiB delivery answered < 1 s", f"{big_latency * 1000:.0f} ms (status {big_status})",
         big_latency < 1.0),
        ("small deliveries during it < 100 ms (max)", f"{max(during.latencies) * 1000:.1f} ms",
         max(during.latencies) < 0.1),
    ]  # fmt: skip
    rows = [
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; body {size:,} bytes; "
        f"closed loop {connections} keep-alive connections for {seconds:g} s per server.",
        "",
        "| server | deliveries/s | p50 ms | p99 ms | statuses |",
        "|---|---|---|---|---|",
        line("(a) bare Starlette 202", bare),
        line("(b) receiver, no enqueue", verify),
        line("(c) receiver + Redis ledger + Celery", full),
        line("(c) paced at 200/s", paced),
        line("(c) 200/s during a 25 MiB delivery", during),
        "",
        f"Ratios: (b)/(a) = {verify.rate / bare.rate:.0%}, (c)/(a) = {ratio:.0%}, "
        f"(c)/(b) = {full.rate / verify.rate:.0%}.",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *(f"| {name} | {value} | {'yes' if ok else 'NO'} |" for name, value, ok in checks),
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    """Run the benchmark, print the report and save it to benchmarks/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=32)
    ns = parser.parse_args()
    text = run(ns.seconds, ns.connections)
    print(text)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (
        f"# Webhook receiver benchmark\n\nLatest run: {stamp}, `python -m benchmarks.receiver`.\n\n"
    )
    (ROOT / "benchmarks" / "RESULTS.md").write_text(header + text + NOTES)


if __name__ == "__main__":
    main()
