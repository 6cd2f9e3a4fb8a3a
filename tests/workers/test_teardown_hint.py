"""publish_status with the reconciler's teardown hint: GitHub is cleaned up from the hint alone,
with the CR gone, Redis flushed and no Project left to rebuild the facts from."""

from __future__ import annotations

from typing import Any

import pytest

from core import naming
from core.errors import TemporaryError
from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, Harness
from tests.workers.test_pull_requests import deliver
from workers.context import Context
from workers.statuses import publish_status
from workers.tasks import _hint

ENV = "pr-7"


def reconciler_kwargs(harness: Harness) -> dict[str, Any]:
    """What the reconciler enqueues once it removed the finalizer (see reconcile.teardown_hint)."""
    return {
        "namespace": harness.project_ns,
        "name": ENV,
        "repository": REPO,
        "installation_id": INSTALLATION,
        "project": PROJECT,
        "pr_number": 7,
        "github_environment": naming.github_environment(PROJECT, ENV),
    }


def test_the_reconciler_hint_alone_finishes_github_teardown(harness: Harness) -> None:
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    obj: Any = harness.env_obj(ENV)
    obj["metadata"]["finalizers"] = [naming.FINALIZER]
    harness.kube.put_object(obj)
    harness.set_status(ENV, {"phase": "Ready", "targetCommitSha": a, "url": "https://p.example/"})
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)

    # The reconciler finishes; Redis and the Project are gone: only the hint is left.
    harness.kube.remove_finalizers("environments", ENV, harness.project_ns)
    harness.kube.delete("projects", PROJECT, harness.team)
    harness.run(flush)
    kwargs = reconciler_kwargs(harness)
    hint = _hint(kwargs)
    assert hint is not None
    harness.run(lambda ctx: publish_status(ctx, kwargs["namespace"], kwargs["name"], hint=hint))

    assert harness.environment(ENV) is None
    assert harness.github.state.deployments_of(REPO) == []  # inactive, then deleted (admin)
    assert (REPO, f"{PROJECT}/{ENV}") in harness.github.state.environments_deleted
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" in comment["body"]


async def flush(ctx: Context) -> None:
    await ctx.redis.flushall()


def test_a_final_hint_waits_for_the_reconciler_to_release_the_cr(harness: Harness) -> None:
    """The reconciler queues the final publish before it drops its finalizer: a worker that runs
    in between must retry, not publish 'Deleting' as the last word."""
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    obj: Any = harness.env_obj(ENV)
    obj["metadata"]["finalizers"] = [naming.FINALIZER, "example.com/other"]
    harness.kube.put_object(obj)
    harness.set_status(ENV, {"phase": "Ready", "targetCommitSha": a, "url": "https://p.example/"})
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV))
    harness.github.state.close_pull(REPO, 7)
    harness.kube.delete("environments", ENV, harness.project_ns)
    hint = _hint({**reconciler_kwargs(harness), "final": True})
    assert hint is not None and hint.final

    with pytest.raises(TemporaryError):
        harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV, hint=hint))
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" not in comment["body"]

    held: Any = harness.env_obj(ENV)
    held["metadata"]["finalizers"] = ["example.com/other"]  # released; another controller waits
    harness.kube.put_object(held)
    harness.run(lambda ctx: publish_status(ctx, harness.project_ns, ENV, hint=hint))
    [comment] = harness.github.state.comments_on(REPO, 7)
    assert "torn down" in comment["body"]
