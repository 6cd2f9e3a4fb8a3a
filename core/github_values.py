"""Pure: the GitHub values the flows decide on (pull requests, deployments, comments; no I/O).

Parsed from GitHub's REST representation by the adapter (`core.clients.github`); the flows and
the pure policy take them without reaching the adapter or its libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import Invalid


@dataclass(frozen=True, slots=True)
class PullRequest:
    """The fields of a pull request the flows decide on (refetched, never from the payload)."""

    number: int
    state: str
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    head_repository: str | None
    base_repository: str
    labels: tuple[str, ...] = ()
    author: str = ""
    updated_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True while the PR is open."""
        return self.state == "open"

    @property
    def is_fork(self) -> bool:
        """True when the head branch lives in another repository (or a deleted one)."""
        return self.head_repository != self.base_repository

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PullRequest:
        """Parse the REST representation."""
        head, base = data["head"], data["base"]
        head_repo = (head.get("repo") or {}).get("full_name")
        return cls(
            number=int(data["number"]),
            state=str(data["state"]),
            merged=bool(data.get("merged") or data.get("merged_at")),
            draft=bool(data.get("draft", False)),
            head_sha=str(head["sha"]),
            head_ref=str(head["ref"]),
            head_repository=head_repo,
            base_repository=str(base["repo"]["full_name"]),
            labels=tuple(str(lb["name"]) for lb in data.get("labels") or []),
            author=str((data.get("user") or {}).get("login", "")),
            updated_at=parse_timestamp(str(data["updated_at"])) if data.get("updated_at") else None,
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """A GitHub deployment as listed."""

    id: int
    sha: str
    environment: str


@dataclass(frozen=True, slots=True)
class Comment:
    """An issue comment (`author` is the login of whoever wrote it)."""

    id: int
    body: str
    author: str = ""


@dataclass(frozen=True, slots=True)
class CheckRun:
    """A check run as listed."""

    id: int
    status: str
    conclusion: str | None
    external_id: str
    title: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CheckRun:
        """Parse the REST representation."""
        return cls(
            id=int(data["id"]),
            status=str(data.get("status") or ""),
            conclusion=data.get("conclusion"),
            external_id=str(data.get("external_id") or ""),
            title=str((data.get("output") or {}).get("title") or ""),
        )


def parse_timestamp(value: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp as GitHub writes them."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def split_repository(repository: str) -> tuple[str, str]:
    """`owner/name` → (owner, name); Invalid for anything else."""
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise Invalid(f"not an owner/name repository: {repository!r}")
    return owner, name
