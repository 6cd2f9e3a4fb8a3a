"""Test support for the e2e suite: realistic webhook payloads for one repository.

Each builder starts from a vendored `@octokit/webhooks-examples` payload (full GitHub shape) and
rewrites the repository, installation, PR number, head SHA and author, so what the web process
receives looks like a real delivery for the repository the fake GitHub knows.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.support.github import load_example

Payload = dict[str, Any]

_EXAMPLES = {
    "opened": "pull_request.opened.2.json",
    "synchronize": "pull_request.synchronize.1.json",
    "reopened": "pull_request.reopened.1.json",
    "closed": "pull_request.closed.1.json",
}


def _with_repository(payload: Payload, repo: str, installation: int) -> Payload:
    owner, name = repo.split("/")
    payload["repository"].update(full_name=repo, name=name)
    payload["repository"]["owner"]["login"] = owner
    payload["installation"] = {"id": installation, "node_id": f"MDIz{installation}"}
    return payload


def pull_request(
    action: str,
    *,
    repo: str,
    installation: int,
    number: int,
    sha: str,
    before: str | None = None,
    merged: bool = False,
) -> Payload:
    """A `pull_request` delivery (`opened`, `synchronize`, `reopened`, `closed`)."""
    payload = _with_repository(copy.deepcopy(load_example(_EXAMPLES[action])), repo, installation)
    payload.update(action=action, number=number)
    pr = payload["pull_request"]
    pr.update(number=number, state="closed" if action == "closed" else "open", merged=merged)
    pr["head"].update(sha=sha, ref=f"feature/pr-{number}")
    pr["head"]["repo"]["full_name"] = repo
    pr["base"]["repo"]["full_name"] = repo
    if action == "synchronize":
        payload.update(before=before or "0" * 40, after=sha)
    return payload


def issue_comment(
    body: str, *, repo: str, installation: int, number: int, comment_id: int, author: str
) -> Payload:
    """A newly created comment on PR `number` by the human `author`."""
    base = load_example("variant.issue_comment.created.command.json")
    payload = _with_repository(copy.deepcopy(base), repo, installation)
    payload["issue"]["number"] = number
    payload["issue"]["pull_request"] = {
        "url": f"https://api.github.com/repos/{repo}/pulls/{number}"
    }
    payload["comment"].update(id=comment_id, body=body)
    payload["comment"]["user"].update(login=author, type="User")
    return payload
