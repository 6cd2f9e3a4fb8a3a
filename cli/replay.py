"""Shell helper: sign a saved webhook payload and post it to a receiver (`replay` command).

`replay_comment` is the PR-comment form: the comment is first stored in the fake GitHub of
`scripts/dev.sh` (as GitHub stores a person's comment, so replies, reactions and the
comment's `created_at` are real there), then the `issue_comment` delivery GitHub would send
for it is built, signed and posted. Every failure is a `ReplayError` saying what to check.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from core.signing import sign

EVENTS = ("pull_request", "push", "issue_comment", "installation", "ping")
DEV_HINT = "is scripts/dev.sh (or `catalyst-preview web`) running?"


class ReplayError(Exception):
    """A delivery that could not be made; the message says what to check."""


def guess_event(path: Path, payload: dict[str, object]) -> str:
    """The event name: from a `<event>.<action>.json` file name, else from the payload shape."""
    stem = path.name.split(".")[0]
    if stem in EVENTS:
        return stem
    keys = (
        ("pull_request", "pull_request"),
        ("comment", "issue_comment"),
        ("zen", "ping"),
        ("ref", "push"),
        ("installation", "installation"),
    )
    for key, event in keys:
        if key in payload:
            return event
    raise ReplayError(
        f"cannot tell which event {path} is: its name is not <event>.<action>.json "
        f"(event one of {', '.join(EVENTS)}) and its body has none of the keys "
        f"{', '.join(k for k, _ in keys)}; pass --event"
    )


def read_payload(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its JSON object."""
    try:
        body = path.read_bytes()
        payload = json.loads(body)
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReplayError(f"{path} is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ReplayError(f"{path} must hold a JSON object (a webhook body)")
    return body, payload


def post(body: bytes, *, url: str, secret: str, event: str, timeout: float) -> httpx.Response:
    """Post `body` signed with the first secret as a new delivery of `event`."""
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret.split(",")[0].strip().encode()),
        "User-Agent": "GitHub-Hookshot/catalyst-replay",
    }
    try:
        return httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ReplayError(f"cannot reach {url}: {exc or type(exc).__name__}; {DEV_HINT}") from None


def replay(
    path: Path, *, url: str, secret: str, event: str | None = None, timeout: float = 10.0
) -> httpx.Response:
    """Post the file's bytes exactly as saved, signed with `secret`, as a new delivery."""
    body, payload = read_payload(path)
    chosen = event or guess_event(path, payload)
    return post(body, url=url, secret=secret, event=chosen, timeout=timeout)


def answer_hint(response: httpx.Response, *, url: str) -> str:
    """What to check after an answer that is not a success ('' when there is nothing to add)."""
    if response.status_code == 401:
        return (
            "the receiver refused the signature: --secret / CATALYST_WEBHOOK_SECRET must be a "
            "secret the web process runs with (scripts/dev.sh: the one you started it with)"
        )
    if response.status_code == 404:
        return f"nothing answers at {url}: the receiver's path is /webhook"
    if response.status_code == 400:
        return "the receiver could not parse the payload (is it a webhook body, as saved?)"
    if response.status_code == 503:
        return "the receiver cannot reach Redis, so nothing was enqueued; is redis-server up?"
    return ""


# --- replay comment ------------------------------------------------------------------------------


def seed_comment(ns: argparse.Namespace) -> dict[str, Any]:
    """Store the comment in the fake GitHub; the comment as GitHub returns it."""
    base = ns.github_url.rstrip("/")
    try:
        answer = httpx.post(
            f"{base}/_fake/comments/{ns.repo}/{ns.pr}",
            json={"body": ns.body, "user": ns.user},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise ReplayError(f"cannot reach the fake GitHub at {base}: {exc}; {DEV_HINT}") from None
    if answer.status_code == 404:
        raise ReplayError(
            f"{base} is not the fake GitHub of scripts/dev.sh (no /_fake/comments): a comment "
            "on a real GitHub is made on github.com, which then sends the delivery itself"
        )
    if not answer.is_success:
        raise ReplayError(
            f"the fake GitHub refused the comment: {answer.status_code} {answer.text}"
        )
    comment: dict[str, Any] = answer.json()
    return comment


def comment_payload(ns: argparse.Namespace, comment: dict[str, Any]) -> dict[str, Any]:
    """The `issue_comment` `created` delivery GitHub sends for a new comment on a PR."""
    owner, name = ns.repo.split("/", 1)
    html = f"https://github.com/{ns.repo}/pull/{ns.pr}"
    public = {k: v for k, v in comment.items() if k not in ("repo", "issue")}
    user = {"login": ns.user, "type": "User"}
    return {
        "action": "created",
        "issue": {
            "number": ns.pr,
            "state": "open",
            "html_url": html,
            "user": user,
            "pull_request": {
                "url": f"https://api.github.com/repos/{ns.repo}/pulls/{ns.pr}",
                "html_url": html,
            },
        },
        "comment": {**public, "user": public.get("user", user)},
        "repository": {
            "name": name,
            "full_name": ns.repo,
            "owner": {"login": owner},
            "html_url": f"https://github.com/{ns.repo}",
        },
        "installation": {"id": ns.installation},
        "sender": user,
    }


def replay_comment(ns: argparse.Namespace, timeout: float = 10.0) -> httpx.Response:
    """Seed the comment, then deliver its signed `issue_comment` event."""
    if "/" not in ns.repo:
        raise ReplayError(f"--repo {ns.repo!r}: expected OWNER/NAME")
    payload = comment_payload(ns, seed_comment(ns))
    body = json.dumps(payload).encode()
    return post(body, url=ns.url, secret=ns.secret, event="issue_comment", timeout=timeout)
