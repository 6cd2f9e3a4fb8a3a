"""Every vendored octokit example, signed and posted: handled ones enqueue one right job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from core import jobs
from tests.support.github import example_event, example_paths, signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.webhook.conftest import SECRET

# Decided by reading each example: preview-relevant PR actions, branch pushes and installation
# bookkeeping of App deliveries (those carrying `installation`), and the /catalyst comment.
HANDLED = {
    "installation.created.1.json": jobs.TASK_INSTALLATION,
    "installation.created.2.json": jobs.TASK_INSTALLATION,
    "installation.deleted.1.json": jobs.TASK_INSTALLATION,
    "installation.deleted.2.json": jobs.TASK_INSTALLATION,
    "installation.new_permissions_accepted.1.json": jobs.TASK_INSTALLATION,
    "installation.suspend.1.json": jobs.TASK_INSTALLATION,
    "installation.unsuspend.1.json": jobs.TASK_INSTALLATION,
    "installation_repositories.added.1.json": jobs.TASK_INSTALLATION,
    "installation_repositories.added.2.json": jobs.TASK_INSTALLATION,
    "installation_repositories.removed.1.json": jobs.TASK_INSTALLATION,
    "pull_request.closed.1.json": jobs.TASK_PULL_REQUEST,
    "pull_request.closed.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.converted_to_draft.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.labeled.1.json": jobs.TASK_PULL_REQUEST,
    "pull_request.labeled.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.opened.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.opened.3.json": jobs.TASK_PULL_REQUEST,
    "pull_request.opened.4.json": jobs.TASK_PULL_REQUEST,
    "pull_request.ready_for_review.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.reopened.1.json": jobs.TASK_PULL_REQUEST,
    "pull_request.reopened.2.json": jobs.TASK_PULL_REQUEST,
    "pull_request.synchronize.1.json": jobs.TASK_PULL_REQUEST,
    "pull_request.unlabeled.1.json": jobs.TASK_PULL_REQUEST,
    "pull_request.unlabeled.2.json": jobs.TASK_PULL_REQUEST,
    "push.event.5.json": jobs.TASK_PUSH,
    "push.event.6.json": jobs.TASK_PUSH,
    "variant.issue_comment.created.command.json": jobs.TASK_COMMENT,
    "variant.pull_request.closed.merged.json": jobs.TASK_PULL_REQUEST,
    "variant.pull_request.edited.base.json": jobs.TASK_PULL_REQUEST,
    "variant.push.branch-deleted.json": jobs.TASK_PUSH,
}
ALL = example_paths()
NON_PING = [p for p in ALL if example_event(p) != "ping"]


def expected_kwargs(task: str, payload: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """The job fields read straight from the payload (independently of webhook.payloads)."""
    common = {"delivery_id": delivery_id, "installation_id": payload["installation"]["id"]}
    if task == jobs.TASK_PULL_REQUEST:
        pr = payload["pull_request"]
        return {
            **common,
            "repository": payload["repository"]["full_name"],
            "pr_number": pr["number"],
            "action": payload["action"],
            "head_sha": pr["head"]["sha"],
            "label": payload.get("label", {}).get("name"),
            "merged": pr["merged"],
        }
    if task == jobs.TASK_PUSH:
        return {
            **common,
            "repository": payload["repository"]["full_name"],
            "branch": payload["ref"].removeprefix("refs/heads/"),
            "after_sha": payload["after"],
            "deleted": payload["deleted"],
        }
    if task == jobs.TASK_COMMENT:
        return {
            **common,
            "repository": payload["repository"]["full_name"],
            "pr_number": payload["issue"]["number"],
            "comment_id": payload["comment"]["id"],
            "author": payload["comment"]["user"]["login"],
            "author_type": "User",
            "body": payload["comment"]["body"],
            "created_at": payload["comment"].get("created_at"),
        }
    return installation_kwargs(payload, common)


def installation_kwargs(payload: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    names = {
        key: tuple(r["full_name"] for r in payload.get(key, []))
        for key in ("repositories", "repositories_added", "repositories_removed")
    }
    action = payload["action"]
    added = names["repositories_added"] or (names["repositories"] if action == "created" else ())
    removed = names["repositories_removed"] or (
        names["repositories"] if action == "deleted" else ()
    )
    return {
        **common,
        "action": action,
        "repositories_added": added,
        "repositories_removed": removed,
    }


def post_example(client: TestClient, path: Path, delivery_id: str) -> int:
    headers, body = signed_delivery(
        example_event(path), path.read_bytes(), SECRET, delivery_id=delivery_id
    )
    return int(client.post("/webhook", content=body, headers=headers).status_code)


def test_every_handled_example_is_vendored() -> None:
    names = {p.name for p in ALL}
    assert set(HANDLED) <= names
    assert {"pull_request", "push", "issue_comment", "installation", "ping"} <= {
        example_event(p) for p in ALL
    }


@pytest.mark.parametrize("path", NON_PING, ids=lambda p: p.name)
def test_example_enqueues_exactly_its_job(
    client: TestClient, enqueuer: RecordingEnqueuer, path: Path
) -> None:
    delivery_id = f"delivery-{path.stem}"
    status = post_example(client, path, delivery_id)
    task = HANDLED.get(path.name)
    if task is None:
        assert (status, enqueuer.jobs) == (202, [])
        return
    assert status == 202
    expected = expected_kwargs(task, json.loads(path.read_bytes()), delivery_id)
    assert enqueuer.jobs == [(task, expected)]


@pytest.mark.parametrize("path", example_paths("ping"), ids=lambda p: p.name)
def test_ping_answers_200_without_work(
    client: TestClient, enqueuer: RecordingEnqueuer, path: Path
) -> None:
    assert post_example(client, path, "ping-1") == 200
    assert enqueuer.jobs == []


def test_merged_close_carries_merged_flag(client: TestClient, enqueuer: RecordingEnqueuer) -> None:
    [merged] = [p for p in ALL if p.name == "variant.pull_request.closed.merged.json"]
    assert post_example(client, merged, "merged-1") == 202
    [(task, kwargs)] = enqueuer.jobs
    assert (task, kwargs["action"], kwargs["merged"]) == (jobs.TASK_PULL_REQUEST, "closed", True)
