"""Pure: project GitHub webhook payloads onto the small typed jobs of core.jobs (no I/O).

The only module that knows payload key paths. Each function returns a job, or None when the
delivery asks for no work; a payload missing a field the job needs raises PayloadError (the
receiver answers 400). Jobs carry ids and a few fields, never the payload.
"""

from __future__ import annotations

import re
from typing import Any

from core.jobs import CheckActionJob, CommentJob, InstallationJob, PullRequestJob, PushJob

MAX_COMMENT_BODY = 64 * 1024
BRANCH_PREFIX = "refs/heads/"
_COMMAND_LINE = re.compile(r"^[ \t]*/catalyst\b", re.IGNORECASE | re.MULTILINE)

Payload = dict[str, Any]


class PayloadError(ValueError):
    """The payload lacks a field (or has a wrong type) the job needs."""


def field(payload: Payload, *path: str, kind: type | tuple[type, ...] = str) -> Any:
    """The value at `path`, checked against `kind`; PayloadError when absent or mistyped."""
    value: Any = payload
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise PayloadError(f"missing {'.'.join(path)}")
        value = value[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PayloadError(f"{'.'.join(path)} has the wrong type")
    return value


def installation_id(payload: Payload) -> int | None:
    """The App installation the delivery came through (None for a plain repository hook)."""
    installation = payload.get("installation")
    if not isinstance(installation, dict) or "id" not in installation:
        return None
    return int(field(payload, "installation", "id", kind=int))


def pull_request_job(payload: Payload, delivery_id: str) -> PullRequestJob | None:
    """A PullRequestJob for an App delivery; None without an installation."""
    installation = installation_id(payload)
    if installation is None:
        return None
    label = payload.get("label")
    return PullRequestJob(
        delivery_id=delivery_id,
        installation_id=installation,
        repository=field(payload, "repository", "full_name"),
        pr_number=field(payload, "pull_request", "number", kind=int),
        action=field(payload, "action"),
        head_sha=field(payload, "pull_request", "head", "sha"),
        label=field(payload, "label", "name") if isinstance(label, dict) else None,
        merged=payload["pull_request"].get("merged") is True,
    )


def is_base_change(payload: Payload) -> bool:
    """True for an `edited` PR whose base branch changed (other edits need no work)."""
    changes = payload.get("changes")
    return isinstance(changes, dict) and "base" in changes


def push_job(payload: Payload, delivery_id: str) -> PushJob | None:
    """A PushJob for a branch push or deletion; None for tags or without an installation."""
    ref = field(payload, "ref")
    installation = installation_id(payload)
    if not ref.startswith(BRANCH_PREFIX) or installation is None:
        return None
    return PushJob(
        delivery_id=delivery_id,
        installation_id=installation,
        repository=field(payload, "repository", "full_name"),
        branch=ref[len(BRANCH_PREFIX) :],
        after_sha=field(payload, "after"),
        deleted=payload.get("deleted") is True,
    )


def has_command_line(body: str) -> bool:
    """True when a line starts with `/catalyst` (case-insensitive, after leading blanks)."""
    return _COMMAND_LINE.search(body) is not None


def comment_job(payload: Payload, delivery_id: str) -> CommentJob | None:
    """A CommentJob for a human's new PR comment holding a command line; None otherwise."""
    installation = installation_id(payload)
    if installation is None or not isinstance(
        field(payload, "issue", kind=dict).get("pull_request"), dict
    ):
        return None
    body = field(payload, "comment", "body")[:MAX_COMMENT_BODY]
    author_type = field(payload, "comment", "user", "type")
    if author_type == "Bot" or not has_command_line(body):
        return None
    return CommentJob(
        delivery_id=delivery_id,
        installation_id=installation,
        repository=field(payload, "repository", "full_name"),
        pr_number=field(payload, "issue", "number", kind=int),
        comment_id=field(payload, "comment", "id", kind=int),
        author=field(payload, "comment", "user", "login"),
        author_type=author_type,
        body=body,
        created_at=_optional_str(payload, "comment", "created_at"),
    )


def check_action_job(payload: Payload, delivery_id: str, *, key: str) -> CheckActionJob | None:
    """A CheckActionJob for a `check_run` (`key="check_run"`) or `check_suite` delivery."""
    installation = installation_id(payload)
    if installation is None:
        return None
    pulls = field(payload, key, kind=dict).get("pull_requests") or []
    if not isinstance(pulls, list):
        raise PayloadError(f"{key}.pull_requests has the wrong type")
    requested = payload.get("requested_action")
    return CheckActionJob(
        delivery_id=delivery_id,
        installation_id=installation,
        repository=field(payload, "repository", "full_name"),
        action=field(payload, "action"),
        head_sha=field(payload, key, "head_sha"),
        sender=field(payload, "sender", "login"),
        sender_type=field(payload, "sender", "type"),
        identifier=field(payload, "requested_action", "identifier")
        if isinstance(requested, dict)
        else "",
        external_id=_optional_str(payload, key, "external_id") or "",
        pr_numbers=tuple(field(pr, "number", kind=int) for pr in pulls),
    )


def _optional_str(payload: Payload, *path: str) -> str | None:
    """The string at `path`, or None when absent or not a string."""
    try:
        value = field(payload, *path)
    except PayloadError:
        return None
    return str(value)


def repository_names(payload: Payload, key: str) -> tuple[str, ...]:
    """Full names of the repositories listed under `key` (absent: none)."""
    items = payload.get(key) or []
    if not isinstance(items, list):
        raise PayloadError(f"{key} has the wrong type")
    return tuple(field(item, "full_name") for item in items)


def installation_job(payload: Payload, delivery_id: str) -> InstallationJob:
    """An InstallationJob for `installation` and `installation_repositories` deliveries."""
    action = field(payload, "action")
    added = repository_names(payload, "repositories_added")
    removed = repository_names(payload, "repositories_removed")
    listed = repository_names(payload, "repositories")
    if action == "created":
        added = added or listed
    elif action == "deleted":
        removed = removed or listed
    return InstallationJob(
        delivery_id=delivery_id,
        installation_id=field(payload, "installation", "id", kind=int),
        action=action,
        repositories_added=added,
        repositories_removed=removed,
    )
