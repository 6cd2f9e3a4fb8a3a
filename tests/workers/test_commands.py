"""Comment commands end to end: receiver → CommentJob → worker flow → fake API server + GitHub.

Each test posts a signed `issue_comment` delivery to the real receiver app (recording enqueuer),
then runs the worker flow on the job it produced, and asserts what GitHub and the cluster hold.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from core.jobs import TASK_COMMENT, CommentJob, PullRequestJob
from core.model import Environment
from tests.support.fake_github import sha_of
from tests.support.github import load_example, signed_delivery
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.webhook.conftest import SECRET, make_settings
from tests.workers.conftest import INSTALLATION, REPO, Harness
from webhook.app import create_app
from webhook.receiver import Limits
from workers.admission import APPROVED_SHA, handle_pull_request
from workers.commands import handle_comment

SLUG = "catalyst-preview"
ENV = "pr-7"
A, B = sha_of("A"), sha_of("B")
_EXAMPLE = load_example("variant.issue_comment.created.command.json")


class Receiver:
    """The webhook receiver plus the worker: post a comment, run the jobs it enqueued."""

    def __init__(self, client: TestClient, enqueuer: RecordingEnqueuer, harness: Harness):
        self.client, self.enqueuer, self.harness = client, enqueuer, harness
        self.ids = iter(range(5000, 6000))

    def comment(
        self,
        body: str,
        *,
        author: str = "alice",
        author_type: str = "User",
        pr: int = 7,
        action: str = "created",
    ) -> int:
        """Deliver a comment and run whatever it enqueued; returns the comment id."""
        comment_id = next(self.ids)
        payload = comment_payload(body, author, author_type, pr, comment_id, action)
        payload["comment"]["created_at"] = iso(self.harness.clock.time())
        headers, raw = signed_delivery("issue_comment", payload, SECRET)
        response = self.client.post("/webhook", content=raw, headers=headers)
        assert response.status_code in (200, 202), response.text
        for task, kwargs in self.enqueuer.jobs:
            assert task == TASK_COMMENT
            self.run(CommentJob.from_kwargs(kwargs))
        self.enqueuer.sent.clear()
        return comment_id

    def run(self, job: CommentJob) -> None:
        """Run the comment flow on one job, as the worker task does."""
        self.harness.run(lambda ctx: handle_comment(ctx, job, app_slug=SLUG))


def iso(epoch: float) -> str:
    """A GitHub-style timestamp."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def comment_payload(
    body: str, author: str, author_type: str, pr: int, comment_id: int, action: str
) -> dict[str, Any]:
    """A real `issue_comment` example rewritten for our repository and PR."""
    payload = copy.deepcopy(_EXAMPLE)
    payload["action"] = action
    payload["installation"] = {"id": INSTALLATION}
    payload["repository"]["full_name"] = REPO
    payload["issue"]["number"] = pr
    payload["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{pr}"}
    payload["comment"].update(id=comment_id, body=body)
    payload["comment"]["user"].update(login=author, type=author_type)
    return payload


@pytest.fixture
def receiver(redis_server: RedisServer, harness: Harness) -> Iterator[Receiver]:
    enqueuer = RecordingEnqueuer()
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits())
    with TestClient(app) as client:
        yield Receiver(client, enqueuer, harness)


def set_previews(harness: Harness, **previews: Any) -> None:
    harness.put_project(previews=previews)


def grant(harness: Harness, user: str, level: str) -> None:
    harness.github.state.collaborators[(REPO, user)] = level


def pr_event(harness: Harness, action: str, number: int = 7) -> None:
    sha = harness.github.state.pulls[(REPO, number)]["head"]["sha"]
    job = PullRequestJob(f"d-{action}-{number}-{sha[:4]}", INSTALLATION, REPO, number, action, sha)
    harness.run(lambda ctx: handle_pull_request(ctx, job))


def open_pr(harness: Harness, number: int = 7, sha: str = A, **kwargs: Any) -> None:
    harness.github.state.open_pull(REPO, number, sha, **kwargs)
    pr_event(harness, "opened", number)


def replies(harness: Harness, pr: int = 7) -> list[str]:
    """Our replies on the PR (not the sticky comment)."""
    bodies = [c["body"] for c in harness.github.state.comments_on(REPO, pr)]
    return [b for b in bodies if "<!-- catalyst-preview:" not in b]


