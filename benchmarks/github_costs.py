"""Benchmark: GitHub API requests spent by the worker flows over the life of pull requests.

Scenario 1, one PR: opened, Ready; 3 pushes, each Building → Deploying → Ready (every state
published twice, as duplicate reconciler triggers do); closed. Reads and writes are counted on the
fake GitHub (respx), with the fake API server and a real redis-server. The baseline, measured in
the same run over the same triggers, is a stateless publisher that posts the projected status and
edits the comment on every trigger (what a publisher without bookkeeping does).

Scenario 2: 50 PRs x 10 rapid pushes (each PR's pushes land before the worker gets to their
deliveries), then the reconciler catches up with the newest commit only. Every write spends the
installation's budget; a flow refused by it is retried after the delay it names, as Celery does,
in simulated time. Prints the most content writes in any minute and in any hour, whether every
PR's newest SHA reached success, the writes that changed nothing, and token mints per
installation per simulated hour.

Usage: .venv/bin/python -m benchmarks.github_costs
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core import naming, projection
from core.errors import RateLimited
from core.jobs import PullRequestJob
from tests.kubefake import KubeFake
from tests.support.fake_github import FakeGitHub, sha_of
from tests.support.redis_server import RedisServer
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, FakeClock, Harness
from tests.workers.conftest import project_object as make_project
from workers.admission import handle_pull_request
from workers.context import Context
from workers.statuses import publish_status

CRDS = Path(__file__).resolve().parents[1] / "crds"
PHASES = ("Building", "Deploying", "Ready")
TEAM = "acme"
PROJECT_NS = naming.project_namespace(TEAM, PROJECT)


@contextmanager
def harness() -> Iterator[Harness]:
    """Fresh fakes (API server, redis-server, respx GitHub) for one scenario."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    redis = RedisServer()
    redis.start()
    clock = FakeClock()
    github = FakeGitHub(clock.time)
    try:
        with KubeFake([CRDS]) as kube, respx.mock(assert_all_called=False) as router:
            github.mount(router)
            for ns in (TEAM, PROJECT_NS):
                kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            kube.put_object(make_project(TEAM))
            yield Harness(
                kube,
                kube.api_client(),
                team=TEAM,
                redis=redis,
                github=github,
                clock=clock,
                private_key=key,
            )
    finally:
        redis.stop()
        redis.cleanup()


def retried(h: Harness, flow: Callable[[Context], Awaitable[None]]) -> None:
    """Run a flow, waiting out the write budget (and any rate limit) in simulated time; the
    later publishes flows asked for (put-off progress writes) run first once they are due."""
    h.run_follow_ups(until=h.clock.now)
    while True:
        try:
            h.run(flow)
            return
        except RateLimited as exc:
            h.clock.advance(exc.delay or 1.0)


def deliver(h: Harness, number: int, action: str) -> None:
    job = PullRequestJob(
        delivery_id="d",
        installation_id=INSTALLATION,
        repository=REPO,
        pr_number=number,
        action=action,
        head_sha="",
    )
    retried(h, lambda ctx: handle_pull_request(ctx, job))


def set_phase(h: Harness, name: str, phase: str, sha: str) -> None:
    status: dict[str, Any] = {"phase": phase, "targetCommitSha": sha, "namespace": "ns"}
    if phase == "Ready":
        status.update(url=f"https://{name}.example/", commitSha=sha)
    h.set_status(name, status)


def publish(h: Harness, name: str) -> None:
    retried(h, lambda ctx: publish_status(ctx, PROJECT_NS, name))


def naive_publish(h: Harness, name: str) -> None:
    """Baseline: post the projected status and rewrite the comment on every trigger."""

    async def flow(ctx: Context) -> None:
        env = ctx.kube.get_environment(PROJECT_NS, name)
        assert env is not None and env.spec.github is not None
        gh = ctx.github.installation(INSTALLATION)
        wanted = projection.project_status(env, log_url_template=None)
        found = await gh.find_deployments(REPO, environment=f"shop/{name}", sha=wanted.sha)
        await gh.create_deployment_status(
            REPO,
            found[0].id,
            state=wanted.state,
            description=wanted.description,
            environment_url=wanted.environment_url,
        )
        body = projection.render_comment(projection.comment_view(env, log_url_template=None))
        comment = await gh.find_comment(REPO, 1, projection.comment_marker("shop"))
        assert comment is not None
        await gh.edit_comment(REPO, comment.id, body)

    h.run(flow)


