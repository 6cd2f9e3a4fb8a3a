"""Shell helper: sign a saved webhook payload and post it to a receiver (`replay` command)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from core.signing import sign


def guess_event(path: Path, payload: dict[str, object]) -> str:
    """The event name: from a `<event>.<action>.json` file name, else from the payload shape."""
    stem = path.name.split(".")[0]
    if stem in {"pull_request", "push", "issue_comment", "installation", "ping"}:
        return stem
    if "pull_request" in payload:
        return "pull_request"
    if "comment" in payload:
        return "issue_comment"
    if "zen" in payload:
        return "ping"
    return "push" if "ref" in payload else "installation"


def replay(
    path: Path, *, url: str, secret: str, event: str | None = None, timeout: float = 10.0
) -> httpx.Response:
    """Post the file's bytes exactly as saved, signed with `secret`, as a new delivery."""
    body = path.read_bytes()
    payload = json.loads(body)
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event or guess_event(path, payload),
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret.split(",")[0].strip().encode()),
        "User-Agent": "GitHub-Hookshot/catalyst-replay",
    }
    return httpx.post(url, content=body, headers=headers, timeout=timeout)