def sticky(harness: Harness, pr: int = 7) -> str:
    [body] = [
        str(c["body"])
        for c in harness.github.state.comments_on(REPO, pr)
        if "<!-- catalyst-preview:" in c["body"]
    ]
    return body


def reactions(harness: Harness, comment_id: int) -> list[str]:
    return [r["content"] for r in harness.github.state.reactions if r["comment_id"] == comment_id]


def env_of(harness: Harness, name: str = ENV) -> Environment:
    env = harness.environment(name)
    assert env is not None
    return env


# --- verbs ----------------------------------------------------------------------------------------


def test_help_reacts_and_replies_once_with_the_projects_levels(
    receiver: Receiver, harness: Harness
) -> None:
    set_previews(harness, commandPermissions={"teardown": "admin"})
    open_pr(harness)
    grant(harness, "alice", "read")
    comment_id = receiver.comment("/catalyst help")
    assert reactions(harness, comment_id) == ["eyes"]
    [reply] = replies(harness)
    assert reply.startswith("@alice ")
    assert "`/catalyst teardown`" in reply and "(needs admin access)" in reply
    assert "`/catalyst status`: " in reply and "(needs read access)" in reply


@pytest.mark.parametrize("verb", ["help", "status", "redeploy", "redploy"])
def test_users_below_read_access_get_no_app_write_at_all(
    receiver: Receiver, harness: Harness, verb: str
) -> None:
    open_pr(harness)
    served = len(harness.github.content_writes())
    comment_id = receiver.comment(f"/catalyst {verb}", author="stranger")
    assert reactions(harness, comment_id) == [] and replies(harness) == []
    assert len(harness.github.content_writes()) == served


def test_a_flood_of_20_comments_from_a_no_access_user_costs_zero_writes(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness)
    before = env_of(harness).spec
    served = len(harness.github.content_writes())
    for _ in range(20):
        receiver.comment("/catalyst redeploy\n/catalyst help", author="stranger")
    assert len(harness.github.content_writes()) == served
    assert env_of(harness).spec == before
    assert len([r for r in harness.github.reads() if "/permission" in r.path]) == 1  # cached


def test_commands_beyond_the_authors_rate_limit_cost_no_write(
    receiver: Receiver, harness: Harness
) -> None:
    from workers.commands import AUTHOR_LIMIT

    open_pr(harness)
    grant(harness, "alice", "read")
    ids = [receiver.comment("/catalyst help") for _ in range(AUTHOR_LIMIT + 3)]
    assert [bool(reactions(harness, i)) for i in ids] == [True] * AUTHOR_LIMIT + [False] * 3
    assert len(replies(harness)) == AUTHOR_LIMIT
    grant(harness, "bob", "read")
    assert reactions(harness, receiver.comment("/catalyst help", author="bob")) == ["eyes"]


def test_status_reports_phase_url_sha_and_last_failure(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness)
    grant(harness, "alice", "read")
    harness.set_status(
        ENV,
        {
            "phase": "Failed",
            "targetCommitSha": A,
            "url": "https://acme-shop-pr-7.preview.example/",
            "message": "build step 3 failed: missing Dockerfile",
        },
    )
    receiver.comment("/catalyst status")
    [reply] = replies(harness)
    assert "Failed" in reply and A[:7] in reply
    assert "https://acme-shop-pr-7.preview.example/" in reply
    assert "Last failure: build step 3 failed: missing Dockerfile" in reply


def test_status_without_a_preview_says_why(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness, draft=True)
    grant(harness, "alice", "triage")
    receiver.comment("/catalyst status")
    [reply] = replies(harness)
    assert "no preview" in reply and "draft" in reply


@pytest.mark.parametrize(
    ("verb", "field"), [("redeploy", "redeploy_nonce"), ("rebuild", "rebuild_nonce")]
)
def test_redeploy_and_rebuild_set_a_new_nonce_and_reply_nothing(
    receiver: Receiver, harness: Harness, verb: str, field: str
) -> None:
    open_pr(harness)
    grant(harness, "alice", "write")
    first = receiver.comment(f"/catalyst {verb}")
    assert getattr(env_of(harness).spec, field) == f"comment-{first}"
    second = receiver.comment(f"/catalyst {verb.upper()}")
    assert getattr(env_of(harness).spec, field) == f"comment-{second}"
    assert env_of(harness).primary_source.commit_sha == A
    assert replies(harness) == []
    assert reactions(harness, first) == ["eyes"] and reactions(harness, second) == ["eyes"]


