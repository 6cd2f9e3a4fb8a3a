"""publish_status against the fakes: each phase, no duplicate posts, superseded commits dropped."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import TemporaryError
from tests.support.fake_github import sha_of
from tests.workers.conftest import REPO, Harness
from tests.workers.test_pull_requests import deliver
from workers.statuses import publish_status

ENV = "pr-7"
NOW = "2026-11-26T10:00:00Z"


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": NOW,
    }


def publish(harness: Harness) -> None:
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))


def deployment_states(harness: Harness, sha: str) -> list[str]:
    [deployment] = [d for d in harness.github.state.deployments_of(REPO) if d["sha"] == sha]
    return harness.github.state.states_of(deployment["id"])


def opened(harness: Harness, sha: str) -> None:
    harness.github.state.open_pull(REPO, 7, sha)
    deliver(harness, "opened", sha)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({"phase": "Pending"}, ["queued"], id="pending"),
        pytest.param({"phase": "Building"}, ["queued", "in_progress"], id="building"),
        pytest.param({"phase": "Deploying"}, ["queued", "in_progress"], id="deploying"),
        pytest.param(
            {"phase": "Ready", "url": "https://p.example/"}, ["queued", "success"], id="ready"
        ),
        pytest.param(
            {
                "phase": "Failed",
                "message": "Dockerfile: no such file",
                "conditions": [condition("Built", "False", "BuildFailed", "x")],
            },
            ["queued", "failure"],
            id="failed-user",
        ),
        pytest.param(
            {
                "phase": "Failed",
                "message": "quota exceeded",
                "conditions": [condition("Deployed", "False", "QuotaExceeded", "q")],
            },
            ["queued", "error"],
            id="failed-platform",
        ),
    ],
)
def test_each_phase_maps_to_one_deployment_status(
    harness: Harness, status: dict[str, Any], expected: list[str]
) -> None:
    a = sha_of("A")
    opened(harness, a)
    harness.set_status(ENV, {"targetCommitSha": a, "namespace": "acme-shop-pr-7", **status})
    publish(harness)
    publish(harness)  # the same state again: nothing more is posted
    assert deployment_states(harness, a) == expected


def test_ready_posts_environment_and_log_urls_and_comment_shows_url(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    harness.set_status(
        ENV,
        {
            "phase": "Ready",
            "targetCommitSha": a,
            "commitSha": a,
            "url": "https://acme-shop-pr-7.preview.example/",
            "namespace": "acme-shop-pr-7",
            "builds": [
                {"name": "web", "job": "build-web-abc1234", "commitSha": a, "state": "Succeeded"}
            ],
            "conditions": [condition("Ready", "True", "RolloutComplete")],
        },
    )
    publish(harness)
    [deployment] = harness.github.state.deployments_of(REPO)
    last = harness.github.state.statuses[deployment["id"]][-1]
    assert last["environment_url"] == "https://acme-shop-pr-7.preview.example/"
    assert last["log_url"] == "https://logs.example/acme-shop-pr-7/build-web-abc1234"
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "https://acme-shop-pr-7.preview.example/" in comment["body"]
    assert "Ready" in comment["body"]


def test_failure_comment_shows_reason_without_secrets(harness: Harness) -> None:
    a = sha_of("A")
    opened(harness, a)
    message = (
        "step 3 failed: token=ghp_abcdefghijklmnopqrstuvwxyz012345\n"
        "Traceback (most recent call last):\n  File 'x.py'"
    )
    harness.set_status(ENV, {"phase": "Failed", "targetCommitSha": a, "message": message})
    publish(harness)
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "step 3 failed" in comment["body"]
    assert "ghp_" not in comment["body"] and "Traceback" not in comment["body"]
    [deployment] = harness.github.state.deployments_of(REPO)
    last = harness.github.state.statuses[deployment["id"]][-1]
    assert len(last["description"]) < 140 and "ghp_" not in last["description"]


def test_newer_success_inactivates_older_and_superseded_results_are_dropped(
    harness: Harness,
) -> None:
    a, b = sha_of("A"), sha_of("B")
    opened(harness, a)
    harness.set_status(
        ENV, {"phase": "Ready", "targetCommitSha": a, "commitSha": a, "url": "https://p.example/"}
    )
    publish(harness)
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    # The reconciler still reports A (old pods serving): nothing is posted for A or as B success.
    publish(harness)
    assert deployment_states(harness, a) == ["queued", "success"]
    assert deployment_states(harness, b) == ["queued"]
    harness.set_status(ENV, {"phase": "Deploying", "targetCommitSha": b, "commitSha": a})
    publish(harness)
    harness.set_status(
        ENV, {"phase": "Ready", "targetCommitSha": b, "commitSha": b, "url": "https://p.example/"}
    )
    publish(harness)
    publish(harness)
    assert deployment_states(harness, b) == ["queued", "in_progress", "success"]
    assert deployment_states(harness, a) == ["queued", "success", "inactive"]


def test_comment_is_found_by_marker_on_a_later_page(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    for i in range(65):
        harness.github.state.comments[i] = {"id": i, "repo": REPO, "issue": 7, "body": f"n{i}"}
    harness.github.state.comments[500] = {
        "id": 500,
        "repo": REPO,
        "issue": 7,
        "body": "old\n<!-- catalyst-preview:shop -->",
        "user": {"login": "catalyst-preview[bot]", "type": "Bot"},
    }
    deliver(harness, "opened", a)
    ours = [c for c in harness.github.state.comments_on(REPO, 7) if "catalyst-preview" in c["body"]]
    assert [c["id"] for c in ours] == [500]
    assert a[:7] in ours[0]["body"]


def test_a_whole_pr_life_writes_nothing_github_already_shows(harness: Harness) -> None:
    shas = [sha_of(f"life-{i}") for i in range(3)]
    opened(harness, shas[0])
    for index, sha in enumerate(shas):
        if index:
            harness.github.state.push_pull(REPO, 7, sha)
            deliver(harness, "synchronize", sha)
        for phase in ("Building", "Deploying", "Ready"):
            harness.set_status(
                ENV, {"phase": phase, "targetCommitSha": sha, "url": "https://p.example/"}
            )
            publish(harness)
            publish(harness)
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", shas[-1])
    assert harness.github.redundant_writes() == []
    assert harness.github.state.mints == {42: 1}


def ready(harness: Harness, sha: str) -> None:
    """The reconciler reports `sha` live and Ready."""
    harness.set_status(
        ENV, {"phase": "Ready", "targetCommitSha": sha, "commitSha": sha, "url": "https://p/"}
    )


def test_a_deployment_no_cr_recorded_is_retired_once_a_newer_head_is_ready(
    harness: Harness,
) -> None:
    """The e2e Redis-restart defect: a worker created A's deployment, then lost the CR write.

    Here GitHub stores the create and the worker sees a timeout; the PR moves to B before any
    retry, so the Environment is first created at B and no bookkeeping ever named A's deployment
    (which never got a status). B's success must still retire it.
    """
    a, b = sha_of("A"), sha_of("B")
    harness.github.state.open_pull(REPO, 7, a)
    harness.github.fail("POST", r"/deployments$", after_store=True)
    with pytest.raises(TemporaryError):
        deliver(harness, "opened", a)
    assert harness.environment(ENV) is None and deployment_states(harness, a) == []
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    ready(harness, b)
    publish(harness)
    publish(harness)
    assert deployment_states(harness, b) == ["queued", "success"]
    assert deployment_states(harness, a) == ["inactive"]
    assert harness.github.redundant_writes() == []


def test_a_stray_between_two_recorded_heads_is_retired_too(harness: Harness) -> None:
    """A's deployment is on the CR; B's was created but the move to B was lost; then C."""
    a, b, c = sha_of("A"), sha_of("B"), sha_of("C")
    opened(harness, a)
    ready(harness, a)
    publish(harness)
    harness.github.state.push_pull(REPO, 7, b)
    harness.github.fail("POST", r"/deployments$", after_store=True)
    with pytest.raises(TemporaryError):
        deliver(harness, "synchronize", b)
    env = harness.environment(ENV)
    assert env is not None and env.primary_source.commit_sha == a
    harness.github.state.push_pull(REPO, 7, c)
    deliver(harness, "synchronize", c)
    ready(harness, c)
    publish(harness)
    assert deployment_states(harness, a) == ["queued", "success", "inactive"]
    assert deployment_states(harness, b) == ["inactive"]
    assert deployment_states(harness, c)[-1] == "success"
    assert harness.github.redundant_writes() == []


def test_a_reopened_pr_does_not_inactivate_retired_deployments_again(harness: Harness) -> None:
    """A new CR adopts the deployments GitHub still lists, but posts nothing they already show."""
    a, b = sha_of("A"), sha_of("B")
    del harness.github.state.permissions["administration"]  # retired deployments stay listed
    opened(harness, a)
    ready(harness, a)
    publish(harness)
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)
    assert harness.environment(ENV) is None
    assert deployment_states(harness, a) == ["queued", "success", "inactive"]
    harness.github.state.open_pull(REPO, 7, b)
    deliver(harness, "reopened", b)
    ready(harness, b)
    publish(harness)
    assert deployment_states(harness, b)[-1] == "success"
    assert deployment_states(harness, a) == ["queued", "success", "inactive"]
    assert harness.github.redundant_writes() == []


def test_a_commit_deployed_long_ago_is_found_beyond_the_newest_page(harness: Harness) -> None:
    """More than one page of deployments: the head's own is still found, never made twice."""
    a = sha_of("A")
    state = harness.github.state
    for index in range(101):  # A's deployment first, then a long history of other commits
        deployment_id = next(state.ids)
        sha = a if index == 0 else sha_of(f"old-{index}")
        state.deployments[deployment_id] = {
            "id": deployment_id,
            "repo": REPO,
            "sha": sha,
            "ref": sha,
            "environment": "shop/pr-7",
        }
        state.statuses[deployment_id] = [{"state": "inactive"}] if index else []
    opened(harness, a)
    assert len([d for d in state.deployments_of(REPO) if d["sha"] == a]) == 1
    assert deployment_states(harness, a) == ["queued"]
