"""The latency benchmark's pure helpers (percentiles, parsing the fake GitHub's log), so the
benchmark cannot rot unnoticed. Nothing here measures or asserts time."""

from __future__ import annotations

import math

from benchmarks.latency import (
    Transition,
    Write,
    budget_floor,
    first_at,
    first_reads,
    gap,
    merged,
    parse_transitions,
    parse_writes,
    percentile,
    phase_at,
    ratio,
    seconds,
    summarize,
    verdict,
    window_floor,
)
from tests.support.fake_github import Recorded

SHA_A, SHA_B = "a" * 40, "b" * 40


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.9) == 90.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_summary_counts_values_never_reached() -> None:
    values = [1.0, 2.0, 3.0, math.inf]
    summary = summarize(values)
    assert (summary.p50, summary.p90, summary.count, summary.missing) == (2.0, math.inf, 4, 1)
    assert math.isinf(summary.max)


def records() -> list[Recorded]:
    """A fake GitHub log: two PRs' fetches and writes, a failed write, another repository."""
    shop = "/repos/acme/shop"
    return [
        Recorded("POST", "/app/installations/42/access_tokens", 201, {}, 9.0),
        Recorded("GET", f"{shop}/pulls/7", 200, None, 10.0),
        Recorded("POST", f"{shop}/deployments", 201, {"ref": SHA_A}, 10.2),
        Recorded("POST", f"{shop}/deployments/1000/statuses", 201, {"state": "queued"}, 10.3),
        Recorded("GET", f"{shop}/pulls/7", 200, None, 10.4),
        Recorded("POST", f"{shop}/check-runs", 201, {"head_sha": SHA_A, "status": "queued"}, 10.5),
        Recorded("POST", f"{shop}/deployments/1001/statuses", 422, {"state": "queued"}, 10.6),
        Recorded("PATCH", f"{shop}/issues/comments/5", 200, {"body": "x"}, 10.7),
        Recorded("POST", f"{shop}/deployments/1000/statuses", 201, {"state": "success"}, 12.0),
        Recorded("POST", "/repos/acme/other/deployments/1/statuses", 201, {"state": "error"}, 12.1),
        Recorded("GET", f"{shop}/pulls/8", 200, None, 12.5),
    ]


def test_parse_writes_maps_statuses_to_commits_and_skips_failures_and_other_repos() -> None:
    writes = parse_writes(records(), {1000: SHA_A, 1001: SHA_B})
    assert writes == [
        Write("deployment", SHA_A, None, 10.2),
        Write("status", SHA_A, "queued", 10.3),
        Write("check_run", SHA_A, "queued", 10.5),
        Write("other", None, None, 10.7),
        Write("status", SHA_A, "success", 12.0),
    ]


def test_first_reads_are_the_first_fetch_of_each_pull_request() -> None:
    assert first_reads(records()) == {7: 10.0, 8: 12.5}


def test_first_at_finds_the_first_write_of_a_kind_and_state() -> None:
    writes = parse_writes(records(), {1000: SHA_A})
    assert first_at(writes, "status", SHA_A) == 10.3
    assert first_at(writes, "status", SHA_A, state="success") == 12.0
    assert first_at(writes, "status", SHA_B) is None
    assert gap(10.0, first_at(writes, "status", SHA_A, state="success")) == 2.0
    assert math.isinf(gap(10.0, first_at(writes, "status", SHA_A, state="inactive")))


def test_report_helpers() -> None:
    assert verdict(0.2, 0.5) == "met"
    assert verdict(2.0, 1.5) == "NOT MET (+0.50 s)"
    assert verdict(math.inf, 1.5) == "NOT MET (never)"
    assert (seconds(0.1234), seconds(12.34), seconds(math.inf, 300)) == (
        "0.123 s",
        "12.3 s",
        "> 300 s",
    )
    assert (ratio(3.0, 1.5), ratio(math.inf, 1.0), ratio(1.0, 0.0)) == ("2.0x", "-", "-")
    assert ratio(math.inf, 0.5, cap=300) == "> 600x"
    assert merged([{"a": [1.0]}, {"a": [2.0], "b": [3.0]}]) == {"a": [1.0, 2.0], "b": [3.0]}


def test_reconciler_phase_changes_are_read_from_its_json_log() -> None:
    lines = [
        "/venv/celery/platforms.py:841: SecurityWarning: You're running the worker with superuser",
        '{"ts": "2026-12-04T18:00:01.250+00:00", "level": "info", "msg": "reconciler started"}',
        '{"ts": "2026-12-04T18:00:02.500+00:00", "level": "info", "logger": "reconciler.reconcile",'
        ' "msg": "environment acme-shop/pr-7: new -> Building (Building), commit aaaaaaa",'
        ' "environment": "acme-shop/pr-7", "phase": "Building", "commit": "aaaaaaa"}',
        '{"ts": "2026-12-04T18:00:04.000+00:00", "level": "info", "logger": "reconciler.reconcile",'
        ' "msg": "environment acme-shop/pr-7: Building -> Ready (RolloutComplete), commit aaaaaaa",'
        ' "environment": "acme-shop/pr-7", "phase": "Ready", "commit": "aaaaaaa"}',
    ]
    found = parse_transitions(lines)
    assert [(t.environment, t.phase, t.commit) for t in found] == [
        ("pr-7", "Building", "aaaaaaa"),
        ("pr-7", "Ready", "aaaaaaa"),
    ]
    assert found[1].at - found[0].at == 1.5
    assert phase_at(found, "pr-7", SHA_A, phase="Ready") == found[1].at
    assert phase_at(found, "pr-7", SHA_B, phase="Ready") is None
    assert (
        phase_at([Transition("pr-8", "Ready", "aaaaaaa", 1.0)], "pr-7", SHA_A, phase="Ready")
        is None
    )


def test_floors_of_a_write_budget_and_of_a_per_minute_limit() -> None:
    # a bucket of 4 refilled at 1/s, 2 writes a PR: PRs 1-2 at once, then one PR every 2 s
    assert budget_floor(4, writes_each=2, burst=4, per_second=1.0) == [0.0, 0.0, 2.0, 4.0]
    # 80 writes in any minute, 2 a PR: 40 PRs in the first minute, the next 40 a minute later
    floor = window_floor(50, writes_each=2, limit=80, window=60.0)
    assert (floor[39], floor[40], floor[49]) == (0.0, 60.0, 60.0)
