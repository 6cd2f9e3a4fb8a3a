"""Check run buttons and Re-run end to end: a signed `check_run` / `check_suite` delivery to the
real receiver → CheckActionJob → worker flow → the fakes; and `/catalyst redeploy|rebuild`
showing on GitHub at once (a new status sequence and the comment updated)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from core.jobs import TASK_CHECK_ACTION, CheckActionJob
from tests.support.fake_github import sha_of
from tests.support.github import signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.webhook.conftest import SECRET, make_settings
from tests.workers.conftest import INSTALLATION, REPO, Harness
from tests.workers.test_check_runs import ready, runs
from tests.workers.test_commands import SLUG, Receiver, env_of, grant, open_pr, replies, sticky
from tests.workers.test_commands import receiver as receiver  # the fixture, re-exported
from tests.workers.test_statuses import ENV, deployment_states
from webhook.app import create_app
from webhook.receiver import Limits
from workers.check_actions import handle_check_action

A, B = sha_of("A"), sha_of("B")


class Checks:
    """Posts check_run / check_suite deliveries and runs the jobs they enqueue."""

    def __init__(self, client: TestClient, enqueuer: RecordingEnqueuer, harness: Harness):
        self.client, self.enqueuer, self.harness = client, enqueuer, harness
        self.ids = iter(range(1, 1000))

    def press(self, identifier: str, *, sender: str = "alice", sha: str = A) -> None:
        self.deliver("check_run", self.payload("requested_action", sender, sha, identifier))

    def rerun(self, *, sender: str = "alice", sha: str = A, suite: bool = False) -> None:
        payload = self.payload("rerequested", sender, sha, None)
        if suite:
            payload["check_suite"] = payload.pop("check_run")
            payload["check_suite"].pop("external_id")
        self.deliver("check_suite" if suite else "check_run", payload)

    def payload(self, action: str, sender: str, sha: str, identifier: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action": action,
            "check_run": {
                "id": 99,
                "name": "catalyst / shop",
                "head_sha": sha,
                "external_id": f"catalyst:{self.harness.project_ns}/{ENV}",
                "status": "completed",
                "pull_requests": [{"number": 7, "head": {"sha": sha}}],
            },
            "repository": {"full_name": REPO},
            "sender": {"login": sender, "type": "User"},
            "installation": {"id": INSTALLATION},
        }
        if identifier is not None:
            body["requested_action"] = {"identifier": identifier}
        return body

    def deliver(self, event: str, payload: dict[str, Any]) -> None:
        headers, raw = signed_delivery(event, payload, SECRET)
        headers["X-GitHub-Delivery"] = f"check-delivery-{next(self.ids)}"
        response = self.client.post("/webhook", content=raw, headers=headers)
        assert response.status_code == 202, response.text
        for task, kwargs in self.enqueuer.jobs:
            assert task == TASK_CHECK_ACTION
            self.run(CheckActionJob.from_kwargs(kwargs))
        self.enqueuer.sent.clear()

    def run(self, job: CheckActionJob) -> None:
        """Run the check action flow on one job, as the worker task does."""
        self.harness.run(lambda ctx: handle_check_action(ctx, job, app_slug=SLUG))


@pytest.fixture
def checks(redis_server: RedisServer, harness: Harness) -> Iterator[Checks]:
    enqueuer = RecordingEnqueuer()
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits())
    with TestClient(app) as client:
        yield Checks(client, enqueuer, harness)


def live(harness: Harness) -> None:
    open_pr(harness)
    ready(harness, A)


@pytest.mark.parametrize(
    ("identifier", "field"), [("redeploy", "redeploy_nonce"), ("rebuild", "rebuild_nonce")]
)
def test_buttons_request_a_rollout_and_show_it_at_once(
    checks: Checks, harness: Harness, identifier: str, field: str
) -> None:
    live(harness)
    grant(harness, "alice", "write")
    checks.press(identifier)
    assert str(getattr(env_of(harness).spec, field)).startswith("check-check-delivery-")
    assert deployment_states(harness, A)[-2:] == ["success", "in_progress"]
    assert runs(harness, A)[0]["status"] == "in_progress"


@pytest.mark.parametrize("suite", [False, True])
def test_rerun_of_the_run_or_the_suite_redeploys(
    checks: Checks, harness: Harness, suite: bool
) -> None:
    live(harness)
    grant(harness, "alice", "write")
    checks.rerun(suite=suite)
    assert env_of(harness).spec.redeploy_nonce is not None


def test_a_reader_pressing_a_button_gets_one_reply_and_no_rollout(
    checks: Checks, harness: Harness
) -> None:
    live(harness)
    grant(harness, "alice", "read")
    checks.press("redeploy")
    assert env_of(harness).spec.redeploy_nonce is None
    [reply] = replies(harness)
    assert "needs **write** access" in reply and "your access is **read**" in reply


def test_no_access_presses_cost_no_write(checks: Checks, harness: Harness) -> None:
    live(harness)
    served = len(harness.github.content_writes())
    for _ in range(5):
        checks.press("redeploy", sender="stranger")
    assert len(harness.github.content_writes()) == served
    assert env_of(harness).spec.redeploy_nonce is None


def test_a_button_on_a_superseded_commit_moves_nothing(checks: Checks, harness: Harness) -> None:
    live(harness)
    grant(harness, "alice", "write")
    harness.github.state.push_pull(REPO, 7, B)
    from tests.workers.test_commands import pr_event

    pr_event(harness, "synchronize")
    checks.press("redeploy", sha=A)
    assert env_of(harness).spec.redeploy_nonce is None


def test_redeploy_command_shows_a_new_status_sequence_and_updates_the_comment(
    receiver: Receiver, harness: Harness
) -> None:
    live(harness)
    grant(harness, "alice", "write")
    before = sticky(harness)
    comment_id = receiver.comment("/catalyst redeploy")
    assert deployment_states(harness, A)[-1] == "in_progress"
    assert "Deploying" in sticky(harness) and sticky(harness) != before
    nonce = f"comment-{comment_id}"
    harness.set_status(
        ENV,
        {
            "phase": "Ready",
            "targetCommitSha": A,
            "commitSha": A,
            "url": "https://p.example/",
            "redeployNonce": nonce,
        },
    )
    from tests.workers.test_statuses import publish

    publish(harness)
    assert deployment_states(harness, A)[-3:] == ["success", "in_progress", "success"]
    harness.run_follow_ups()  # the comment edit may wait for the write budget's reserve
    assert "Ready" in sticky(harness)
    assert harness.github.redundant_writes() == []


def test_rebuild_command_shows_building_until_the_new_build_ran(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness)
    build = {"name": "web", "job": "build-web-a", "commitSha": A, "state": "Succeeded"}
    harness.set_status(
        ENV, {"phase": "Ready", "targetCommitSha": A, "commitSha": A, "builds": [build]}
    )
    from tests.workers.test_statuses import publish

    publish(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst rebuild")
    assert deployment_states(harness, A)[-1] == "in_progress"
    assert "Building" in sticky(harness)
