"""The sticky comment shows a failed build's log tail, collapsed, fenced and redacted."""

from __future__ import annotations

from typing import Any

from core.projection import comment_view, render_comment
from core.redaction import redact_secrets
from tests.core.test_projection import A, env

SUMMARY = "<details><summary>Build log (last lines)</summary>"


def build(name: str, state: str, tail: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "job": f"build-{name}-aaaaaaa",
        "commitSha": A,
        "state": state,
        "logTail": tail,
    }


def comment(phase: str, *builds: dict[str, Any]) -> str:
    status = {"phase": phase, "targetCommitSha": A, "builds": list(builds), "message": "boom"}
    return render_comment(comment_view(env(status), log_url_template=None))


def test_a_failed_build_shows_its_log_tail_in_a_collapsed_code_block() -> None:
    body = comment("Failed", build("app", "Failed", "step 1\nerror: exit 1"))
    start = body.index(SUMMARY)
    block = body[start : body.index("</details>", start)]
    assert "```text\nstep 1\nerror: exit 1\n```" in block
    assert body.index("**Why it failed**") < start < body.index("<summary>Commands</summary>")


def test_several_failed_builds_are_titled_and_succeeded_ones_left_out() -> None:
    body = comment(
        "Failed",
        build("api", "Failed", "api broke"),
        build("web", "Succeeded", "web fine"),
        build("worker", "Failed", "worker broke"),
    )
    assert "--- build api ---\napi broke\n--- build worker ---\nworker broke" in body
    assert "web fine" not in body


def test_no_log_block_unless_failed_with_a_tail() -> None:
    assert SUMMARY not in comment("Ready", build("app", "Failed", "old failure"))
    assert SUMMARY not in comment("Failed", build("app", "Failed", None))


def test_the_tail_cannot_leak_a_secret_or_break_out_of_its_fence() -> None:
    token = "ghp_" + "Z" * 30
    body = comment("Failed", build("app", "Failed", f"push with {token}\n```\n# Injected"))
    assert token not in body and "[redacted]" in body
    block = body[body.index(SUMMARY) :]
    assert block.count("```") == 2  # the log's own fence was neutralised
    assert redact_secrets(token) == "[redacted]"
