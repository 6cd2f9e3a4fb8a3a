"""What people are shown about environments, pods, events and metrics (core.envview)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import envview
from core.links import environment_page_url
from core.model import Environment
from tests.support import dashboard_world as world

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [
        ("2026-12-03T11:59:18Z", "42s"),
        ("2026-12-03T11:53:00Z", "7m"),
        ("2026-12-03T09:00:00Z", "3h"),
        ("2026-12-01T12:00:00Z", "2d"),
        (None, "-"),
        ("yesterday", "-"),
    ],
)
def test_age_reads_like_kubectl(stamp: str | None, shown: str) -> None:
    assert envview.age(stamp, NOW) == shown


@pytest.mark.parametrize(
    ("quantity", "millicores"), [("250m", 250), ("1", 1000), ("12345678n", 12), ("500u", 0)]
)
def test_cpu_quantities(quantity: str, millicores: int) -> None:
    assert envview.parse_cpu(quantity) == millicores


@pytest.mark.parametrize(
    ("quantity", "size"), [("128974848", 128974848), ("123Mi", 123 * 2**20), ("1G", 10**9)]
)
def test_memory_quantities(quantity: str, size: int) -> None:
    assert envview.parse_memory(quantity) == size


def test_pod_metrics_are_summed_per_pod() -> None:
    item = {
        "metadata": {"name": "web"},
        "containers": [
            {"usage": {"cpu": "100m", "memory": "64Mi"}},
            {"usage": {"cpu": "50000000n", "memory": "32Mi"}},
        ],
    }
    assert envview.pod_usage(item) == envview.PodUsage("web", 150, 96)


def test_pod_row_shows_waiting_reason_restarts_and_last_termination() -> None:
    pod = world.pod("web-1", "ns", restarts=3)
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    pod["status"]["containerStatuses"][0]["ready"] = False
    row = envview.pod_row(pod)
    assert (row.phase, row.ready, row.restarts) == ("CrashLoopBackOff", "0/1", 3)
    assert row.last_state == "web: OOMKilled (exit 137)"


def test_events_newest_first_and_capped() -> None:
    events = [world.event("ns", f"R{i}", "m", at=f"2026-12-03T10:0{i}:00Z") for i in range(5)]
    rows = envview.event_rows(events, limit=2)
    assert [r.reason for r in rows] == ["R4", "R3"]
    assert rows[0].object == f"Pod/{world.POD}"


def test_environment_row_and_pr_link_on_ghes() -> None:
    env = Environment.model_validate(world.environment("pr-2", pr=2, fork=True, namespace="x"))
    row = envview.environment_row(env)
    assert (row.key, row.phase, row.fork, row.project) == ("acme-shop/pr-2", "Ready", True, "shop")
    assert envview.pr_link("https://ghe.example.com/", row) == (
        "https://ghe.example.com/acme/shop/pull/2"
    )
    assert envview.filter_rows([row], phase="Failed") == []


def test_environment_page_link_is_none_without_a_dashboard() -> None:
    assert environment_page_url(None, namespace="a", name="b") is None
    assert environment_page_url("https://dash.example/", namespace="a b", name="pr-1") == (
        "https://dash.example/environments/a%20b/pr-1"
    )
