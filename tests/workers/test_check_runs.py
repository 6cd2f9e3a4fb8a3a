"""Check runs (`catalyst / <project>`): one per head commit, mirroring the preview, never left
in progress; and the sticky comment is only ever the App's own."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import TemporaryError
from tests.support.fake_github import check_run_problem, sha_of
from tests.workers.conftest import INSTALLATION, REPO, Harness
from tests.workers.test_commands import open_pr, set_previews
from tests.workers.test_pull_requests import deliver
from tests.workers.test_statuses import ENV, condition, opened, publish
from workers.resync import resync

NAME = "catalyst / shop"
TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def runs(harness: Harness, sha: str) -> list[dict[str, Any]]:
    return harness.github.state.check_runs_of(REPO, sha)


def ready(harness: Harness, sha: str) -> None:
    harness.set_status(
        ENV,
        {
            "phase": "Ready",
            "targetCommitSha": sha,
            "commitSha": sha,
            "url": "https://p.example/",
            "builds": [{"name": "web", "job": "build-web", "commitSha": sha, "state": "Succeeded"}],
            "conditions": [condition("Ready", "True", "RolloutComplete", "2/2 pods ready")],
        },
    )
    publish(harness)


def test_a_commit_gets_one_run_moving_to_success_with_the_url(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    [run] = runs(harness, a)
    assert (run["name"], run["status"], run["external_id"]) == (
        NAME,
        "queued",
        f"catalyst:{harness.project_ns}/{ENV}",
    )
    harness.set_status(ENV, {"phase": "Building", "targetCommitSha": a})
    publish(harness)
    assert runs(harness, a)[0]["status"] == "in_progress"
    ready(harness, a)
    [run] = runs(harness, a)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert run["details_url"] == "https://p.example/"
    assert "https://p.example/" in run["output"]["summary"]
    assert "2/2 pods ready" in run["output"]["text"]
    assert [a["identifier"] for a in run["actions"]] == ["redeploy", "rebuild"]
    assert harness.github.redundant_writes() == []


def test_a_failed_build_concludes_failure_with_its_redacted_log_tail(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    harness.set_status(
        ENV,
        {
            "phase": "Failed",
            "targetCommitSha": a,
            "message": "build web failed",
            "builds": [
                {
                    "name": "web",
                    "job": "build-web-a",
                    "commitSha": a,
                    "state": "Failed",
                    "logTail": f"step 3/9\nexport TOKEN={TOKEN}\nexit 1",
                }
            ],
        },
    )
    publish(harness)
    [run] = runs(harness, a)
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert "exit 1" in run["output"]["text"]
    assert TOKEN not in run["output"]["text"]


def test_a_pushed_commit_cancels_the_older_run_and_starts_its_own(harness: Harness) -> None:
    a, b = sha_of("A"), sha_of("B")
    opened(harness, a)
    harness.set_status(ENV, {"phase": "Building", "targetCommitSha": a})
    publish(harness)
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    [old] = runs(harness, a)
    assert (old["status"], old["conclusion"]) == ("completed", "cancelled")
    assert runs(harness, b)[0]["status"] == "queued"
    assert harness.github.redundant_writes() == []


def test_closing_the_pr_leaves_no_run_in_progress(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    harness.set_status(ENV, {"phase": "Deploying", "targetCommitSha": a})
    publish(harness)
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)
    [run] = runs(harness, a)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")


def test_every_body_we_send_is_one_github_accepts(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    ready(harness, a)
    sent = [r.body for r in harness.github.log if "/check-runs" in r.path and r.method != "GET"]
    assert sent
    for body in sent:
        assert check_run_problem(body, creating="name" in body) is None
    assert all(r.status < 400 for r in harness.github.log if "/check-runs" in r.path)


def test_a_lost_bookkeeping_finds_the_run_instead_of_creating_another(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    obj = harness.env_obj(ENV)
    assert obj is not None
    for key in ("catalyst.dev/check-runs", "catalyst.dev/check-digests"):
        obj["metadata"]["annotations"].pop(key, None)
    harness.kube.put_object(obj)
    ready(harness, a)
    [run] = runs(harness, a)
    assert run["conclusion"] == "success"


def test_a_users_comment_holding_the_marker_is_never_adopted(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    planted = harness.github.state.add_comment(
        REPO, 7, "gotcha <!-- catalyst-preview:shop -->", author="mallory"
    )
    deliver(harness, "opened", a)
    assert harness.github.state.comments[planted]["body"] == "gotcha <!-- catalyst-preview:shop -->"
    ours = [
        c
        for c in harness.github.state.comments_on(REPO, 7)
        if c["user"]["login"] == "catalyst-preview[bot]"
    ]
    assert len(ours) == 1 and a[:7] in ours[0]["body"]


def close_deploying_while_failing(harness: Harness, sha: str, method: str, path: str) -> None:
    """Open PR 7 at `sha`, Deploying, then close it while GitHub fails `method` on `path`: the
    close's teardown raises (left to the resync); GitHub is healthy again afterwards."""
    opened(harness, sha)
    harness.set_status(ENV, {"phase": "Deploying", "targetCommitSha": sha})
    publish(harness)
    harness.github.state.close_pull(REPO, 7)
    harness.github.fail(method, path, 502, times=1000)
    with pytest.raises(TemporaryError):
        deliver(harness, "closed", sha)
    harness.github.faults.clear()
    harness.github.revoke_tokens()
    harness.github.state.repo_installation[REPO] = INSTALLATION