def one_pr_life(h: Harness, *, publisher: Any) -> None:
    """Open, Ready, 3 pushes each through Building/Deploying/Ready, close."""
    shas = [sha_of(f"life-{i}") for i in range(4)]
    h.github.state.open_pull(REPO, 1, shas[0])
    deliver(h, 1, "opened")
    for index, sha in enumerate(shas):
        if index:
            h.github.state.push_pull(REPO, 1, sha)
            deliver(h, 1, "synchronize")
        for phase in PHASES:
            set_phase(h, "pr-1", phase, sha)
            publisher(h, "pr-1")
            publisher(h, "pr-1")  # duplicate trigger
    h.github.state.close_pull(REPO, 1, merged=True)
    deliver(h, 1, "closed")


def count(h: Harness) -> dict[str, int]:
    gh = h.github
    return {
        "reads": len(gh.reads()),
        "writes": len(gh.content_writes()),
        "redundant writes": len(gh.redundant_writes()),
        "token mints": sum(gh.state.mints.values()),
    }


def scenario_one() -> tuple[dict[str, int], dict[str, int]]:
    with harness() as h:
        one_pr_life(h, publisher=publish)
        h.run_follow_ups()
        ours = count(h)
    with harness() as h:
        one_pr_life(h, publisher=naive_publish)
        naive = count(h)
    return ours, naive


def scenario_many(prs: int = 50, pushes: int = 10) -> dict[str, Any]:
    with harness() as h:
        for n in range(1, prs + 1):
            h.github.state.open_pull(REPO, n, sha_of(f"{n}-0"))
            deliver(h, n, "opened")
        for n in range(1, prs + 1):
            for p in range(1, pushes + 1):
                h.github.state.push_pull(REPO, n, sha_of(f"{n}-{p}"))
            for _ in range(pushes):
                deliver(h, n, "synchronize")
        for n in range(1, prs + 1):
            newest = sha_of(f"{n}-{pushes}")
            for phase in PHASES:
                set_phase(h, f"pr-{n}", phase, newest)
                publish(h, f"pr-{n}")
        h.run_follow_ups()  # every put-off comment and check run edit, as the workers would
        full = Counter[str]()
        for deployment in h.github.state.deployments.values():
            states = h.github.state.states_of(deployment["id"])
            full["full" if "success" in states else "partial"] += 1
            newest_of_pr = deployment["sha"] == sha_of(
                f"{deployment['environment'].split('pr-')[1]}-{pushes}"
            )
            if "success" in states and not newest_of_pr:
                full["superseded with success"] += 1
        full["comments showing the newest SHA Ready"] = sum(
            1 for n in range(1, prs + 1) if _comment_shows_ready(h, n, sha_of(f"{n}-{pushes}"))
        )
        hours = max((h.clock.now - 1_800_000_000.0) / 3600, 1.0)
        times = [r.at for r in h.github.content_writes()]
        return {
            **count(h),
            **full,
            "most writes in a minute": most_in_window(times, 60.0),
            "most writes in an hour": most_in_window(times, 3600.0),
            "simulated hours": round(hours, 2),
            "mints per installation-hour": round(sum(h.github.state.mints.values()) / hours, 2),
        }


def _comment_shows_ready(h: Harness, number: int, sha: str) -> bool:
    comments = h.github.state.comments_on(REPO, number)
    return any(sha[:7] in c["body"] and "Ready" in c["body"] for c in comments)


def most_in_window(times: list[float], seconds: float) -> int:
    """The most events in any window of `seconds` (windows starting at an event)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> int:
    ours, naive = scenario_one()
    print("Scenario 1: one PR (open, 3 pushes, Ready each time, close), 2 triggers per state")
    print(f"{'':20}{'ours':>8}{'baseline':>10}{'ratio':>8}")
    for key in ours:
        ratio = f"{ours[key] / naive[key]:.2f}" if naive[key] else "-"
        print(f"{key:20}{ours[key]:>8}{naive[key]:>10}{ratio:>8}")
    many = scenario_many()
    print("\nScenario 2: 50 PRs x 10 rapid pushes, reconciler catches up with the newest only")
    for key, value in many.items():
        print(f"  {key}: {value}")
    goals = {
        "no write that does not change what GitHub shows": ours["redundant writes"] == 0
        and many["redundant writes"] == 0,
        "at most one token mint per installation per hour": many["mints per installation-hour"] <= 1
        and ours["token mints"] <= 1,
        "only the newest SHA of each PR gets a full sequence": many.get("full") == 50
        and many.get("superseded with success", 0) == 0,
        "every PR's comment ends showing its newest SHA Ready": many[
            "comments showing the newest SHA Ready"
        ]
        == 50,
        "at most 80 content writes in any minute": many["most writes in a minute"] <= 80,
        "at most 500 content writes in any hour": many["most writes in an hour"] <= 500,
    }
    print()
    for goal, met in goals.items():
        print(f"  [{'met' if met else 'NOT MET'}] {goal}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
