"""Flows: GitHub bookkeeping kept on the Environment CR as annotations (survives a Redis flush).

Deployment ids per commit, the last state posted per commit, the comment id and a digest of its
last body. A copy (`TeardownRecord`) goes to Redis when teardown starts (`workers.teardowns`),
because the CR (and its annotations) is gone by the time the GitHub side is finished; GitHub itself
stays the source of truth when both are lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.model import Environment
from core.naming import ANNOTATION_GITHUB_ENVIRONMENT

ANNOTATION_DEPLOYMENTS = "catalyst.dev/deployments"
ANNOTATION_PUBLISHED = "catalyst.dev/published"
ANNOTATION_COMMENT_ID = "catalyst.dev/comment-id"
ANNOTATION_COMMENT_DIGEST = "catalyst.dev/comment-digest"
ANNOTATION_SUPERSEDED = "catalyst.dev/superseded"
ANNOTATION_CHECK_RUNS = "catalyst.dev/check-runs"
ANNOTATION_CHECK_DIGESTS = "catalyst.dev/check-digests"
MAX_REMEMBERED = 20


def _json_map(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(raw: str | None) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


@dataclass
class Bookkeeping:
    """What we told GitHub about one Environment."""

    github_environment: str
    deployments: dict[str, int] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    superseded: list[str] = field(default_factory=list)
    comment_id: int | None = None
    comment_digest: str | None = None
    check_runs: dict[str, int] = field(default_factory=dict)
    check_digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, env: Environment, *, default_environment: str) -> Bookkeeping:
        """Read the annotations (unparseable values count as unknown, never as a crash)."""
        notes = env.metadata.annotations or {}
        comment = notes.get(ANNOTATION_COMMENT_ID, "")
        superseded = _json_list(notes.get(ANNOTATION_SUPERSEDED))
        return cls(
            github_environment=notes.get(ANNOTATION_GITHUB_ENVIRONMENT) or default_environment,
            deployments={
                k: int(v)
                for k, v in _json_map(notes.get(ANNOTATION_DEPLOYMENTS)).items()
                if str(v).isdigit()
            },
            published={k: str(v) for k, v in _json_map(notes.get(ANNOTATION_PUBLISHED)).items()},
            superseded=[str(s) for s in superseded],
            comment_id=int(comment) if comment.isdigit() else None,
            comment_digest=notes.get(ANNOTATION_COMMENT_DIGEST) or None,
            check_runs={
                k: int(v)
                for k, v in _json_map(notes.get(ANNOTATION_CHECK_RUNS)).items()
                if str(v).isdigit()
            },
            check_digests={
                k: str(v) for k, v in _json_map(notes.get(ANNOTATION_CHECK_DIGESTS)).items()
            },
        )

    def annotations(self) -> dict[str, str]:
        """The annotations to write back (bounded: only the newest commits are remembered)."""
        notes = {
            ANNOTATION_GITHUB_ENVIRONMENT: self.github_environment,
            ANNOTATION_DEPLOYMENTS: json.dumps(_newest(self.deployments), sort_keys=True),
            ANNOTATION_PUBLISHED: json.dumps(_newest(self.published), sort_keys=True),
            ANNOTATION_SUPERSEDED: json.dumps(self.superseded[-MAX_REMEMBERED:]),
        }
        if self.check_runs:
            # Not key-sorted: insertion order is commit order, which `_newest` keeps.
            notes[ANNOTATION_CHECK_RUNS] = json.dumps(_newest(self.check_runs))
            notes[ANNOTATION_CHECK_DIGESTS] = json.dumps(_newest(self.check_digests))
        if self.comment_id is not None:
            notes[ANNOTATION_COMMENT_ID] = str(self.comment_id)
        if self.comment_digest:
            notes[ANNOTATION_COMMENT_DIGEST] = self.comment_digest
        return notes

    def apply_to(self, env: Environment) -> bool:
        """Write into the CR's metadata; True when anything changed."""
        current = dict(env.metadata.annotations or {})
        wanted = {**current, **self.annotations()}
        env.metadata.annotations = wanted
        return wanted != current


def _newest(values: dict[str, Any]) -> dict[str, Any]:
    # Insertion order is commit order (json.loads keeps it), so the tail is the newest.
    return dict(list(values.items())[-MAX_REMEMBERED:])


@dataclass
class TeardownRecord:
    """What finishing a teardown needs once the CR is gone."""

    repository: str
    installation_id: int
    project: str
    pr_number: int | None
    sha: str
    book: dict[str, Any]

    def bookkeeping(self) -> Bookkeeping:
        """The Environment's bookkeeping as it was when teardown started."""
        return Bookkeeping(**self.book)
