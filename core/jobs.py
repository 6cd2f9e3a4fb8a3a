"""Pure: the small typed jobs the receiver hands to workers, and the task names they travel under.

A job carries ids and the few fields a flow needs to find fresh state, never the whole payload.
Jobs cross the queue as JSON keyword arguments (`to_kwargs()` / `from_kwargs()`), so the web,
worker and reconciler processes share only these names and shapes, never each other's code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self, get_origin, get_type_hints

# Task names (wire contract between processes).
TASK_PULL_REQUEST = "catalyst.github.pull_request"
TASK_PUSH = "catalyst.github.push"
TASK_COMMENT = "catalyst.github.comment"
TASK_CHECK_ACTION = "catalyst.github.check_action"
TASK_INSTALLATION = "catalyst.github.installation"
TASK_PUBLISH_STATUS = "catalyst.github.publish_status"
TASK_RESYNC = "catalyst.github.resync"
TASK_RECONCILE = "catalyst.cluster.reconcile"
TASK_RECONCILE_PROJECT = "catalyst.cluster.reconcile_project"
TASK_CLUSTER_RESYNC = "catalyst.cluster.resync"

QUEUE_GITHUB = "github"
QUEUE_RECONCILE = "reconcile"


@dataclass(frozen=True, slots=True)
class Job:
    """Base: every job names the delivery that caused it (for tracing and the ledger)."""

    delivery_id: str

    def to_kwargs(self) -> dict[str, Any]:
        """Primitive keyword arguments for the task."""
        return dataclasses.asdict(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Self:
        """Rebuild the job from task keyword arguments, ignoring unknown keys."""
        hints = get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _from_json(hints[k], v) for k, v in kwargs.items() if k in names})


def _from_json(hint: Any, value: Any) -> Any:
    """JSON turns tuples into lists; give tuple fields their tuples back (jobs stay hashable)."""
    if get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True, slots=True)
class PullRequestJob(Job):
    """A pull_request event: the flow refetches the PR and converges its Environment."""

    installation_id: int
    repository: str
    pr_number: int
    action: str
    head_sha: str
    label: str | None = None
    merged: bool = False


@dataclass(frozen=True, slots=True)
class PushJob(Job):
    """A branch push (or deletion) that may move a tracked-branch environment."""

    installation_id: int
    repository: str
    branch: str
    after_sha: str
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CommentJob(Job):
    """A newly created comment on a pull request that may hold `/catalyst` commands."""

    installation_id: int
    repository: str
    pr_number: int
    comment_id: int
    author: str
    author_type: str
    body: str
    created_at: str | None = None  # GitHub's time the comment was written (ISO 8601)


@dataclass(frozen=True, slots=True)
class InstallationJob(Job):
    """Installation bookkeeping: which repositories the App can see."""

    installation_id: int
    action: str
    repositories_added: tuple[str, ...] = ()
    repositories_removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckActionJob(Job):
    """A check run button (Redeploy, Rebuild) or Re-run of our check run or suite."""

    installation_id: int
    repository: str
    action: str  # requested_action | rerequested
    head_sha: str
    sender: str
    sender_type: str
    identifier: str = ""  # the requested action's identifier
    external_id: str = ""  # the check run's (empty for a suite)
    pr_numbers: tuple[int, ...] = ()
