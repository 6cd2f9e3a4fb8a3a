"""Fuzz: no input, signed or not, makes the receiver answer 5xx while Redis is up."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from core.signing import sign
from tests.support.github import load_example
from tests.support.queue import RecordingEnqueuer
from tests.webhook.conftest import SECRET

EVENTS = ["pull_request", "push", "issue_comment", "installation", "installation_repositories"]
EXAMPLES = [
    load_example("pull_request.opened.2.json"),
    load_example("push.event.5.json"),
    load_example("variant.issue_comment.created.command.json"),
    load_example("installation_repositories.added.1.json"),
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated_example(draw: st.DrawFn) -> bytes:
    """A real payload with one top-level or nested field replaced by random JSON."""
    payload: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))
    target = payload
    for _ in range(draw(st.integers(0, 2))):
        nested = [k for k, v in target.items() if isinstance(v, dict)]
        if not nested:
            break
        target = target[draw(st.sampled_from(nested))]
    key = draw(st.sampled_from([*target.keys(), "action", "installation"]))
    if draw(st.booleans()):
        target[key] = draw(JSON_VALUES)
    else:
        target.pop(key, None)
    return json.dumps(payload).encode()


BODIES = (
    st.binary(max_size=200) | mutated_example() | JSON_VALUES.map(lambda v: json.dumps(v).encode())
)


@st.composite
def delivery(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    """Random headers and body; often correctly signed so the fuzz reaches the router."""
    body = draw(BODIES)
    headers = {
        "Content-Type": draw(st.sampled_from(["application/json", "text/plain", ""])),
        "X-GitHub-Event": draw(st.sampled_from([*EVENTS, "ping", "", "x"]) | st.text(max_size=8)),
        "X-GitHub-Delivery": draw(st.uuids().map(str) | st.text(max_size=120)),
    }
    signature = draw(
        st.sampled_from(["valid", "valid", "garbage", "none"]).map(
            lambda kind: {"valid": sign(body, SECRET.encode()), "garbage": "sha256=zz"}.get(kind)
        )
    )
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return {k: v for k, v in headers.items() if v.isascii() and v.isprintable()}, body


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery())
def test_no_input_yields_a_5xx(
    client: TestClient, enqueuer: RecordingEnqueuer, case: tuple[dict[str, str], bytes]
) -> None:
    headers, body = case
    response = client.post("/webhook", content=body, headers=headers)
    assert response.status_code in {200, 202, 400, 401, 413, 415}
