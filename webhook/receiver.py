"""Shell: `POST /webhook`, the receiver contract of DESIGN.md in one request path.

read (≤ 25 MiB, under a read timeout) → verify `X-Hub-Signature-256` over the raw bytes → check
headers and content type → parse → ping/route → hand the job to the intake (claim and queue, once
per delivery id) → answer. Answers: 401 bad signature (no detail), 413 too large, 408 too slow,
415 not JSON, 400 signed but unparseable, 200 ping or duplicate, 202 enqueued or nothing to do,
503 when Redis or the broker did not take the work within the enqueue deadline.
One log line per delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from core.errors import TemporaryError
from core.jobs import Job
from webhook import signature
from webhook.intake import Intake
from webhook.ledger import Failure, now
from webhook.metrics import ReceiverMetrics
from webhook.offload import Digest, HelperPool, OffloadUnavailable, parse_and_route
from webhook.routers import Route, Router

logger = logging.getLogger("webhook.receiver")
MAX_BODY = 25 * 1024 * 1024
# Above this size HMAC runs in a thread: hashlib releases the GIL on big inputs, so a 25 MiB
# delivery's digest does not stall the small ones sharing the event loop.
OFFLOAD_BYTES = 256 * 1024
JSON_TYPES = ("application/json",)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one request: body size, time to read it, time to record and enqueue it.

    Bodies over `offload_bytes` are parsed and routed in the helper process (webhook.offload).
    """

    max_body: int = MAX_BODY
    offload_bytes: int = 1024 * 1024
    read_timeout: float = 10.0
    enqueue_timeout: float = 0.8
    release_timeout: float = 0.15
    enqueue_threads: int = 16


class Rejected(Exception):
    """Stop processing a delivery and answer `status` (outcome names it in logs and metrics)."""

    def __init__(self, status: int, outcome: str) -> None:
        super().__init__(outcome)
        self.status = status
        self.outcome = outcome


@dataclass(slots=True)
class DeliveryRecord:
    """What the log line and metrics say about one delivery (filled in as it is learnt)."""

    delivery_id: str | None
    event: str | None
    action: str | None = None
    repository: str | None = None
    verified: bool = False
    started: float = field(default_factory=time.perf_counter)


