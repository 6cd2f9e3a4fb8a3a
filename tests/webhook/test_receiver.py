"""The receiver contract through the app: bad input, rotation, duplicates, outages, endpoints."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from core import jobs
from core.signing import sign
from tests.support.github import load_example, signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.webhook.conftest import SECRET, broker_down, make_settings
from webhook import signature
from webhook.app import create_app
from webhook.ledger import FAILED_INDEX, RedisLedger, delivery_key, make_redis
from webhook.receiver import Limits

OPENED = load_example("pull_request.opened.2.json")


def post(client: TestClient, headers: dict[str, str], body: bytes) -> int:
    return int(client.post("/webhook", content=body, headers=headers).status_code)


def opened(delivery_id: str = "d-1", secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    return signed_delivery("pull_request", OPENED, secret, delivery_id=delivery_id)


def test_signature_test_vector_from_github_docs() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"Hello, World!", SECRET.encode()) == expected


def altered_byte(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]


def sha1_only(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    del headers["X-Hub-Signature-256"]
    return {**headers, "X-Hub-Signature": "sha1=" + "0" * 40}, body


def without(name: str) -> Any:
    def drop(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        return {k: v for k, v in headers.items() if k != name}, body

    return drop


def bad_hex(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "X-Hub-Signature-256": "sha256=" + "zz" * 32}, body


def short_digest(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "X-Hub-Signature-256": headers["X-Hub-Signature-256"][:7] + "g"}, body


UNSIGNED = [
    pytest.param(lambda h, b: signed_delivery("pull_request", b, "wrong"), id="wrong-secret"),
    pytest.param(altered_byte, id="body-altered-by-one-byte"),
    pytest.param(sha1_only, id="sha1-only"),
    pytest.param(without("X-Hub-Signature-256"), id="missing-header"),
    pytest.param(bad_hex, id="bad-hex"),
    pytest.param(short_digest, id="short-digest"),
]


@pytest.mark.parametrize("tamper", UNSIGNED)
def test_unverified_delivery_gets_bare_401(
    client: TestClient, enqueuer: RecordingEnqueuer, tamper: Any
) -> None:
    headers, body = tamper(*opened())
    response = client.post("/webhook", content=body, headers=headers)
    assert (response.status_code, response.content, enqueuer.jobs) == (401, b"", [])


def signed(event: str, body: bytes, **extra: str) -> tuple[dict[str, str], bytes]:
    headers, body = signed_delivery(event, body, SECRET)
    return {**headers, **extra}, body


BAD_SIGNED = [
    pytest.param(signed("pull_request", b""), 400, id="empty-body"),
    pytest.param(signed("pull_request", b"{not json"), 400, id="invalid-json"),
    pytest.param(signed("pull_request", b"[1, 2]"), 400, id="json-not-object"),
    pytest.param(signed("pull_request", b"\xff\xfe{}"), 400, id="not-utf8"),
    pytest.param(
        signed(
            "pull_request", json.dumps({k: v for k, v in OPENED.items() if k != "action"}).encode()
        ),
        400,
        id="missing-action",
    ),
    pytest.param(
        signed("pull_request", json.dumps({**OPENED, "pull_request": {"number": 2}}).encode()),
        400,
        id="pr-without-head",
    ),
    pytest.param(signed("gollum", json.dumps(OPENED).encode()), 202, id="unknown-event"),
    pytest.param(
        signed("pull_request", json.dumps(OPENED).encode(), **{"Content-Type": "text/plain"}),
        415,
        id="wrong-content-type",
    ),
    pytest.param(
        signed(
            "pull_request",
            b"payload=%7B%7D",
            **{"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
        id="form-encoded",
    ),
]


@pytest.mark.parametrize(("delivery", "status"), BAD_SIGNED)
def test_signed_bad_input_gets_contract_status(
    client: TestClient,
    enqueuer: RecordingEnqueuer,
    delivery: tuple[dict[str, str], bytes],
    status: int,
) -> None:
    assert post(client, *delivery) == status
    assert enqueuer.jobs == []


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_signed_delivery_without_event_or_id_is_400(
    client: TestClient, enqueuer: RecordingEnqueuer, header: str
) -> None:
    headers, body = opened()
    assert post(client, without(header)(headers, body)[0], body) == 400
    assert enqueuer.jobs == []


def test_oversized_body_is_413(redis_server: RedisServer, enqueuer: RecordingEnqueuer) -> None:
    app = create_app(
        make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits(max_body=1024)
    )
    headers, body = signed_delivery("pull_request", {**OPENED, "pad": "x" * 2048}, SECRET)
    with TestClient(app) as client:
        assert post(client, headers, body) == 413
    assert enqueuer.jobs == []


def test_streamed_body_over_the_cap_is_413_without_content_length(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    app = create_app(
        make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits(max_body=1024)
    )
    headers, body = signed_delivery("pull_request", {**OPENED, "pad": "x" * 4096}, SECRET)
    chunks = iter([body[i : i + 512] for i in range(0, len(body), 512)])
    with TestClient(app) as client:
        response = client.post("/webhook", content=chunks, headers=headers)
    assert (response.status_code, enqueuer.jobs) == (413, [])


def test_both_secrets_accepted_during_rotation(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    settings = make_settings(redis_server.url, secret="old-secret, new-secret")
    with TestClient(create_app(settings, enqueuer=enqueuer)) as client:
        assert post(client, *opened("d-old", secret="old-secret")) == 202
        assert post(client, *opened("d-new", secret="new-secret")) == 202
        assert post(client, *opened("d-other", secret="other-secret")) == 401
    assert [kwargs["delivery_id"] for _, kwargs in enqueuer.jobs] == ["d-old", "d-new"]


def test_duplicate_delivery_answers_200_and_enqueues_once(
    client: TestClient, enqueuer: RecordingEnqueuer, redis_server: RedisServer
) -> None:
    statuses = [post(client, *opened("dup-1")) for _ in range(3)]
    assert statuses == [202, 200, 200]
    assert len(enqueuer.jobs) == 1
    assert redis_server.command("GET", delivery_key("dup-1")).endswith(b"enqueued\r\n")
    ttl = int(redis_server.command("TTL", delivery_key("dup-1"))[1:])
    assert ttl > 3 * 24 * 3600 - 60


def test_enqueue_failure_answers_503_and_frees_the_delivery_for_redelivery(
    client: TestClient, enqueuer: RecordingEnqueuer, redis_server: RedisServer
) -> None:
    enqueuer.failure = broker_down()
    assert post(client, *opened("fail-1")) == 503
    assert redis_server.command("EXISTS", delivery_key("fail-1")) == b":0\r\n"
    assert redis_server.command("ZSCORE", FAILED_INDEX, "fail-1").startswith(b"$")
    enqueuer.failure = None
    assert post(client, *opened("fail-1")) == 202
    assert [kwargs["delivery_id"] for _, kwargs in enqueuer.jobs] == ["fail-1"]


def test_failed_deliveries_are_listed_for_the_sweep(
    client: TestClient, enqueuer: RecordingEnqueuer, redis_server: RedisServer
) -> None:
    enqueuer.failure = broker_down()
    post(client, *opened("sweep-1"))

    async def listed() -> list[tuple[str, str, str | None]]:
        redis = make_redis(redis_server.url)
        try:
            failures = await RedisLedger(redis).failed_since(0)
        finally:
            await redis.aclose()
        return [(f.delivery_id, f.event, f.action) for f in failures]

    assert anyio.run(listed) == [("sweep-1", "pull_request", "opened")]


def test_slow_enqueue_answers_503_within_deadline(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    release = threading.Event()

    def stuck(task: str, kwargs: dict[str, Any], *, countdown: float | None = None) -> None:
        release.wait(5)

    app = create_app(make_settings(redis_server.url), enqueuer=stuck)
    with TestClient(app) as client:
        headers, body = opened("slow-1")
        response = client.post("/webhook", content=body, headers=headers)
        release.set()
    assert response.status_code == 503


def test_healthz_readyz_and_metrics(client: TestClient, redis_server: RedisServer) -> None:
    post(client, *opened("m-1"))
    post(client, *opened("m-1"))
    post(client, *signed_delivery("pull_request", OPENED, "wrong"))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    text = client.get("/metrics").text
    accepted = '{action="opened",event="pull_request",outcome="accepted"} 1.0'
    assert f"catalyst_webhook_deliveries_total{accepted}" in text
    assert 'outcome="duplicate"} 1.0' in text
    assert 'catalyst_webhook_verification_failures_total{reason="mismatch"} 1.0' in text
    assert "catalyst_webhook_enqueue_seconds_count 1.0" in text


def test_readyz_is_503_when_redis_is_down(
    own_redis_server: RedisServer, enqueuer: RecordingEnqueuer
) -> None:
    with TestClient(create_app(make_settings(own_redis_server.url), enqueuer=enqueuer)) as client:
        own_redis_server.stop()
        assert client.get("/readyz").status_code == 503
        own_redis_server.start()
        assert client.get("/readyz").status_code == 200


def test_one_structured_log_line_per_delivery(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="webhook.receiver"):
        post(client, *opened("log-1"))
    [record] = [r for r in caplog.records if r.name == "webhook.receiver"]
    fields = {k: getattr(record, k) for k in ("delivery_id", "event", "action", "repository")}
    assert fields == {
        "delivery_id": "log-1",
        "event": "pull_request",
        "action": "opened",
        "repository": "Codertocat/Hello-World",
    }
    line = vars(record)
    assert (line["outcome"], line["status"]) == ("accepted", 202)
    assert isinstance(line["ms"], float)


def test_routes_to_the_named_task(client: TestClient, enqueuer: RecordingEnqueuer) -> None:
    post(client, *opened("t-1"))
    assert [task for task, _ in enqueuer.jobs] == [jobs.TASK_PULL_REQUEST]


def test_non_string_action_on_an_event_routed_without_actions_is_not_a_crash(
    client: TestClient, enqueuer: RecordingEnqueuer
) -> None:
    push = load_example("push.event.5.json")
    headers, body = signed_delivery("push", {**push, "action": []}, SECRET)
    assert post(client, headers, body) == 202
    assert [task for task, _ in enqueuer.jobs] == [jobs.TASK_PUSH]


def test_the_incremental_verifier_agrees_with_the_whole_body_check() -> None:
    headers, body = opened()
    header = headers["X-Hub-Signature-256"]
    for secrets in ([SECRET.encode()], [b"old", SECRET.encode()], [b"other"]):
        expected = signature.header_digest(header)
        assert isinstance(expected, bytes)
        verifier = signature.Verifier(expected, secrets)
        for i in range(0, len(body), 100):
            verifier.update(body[i : i + 100])
        assert verifier.failure_reason() == signature.failure_reason(body, header, secrets)
    assert signature.header_digest(None) == "missing"
    assert signature.header_digest("sha1=abc") == "malformed"


@pytest.mark.parametrize(
    "limits",
    [Limits(large_body_bytes=1024, large_body_slots=0), Limits(max_in_flight=0)],
    ids=["large-body-slots-full", "in-flight-full"],
)
def test_a_full_receiver_answers_503_and_does_no_work(
    redis_server: RedisServer, enqueuer: RecordingEnqueuer, limits: Limits
) -> None:
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer, limits=limits)
    headers, body = signed_delivery("pull_request", {**OPENED, "pad": "x" * 2048}, SECRET)
    with TestClient(app) as client:
        assert post(client, headers, body) == 503
        assert client.get("/healthz").status_code == 200
    assert enqueuer.jobs == []