def test_a_teardown_whose_last_publish_is_lost_is_repaired_by_the_resync(
    harness: Harness,
) -> None:
    a = sha_of("A")
    close_deploying_while_failing(harness, a, "POST", r"/statuses$")  # GitHub down then
    assert harness.environment(ENV) is None
    harness.github.state.permissions.pop("administration")  # deployments stay, inactive
    harness.run(resync)
    [deployment] = harness.github.state.deployments_of(REPO)
    assert harness.github.state.states_of(deployment["id"])[-1] == "inactive"
    [run] = runs(harness, a)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" in comment["body"]
    served = len(harness.github.content_writes())
    harness.run(resync)  # repaired once: the next pass writes nothing
    assert len(harness.github.content_writes()) == served


def test_a_teardown_retried_after_a_failed_write_completes_each_run_once(
    harness: Harness,
) -> None:
    # under load the e2e PR life saw "Preview torn down" PATCHed four times: each retry of the
    # teardown (a later write refused) completed the run again, its digest never saved
    a = sha_of("A")
    close_deploying_while_failing(harness, a, "PATCH", r"/issues/comments/\d+$")  # the comment
    harness.run(resync)  # the pending teardown is finished, the run already completed
    harness.run(resync)
    [run] = runs(harness, a)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" in comment["body"]
    assert harness.github.redundant_writes() == []


def test_policy_without_a_preview_shows_skipped_neutral_or_queued(harness: Harness) -> None:
    set_previews(harness, maxEnvironments=1)
    open_pr(harness, 7, sha_of("A"), draft=True)
    [draft] = runs(harness, sha_of("A"))
    assert (draft["status"], draft["conclusion"]) == ("completed", "skipped")
    assert "draft" in draft["output"]["summary"].lower()
    open_pr(harness, 8, sha_of("B"), fork=True)
    [fork] = runs(harness, sha_of("B"))
    assert (fork["status"], fork["conclusion"]) == ("completed", "neutral")
    assert "/catalyst deploy" in fork["output"]["summary"]
    open_pr(harness, 9, sha_of("C"))
    open_pr(harness, 10, sha_of("D"))  # the one slot is taken by #9
    [waiting] = runs(harness, sha_of("D"))
    assert waiting["status"] == "queued" and "queue" in waiting["output"]["summary"]
    served = len(harness.github.content_writes())
    open_pr(harness, 10, sha_of("D"))  # looked at again: nothing new to show
    assert len(harness.github.content_writes()) == served
