"""Tests: command permissions, bot detection and the preview decision (core.policy)."""

from __future__ import annotations

import pytest

from core.model import PreviewPolicy
from core.policy import (
    Action,
    PrFacts,
    command_permissions,
    has_permission,
    is_bot,
    is_idle_expired,
    preview_decision,
    required_permission,
    ttl_seconds,
)

HEAD = "a" * 40
OLD = "b" * 40


def facts(**overrides: object) -> PrFacts:
    base: dict[str, object] = {
        "open": True,
        "draft": False,
        "labels": (),
        "fork": False,
        "head_sha": HEAD,
    }
    return PrFacts(**(base | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actual", "required", "allowed"),
    [
        ("admin", "write", True),
        ("maintain", "write", True),
        ("write", "write", True),
        ("triage", "write", False),
        ("read", "write", False),
        ("none", "read", False),
        ("read", "read", True),
        ("WRITE", "write", True),
        ("custom-role", "read", False),
        ("none", "none", True),
    ],
)
def test_has_permission_follows_githubs_order(actual: str, required: str, allowed: bool) -> None:
    assert has_permission(actual, required) is allowed


def test_default_permissions_read_for_help_and_status_write_for_the_rest() -> None:
    assert command_permissions(PreviewPolicy()) == {
        "help": "read",
        "status": "read",
        "logs": "write",
        "redeploy": "write",
        "rebuild": "write",
        "deploy": "write",
        "teardown": "write",
    }


def test_project_raises_and_lowers_levels_by_verb_or_alias() -> None:
    policy = PreviewPolicy(command_permissions={"destroy": "admin", "redeploy": "triage"})
    assert required_permission("teardown", policy) == "admin"
    assert required_permission("redeploy", policy) == "triage"
    assert required_permission("status", policy) == "read"


@pytest.mark.parametrize(
    ("author", "author_type", "bot"),
    [
        ("catalyst-preview[bot]", "Bot", True),
        ("Catalyst-Preview[bot]", "User", True),  # our own login, whatever the type says
        ("catalyst-preview", "User", True),
        ("dependabot[bot]", "Bot", True),
        ("renovate", "Bot", True),
        ("octocat", "User", False),
        ("catalyst-fan", "User", False),
    ],
)
def test_is_bot(author: str, author_type: str, bot: bool) -> None:
    assert is_bot(author, author_type, "catalyst-preview") is bot


@pytest.mark.parametrize(
    ("policy", "pr", "action", "reason_part"),
    [
        (PreviewPolicy(), facts(), Action.DEPLOY, "allows"),
        (PreviewPolicy(), facts(open=False), Action.REMOVE, "closed"),
        (PreviewPolicy(enabled=False), facts(), Action.REMOVE, "disabled"),
        (PreviewPolicy(), facts(labels=("catalyst:no-preview",)), Action.REMOVE, "opted out"),
        (
            PreviewPolicy(trigger="label"),
            facts(labels=("catalyst:preview", "catalyst:no-preview")),
            Action.REMOVE,
            "opted out",
        ),
        (PreviewPolicy(trigger="label"), facts(), Action.REMOVE, "`catalyst:preview` label"),
        (PreviewPolicy(trigger="label"), facts(labels=("catalyst:preview",)), Action.DEPLOY, ""),
        (PreviewPolicy(trigger="label"), facts(opted_in=True), Action.DEPLOY, ""),
        (PreviewPolicy(), facts(draft=True), Action.REMOVE, "draft"),
        (PreviewPolicy(deploy_drafts=True), facts(draft=True), Action.DEPLOY, ""),
        (PreviewPolicy(), facts(draft=True, opted_in=True), Action.DEPLOY, ""),
        (PreviewPolicy(), facts(suspended=True, current_sha=HEAD), Action.HOLD, "torn down"),
        (PreviewPolicy(), facts(suspended=True, current_sha=OLD), Action.DEPLOY, ""),
        (PreviewPolicy(), facts(suspended=True, current_sha=HEAD, resume=True), Action.DEPLOY, ""),
        (
            PreviewPolicy(max_environments=1),
            facts(suspended=True, current_sha=HEAD, resume=True, active_previews=1),
            Action.WAIT,
            "position 1",
        ),
        (PreviewPolicy(fork_policy="never"), facts(fork=True), Action.REMOVE, "fork"),
        (PreviewPolicy(), facts(fork=True), Action.AWAIT_APPROVAL, "approve"),
        (PreviewPolicy(), facts(fork=True, approved_sha=HEAD, current_sha=HEAD), Action.DEPLOY, ""),
        (
            PreviewPolicy(),
            facts(fork=True, approved_sha=OLD, current_sha=OLD),
            Action.HOLD,
            "new commit",
        ),
        (PreviewPolicy(max_environments=2), facts(active_previews=1), Action.DEPLOY, ""),
        (PreviewPolicy(max_environments=2), facts(active_previews=2), Action.WAIT, "position 1"),
        (
            PreviewPolicy(max_environments=2),
            facts(active_previews=1, waiting_ahead=1),
            Action.WAIT,
            "position 2",
        ),
        (
            PreviewPolicy(max_environments=1),
            facts(active_previews=5, current_sha=HEAD),
            Action.DEPLOY,
            "",
        ),
        (
            PreviewPolicy(max_environments=1),
            facts(active_previews=1, current_sha=HEAD, suspended=True),
            Action.HOLD,
            "torn down",
        ),
    ],
)
def test_preview_decision(
    policy: PreviewPolicy, pr: PrFacts, action: Action, reason_part: str
) -> None:
    decision = preview_decision(policy, pr)
    assert decision.action == action
    assert reason_part in decision.reason


def test_waiting_pr_knows_its_queue_position() -> None:
    decision = preview_decision(
        PreviewPolicy(max_environments=1), facts(active_previews=1, waiting_ahead=2)
    )
    assert decision.queue_position == 3 and not decision.preview


def test_fork_preview_gets_no_secrets_and_pins_the_approved_sha() -> None:
    decision = preview_decision(PreviewPolicy(), facts(fork=True, approved_sha=HEAD))
    assert decision.preview and decision.sha == HEAD and decision.secrets is False
    assert preview_decision(PreviewPolicy(), facts()).secrets is True


def test_unapproved_fork_commits_are_flagged_for_the_comment() -> None:
    waiting = preview_decision(PreviewPolicy(), facts(fork=True, approved_sha=OLD, current_sha=OLD))
    assert waiting.awaiting_approval and waiting.action == Action.HOLD
    assert not preview_decision(
        PreviewPolicy(), facts(suspended=True, current_sha=HEAD)
    ).awaiting_approval


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [(None, None), ("", None), ("90s", 90), ("15m", 900), ("72h", 259200), ("7d", 604800)],
)
def test_ttl_seconds(ttl: str | None, seconds: int | None) -> None:
    assert ttl_seconds(ttl) == seconds


@pytest.mark.parametrize(
    ("ttl", "last", "now", "expired"),
    [
        ("1h", 0.0, 3600.0, False),  # exactly the TTL: still alive
        ("1h", 0.0, 3601.0, True),
        (None, 0.0, 1e9, False),  # no TTL: never
        ("1h", None, 1e9, False),  # unknown activity: never guess
    ],
)
def test_is_idle_expired(ttl: str | None, last: float | None, now: float, expired: bool) -> None:
    assert is_idle_expired(ttl, last_activity=last, now=now) is expired
