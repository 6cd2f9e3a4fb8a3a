"""The receiver routes `check_run` (requested_action, rerequested) and `check_suite`
(rerequested) to TASK_CHECK_ACTION; other check actions need no work; a malformed one is 400."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from core import jobs
from tests.support.github import signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.webhook.conftest import SECRET

SHA = "5bd5f196a46b8222fb7484f05faba41a73cf34bd"


def check_payload(key: str, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        key: {"id": 1, "head_sha": SHA, "external_id": "catalyst:acme-shop/pr-7",
              "pull_requests": [{"number": 7}]},
        "repository": {"full_name": "octo/shop"},
        "sender": {"login": "alice", "type": "User"},
        "installation": {"id": 42},
        **extra,
    }  # fmt: skip


def post(client: TestClient, event: str, payload: dict[str, Any]) -> int:
    headers, body = signed_delivery(event, payload, SECRET)
    return int(client.post("/webhook", content=body, headers=headers).status_code)


def test_a_button_press_becomes_one_job(client: TestClient, enqueuer: RecordingEnqueuer) -> None:
    payload = check_payload(
        "check_run", "requested_action", requested_action={"identifier": "rebuild"}
    )
    assert post(client, "check_run", payload) == 202
    [(task, kwargs)] = enqueuer.jobs
    job = jobs.CheckActionJob.from_kwargs(kwargs)
    assert task == jobs.TASK_CHECK_ACTION
    assert (job.identifier, job.head_sha, job.sender, job.pr_numbers) == (
        "rebuild",
        SHA,
        "alice",
        (7,),
    )
    assert job.external_id == "catalyst:acme-shop/pr-7"


@pytest.mark.parametrize("event", ["check_run", "check_suite"])
def test_rerequested_becomes_a_job(
    client: TestClient, enqueuer: RecordingEnqueuer, event: str
) -> None:
    assert post(client, event, check_payload(event, "rerequested")) == 202
    [(task, kwargs)] = enqueuer.jobs
    assert task == jobs.TASK_CHECK_ACTION and kwargs["action"] == "rerequested"


@pytest.mark.parametrize(
    ("event", "action"), [("check_run", "created"), ("check_suite", "completed")]
)
def test_other_check_actions_need_no_work(
    client: TestClient, enqueuer: RecordingEnqueuer, event: str, action: str
) -> None:
    assert post(client, event, check_payload(event, action)) == 202
    assert enqueuer.jobs == []


def test_a_check_run_without_its_commit_is_400(
    client: TestClient, enqueuer: RecordingEnqueuer
) -> None:
    payload = check_payload("check_run", "rerequested")
    del payload["check_run"]["head_sha"]
    assert post(client, "check_run", payload) == 400
    assert enqueuer.jobs == []
