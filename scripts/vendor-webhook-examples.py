#!/usr/bin/env python3
"""Script: regenerate tests/fixtures/github/webhooks/ from npm `@octokit/webhooks-examples`.

Runs `npm pack` in a temporary directory (no node_modules), extracts the api.github.com examples
of the events the receiver routes, and writes one JSON file per example
(`<event>.<action or "event">.<n>.json`) plus the package's MIT licence. Hand-made variants the
package lacks (a merged `closed`, an `edited` base change, `/catalyst` comments, a branch
deletion) are derived from real examples, so they keep the real payload shape.

Usage: python scripts/vendor-webhook-examples.py   (from the repository root)
"""

from __future__ import annotations

import copy
import json
import subprocess
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/webhooks-examples@7.6.1"
EVENTS = (
    "pull_request",
    "push",
    "issue_comment",
    "installation",
    "installation_repositories",
    "ping",
)
TARGET = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "github" / "webhooks"
LICENSE = """MIT License

Copyright (c) 2019 Octokit contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def fetch_examples() -> list[dict[str, Any]]:
    """The api.github.com example index of the pinned package."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE], cwd=tmp, check=True, capture_output=True)
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/api.github.com/index.json")
            assert member is not None
            return list(json.load(member))


def write(name: str, payload: dict[str, Any]) -> None:
    """One example as pretty-printed JSON (signed as these exact bytes by the tests)."""
    (TARGET / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def vendor_examples(index: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Write every example of EVENTS; return them by event for the variants."""
    by_event: dict[str, list[dict[str, Any]]] = {}
    for entry in index:
        if entry["name"] not in EVENTS:
            continue
        counts: Counter[str] = Counter()
        for example in entry["examples"]:
            action = example.get("action") or "event"
            counts[action] += 1
            write(f"{entry['name']}.{action}.{counts[action]}.json", example)
            by_event.setdefault(entry["name"], []).append(example)
    return by_event


def first(examples: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    """A deep copy of the first example whose top-level keys match, with an installation."""
    for example in examples:
        if example.get("installation") and all(example.get(k) == v for k, v in match.items()):
            return copy.deepcopy(example)
    raise LookupError(f"no example matches {match}")


def write_variants(by_event: dict[str, list[dict[str, Any]]]) -> None:
    """Hand-made variants (file names start with `variant.`) of events the package lacks."""
    prs, comments = by_event["pull_request"], by_event["issue_comment"]
    merged = first(prs, action="closed")
    merged["pull_request"].update(merged=True, merged_at="2019-05-15T15:21:00Z")
    write("variant.pull_request.closed.merged.json", merged)
    edited = first(prs, action="opened")
    edited["action"] = "edited"
    edited["changes"] = {"base": {"ref": {"from": "develop"}, "sha": {"from": "0" * 40}}}
    write("variant.pull_request.edited.base.json", edited)
    retitled = first(prs, action="opened")
    retitled["action"] = "edited"
    retitled["changes"] = {"title": {"from": "Old title"}}
    write("variant.pull_request.edited.title.json", retitled)
    write_comment_variants(comments, prs)
    deletion = first(by_event["push"], ref="refs/heads/master")
    deletion.update(ref="refs/heads/feature-x", deleted=True, after="0" * 40, commits=[])
    deletion["head_commit"] = None
    write("variant.push.branch-deleted.json", deletion)


def write_comment_variants(comments: list[dict[str, Any]], prs: list[dict[str, Any]]) -> None:
    """Comments on a PR: a command from a user, the same from a bot, and plain chatter."""
    base = first(comments, action="created")
    base["issue"]["pull_request"] = {"url": prs[0]["pull_request"]["url"]}
    command = copy.deepcopy(base)
    command["comment"]["body"] = "Thanks!\n  /Catalyst redeploy\n"
    write("variant.issue_comment.created.command.json", command)
    bot = copy.deepcopy(command)
    bot["comment"]["user"].update(login="catalyst-preview[bot]", type="Bot")
    write("variant.issue_comment.created.bot.json", bot)
    chatter = copy.deepcopy(base)
    chatter["comment"]["body"] = "Looks good, but see /catalyst docs"
    write("variant.issue_comment.created.chatter.json", chatter)
    edited = copy.deepcopy(command)
    edited["action"] = "edited"
    write("variant.issue_comment.edited.command.json", edited)


def main() -> None:
    """Replace the vendored examples with a fresh extraction."""
    TARGET.mkdir(parents=True, exist_ok=True)
    for old in TARGET.glob("*.json"):
        old.unlink()
    by_event = vendor_examples(fetch_examples())
    write_variants(by_event)
    (TARGET / "LICENSE").write_text(LICENSE)
    print(f"wrote {len(list(TARGET.glob('*.json')))} examples to {TARGET}")


if __name__ == "__main__":
    main()
