"""Shell: `POST /webhook`, the receiver contract of DESIGN.md in one request path.

read (≤ 25 MiB, under a read timeout) while verifying `X-Hub-Signature-256` chunk by chunk →
check headers and content type → parse → ping/route → hand the job to the intake (claim and
queue, once per delivery id) → answer. Answers: 401 bad signature (no detail; a missing or
malformed header before reading the body), 413 too large, 408 too slow, 415 not JSON, 400 signed
but unparseable, 200 ping or duplicate, 202 enqueued or nothing to do, 503 when Redis or the
broker did not take the work within the enqueue deadline, and 503 when the receiver is full: at
most `max_in_flight` deliveries at once, of which at most `large_body_slots` bodies over
`large_body_bytes` (so unsigned 24 MiB bodies cannot push the process past its memory limit).
One log line per delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
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
    max_in_flight: int = 64
    large_body_bytes: int = 1024 * 1024
    large_body_slots: int = 2


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
        self._capacity = Capacity(limits)

    async def receive(self, request: Request) -> Response:
        """Answer one delivery and report it (log line and metrics)."""
        record = DeliveryRecord(
            request.headers.get("x-github-delivery"), request.headers.get("x-github-event")
        )
        slots = BodySlots(self._capacity)
        try:
            status, outcome = await self._process(request, record, slots)
        except Rejected as rejected:
            status, outcome = rejected.status, rejected.outcome
        finally:
            slots.release()
        self._report(record, status, outcome)
        return Response(status_code=status)

    async def _process(
        self, request: Request, record: DeliveryRecord, slots: BodySlots
    ) -> tuple[int, str]:
        slots.enter()
        check_declared_length(request.headers.get("content-length"), self._limits.max_body)
        verifier = self._verifier(request.headers.get("x-hub-signature-256"))
        body = await read_body(request, self._limits, verifier=verifier, slots=slots)
        self._verify(request, verifier)
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

    def _verifier(self, header: str | None) -> signature.Verifier:
        """The incremental check of a well-formed header; 401 before reading otherwise."""
        expected = signature.header_digest(header)
        if isinstance(expected, str):
            self._refuse_signature(expected)
        assert isinstance(expected, bytes)
        return signature.Verifier(expected, self._secrets)

    def _verify(self, request: Request, verifier: signature.Verifier) -> None:
        reason = verifier.failure_reason()
        if reason is not None:
            self._refuse_signature(reason)
        if not is_json(request.headers.get("content-type")):
            raise Rejected(415, "unsupported-media-type")

    def _refuse_signature(self, reason: str) -> None:
        self._metrics.verification_failures.labels(reason).inc()
        raise Rejected(401, "unauthorized")

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


@dataclass(slots=True)
class Capacity:
    """Deliveries being handled and large bodies being held (one event loop: no lock)."""

    limits: Limits
    in_flight: int = 0
    large_bodies: int = 0


class BodySlots:
    """One request's share of the receiver: an in-flight place and maybe a large-body slot."""

    def __init__(self, capacity: Capacity) -> None:
        self._capacity = capacity
        self._entered = False
        self._large = False

    def enter(self) -> None:
        """Take an in-flight place; 503 when `max_in_flight` deliveries are being handled."""
        capacity = self._capacity
        if capacity.in_flight >= capacity.limits.max_in_flight:
            raise Rejected(503, "busy")
        capacity.in_flight += 1
        self._entered = True

    def claim_large(self) -> None:
        """Take a large-body slot (once); 503 when every slot holds a big body already."""
        capacity = self._capacity
        if self._large:
            return
        if capacity.large_bodies >= capacity.limits.large_body_slots:
            raise Rejected(503, "busy")
        capacity.large_bodies += 1
        self._large = True

    def release(self) -> None:
        """Give back what this request took."""
        if self._entered:
            self._capacity.in_flight -= 1
        if self._large:
            self._capacity.large_bodies -= 1
        self._entered = self._large = False


async def read_body(
    request: Request,
    limits: Limits,
    *,
    verifier: signature.Verifier | None = None,
    slots: BodySlots | None = None,
) -> bytes:
    """The raw body, refusing (413) before reading past `max_body` and (408) slow senders.

    Each chunk feeds `verifier` as it arrives; a body growing past `large_body_bytes` needs one
    of the receiver's large-body `slots` (503 when they are all taken).
    """
    check_declared_length(request.headers.get("content-length"), limits.max_body)
    chunks: list[bytes] = []
    size = 0
    if slots is not None and _declared(request) > limits.large_body_bytes:
        slots.claim_large()
    try:
        async with asyncio.timeout(limits.read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body:
                    raise Rejected(413, "too-large")
                if slots is not None and size > limits.large_body_bytes:
                    slots.claim_large()
                if verifier is not None:
                    verifier.update(chunk)
                chunks.append(chunk)
    except TimeoutError:
        raise Rejected(408, "read-timeout") from None
    except ClientDisconnect:
        raise Rejected(400, "disconnected") from None
    return b"".join(chunks)


def _declared(request: Request) -> int:
    declared = request.headers.get("content-length", "").strip()
    return int(declared) if declared.isdigit() else 0


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
