"""Unit tests of the observability hooks: Celery signals, GitHub metrics, reconciler metrics."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import respx
from celery import Celery
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from core.clients.github import GitHubApp
from core.clients.githubauth import AppCredentials
from core.clients.metrics import (
    install_celery_metrics,
    outcome_of,
    prepare_multiprocess_dir,
    route_template,
    serve_metrics,
)
from core.clients.tasklogs import install_task_log_context, task_fields
from core.logs import current_context
from reconciler.lease import LeaderElector
from reconciler.metrics import RuntimeCollector, build_outcome, count_finished_builds
from reconciler.metrics import health as runtime_health
from reconciler.watch import Informer, Watcher
from tests.support.github import private_key_pem
from tests.support.redis_server import RedisServer


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/repos/acme/shop/pulls/7", "/repos/{owner}/{repo}/pulls/{}"),
        ("/repos/acme/shop/pulls?state=open", "/repos/{owner}/{repo}/pulls"),
        ("/repos/a/b/git/ref/heads/feature/x/y", "/repos/{owner}/{repo}/git/ref/heads/{}"),
        ("/repos/a/b/environments/shop%2Fpr-1", "/repos/{owner}/{repo}/environments/{}"),
        (
            "/repos/a/b/collaborators/octocat/permission",
            "/repos/{owner}/{repo}/collaborators/{}/permission",
        ),
        ("/app/installations/42/access_tokens", "/app/installations/{}/access_tokens"),
        ("/something/unexpected/here", "/{}"),
    ],
)
def test_route_templates_keep_label_values_bounded(path: str, route: str) -> None:
    assert route_template(path) == route


def test_task_states_map_to_bounded_outcomes() -> None:
    assert [outcome_of(s) for s in ("SUCCESS", "RETRY", "FAILURE", "REJECTED", "weird", None)] == [
        "success", "retry", "failure", "rejected", "other", "other"
    ]  # fmt: skip


def eager_app(name: str) -> Celery:
    app = Celery(name, set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=False)
    return app


def test_task_runs_are_counted_by_outcome_with_their_context_bound_for_our_app_only() -> None:
    app, other = eager_app("observed"), eager_app("other")
    install_celery_metrics(app, lambda: None)
    install_task_log_context(app)
    seen: list[dict[str, Any]] = []

    @app.task(name="catalyst.test.ok")
    def ok(**_: Any) -> None:
        seen.append(current_context())

    @app.task(name="catalyst.test.boom")
    def boom(**_: Any) -> None:
        raise ValueError("boom")

    @other.task(name="catalyst.test.other")
    def elsewhere(**_: Any) -> None:
        pass

    before = [sample("catalyst_task_runs_total", task=t, outcome=o) for t, o in RUNS]
    ok.apply(kwargs={"delivery_id": "d-1", "repository": "o/r", "pr_number": 3})
    boom.apply(kwargs={"delivery_id": "d-2"})
    elsewhere.apply()
    after = [sample("catalyst_task_runs_total", task=t, outcome=o) for t, o in RUNS]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1.0, 1.0, 0.0]
    assert seen == [
        {"task": "catalyst.test.ok", "delivery_id": "d-1", "repository": "o/r", "pr": 3}
    ]
    assert current_context() == {}  # unbound after the run
    assert sample("catalyst_task_duration_seconds_count", task="catalyst.test.ok") >= 1


RUNS = [
    ("catalyst.test.ok", "success"),
    ("catalyst.test.boom", "failure"),
    ("catalyst.test.other", "success"),
]


def test_task_fields_name_the_environment_or_the_project() -> None:
    reconcile = task_fields("catalyst.cluster.reconcile", {"namespace": "t-p", "name": "pr-1"})
    assert reconcile == {"task": "catalyst.cluster.reconcile", "environment": "t-p/pr-1"}
    project = task_fields("catalyst.cluster.reconcile_project", {"namespace": "t", "name": "p"})
    assert project == {"task": "catalyst.cluster.reconcile_project", "project": "t/p"}


def test_github_requests_and_remaining_rate_limit_per_installation(
    redis_server: RedisServer,
) -> None:
    route = "/repos/{owner}/{repo}/pulls/{}"
    before = sample("catalyst_github_requests_total", method="GET", route=route, status="404")

    async def run() -> None:
        redis = Redis.from_url(redis_server.url)
        async with httpx.AsyncClient() as http:
            github = GitHubApp(AppCredentials(7, private_key_pem()), http=http, redis=redis,
                               base_url="https://ghe.example/api/v3")  # fmt: skip
            with respx.mock(assert_all_called=True) as mock:
                mock.post("https://ghe.example/api/v3/app/installations/42/access_tokens").respond(
                    201,
                    json={"token": "t", "expires_at": "2099-01-01T00:00:00Z"},
                    headers={"x-ratelimit-remaining": "4999"},
                )
                mock.get("https://ghe.example/api/v3/repos/o/r/pulls/9").respond(
                    404, json={"message": "Not Found"}, headers={"x-ratelimit-remaining": "4321"}
                )
                with pytest.raises(Exception, match="404"):
                    await github.installation(42).get_pull("o/r", 9)
        await redis.aclose()

    asyncio.run(run())
    after = sample("catalyst_github_requests_total", method="GET", route=route, status="404")
    assert after - before == 1.0
    assert sample("catalyst_github_rate_limit_remaining", installation="42") == 4321.0
    assert sample("catalyst_github_rate_limit_remaining", installation="app") == 4999.0


def test_metrics_server_reports_health_and_a_busy_port_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems: list[str] = []
    server = serve_metrics(0, health=lambda: problems, addr="127.0.0.1")
    assert server is not None
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert "catalyst_task_runs_total" in httpx.get(f"{base}/metrics").text
        problems.append("threads stopped: informer-Job")
        answer = httpx.get(f"{base}/healthz")
        assert (answer.status_code, answer.text) == (
            503,
            "unhealthy: threads stopped: informer-Job\n",
        )
        with caplog.at_level(logging.ERROR, logger="catalyst.metrics"):
            assert serve_metrics(server.port, addr="127.0.0.1") is None
        assert f"cannot listen on port {server.port}" in caplog.text
    finally:
        server.stop()


def test_multiprocess_dir_is_fresh_or_cleaned(tmp_path: Path) -> None:
    environ: dict[str, str] = {"TMPDIR": str(tmp_path)}
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    (given / "keep.txt").write_text("x")
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    assert prepare_multiprocess_dir(environ) == given
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]
    fresh: dict[str, str] = {}
    made = prepare_multiprocess_dir(fresh)
    assert fresh["PROMETHEUS_MULTIPROC_DIR"] == str(made) and made.is_dir()
    made.rmdir()


# --- reconciler --------------------------------------------------------------------------------


def job(conditions: list[dict[str, str]] | None, build: bool = True) -> dict[str, Any]:
    labels = {"catalyst.dev/job-type": "build"} if build else {}
    meta = {"name": "build-web-abc1234", "namespace": "ns", "labels": labels}
    return {"kind": "Job", "metadata": meta, "status": {"conditions": conditions or []}}


DONE = [{"type": "Complete", "status": "True"}]
FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
DEADLINE = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]


def test_build_outcomes_from_job_conditions() -> None:
    assert [build_outcome(job(c)) for c in (None, DONE, FAILED, DEADLINE)] == [
        None, "succeeded", "failed", "deadline_exceeded"
    ]  # fmt: skip


def test_builds_are_counted_once_when_they_finish_and_only_by_the_leader() -> None:
    informer = Informer(cast(Any, None), "Job")
    leader = [True]
    forwarded: list[str] = []
    informer.on_event = lambda t, _o, _old: forwarded.append(t)
    count_finished_builds(informer, lambda: leader[0])
    before = sample("catalyst_builds_total", outcome="failed")
    informer.on_event("ADDED", job(FAILED), None)  # relist of an old Job: not new
    informer.on_event("MODIFIED", job(FAILED), job(None))  # finished now
    informer.on_event("MODIFIED", job(FAILED), job(FAILED))  # still finished
    informer.on_event("MODIFIED", job(FAILED, build=False), job(None))  # not a build
    leader[0] = False
    informer.on_event("MODIFIED", job(FAILED), job(None))  # a standby replica
    assert sample("catalyst_builds_total", outcome="failed") - before == 1.0
    assert forwarded == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "MODIFIED"]


def env(name: str, phase: str | None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "n"}, "status": {"phase": phase}}


def test_runtime_collector_counts_phases_from_the_cache_and_reports_leadership() -> None:
    watcher = Watcher(cast(Any, None), cast(Any, None), is_leader=lambda: True)
    elector = LeaderElector(cast(Any, None), namespace="d", name="l", identity="me")
    informer = watcher.informers["Environment"]
    for i, phase in enumerate(("Ready", "Ready", "Failed", None, "Bogus")):
        informer.remember(env(f"e-{i}", phase))
    collector = RuntimeCollector(watcher, elector)
    names = [m.name for m in collector.collect()]
    assert "catalyst_environments" not in names  # not synced yet: absent, not zero
    informer.synced.set()
    values = {
        (s.name, tuple(s.labels.values())): s.value for m in collector.collect() for s in m.samples
    }
    assert values[("catalyst_environments", ("Ready",))] == 2.0
    assert values[("catalyst_environments", ("Failed",))] == 1.0
    assert values[("catalyst_environments", ("Pending",))] == 1.0
    assert values[("catalyst_environments", ("Unknown",))] == 1.0
    assert values[("catalyst_environments", ("Deleting",))] == 0.0
    assert values[("catalyst_reconciler_leader", ())] == 0.0
    assert values[("catalyst_reconciler_informer_synced", ("Environment",))] == 1.0
    assert values[("catalyst_reconciler_informer_synced", ("Job",))] == 0.0


def test_runtime_health_names_dead_threads() -> None:
    watcher = Watcher(cast(Any, None), cast(Any, None), is_leader=lambda: False)
    elector = LeaderElector(cast(Any, None), namespace="d", name="l", identity="me")
    watcher._spawn("informer-Job", lambda: None)  # a thread that ends at once
    watcher.threads[0].join()
    assert runtime_health(watcher, elector) == [
        "leader election thread stopped",
        "threads stopped: informer-Job",
    ]
