"""core.projection: phase → deployment state, descriptions, log URLs, redaction, the comment."""

from __future__ import annotations

from typing import Any

import pytest

from core.model import Environment
from core.projection import (
    comment_marker,
    comment_view,
    project_status,
    redact,
    render_comment,
    short_description,
)

A = "a" * 40
B = "b" * 40


def env(status: dict[str, Any] | None = None, sha: str = A) -> Environment:
    return Environment.model_validate(
        {
            "metadata": {
                "name": "pr-3",
                "namespace": "acme-shop",
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {
                "projectRef": {"name": "shop"},
                "type": "development",
                "sources": [{"name": "app", "commitSha": sha, "branch": "f", "prNumber": 3}],
                "github": {"installationId": 1, "repository": "o/r"},
            },
            **({"status": status} if status is not None else {}),
        }
    )


def cond(type_: str, status: str, reason: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": "m",
        "lastTransitionTime": "2026-01-02T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("status", "state"),
    [
        pytest.param(None, "queued", id="no-status"),
        pytest.param({"phase": "Pending"}, "queued", id="pending"),
        pytest.param({"phase": "Building"}, "in_progress", id="building"),
        pytest.param({"phase": "Deploying"}, "in_progress", id="deploying"),
        pytest.param({"phase": "Ready", "url": "https://u/"}, "success", id="ready"),
        pytest.param(
            {"phase": "Failed", "conditions": [cond("Built", "False", "BuildFailed")]},
            "failure",
            id="failed",
        ),
        pytest.param(
            {"phase": "Failed", "conditions": [cond("Deployed", "False", "PlatformError")]},
            "error",
            id="platform",
        ),
        pytest.param({"phase": "Ready", "targetCommitSha": B}, "queued", id="not-yet-picked-up"),
        pytest.param({"phase": "Deleting"}, "inactive", id="deleting"),
        pytest.param({"phase": "Suspended", "targetCommitSha": A}, "inactive", id="suspended"),
    ],
)
def test_state_per_phase(status: dict[str, Any] | None, state: str) -> None:
    projected = project_status(env(status), log_url_template=None)
    assert projected.state == state and projected.sha == A
    assert len(projected.description) < 140
    assert (projected.environment_url is not None) == (state == "success")


def test_log_url_template_and_malformed_template() -> None:
    status = {
        "phase": "Building",
        "namespace": "ns",
        "builds": [{"name": "w", "job": "build-w-aaaaaaa", "commitSha": A, "state": "Running"}],
    }
    assert project_status(env(status), log_url_template="https://l/{namespace}/{job}").log_url == (
        "https://l/ns/build-w-aaaaaaa"
    )
    assert project_status(env(status), log_url_template="https://l/{nope}").log_url is None


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
        "ghs_ABCDEFGHIJKLMNOPQRSTUV",
        "password=hunter2hunter2",
        "Authorization: Bearer abcdefghijklmnop.qrs",
        "https://user:s3cr3tpass@registry.example/v2",
        "AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_redact_removes_secrets(secret: str) -> None:
    cleaned = redact(f"before {secret} after")
    assert "before" in cleaned and "after" in cleaned
    for fragment in (
        "abcdefghijklmnopqrstuvwxyz",
        "hunter2",
        "s3cr3t",
        "ABCDEFGHIJKLMNOP",
        "abcdefghijklmnop.qrs",
    ):
        assert fragment not in cleaned


def test_redact_drops_stack_traces_and_descriptions_stay_short() -> None:
    text = "boom\nTraceback (most recent call last):\n  File 'a.py', line 1\nValueError: x"
    assert "Traceback" not in redact(text) and "a.py" not in redact(text)
    assert len(short_description("x" * 500)) < 140


def test_comment_has_marker_phase_url_sha_namespace_and_commands() -> None:
    status = {
        "phase": "Ready",
        "url": "https://pr-3.example/",
        "namespace": "acme-shop-pr-3",
        "conditions": [cond("Ready", "True", "RolloutComplete")],
    }
    body = render_comment(comment_view(env(status), log_url_template="https://l/{namespace}"))
    assert body.startswith(comment_marker("shop"))
    for fragment in (
        "Ready",
        "https://pr-3.example/",
        A[:7],
        "acme-shop-pr-3",
        "https://l/",
        "2026-01-02T00:00:00Z",
        "/catalyst redeploy",
        "/catalyst teardown",
    ):
        assert fragment in body


def test_comment_hides_url_until_live_and_is_stable() -> None:
    status = {"phase": "Building", "url": "https://old.example/"}
    first = render_comment(comment_view(env(status), log_url_template=None))
    assert "https://old.example/" not in first
    assert first == render_comment(comment_view(env(status), log_url_template=None))


def test_suspended_preview_comment_says_suspended_not_pending() -> None:
    # regression (e2e): `/catalyst teardown` left the deployment "queued" and the comment "Pending"
    view = comment_view(env({"phase": "Suspended", "targetCommitSha": A}), log_url_template=None)
    assert view.phase == "Suspended" and view.url is None


def test_comment_links_the_dashboard_page_when_one_is_configured() -> None:
    status = {"phase": "Ready", "url": "https://pr-3.example/", "namespace": "acme-shop-pr-3"}
    preview = env(status)
    without = render_comment(comment_view(preview, log_url_template=None))
    assert "Dashboard" not in without
    view = comment_view(preview, log_url_template=None, dashboard_url="https://dash.example")
    page = f"https://dash.example/environments/{preview.metadata.namespace}/{preview.metadata.name}"
    assert f"[pods, logs and a shell]({page})" in render_comment(view)


def test_check_run_details_open_the_dashboard_page_when_configured() -> None:
    from core.checks import project_check

    preview = env({"phase": "Ready", "url": "https://pr-3.example/", "namespace": "ns"})
    assert project_check(preview, log_url_template=None).details_url == "https://pr-3.example/"
    linked = project_check(preview, log_url_template=None, dashboard_url="https://dash.example")
    page = f"https://dash.example/environments/{preview.metadata.namespace}/{preview.metadata.name}"
    assert linked.details_url == page