@pytest.mark.parametrize("verb", ["redeploy", "rebuild", "deploy", "teardown", "destroy"])
def test_write_verbs_are_refused_to_readers_with_one_polite_reply(
    receiver: Receiver, harness: Harness, verb: str
) -> None:
    open_pr(harness)
    grant(harness, "alice", "triage")
    before = env_of(harness).spec
    comment_id = receiver.comment(f"/catalyst {verb}")
    assert reactions(harness, comment_id) == ["eyes"]
    [reply] = replies(harness)
    assert "needs **write** access" in reply and "your access is **triage**" in reply
    assert env_of(harness).spec == before


def test_project_can_lower_a_verbs_level(receiver: Receiver, harness: Harness) -> None:
    set_previews(harness, commandPermissions={"redeploy": "triage"})
    open_pr(harness)
    grant(harness, "alice", "triage")
    comment_id = receiver.comment("/catalyst redeploy")
    assert env_of(harness).spec.redeploy_nonce == f"comment-{comment_id}"
    assert replies(harness) == []


def test_nothing_to_redeploy_gets_one_reply(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness, draft=True)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst redeploy")
    [reply] = replies(harness)
    assert "no running **shop** preview to redeploy" in reply


def test_teardown_suspends_until_the_next_push(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst stop")
    assert env_of(harness).spec.suspended is True
    pr_event(harness, "labeled")  # no new commit: stays torn down
    assert env_of(harness).spec.suspended is True
    harness.github.state.push_pull(REPO, 7, B)
    pr_event(harness, "synchronize")
    env = env_of(harness)
    assert env.spec.suspended is False and env.primary_source.commit_sha == B
    assert replies(harness) == []


def test_deploy_brings_a_torn_down_preview_back(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "maintain")
    receiver.comment("/catalyst teardown")
    assert env_of(harness).spec.suspended is True
    receiver.comment("/catalyst deploy")
    assert env_of(harness).spec.suspended is False
    assert replies(harness) == []


def test_usage_error_gets_reaction_and_one_reply_with_did_you_mean(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness)
    grant(harness, "alice", "write")
    comment_id = receiver.comment("/catalyst redploy")
    assert reactions(harness, comment_id) == ["eyes"]
    [reply] = replies(harness)
    assert "Did you mean `/catalyst redeploy`?" in reply
    assert env_of(harness).spec.redeploy_nonce is None


def test_several_commands_give_one_combined_reply(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "write")
    comment_id = receiver.comment("/catalyst redeploy\n/catalyst status\n/catalyst help")
    assert env_of(harness).spec.redeploy_nonce == f"comment-{comment_id}"
    [reply] = replies(harness)
    assert A[:7] in reply and "Catalyst preview commands" in reply


def test_retried_task_reacts_and_replies_only_once(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "read")
    job = CommentJob("d-1", INSTALLATION, REPO, 7, 4242, "alice", "User", "/catalyst help")
    receiver.run(job)
    receiver.run(job)
    assert reactions(harness, 4242) == ["eyes"]
    assert len(replies(harness)) == 1


def test_permission_is_cached_briefly(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst redeploy")
    grant(harness, "alice", "read")  # revoked: the cache still answers for up to a minute
    comment_id = receiver.comment("/catalyst redeploy")
    assert env_of(harness).spec.redeploy_nonce == f"comment-{comment_id}"
    lookups = [r for r in harness.github.reads() if "/permission" in r.path]
    assert len(lookups) == 1


# --- loops and hygiene ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("author", "author_type"),
    [("catalyst-preview[bot]", "Bot"), ("catalyst-preview", "User"), ("other[bot]", "Bot")],
)
def test_bot_comments_never_fire(
    receiver: Receiver, harness: Harness, author: str, author_type: str
) -> None:
    open_pr(harness)
    grant(harness, author, "admin")
    writes = len(harness.github.writes())
    body = "Here is how to use me:\n/catalyst help\n/catalyst teardown"
    receiver.comment(body, author=author, author_type=author_type)
    # Even if such a job reached the worker (e.g. a Bot typed as User), it does nothing.
    receiver.run(CommentJob("d-bot", INSTALLATION, REPO, 7, 1, author, author_type, body))
    assert len(harness.github.writes()) == writes
    assert env_of(harness).spec.suspended is False


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edits_and_deletions_never_fire(receiver: Receiver, harness: Harness, action: str) -> None:
    open_pr(harness)
    grant(harness, "alice", "admin")
    receiver.comment("/catalyst teardown", action=action)
    assert env_of(harness).spec.suspended is False
    assert harness.github.state.reactions == [] and replies(harness) == []


def test_quoted_and_fenced_commands_do_nothing(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness)
    grant(harness, "alice", "admin")
    receiver.comment("> /catalyst teardown\n```\n/catalyst teardown\n```")
    assert env_of(harness).spec.suspended is False
    assert harness.github.state.reactions == [] and replies(harness) == []


# --- trust policy ---------------------------------------------------------------------------------


def test_fork_pr_waits_for_approval_of_each_head_commit(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness, fork=True)
    assert harness.environment(ENV) is None
    assert "Awaiting approval" in sticky(harness) and "each new push" in sticky(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst deploy")
    env = env_of(harness)
    assert env.primary_source.commit_sha == A and env.primary_source.fork is True
    assert (env.metadata.annotations or {})[APPROVED_SHA] == A
    harness.github.state.push_pull(REPO, 7, B)
    pr_event(harness, "synchronize")
    assert env_of(harness).primary_source.commit_sha == A  # B is not built before approval
    assert "Awaiting approval" in sticky(harness) and B[:7] in sticky(harness)
    receiver.comment("/catalyst deploy")
    env = env_of(harness)
    assert env.primary_source.commit_sha == B
    assert (env.metadata.annotations or {})[APPROVED_SHA] == B
    assert replies(harness) == []


def test_fork_approval_never_covers_a_push_after_the_comment(
    receiver: Receiver, harness: Harness
) -> None:
    """The writer approved what they saw: a commit pushed after the comment stays unapproved."""
    open_pr(harness, fork=True)
    grant(harness, "alice", "write")
    harness.clock.advance(60)
    payload = comment_payload("/catalyst deploy", "alice", "User", 7, 4242, "created")
    payload["comment"]["created_at"] = iso(harness.clock.time())
    headers, raw = signed_delivery("issue_comment", payload, SECRET)
    assert receiver.client.post("/webhook", content=raw, headers=headers).status_code == 202
    [(_, kwargs)] = receiver.enqueuer.jobs
    receiver.enqueuer.sent.clear()
    harness.clock.advance(5)
    harness.github.state.push_pull(REPO, 7, B)  # lands before the worker runs the command
    receiver.run(CommentJob.from_kwargs(kwargs))
    assert harness.environment(ENV) is None
    [reply] = replies(harness)
    assert f"moved to `{B[:7]}` after your comment" in reply
    receiver.comment("/catalyst deploy")  # a new approval, written after the push, counts
    env = env_of(harness)
    assert env.primary_source.commit_sha == B
    assert (env.metadata.annotations or {})[APPROVED_SHA] == B


def test_fork_pr_cannot_be_approved_by_a_reader(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness, fork=True)
    grant(harness, "mallory", "read")
    receiver.comment("/catalyst deploy", author="mallory")
    assert harness.environment(ENV) is None
    [reply] = replies(harness)
    assert "needs **write** access" in reply


def test_fork_policy_never_refuses(receiver: Receiver, harness: Harness) -> None:
    set_previews(harness, forkPolicy="never")
    open_pr(harness, fork=True)
    grant(harness, "alice", "admin")
    receiver.comment("/catalyst deploy")
    assert harness.environment(ENV) is None
    [reply] = replies(harness)
    assert "does not preview pull requests from forks" in reply


def test_draft_waits_for_ready_for_review_or_deploy(receiver: Receiver, harness: Harness) -> None:
    open_pr(harness, draft=True)
    assert harness.environment(ENV) is None
    harness.github.state.pulls[(REPO, 7)]["draft"] = False
    pr_event(harness, "ready_for_review")
    assert env_of(harness).primary_source.commit_sha == A
    open_pr(harness, number=8, draft=True)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst deploy", pr=8)
    assert env_of(harness, "pr-8").primary_source.commit_sha == A


def test_drafts_deploy_when_the_project_says_so(harness: Harness) -> None:
    set_previews(harness, deployDrafts=True)
    open_pr(harness, draft=True)
    assert harness.environment(ENV) is not None


def test_label_trigger_opt_in_and_opt_out_labels(harness: Harness) -> None:
    set_previews(harness, trigger="label")
    open_pr(harness)
    assert harness.environment(ENV) is None
    harness.github.state.open_pull(REPO, 7, A, labels=("catalyst:preview",))
    pr_event(harness, "labeled")
    assert harness.environment(ENV) is not None
    harness.github.state.open_pull(REPO, 7, A, labels=("catalyst:preview", "catalyst:no-preview"))
    pr_event(harness, "labeled")
    assert harness.environment(ENV) is None
    harness.github.state.open_pull(REPO, 7, A, labels=("catalyst:preview",))
    pr_event(harness, "unlabeled")
    assert harness.environment(ENV) is not None


def test_label_trigger_deploy_command_opts_in(receiver: Receiver, harness: Harness) -> None:
    set_previews(harness, trigger="label")
    open_pr(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst deploy")
    assert env_of(harness).primary_source.commit_sha == A
    harness.github.state.push_pull(REPO, 7, B)
    pr_event(harness, "synchronize")  # the opt-in is on the CR: it follows new pushes
    assert env_of(harness).primary_source.commit_sha == B


def test_capacity_queue_positions_and_order(receiver: Receiver, harness: Harness) -> None:
    set_previews(harness, maxEnvironments=1)
    for number in (7, 8, 9):
        open_pr(harness, number=number)
    assert harness.environment("pr-7") is not None
    assert harness.environment("pr-8") is None and harness.environment("pr-9") is None
    assert "number **1** in the queue" in sticky(harness, 8)
    assert "number **2** in the queue" in sticky(harness, 9)
    harness.github.state.push_pull(REPO, 8, B)
    pr_event(harness, "synchronize", 8)  # re-examined: keeps its place in the queue
    assert "number **1** in the queue" in sticky(harness, 8)
    harness.github.state.close_pull(REPO, 7)
    pr_event(harness, "closed", 7)
    assert harness.environment("pr-8") is not None and harness.environment("pr-9") is None
    assert "number **1** in the queue" in sticky(harness, 9)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst teardown", pr=8)  # a torn-down preview frees its slot too
    assert harness.environment("pr-9") is not None
    assert env_of(harness, "pr-8").spec.suspended is True
    receiver.comment("/catalyst deploy", pr=8)  # wants its slot back: waits, never overbooks
    assert env_of(harness, "pr-8").spec.suspended is True
    assert "number **1** in the queue" in sticky(harness, 8)
    harness.github.state.close_pull(REPO, 9)
    pr_event(harness, "closed", 9)
    assert env_of(harness, "pr-8").spec.suspended is False


def test_custom_repository_role_counts_as_its_base_level(
    receiver: Receiver, harness: Harness
) -> None:
    open_pr(harness)
    custom = {"permission": "write", "role_name": "deployer"}
    harness.github.fail("GET", r"/collaborators/alice/permission$", 200, body=custom)
    comment_id = receiver.comment("/catalyst redeploy")
    assert env_of(harness).spec.redeploy_nonce == f"comment-{comment_id}"
    assert replies(harness) == []


def test_repository_without_a_project_stays_silent(receiver: Receiver, harness: Harness) -> None:
    harness.github.state.open_pull("octo/other", 7, A)
    job = CommentJob("d-x", INSTALLATION, "octo/other", 7, 77, "alice", "User", "/catalyst hlep")
    receiver.run(job)
    assert harness.github.state.reactions == []
    assert harness.github.state.comments_on("octo/other", 7) == []


def test_unreadable_intent_in_redis_is_ignored_not_fatal(harness: Harness) -> None:
    import redis

    client = redis.Redis.from_url(harness.redis_url)
    client.set(f"catalyst:intent:{harness.project_ns}:{ENV}", b"{not json")
    client.close()
    open_pr(harness)
    assert env_of(harness).primary_source.commit_sha == A
