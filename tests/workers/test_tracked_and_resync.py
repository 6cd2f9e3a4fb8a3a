"""Tracked-branch pushes and deletions; the periodic resync repairing missed webhooks."""

from __future__ import annotations

from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, Harness
from tests.workers.conftest import push_branch as push
from workers.resync import resync


def test_tracked_branch_push_upserts_deployment_environment(harness: Harness) -> None:
    a, b = sha_of("main-A"), sha_of("main-B")
    harness.github.state.branches[(REPO, "main")] = a
    push(harness, a)
    harness.github.state.branches[(REPO, "main")] = b
    push(harness, b)
    env = harness.environment("staging")
    assert env is not None and env.spec.type == "deployment"
    assert env.primary_source.commit_sha == b and env.primary_source.branch == "main"
    deployments = harness.github.state.deployments_of(REPO, "staging")
    assert [d["sha"] for d in deployments] == [a, b]
    assert all(d["transient_environment"] is False for d in deployments)
    assert harness.github.state.comments == {}


def test_push_to_untracked_branch_does_nothing(harness: Harness) -> None:
    harness.github.state.branches[(REPO, "feature")] = sha_of("F")
    push(harness, sha_of("F"), branch="feature")
    assert harness.environment("staging") is None
    assert harness.github.content_writes() == []


def test_tracked_branch_deletion_tears_down(harness: Harness) -> None:
    a = sha_of("main-A")
    harness.github.state.branches[(REPO, "main")] = a
    push(harness, a)
    del harness.github.state.branches[(REPO, "main")]
    push(harness, "0" * 40, deleted=True)
    assert harness.environment("staging") is None
    assert harness.github.state.deployments_of(REPO, "staging") == []
    assert (REPO, "staging") in harness.github.state.environments_deleted


def test_resync_repairs_a_pr_whose_webhook_never_arrived(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 9, a)
    harness.github.state.repo_installation[REPO] = INSTALLATION
    harness.run(resync)
    env = harness.environment("pr-9")
    assert env is not None and env.primary_source.commit_sha == a
    assert [d["environment"] for d in harness.github.state.deployments_of(REPO)] == [
        f"{PROJECT}/pr-9"
    ]
    # A second pass changes nothing.
    writes = len(harness.github.content_writes())
    harness.run(resync)
    assert len(harness.github.content_writes()) == writes


def test_resync_tears_down_previews_of_prs_closed_while_webhooks_were_lost(
    harness: Harness,
) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 9, a)
    harness.github.state.repo_installation[REPO] = INSTALLATION
    harness.run(resync)
    harness.github.state.close_pull(REPO, 9, merged=True)
    harness.run(resync)
    assert harness.environment("pr-9") is None


def test_failed_deliveries_are_redelivered_at_most_once(harness: Harness) -> None:
    harness.github.state.deliveries = [
        {"id": 1, "guid": "g-1", "status": "Invalid HTTP Response: 503", "status_code": 503},
        {"id": 2, "guid": "g-2", "status": "OK", "status_code": 202},
        {"id": 3, "guid": "g-3", "status": "timed out", "status_code": 0},
    ]
    harness.run(resync)
    harness.run(resync)
    assert harness.github.state.redelivered == [1, 3]


def _with_ttl(harness: Harness, ttl: str, max_environments: int | None = None) -> None:
    previews: dict[str, object] = {"ttl": ttl}
    if max_environments:
        previews["maxEnvironments"] = max_environments
    harness.put_project(previews=previews)
    harness.github.state.repo_installation[REPO] = INSTALLATION


def test_resync_suspends_previews_idle_longer_than_the_ttl(harness: Harness) -> None:
    _with_ttl(harness, "2h")
    harness.github.state.open_pull(REPO, 9, sha_of("A"))
    harness.run(resync)
    harness.clock.advance(3600)
    harness.run(resync)
    env = harness.environment("pr-9")
    assert env is not None and not env.spec.suspended  # idle 1h < 2h
    harness.clock.advance(2 * 3600)
    harness.run(resync)
    env = harness.environment("pr-9")
    assert env is not None and env.spec.suspended
    # Idempotent: another pass writes nothing to GitHub.
    writes = len(harness.github.content_writes())
    harness.run(resync)
    assert len(harness.github.content_writes()) == writes


def test_a_push_brings_an_expired_preview_back(harness: Harness) -> None:
    _with_ttl(harness, "30m")
    harness.github.state.open_pull(REPO, 9, sha_of("A"))
    harness.run(resync)
    harness.clock.advance(3600)
    harness.run(resync)
    harness.github.state.push_pull(REPO, 9, sha_of("B"))
    harness.run(resync)
    env = harness.environment("pr-9")
    assert env is not None and not env.spec.suspended
    assert env.primary_source.commit_sha == sha_of("B")


def test_an_expired_preview_frees_its_slot_for_a_waiting_pr(harness: Harness) -> None:
    _with_ttl(harness, "1h", max_environments=1)
    harness.github.state.open_pull(REPO, 9, sha_of("A"))
    harness.run(resync)
    harness.clock.advance(1800)
    harness.github.state.open_pull(REPO, 10, sha_of("B"))
    harness.run(resync)
    assert harness.environment("pr-10") is None  # waits: the only slot is taken
    harness.clock.advance(2400)  # PR 9 idle 70 min, PR 10 idle 40 min
    harness.run(resync)
    nine, ten = harness.environment("pr-9"), harness.environment("pr-10")
    assert nine is not None and nine.spec.suspended
    assert ten is not None and not ten.spec.suspended


def test_no_ttl_means_previews_never_expire(harness: Harness) -> None:
    harness.github.state.repo_installation[REPO] = INSTALLATION
    harness.github.state.open_pull(REPO, 9, sha_of("A"))
    harness.run(resync)
    harness.clock.advance(365 * 86400)
    harness.run(resync)
    env = harness.environment("pr-9")
    assert env is not None and not env.spec.suspended