class Receiver:
    """The `POST /webhook` endpoint with its collaborators injected."""

    def __init__(
        self,
        *,
        secrets: list[bytes],
        router: Router,
        intake: Intake,
        metrics: ReceiverMetrics,
        limits: Limits,
        helpers: HelperPool,
    ) -> None:
        self._secrets = secrets
        self._router = router
        self._intake = intake
        self._metrics = metrics
        self._limits = limits
        self._helpers = helpers

    async def receive(self, request: Request) -> Response:
        """Answer one delivery and report it (log line and metrics)."""
        record = DeliveryRecord(
            request.headers.get("x-github-delivery"), request.headers.get("x-github-event")
        )
        try:
            status, outcome = await self._process(request, record)
        except Rejected as rejected:
            status, outcome = rejected.status, rejected.outcome
        self._report(record, status, outcome)
        return Response(status_code=status)

    async def _process(self, request: Request, record: DeliveryRecord) -> tuple[int, str]:
        body = await read_body(request, self._limits)
        await self._verify(request, body)
        record.verified = True
        event, delivery_id = require_headers(request)
        found = await self._digest(body, event, delivery_id)
        record.action, record.repository = found.action, found.repository
        if found.rejected is not None:
            raise Rejected(400, found.rejected)
        if found.ping:
            return 200, "ping"
        if found.route is None:
            return 202, "ignored"
        return await self._record_and_enqueue(found.route, record)

    async def _digest(self, body: bytes, event: str, delivery_id: str) -> Digest:
        """Parse and route: inline for common sizes, in the helper process for big bodies."""
        if len(body) <= self._limits.offload_bytes:
            return parse_and_route(self._router, body, event, delivery_id)
        try:
            return await self._helpers.digest(body, event, delivery_id)
        except OffloadUnavailable as exc:
            logger.warning("helper process unavailable: %s", exc)
            raise Rejected(503, "unavailable") from None

    async def _verify(self, request: Request, body: bytes) -> None:
        header = request.headers.get("x-hub-signature-256")
        check = functools.partial(signature.failure_reason, body, header, self._secrets)
        big = len(body) > OFFLOAD_BYTES
        reason = await anyio.to_thread.run_sync(check) if big else check()
        if reason is not None:
            self._metrics.verification_failures.labels(reason).inc()
            raise Rejected(401, "unauthorized")
        if not is_json(request.headers.get("content-type")):
            raise Rejected(415, "unsupported-media-type")

    async def _record_and_enqueue(self, route: Route, record: DeliveryRecord) -> tuple[int, str]:
        delivery_id = route.job.delivery_id
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._limits.enqueue_timeout):
                taken = await self._intake.submit(delivery_id, route.task, job_kwargs(route.job))
        except (TemporaryError, TimeoutError) as exc:
            await self._record_failure(record, delivery_id, reason=str(exc) or type(exc).__name__)
            return 503, "unavailable"
        if not taken:
            return 200, "duplicate"
        self._metrics.enqueue_seconds.observe(time.perf_counter() - started)
        return 202, "accepted"

    async def _record_failure(
        self, record: DeliveryRecord, delivery_id: str, *, reason: str
    ) -> None:
        failure = Failure(delivery_id, record.event or "", record.action, reason[:200], now())
        with anyio.move_on_after(self._limits.release_timeout, shield=True):
            try:
                await self._intake.record_failure(failure)
            except TemporaryError as exc:
                logger.warning("could not record failed delivery %s: %s", delivery_id, exc)

    def _report(self, record: DeliveryRecord, status: int, outcome: str) -> None:
        event = record.event if record.verified else None
        self._metrics.count_delivery(event, record.action, outcome)
        logger.info(
            "delivery %s",
            outcome,
            extra={
                "delivery_id": record.delivery_id if record.verified else None,
                "event": event,
                "action": record.action,
                "repository": record.repository,
                "outcome": outcome,
                "status": status,
                "ms": round((time.perf_counter() - record.started) * 1000, 2),
            },
        )


async def read_body(request: Request, limits: Limits) -> bytes:
    """The raw body, refusing (413) before reading past `max_body` and (408) slow senders."""
    check_declared_length(request.headers.get("content-length"), limits.max_body)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body:
                    raise Rejected(413, "too-large")
                chunks.append(chunk)
    except TimeoutError:
        raise Rejected(408, "read-timeout") from None
    except ClientDisconnect:
        raise Rejected(400, "disconnected") from None
    return b"".join(chunks)


def check_declared_length(declared: str | None, limit: int) -> None:
    """Refuse a `Content-Length` over the limit (413) or not a number (400) before reading."""
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise Rejected(400, "bad-content-length")
    if int(declared) > limit:
        raise Rejected(413, "too-large")


def is_json(content_type: str | None) -> bool:
    """True for `application/json` with or without parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in JSON_TYPES


def require_headers(request: Request) -> tuple[str, str]:
    """The event name and delivery id; 400 when a signed delivery lacks them."""
    event = request.headers.get("x-github-event", "").strip()
    delivery_id = request.headers.get("x-github-delivery", "").strip()
    if not event or not delivery_id or len(delivery_id) > 100:
        raise Rejected(400, "bad-headers")
    return event, delivery_id


def job_kwargs(job: Job) -> dict[str, Any]:
    """The job's task keyword arguments, as `Job.to_kwargs` gives them.

    Job fields are JSON primitives or tuples of them, so a shallow read equals `asdict` without
    its deep copies (a tenth of the request's CPU time at full load).
    """
    return {item.name: getattr(job, item.name) for item in dataclasses.fields(job)}
