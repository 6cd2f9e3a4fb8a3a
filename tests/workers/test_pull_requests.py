"""PR flows end to end against the fakes: upsert, out-of-order pushes, teardown, reopen."""

from __future__ import annotations

from core import naming
from core.jobs import PullRequestJob
from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, Harness
from workers.admission import handle_pull_request
from workers.comments import report_failure
from workers.context import Context
from workers.statuses import publish_status

ENV = "pr-7"
GH_ENV = f"{PROJECT}/pr-7"


def job(action: str, sha: str = "") -> PullRequestJob:
    return PullRequestJob(
        delivery_id=f"d-{action}-{sha[:4]}",
        installation_id=INSTALLATION,
        repository=REPO,
        pr_number=7,
        action=action,
        head_sha=sha,
    )


def deliver(harness: Harness, action: str, sha: str = "") -> None:
    harness.run(lambda ctx: handle_pull_request(ctx, job(action, sha)))


def test_opened_creates_environment_deployment_queued_status_and_comment(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a, branch="feat/x")
    deliver(harness, "opened", a)

    env = harness.environment(ENV)
    assert env is not None
    assert env.metadata.labels is not None
    assert env.metadata.labels[naming.LABEL_PROJECT] == PROJECT
    assert env.metadata.labels[naming.LABEL_ENVIRONMENT] == ENV
    assert env.spec.type == "development" and env.spec.project_ref.name == PROJECT
    source = env.primary_source
    assert (source.commit_sha, source.branch, source.pr_number) == (a, "feat/x", 7)
    assert env.spec.github is not None and env.spec.github.installation_id == INSTALLATION
    [deployment] = harness.github.state.deployments_of(REPO)
    assert deployment["environment"] == GH_ENV and deployment["sha"] == a
    assert deployment["transient_environment"] is True
    assert deployment["production_environment"] is False
    assert deployment["auto_merge"] is False and deployment["required_contexts"] == []
    assert deployment["payload"]["catalyst"]["environment"] == ENV
    assert harness.github.state.states_of(deployment["id"]) == ["queued"]
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert f"<!-- catalyst-preview:{PROJECT} -->" in comment["body"]
    assert a[:7] in comment["body"] and harness.project_ns not in ("",)


def test_running_twice_or_redelivering_changes_nothing(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    writes_before = len(harness.github.content_writes())
    version = harness.env_obj(ENV)
    deliver(harness, "opened", a)
    deliver(harness, "opened", a)
    assert len(harness.github.content_writes()) == writes_before
    after = harness.env_obj(ENV)
    assert version is not None and after is not None
    assert after["metadata"]["resourceVersion"] == version["metadata"]["resourceVersion"]


def test_synchronize_in_order_and_out_of_order_ends_at_newest(harness: Harness) -> None:
    a, b = sha_of("A"), sha_of("B")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    harness.set_status(ENV, {"phase": "Building", "targetCommitSha": a})
    harness.github.state.push_pull(REPO, 7, b)
    deliver(harness, "synchronize", b)
    # The late event for A arrives after B: GitHub says B, and A is superseded.
    deliver(harness, "synchronize", a)
    env = harness.environment(ENV)
    assert env is not None and env.primary_source.commit_sha == b
    # The reconciler finishes A late: A must never show success.
    harness.set_status(
        ENV, {"phase": "Ready", "targetCommitSha": a, "commitSha": a, "url": "https://old.example/"}
    )
    deliver(harness, "synchronize", b)
    by_sha = {d["sha"]: d["id"] for d in harness.github.state.deployments_of(REPO)}
    assert "success" not in harness.github.state.states_of(by_sha[a])
    assert harness.github.state.states_of(by_sha[b]) == ["queued"]


def test_closed_then_late_synchronize_then_reopened(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    harness.set_status(
        ENV,
        {"phase": "Ready", "targetCommitSha": a, "commitSha": a, "url": "https://pr-7.example/"},
    )
    deliver(harness, "synchronize", a)
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)

    assert harness.environment(ENV) is None
    assert harness.github.state.deployments_of(REPO) == []  # deleted: Administration write
    assert (REPO, GH_ENV) in harness.github.state.environments_deleted
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" in comment["body"]

    writes = len(harness.github.content_writes())
    deliver(harness, "synchronize", a)
    assert harness.environment(ENV) is None
    assert len(harness.github.content_writes()) == writes

    harness.github.state.reopen_pull(REPO, 7)
    deliver(harness, "reopened", a)
    env = harness.environment(ENV)
    assert env is not None and env.primary_source.commit_sha == a
    assert len(harness.github.state.comments_on(REPO, 7)) == 1


def test_teardown_waits_for_the_finalizer_and_survives_a_redis_flush(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    obj = harness.env_obj(ENV)
    assert obj is not None
    obj["metadata"]["finalizers"] = [naming.FINALIZER]
    harness.kube.put_object(obj)
    harness.set_status(ENV, {"phase": "Ready", "targetCommitSha": a, "url": "https://p.example/"})
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)

    deleting = harness.environment(ENV)
    assert deleting is not None and deleting.metadata.deletion_timestamp
    [deployment] = harness.github.state.deployments_of(REPO)
    assert harness.github.state.states_of(deployment["id"])[-1] == "success"
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "Deleting" in comment["body"]

    # The reconciler finishes, Redis loses everything, then it reports the Environment gone.
    harness.kube.remove_finalizers("environments", ENV, harness.project_ns)
    harness.github.state.repo_installation[REPO] = INSTALLATION
    _flush(harness)
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))
    assert harness.github.state.deployments_of(REPO) == []
    assert "torn down" in harness.github.state.comments_on(REPO, 7)[0]["body"]


def _flush(harness: Harness) -> None:
    async def flush(ctx: Context) -> None:
        await ctx.redis.flushall()

    harness.run(flush)


def test_garbled_bookkeeping_annotations_are_treated_as_unknown(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    obj = harness.env_obj(ENV)
    assert obj is not None
    obj["metadata"]["annotations"].update(
        {
            "catalyst.dev/deployments": "{not json",
            "catalyst.dev/published": "[1]",
            "catalyst.dev/superseded": "42",
            "catalyst.dev/comment-id": "abc",
        }
    )
    harness.kube.put_object(obj)
    deliver(harness, "opened", a)
    # GitHub is asked instead: still one deployment, one queued status, one comment.
    [deployment] = harness.github.state.deployments_of(REPO)
    assert harness.github.state.states_of(deployment["id"]) == ["queued"]
    assert len(harness.github.state.comments_on(REPO, 7)) == 1


def test_failure_report_edits_the_comment_without_secrets(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    reason = "Kubernetes 500 talking to https://admin:hunter22@kube.example"
    harness.run(lambda ctx: report_failure(ctx, job("synchronize", a), reason))
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "Sync failed" in comment["body"] and "Kubernetes 500" in comment["body"]
    assert "hunter22" not in comment["body"]
    # The next successful publish restores the normal view.
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))
    assert "Sync failed" not in harness.github.state.comments_on(REPO, 7)[0]["body"]
